"""RFC 9162 (Certificate Transparency 2.0) Merkle trees: hashes, proofs and their verification.

Everything is expressed over *perfect subtrees*: the aligned subtree at ``(level, index)``
covers leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 holds leaf hashes. Every
range whose MTH appears in an RFC 9162 root or proof starts at a multiple of a power of two at
least as large as the range, so its hash is a right-to-left fold of at most log2(n) perfect
subtrees (``perfect_subtrees``). A store that keeps the perfect subtrees (``CompactRange`` emits
each one as it completes) can therefore answer any root or proof without reading the leaves.

The proof functions over ``entries`` (leaf data) and the ``*_at`` functions over a subtree source
share the span logic below, so each proof shape is defined once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from node.core.errors import InvalidInput

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "SubtreeHash",
    "consistency_proof",
    "consistency_proof_at",
    "consistency_spans",
    "inclusion_proof",
    "inclusion_proof_at",
    "inclusion_spans",
    "leaf_hash",
    "needed_subtrees",
    "node_hash",
    "perfect_subtrees",
    "root",
    "root_at",
    "span_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Span = tuple[int, int]
SubtreeHash = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1), RFC 9162 §2.1.1's k."""
    return 1 << ((n - 1).bit_length() - 1)


# -- spans: which ranges make up roots and proofs -----------------------------------------------


def perfect_subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """The aligned perfect subtrees, left to right, whose fold is MTH(D[start:end]).

    Raises InvalidInput for an empty range or one not aligned as RFC 9162 ranges are.
    """
    if not 0 <= start < end:
        raise InvalidInput(f"empty or negative range [{start}, {end})", field="range")
    nodes: list[tuple[int, int]] = []
    at = start
    while at < end:
        n = end - at
        size = n if n & (n - 1) == 0 else _split(n)
        if at % size:
            raise InvalidInput(f"range [{start}, {end}) is not an RFC 9162 subtree", field="range")
        level = size.bit_length() - 1
        nodes.append((level, at >> level))
        at += size
    return nodes


def inclusion_spans(index: int, size: int) -> list[Span]:
    """The ranges whose MTH form the inclusion proof of leaf ``index`` (RFC 9162 §2.1.3.1)."""
    if not 0 <= index < size:
        raise InvalidInput(f"index {index} outside a tree of size {size}", field="index")
    spans: list[Span] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index - lo < k:
            spans.append((lo + k, hi))
            hi = lo + k
        else:
            spans.append((lo, lo + k))
            lo += k
    # PATH lists the deepest sibling first.
    return spans[::-1]


def consistency_spans(old_size: int, new_size: int) -> list[Span]:
    """The ranges whose MTH form the consistency proof (RFC 9162 §2.1.4.1 SUBPROOF)."""
    if not 0 < old_size <= new_size:
        raise InvalidInput(
            f"consistency needs 0 < old size <= new size, got {old_size}, {new_size}",
            field="old_size",
        )
    spans: list[Span] = []
    lo, hi, whole = 0, new_size, True
    while hi != old_size:
        k = _split(hi - lo)
        if old_size - lo <= k:
            spans.append((lo + k, hi))
            hi = lo + k
        else:
            spans.append((lo, lo + k))
            lo += k
            whole = False
    if not whole:
        spans.append((lo, hi))
    return spans[::-1]


def needed_subtrees(spans: Iterable[Span]) -> set[tuple[int, int]]:
    """Every perfect subtree a proof over ``spans`` reads.

    Proof spans are siblings along one root-to-leaf path: the left ones are perfect subtrees
    themselves and the right ones are suffixes of the tree's right edge, which all decompose into
    the same O(log n) peaks, so the set stays O(log n) and can be fetched in one pass.
    """
    return {node for start, end in spans for node in perfect_subtrees(start, end)}


def span_hash(start: int, end: int, subtree: SubtreeHash) -> bytes:
    """MTH(D[start:end]) folded right to left from the perfect subtrees."""
    nodes = perfect_subtrees(start, end)
    acc = subtree(*nodes[-1])
    for level, index in reversed(nodes[:-1]):
        acc = node_hash(subtree(level, index), acc)
    return acc


def root_at(size: int, subtree: SubtreeHash) -> bytes:
    """The root of the first ``size`` leaves."""
    return EMPTY_ROOT if size == 0 else span_hash(0, size, subtree)


def inclusion_proof_at(index: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    return [span_hash(a, b, subtree) for a, b in inclusion_spans(index, size)]


def consistency_proof_at(old_size: int, new_size: int, subtree: SubtreeHash) -> list[bytes]:
    return [span_hash(a, b, subtree) for a, b in consistency_spans(old_size, new_size)]


# -- over leaf data -----------------------------------------------------------------------------


def _source(entries: Sequence[bytes]) -> SubtreeHash:
    nodes: dict[tuple[int, int], bytes] = {}
    tree = CompactRange()
    for data in entries:
        for level, index, hash_ in tree.append(leaf_hash(data)):
            nodes[(level, index)] = hash_
    return lambda level, index: nodes[(level, index)]


def root(entries: Sequence[bytes]) -> bytes:
    """MTH of the leaf data ``entries`` (RFC 9162 §2.1.1)."""
    return root_at(len(entries), _source(entries))


def inclusion_proof(entries: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, entries); raises InvalidInput for an index outside the tree."""
    return inclusion_proof_at(index, len(entries), _source(entries))


def consistency_proof(entries: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(old_size, entries); raises InvalidInput unless 0 < old_size <= len(entries)."""
    return consistency_proof_at(old_size, len(entries), _source(entries))


# -- verification (never raises) ---------------------------------------------------------------


def _hashes_ok(*hashes: object) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` place ``leaf_hash`` at ``index`` under ``root``?"""
    try:
        if not (0 <= index < size) or not _hashes_ok(leaf_hash, root, *proof):
            return False
        if len(proof) != len(inclusion_spans(index, size)):
            return False
        fn, sn, r = index, size - 1, leaf_hash
        for p in proof:
            if sn == 0:
                return False
            if fn & 1 or fn == sn:
                r = node_hash(p, r)
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
            else:
                r = node_hash(r, p)
            fn >>= 1
            sn >>= 1
        return sn == 0 and r == root
    except (TypeError, ValueError, InvalidInput):
        return False


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> bool:
    """RFC 9162 §2.1.4.2: is the tree of ``old_root`` a prefix of the one of ``new_root``?

    A proof from size 0 is refused (there is nothing to be consistent with).
    """
    try:
        if not (0 < old_size <= new_size) or not _hashes_ok(old_root, new_root, *proof):
            return False
        if old_size == new_size:
            return not proof and old_root == new_root
        if len(proof) != len(consistency_spans(old_size, new_size)):
            return False
        path = list(proof)
        if old_size & (old_size - 1) == 0:
            path.insert(0, old_root)
        fn, sn = old_size - 1, new_size - 1
        while fn & 1:
            fn >>= 1
            sn >>= 1
        fr = sr = path[0]
        for c in path[1:]:
            if sn == 0:
                return False
            if fn & 1 or fn == sn:
                fr = node_hash(c, fr)
                sr = node_hash(c, sr)
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
            else:
                sr = node_hash(sr, c)
            fn >>= 1
            sn >>= 1
        return sn == 0 and fr == old_root and sr == new_root
    except (TypeError, ValueError, InvalidInput):
        return False


# -- appending ---------------------------------------------------------------------------------


class CompactRange:
    """The right frontier (one peak per set bit of the size) of a growing tree.

    ``append`` returns every perfect subtree the new leaf completes, leaf first, so a store can
    persist them; ``root`` folds the peaks.
    """

    __slots__ = ("_peaks", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._peaks: list[tuple[int, bytes]] = []

    @classmethod
    def from_peaks(cls, size: int, hashes: Sequence[bytes]) -> CompactRange:
        """Resume at ``size`` from the hashes of ``perfect_subtrees(0, size)``."""
        levels = [level for level, _ in perfect_subtrees(0, size)] if size else []
        if len(levels) != len(hashes) or not _hashes_ok(*hashes):
            raise InvalidInput(f"a tree of size {size} has {len(levels)} peaks", field="peaks")
        tree = cls()
        tree._size = size
        tree._peaks = list(zip(levels, hashes, strict=True))
        return tree

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; returns the completed ``(level, index, hash)`` subtrees."""
        position = self._size
        completed = [(0, position, leaf)]
        level, acc = 0, leaf
        while self._peaks and self._peaks[-1][0] == level:
            _, left = self._peaks.pop()
            acc = node_hash(left, acc)
            level += 1
            completed.append((level, position >> level, acc))
        self._peaks.append((level, acc))
        self._size += 1
        return completed

    def root(self) -> bytes:
        if not self._peaks:
            return EMPTY_ROOT
        acc = self._peaks[-1][1]
        for _, peak in reversed(self._peaks[:-1]):
            acc = node_hash(peak, acc)
        return acc
