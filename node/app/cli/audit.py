"""``mra audit``: a record's trail, and the access log exported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from network.files import load_membership
from node.app.cli.common import DEFAULT_HOME, HomeOption, out, reported
from node.app.cli.context import OpenNode, opened
from node.core.errors import InvalidInput, MraError
from node.core.reports import actor_labels, readable_rows, rows_csv
from node.host.home import write_atomic
from node.ledger.queries import as_of_ms, check_id
from node.ledger.trail import record_trail

__all__ = ["app"]

app = typer.Typer(
    help="The audit trail: who published, received and read what, and when.",
    no_args_is_help=True,
)


@app.command("trail")
def audit_trail(
    aeo_id: Annotated[str, typer.Argument(help="The AEO id.")],
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Print a record's trail as JSON: versions with signer, time and changed fields,
    deliveries to partners, and queries."""
    with opened(home) as node:
        found = record_trail(node.store, check_id(aeo_id, "aeo_id"))
        if found is None:
            raise InvalidInput(f"no AEO {aeo_id} is held here", field="aeo_id")
    out.print_json(json.dumps(found))


@app.command("export")
def audit_export(
    file: Annotated[Path, typer.Argument(help="The .json or .csv file to write.")],
    since: Annotated[str | None, typer.Option(help="From this time (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Before this time (ISO 8601).")] = None,
    partner: Annotated[str | None, typer.Option(help="Only this partner's accesses.")] = None,
    actor: Annotated[
        str | None,
        typer.Option(help="Only this actor: key:<id>, peer:<code> or cli:<user>@<host>."),
    ] = None,
    aeo: Annotated[str | None, typer.Option(help="Only this AEO id.")] = None,
    action: Annotated[str | None, typer.Option(help="query, deliver, publish...")] = None,
    entry_seq: Annotated[
        int | None, typer.Option(min=0, help="Only deliveries of this entry (its seq).")
    ] = None,
    repeats: Annotated[
        bool,
        typer.Option(help="--no-repeats leaves out deliveries repeating an earlier one."),
    ] = True,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Export the access log (hash-chained rows, oldest first), filtered. Each row has its
    time as ISO 8601 UTC with milliseconds (``time``) and its actor with the API key's label
    (``actor_label``) beside the hashed ``ts`` and ``actor``."""
    with reported():
        kind = file.suffix.lstrip(".").lower()
        if kind not in ("json", "csv"):
            raise InvalidInput("use a .json or .csv file", field="file")
        if partner is not None and actor is not None:
            raise InvalidInput("give --partner or --actor, not both", field="partner")
        start = None if since is None else as_of_ms(since, "since", day_end=False)
        end = None if until is None else as_of_ms(until, "until")
        who = actor if partner is None else f"peer:{partner.strip().upper()}"
        aeo_id = None if aeo is None else check_id(aeo, "aeo")
        rows: list[dict[str, Any]] = []
        with opened(home) as node:
            while page := node.store.access_rows(
                since=start,
                until=end,
                actor=who,
                aeo_id=aeo_id,
                action=action,
                entry_seq=entry_seq,
                repeats=repeats,
                after=rows[-1]["seq"] if rows else -1,
                limit=5000,
            ):
                rows.extend(page)
            rows = readable_rows(rows, actor_labels(node.store.api_keys(), _members(node)))
        text = "".join(rows_csv(rows)) if kind == "csv" else json.dumps(rows, indent=1) + "\n"
        write_atomic(file, text)
    out.print(f"{file}: {len(rows)} rows")


def _members(node: OpenNode) -> dict[str, str]:
    """Each member's name, from the home's membership document (none outside a network)."""
    if not (node.home.path / "membership.json").exists():
        return {}
    try:
        membership = load_membership(node.home, node.store)
    except MraError:  # a membership that does not verify names nobody
        return {}
    return {member.code: member.name for member in membership.members}
