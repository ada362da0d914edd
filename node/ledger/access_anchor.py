"""The access log's head, anchored in the node's own signed log.

The access log is a hash chain whose formula is public, so on its own it only shows that rows
fit together: whoever can write the database could cut its last rows, or rewrite one and
re-derive every hash after it. An ``access.anchor`` entry on the own log carries the access
log's size and the hash of its last row. It is signed, chained and witnessed by every peer (its
header replicates; its payload stays here), so a cut or rewritten row anywhere before the last
anchor no longer matches it. The node writes an anchor at most every ``ANCHOR_SECONDS`` while
rows arrive, and at shutdown: rows after the last anchor are the window verification cannot
vouch for.
"""

from __future__ import annotations

from typing import Protocol

from node.core.documents import AccessAnchor
from node.core.entries import EntryHeader, EntryKind, SignedEntry, payload_matches
from node.core.errors import IntegrityError, InvalidInput
from node.ledger.writer import Ledger
from node.store.protocols import AccessTrail, Log, LogHistory

__all__ = ["ANCHOR_SECONDS", "AccessAnchors", "AnchorStore", "check_anchors"]

ANCHOR_SECONDS = 60.0


class AnchorStore(Log, LogHistory, AccessTrail, Protocol):
    """The parts of a store anchoring the access log reads: the own log and the access log."""


def _anchors(store: AnchorStore, own: str) -> list[tuple[int, AccessAnchor | None]]:
    """Each anchor entry of the own log: (seq, its document, or None when its payload is not
    held or does not open its commitment: the pass over the log names that)."""
    found: list[tuple[int, AccessAnchor | None]] = []
    for seq in store.entry_seqs_of_kind(own, EntryKind.ACCESS_ANCHOR.value):
        stored = next(store.entries(own, seq, seq + 1), None)
        if stored is None:
            continue
        try:
            header = EntryHeader.from_bytes(stored.body)
        except InvalidInput:
            continue
        if header.kind is not EntryKind.ACCESS_ANCHOR:
            continue
        anchor = None
        if (
            stored.salt is not None
            and stored.payload is not None
            and payload_matches(header, stored.salt, stored.payload)
        ):
            try:
                anchor = AccessAnchor.from_bytes(stored.payload)
            except InvalidInput:
                anchor = None
        found.append((seq, anchor))
    return found


def check_anchors(store: AnchorStore, own: str) -> int:
    """Check every anchor of the access log in the own log; returns how many rows the last
    one covers. Raises IntegrityError ``access-anchor`` at the first that the access log no
    longer matches (run after the chain itself is re-derived: a matching last-row hash then
    vouches for every row before it)."""
    covered = 0
    for seq, anchor in _anchors(store, own):
        if anchor is None:
            continue
        held = store.access_hash(anchor.rows - 1)
        if held != anchor.head:
            what = "is gone" if held is None else "is not the row anchored"
            raise IntegrityError(
                "access-anchor",
                f"access row {anchor.rows - 1} {what} (the log was cut or rewritten)",
                origin=own,
                seq=seq,
            )
        covered = max(covered, anchor.rows)
    return covered


class AccessAnchors:
    """Writes anchors of the access log on ``ledger`` when it grew since the last one."""

    def __init__(self, ledger: Ledger, store: AnchorStore) -> None:
        self._ledger = ledger
        self._store = store
        anchors = [a for _, a in _anchors(store, ledger.origin) if a is not None]
        self._anchored = max((a.rows for a in anchors), default=0)

    def anchor(self) -> SignedEntry | None:
        """Append an anchor of the access log as it is held now, unless nothing was added
        since the last one."""
        rows = self._store.access_size()
        head = self._store.access_hash(rows - 1) if rows else None
        if head is None or rows <= self._anchored:
            return None
        document = AccessAnchor(rows=rows, head=head)
        (entry,) = self._ledger.append_documents([(EntryKind.ACCESS_ANCHOR, document.to_dict())])
        self._anchored = rows
        return entry
