"""One contract for every store: ``SqliteStore`` (a real file in ``tmp_path``), ``PostgresStore``
(a database on the session's private cluster, ``tests.pg``) and ``MemoryStore`` answer every
protocol of ``node.store.protocols`` alike, and under random appends, status changes, erasures,
views, purges and access rows the SQLite and PostgreSQL stores answer exactly as the memory
store does (a Hypothesis property each)."""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.core.access import ACCESS_GENESIS, Access, access_hash, view_hash
from node.core.canonical import canonical_json
from node.core.crypto import SigningKey
from node.core.documents import Purge
from node.core.entries import EntryHeader, EntryKind
from node.core.errors import MraError, WriteRaced
from node.ledger import erasure
from node.ledger.tree import StoredTree
from node.ledger.writer import Ledger
from node.store.memory import MemoryStore
from node.store.postgres import PostgresStore
from node.store.postgres.schema import MIGRATIONS as PG_MIGRATIONS
from node.store.protocols import AppendBatch, Deletion, Store
from node.store.sqlite import MIGRATIONS as SQLITE_MIGRATIONS
from node.store.sqlite import SqliteStore
from tests.factories import TickingClock, record
from tests.pg import Cluster

OPENERS: dict[str, Callable[[pytest.FixtureRequest, Path], Store]] = {
    "sqlite": lambda _, directory: SqliteStore.open(directory / "ledger.db"),
    "postgres": lambda request, _: PostgresStore.open(request.getfixturevalue("pg_url")),
    "memory": lambda *_: MemoryStore(),
}
SUSPENDED = {"code": "suspended", "reason": "audit", "effective": "2026-01-05"}
REVOKED = {"code": "revoked", "reason": "fraud", "effective": "2026-01-05"}
STATUSES: dict[str, dict[str, Any] | None] = {
    "valid": None,
    "suspended": SUSPENDED,
    "revoked": REVOKED,
}


@pytest.fixture(params=sorted(OPENERS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened = OPENERS[request.param](request, tmp_path)
    yield opened
    if isinstance(opened, SqliteStore | PostgresStore):
        opened.close()


def ledger_on(store: Store, key: SigningKey | None = None) -> Ledger:
    return Ledger(store=store, origin="BR", key=key or SigningKey.generate(), clock=TickingClock())


def aeo(number: int, status: str = "valid", origin: str = "BR") -> Any:
    changes = {} if STATUSES[status] is None else {"status": STATUSES[status]}
    return record(origin=origin, number=number, **changes)


def view_row(
    seq: int, number: int, agreements: str
) -> tuple[str, int, str, str, bytes, bytes, int]:
    shown = aeo(number, origin="UY")
    body = canonical_json(shown.to_dict())
    return ("UY", seq, shown.aeo_id, agreements, body, bytes(64), 1_000 + seq)


# -- the contract, case by case -----------------------------------------------------------------


def test_an_append_is_read_back_byte_for_byte(store: Store) -> None:
    ledger = ledger_on(store)
    result = ledger.publish([aeo(1), aeo(2), aeo(3)])
    held = list(store.entries("BR"))
    assert [(e.body, e.signature) for e in held] == [(e.body, e.signature) for e in result.entries]
    assert all(e.payload is not None and e.salt is not None for e in held)
    assert [e.seq for e in store.entries("BR", 1, 2)] == [1]
    head = store.head("BR")
    assert head is not None and (head.size, head.last_ts) == (3, result.entries[-1].header.ts)
    assert store.checkpoints("BR") == [(3, result.checkpoint)]
    assert store.latest_checkpoint("BR") == result.checkpoint
    assert store.origins() == ["BR"]
    assert [since for since, _ in store.keys("BR")] == [0]
    # Subtrees below level 4 are recomputed from the entries (node.ledger.tree), not stored.
    assert list(store.all_tree_nodes("BR")) == []
    assert StoredTree(store, "BR").inclusion_proof(2, 3)
    ledger.publish([aeo(n) for n in range(4, 17)])
    assert [(last, level) for last, level, _ in store.all_tree_nodes("BR")] == [(15, 4)]


def test_a_batch_that_does_not_continue_the_log_writes_nothing(store: Store) -> None:
    ledger = ledger_on(store)
    [entry] = ledger.publish([aeo(1)]).entries
    again = AppendBatch(
        origin="BR",
        entries=[entry],
        payloads=[None],
        records=[aeo(9)],
        tree_nodes=[],
        checkpoint=b"note",
        checkpoint_size=7,
    )
    with pytest.raises(WriteRaced):
        store.append(again)
    assert store.current_record(aeo(9).aeo_id) is None
    assert [size for size, _ in store.checkpoints("BR")] == [1]


def test_checkpoints_are_read_for_a_range_of_sizes(store: Store) -> None:
    ledger = ledger_on(store)
    for n in range(1, 5):
        ledger.publish([aeo(n)])
    sizes = [size for size, _ in store.checkpoints("BR")]
    assert sizes == [1, 2, 3, 4]
    assert [size for size, _ in store.checkpoints("BR", 2, 3)] == [2, 3]
    assert [size for size, _ in store.checkpoints("BR", 3)] == [3, 4]
    assert store.checkpoints("BR", 5) == [] and store.checkpoints("UY") == []


def test_current_state_follows_the_latest_version(store: Store) -> None:
    ledger = ledger_on(store)
    ledger.publish([aeo(1), aeo(2)])
    ledger.publish([aeo(1, "suspended")])
    current = store.current_record(aeo(1).aeo_id)
    assert current is not None and current == (2, aeo(1, "suspended"))
    assert set(store.current_records([aeo(1).aeo_id, aeo(2).aeo_id, "BR404"])) == {
        aeo(1).aeo_id,
        aeo(2).aeo_id,
    }
    payload = store.current_payload(aeo(1).aeo_id)
    assert payload is not None and payload[:2] == ("BR", 2)
    assert [seq for _, seq, _, _ in store.own_versions(aeo(1).aeo_id)] == [0, 2]
    first_ts = EntryHeader.from_bytes(next(store.entries("BR")).body).ts
    assert store.version_at(aeo(1).aeo_id, first_ts) == ("BR", 0)
    assert store.version_at(aeo(1).aeo_id, first_ts - 1) is None
    identifier = aeo(2).identifiers[0]
    assert store.find_by_identifier(identifier.scheme.value, identifier.value) == [aeo(2).aeo_id]
    assert store.final_records("BR", ["suspended"], 2**62) == [aeo(1).aeo_id]
    assert store.final_records("BR", ["suspended"], first_ts) == []


def test_an_erasure_forgets_current_state_and_payloads_but_keeps_versions(store: Store) -> None:
    ledger = ledger_on(store)
    ledger.publish([aeo(1), aeo(2)])
    entry, _ = erasure.erase(ledger, store, aeo(1).aeo_id, "asked by the trader")
    assert store.current_record(aeo(1).aeo_id) is None
    assert store.current_payload(aeo(1).aeo_id) is None
    versions = store.own_versions(aeo(1).aeo_id)
    assert [(origin, seq, payload) for origin, seq, _, payload in versions] == [("BR", 0, None)]
    assert store.erased_among([aeo(1).aeo_id, aeo(2).aeo_id]) == {aeo(1).aeo_id}
    held = store.erasure_of(aeo(1).aeo_id)
    assert held is not None and (held["seq"], held["entries"], held["origin_copy"]) == (
        entry.header.seq,
        "[0]",
        1,
    )
    assert store.entry_seqs_of_kind("BR", "aeo.erase") == [entry.header.seq]
    identifier = aeo(1).identifiers[0]
    assert store.find_by_identifier(identifier.scheme.value, identifier.value) == []


def test_views_are_kept_once_and_found_by_record_and_identifier(store: Store) -> None:
    rows = [view_row(0, 1, "MRA-1"), view_row(1, 2, "MRA-1,MRA-2"), view_row(2, 1, "MRA-1")]
    assert store.add_views(rows) == 3
    assert store.add_views(rows[:1]) == 0
    uy1, uy2 = aeo(1, origin="UY").aeo_id, aeo(2, origin="UY").aeo_id
    latest = store.view_of(uy1)
    assert latest is not None and latest[:3] == ("UY", 2, "MRA-1")
    assert set(store.views_of([uy1, uy2, "UY404"])) == {uy1, uy2}
    assert store.view_at("UY", 1) == ("MRA-1,MRA-2", rows[1][4], bytes(64))
    identifier = aeo(2, origin="UY").identifiers[0]
    assert store.views_by_identifier(identifier.scheme.value, identifier.value) == [uy2]
    assert [v["seq"] for v in store.views_held(uy1)] == [0, 2]
    assert store.views_count("UY", [0, 1, 5]) == 2
    assert sorted(store.view_agreements()) == ["MRA-1", "MRA-1,MRA-2"]
    assert store.views_by_record(["MRA-1"]) == {("UY", uy1): [(0, "MRA-1"), (2, "MRA-1")]}


def test_a_purge_deletes_the_views_it_names_in_its_own_append(store: Store) -> None:
    ledger = ledger_on(store)
    store.add_views([view_row(0, 1, "MRA-1"), view_row(1, 2, "MRA-1")])
    uy1 = aeo(1, origin="UY").aeo_id
    doc = Purge(origin="UY", aeo_id=uy1, entries=(0,), erasure=None, reason="ended", views=1)
    ledger.append_documents(
        [(EntryKind.AEO_PURGE, doc.to_dict())],
        deletions=[Deletion(origin="UY", seqs=[0], aeo_id=uy1)],
    )
    assert store.view_of(uy1) is None and store.view_at("UY", 1) is not None
    purged, kept = aeo(1, origin="UY").identifiers[0], aeo(2, origin="UY").identifiers[0]
    assert store.views_by_identifier(purged.scheme.value, purged.value) == []
    assert store.views_by_identifier(kept.scheme.value, kept.value) == [aeo(2, origin="UY").aeo_id]
    [purge] = store.purges_of(uy1)
    assert (purge["by"], purge["of_origin"], purge["entries"], purge["views"]) == (
        "BR",
        "UY",
        "[0]",
        1,
    )


def test_the_access_log_is_a_hash_chain_read_with_filters(store: Store) -> None:
    rows = [
        Access(ts=10, actor="key:a", action="query", channel="/records", aeo_id="BR1"),
        Access(ts=20, actor="peer:UY", action="deliver", channel="/peer", aeo_id="BR1"),
        Access(ts=30, actor="key:a", action="query", channel="/records", aeo_id="BR2"),
    ]
    store.append_access(rows[:2])
    store.append_access(rows[2:])
    chain = list(
        itertools.accumulate(
            enumerate(rows), lambda prev, row: access_hash(prev, *row), initial=ACCESS_GENESIS
        )
    )
    assert [store.access_hash(seq) for seq in range(4)] == [*chain[1:], None]
    assert store.access_size() == 3
    assert [r["seq"] for r in store.access_rows(actor="key:a")] == [0, 2]
    assert [r["seq"] for r in store.access_rows(since=15, until=30)] == [1]
    assert [r["seq"] for r in store.access_rows(aeo_id="BR1", action="deliver")] == [1]
    assert [r["seq"] for r in store.access_rows(after=0, limit=1)] == [1]
    # a page back from a row, newest first (the UI's "older" link)
    assert [r["seq"] for r in store.access_rows(newest_first=True, limit=2)] == [2, 1]
    assert [r["seq"] for r in store.access_rows(before=2, newest_first=True)] == [1, 0]
    assert [r["seq"] for r in store.access_rows(actor="key:a", before=2)] == [0]
    assert store.access_rows()[0]["hash"] == chain[1].hex()


def test_a_delivery_repeating_an_earlier_one_names_it(store: Store) -> None:
    def served(ts: int, partner: str, view: bytes) -> Access:
        return Access(
            ts=ts,
            actor=f"peer:{partner}",
            action="deliver",
            channel="peer deliveries",
            aeo_id="BR1",
            entry_origin="BR",
            entry_seq=4,
            view_hash=view_hash(view),
        )

    store.append_access([served(1, "UY", b"v"), served(2, "UY", b"v")])  # one batch
    store.append_access([served(3, "AR", b"v"), served(4, "UY", b"v"), served(5, "UY", b"w")])
    assert [r["repeat_of"] for r in store.access_rows()] == [None, 0, None, 0, None]
    assert [r["seq"] for r in store.access_rows(repeats=False)] == [0, 2, 4]
    assert [r["seq"] for r in store.access_rows(entry_seq=4, actor="peer:UY")] == [0, 1, 3, 4]


# -- the property: SQLite and PostgreSQL answer as memory does ---------------------------------

OPERATIONS = st.one_of(
    st.tuples(
        st.just("publish"),
        st.lists(
            st.tuples(st.integers(1, 4), st.sampled_from(sorted(STATUSES))), min_size=1, max_size=3
        ),
    ),
    st.tuples(st.just("erase"), st.integers(1, 4)),
    st.tuples(st.just("view"), st.integers(1, 3), st.sampled_from(["MRA-1", "MRA-1,MRA-2"])),
    st.tuples(st.just("purge"), st.integers(1, 3)),
    st.tuples(st.just("access"), st.integers(1, 4), st.sampled_from(["query", "deliver"])),
    # a delivery of entry n's view to a partner, in one batch with another or alone
    st.tuples(
        st.just("delivery"),
        st.lists(
            st.tuples(st.integers(1, 3), st.sampled_from(["UY", "AR"]), st.sampled_from("ab")),
            min_size=1,
            max_size=3,
        ),
    ),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=st.lists(OPERATIONS, min_size=1, max_size=8))
def test_sqlite_answers_as_memory_does(operations: list[tuple[Any, ...]]) -> None:
    key = SigningKey.generate()
    with tempfile.TemporaryDirectory() as directory:
        sqlite = SqliteStore.open(Path(directory) / "ledger.db")
        try:
            assert run(sqlite, key, operations) == run(MemoryStore(), key, operations)
        finally:
            sqlite.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(operations=st.lists(OPERATIONS, min_size=1, max_size=8))
def test_postgres_answers_as_memory_does(
    pg_cluster: Cluster, operations: list[tuple[Any, ...]]
) -> None:
    key = SigningKey.generate()
    url = pg_cluster.store_database()
    postgres = PostgresStore.open(url)
    try:
        assert run(postgres, key, operations) == run(MemoryStore(), key, operations)
    finally:
        postgres.close()
        pg_cluster.drop(url)


def run(store: Store, key: SigningKey, operations: list[tuple[Any, ...]]) -> list[Any]:
    """What ``store`` answers after each operation, done by a ledger with ``key`` whose salts
    count up from zero (so both stores get the very same bytes)."""
    salts = itertools.count()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            "node.ledger.writer.new_salts",
            lambda count: [
                hashlib.sha256(next(salts).to_bytes(8, "big")).digest() for _ in range(count)
            ],
        )
        ledger = Ledger(store=store, origin="BR", key=key, clock=TickingClock())
        views = itertools.count()
        return [(outcome(apply, ledger, store, op, views), observe(store)) for op in operations]


def outcome(act: Callable[..., Any], *args: Any) -> Any:
    try:
        return act(*args)
    except MraError as error:
        return type(error).__name__, str(error)


def apply(ledger: Ledger, store: Store, op: tuple[Any, ...], views: Iterator[int]) -> Any:
    match op:
        case ("publish", versions):
            result = ledger.publish([aeo(n, status) for n, status in versions])
            return [e.body for e in result.entries], result.unchanged
        case ("erase", n):
            return erasure.erase(ledger, store, aeo(n).aeo_id, "asked by the trader")[0].body
        case ("view", n, agreements):
            return store.add_views([view_row(next(views), n, agreements)])
        case ("purge", n):
            aeo_id = aeo(n, origin="UY").aeo_id
            seqs = [v["seq"] for v in store.views_held(aeo_id)]
            if not seqs:
                return None
            doc = Purge(
                origin="UY",
                aeo_id=aeo_id,
                entries=tuple(seqs),
                erasure=None,
                reason="ended",
                views=len(seqs),
            )
            return ledger.append_documents(
                [(EntryKind.AEO_PURGE, doc.to_dict())],
                deletions=[Deletion(origin="UY", seqs=seqs, aeo_id=aeo_id)],
            )[0].body
        case ("access", n, action):
            store.append_access(
                [Access(ts=n, actor="key:a", action=action, channel="/x", aeo_id=aeo(n).aeo_id)]
            )
            return store.access_size()
        case ("delivery", served):
            store.append_access(
                [
                    Access(
                        ts=n,
                        actor=f"peer:{partner}",
                        action="deliver",
                        channel="peer deliveries",
                        aeo_id=aeo(n).aeo_id,
                        entry_origin="BR",
                        entry_seq=n,
                        view_hash=view_hash(view.encode()),
                    )
                    for n, partner, view in served
                ]
            )
            return store.access_size()
    raise AssertionError(op)


def observe(store: Store) -> dict[str, Any]:
    """Everything the protocols answer about the records and views an operation may touch."""
    own = [aeo(n).aeo_id for n in range(1, 5)]
    theirs = [aeo(n, origin="UY").aeo_id for n in range(1, 4)]
    head = store.head("BR")
    times = sorted({EntryHeader.from_bytes(e.body).ts for e in store.entries("BR")})
    seen: dict[str, Any] = {
        "head": head,
        "origins": store.origins(),
        "entries": list(store.entries("BR")),
        "tail": list(store.entries("BR", 2)),
        "keys": store.keys("BR"),
        "checkpoints": store.checkpoints("BR"),
        "latest": store.latest_checkpoint("BR"),
        "tree": list(store.all_tree_nodes("BR")),
        "root": StoredTree(store, "BR").root(head.size) if head else None,
        "erasing": store.entry_seqs_of_kind("BR", "aeo.erase"),
        "agreements": store.agreement_entries(),
        "current": store.current_records(own),
        "payloads": outcome(store.current_payloads, own),
        "erased": store.erased_among(own),
        "final": store.final_records("BR", ["suspended", "revoked"], 2**62),
        "pending": store.pending_erasures("UY"),
        "views": store.views_of(theirs),
        "view agreements": sorted(store.view_agreements()),
        "by record": store.views_by_record(["MRA-1", "MRA-1,MRA-2"]),
        "counted": store.views_count("UY", range(8)),
        "access": store.access_rows(),
        "queries": store.access_rows(action="query", since=2),
        "first deliveries": store.access_rows(action="deliver", repeats=False),
        "deliveries of 2": store.access_rows(entry_seq=2, actor="peer:UY"),
        "access head": store.access_hash(store.access_size() - 1),
    }
    for aeo_id in own:
        seen[aeo_id] = (
            store.current_record(aeo_id),
            outcome(store.current_payload, aeo_id),
            store.own_versions(aeo_id),
            [store.version_at(aeo_id, ts) for ts in ([times[0] - 1, *times] if times else [])],
            store.erasures_of(aeo_id),
            store.erasure_of(aeo_id),
            store.purges_of(aeo_id),
        )
    for number in range(1, 5):
        for identifier in aeo(number).identifiers:
            seen[f"{identifier}"] = store.find_by_identifier(
                identifier.scheme.value, identifier.value
            )
    for number, aeo_id in enumerate(theirs, start=1):
        identifier = aeo(number, origin="UY").identifiers[0]
        seen[aeo_id] = (
            store.view_of(aeo_id),
            store.views_held(aeo_id),
            store.views_by_identifier(identifier.scheme.value, identifier.value),
            store.purges_of(aeo_id),
            [store.view_at("UY", seq) for seq in range(8)],
        )
    return seen


def test_views_held_before_their_identifiers_were_indexed_are_found_after_the_migration(
    tmp_path: Path, pg_cluster: Cluster
) -> None:
    """SQLite's schema 10 and PostgreSQL's 4 index the identifiers the views already held show
    (``view_ids``), as the append does for views received after them."""
    rows = [view_row(0, 1, "MRA-1"), view_row(1, 2, "MRA-1")]
    shown = aeo(2, origin="UY").identifiers[0]
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for migration in SQLITE_MIGRATIONS[:9]:
        for statement in migration:
            conn.execute(statement)
    conn.execute("PRAGMA user_version=9")
    conn.executemany("INSERT INTO views VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    old_pg = pg_cluster.database()
    with psycopg.connect(old_pg) as pg:
        pg.execute("CREATE TABLE mra_schema (version BIGINT PRIMARY KEY)")
        for version in (1, 2, 3):
            for statement in PG_MIGRATIONS[version - 1]:
                pg.execute(statement)
            pg.execute("INSERT INTO mra_schema (version) VALUES (%s)", (version,))
        pg.cursor().executemany("INSERT INTO views VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)
    try:
        for store in (SqliteStore.open(path), PostgresStore.open(old_pg)):
            try:
                assert store.views_by_identifier(shown.scheme.value, shown.value) == [
                    aeo(2, origin="UY").aeo_id
                ]
            finally:
                store.close()
    finally:
        pg_cluster.drop(old_pg)
