"""The one exception hierarchy of MRA Ledger, split by whose fault it is.

    MraError
    ├── InvalidInput          the caller sent something malformed or not allowed (HTTP 422)
    │   ├── NotFound          the caller named something that does not exist (HTTP 404)
    │   └── Conflict          valid on its own, but clashes with the ledger's state (HTTP 409)
    ├── ContractRefused       an agreement's contract does not allow it (HTTP 403)
    ├── PeerMisbehaved        a peer sent something that fails verification (HTTP 400 to the peer)
    ├── PeerUnavailable       a peer could not be reached (HTTP 503)
    │   └── PeerThrottled     a peer asks this node to wait before asking again (HTTP 429)
    ├── IntegrityError        stored data fails verification: the log is damaged (HTTP 500)
    └── StorageFailed         the database or file system failed (HTTP 503)
        ├── StorageFull       no space left to write: nothing was written (HTTP 507)
        ├── WriteRaced        another writer appended to the log first: retry (HTTP 503)
        ├── OwnLogBehind      peers hold more of this node's log than it does (HTTP 503)
        └── OwnLogUnconfirmed no peer has shown its view of this node's log since it started,
                              and no operator accepted the risk (HTTP 503)

Foreign exceptions are translated at the boundary (``raise ... from exc``) so callers only ever
catch these.
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "ContractRefused",
    "IntegrityError",
    "InvalidInput",
    "MraError",
    "NotFound",
    "OwnLogBehind",
    "OwnLogUnconfirmed",
    "PeerMisbehaved",
    "PeerThrottled",
    "PeerUnavailable",
    "StorageFailed",
    "StorageFull",
    "WriteRaced",
]


class MraError(Exception):
    """Root of every error MRA Ledger raises on purpose."""


class InvalidInput(MraError):
    """Bad input; ``field`` names the offending field (dotted path) when one is to blame."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


class NotFound(InvalidInput):
    """The named record, entry or key does not exist (or is not visible to the caller)."""


class Conflict(InvalidInput):
    """The input is well-formed but not allowed in the ledger's current state."""


class ContractRefused(MraError):
    """An agreement's contract refuses the operation."""


class PeerMisbehaved(MraError):
    """A peer sent data that fails verification."""


class PeerUnavailable(MraError):
    """A peer could not be reached or did not answer in time."""


class PeerThrottled(PeerUnavailable):
    """A peer refused a request for now (its rate limit): ask again in ``retry_after``
    seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IntegrityError(MraError):
    """Stored data fails verification; names the first damaged entry and the kind of damage."""

    def __init__(
        self, damage: str, detail: str, *, origin: str | None = None, seq: int | None = None
    ) -> None:
        where = f"{origin}#{seq}: " if origin is not None and seq is not None else ""
        super().__init__(f"{where}{damage}: {detail}")
        self.damage = damage
        self.detail = detail
        self.origin = origin
        self.seq = seq

    def __reduce__(self) -> tuple[object, ...]:
        # Verification runs in worker processes: the error must cross a pickle intact.
        return (_integrity_error, (self.damage, self.detail, self.origin, self.seq))


def _integrity_error(
    damage: str, detail: str, origin: str | None, seq: int | None
) -> IntegrityError:
    return IntegrityError(damage, detail, origin=origin, seq=seq)


class StorageFailed(MraError):
    """The database or the file system failed underneath us."""


class StorageFull(StorageFailed):
    """No space was left to write (a full disk, or the process's file-size limit reached).

    The transaction was rolled back whole; writing works again once space returns."""


class OwnLogBehind(StorageFailed):
    """A peer holds more of this node's own log than this node does: entries it acknowledged
    were lost underneath it (a torn WAL, an old backup restored).

    Appends are refused, so that no seq is ever signed twice, until the log is whole again."""


class OwnLogUnconfirmed(StorageFailed):
    """Since this node started, no peer has shown its checkpoint of this node's own log, and no
    operator accepted the risk: its home may have been restored from an older copy, and an
    append could sign a seq that peers already hold.

    Appends are refused until a peer answers (then OwnLogBehind decides) or an operator runs
    ``mra ledger accept-restore``; retrying later is the remedy."""


class WriteRaced(StorageFailed):
    """Another writer on the same database (a CLI command beside the running node) appended to
    the log between this write's validation and its transaction.

    Nothing of this write was stored; the same request, retried, is checked against the new
    state."""
