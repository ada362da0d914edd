"""The two clocks of an AEO record (pure): which version answers for a legal date and a
ledger instant (issue 23, point 4).

A record has two times:

- **ledger time**: when each version was recorded (its entry's timestamp at the origin, ms
  since the epoch). "What did the ledger show at instant T" (the auditor's question) reads the
  versions recorded at or before T and takes the latest: the meaning ``as_of`` has always had.
- **legal time**: the dates the record states, its authorisation and its status's
  ``effective`` date, which may be back-dated. "What status was in force on date D" (the border
  system's question) reads the versions known and, for D, takes the latest recorded version
  whose status had taken effect on or before D.

Both together: in force on D as known at T reads only the versions recorded at or before T.

The rule, numbered as in ``answering``:

1. Known: the versions recorded at or before T (every version when no T is given).
2. Without D, the latest known version (highest seq) answers: ledger time alone.
3. With D, each known version states its status from a start date onward, replacing what
   earlier versions said from that date on: the start is its ``status.effective``, except for
   ``annulled`` (void from the start, DESIGN-BRIEF §1), which starts at the start of the
   authorisation as known (the earliest ``authorised`` or ``effective`` date shown by a known
   version). A version whose status or effective date is not shown states nothing.
4. The latest known version (highest seq) whose start is on or before D answers; none: the
   record was not in force on D as known (before its first status took effect).

Only the fields handed in are read: a partner's view that hides ``authorised`` is read
without it, so the answer can never depend on a field the partner may not see. Expiry is not
a status and is not applied: the answering version carries its ``expires`` for the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from node.core.status import StatusCode

__all__ = ["Version", "answering", "legal_start", "version_of"]

_CODES = {code.value: code for code in StatusCode}


@dataclass(frozen=True, slots=True, kw_only=True)
class Version:
    """One version of a record as the two clocks see it: its seq, when it was recorded
    (ledger time, ms), and the legal fields its document shows (None when not shown)."""

    seq: int
    recorded: int
    code: StatusCode | None = None
    effective: date | None = None
    authorised: date | None = None


def version_of(seq: int, recorded: int, document: Mapping[str, Any]) -> Version:
    """The clocks' reading of one version's document (an own record or a partner's view):
    only the fields it shows; a field missing or malformed reads as not shown."""
    status = document.get("status")
    code = effective = None
    if isinstance(status, Mapping):
        value = status.get("code")
        code = _CODES.get(value) if isinstance(value, str) else None
        effective = _date(status.get("effective"))
    return Version(
        seq=seq,
        recorded=recorded,
        code=code,
        effective=effective,
        authorised=_date(document.get("authorised")),
    )


def _date(value: object) -> date | None:
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def legal_start(version: Version, known: Sequence[Version]) -> date | None:
    """The date from which ``version`` states its status (step 3), or None if it states none."""
    if version.code is None or version.effective is None:
        return None
    if version.code is not StatusCode.ANNULLED:
        return version.effective
    shown = [d for v in known for d in (v.authorised, v.effective) if d is not None]
    return min([version.effective, *shown])


def answering(
    versions: Sequence[Version], *, in_force_on: date | None = None, as_of: int | None = None
) -> Version | None:
    """The version that answers for legal date ``in_force_on`` as known at ledger instant
    ``as_of`` (ms), either or both; None when none does (see the module docstring)."""
    # 1. Known at T.
    known = [v for v in versions if as_of is None or v.recorded <= as_of]
    # 2. Ledger time alone.
    if in_force_on is None:
        return max(known, key=lambda v: v.seq, default=None)
    # 3. Each version's start in legal time; 4. the latest started on or before D.
    started = [v for v in known if (s := legal_start(v, known)) is not None and s <= in_force_on]
    return max(started, key=lambda v: v.seq, default=None)
