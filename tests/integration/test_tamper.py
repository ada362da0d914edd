"""Tamper tests on a real SQLite file: every single-byte change, deleted row or swapped pair of
rows in the stored log is found by verification, which names the origin, seq and damage."""

from __future__ import annotations

import random
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from node.core import merkle
from node.core.errors import IntegrityError
from node.core.sample import sample_records
from node.ledger.fsck_parallel import verify_log_parallel
from node.ledger.tree import STORED_FROM_LEVEL
from node.ledger.verification import verify_store
from node.store.sqlite import API_KEY_MAC_FILE, SqliteStore
from tests.factories import open_ledger
from tests.tampering import covertly

Sql = Callable[[sqlite3.Connection], None]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ledger of 30 entries written in uneven batches (several checkpoints)."""
    path = tmp_path_factory.mktemp("pristine") / "ledger.db"
    store, ledger = open_ledger(path)
    start = 1
    for size in (1, 4, 9, 2, 14):
        ledger.publish(sample_records("BR", size, start=start))
        start += size
    [report] = verify_store(store, own="BR")
    assert report.size == 30
    store.close()
    return path


def tamper(pristine: Path, tmp_path: Path, change: Sql, *, processes: int = 1) -> IntegrityError:
    """Apply ``change`` to a copy as an insider covering their tracks would: the append-only
    triggers dropped, the change made, the triggers created again as they were. Returns the
    damage named first."""
    path = tmp_path / "ledger.db"
    shutil.copy(pristine, path)
    shutil.copy(pristine.parent / API_KEY_MAC_FILE, tmp_path / API_KEY_MAC_FILE)
    covertly(path, change)
    store = SqliteStore.open(path)
    try:
        with pytest.raises(IntegrityError) as caught:
            if processes == 1:
                verify_store(store, own="BR")
            else:
                verify_log_parallel(store, "BR", own=True, processes=processes, min_entries=0)
    finally:
        store.close()
    return caught.value


def flip_byte(table: str, column: str, key: str, row: int, position: int | None = None) -> Sql:
    def change(conn: sqlite3.Connection) -> None:
        value = conn.execute(
            f"SELECT {column} FROM {table} ORDER BY {key} LIMIT 1 OFFSET ?", (row,)
        ).fetchone()[0]
        data = bytearray(value)
        at = position if position is not None else random.Random(row).randrange(len(data))
        data[at % len(data)] ^= 1 << (row % 8)
        conn.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (bytes(data), value))

    return change


BLOB_COLUMNS = [
    ("entries", "body", "seq", 30),
    ("entries", "signature", "seq", 30),
    ("payloads", "salt", "seq", 30),
    ("payloads", "body", "seq", 30),
    ("tree_nodes", "hash", "last_leaf, level", 1),  # level 4 and up (node.ledger.tree)
    ("checkpoints", "note", "size", 5),
    ("keys", "public_key", "since_seq", 1),
]


@pytest.mark.parametrize(
    ("table", "column", "key", "rows"),
    BLOB_COLUMNS,
    ids=[f"{t}.{c}" for t, c, _, _ in BLOB_COLUMNS],
)
def test_one_changed_byte_in_any_row_is_named(
    pristine: Path, tmp_path: Path, table: str, column: str, key: str, rows: int
) -> None:
    for row in range(rows):
        case = tmp_path / f"{row}"
        case.mkdir()
        damage = tamper(pristine, case, flip_byte(table, column, key, row))
        assert damage.origin == "BR"
        assert damage.seq is not None and 0 <= damage.seq < 30
        assert damage.damage in DAMAGE_KINDS


def test_every_byte_of_one_entry_is_covered(pristine: Path, tmp_path: Path) -> None:
    conn = sqlite3.connect(pristine)
    body, signature = conn.execute("SELECT body, signature FROM entries WHERE seq = 12").fetchone()
    conn.close()
    for column, length in (("body", len(body)), ("signature", len(signature))):
        for position in range(length):
            case = tmp_path / f"{column}{position}"
            case.mkdir()
            damage = tamper(pristine, case, flip_byte("entries", column, "seq", 12, position))
            assert (damage.origin, damage.seq) == ("BR", 12), damage


def sql(statement: str, *args: object) -> Sql:
    return lambda conn: conn.execute(statement, args) and None


ROW_CASES = {
    "delete-middle-entry": (sql("DELETE FROM entries WHERE seq = 7"), "missing-entry", 7),
    # No tree node is stored for entry 29 (levels below 4 are recomputed): its checkpoint names it.
    "delete-last-entry": (sql("DELETE FROM entries WHERE seq = 29"), "checkpoint-beyond-log", 29),
    "delete-first-entry": (sql("DELETE FROM entries WHERE seq = 0"), "missing-entry", 0),
    "delete-payload": (sql("DELETE FROM payloads WHERE seq = 3"), "payload-missing", 3),
    "delete-tree-node": (
        sql("DELETE FROM tree_nodes WHERE last_leaf = 15 AND level = 4"),
        "tree-node-missing",
        15,
    ),
    "delete-latest-checkpoint": (
        sql("DELETE FROM checkpoints WHERE size = 30"),
        "checkpoint-missing",
        29,
    ),
    "delete-middle-checkpoint": (
        sql("DELETE FROM checkpoints WHERE size = 14"),
        "checkpoint-missing",
        13,
    ),
    "delete-key": (sql("DELETE FROM keys"), "missing-key", 0),
    "swap-entries": (
        lambda c: _swap(c, "entries", ("body", "signature"), 4, 5),
        "wrong-position",
        4,
    ),
    "swap-payloads": (
        lambda c: _swap(c, "payloads", ("salt", "body"), 10, 20),
        "payload-mismatch",
        10,
    ),
    "move-entry-origin": (
        sql("UPDATE entries SET origin = 'BS' WHERE seq = 9"),
        "missing-entry",
        9,
    ),
    "change-entry-seq": (sql("UPDATE entries SET seq = 99 WHERE seq = 29"), "missing-entry", 29),
    "orphan-payload": (sql("UPDATE payloads SET seq = 77 WHERE seq = 29"), "payload-missing", 29),
    "checkpoint-size-latest": (
        sql("UPDATE checkpoints SET size = 31 WHERE size = 30"),
        "checkpoint-beyond-log",
        30,
    ),
    "checkpoint-size-middle": (
        sql("UPDATE checkpoints SET size = 13 WHERE size = 14"),
        "checkpoint-mismatch",
        12,
    ),
}


def _swap(conn: sqlite3.Connection, table: str, columns: tuple[str, ...], a: int, b: int) -> None:
    cols = ", ".join(columns)
    row_a = conn.execute(f"SELECT {cols} FROM {table} WHERE seq = ?", (a,)).fetchone()
    row_b = conn.execute(f"SELECT {cols} FROM {table} WHERE seq = ?", (b,)).fetchone()
    sets = ", ".join(f"{c} = ?" for c in columns)
    conn.execute(f"UPDATE {table} SET {sets} WHERE seq = ?", (*row_b, a))
    conn.execute(f"UPDATE {table} SET {sets} WHERE seq = ?", (*row_a, b))


@pytest.mark.parametrize("processes", [1, 2, 3], ids=["one-pass", "2-ranges", "3-ranges"])
@pytest.mark.parametrize("case", sorted(set(ROW_CASES) - {"orphan-payload-row"}))
def test_deleted_moved_or_swapped_rows_are_named(
    pristine: Path, tmp_path: Path, case: str, processes: int
) -> None:
    change, damage_kind, seq = ROW_CASES[case]
    damage = tamper(pristine, tmp_path, change, processes=processes)
    assert damage.damage == damage_kind, damage
    if seq is not None:
        assert damage.seq == seq, damage


DAMAGE_KINDS = {
    "missing-key",
    "missing-entry",
    "malformed-entry",
    "wrong-position",
    "broken-chain",
    "time-regressed",
    "bad-signature",
    "payload-mismatch",
    "payload-missing",
    "tree-node-mismatch",
    "tree-node-missing",
    "tree-node-extra",
    "checkpoint-signature",
    "checkpoint-mismatch",
    "checkpoint-beyond-log",
    "checkpoint-missing",
    "orphan-payload",
}


def _with_low_nodes(conn: sqlite3.Connection) -> None:
    """The tree nodes below level 4 that files written before that rule hold."""
    tree = merkle.CompactRange()
    rows = conn.execute("SELECT body, signature FROM entries ORDER BY seq").fetchall()
    for body, signature in rows:
        for level, index, hash_ in tree.append(merkle.leaf_hash(body + signature)):
            if level < STORED_FROM_LEVEL:
                conn.execute(
                    "INSERT INTO tree_nodes VALUES ('BR', ?, ?, ?)",
                    (((index + 1) << level) - 1, level, hash_),
                )


@pytest.mark.parametrize("processes", [1, 2], ids=["one-pass", "2-ranges"])
def test_an_older_files_lower_tree_nodes_are_still_checked(
    pristine: Path, tmp_path: Path, processes: int
) -> None:
    older = tmp_path / "older" / "ledger.db"
    older.parent.mkdir()
    shutil.copy(pristine, older)
    shutil.copy(pristine.parent / API_KEY_MAC_FILE, older.parent / API_KEY_MAC_FILE)
    covertly(older, _with_low_nodes)
    store = SqliteStore.open(older)
    [report] = verify_store(store, own="BR")
    store.close()
    assert report.size == 30
    for row in range(0, 55, 6):
        case = tmp_path / f"{row}"
        case.mkdir()
        damage = tamper(older, case, flip_byte("tree_nodes", "hash", "last_leaf, level", row))
        assert damage.damage == "tree-node-mismatch", damage
    damage = tamper(older, tmp_path, ROW_CASES["delete-last-entry"][0], processes=processes)
    assert (damage.damage, damage.seq) == ("tree-node-extra", 29)
