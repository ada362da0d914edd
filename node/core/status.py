"""The AEO status state machine, as one explicit table (DESIGN-BRIEF §1, invariant 2).

    valid      -> suspended | revoked | annulled
    suspended  -> valid | revoked | annulled
    revoked    (final)
    annulled   (final)

``suspended`` is temporary, while an annulment or revocation is examined; ``revoked`` (ended
from a date onward) and ``annulled`` (void from the start) are final: a new authorisation gets a
new AEO id. Staying in a non-final status is not a transition but an update of other fields
(a new address, a corrected reason), and is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from node.core.errors import Conflict

__all__ = ["FINAL", "TRANSITIONS", "StatusCode", "check_transition"]


class StatusCode(StrEnum):
    """The status of an AEO's membership, as exchanged under MRAs."""

    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    ANNULLED = "annulled"


TRANSITIONS: Mapping[StatusCode, frozenset[StatusCode]] = MappingProxyType(
    {
        StatusCode.VALID: frozenset(
            {StatusCode.SUSPENDED, StatusCode.REVOKED, StatusCode.ANNULLED}
        ),
        StatusCode.SUSPENDED: frozenset(
            {StatusCode.VALID, StatusCode.REVOKED, StatusCode.ANNULLED}
        ),
        StatusCode.REVOKED: frozenset(),
        StatusCode.ANNULLED: frozenset(),
    }
)
"""For each status, the statuses it may change to."""

FINAL: frozenset[StatusCode] = frozenset(code for code, nxt in TRANSITIONS.items() if not nxt)
"""Statuses with no way out."""


def check_transition(old: StatusCode | None, new: StatusCode) -> None:
    """Allow a record in status ``old`` to take status ``new``.

    ``old`` is None for a record the ledger has never seen: any status is allowed, so that an
    existing national registry (with its suspended and revoked AEOs) can be imported. Staying in
    a non-final status is allowed. Raises Conflict (field ``status.code``) otherwise.
    """
    if old is None or new in TRANSITIONS[old] or (old == new and old not in FINAL):
        return
    if old in FINAL:
        raise Conflict(
            f"status {old} is final; a new authorisation needs a new AEO id", field="status.code"
        )
    raise Conflict(f"status cannot change from {old} to {new}", field="status.code")
