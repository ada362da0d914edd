"""The ``mra`` command line: node identity, AEO publication, ledger verification.

Every command works on one node home (``--home``, or ``MRA_HOME``, default ``./.mra``). Errors
print one line naming the field (or file line) at fault and exit 2 for bad input, 1 for damage
found by verification, 3 for storage failures.
"""

from __future__ import annotations

import getpass
import io
import json
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from contracts.agreement import Agreement
from contracts.registry import SOURCE_HASHES
from node.core import bulk
from node.core.canonical import parse_json
from node.core.clock import system_clock
from node.core.errors import IntegrityError, InvalidInput, MraError, NotFound, StorageFailed
from node.core.records import AeoRecord, Status
from node.core.reports import rows_csv
from node.core.status import StatusCode
from node.host import keyfiles
from node.host.access_log import AccessLog
from node.host.home import NodeHome, write_atomic
from node.ledger import agreements, erasure
from node.ledger.queries import as_of_ms, check_id
from node.ledger.trail import iso_time, record_trail
from node.ledger.verification import verify_node
from node.ledger.writer import Ledger
from node.store.sqlite import SqliteStore

__all__ = ["app"]

app = typer.Typer(
    help="MRA Ledger: AEO data exchange under Mutual Recognition Arrangements.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
aeo_app = typer.Typer(
    help="Publish and read AEO records on this node's ledger.", no_args_is_help=True
)
ledger_app = typer.Typer(help="Inspect, verify and maintain the ledger.", no_args_is_help=True)
app.add_typer(aeo_app, name="aeo")
app.add_typer(ledger_app, name="ledger")
agreement_app = typer.Typer(
    help="Propose, approve and withdraw MRAs on this node's ledger.", no_args_is_help=True
)
app.add_typer(agreement_app, name="agreement")
apikey_app = typer.Typer(help="API keys for the node's local API.", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")
key_app = typer.Typer(help="This node's signing key.", no_args_is_help=True)
app.add_typer(key_app, name="key")
node_app = typer.Typer(help="Run this node's service.", no_args_is_help=True)
app.add_typer(node_app, name="node")
network_app = typer.Typer(help="Create and inspect the network of nodes.", no_args_is_help=True)
app.add_typer(network_app, name="network")
evidence_app = typer.Typer(help="Check evidence bundles offline.", no_args_is_help=True)
app.add_typer(evidence_app, name="evidence")
audit_app = typer.Typer(
    help="The audit trail: who published, received and read what, and when.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")
retention_app = typer.Typer(
    help="Retention: erase and purge what agreements no longer allow to keep.",
    no_args_is_help=True,
)
app.add_typer(retention_app, name="retention")
devnet_app = typer.Typer(
    help="A local 5-node network (BR, UY, AR, PY, CL) on 127.0.0.1.", no_args_is_help=True
)
app.add_typer(devnet_app, name="devnet")
DevnetDir = Annotated[Path, typer.Option("--dir", help="Where the devnet lives.")]
DEFAULT_DEVNET = Path(".devnet")

out = Console()
err = Console(stderr=True, soft_wrap=True)  # errors name paths: never break them

HomeOption = Annotated[Path, typer.Option("--home", envvar="MRA_HOME", help="Node home directory.")]
DEFAULT_HOME = Path(".mra")


@contextmanager
def _reported() -> Iterator[None]:
    """Turn our errors into one clear line and an exit code."""
    try:
        yield
    except IntegrityError as exc:
        err.print(f"[bold red]DAMAGED[/] {exc}")
        raise typer.Exit(1) from None
    except StorageFailed as exc:
        err.print(f"[red]storage error:[/] {exc}")
        raise typer.Exit(3) from None
    except MraError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


@contextmanager
def _store(home: Path) -> Iterator[SqliteStore]:
    store = NodeHome(path=home).open_store()
    try:
        yield store
    finally:
        store.close()


def _ledger(home: Path, store: SqliteStore) -> Ledger:
    """The ledger of the node in ``home``, for a command that appends. In a home with peers
    it appends only once one of them has shown its checkpoint of this node's log (asked now,
    as a starting node does, for a few seconds at most) or an operator has accepted the risk
    (``mra ledger accept-restore``): the home may be an older copy (node.host.guard)."""
    node_home = NodeHome(path=home)
    ledger = node_home.open_ledger(store)
    if (home / "membership.json").exists():
        from network.service import confirm_own_log

        ledger.hold = confirm_own_log(node_home, store).hold
    return ledger


@app.command()
def init(
    origin: Annotated[str, typer.Argument(help="ISO 3166-1 alpha-2 code of the administration.")],
    name: Annotated[str, typer.Option(help="The administration's name.")],
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Create this node's identity (Ed25519 key, mode 0600) and an empty ledger."""
    with _reported():
        config = NodeHome(path=home).init(origin.upper(), name)
    out.print(f"Node {config.origin} ({config.name}) created in {home}")
    out.print(f"public key {config.public_key.hex()}")


@aeo_app.command("publish")
def aeo_publish(
    file: Annotated[Path, typer.Argument(help="A JSON file with one AEO record, or - for stdin.")],
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Publish one AEO record (new, or a new version of an existing one)."""
    with _reported():
        text = sys.stdin.read() if str(file) == "-" else _read_text(file)
        data = parse_json(text.encode())
        if not isinstance(data, dict):
            raise InvalidInput("an AEO record is a JSON object", field="record")
        record = AeoRecord.from_dict(data)
        with _store(home) as store:
            result = _ledger(home, store).publish([record])
    _print_result(result.entries, result.unchanged)


@aeo_app.command("import")
def aeo_import(
    file: Annotated[Path, typer.Argument(help="A .jsonl or .csv file of AEO records.")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="jsonl or csv (default: from the suffix).")
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option(help="Write the valid lines even if some are invalid.")
    ] = False,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Import AEO records in bulk, all in one transaction. Any bad line writes nothing unless
    --skip-invalid is given; every bad line is reported with its line number and field."""
    with _reported():
        kind = _bulk_format(file, fmt)
        # newline="": split on line ends only, not on U+2028 & co, so line numbers stay true.
        lines = list(io.StringIO(_read_text(file), newline=""))
        parse = bulk.parse_jsonl if kind == "jsonl" else bulk.parse_csv
        results = []
        with _progress() as progress:
            task = progress.add_task(f"reading {file.name}", total=len(lines))
            for result in parse(lines):
                results.append(result)
                progress.update(task, completed=result.line)
        bad = [r for r in results if r.error is not None]
        good = [r for r in results if r.record is not None]
        if bad and not skip_invalid:
            _refuse(file, [(r.line, str(r.error)) for r in bad], "invalid line(s)")
        records = [r.record for r in good if r.record is not None]
        with _store(home) as store:
            ledger = _ledger(home, store)
            refused = [(good[i].line, str(e)) for i, e in ledger.validate(records)]
            if refused and not skip_invalid:
                _refuse(file, refused, "line(s) refused by the ledger")
            published = ledger.publish(records, skip_invalid=skip_invalid)
    _print_bad_lines(file, [(r.line, str(r.error)) for r in bad] + refused)
    out.print(
        f"{file}: {len(published.entries)} appended, {len(published.unchanged)} unchanged, "
        f"{len(bad) + len(refused)} invalid"
    )


def _refuse(file: Path, bad: list[tuple[int, str]], what: str) -> None:
    _print_bad_lines(file, bad)
    err.print(
        f"[red]nothing written:[/] {len(bad)} {what} in {file}"
        " (use --skip-invalid to write the others)"
    )
    raise typer.Exit(2)


@aeo_app.command("status")
def aeo_status(
    aeo_id: Annotated[str, typer.Argument(help="The AEO id, e.g. BR1234567.")],
    status: Annotated[str, typer.Argument(help="valid, suspended, revoked or annulled.")],
    reason: Annotated[str | None, typer.Option(help="Why (required unless valid).")] = None,
    effective: Annotated[
        str | None, typer.Option(help="Date the status takes effect (YYYY-MM-DD, default today).")
    ] = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Change the status of one of this node's AEOs (suspend, reinstate, revoke, annul)."""
    with _reported(), _store(home) as store:
        current = store.current_record(aeo_id.upper())
        if current is None:
            raise InvalidInput(f"no AEO {aeo_id} on this ledger", field="aeo_id")
        record = current[1].with_status(
            Status.from_dict(
                {
                    "code": status,
                    "reason": reason,
                    "effective": effective or date.today().isoformat(),
                }
            )
        )
        result = _ledger(home, store).publish([record])
    _print_result(result.entries, result.unchanged)


@aeo_app.command("erase")
def aeo_erase(
    aeo_id: Annotated[str, typer.Argument(help="The AEO id, e.g. BR1234567.")],
    reason: Annotated[
        str, typer.Option(help="The legal reason, e.g. 'GDPR Art. 17 request of 2026-11-02'.")
    ],
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Erase one of this node's AEO records here and at every partner: the payloads of all
    its versions are deleted, and a signed erasure entry tells each partner to delete its
    copies and confirm. Proofs and verification still hold."""
    with _reported(), _store(home) as store:
        wanted = check_id(aeo_id, "aeo_id")
        entry, done = erasure.erase(_ledger(home, store), store, wanted, reason)
        trail = AccessLog(store, system_clock)
        trail.record(f"cli:{getpass.getuser()}", "erase", "mra aeo erase", wanted)
        trail.flush()
    out.print(
        f"erased {wanted}: {len(done.entries)} versions; erasure entry {entry.header.seq};"
        f" partners to confirm: {', '.join(done.partners) or 'none'}"
    )


@retention_app.command("run")
def retention_run(home: HomeOption = DEFAULT_HOME) -> None:
    """Apply retention now: erase own records whose final status is older than the longest
    retention period agreed, and purge what was received under agreements that ended.
    A running node does this by itself every hour."""
    with _reported(), _store(home) as store:
        ledger = _ledger(home, store)
        done = erasure.run_retention(ledger, store, system_clock())
    for entry in done:
        out.print(f"{entry.header.kind.value} at seq {entry.header.seq}")
    out.print(f"{len(done)} erasure or purge entries appended")


@aeo_app.command("show")
def aeo_show(
    aeo_id: Annotated[str, typer.Argument(help="The AEO id.")],
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Print the current version of an AEO record as JSON."""
    with _reported(), _store(home) as store:
        current = store.current_record(aeo_id.upper())
        if current is None:
            raise InvalidInput(f"no AEO {aeo_id} on this ledger", field="aeo_id")
    seq, record = current
    out.print_json(json.dumps({"seq": seq, "record": record.to_dict()}))


@aeo_app.command("export")
def aeo_export(
    file: Annotated[Path, typer.Argument(help="The .jsonl or .csv file to write.")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="jsonl or csv (default: from the suffix).")
    ] = None,
    status: Annotated[str | None, typer.Option(help="Only AEOs with this status.")] = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Export this node's AEO records, current versions, in the format 'import' reads:
    importing the file again changes nothing."""
    with _reported():
        kind = _bulk_format(file, fmt)
        if status is not None and status not in {s.value for s in StatusCode}:
            raise InvalidInput("valid, suspended, revoked or annulled", field="status")
        own = NodeHome(path=home).config().origin
        records: list[AeoRecord] = []
        with _store(home) as store, _progress() as progress:
            task = progress.add_task("exporting", total=None)
            after = ""
            while page := store.list_records(status=status, limit=1000, after=after):
                ids = [row["aeo_id"] for row in page if row["origin"] == own]
                found = store.current_records(ids)
                records.extend(found[i][1] for i in ids if i in found)
                progress.update(task, completed=len(records))
                after = page[-1]["aeo_id"]
        text = bulk.write_jsonl(records) if kind == "jsonl" else bulk.write_csv(records)
        write_atomic(file, text)
    out.print(f"{file}: {len(records)} records")


@aeo_app.command("list")
def aeo_list(
    status: Annotated[str | None, typer.Option(help="Only AEOs with this status.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """List AEOs and their current status."""
    with _reported(), _store(home) as store:
        rows = store.list_records(status=status, limit=limit)
    table = Table("aeo_id", "status", "certificate", "legal name", "seq")
    for row in rows:
        table.add_row(
            row["aeo_id"], row["status"], row["certificate"], row["legal_name"], str(row["seq"])
        )
    out.print(table)


@audit_app.command("trail")
def audit_trail(
    aeo_id: Annotated[str, typer.Argument(help="The AEO id.")],
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Print a record's trail as JSON: versions with signer, time and changed fields,
    deliveries to partners, and queries."""
    with _reported(), _store(home) as store:
        found = record_trail(store, check_id(aeo_id, "aeo_id"))
        if found is None:
            raise InvalidInput(f"no AEO {aeo_id} is held here", field="aeo_id")
    out.print_json(json.dumps(found))


@audit_app.command("export")
def audit_export(
    file: Annotated[Path, typer.Argument(help="The .json or .csv file to write.")],
    since: Annotated[str | None, typer.Option(help="From this time (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Before this time (ISO 8601).")] = None,
    partner: Annotated[str | None, typer.Option(help="Only this partner's accesses.")] = None,
    aeo: Annotated[str | None, typer.Option(help="Only this AEO id.")] = None,
    action: Annotated[str | None, typer.Option(help="query, deliver, publish...")] = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Export the access log (hash-chained rows, oldest first), filtered."""
    with _reported():
        kind = file.suffix.lstrip(".").lower()
        if kind not in ("json", "csv"):
            raise InvalidInput("use a .json or .csv file", field="file")
        start = None if since is None else as_of_ms(since, "since", day_end=False)
        end = None if until is None else as_of_ms(until, "until")
        actor = None if partner is None else f"peer:{partner.strip().upper()}"
        aeo_id = None if aeo is None else check_id(aeo, "aeo")
        rows: list[dict[str, Any]] = []
        with _store(home) as store:
            while page := store.access_rows(
                since=start,
                until=end,
                actor=actor,
                aeo_id=aeo_id,
                action=action,
                after=rows[-1]["seq"] if rows else -1,
                limit=5000,
            ):
                rows.extend(page)
        text = "".join(rows_csv(rows)) if kind == "csv" else json.dumps(rows, indent=1) + "\n"
        write_atomic(file, text)
    out.print(f"{file}: {len(rows)} rows")


@ledger_app.command("verify")
def ledger_verify(
    home: HomeOption = DEFAULT_HOME,
    quick: Annotated[
        bool, typer.Option(help="SQLite's quick_check instead of its full integrity_check.")
    ] = False,
) -> None:
    """Re-derive every hash, chain link, signature, Merkle node and checkpoint, check every
    view held, the derived tables, the schema and the access log (fsck). Names every damage
    found and exits 1 if there is any."""
    with _reported(), _store(home) as store:
        own = NodeHome(path=home).config().origin
        heads = [store.head(origin) for origin in store.origins()]
        total = sum(head.size for head in heads if head is not None)
        with _progress() as progress, ThreadPoolExecutor(2) as pool:
            task = progress.add_task("verifying", total=total)
            result = verify_node(
                store,
                own=own,
                quick=quick,
                executor=pool,
                processes=os.cpu_count() or 1,
                progress=lambda n: progress.advance(task, n),
            )
    for report in result.logs:
        out.print(
            f"[green]OK[/] {report.origin}: {report.size} entries, "
            f"{report.checkpoints} checkpoints, {report.payloads} payloads, "
            f"root {report.root.hex()}"
        )
    if not result.ok:
        for damage in result.damages:
            err.print(f"[bold red]DAMAGED[/] {damage}", soft_wrap=True)
        err.print(f"{len(result.damages)} damage(s) found")
        raise typer.Exit(1)
    out.print(f"[green]OK[/] {result.views} views, each signed by its origin for {own}")
    out.print("[green]OK[/] derived tables, schema and API keys as the log and migrations give")
    out.print(f"[green]OK[/] access log: {result.access_rows} rows, hash chain intact")


@ledger_app.command("info")
def ledger_info(home: HomeOption = DEFAULT_HOME) -> None:
    """Show this node's identity and the size of each log it holds."""
    with _reported():
        config = NodeHome(path=home).config()
        with _store(home) as store:
            heads = {o: store.head(o) for o in store.origins()}
            schema = store.schema_version
    out.print(
        f"node {config.origin} ({config.name}), key {config.public_key.hex()}, schema v{schema}"
    )
    for origin, head in heads.items():
        out.print(f"  {origin}: {head.size if head else 0} entries")


@ledger_app.command("checkpoint")
def ledger_checkpoint(home: HomeOption = DEFAULT_HOME) -> None:
    """Print this node's latest signed checkpoint (C2SP signed note)."""
    with _reported():
        origin = NodeHome(path=home).config().origin
        with _store(home) as store:
            note = store.latest_checkpoint(origin)
    if note is None:
        err.print("no checkpoint yet: the log is empty")
        raise typer.Exit(2)
    sys.stdout.write(note.decode())


@ledger_app.command("accept-restore")
def ledger_accept_restore(
    by: Annotated[str | None, typer.Option(help="Who accepts (default: the OS user).")] = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Let this node append to its log without a peer's confirmation, accepting the risk that
    its home is an older copy whose seqs peers already hold (after a start while every peer is
    away). Recorded in the home and the audit trail, logged by the node when it resumes; it
    covers the log as it is now, for an hour. Refused when a peer has shown more of the log."""
    from datetime import UTC, datetime

    from node.host.guard import accept_restore

    who = by or getpass.getuser()
    with _reported(), _store(home) as store:
        accepted = accept_restore(NodeHome(path=home), store, who, datetime.now(UTC))
        trail = AccessLog(store, system_clock)
        trail.record(f"cli:{getpass.getuser()}", "accept-restore", "mra ledger accept-restore")
        trail.flush()
    out.print(
        f"{accepted.describe()}: appends resume on this node's log of {accepted.size} entries"
        " without waiting for a peer (recorded in restore-accepted.json)"
    )


@ledger_app.command("rebuild")
def ledger_rebuild(home: HomeOption = DEFAULT_HOME) -> None:
    """Recompute the derived tables (current state, identifier lookups) from the log."""
    with _reported(), _store(home) as store:
        count = store.rebuild_derived(NodeHome(path=home).config().origin)
    out.print(f"rebuilt derived tables from {count} record versions")


@key_app.command("rotate")
def key_rotate(home: HomeOption = DEFAULT_HOME) -> None:
    """Rotate this node's signing key (stop the node first, or use POST /v1/keys/rotate)."""
    with _reported(), _store(home) as store:
        entry, key = NodeHome(path=home).rotate_key(_ledger(home, store))
    out.print(f"rotated at {entry.header.origin}#{entry.header.seq}")
    out.print(f"public key {key.public_key.hex()} signs from seq {entry.header.seq + 1}")


@key_app.command("encrypt")
def key_encrypt(home: HomeOption = DEFAULT_HOME) -> None:
    """Seal this node's private keys (signing, sealing, TLS) with a passphrase. It is read from
    MRA_KEY_PASSPHRASE or MRA_KEY_PASSPHRASE_FILE, or asked for; the node then needs one of
    those two set to start."""
    with _reported():
        secret = keyfiles.passphrase()
        if secret is None:
            secret = typer.prompt("Passphrase", hide_input=True, confirmation_prompt=True).encode()
        changed = keyfiles.encrypt_home(home, secret)
    out.print(f"sealed: {', '.join(changed) or 'nothing (already sealed)'}")
    out.print(
        f"start the node with {keyfiles.PASSPHRASE_ENV} or {keyfiles.PASSPHRASE_FILE_ENV} set"
    )


@agreement_app.command("propose")
def agreement_propose(
    file: Annotated[Path, typer.Argument(help="The agreement document (JSON).")],
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Propose an agreement (or an amendment: same id, next version). Without
    contract_sha256, the document pins the source of the contract this node holds."""
    with _reported():
        data = parse_json(_read_text(file).encode())
        if not isinstance(data, dict):
            raise InvalidInput("an agreement is a JSON object", field="agreement")
        ref = f"{data.get('contract')}@{data.get('contract_version')}"
        if "contract_sha256" not in data:
            if ref not in SOURCE_HASHES:
                raise InvalidInput(
                    f"this node holds no contract {ref} (it holds "
                    f"{', '.join(sorted(SOURCE_HASHES))})",
                    field="contract",
                )
            data["contract_sha256"] = SOURCE_HASHES[ref]
        doc = Agreement.from_dict(data)
        with _store(home) as store:
            entry = agreements.propose(_ledger(home, store), store, doc)
    out.print(
        f"proposed {doc.id} v{doc.version} ({doc.hash.hex()[:16]}) as "
        f"{entry.header.origin}#{entry.header.seq}"
    )


@agreement_app.command("approve")
def agreement_approve(
    agreement_id: Annotated[str, typer.Argument(help="The agreement id.")],
    version: Annotated[int | None, typer.Option(help="Default: the latest proposed.")] = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Approve a proposed agreement on this node's own log."""
    with _reported(), _store(home) as store:
        entry = agreements.approve(_ledger(home, store), store, agreement_id, version)
    out.print(f"approved {agreement_id} as {entry.header.origin}#{entry.header.seq}")


@agreement_app.command("withdraw")
def agreement_withdraw(
    agreement_id: Annotated[str, typer.Argument(help="The agreement id.")],
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Withdraw from an agreement: it ends for every party from this entry's time."""
    with _reported(), _store(home) as store:
        entry = agreements.withdraw(_ledger(home, store), store, agreement_id)
    out.print(f"withdrew from {agreement_id} as {entry.header.origin}#{entry.header.seq}")


@agreement_app.command("list")
def agreement_list(home: HomeOption = DEFAULT_HOME) -> None:
    """Agreements known to this node and their state now (as of its latest entry)."""
    with _reported(), _store(home) as store:
        states = agreements.states(store)
        now = _latest_ts(store)
    table = Table("id", "version", "parties", "contract", "state", "approvals")
    for agreement_id, state in sorted(states.items()):
        doc = state.current
        if doc is None:
            continue
        approved = state.approvals.get((doc.version, bytes(doc.hash)), set())
        table.add_row(
            agreement_id,
            str(doc.version),
            " ".join(doc.parties),
            doc.contract_ref,
            state.status_at(now),
            f"{len(approved)}/{len(doc.parties)}",
        )
    out.print(table)


@agreement_app.command("show")
def agreement_show(
    agreement_id: Annotated[str, typer.Argument(help="The agreement id.")],
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """The agreement document in force (or proposed), its approvals and state, as JSON."""
    with _reported(), _store(home) as store:
        state = agreements.states(store).get(agreement_id)
        now = _latest_ts(store)
        if state is None or state.current is None:
            raise NotFound(f"no agreement {agreement_id} is held here", field="id")
    doc = state.current
    out.print_json(
        json.dumps(
            {
                "document": doc.to_dict(),
                "hash": doc.hash.hex(),
                "state": state.status_at(now),
                "approved_by": sorted(state.approvals.get((doc.version, bytes(doc.hash)), set())),
                "withdrawn_at": state.withdrawn_at,
            }
        )
    )


@apikey_app.command("create")
def apikey_create(
    role: Annotated[str, typer.Option(help="viewer, auditor, publisher or admin.")],
    label: Annotated[str, typer.Option(help="Who or what uses it.")] = "",
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Create an API key; it is printed once and only its hash is stored."""
    from node.core.clock import system_clock
    from node.host.apikeys import create_key

    with _reported(), _store(home) as store:
        key = create_key(store, role, label, system_clock())
    sys.stdout.write(key + "\n")


@apikey_app.command("revoke")
def apikey_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (the part after 'mra_').")],
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Revoke an API key: it and every web UI session opened with it stop working at once."""
    with _reported(), _store(home) as store:
        if not store.revoke_api_key(key_id):
            raise NotFound(f"no active API key {key_id}", field="key_id")
    out.print(f"revoked {key_id}")


@apikey_app.command("list")
def apikey_list(home: HomeOption = DEFAULT_HOME) -> None:
    """List API keys (ids, roles, labels; never secrets)."""
    with _reported(), _store(home) as store:
        keys = store.api_keys()
    table = Table("key id", "role", "label", "created", "state")
    for row in keys:
        state = "revoked" if row["revoked"] else "active"
        table.add_row(
            row["key_id"], row["role"], row["label"], str(iso_time(row["created_ts"])), state
        )
    out.print(table)


@node_app.command("run")
def node_run(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 7441,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Serve the node's API over TLS (tls.crt and tls.key from the home; always on)."""
    import ssl

    import uvicorn

    from network.tls_scope import TlsScopeProtocol, head_seconds
    from node.app.api import create_app
    from node.host.guard import HomeLock

    with _reported():
        head_seconds()  # a bad MRA_HEAD_SECONDS stops here, named, not at every connection
        node_home = NodeHome(path=home)
        node_home.config()
        lock = HomeLock.take(home)  # one node process per home, until this one ends
        cert, key, ca = (home / "tls.crt", home / "tls.key", home / "ca.crt")
        for path in (cert, key, ca):
            if not path.exists():
                raise InvalidInput(
                    f"{path} is missing: TLS is always on (see 'mra network init')", field="home"
                )
        keyfiles.check_home(home)
        password = keyfiles.tls_password(key)
        app_ = create_app(node_home)
    uvicorn.run(
        app_,
        host=host,
        port=port,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        ssl_keyfile_password=password.decode() if password else None,
        ssl_ca_certs=str(ca),
        ssl_cert_reqs=ssl.CERT_OPTIONAL,
        http=TlsScopeProtocol,
        log_level="warning",
    )
    lock.release()


@network_app.command("init")
def network_init(
    directory: Annotated[Path, typer.Argument(help="Where to write the network material.")],
    member: Annotated[
        list[str], typer.Option(help="CODE,Name,https://host:port (repeat for each member).")
    ],
    network: Annotated[str, typer.Option(help="The network's name.")] = "MRA Ledger network",
) -> None:
    """Create a network: its CA, each member's keys, TLS certificate and node home, and the
    membership document signed by every member."""
    from datetime import UTC, datetime

    from network.bootstrap import MemberSpec, init_network

    with _reported():
        specs = [MemberSpec.parse(text) for text in member]
        membership = init_network(directory, network, specs, now=datetime.now(UTC))
    for m in membership.members:
        out.print(f"{m.code}: {directory / m.code}  {m.endpoint}  key {m.signing_key[:16]}...")
    out.print(
        f"membership v{membership.version} signed by all {len(membership.members)} "
        f"members; keep {directory / 'ca.key'} offline"
    )


ProposalArgument = Annotated[Path, typer.Argument(help="A membership proposal file.")]


@network_app.command("join")
def network_join(
    code: Annotated[str, typer.Option(help="The new member's ISO 3166-1 alpha-2 code.")],
    name: Annotated[str, typer.Option(help="The administration's name.")],
    endpoint: Annotated[str, typer.Option(help="Its node's URL, https://host:port.")],
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """As a new member: create this node's keys and a join request for the network."""
    from network.onboarding import join

    with _reported():
        path = join(NodeHome(path=home), code.upper(), name, endpoint)
    out.print(f"wrote {path}; send it to the holder of the network CA (mra network certify)")


@network_app.command("certify")
def network_certify(
    request: Annotated[Path, typer.Argument(help="The new member's join-request.json.")],
    ca_dir: Annotated[Path, typer.Option(help="Holds ca.key and ca.crt.")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Where to write tls.crt and ca.crt.")
    ] = None,
) -> None:
    """As the CA holder: issue the new member's TLS certificate."""
    from datetime import UTC, datetime

    from network.onboarding import certify

    with _reported():
        cert = certify(ca_dir, request, out_dir or request.parent, now=datetime.now(UTC))
    out.print(f"wrote {cert} and {cert.parent / 'ca.crt'}")


@network_app.command("propose")
def network_propose(
    request: Annotated[Path, typer.Argument(help="The new member's join-request.json.")],
    cert: Annotated[Path, typer.Option(help="The new member's certificate (certify).")],
    out_file: Annotated[Path, typer.Option("--out", help="The proposal to write.")] = Path(
        "membership-proposal.json"
    ),
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """As a member: propose the next membership version with the new member, signed by you."""
    from network.onboarding import propose_member

    with _reported():
        proposal = propose_member(NodeHome(path=home), request, cert)
        write_atomic(out_file, proposal.to_json())
    _print_signatures(out_file, proposal)


@network_app.command("sign")
def network_sign(proposal_file: ProposalArgument, home: HomeOption = DEFAULT_HOME) -> None:
    """As a member (the new one included): add your signature to a proposal, in place."""
    from network.membership import SignedMembership
    from network.onboarding import sign

    with _reported():
        proposal = sign(NodeHome(path=home), SignedMembership.from_json(_read_text(proposal_file)))
        write_atomic(proposal_file, proposal.to_json())
    _print_signatures(proposal_file, proposal)


@network_app.command("install")
def network_install(proposal_file: ProposalArgument, home: HomeOption = DEFAULT_HOME) -> None:
    """Make a proposal signed by every member this node's membership. A running node takes it
    up in its next gossip round and passes it on to its peers."""
    from network.membership import SignedMembership
    from network.onboarding import install

    with _reported():
        signed = SignedMembership.from_json(_read_text(proposal_file))
        with _store(home) as store:
            membership = install(NodeHome(path=home), store, signed)
    codes = ", ".join(m.code for m in membership.members)
    out.print(f"installed membership v{membership.version}: {codes}")


@network_app.command("members")
def network_members(home: HomeOption = DEFAULT_HOME) -> None:
    """The membership installed at this node."""
    from network.onboarding import installed

    with _reported():
        membership = installed(NodeHome(path=home)).membership
    table = Table("code", "name", "endpoint", title=f"{membership.network} v{membership.version}")
    for m in membership.members:
        table.add_row(m.code, m.name, m.endpoint)
    out.print(table)


def _print_signatures(path: Path, proposal: Any) -> None:
    members = [m.code for m in proposal.membership.members]
    missing = [code for code in members if code not in proposal.signatures]
    out.print(
        f"{path}: membership v{proposal.membership.version}; signed by "
        f"{', '.join(sorted(proposal.signatures)) or 'nobody'}; "
        + (f"still to sign: {', '.join(missing)}" if missing else "complete: mra network install")
    )


@evidence_app.command("verify")
def evidence_verify(
    file: Annotated[
        Path,
        typer.Argument(help="A bundle, or one API answer about one AEO with its evidence."),
    ],
    membership: Annotated[
        Path, typer.Option(help="The network's membership.json (the members' public keys).")
    ] = Path("membership.json"),
) -> None:
    """Check an evidence bundle (docs/evidence.md) with only the network's public keys; given
    an API answer, also check that its origin, seq and record or view are what the bundle
    proves. Exits 1 if anything fails, 2 if a file cannot be read."""
    from network.evidence import verify_answer
    from network.evidence_input import read_strict_json
    from network.membership import SignedMembership

    with _reported():
        signed = SignedMembership.from_json(_read_text(membership))
        signed.verify()
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read {file}: {exc}", field="file") from None
        try:
            document = read_strict_json(data)
            verified, agreements = verify_answer(document, signed)
        except MraError as exc:
            err.print(f"[bold red]INVALID[/] {exc}", markup=True, highlight=False)
            raise typer.Exit(1) from None
    given = "a bare bundle" if agreements is None else "an API answer"
    what = f"the view for {verified.recipient}" if verified.recipient else "the full record"
    checked = "" if agreements is None else "; its origin, seq and record or view are the bundle's"
    out.print(f"input: {given}{checked}", markup=False, highlight=False)
    out.print(
        f"[green]VALID[/] {verified.origin}#{verified.seq}: {what} of "
        f"{verified.document.get('aeo_id', '?')}, in {verified.origin}'s log at checkpoint "
        f"{verified.checkpoint_size}; cosigned by {', '.join(verified.cosigners)} "
        f"({verified.quorum} needed)",
        highlight=False,
    )
    if agreements:
        out.print(
            f"not proven: agreements {', '.join(agreements)} (the answering node's statement)",
            markup=False,
            highlight=False,
        )


def _bulk_format(file: Path, fmt: str | None) -> str:
    """jsonl or csv, from ``--format`` or else the file's suffix."""
    kind = (fmt or file.suffix.lstrip(".")).lower()
    if kind not in ("jsonl", "csv"):
        raise InvalidInput("use a .jsonl or .csv file, or --format", field="format")
    return kind


def _latest_ts(store: SqliteStore) -> int:
    """Now, as the ledger knows it: the latest entry time held (never the wall clock)."""
    heads = [store.head(origin) for origin in store.origins()]
    return max((h.last_ts for h in heads if h is not None), default=0)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {path}", field="file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}", field="file") from None


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def _print_bad_lines(file: Path, bad: list[tuple[int, str]]) -> None:
    for line, message in sorted(bad)[:200]:
        err.print(f"{file}:{line}: {message}", markup=False, highlight=False)
    if len(bad) > 200:
        err.print(f"... and {len(bad) - 200} more")


def _print_result(entries: Any, unchanged: Any) -> None:
    for entry in entries:
        out.print(f"appended {entry.header.origin}#{entry.header.seq} ({entry.header.kind})")
    for aeo_id in unchanged:
        out.print(f"{aeo_id} unchanged (identical to the current version)")


@devnet_app.command("up")
def devnet_up(
    directory: DevnetDir = DEFAULT_DEVNET,
    base_port: Annotated[int, typer.Option(help="BR listens here, the others next.")] = 7441,
    records: Annotated[int, typer.Option(help="Demo AEO records per node (first start).")] = 200,
    detach: Annotated[bool, typer.Option(help="Leave the nodes running and return.")] = False,
) -> None:
    """Start the devnet: five nodes with TLS, two agreements, demo data. Ctrl-C stops it."""
    import signal
    import time
    from datetime import UTC, datetime

    from network.devnet import Devnet

    devnet = Devnet(directory, base_port=base_port)
    with _reported():
        created = devnet.create()
        devnet.start()
        try:
            devnet.wait_healthy()
            if created:
                out.print("recording the agreements MRA-BR-UY and MERCOSUR-AEO ...")
                devnet.setup_agreements(datetime.now(UTC).date())
                loaded = devnet.load_demo(records)
                out.print(f"loaded demo records: {loaded}")
        except BaseException:
            devnet.stop()
            raise
    table = Table("node", "URL")
    table.add_column("admin API key", overflow="fold")
    for node in devnet.nodes():
        table.add_row(node.code, node.url, node.api_key)
    out.print(table)
    out.print(f"CA certificate: {directory / 'ca.crt'}  logs: {directory}/<CODE>/node.log")
    if detach:
        out.print(f"running in the background; stop with: mra devnet down --dir {directory}")
        return
    out.print("running; press Ctrl-C to stop")
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    try:
        while not stopping and devnet.running():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    out.print(f"stopped: {', '.join(devnet.stop())}")


@devnet_app.command("create")
def devnet_create(
    directory: DevnetDir = DEFAULT_DEVNET,
    endpoint: Annotated[
        str, typer.Option(help="Each node's URL; {code} is its lower-case code.")
    ] = "https://{code}:7441",
) -> None:
    """Only create the devnet's network material (for containers: see docker-compose.yml)."""
    from network.devnet import Devnet

    with _reported():
        created = Devnet(directory).create(endpoint)
    out.print(f"{'created' if created else 'kept the existing'} network in {directory}")


@devnet_app.command("setup")
def devnet_setup(
    directory: DevnetDir = DEFAULT_DEVNET,
    records: Annotated[int, typer.Option(help="Demo AEO records per node.")] = 200,
) -> None:
    """Record the agreements and load demo data into running nodes (once per network)."""
    from datetime import UTC, datetime

    from network.devnet import Devnet

    devnet = Devnet(directory)
    marker = directory / "setup.done"
    with _reported():
        devnet.wait_healthy(timeout=120)
        if marker.exists():
            out.print("agreements and demo data were set up before")
            return
        devnet.setup_agreements(datetime.now(UTC).date())
        loaded = devnet.load_demo(records)
        marker.write_text("done\n")
    out.print(f"agreements in force; demo records loaded: {loaded}")


@devnet_app.command("down")
def devnet_down(directory: DevnetDir = DEFAULT_DEVNET) -> None:
    """Stop the devnet's nodes (their data stays; 'up' starts them again)."""
    from network.devnet import Devnet

    stopped = Devnet(directory).stop()
    out.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
