"""The SQLite-backed Merkle tree answers exactly like the pure functions, at every size."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.core import merkle
from node.core.errors import StorageFailed
from node.core.sample import sample_records
from node.ledger.tree import STORED_FROM_LEVEL, StoredTree
from node.store.sqlite import SCHEMA_VERSION, SqliteStore
from tests.factories import open_ledger

SIZE = 1030


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> tuple[StoredTree, list[bytes]]:
    store, ledger = open_ledger(tmp_path_factory.mktemp("tree") / "ledger.db")
    start, step = 1, 1
    while start <= SIZE:  # batches of 1, 2, 3 ... so tree state is resumed at many sizes
        ledger.publish(sample_records("BR", min(step, SIZE + 1 - start), start=start))
        start, step = start + step, step + 1
    leaves = [e.body + e.signature for e in store.entries("BR")]
    assert len(leaves) == SIZE
    return StoredTree(store, "BR"), leaves


def test_roots_at_every_size(grown: tuple[StoredTree, list[bytes]]) -> None:
    tree, leaves = grown
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    compact = merkle.CompactRange()
    for size in range(1, SIZE + 1):
        compact.append(hashes[size - 1])
        assert tree.root(size) == compact.root()
    assert tree.root(SIZE) == merkle.root(leaves)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_proofs_equal_the_pure_ones_and_verify(
    grown: tuple[StoredTree, list[bytes]], data: st.DataObject
) -> None:
    tree, leaves = grown
    size = data.draw(st.integers(1, SIZE), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    old = data.draw(st.integers(1, size), label="old")
    root = merkle.root(leaves[:size])
    inclusion = tree.inclusion_proof(index, size)
    assert inclusion == merkle.inclusion_proof(leaves[:size], index)
    assert merkle.verify_inclusion(merkle.leaf_hash(leaves[index]), index, size, inclusion, root)
    consistency = tree.consistency_proof(old, size)
    assert consistency == merkle.consistency_proof(leaves[:size], old)
    assert merkle.verify_consistency(old, size, consistency, merkle.root(leaves[:old]), root)


def test_a_new_file_gets_the_current_schema(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path / "a.db")
    assert store.schema_version == SCHEMA_VERSION
    store.close()


def test_a_file_from_newer_software_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    SqliteStore.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StorageFailed, match="newer than this software"):
        SqliteStore.open(path)


def test_the_log_tables_refuse_update_and_delete(tmp_path: Path) -> None:
    store, ledger = open_ledger(tmp_path / "a.db")
    ledger.publish(sample_records("BR", 2**STORED_FROM_LEVEL))  # one tree node is stored
    store.close()
    conn = sqlite3.connect(tmp_path / "a.db")
    for statement in (
        "UPDATE entries SET signature = zeroblob(64)",
        "DELETE FROM entries",
        "DELETE FROM tree_nodes",
        "UPDATE checkpoints SET note = x'00'",
        "DELETE FROM keys",
        "UPDATE payloads SET salt = zeroblob(32)",
    ):
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(statement)
    conn.close()
