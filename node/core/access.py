"""The access log's rows and their hash chain: one ``Access`` per read, delivery or write, each
row's hash covering the previous row's hash and its own fields (canonically encoded). Pure:
``node.host.access_log`` records and writes the rows, the store keeps them, verification
re-derives the chain with ``check_access_chain``.

A delivery row also names what was delivered: the entry (``entry_origin``, ``entry_seq``), the
SHA-256 of the view's bytes (``view_hash``, as the partner holds them), and ``repeat_of``, the
row that first delivered the same view to the same partner (a push and a later pull of one
version). These fields came after the first rows were written: a row's hash covers each of them
only when it is set, so every row written before keeps its hash, under the same tag.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

from node.core.canonical import canonical_json
from node.core.crypto import Hash32, tagged_hash
from node.core.errors import IntegrityError

__all__ = [
    "ACCESS_FIELDS",
    "ACCESS_GENESIS",
    "ACCESS_TAG",
    "Access",
    "access_hash",
    "check_access_chain",
    "view_hash",
]

ACCESS_TAG = "mra-ledger/access/v1"
ACCESS_GENESIS = Hash32(bytes(32))


@dataclass(frozen=True, slots=True, kw_only=True)
class Access:
    """One access: ``actor`` is ``key:<API key id>``, ``peer:<member code>`` or, for the CLI,
    ``cli:<os user>@<host>[ as NAME]``; ``action`` is query, deliver, publish, status,
    agreement, audit...; ``channel`` the endpoint. A delivery names its entry, its view's
    hash and, when it repeats an earlier row, that row's seq."""

    ts: int
    actor: str
    action: str
    channel: str
    aeo_id: str = ""
    agreements: str = ""
    entry_origin: str = ""
    entry_seq: int | None = None
    view_hash: str = ""
    repeat_of: int | None = None

    def to_dict(self) -> dict[str, Any]:
        # asdict's deep copy of each value is some 20 µs a row, and the values are all
        # immutable: a flush of a 10,000-id batch's rows spent most of its time there.
        return {name: getattr(self, name) for name in ACCESS_FIELDS}

    def hashed(self) -> dict[str, Any]:
        """The fields a row's hash covers: the first six always, a later one when it is set
        (so rows written before it existed keep their hashes)."""
        doc = self.to_dict()
        for name in _LATER_FIELDS:
            if doc[name] in ("", None):
                del doc[name]
        return doc


ACCESS_FIELDS = tuple(f.name for f in fields(Access))
_LATER_FIELDS = ("entry_origin", "entry_seq", "view_hash", "repeat_of")


def view_hash(view: bytes) -> str:
    """The SHA-256 of a view's bytes, hex: anyone holding the view can recompute it."""
    return hashlib.sha256(view).hexdigest()


def access_hash(prev: bytes, seq: int, access: Access) -> Hash32:
    """The chain hash of row ``seq``: over the previous row's hash and this row's fields."""
    return tagged_hash(ACCESS_TAG, prev, canonical_json({"seq": seq, **access.hashed()}))


def check_access_chain(rows: Iterable[tuple[int, Access, bytes]]) -> tuple[int, Hash32]:
    """Re-derive the chain over (seq, access, stored hash) in seq order: (rows, last hash).

    Raises IntegrityError naming the first row that is missing, altered or out of place.
    """
    prev, expected = ACCESS_GENESIS, 0
    for seq, access, stored in rows:
        if seq != expected:
            raise IntegrityError(
                "access-gap", f"row {expected} is missing", origin="access", seq=seq
            )
        derived = access_hash(prev, seq, access)
        if derived != stored:
            raise IntegrityError(
                "access-mismatch",
                "the row does not hash to its chain value (altered, or a row before it was)",
                origin="access",
                seq=seq,
            )
        prev, expected = derived, seq + 1
    return expected, prev
