"""The access log's index by AEO id in sorted runs (``node.store.sqlite.access_index``): an
audit of one record finds every row of it and no other, whether the row is in a run, in a
merged run or not yet indexed; a file of the first access schema gets its rows indexed; and
verification names an index that hides a read, invents one, or covers seqs it should not.

Runs are made small here (a few rows each, three merged at a time) so that a test of a few
hundred rows goes through every case; the code is the same at the node's sizes."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from node.core.access import Access
from node.ledger.verification import verify_node
from node.store.sqlite import SqliteStore, access_index, access_path
from node.store.sqlite.access_file import AccessFile
from node.store.sqlite.schema import ACCESS_MIGRATIONS
from tests.factories import chain_access_rows

IDS = [f"BR{n:09d}" for n in range(12)]


@pytest.fixture(autouse=True)
def small_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(access_index, "RUN_ROWS", 8)
    monkeypatch.setattr(access_index, "FANOUT", 3)
    monkeypatch.setattr(access_index, "TOP_LEVEL", 2)


def _rows(rnd: random.Random, count: int) -> list[Access]:
    return [
        Access(
            ts=1_790_000_000_000 + rnd.randrange(1000),
            actor=rnd.choice(["key:aa", "key:bb"]),
            action=rnd.choice(["query", "batch"]),
            channel="GET /v1/aeo/{aeo_id}",
            aeo_id=rnd.choice(IDS),
        )
        for _ in range(count)
    ]


def _expected(store: SqliteStore, aeo_id: str, **filters: Any) -> list[int]:
    """The seqs of a page of an audit of ``aeo_id``, found by reading every row."""
    after, before = filters.get("after", -1), filters.get("before")
    seqs = [
        seq
        for seq, access, _ in store.access_chain()
        if access.aeo_id == aeo_id
        and seq > after
        and (before is None or seq < before)
        and filters.get("action") in (None, access.action)
    ]
    if filters.get("newest_first"):
        seqs.reverse()
    return seqs[: filters.get("limit", 1000)]


def _levels(store: SqliteStore) -> list[int]:
    runs = store.access_file.conn.execute("SELECT level FROM access_runs ORDER BY first")
    return [int(level) for (level,) in runs]


def test_an_audit_finds_every_row_of_a_record_in_runs_merged_runs_and_the_tail(
    tmp_path: Path,
) -> None:
    rnd = random.Random(26)
    store = SqliteStore.open(tmp_path / "ledger.db")
    try:
        levels_seen: set[int] = set()
        for _ in range(60):
            store.append_access(_rows(rnd, rnd.choice([1, 2, 5, 9, 17])))
            levels_seen |= set(_levels(store))
            aeo_id = rnd.choice(IDS)
            size = store.access_size()
            for filters in (
                {},
                {"newest_first": True, "limit": 3},
                {"after": rnd.randrange(size), "limit": 4},
                {"before": rnd.randrange(1, size + 1), "newest_first": True},
                {"action": "batch", "after": rnd.randrange(size)},
            ):
                found = [row["seq"] for row in store.access_rows(aeo_id=aeo_id, **filters)]
                assert found == _expected(store, aeo_id, **filters), filters
        assert levels_seen == {0, 1, 2}  # runs were written, merged, and merged again
        indexed = store.access_file.conn.execute("SELECT max(last) FROM access_runs").fetchone()
        assert store.access_size() - 1 - indexed[0] < access_index.RUN_ROWS  # the tail is short
        levels = _levels(store)
        assert levels == sorted(levels, reverse=True)  # levels only fall along the log
        assert store.access_index_problems(limit=20) == []
    finally:
        store.close()


def test_a_file_of_the_first_access_schema_has_its_rows_indexed_when_opened(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "ledger.db"
    rows = _rows(random.Random(1), 40)
    with closing(sqlite3.connect(access_path(ledger))) as conn:
        for statement in ACCESS_MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("PRAGMA user_version=1")
        chain_access_rows(conn, rows)
        conn.commit()
    file = AccessFile.open(ledger, durable=True)
    try:
        assert file.schema_version == len(ACCESS_MIGRATIONS)
        assert file.conn.execute("SELECT first, last FROM access_runs").fetchall() == [(0, 39)]
        for aeo_id in IDS:
            found = [row["seq"] for row in access_index.access_rows(file, aeo_id=aeo_id)]
            assert found == [seq for seq, access in enumerate(rows) if access.aeo_id == aeo_id]
    finally:
        file.close()


Edit = Callable[[sqlite3.Connection], None]

EDITS: dict[str, tuple[Edit, str]] = {
    "an entry removed hides a read": (
        lambda c: c.execute("DELETE FROM access_index WHERE seq = 5"),
        "lacks",
    ),
    "an entry moved to another record": (
        lambda c: c.execute("UPDATE access_index SET aeo_id = 'BR999999999' WHERE seq = 5"),
        "which the log does not",
    ),
    "an entry invented": (
        lambda c: c.execute(
            "INSERT INTO access_index SELECT run, 'BR999999999', first FROM access_runs LIMIT 1"
        ),
        "which the log does not",
    ),
    "a run that leaves seqs out": (
        lambda c: c.execute(
            "UPDATE access_runs SET first = first + 1 WHERE first = (SELECT max(first)"
            " FROM access_runs)"
        ),
        "expected from",
    ),
    "a run whose level is not a number": (
        lambda c: c.execute("UPDATE access_runs SET level = 'x' WHERE first = 0"),
        "that is not one",
    ),
    "a level that rises along the log": (
        lambda c: c.execute(
            "UPDATE access_runs SET level = 2 WHERE first = (SELECT max(first) FROM access_runs)"
        ),
        "above the run before it",
    ),
    "every run removed": (
        lambda c: c.executescript("DELETE FROM access_runs; DELETE FROM access_index"),
        "are in no run",
    ),
    "a run past the log's end": (
        lambda c: c.execute(
            "UPDATE access_runs SET last = last + 100 WHERE first = (SELECT max(first)"
            " FROM access_runs)"
        ),
        "the log ends at",
    ),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_verification_names_an_index_that_differs_from_the_log(tmp_path: Path, edit: str) -> None:
    ledger = tmp_path / "ledger.db"
    store = SqliteStore.open(ledger)
    try:
        rnd = random.Random(2)
        for _ in range(5):
            store.append_access(_rows(rnd, 10))
        assert len(_levels(store)) > 1 and not verify_node(store).damages
    finally:
        store.close()
    change, named = EDITS[edit]
    with closing(sqlite3.connect(access_path(ledger))) as conn:
        change(conn)
        conn.commit()
    store = SqliteStore.open(ledger)
    try:
        damages = verify_node(store).damages
    finally:
        store.close()
    assert [d.damage for d in damages] and {d.damage for d in damages} == {"access-index"}
    assert any(named in str(d) for d in damages), [str(d) for d in damages]
