"""The key revocations an origin's held log makes (issue 24, point 5): each compromise rotation
held (``node.core.rotation``) revokes the key that signed it from its ``revoked_from`` on.

Replication (``node.ledger.replica``) and fsck (``node.ledger.fsck``) walk the log under them;
rotations are few, so they are read again for each walk rather than kept in a table.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Protocol

from node.core.entries import EntryHeader
from node.core.errors import IntegrityError, InvalidInput
from node.core.rotation import open_rotation
from node.core.walk import Revocation
from node.store.protocols import Log, LogHistory

__all__ = ["KeyStore", "held_revocations"]


class KeyStore(Log, LogHistory, Protocol):
    """The parts of a store that tell an origin's keys and the rotations that made them."""


def held_revocations(store: KeyStore, origin: str) -> list[Revocation]:
    """The revocations of ``origin``'s compromise rotations held here, oldest first. A
    rotation whose payload is not held or does not open is left to the walk to name."""
    keys = store.keys(origin)
    found: list[Revocation] = []
    for (_, old), (since, _) in pairwise(keys):
        entry = store.entry(origin, since - 1)
        if entry is None or entry.salt is None or entry.payload is None:
            continue
        try:
            header = EntryHeader.from_bytes(entry.body)
            revocation = open_rotation(header, entry.salt, entry.payload).revocation(old)
        except (InvalidInput, IntegrityError):
            continue
        if revocation is not None:
            found.append(revocation)
    return found
