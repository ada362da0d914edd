"""``mra aeo``: publish, import, change, erase, show, export and list AEO records."""

from __future__ import annotations

import io
import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from node.app.cli.common import (
    DEFAULT_HOME,
    AsOption,
    HomeOption,
    err,
    out,
    progress,
    read_text,
    reported,
)
from node.app.cli.context import OpenNode, opened
from node.app.cli.record_help import IMPORT_HELP, PUBLISH_HELP
from node.core import bulk
from node.core.canonical import parse_json
from node.core.errors import InvalidInput, NotFound
from node.core.records import AeoRecord, Status
from node.core.status import StatusCode
from node.host.home import write_atomic
from node.ledger import erasure
from node.ledger.queries import Queries, as_of_instant, check_id, in_force_date

__all__ = ["SKIPPED", "app"]

SKIPPED = 3  # exit status of an import with --skip-invalid that skipped lines

app = typer.Typer(help="Publish and read AEO records on this node's ledger.", no_args_is_help=True)

FormatOption = Annotated[
    str | None, typer.Option("--format", help="jsonl or csv (default: from the suffix).")
]


@app.command("publish", help=PUBLISH_HELP)
def aeo_publish(
    file: Annotated[Path, typer.Argument(help="A JSON file with one AEO record, or - for stdin.")],
    acting: AsOption = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    with reported():
        text = sys.stdin.read() if str(file) == "-" else read_text(file)
        data = parse_json(text.encode())
        if not isinstance(data, dict):
            raise InvalidInput("an AEO record is a JSON object", field="record")
        record = AeoRecord.from_dict(data)
        with opened(home, acting) as node:
            result = node.ledger.publish([record])
            if result.entries:
                node.audit("publish", "mra aeo publish", record.aeo_id)
    _print_result(result.entries, result.unchanged)


@app.command("import", help=IMPORT_HELP)
def aeo_import(
    file: Annotated[Path, typer.Argument(help="A .jsonl or .csv file of AEO records.")],
    fmt: FormatOption = None,
    skip_invalid: Annotated[
        bool, typer.Option(help="Write the valid lines even if some are invalid.")
    ] = False,
    acting: AsOption = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    with reported():
        kind = _bulk_format(file, fmt)
        # newline="": split on line ends only, not on U+2028 & co, so line numbers stay true.
        lines = list(io.StringIO(read_text(file), newline=""))
        parse = bulk.parse_jsonl if kind == "jsonl" else bulk.parse_csv
        if kind == "csv" and lines and bulk.csv_delimiter(lines[0]) == ";":
            err.print(f"{file}: cells separated by ';' (as spreadsheets write in some locales)")
        results = []
        with progress() as bar:
            task = bar.add_task(f"reading {file.name}", total=len(lines))
            for result in parse(lines):
                results.append(result)
                bar.update(task, completed=result.line)
        bad = [r for r in results if r.error is not None]
        good = [r for r in results if r.record is not None]
        records = [r.record for r in good if r.record is not None]
        with opened(home, acting) as node:
            # The ledger's rules (an id of another issuer...) are checked on the lines that
            # parsed, so one run reports every bad line, unreadable or refused.
            refused = [(good[i].line, str(e)) for i, e in node.ledger.validate(records)]
            if (bad or refused) and not skip_invalid:
                _refuse(file, [(r.line, str(r.error)) for r in bad] + refused, "bad line(s)")
            published = node.ledger.publish(records, skip_invalid=skip_invalid)
            refused_lines = {line for line, _ in refused}
            written = [
                r.record.aeo_id
                for r in good
                if r.record is not None
                and r.line not in refused_lines
                and r.record.aeo_id not in published.unchanged
            ]
            if published.entries:
                node.audit("publish", "mra aeo import", *written)
    _print_bad_lines(file, [(r.line, str(r.error)) for r in bad] + refused)
    out.print(
        f"{file}: {len(published.entries)} appended, {len(published.unchanged)} unchanged, "
        f"{len(bad) + len(refused)} invalid"
    )
    if bad or refused:
        raise typer.Exit(SKIPPED)  # written, but not all of it: scripts must not take it as done


@app.command("status")
def aeo_status(
    aeo_id: Annotated[str, typer.Argument(help="The AEO id, e.g. BR1234567.")],
    status: Annotated[str, typer.Argument(help="valid, suspended, revoked or annulled.")],
    reason: Annotated[str | None, typer.Option(help="Why (required unless valid).")] = None,
    effective: Annotated[
        str | None, typer.Option(help="Date the status takes effect (YYYY-MM-DD, default today).")
    ] = None,
    acting: AsOption = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Change the status of one of this node's AEOs (suspend, reinstate, revoke, annul)."""
    with opened(home, acting) as node:
        current = _current(node, aeo_id)
        record = current[1].with_status(
            Status.from_dict(
                {
                    "code": status,
                    "reason": reason,
                    "effective": effective or date.today().isoformat(),
                }
            )
        )
        result = node.ledger.publish([record])
        if result.entries:
            node.audit("status", "mra aeo status", record.aeo_id)
    _print_result(result.entries, result.unchanged)


@app.command("erase")
def aeo_erase(
    aeo_id: Annotated[str, typer.Argument(help="The AEO id, e.g. BR1234567.")],
    reason: Annotated[
        str, typer.Option(help="The legal reason, e.g. 'GDPR Art. 17 request of 2026-11-02'.")
    ],
    acting: AsOption = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Erase one of this node's AEO records here and at every partner: the payloads of all
    its versions are deleted, and a signed erasure entry tells each partner to delete its
    copies and confirm. Proofs and verification still hold."""
    with opened(home, acting) as node:
        wanted = check_id(aeo_id, "aeo_id")
        entry, done = erasure.erase(node.ledger, node.store, wanted, reason)
        node.audit("erase", "mra aeo erase", wanted)
    out.print(
        f"erased {wanted}: {len(done.entries)} versions; erasure entry {entry.header.seq};"
        f" partners to confirm: {', '.join(done.partners) or 'none'}"
    )


@app.command("show")
def aeo_show(
    aeo_id: Annotated[str, typer.Argument(help="The AEO id.")],
    in_force_on: Annotated[
        str | None,
        typer.Option(
            "--in-force-on",
            help="Legal time: the version whose status was in force on this date (YYYY-MM-DD),"
            " as now known (or as known at --as-of).",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Ledger time: the version this ledger showed at this instant (ISO 8601 date"
            " or date-time, UTC unless it says otherwise; a date means its end).",
        ),
    ] = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Print an AEO record as JSON: the current version of one of this node's records; or,
    with --in-force-on and/or --as-of, the answer GET /v1/aeo/{id} gives for those clocks
    (own records in full, partners' records as the views received), naming the clocks read."""
    if in_force_on is None and as_of is None:
        with opened(home) as node:
            seq, record = _current(node, aeo_id)
        out.print_json(json.dumps({"seq": seq, "record": record.to_dict()}))
        return
    with opened(home) as node:
        on = None if in_force_on is None else in_force_date(in_force_on, "--in-force-on")
        at = None if as_of is None else as_of_instant(as_of, "--as-of")
        answer = Queries(node.store, node.origin).one(aeo_id, at, on)
        if answer is None:
            when = "" if on is None else f" in force on {on.isoformat()}"
            when += "" if at is None else f" as the ledger showed it at {as_of}"
            raise NotFound(f"no AEO {aeo_id}{when} on this ledger", field="aeo_id")
    out.print_json(json.dumps(answer.to_dict()))


@app.command("export")
def aeo_export(
    file: Annotated[Path, typer.Argument(help="The .jsonl or .csv file to write.")],
    fmt: FormatOption = None,
    status: Annotated[str | None, typer.Option(help="Only AEOs with this status.")] = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Export this node's AEO records, current versions, in the format 'import' reads:
    importing the file again changes nothing."""
    with reported():
        kind = _bulk_format(file, fmt)
        if status is not None and status not in {s.value for s in StatusCode}:
            raise InvalidInput("valid, suspended, revoked or annulled", field="status")
        records: list[AeoRecord] = []
        with opened(home) as node, progress() as bar:
            own = node.origin
            task = bar.add_task("exporting", total=None)
            after = ""
            while page := node.store.list_records(status=status, limit=1000, after=after):
                ids = [row["aeo_id"] for row in page if row["origin"] == own]
                found = node.store.current_records(ids)
                records.extend(found[i][1] for i in ids if i in found)
                bar.update(task, completed=len(records))
                after = page[-1]["aeo_id"]
        text = bulk.write_jsonl(records) if kind == "jsonl" else bulk.write_csv(records)
        write_atomic(file, text)
    out.print(f"{file}: {len(records)} records")


@app.command("list")
def aeo_list(
    status: Annotated[str | None, typer.Option(help="Only AEOs with this status.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """List AEOs and their current status."""
    with opened(home) as node:
        rows = node.store.list_records(status=status, limit=limit)
        total = node.store.count_records(status=status)
    table = Table("aeo_id", "status", "certificate", "legal name", "seq")
    for row in rows:
        table.add_row(
            row["aeo_id"], row["status"], row["certificate"], row["legal_name"], str(row["seq"])
        )
    out.print(table)
    if total > len(rows):
        out.print(
            f"{len(rows)} of {total} shown, {total - len(rows)} more"
            " (--limit N shows more; mra aeo export FILE writes them all)"
        )


def _current(node: OpenNode, aeo_id: str) -> tuple[int, AeoRecord]:
    """The current version of ``aeo_id`` held here; raises InvalidInput when there is none."""
    current = node.store.current_record(aeo_id.upper())
    if current is None:
        raise InvalidInput(f"no AEO {aeo_id} on this ledger", field="aeo_id")
    return current


def _bulk_format(file: Path, fmt: str | None) -> str:
    """jsonl or csv, from ``--format`` or else the file's suffix."""
    kind = (fmt or file.suffix.lstrip(".")).lower()
    if kind not in ("jsonl", "csv"):
        raise InvalidInput("use a .jsonl or .csv file, or --format", field="format")
    return kind


def _refuse(file: Path, bad: list[tuple[int, str]], what: str) -> None:
    _print_bad_lines(file, bad)
    err.print(
        f"[red]nothing written:[/] {len(bad)} {what} in {file}"
        " (use --skip-invalid to write the others)"
    )
    raise typer.Exit(2)


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
