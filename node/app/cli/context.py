"""The one place the ``mra`` commands open a node: ``opened(home)``.

A command that works on a node's ledger does all of it inside ``with opened(home) as node:``:
the store is open for the block and closed after it, our errors are reported as one line and
an exit code (common.reported), and the ledger, which loads the signing key and asks the
peers whether this home may append (node.host.guard), is opened only by the commands that
append, when they first ask for it. Commands that create a home, or that only hand it on to
the network layer, take it from ``home_of``.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from node.app.cli.common import reported
from node.app.compose import open_for_command
from node.core.clock import system_clock
from node.core.errors import InvalidInput
from node.host.access_log import AccessLog
from node.host.home import NodeHome
from node.host.settings import database_url
from node.host.signer import SigningProcess
from node.ledger.writer import Ledger
from node.store.open import NodeStore

__all__ = ["MAX_AS", "OpenNode", "home_of", "members_in_force", "opened", "operator"]

MAX_AS = 64  # characters of the name given with --as


def operator(acting: str | None = None) -> str:
    """The access log's actor for a write made at this terminal: ``cli:<os user>@<host>``, or
    ``cli:<os user>@<host> as NAME`` when ``--as NAME`` is given, so that the account that
    ran the command is never hidden by the name it gives. Raises InvalidInput naming ``--as``
    unless NAME is 1 to MAX_AS printable characters (no line breaks or control characters)."""
    actor = f"cli:{getpass.getuser()}@{socket.gethostname()}"
    if acting is None:
        return actor
    name = acting.strip()
    if not name or len(name) > MAX_AS or not name.isprintable():
        raise InvalidInput(f"a name of 1 to {MAX_AS} printable characters", field="--as")
    return f"{actor} as {name}"


def home_of(home: Path) -> NodeHome:
    """The node home a command names (``--home``, else ``MRA_HOME``, else ``./.mra``)."""
    return NodeHome(path=home)


class OpenNode:
    """One node opened for one command: its home and store; its ledger once asked for."""

    __slots__ = ("_ledger", "_open_ledger", "actor", "home", "store")

    def __init__(
        self,
        home: NodeHome,
        store: NodeStore,
        open_ledger: Callable[[], Ledger],
        actor: str | None = None,
    ):
        self.home = home
        self.store = store
        self._open_ledger = open_ledger
        self._ledger: Ledger | None = None
        self.actor = actor or operator()

    @property
    def origin(self) -> str:
        """This node's origin code (node.json)."""
        return self.home.config().origin

    @property
    def ledger(self) -> Ledger:
        """The ledger, for a command that appends; opened on first use."""
        if self._ledger is None:
            self._ledger = self._open_ledger()
        return self._ledger

    def audit(self, action: str, channel: str, *aeo_ids: str, agreements: str = "") -> None:
        """Record in the access log that the operator at this terminal did ``action``, named
        as ``operator`` names it, as an API write names its key."""
        trail = AccessLog(self.store, system_clock)
        trail.record(self.actor, action, channel, *aeo_ids, agreements=agreements)
        trail.flush()


@contextmanager
def opened(home: Path, acting: str | None = None) -> Iterator[OpenNode]:
    """Open the node in ``home`` for one command, report our errors (common.reported) and
    close the store (and end the signing process an import started) when the block ends;
    ``acting`` is the name given with ``--as`` (checked before anything is opened). Raises
    typer.Exit with the error's code."""
    with reported():
        actor = operator(acting)
        node_home = home_of(home)
        signer = SigningProcess()  # started by the first large batch, not before
        store, open_ledger = open_for_command(
            node_home, database_url(), database_url(name="MRA_DATABASE_OWNER_URL"), signer
        )
        try:
            yield OpenNode(node_home, store, open_ledger, actor)
        finally:
            signer.close()
            store.close()


def members_in_force(node: OpenNode) -> frozenset[str] | None:
    """The codes of the membership in force at the node: installed, with the members' own
    updates (None: a node of no network)."""
    if not (node.home.path / "membership.json").exists():
        return None
    from network.member_updates import in_force

    return frozenset(m.code for m in in_force(node.home, node.store)[0].members)
