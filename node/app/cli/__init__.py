"""The ``mra`` command line: node identity, AEO publication, ledger verification.

One module per sub-app (``mra aeo`` in aeo.py, ``mra ledger`` in ledger.py, ...). Every command
works on one node home (``--home``, or ``MRA_HOME``, default ``./.mra``), opened in one place
(context.opened). Errors print one line naming the field (or file line) at fault and exit 2 for
bad input, 1 for damage found by verification, 3 for storage failures (common.reported).
"""

from __future__ import annotations

import typer

from node.app.cli import (
    aeo,
    agreements,
    apikeys,
    audit,
    backup,
    devnet,
    evidence,
    keys,
    ledger,
    network,
    node,
    retention,
)

__all__ = ["app"]

app = typer.Typer(
    help="MRA Ledger: AEO data exchange under Mutual Recognition Arrangements.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(node.init)
# In this order in ``mra --help``.
app.add_typer(aeo.app, name="aeo")
app.add_typer(ledger.app, name="ledger")
app.add_typer(agreements.app, name="agreement")
app.add_typer(apikeys.app, name="apikey")
app.add_typer(keys.app, name="key")
app.add_typer(node.app, name="node")
app.add_typer(network.app, name="network")
app.add_typer(evidence.app, name="evidence")
app.add_typer(audit.app, name="audit")
app.add_typer(retention.app, name="retention")
app.add_typer(devnet.app, name="devnet")
app.command("backup")(backup.backup)
app.command("restore")(backup.restore)
