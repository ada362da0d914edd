"""RFC 9162 Merkle tree: known vectors, a naive reference written from the RFC, and properties."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.core import merkle
from node.core.errors import InvalidInput


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# Reference definitions, straight from RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1.
def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return sha(b"")
    if n == 1:
        return sha(b"\x00" + d[0])
    k = 1 << ((n - 1).bit_length() - 1)
    return sha(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], whole: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if whole else [ref_mth(d)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*ref_subproof(m, d[:k], whole), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


# The classic RFC 6962 test tree (certificate-transparency test data).
LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_known_roots_of_the_rfc6962_test_tree() -> None:
    for size in range(1, 9):
        assert merkle.root(LEAVES[:size]).hex() == ROOTS[size - 1]
    assert merkle.root([]) == sha(b"")


def test_known_inclusion_proof() -> None:
    proof = merkle.inclusion_proof(LEAVES, 0)
    assert [p.hex() for p in proof] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]


def test_known_consistency_proof() -> None:
    proof = merkle.consistency_proof(LEAVES, 4)
    assert [p.hex() for p in proof] == [
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]
    assert [p.hex() for p in merkle.consistency_proof(LEAVES, 6)] == [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]


def leaves(n: int) -> list[bytes]:
    return [i.to_bytes(4, "big") for i in range(n)]


@pytest.mark.parametrize("size", [*range(1, 70), 127, 128, 129, 255, 256, 257, 1000, 1025])
def test_roots_and_proofs_equal_the_reference(size: int) -> None:
    data = leaves(size)
    assert merkle.root(data) == ref_mth(data)
    tree_root = ref_mth(data)
    for index in range(0, size, max(1, size // 17)):
        proof = merkle.inclusion_proof(data, index)
        assert proof == ref_path(index, data)
        assert merkle.verify_inclusion(merkle.leaf_hash(data[index]), index, size, proof, tree_root)
    for old in range(1, size + 1, max(1, size // 17)):
        proof = merkle.consistency_proof(data, old)
        assert proof == ref_subproof(old, data, True)
        assert merkle.verify_consistency(old, size, proof, ref_mth(data[:old]), tree_root)


def test_compact_range_and_stored_subtrees_match() -> None:
    tree = merkle.CompactRange()
    nodes: dict[tuple[int, int], bytes] = {}
    data = leaves(300)
    for n, item in enumerate(data, start=1):
        for level, index, hash_ in tree.append(merkle.leaf_hash(item)):
            nodes[(level, index)] = hash_
        assert tree.root() == ref_mth(data[:n])

        def source(level: int, index: int) -> bytes:
            return nodes[(level, index)]

        assert merkle.root_at(n, source) == tree.root()
        peaks = merkle.perfect_subtrees(0, n)
        resumed = merkle.CompactRange.from_peaks(n, [nodes[p] for p in peaks])
        assert resumed.root() == tree.root()
        assert len(merkle.needed_subtrees(merkle.inclusion_spans(n - 1, n))) <= 2 * n.bit_length()


def mutations(proof: list[bytes]) -> list[list[bytes]]:
    out: list[list[bytes]] = [[*proof, proof[0] if proof else b"\x00" * 32]]
    for i, p in enumerate(proof):
        flipped = bytes([p[0] ^ 1]) + p[1:]
        out.append([*proof[:i], flipped, *proof[i + 1 :]])
        out.append(proof[:i] + proof[i + 1 :])
        out.append([*proof[:i], p[:31], *proof[i + 1 :]])
    return out


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_mutated_inclusion_proofs_are_refused(case: tuple[int, int]) -> None:
    size, index = case
    data = leaves(size)
    root, leaf = merkle.root(data), merkle.leaf_hash(data[index])
    proof = merkle.inclusion_proof(data, index)
    assert merkle.verify_inclusion(leaf, index, size, proof, root)
    for bad in mutations(proof):
        assert not merkle.verify_inclusion(leaf, index, size, bad, root)
    # A wrong size is only detectable when it changes the proof's shape (RFC 9162 §2.1.3.2).
    if len(merkle.inclusion_spans(index, size + 1)) != len(proof):
        assert not merkle.verify_inclusion(leaf, index, size + 1, proof, root)
    if size > 1:
        assert not merkle.verify_inclusion(leaf, (index + 1) % size, size, proof, root)
    assert not merkle.verify_inclusion(leaf, index, size, proof, sha(root))
    assert not merkle.verify_inclusion(leaf, index, size, proof, root[:31])


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 300).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n - 1))))
def test_mutated_consistency_proofs_are_refused(case: tuple[int, int]) -> None:
    size, old = case
    data = leaves(size)
    old_root, new_root = merkle.root(data[:old]), merkle.root(data)
    proof = merkle.consistency_proof(data, old)
    assert merkle.verify_consistency(old, size, proof, old_root, new_root)
    for bad in mutations(proof):
        assert not merkle.verify_consistency(old, size, bad, old_root, new_root)
    assert not merkle.verify_consistency(old, size, proof, sha(old_root), new_root)
    assert not merkle.verify_consistency(old, size, proof, old_root, sha(new_root))
    if len(merkle.consistency_spans(old, size + 1)) != len(proof):
        assert not merkle.verify_consistency(old, size + 1, proof, old_root, new_root)
    if len(merkle.consistency_spans(old + 1, size)) != len(proof):
        assert not merkle.verify_consistency(old + 1, size, proof, old_root, new_root)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param((0, 5, [], merkle.EMPTY_ROOT, merkle.EMPTY_ROOT), id="from-size-0"),
        pytest.param((5, 4, [], merkle.EMPTY_ROOT, merkle.EMPTY_ROOT), id="shrinking"),
        pytest.param((3, 3, [b"\x00" * 32], b"\x01" * 32, b"\x01" * 32), id="same-size-proof"),
        pytest.param((-1, 3, [], b"\x01" * 32, b"\x01" * 32), id="negative"),
        pytest.param((1, 2, ["nothex"], b"\x01" * 32, b"\x01" * 32), id="not-bytes"),
    ],
)
def test_consistency_verifier_refuses_without_raising(args: tuple) -> None:  # type: ignore[type-arg]
    assert merkle.verify_consistency(*args) is False


def test_same_size_with_equal_roots_is_consistent() -> None:
    assert merkle.verify_consistency(3, 3, [], b"\x01" * 32, b"\x01" * 32)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: merkle.inclusion_proof(leaves(3), 3), id="index-past-end"),
        pytest.param(lambda: merkle.consistency_proof(leaves(3), 0), id="old-size-0"),
        pytest.param(lambda: merkle.consistency_proof(leaves(3), 4), id="old-past-end"),
        pytest.param(lambda: merkle.perfect_subtrees(1, 3), id="unaligned-range"),
    ],
)
def test_bad_requests_are_refused(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput):
        call()
