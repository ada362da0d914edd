"""The PostgreSQL store outlives its server's restart: sessions found broken are replaced on
their next use, reads and appends go on without reopening the store, an append whose session
breaks is not committed, and the writer lock is taken again (refused if another process took it
meanwhile)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from node.core.crypto import SigningKey
from node.core.errors import StorageFailed
from node.ledger.writer import Ledger
from node.store.postgres import PostgresStore, WriterTaken
from tests.factories import TickingClock, record
from tests.pg import Cluster


@pytest.fixture
def store(pg_url: str) -> Iterator[PostgresStore]:
    opened = PostgresStore.open(pg_url)
    yield opened
    opened.close()


def ledger(store: PostgresStore, key: SigningKey) -> Ledger:
    return Ledger(store=store, origin="BR", key=key, clock=TickingClock())


def test_reads_and_appends_go_on_after_the_server_restarts(
    store: PostgresStore, pg_url: str, pg_cluster: Cluster
) -> None:
    key = SigningKey.generate()
    ledger(store, key).publish([record(number=1)])
    head = store.head("BR")
    pg_cluster.restart()
    assert store.head("BR") == head  # the reader's broken session was replaced
    ledger(store, key).publish([record(number=2)])
    assert store.size("BR") == head.size + 1
    assert store.current_record(record(number=2).aeo_id) is not None
    # The writer lock was taken again with the new session: a second writer is refused.
    second = PostgresStore.open(pg_url)
    try:
        with pytest.raises(WriterTaken):
            second.claim_writer(wait=0.2)
    finally:
        second.close()


def test_a_writer_lock_taken_while_the_server_restarted_refuses_appends(
    store: PostgresStore, pg_url: str, pg_cluster: Cluster
) -> None:
    key = SigningKey.generate()
    ledger(store, key).publish([record(number=1)])
    pg_cluster.restart()
    second = PostgresStore.open(pg_url)
    try:
        second.claim_writer()  # before the first store's session is replaced
        with pytest.raises(WriterTaken, match="another process already writes"):
            ledger(store, key).publish([record(number=2)])
        assert store.size("BR") == 1  # nothing of it was written
    finally:
        second.close()
    ledger(store, key).publish([record(number=2)])  # the claim is retried with each append
    assert store.size("BR") == 2


def test_a_transaction_whose_session_breaks_commits_nothing(
    store: PostgresStore, pg_url: str
) -> None:
    key = SigningKey.generate().public_key
    with pytest.raises(StorageFailed), store.transaction():
        store.conn.execute(
            "INSERT INTO keys (origin, since_seq, public_key) VALUES (?, ?, ?)",
            ("BR", 0, key.raw),
        )
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (store.conn.raw.info.backend_pid,))
        store.conn.execute(
            "INSERT INTO keys (origin, since_seq, public_key) VALUES (?, ?, ?)",
            ("UY", 0, key.raw),
        )
    assert store.keys("BR") == []  # the first statement was rolled back with the session
    store.add_key("BR", 0, key)  # the next transaction runs on a new session
    assert store.keys("BR") == [(0, key)]
