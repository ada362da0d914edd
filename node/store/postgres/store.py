"""``PostgresStore``: one node's ledger in a PostgreSQL database, behind the same protocols
as ``SqliteStore`` and answering alike (the store contract suite runs against both).

The table families' SQL is SQLite's (``node.store.sqlite.tables``), run through
``node.store.postgres.dialect``; the schema is ``node.store.postgres.schema``. What this class
adds: opening a database by URL, and the claim of the one writer of the log before the first
append (``PgConnection.claim_writer``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit

import psycopg

from node.core.errors import OwnLogBehind, StorageFailed
from node.store.postgres import inspection, roles
from node.store.postgres.connection import PgConnection
from node.store.postgres.schema import SCHEMA_VERSION
from node.store.protocols import AppendBatch, PendingAppend
from node.store.rows import seqs_of
from node.store.sqlite import apikeys, derived, log
from node.store.sqlite import inspection as sqlite_inspection
from node.store.sqlite.tables import Tables

if TYPE_CHECKING:
    from node.store.protocols import Store

__all__ = ["PostgresStore", "redacted"]

logger = logging.getLogger(__name__)


def redacted(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


class PostgresStore(PgConnection, Tables):
    """One node's PostgreSQL database. Open with ``PostgresStore.open(url, home_db)``."""

    @classmethod
    def open(cls, url: str, path: Path | str = "", *, owner_url: str | None = None) -> Self:
        """Open (creating the schema and migrating when needed) the database at ``url``;
        ``path``: where the node's SQLite file would be, beside which the API keys' HMAC key
        is kept ("" keeps none: tests, benchmarks); ``owner_url``: the same database as the
        tables' owner when ``url`` is a runtime role's (``PgConnection``).

        A runtime role's database whose schema is older than this software (an upgrade) is
        migrated on ``owner_url`` and the runtime role granted again what the new schema's
        tables need (``roles.grant_runtime``), so an upgrade needs no step by hand.

        Raises StorageFailed when the server cannot be reached, the schema is newer than
        this software, or it is older and only a runtime role's URL is given."""
        try:
            mac_key, new_mac_key = apikeys.mac_key_for(path)
            store = cls(url, path, mac_key=mac_key, owner_url=owner_url)
            if not store.schema_current():
                if owner_url is not None:
                    _upgrade_as_owner(store, owner_url)
                elif not roles.may_migrate(store):
                    store.close()
                    raise StorageFailed(
                        f"cannot bring {redacted(url)} to schema version {SCHEMA_VERSION}: role"
                        f" {roles.current_role(store)} does not own its tables, and only their"
                        " owner may migrate them: set MRA_DATABASE_OWNER_URL to the owner's URL"
                        " (README: Operations, PostgreSQL)"
                    )
            store.migrate()
            if new_mac_key:
                apikeys.seal_api_keys(store)
        except psycopg.Error as exc:
            raise StorageFailed(f"cannot open {redacted(url)}: {exc}") from exc
        except OSError as exc:
            raise StorageFailed(f"cannot open {redacted(url)}: {exc.strerror or exc}") from exc
        return store

    def append(self, batch: AppendBatch | PendingAppend) -> None:
        """As ``SqliteStore.append``, by the one process that writes the log: the first
        append claims it. Raises WriterTaken when another process holds the claim.

        Raises OwnLogBehind when the database holds fewer entries of the batch's log than this
        process committed to it: the server it reconnected to lost them (a failover to an
        asynchronous standby that had not received them). Appending would sign their seqs
        again; the node's restart puts the log to its start guard (README, Operations)."""
        self.claim_writer()
        seqs = seqs_of(batch)
        first = seqs.start if seqs else None
        committed = self._committed.get(batch.origin, 0)
        if first is not None and first < committed and self.size(batch.origin) < committed:
            raise OwnLogBehind(
                f"the database holds {self.size(batch.origin)} entries of {batch.origin}'s log,"
                f" but this process committed {committed} before its session was replaced (a"
                " failover to a standby that had not received them?); nothing is appended:"
                " restart the node, whose start guard asks its peers for the log they hold"
            )
        log.append(self, batch)
        if seqs:
            self._committed[batch.origin] = seqs.stop

    def rebuild_derived(self, own: str | None) -> int:
        """As ``SqliteStore.rebuild_derived``, run as the tables' owner when this store is a
        runtime role's that knows the owner's URL: emptying the versions and events is the
        owner's alone (``roles.MUTABLE``)."""
        if self.owner_url is None or roles.owns_tables(self):
            return derived.rebuild_derived(self, own)
        owner = PostgresStore.open(self.owner_url)
        try:
            return owner.rebuild_derived(own)
        finally:
            owner.close()

    # -- what verification reads about the database ----------------------------------------------
    schema_problems = inspection.schema_problems
    stray_origins = sqlite_inspection.stray_origins
    derived_differences = inspection.derived_differences


def _upgrade_as_owner(runtime: PostgresStore, owner_url: str) -> None:
    """Migrate the database as its owner (a runtime role may create nothing), then grant
    ``runtime``'s role again what the migrated tables need (a migration may add tables and
    functions the earlier grant did not name)."""
    owner = PostgresStore.open(owner_url)
    try:
        if not roles.owns_tables(runtime):
            role = roles.current_role(runtime)
            roles.grant_runtime(owner, role)
            logger.info(
                "database migrated to schema version %d as its owner; role %s granted again",
                SCHEMA_VERSION,
                role,
            )
    finally:
        owner.close()


if TYPE_CHECKING:
    _conforms: type[Store] = PostgresStore  # a method drifting from the protocols fails mypy
