"""The AEO status state machine, as a table (DESIGN-BRIEF §1).

``suspended`` is temporary (while annulment or revocation is examined); ``revoked`` (ended from a
date onward) and ``annulled`` (void from the start) are final: a new authorisation gets a new id.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from node.errors import Conflict

__all__ = ["FINAL", "TRANSITIONS", "StatusCode", "check_transition"]


class StatusCode(StrEnum):
    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    ANNULLED = "annulled"


TRANSITIONS: Mapping[StatusCode, frozenset[StatusCode]] = {
    StatusCode.VALID: frozenset({StatusCode.SUSPENDED, StatusCode.REVOKED, StatusCode.ANNULLED}),
    StatusCode.SUSPENDED: frozenset({StatusCode.VALID, StatusCode.REVOKED, StatusCode.ANNULLED}),
    StatusCode.REVOKED: frozenset(),
    StatusCode.ANNULLED: frozenset(),
}
FINAL = frozenset(code for code, targets in TRANSITIONS.items() if not targets)


def check_transition(old: StatusCode | None, new: StatusCode) -> None:
    """Allow ``old`` -> ``new`` (``old`` None: a new record, any status, e.g. a registry import).

    Staying in a non-final status is allowed (other fields may change). Raises Conflict.
    """
    if old is None or (old == new and old not in FINAL) or new in TRANSITIONS[old]:
        return
    if old in FINAL:
        raise Conflict(
            f"status {old} is final; a new authorisation needs a new AEO id", field="status.code"
        )
    raise Conflict(f"status cannot move from {old} to {new}", field="status.code")
