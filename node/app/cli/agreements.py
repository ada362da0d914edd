"""``mra agreement``: propose, approve, withdraw, list and show MRAs on this node's ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from contracts.agreement import Agreement
from contracts.registry import SOURCE_HASHES
from node.app.cli.common import DEFAULT_HOME, AsOption, HomeOption, out, read_text, reported
from node.app.cli.context import OpenNode, members_in_force, opened
from node.core.canonical import parse_json
from node.core.errors import InvalidInput, NotFound
from node.ledger import agreements

__all__ = ["app"]

app = typer.Typer(
    help="Propose, approve and withdraw MRAs on this node's ledger.", no_args_is_help=True
)

IdArgument = Annotated[str, typer.Argument(help="The agreement id.")]


@app.command("propose")
def agreement_propose(
    file: Annotated[Path, typer.Argument(help="The agreement document (JSON).")],
    acting: AsOption = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Propose an agreement (or an amendment: same id, next version). Without
    contract_sha256, the document pins the source of the contract this node holds."""
    with reported():
        data = parse_json(read_text(file).encode())
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
        with opened(home, acting) as node:
            entry = agreements.propose(node.ledger, node.store, doc)
            node.audit("agreement.propose", "mra agreement propose", agreements=doc.id)
    out.print(
        f"proposed {doc.id} v{doc.version} ({doc.hash.hex()[:16]}) as "
        f"{entry.header.origin}#{entry.header.seq}"
    )


@app.command("approve")
def agreement_approve(
    agreement_id: IdArgument,
    version: Annotated[int | None, typer.Option(help="Default: the latest proposed.")] = None,
    acting: AsOption = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Approve a proposed agreement on this node's own log."""
    with opened(home, acting) as node:
        entry = agreements.approve(node.ledger, node.store, agreement_id, version)
        node.audit("agreement.approve", "mra agreement approve", agreements=agreement_id)
    out.print(f"approved {agreement_id} as {entry.header.origin}#{entry.header.seq}")


@app.command("withdraw")
def agreement_withdraw(
    agreement_id: IdArgument, acting: AsOption = None, home: HomeOption = DEFAULT_HOME
) -> None:
    """Withdraw from an agreement: it ends for every party from this entry's time."""
    with opened(home, acting) as node:
        entry = agreements.withdraw(node.ledger, node.store, agreement_id)
        node.audit("agreement.withdraw", "mra agreement withdraw", agreements=agreement_id)
    out.print(f"withdrew from {agreement_id} as {entry.header.origin}#{entry.header.seq}")


@app.command("list")
def agreement_list(home: HomeOption = DEFAULT_HOME) -> None:
    """Agreements known to this node and their state now (as of its latest entry)."""
    with opened(home) as node:
        states = agreements.states(node.store)
        now = _latest_ts(node)
        members = members_in_force(node)
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
            agreements.shown_state(state.status_at(now), doc, members),
            f"{len(approved)}/{len(doc.parties)}",
        )
    out.print(table)


@app.command("show")
def agreement_show(agreement_id: IdArgument, home: HomeOption = DEFAULT_HOME) -> None:
    """The agreement document in force (or proposed), its approvals and state, as JSON."""
    with opened(home) as node:
        state = agreements.states(node.store).get(agreement_id)
        now = _latest_ts(node)
        members = members_in_force(node)
        if state is None or state.current is None:
            raise NotFound(f"no agreement {agreement_id} is held here", field="id")
    doc = state.current
    out.print_json(
        json.dumps(
            {
                "document": doc.to_dict(),
                "hash": doc.hash.hex(),
                "state": agreements.shown_state(state.status_at(now), doc, members),
                "approved_by": sorted(state.approvals.get((doc.version, bytes(doc.hash)), set())),
                "withdrawn_at": state.withdrawn_at,
            }
        )
    )


def _latest_ts(node: OpenNode) -> int:
    """Now, as the ledger knows it: the latest entry time held (never the wall clock)."""
    heads = [node.store.head(origin) for origin in node.store.origins()]
    return max((h.last_ts for h in heads if h is not None), default=0)
