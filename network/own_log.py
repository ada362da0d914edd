"""Whether this node may append to its own log after a start: what its peers have shown of it.

A node restored from an older copy of its home must not sign again a seq that peers already
hold. So a starting node asks its peers for their checkpoints of its log (``network.gossip``
asks); ``OwnLog`` keeps what they showed (signed by this node, so no peer can stop its appends
with a size it merely claims) and tells the guard (``node.host.guard``) that a peer answered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress

from node.core.checkpoint import Checkpoint, SignedNote, open_checkpoint
from node.core.crypto import PublicKey
from node.core.entries import MAX_SEQ
from node.core.errors import MraError
from node.core.logs import log_name
from node.host.guard import StartGuard
from node.host.home import NodeHome

__all__ = ["OwnLog"]

log = logging.getLogger("mra.network")


class OwnLog:
    """What peers showed of the log of node ``me`` (whose home is ``home``): ``log_seen`` is the
    largest checkpoint of it a peer showed before (``NodeHome.log_seen``); ``key_at`` gives this
    node's key in force at a seq; ``guard`` is the hook appends ask."""

    def __init__(
        self,
        *,
        home: NodeHome,
        me: str,
        guard: StartGuard,
        log_seen: int,
        key_at: Callable[[str, int], PublicKey],
    ) -> None:
        self.home = home
        self.me = me
        self.guard = guard
        self._log_seen = log_seen
        self._key_at = key_at
        self._vouched = asyncio.Event()

    def behind(self) -> str | None:
        """Why appending now could sign again a seq that a peer already holds, or None (the
        node's ledger asks ``guard`` the same before every append)."""
        refused = self.guard.hold()
        return None if refused is None else str(refused)

    def note_checkpoint(self, code: str, note: bytes) -> None:
        """Remember the size of a checkpoint of this node's log that ``code`` showed, if this
        node signed it (a size a peer merely claims could stop this node's appends)."""
        try:
            size = Checkpoint.parse(SignedNote.parse(note).text).size
            if size <= self._log_seen or size > MAX_SEQ + 1:
                return
            open_checkpoint(note, log_name(self.me), self._key_at(self.me, size - 1))
            self.home.note_log_seen(code, size)
        except MraError:
            return
        self._log_seen = size
        reason = self.behind()
        if reason is not None:
            log.error("appends refused: %s", reason)

    def take_view(self, code: str, origins: object) -> None:
        """Note ``code``'s checkpoint of this node's log from its frontier's ``origins``; then
        appends may proceed (unless that showed a loss): a peer answered, and holding none of
        this node's log is an answer too."""
        if not isinstance(origins, dict):
            return
        own = origins.get(self.me)
        if isinstance(own, dict):
            self.note_checkpoint(code, str(own.get("checkpoint", "")).encode())
        self.guard.peer_answered(code)
        self._vouched.set()

    def vouched(self) -> None:
        """A peer or the operator vouched for the log: writes waiting in ``settled`` go on."""
        self._vouched.set()

    async def settled(self, timeout: float) -> None:
        """Return once appends no longer wait for a peer's first answer, or after ``timeout``
        seconds: a write that arrives while a started node waits for its peers waits with it,
        rather than being refused at once."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not self.guard.confirmed() and (left := end - loop.time()) > 0:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._vouched.wait(), min(left, 0.25))
