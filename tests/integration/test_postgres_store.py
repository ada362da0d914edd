"""What the PostgreSQL store guarantees beyond the contract suite (test_store_contract.py): the
database itself refuses changes to the log, an erasure leaves no byte of the erased record in
any table's files, appends commit with ``synchronous_commit=on``, and a second process cannot
write the log while one does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from node.core.canonical import canonical_json
from node.core.crypto import SigningKey
from node.core.errors import StorageFailed
from node.ledger import erasure
from node.ledger.verification import verify_node
from node.ledger.writer import Ledger
from node.store.open import open_store
from node.store.postgres import PostgresStore, WriterTaken
from node.store.postgres.dialect import ROWS_PER_INSERT, rows_insert, translate
from node.store.sqlite import SqliteStore
from tests.factories import TickingClock, record
from tests.pg import Cluster


@pytest.fixture
def store(pg_url: str) -> Iterator[PostgresStore]:
    opened = PostgresStore.open(pg_url)
    yield opened
    opened.close()


def published(store: PostgresStore, key: SigningKey | None = None) -> Ledger:
    """BR's ledger on ``store`` after publishing two records and receiving one view."""
    ledger = Ledger(
        store=store, origin="BR", key=key or SigningKey.generate(), clock=TickingClock()
    )
    ledger.publish([record(number=n) for n in range(1, 3)])
    shown = record(origin="UY", number=1)
    body = canonical_json(shown.to_dict())
    store.add_views([("UY", 0, shown.aeo_id, "MRA-1", body, bytes(64), 1_000)])
    return ledger


REFUSED = [
    "UPDATE keys SET public_key = '\\x00'",
    "DELETE FROM keys",
    "UPDATE entries SET signature = '\\x00'",
    "DELETE FROM entries WHERE seq = 0",
    "TRUNCATE entries",
    "UPDATE tree_nodes SET hash = '\\x00'",
    "DELETE FROM tree_nodes",
    "UPDATE checkpoints SET note = '\\x00'",
    "DELETE FROM checkpoints",
    "UPDATE payloads SET body = '\\x00'",
    "DELETE FROM payloads WHERE seq = 0",
    "TRUNCATE payloads",
    "UPDATE views SET body = '\\x00'",
    "DELETE FROM views",
    "TRUNCATE views",
    "INSERT INTO access_log VALUES (0, 0, 'a', 'b', 'c', 'd', 'e', '\\x00');"
    " UPDATE access_log SET actor = 'x'",
    "INSERT INTO access_log VALUES (0, 0, 'a', 'b', 'c', 'd', 'e', '\\x00');"
    " DELETE FROM access_log",
]


@pytest.mark.parametrize("statement", REFUSED)
def test_the_database_refuses_to_change_the_log(
    store: PostgresStore, pg_url: str, statement: str
) -> None:
    # 16 entries: one tree node is stored (level 4 and up, node.ledger.tree)
    published(store).publish([record(number=n) for n in range(10, 24)])
    before = [(e.body, e.signature, e.payload) for e in store.entries("BR")]
    with psycopg.connect(pg_url) as conn, pytest.raises(psycopg.errors.RaiseException) as raised:
        conn.execute(statement)
    assert "append-only" in str(raised.value) or "erasure or purge" in str(raised.value)
    assert [(e.body, e.signature, e.payload) for e in store.entries("BR")] == before


def test_an_erasure_leaves_no_byte_of_the_record_in_any_table_file(
    store: PostgresStore, pg_url: str
) -> None:
    ledger = published(store)
    erased, kept = record(number=1), record(number=2)
    secret = erased.legal_name.encode()
    assert secret != kept.legal_name.encode()
    assert secret in _table_files(pg_url)  # the check can see it while it is held
    erasure.erase(ledger, store, erased.aeo_id, "asked by the trader")
    assert store.current_record(erased.aeo_id) is None
    held = _table_files(pg_url)
    assert secret not in held
    assert kept.legal_name.encode() in held


def _table_files(url: str) -> bytes:
    """Every file of every table, TOAST table and index of the database, as the server holds
    them on disk (its buffers written out first)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        rows = conn.execute(
            "SELECT pg_read_binary_file(pg_relation_filepath(c.oid)) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname IN ('public', 'pg_toast') AND c.relkind IN ('r', 't', 'i')"
            " AND pg_relation_filepath(c.oid) IS NOT NULL"
        ).fetchall()
    return b"".join(bytes(r[0]) for r in rows)


def test_verification_passes_a_sound_database_and_names_a_disabled_trigger(
    store: PostgresStore, pg_url: str
) -> None:
    ledger = Ledger(store=store, origin="BR", key=SigningKey.generate(), clock=TickingClock())
    ledger.publish([record(number=1), record(number=2)])
    erasure.erase(ledger, store, record(number=1).aeo_id, "asked by the trader")
    result = verify_node(store, own="BR")
    assert result.ok, result.damages
    assert [(r.origin, r.size) for r in result.logs] == [("BR", 3)]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE entries DISABLE TRIGGER entries_append_only")
        conn.execute("INSERT INTO aeo_current VALUES ('BR999', 'BR', 0, 0, 'valid', 'c', 'n')")
    damages = {(d.damage, d.detail) for d in verify_node(store, own="BR").damages}
    assert ("schema-altered", "trigger entries_append_only on entries is disabled") in damages
    assert any(code == "derived-mismatch" and "BR999" in detail for code, detail in damages)


def test_an_empty_database_adopts_the_homes_keys_but_never_a_log(
    tmp_path: Path, pg_url: str, pg_cluster: Cluster
) -> None:
    file = tmp_path / "ledger.db"
    keys = {code: SigningKey.generate().public_key for code in ("BR", "UY")}
    held = SqliteStore.open(file)
    for code, key in keys.items():
        held.add_key(code, 0, key)
    held.close()
    adopted = open_store(file, pg_url)
    try:
        assert {code: adopted.keys(code) for code in keys} == {c: [(0, k)] for c, k in keys.items()}
    finally:
        adopted.close()
    written = SqliteStore.open(tmp_path / "other.db")
    Ledger(store=written, origin="BR", key=SigningKey.generate(), clock=TickingClock()).publish(
        [record(number=1)]
    )
    written.close()
    empty = pg_cluster.store_database()
    with pytest.raises(StorageFailed, match=r"already holds logs \(BR \(1 entries\)\)"):
        open_store(tmp_path / "other.db", empty)
    refused = PostgresStore.open(empty)
    try:
        assert refused.origins() == []  # nothing was adopted
    finally:
        refused.close()
        pg_cluster.drop(empty)


def test_appends_commit_synchronously(store: PostgresStore) -> None:
    with store.transaction():
        setting = store.conn.execute("SHOW synchronous_commit").fetchone()[0]
    assert setting == "on"


def test_a_second_writer_is_refused_until_the_first_closes(
    store: PostgresStore, pg_url: str
) -> None:
    key = SigningKey.generate()
    published(store, key)
    second = PostgresStore.open(pg_url)
    try:
        assert second.head("BR") == store.head("BR")  # reading is fine
        other = Ledger(store=second, origin="BR", key=key, clock=TickingClock())
        with pytest.raises(WriterTaken, match="another process already writes"):
            other.publish([record(number=3)])
        assert store.head("BR") == second.head("BR")  # nothing of it was written
        store.close()
        Ledger(store=second, origin="BR", key=key, clock=TickingClock()).publish([record(number=3)])
        assert second.current_record(record(number=3).aeo_id) is not None
    finally:
        second.close()


@pytest.mark.parametrize(
    ("sqlite", "postgres"),
    [
        (
            "SELECT x FROM t WHERE a = ? AND b LIKE '%y'",
            "SELECT x FROM t WHERE a = %s AND b LIKE '%%y'",
        ),
        (
            "INSERT OR IGNORE INTO t (a, b) VALUES (?, ?)",
            "INSERT INTO t (a, b) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        ),
        (
            "INSERT OR REPLACE INTO t (k, a) VALUES (?, ?)",
            "INSERT INTO t (k, a) VALUES (%s, %s) ON CONFLICT (k) DO UPDATE SET a = excluded.a",
        ),
        (
            "UPDATE t SET n = min(n, ?), m = max(m, ?), c = max(c)",
            "UPDATE t SET n = LEAST(n, %s), m = GREATEST(m, %s), c = max(c)",
        ),
        ("instr(CAST(e.body AS TEXT), ?) > 0", "strpos(convert_from(e.body, 'UTF8'), %s) > 0"),
        (
            "json_extract(CAST(body AS TEXT), '$.ts')",
            "(convert_from(body, 'UTF8')::jsonb ->> 'ts')::bigint",
        ),
    ],
)
def test_the_dialect_translates_each_construct(sqlite: str, postgres: str) -> None:
    assert translate(sqlite) == postgres


@pytest.mark.parametrize(
    "sqlite",
    ["PRAGMA user_version", "SELECT json_extract(body, '$.a') FROM t", "SELECT instr(a, b)"],
)
def test_the_dialect_refuses_what_it_cannot_translate(sqlite: str) -> None:
    with pytest.raises(ValueError, match="no PostgreSQL translation"):
        translate(sqlite)


def test_many_rows_go_in_multi_row_inserts_in_order_ignoring_repeats(
    store: PostgresStore,
) -> None:
    # More rows than one statement takes, with repeats that INSERT OR IGNORE skips: the same
    # rows, in the same order (events' ids), as one statement per row would have written.
    count = ROWS_PER_INSERT * 2 + 7
    events = [(n, f"BR{n:09d}", "BR", n, "valid", None, None) for n in range(count)]
    keys = [(n % 300, "UY", f"BR{n % 300:09d}") for n in range(count)]
    with store.transaction():
        store.conn.executemany(
            "INSERT INTO events (ts, aeo_id, origin, seq, status, previous, effective)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            events,
        )
        store.conn.executemany(
            "INSERT OR IGNORE INTO trader_ids (scheme, value, aeo_id) VALUES (?, ?, ?)",
            [(str(a), b, c) for a, b, c in keys],
        )
    rows = store.conn.execute("SELECT id, seq FROM events ORDER BY id").fetchall()
    assert [seq for _, seq in rows] == list(range(count))
    assert [i for i, _ in rows] == sorted(i for i, _ in rows)
    held = store.conn.execute("SELECT count(*) FROM trader_ids").fetchone()[0]
    assert held == 300


@pytest.mark.parametrize(
    ("sqlite", "rows"),
    [
        ("INSERT INTO t (a, b) VALUES (?, ?)", "INSERT INTO t (a, b) VALUES (%s, %s), (%s, %s)"),
        (
            "INSERT OR IGNORE INTO t (a) VALUES (?)",
            "INSERT INTO t (a) VALUES (%s), (%s) ON CONFLICT DO NOTHING",
        ),
        ("INSERT OR REPLACE INTO t (k, a) VALUES (?, ?)", None),
        ("INSERT INTO t (a, b) VALUES (?, 1)", None),
        ("DELETE FROM t WHERE a = ?", None),
    ],
)
def test_only_plain_and_ignoring_inserts_take_many_rows(sqlite: str, rows: str | None) -> None:
    assert rows_insert(translate(sqlite), 2) == rows
