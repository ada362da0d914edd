"""``mra apikey``: create, revoke and list the keys of the node's local API."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from node.app.cli.common import DEFAULT_HOME, HomeOption, out
from node.app.cli.context import opened
from node.core.clock import system_clock
from node.core.errors import NotFound
from node.ledger.trail import iso_time

__all__ = ["app"]

app = typer.Typer(help="API keys for the node's local API.", no_args_is_help=True)


@app.command("create")
def apikey_create(
    role: Annotated[str, typer.Option(help="viewer, auditor, publisher or admin.")],
    label: Annotated[str, typer.Option(help="Who or what uses it.")] = "",
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Create an API key; it is printed once and only its hash is stored."""
    # Looked up at call time, not bound at import: tests/conftest.py wraps create_key.
    from node.host.apikeys import create_key

    with opened(home) as node:
        key = create_key(node.store, role, label, system_clock())
    sys.stdout.write(key + "\n")


@app.command("revoke")
def apikey_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (the part after 'mra_').")],
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Revoke an API key: it and every web UI session opened with it stop working at once."""
    with opened(home) as node:
        if not node.store.revoke_api_key(key_id):
            raise NotFound(f"no active API key {key_id}", field="key_id")
    out.print(f"revoked {key_id}")


@app.command("list")
def apikey_list(home: HomeOption = DEFAULT_HOME) -> None:
    """List API keys (ids, roles, labels; never secrets)."""
    with opened(home) as node:
        keys = node.store.api_keys()
    table = Table("key id", "role", "label", "created", "state")
    for row in keys:
        state = "revoked" if row["revoked"] else "active"
        table.add_row(
            row["key_id"], row["role"], row["label"], str(iso_time(row["created_ts"])), state
        )
    out.print(table)
