"""The two roles of a PostgreSQL-backed node (``node.store.postgres.roles``) on the private
cluster: the runtime role appends and erases but cannot change, delete or unprotect the log;
the owner's rewrite leaves no erased byte; a node run as its owner is warned that only the
triggers stand."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from node.core.crypto import SigningKey
from node.core.errors import StorageFailed
from node.host.access_log import AccessLog
from node.ledger import erasure
from node.ledger.verification import verify_node
from node.ledger.writer import Ledger
from node.store.postgres import PostgresStore
from node.store.postgres.roles import append_only_warning, grant_runtime
from node.store.postgres.schema import MIGRATIONS
from tests.factories import TickingClock, record
from tests.integration.test_postgres_store import _table_files, published
from tests.pg import Cluster


def runtime_url(pg_cluster: Cluster, owner_url: str) -> str:
    """A new login role granted the runtime privileges on ``owner_url``'s database (made by
    its owner, the cluster's superuser here), and the URL of that database as that role."""
    database = conninfo_to_dict(owner_url)["dbname"]
    role = f"node_{database}"
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
    owner = PostgresStore.open(owner_url)
    try:
        grant_runtime(owner, role)
    finally:
        owner.close()
    return f"postgresql://{role}@/{database}?host={pg_cluster.root}"


@pytest.fixture
def runtime(pg_cluster: Cluster, pg_url: str) -> Iterator[str]:
    yield runtime_url(pg_cluster, pg_url)


REFUSED = [
    "UPDATE entries SET signature = '\\x00'",
    "DELETE FROM entries",
    "UPDATE payloads SET body = '\\x00'",
    "DELETE FROM payloads",
    "TRUNCATE payloads",
    "DELETE FROM views",
    "UPDATE aeo_versions SET ts = 0",
    "DELETE FROM aeo_versions",
    "DELETE FROM events",
    "UPDATE access_log SET actor = 'x'",
    "DELETE FROM access_log",
    "UPDATE keys SET public_key = '\\x00'",
    "DELETE FROM erasures",
    "DROP TRIGGER entries_append_only ON entries",
    "ALTER TABLE entries DISABLE TRIGGER entries_append_only",
    "ALTER TABLE payloads ADD COLUMN extra BIGINT",
    "DROP TABLE access_log",
    "CREATE OR REPLACE FUNCTION mra_append_only() RETURNS trigger LANGUAGE plpgsql"
    " AS $$ BEGIN RETURN OLD; END $$",
]


@pytest.mark.parametrize("statement", REFUSED)
def test_the_runtime_role_appends_but_may_not_change_or_unprotect_the_log(
    runtime: str, statement: str
) -> None:
    store = PostgresStore.open(runtime)
    try:
        published(store)  # appends, payloads, views, versions, events: as the runtime role
        trail = AccessLog(store, TickingClock())
        trail.record("officer", "read", "api", record(number=1).aeo_id)
        trail.flush()
        assert store.access_size() == 1
        before = [(e.body, e.signature, e.payload) for e in store.entries("BR")]
        assert len(before) == 2
        with (
            psycopg.connect(runtime) as conn,
            pytest.raises(
                psycopg.errors.InsufficientPrivilege, match=r"permission denied|must be owner"
            ),
        ):
            conn.execute(statement)
        assert [(e.body, e.signature, e.payload) for e in store.entries("BR")] == before
    finally:
        store.close()


def test_erasure_runs_through_the_owners_function_and_the_owners_rewrite_leaves_no_byte(
    runtime: str, pg_url: str
) -> None:
    store = PostgresStore.open(runtime, owner_url=pg_url)
    try:
        ledger = two_records(store)
        erased, kept = record(number=1), record(number=2)
        secret = erased.legal_name.encode()
        assert secret in _table_files(pg_url)
        erasure.erase(ledger, store, erased.aeo_id, "asked by the trader")
        assert not store.scrub_pending
        held = _table_files(pg_url)
        assert secret not in held
        assert kept.legal_name.encode() in held
        result = verify_node(store, own="BR")
        assert result.ok, result.damages
        # the function deletes only what an erasure names: the kept record's payload stays
        with pytest.raises(StorageFailed, match="erasure or purge"), store.transaction():
            store.conn.native("SELECT mra_erase_payload('BR', 1)")
        assert [e.payload is not None for e in store.entries("BR")] == [False, True, True]
    finally:
        store.close()


def test_without_the_owners_url_the_rewrite_is_left_pending_and_named(
    runtime: str, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = PostgresStore.open(runtime)
    try:
        ledger = published(store)
        secret = record(number=1).legal_name.encode()
        erasure.erase(ledger, store, record(number=1).aeo_id, "asked by the trader")
        assert store.current_record(record(number=1).aeo_id) is None  # erased for every read
        assert store.scrub_pending
        assert "VACUUM FULL payloads, views, aeo_current, trader_ids, view_ids" in caplog.text
        assert secret in _table_files(pg_url)  # the old row versions, until the owner's rewrite
    finally:
        store.close()
    owner = PostgresStore.open(pg_url)
    try:
        assert owner.scrub()
    finally:
        owner.close()
    assert secret not in _table_files(pg_url)


def test_verification_warns_when_the_node_owns_its_tables_only(runtime: str, pg_url: str) -> None:
    warnings = {}
    for name, url in (("owner", pg_url), ("runtime", runtime)):
        store = PostgresStore.open(url)
        try:
            if name == "runtime":
                two_records(store)
            warnings[name] = append_only_warning(store)
            assert verify_node(store, own="BR").ok  # a warning, not a damage
        finally:
            store.close()
    assert warnings["runtime"] is None
    assert warnings["owner"] is not None
    assert "append-only is enforced by triggers only" in warnings["owner"]


def two_records(store: PostgresStore) -> Ledger:
    """BR's ledger on ``store`` after publishing two records."""
    ledger = Ledger(store=store, origin="BR", key=SigningKey.generate(), clock=TickingClock())
    ledger.publish([record(number=1), record(number=2)])
    return ledger


def test_verification_names_an_erasing_function_replaced_by_the_owner(pg_url: str) -> None:
    store = PostgresStore.open(pg_url)
    try:
        two_records(store)
        assert verify_node(store, own="BR").ok
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(
                "CREATE OR REPLACE FUNCTION mra_erase_payload(row_origin TEXT, row_seq BIGINT)"
                " RETURNS void LANGUAGE sql SECURITY DEFINER AS $$ SELECT 1 $$"
            )
        damages = {(d.damage, d.detail) for d in verify_node(store, own="BR").damages}
        assert ("schema-altered", "function mra_erase_payload differs from its migration") in (
            damages
        )
    finally:
        store.close()


def test_a_temporary_table_of_the_runtime_role_cannot_stand_in_for_payloads(
    runtime: str, pg_url: str
) -> None:
    store = PostgresStore.open(runtime, owner_url=pg_url)
    try:
        ledger = two_records(store)
        erasure.erase(ledger, store, record(number=1).aeo_id, "asked by the trader")
        with psycopg.connect(runtime, autocommit=True) as conn:
            # a session of the runtime role puts its own "payloads" first on its path
            conn.execute("CREATE TEMPORARY TABLE payloads (origin TEXT, seq BIGINT)")
            conn.execute("INSERT INTO payloads VALUES ('BR', 1)")
            with pytest.raises(psycopg.errors.RaiseException, match="erasure or purge"):
                conn.execute("SELECT mra_erase_payload('BR', 1)")  # the real table's guard
            assert conn.execute("SELECT count(*) FROM pg_temp.payloads").fetchone() == (1,)
        assert [e.payload is not None for e in store.entries("BR")] == [False, True, True]
    finally:
        store.close()


@pytest.fixture
def release_2(pg_cluster: Cluster) -> Iterator[tuple[str, str]]:
    """A database as the release of schema version 2 left it (before the erasing functions),
    with a runtime role that release's operator granted SELECT and INSERT on each table and
    UPDATE, DELETE on the current state: the owner's URL and the runtime role's."""
    owner_url = pg_cluster.database()
    database = conninfo_to_dict(owner_url)["dbname"]
    role = f"node_{database}"
    with psycopg.connect(owner_url) as conn:
        conn.execute("CREATE TABLE mra_schema (version BIGINT PRIMARY KEY)")
        for version in (1, 2):
            for statement in MIGRATIONS[version - 1]:
                conn.execute(statement)
            conn.execute("INSERT INTO mra_schema (version) VALUES (%s)", (version,))
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        conn.execute(f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO {role}")
        conn.execute(f"GRANT UPDATE, DELETE ON aeo_current, trader_ids TO {role}")
        conn.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}")
    yield owner_url, f"postgresql://{role}@/{database}?host={pg_cluster.root}"
    pg_cluster.drop(owner_url)


def test_an_upgrade_opened_as_the_runtime_role_is_migrated_by_the_owner_and_granted_again(
    release_2: tuple[str, str],
) -> None:
    owner_url, runtime = release_2
    refused = pytest.raises(StorageFailed, match="MRA_DATABASE_OWNER_URL")
    with refused:  # the runtime role alone may not migrate: the error says what to set
        PostgresStore.open(runtime)
    store = PostgresStore.open(runtime, owner_url=owner_url)
    try:
        assert store.schema_current()
        assert append_only_warning(store) is None  # still the runtime role, not the owner
        ledger = two_records(store)
        ledger.publish([record(number=2, legal_name="Renamed Ltda")])  # UPDATE of the state
        # erasing needs EXECUTE on version 3's function: granted by the upgrade, not by hand
        erasure.erase(ledger, store, record(number=1).aeo_id, "asked by the trader")
        assert store.current_record(record(number=1).aeo_id) is None
        result = verify_node(store, own="BR")
        assert result.ok, result.damages
    finally:
        store.close()
    again = PostgresStore.open(runtime)  # once migrated, the runtime role opens it alone
    again.close()


def test_a_rebuild_on_the_runtime_role_runs_as_the_owner_when_its_url_is_known(
    runtime: str, pg_url: str
) -> None:
    alone = PostgresStore.open(runtime)
    try:
        two_records(alone)
        with pytest.raises(StorageFailed, match="permission denied"):
            alone.rebuild_derived("BR")  # emptying the versions is the owner's alone
    finally:
        alone.close()
    store = PostgresStore.open(runtime, owner_url=pg_url)
    try:
        assert store.rebuild_derived("BR") == 2
        assert store.current_record(record(number=2).aeo_id) == (1, record(number=2))
        result = verify_node(store, own="BR")
        assert result.ok, result.damages
    finally:
        store.close()
