"""``mra retention``: erase and purge what agreements no longer allow to keep."""

from __future__ import annotations

import typer

from node.app.cli.common import DEFAULT_HOME, AsOption, HomeOption, out
from node.app.cli.context import opened
from node.core.clock import system_clock
from node.ledger import erasure

__all__ = ["app"]

app = typer.Typer(
    help="Retention: erase and purge what agreements no longer allow to keep.",
    no_args_is_help=True,
)


@app.command("run")
def retention_run(acting: AsOption = None, home: HomeOption = DEFAULT_HOME) -> None:
    """Apply retention now: erase own records whose final status is older than the longest
    retention period agreed, and purge what was received under agreements that ended.
    A running node does this by itself every hour."""
    with opened(home, acting) as node:
        done = erasure.run_retention(node.ledger, node.store, system_clock())
        if done:
            node.audit("retention", "mra retention run")
    for entry in done:
        out.print(f"{entry.header.kind.value} at seq {entry.header.seq}")
    out.print(f"{len(done)} erasure or purge entries appended")
