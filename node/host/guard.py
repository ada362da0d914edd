"""What keeps a node from signing a second history: one process per home, and no append to its
own log after a start until a peer or the operator has vouched for the log it holds.

    <home>/node.lock              locked (flock) by the one node process serving the home; the
                                  lock dies with the process, so a kill -9 leaves nothing to
                                  clean. The file names the holder's pid and start, for the
                                  message that refuses a second one.
    <home>/restore-accepted.json  who accepted, and when, that this node appends to its log
                                  without a peer's confirmation (``mra ledger accept-restore``),
                                  for the log it held then (size and last entry hash)

Why: a home restored from an older copy holds a shorter log than its peers. Once a peer shows
its checkpoint of this node's log, ``NodeHome.log_behind`` knows (OwnLogBehind). Until one has
answered, nothing here can tell a restored home from an up-to-date one, so a node that has
peers refuses to append (OwnLogUnconfirmed) until the first answers, or until the operator
accepts the risk for the log as it is. A home without peers (a standalone ``mra init`` node) has
nobody to ask, and appends at once.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from node.core.clock import Clock, system_clock
from node.core.errors import Conflict, InvalidInput, OwnLogBehind, OwnLogUnconfirmed, StorageFailed
from node.host.home import NodeHome, write_atomic
from node.store.open import NodeStore

__all__ = ["Acceptance", "HomeLock", "StartGuard", "accept_restore", "acceptance_of"]

log = logging.getLogger("mra.guard")

ACCEPT_SECONDS = 3600  # an acceptance no process used within this lapses (see accept_restore)
# An acceptance dated this far after the reading clock still counts: the node's clock reads whole
# milliseconds, so an acceptance written a moment earlier may look microseconds "in the future".
SKEW_SECONDS = 5


class HomeLock:
    """The exclusive lock of a home's one node process (``take``; held until the process ends
    or ``release``)."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle

    @classmethod
    def take(cls, home: Path) -> HomeLock:
        """Lock ``home`` for this process.

        Raises Conflict (field ``home``) naming the holder when another process has it, and
        StorageFailed when the lock file cannot be opened."""
        path = home / "node.lock"
        try:
            handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the process
        except OSError as exc:
            raise StorageFailed(f"cannot open {path}: {exc}") from exc
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise Conflict(
                f"another node process serves {home} ({holder}); one home runs one node:"
                " stop that one first, or give this one its own home",
                field="home",
            ) from None
        started = datetime.now(UTC).isoformat(timespec="seconds")
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {started}\n")
        handle.flush()
        return cls(handle)

    def release(self) -> None:
        self._handle.close()  # closing the file drops the lock


@dataclass(frozen=True, slots=True, kw_only=True)
class Acceptance:
    """An operator's acceptance that the node appends to the log it held at ``size``, whose
    last entry hash is ``head`` (hex; empty for an empty log), without a peer's confirmation."""

    by: str
    at: datetime
    size: int
    head: str

    def describe(self) -> str:
        return f"{self.by} accepted the risk at {self.at.isoformat(timespec='seconds')}"


def _own_head(store: NodeStore, origin: str) -> tuple[int, str]:
    head = store.head(origin)
    return (head.size, head.last_hash.hex()) if head else (0, "")


def accept_restore(home: NodeHome, store: NodeStore, by: str, now: datetime) -> Acceptance:
    """Record in ``home`` that ``by`` accepts that the node appends to its log as the database
    holds it now, without waiting for a peer.

    The acceptance covers this log only: the next append changes the log's head, and with it
    ends the acceptance for any later start (a copy of the home taken now and restored after
    more appends holds the same acceptance; that is why one no process used lapses after
    ACCEPT_SECONDS). Raises OwnLogBehind when a peer has already shown more of the log than the
    database holds: that is a loss, not a risk, and accepting cannot make it right."""
    config = home.config()
    behind = home.log_behind(store, config.origin)
    if behind is not None:
        raise OwnLogBehind(behind)
    size, head = _own_head(store, config.origin)
    accepted = Acceptance(by=by, at=now, size=size, head=head)
    document = {"by": by, "at": now.isoformat(), "size": size, "head": head}
    try:
        write_atomic(home.path / "restore-accepted.json", json.dumps(document, indent=2) + "\n")
    except OSError as exc:
        raise StorageFailed(f"cannot write {home.path / 'restore-accepted.json'}: {exc}") from exc
    return accepted


def acceptance_of(home: NodeHome, store: NodeStore, now: datetime) -> Acceptance | None:
    """The operator's acceptance recorded in ``home``, if it covers the log the database holds
    now and has not lapsed; None otherwise. Raises InvalidInput for an unreadable file."""
    path = home.path / "restore-accepted.json"
    try:
        data = json.loads(path.read_text())
        accepted = Acceptance(
            by=str(data["by"]),
            at=datetime.fromisoformat(str(data["at"])),
            size=int(data["size"]),
            head=str(data["head"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"{path} is unreadable: {exc}", field="home") from exc
    if (accepted.size, accepted.head) != _own_head(store, home.config().origin):
        return None
    if not -SKEW_SECONDS <= (now - accepted.at).total_seconds() <= ACCEPT_SECONDS:
        return None
    return accepted


class StartGuard:
    """Whether this process may append to its node's own log (``hold``, the Ledger's hook).

    ``needs_peer``: the node has peers to ask. Until ``peer_answered`` or a valid acceptance,
    appends are refused; OwnLogBehind is checked before every append, always."""

    def __init__(
        self,
        home: NodeHome,
        store: NodeStore,
        *,
        needs_peer: bool,
        clock: Clock = system_clock,
    ) -> None:
        self._home = home
        self._store = store
        self._origin = home.config().origin
        self._clock = clock
        self.vouched: str | None = None if needs_peer else "no peers"

    def peer_answered(self, code: str) -> None:
        """``code`` answered with its view of this node's log (already noted in the home)."""
        if self.vouched is None:
            self.vouched = f"peer {code}"

    def confirmed(self) -> bool:
        """Whether a peer or the operator has vouched for the log (an acceptance found valid
        now is taken, and logged)."""
        if self.vouched is not None:
            return True
        now = datetime.fromtimestamp(self._clock() / 1000, UTC)
        accepted = acceptance_of(self._home, self._store, now)
        if accepted is None:
            return False
        self.vouched = f"operator ({accepted.describe()})"
        log.warning(
            "appends allowed without a peer's confirmation: %s, for the log of %d entries"
            " this node holds (restore-accepted.json)",
            accepted.describe(),
            accepted.size,
        )
        return True

    def hold(self) -> StorageFailed | None:
        """The error an append now would raise, or None when appending is safe."""
        behind = self._home.log_behind(self._store, self._origin)
        if behind is not None:
            return OwnLogBehind(behind)
        if self.confirmed():
            return None
        return OwnLogUnconfirmed(
            f"no peer has shown its checkpoint of {self._origin}'s log since this node started,"
            " so this node cannot tell whether its home was restored from an older copy;"
            " appends resume when a peer answers, or when an operator accepts the risk with"
            f" 'mra ledger accept-restore --home {self._home.path}'"
        )
