"""``mra ledger``: verify (fsck), inspect and maintain the ledger of this node."""

from __future__ import annotations

import getpass
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

import typer

from node.app.cli.common import DEFAULT_HOME, AsOption, HomeOption, err, out, progress
from node.app.cli.context import opened
from node.ledger.verification import verify_node

__all__ = ["app"]

app = typer.Typer(help="Inspect, verify and maintain the ledger.", no_args_is_help=True)


@app.command("verify")
def ledger_verify(
    home: HomeOption = DEFAULT_HOME,
    quick: Annotated[
        bool, typer.Option(help="SQLite's quick_check instead of its full integrity_check.")
    ] = False,
) -> None:
    """Re-derive every hash, chain link, signature, Merkle node and checkpoint, check every
    view held, the derived tables, the schema and the access log (fsck). Names every damage
    found and exits 1 if there is any."""
    with opened(home) as node:
        own = node.origin
        heads = [node.store.head(origin) for origin in node.store.origins()]
        total = sum(head.size for head in heads if head is not None)
        with progress() as bar, ThreadPoolExecutor(2) as pool:
            task = bar.add_task("verifying", total=total)
            result = verify_node(
                node.store,
                own=own,
                quick=quick,
                executor=pool,
                processes=os.cpu_count() or 1,
                progress=lambda n: bar.advance(task, n),
            )
        warning = _append_only_warning(node.store)
    if warning is not None:
        err.print(f"[bold yellow]WARNING[/] {warning}", soft_wrap=True)
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


def _append_only_warning(store: object) -> str | None:
    from node.store.postgres import PostgresStore
    from node.store.postgres.roles import append_only_warning

    return append_only_warning(store) if isinstance(store, PostgresStore) else None


@app.command("grant")
def ledger_grant(
    role: Annotated[str, typer.Argument(help="The node's runtime role (created beforehand).")],
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Give ROLE what a serving node needs of the PostgreSQL database and nothing more (SELECT
    and INSERT; UPDATE or DELETE only on the mutable tables; erasure through the owner's
    functions). Run as the tables' owner: MRA_DATABASE_OWNER_URL, or MRA_DATABASE_URL when
    it is the owner's. The node then runs with MRA_DATABASE_URL naming ROLE."""
    from node.app.cli.common import reported
    from node.app.cli.context import home_of
    from node.core.errors import InvalidInput
    from node.host.settings import database_url
    from node.store.postgres import PostgresStore
    from node.store.postgres.roles import grant_runtime, owns_tables

    with reported():
        owner = database_url(name="MRA_DATABASE_OWNER_URL") or database_url()
        if owner is None:
            raise InvalidInput(
                "set it to the PostgreSQL database as the tables' owner",
                field="MRA_DATABASE_OWNER_URL",
            )
        store = PostgresStore.open(owner, home_of(home).db_path)
        try:
            if not owns_tables(store):
                raise InvalidInput(
                    "this URL's role does not own the tables: use the owner's",
                    field="MRA_DATABASE_OWNER_URL",
                )
            try:
                statements = grant_runtime(store, role)
            except ValueError as exc:
                raise InvalidInput(str(exc), field="role") from None
        finally:
            store.close()
    for statement in statements:
        out.print(statement, soft_wrap=True)
    out.print(f"[green]OK[/] {role} may now serve the node (MRA_DATABASE_URL with role {role})")


@app.command("scrub")
def ledger_scrub(home: HomeOption = DEFAULT_HOME) -> None:
    """Rewrite the tables erasures delete from, so that no erased bytes stay in their pages
    (PostgreSQL: VACUUM FULL, as the tables' owner, MRA_DATABASE_OWNER_URL; SQLite: the WAL
    truncated). Exits 1 when it is left pending."""
    from node.store.postgres import PostgresStore
    from node.store.postgres.connection import SCRUB_PENDING

    with opened(home) as node:
        done = node.store.scrub()
        postgres = isinstance(node.store, PostgresStore)
    if not done:
        why = SCRUB_PENDING if postgres else "a reader held the WAL: try again"
        err.print(f"[bold yellow]PENDING[/] {why}", soft_wrap=True)
        raise typer.Exit(1)
    out.print("[green]OK[/] the erased tables were rewritten")


@app.command("info")
def ledger_info(home: HomeOption = DEFAULT_HOME) -> None:
    """Show this node's identity and the size of each log it holds."""
    with opened(home) as node:
        config = node.home.config()
        heads = {o: node.store.head(o) for o in node.store.origins()}
        schema = node.store.schema_version
    out.print(
        f"node {config.origin} ({config.name}), key {config.public_key.hex()}, schema v{schema}"
    )
    for origin, head in heads.items():
        out.print(f"  {origin}: {head.size if head else 0} entries")


@app.command("checkpoint")
def ledger_checkpoint(home: HomeOption = DEFAULT_HOME) -> None:
    """Print this node's latest signed checkpoint (C2SP signed note)."""
    with opened(home) as node:
        note = node.store.latest_checkpoint(node.origin)
    if note is None:
        err.print("no checkpoint yet: the log is empty")
        raise typer.Exit(2)
    sys.stdout.write(note.decode())


@app.command("accept-restore")
def ledger_accept_restore(
    by: Annotated[str | None, typer.Option(help="Who accepts (default: the OS user).")] = None,
    acting: AsOption = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Let this node append to its log without a peer's confirmation, accepting the risk that
    its home is an older copy whose seqs peers already hold (after a start while every peer is
    away). Recorded in the home and the audit trail, logged by the node when it resumes; it
    covers the log as it is now, for an hour. Refused when a peer has shown more of the log."""
    from datetime import UTC, datetime

    from node.host.guard import accept_restore

    who = by or getpass.getuser()
    with opened(home, acting) as node:
        accepted = accept_restore(node.home, node.store, who, datetime.now(UTC))
        node.audit("accept-restore", "mra ledger accept-restore")
    out.print(
        f"{accepted.describe()}: appends resume on this node's log of {accepted.size} entries"
        " without waiting for a peer (recorded in restore-accepted.json)"
    )


@app.command("lost-tail")
def ledger_lost_tail(
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
    acting: AsOption = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """After a restore: ask every peer (over mutual TLS, with this home's identity; the node
    may run or not) what it holds of this node's log beyond what the database holds, and print
    per lost seq its kind and time, which peers hold its header, which a view (AEO id and the
    fields they were sent) and when they received it. A header that this node never signed is
    flagged (exit 1): evidence against the peer that showed it. A peer that does not answer is
    named, with why. Recorded in the audit trail."""
    import json
    from datetime import UTC, datetime

    from network.held_tail import lost_tail, report
    from network.service import held_by_peers

    with opened(home, acting) as node:
        me = node.origin
        head = node.store.head(me)
        size = head.size if head else 0
        keys = [key for _, key in node.store.keys(me)] + [node.home.config().public_key]
        seen_by, seen = node.home.log_seen()
        answers, failed = held_by_peers(node.home, node.store, size)
        node.audit("lost-tail", "mra ledger lost-tail")
    held = lost_tail(me, size, keys, answers)
    forged = [(h.seq, code) for h in held for code in h.forged]
    if as_json:
        document = report(me, size, keys, answers, failed) | {"seen": {"by": seen_by, "size": seen}}
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
    else:
        out.print(f"{me}'s database holds {size} entries of its log", soft_wrap=True)
        if seen > size:
            out.print(f"log-seen.json: {seen_by} has seen {seen}", soft_wrap=True)
        for code in sorted(answers):
            out.print(f"{code}: answered, holds {sum(1 for h in held if code in h.headers)} lost")
        for code, why in sorted(failed.items()):
            err.print(f"{code}: no answer ({why})", soft_wrap=True, markup=False)
        for h in held:
            when = "?" if h.ts is None else datetime.fromtimestamp(h.ts / 1000, UTC).isoformat()
            signed = sorted(c for c, x in h.headers.items() if x["signed_here"])
            out.print(
                f"LOST {me}#{h.seq} {h.kind} at {when}: header at {', '.join(signed) or 'none'}",
                soft_wrap=True,
                markup=False,
            )
            for code, view in sorted(h.views.items()):
                out.print(
                    f"  view at {code}: {view.get('aeo_id')} received_ts"
                    f" {view.get('received_ts')} fields"
                    f" {json.dumps(view.get('fields'), sort_keys=True)}",
                    soft_wrap=True,
                    markup=False,
                )
            for code in h.documents:
                out.print(f"  whole document delivered to {code}", markup=False)
        if not held and answers:
            out.print("no peer that answered holds an entry of this log beyond the database")
    for seq, code in forged:
        err.print(
            f"NOT SIGNED HERE: {code} shows a header at {me}#{seq} that no key of {me} signed",
            soft_wrap=True,
            markup=False,
        )
    if forged:
        raise typer.Exit(1)


@app.command("rebuild")
def ledger_rebuild(home: HomeOption = DEFAULT_HOME) -> None:
    """Recompute the derived tables (current state, identifier lookups) from the log."""
    with opened(home) as node:
        count = node.store.rebuild_derived(node.origin)
    out.print(f"rebuilt derived tables from {count} record versions")


@app.command("move-to-postgres")
def ledger_move_to_postgres(home: HomeOption = DEFAULT_HOME) -> None:
    """Move this (stopped) node's SQLite ledger into the empty PostgreSQL database named by
    MRA_DATABASE_URL: every table copied as it is (the log is not re-signed: the same history
    goes on from the same seq), the copy verified there, the file then set aside. Start the
    node with the same MRA_DATABASE_URL afterwards."""
    from node.app.cli.common import reported
    from node.app.cli.context import home_of
    from node.core.errors import InvalidInput
    from node.host.backup import move_to_postgres
    from node.host.settings import database_url

    with reported():
        url = database_url()
        if url is None:
            raise InvalidInput(
                "set it to the empty PostgreSQL database to move the ledger into",
                field="MRA_DATABASE_URL",
            )
        moved, verification, kept = move_to_postgres(home_of(home), url)
    for origin, size in sorted(moved.logs.items()):
        out.print(f"[green]OK[/] {origin}: {size} entries, verified in PostgreSQL")
    out.print(
        f"moved {sum(moved.rows.values())} rows of {len(moved.rows)} tables;"
        f" {verification.access_rows} access-log rows, hash chain intact;"
        f" the SQLite file is kept as {kept.name}",
        soft_wrap=True,
    )
