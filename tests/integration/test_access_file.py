"""The access log's file of its own (``node.store.sqlite.access_file``): a ledger file of an
earlier schema hands its access log over whole, once, even when the move was cut short, and
the access log's commits leave the ledger's file unchanged."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from node.core.access import Access, check_access_chain
from node.store.sqlite import MIGRATIONS, SqliteStore, access_path
from node.store.sqlite.access_file import AccessFile
from node.store.sqlite.schema import ACCESS_MOVED
from tests.factories import chain_access_rows


def _ledger_of_schema_10(path: Path, count: int) -> list[bytes]:
    """A ledger file as version 10 of this software left it, its access log holding ``count``
    chained rows; returns their hashes."""
    rows = [
        Access(
            ts=1_790_000_000_000 + seq,
            actor="key:aa",
            action="query",
            channel="GET /v1/aeo/{aeo_id}",
            aeo_id=f"BR{seq:09d}",
        )
        for seq in range(count)
    ]
    with closing(sqlite3.connect(path)) as conn:
        for migration in MIGRATIONS[: ACCESS_MOVED - 1]:
            for statement in migration:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version={ACCESS_MOVED - 1}")
        hashes = chain_access_rows(conn, rows)
        conn.commit()
    return hashes


def _tables(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}


def test_an_older_ledger_hands_its_access_log_to_the_new_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    hashes = _ledger_of_schema_10(path, 300)
    store = SqliteStore.open(path)
    try:
        chain = list(store.access_chain())
        assert [bytes(h) for _, _, h in chain] == hashes
        assert check_access_chain(chain) == (300, hashes[-1])
        assert store.schema_version == len(MIGRATIONS) and store.access_size() == 300
    finally:
        store.close()
    assert not {"access_log", "access_by_aeo", "access_log_no_update"} & _tables(path)
    assert {"access_log", "access_index", "access_log_no_update"} <= _tables(access_path(path))


def test_a_move_cut_short_after_the_copy_is_finished_once_without_a_row_twice(
    tmp_path: Path,
) -> None:
    """The rows were copied and committed, then the process died before the ledger's file
    dropped them: the next open copies nothing twice, then drops them."""
    path = tmp_path / "ledger.db"
    hashes = _ledger_of_schema_10(path, 50)
    copied = AccessFile.open(path, durable=True)
    try:
        copied.take_rows_of(path)
    finally:
        copied.close()
    assert "access_log" in _tables(path)  # the ledger's file still at version 10
    store = SqliteStore.open(path)
    try:
        assert [bytes(h) for _, _, h in store.access_chain()] == hashes
    finally:
        store.close()
    assert "access_log" not in _tables(path)


def test_the_access_logs_commits_leave_the_ledgers_file_as_it_was(tmp_path: Path) -> None:
    """What a reader of the ledger checks to know nothing changed (SQLite's ``data_version``,
    which the key check and the readers' page cache go by) stays the same while the access log
    is written, from another connection as the serving node's writer does."""
    path = tmp_path / "ledger.db"
    store = SqliteStore.open(path)
    writer = SqliteStore.open(path, durable=False)
    try:
        before = store.change_mark()
        writer.append_access([Access(ts=1, actor="key:aa", action="query", channel="x")] * 3)
        assert store.access_size() == 3  # seen by the store's readers ...
        assert store.change_mark() == before  # ... and the ledger's file is unchanged
    finally:
        writer.close()
        store.close()
