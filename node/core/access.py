"""The access log's rows and their hash chain: one ``Access`` per read, delivery or write, each
row's hash covering the previous row's hash and its own fields (canonically encoded). Pure:
``node.host.access_log`` records and writes the rows, the store keeps them, verification
re-derives the chain with ``check_access_chain``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
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
]

ACCESS_TAG = "mra-ledger/access/v1"
ACCESS_GENESIS = Hash32(bytes(32))


@dataclass(frozen=True, slots=True, kw_only=True)
class Access:
    """One access: ``actor`` is ``key:<API key id>``, ``peer:<member code>`` or, for the CLI,
    ``cli:<os user>@<host>[ as NAME]``; ``action`` is
    query, deliver, publish, status, agreement, audit...; ``channel`` the endpoint."""

    ts: int
    actor: str
    action: str
    channel: str
    aeo_id: str = ""
    agreements: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ACCESS_FIELDS = tuple(f.name for f in fields(Access))


def access_hash(prev: bytes, seq: int, access: Access) -> Hash32:
    """The chain hash of row ``seq``: over the previous row's hash and this row's fields."""
    return tagged_hash(ACCESS_TAG, prev, canonical_json({"seq": seq, **access.to_dict()}))


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
