"""A log's Merkle tree read from the store's perfect-subtree hashes: roots and proofs for any
size without loading the leaves; each answer reads O(log n) stored nodes in one pass.

Only subtrees of ``STORED_FROM_LEVEL`` and above are stored (one row per 2**4 entries at level
4, half that above, instead of about two rows per entry): a lower one is recomputed from the
at most 2**4 entries under it, as tile-based logs do, so the answers are the same RFC 9162
hashes. Files written before this keep their lower rows; they are checked (``node.ledger.fsck``)
but no longer read.
"""

from __future__ import annotations

from collections.abc import Iterable

from node.core import merkle
from node.core.entries import SignedEntry
from node.core.errors import IntegrityError
from node.store.protocols import Subtrees, TreeNode

__all__ = ["STORED_FROM_LEVEL", "StoredTree", "grow"]

STORED_FROM_LEVEL = 4


def grow(tree: merkle.CompactRange, entries: Iterable[SignedEntry]) -> list[TreeNode]:
    """Append entries' leaves to ``tree``; the perfect subtrees they complete that are stored
    (those of ``STORED_FROM_LEVEL`` and above)."""
    return [
        TreeNode(level=level, index=index, hash=hash_)
        for entry in entries
        for level, index, hash_ in tree.append(merkle.leaf_hash(entry.leaf))
        if level >= STORED_FROM_LEVEL
    ]


class StoredTree:
    """Roots and RFC 9162 proofs of ``origin``'s log as held in ``store``."""

    def __init__(self, store: Subtrees, origin: str) -> None:
        self._store = store
        self._origin = origin

    def compact_range(self, size: int) -> merkle.CompactRange:
        """The tree's right frontier at ``size``, to append from (reads its O(log n) peaks)."""
        if size == 0:
            return merkle.CompactRange()
        peaks = merkle.perfect_subtrees(0, size)
        source = self._source(peaks)
        return merkle.CompactRange.from_peaks(size, [source(*peak) for peak in peaks])

    def root(self, size: int) -> bytes:
        if size == 0:
            return merkle.EMPTY_ROOT
        return merkle.root_at(size, self._source(merkle.perfect_subtrees(0, size)))

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        spans = merkle.inclusion_spans(index, size)
        return merkle.inclusion_proof_at(index, size, self._source_for(spans))

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        spans = merkle.consistency_spans(old_size, new_size)
        return merkle.consistency_proof_at(old_size, new_size, self._source_for(spans))

    def _source_for(self, spans: list[tuple[int, int]]) -> merkle.SubtreeHash:
        return self._source(merkle.needed_subtrees(spans))

    def _source(self, wanted: Iterable[tuple[int, int]]) -> merkle.SubtreeHash:
        wanted = list(wanted)
        high = [node for node in wanted if node[0] >= STORED_FROM_LEVEL]
        nodes = dict(self._store.tree_nodes(self._origin, high))
        nodes.update(self._recomputed([node for node in wanted if node[0] < STORED_FROM_LEVEL]))

        def subtree(level: int, index: int) -> bytes:
            try:
                return nodes[(level, index)]
            except KeyError:
                raise IntegrityError(
                    "tree-node-missing",
                    f"node {level}/{index} is not stored",
                    origin=self._origin,
                    seq=((index + 1) << level) - 1,
                ) from None

        return subtree

    def _recomputed(self, low: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The subtrees ``low`` (below ``STORED_FROM_LEVEL``) from their entries: one read per
        aligned tile of 2**STORED_FROM_LEVEL entries, up to the last leaf needed in it."""
        ends: dict[int, int] = {}  # tile -> one past the last leaf needed in it
        for level, index in low:
            end = (index + 1) << level
            tile = (end - 1) >> STORED_FROM_LEVEL
            ends[tile] = max(ends.get(tile, 0), end)
        found: dict[tuple[int, int], bytes] = {}
        for tile, end in ends.items():
            start = tile << STORED_FROM_LEVEL
            tree = merkle.CompactRange()
            for seq, entry in enumerate(self._store.entries(self._origin, start, end), start):
                if entry.seq != seq:
                    break  # a gap: the nodes over it stay missing
                for level, index, hash_ in tree.append(
                    merkle.leaf_hash(entry.body + entry.signature)
                ):
                    found[(level, index + (start >> level))] = hash_
        return found
