"""The connections a PostgreSQL-backed store shares among its table families.

Durability: every session runs with ``synchronous_commit=on``, so COMMIT returns only once the
transaction's WAL is flushed (to the standbys too when the server names synchronous ones); one
append is one transaction whichever tables it writes.

Connections: every transaction runs on one writer connection, one thread at a time, and first
takes a transaction-level advisory lock (``_WRITE_LOCK``): writes from every process on the
database are serialised as SQLite's ``BEGIN IMMEDIATE`` serialises them, so a batch reads the
head it continues under the lock. A thread's reads outside a transaction run on a read-only
connection of that thread's own (autocommit: each statement sees the last commit), so a batch
being written is neither seen nor waited for.

One writer of the log: ``claim_writer`` takes a session-level advisory lock (``_OWNER_LOCK``)
that the process appending to the logs holds until it closes; another process's claim is
refused (``WriterTaken``), never interleaved.

Reconnection (the server restarted, or a standby was promoted behind a multi-host URL): a
session found broken is replaced on its next use, never earlier. A read outside a transaction
is run again once on the new session (it changes nothing). A transaction whose session breaks
before its BEGIN is started on a new session; one that breaks after it fails (StorageFailed:
the append is not acknowledged, HTTP 503, and the client may retry it). The writer's new
session takes the writer lock again before anything else runs on it: if another process took
it meanwhile, the claim is refused (``WriterTaken``) and every append with it until that
process closes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from node.core.errors import StorageFailed
from node.store.postgres.schema import MIGRATIONS, SCHEMA_VERSION
from node.store.postgres.session import Session, connect, storage_error

__all__ = ["SCRUB_PENDING", "PgConnection", "WriterTaken"]

# Advisory lock keys (pg_advisory_lock takes a bigint; advisory locks are per database).
_WRITE_LOCK = 0x6D72_615F_7772  # "mra_wr": one write transaction at a time
_OWNER_LOCK = 0x6D72_615F_6F77  # "mra_ow": one process appends to the logs

_T = TypeVar("_T")
log = logging.getLogger(__name__)

_ERASED_TABLES = ("payloads", "views", "aeo_current", "trader_ids", "view_ids")
SCRUB_PENDING = (
    "erased rows stay in the table pages until their owner rewrites them: this node's database"
    " role does not own the tables and no MRA_DATABASE_OWNER_URL is set; run, as the owner,"
    f" 'VACUUM FULL {', '.join(_ERASED_TABLES)}' (or 'mra ledger scrub' with"
    " MRA_DATABASE_OWNER_URL set)"
)


class WriterTaken(StorageFailed):
    """Another process already writes this node's log on the same database."""


class PgConnection:
    """The writer, a reader per thread, and the transaction that makes one write atomic."""

    def __init__(
        self, url: str, path: Path | str, *, mac_key: bytes | None, owner_url: str | None = None
    ) -> None:
        """``url``: the database; ``path``: where the node's SQLite file would be (its home;
        the API keys' HMAC key is kept beside it); ``owner_url``: the same database as the
        tables' owner, for what only the owner may do (``scrub``), when ``url``'s role is a
        runtime role (``node.store.postgres.roles``). Raises psycopg.Error."""
        self.url = url
        self.owner_url = owner_url
        self.path = Path(path)
        self.mac_key = mac_key
        self.scrub_pending = False
        self._committed: dict[str, int] = {}  # origin -> its log's size after our last append
        self._writer = Session(url, read_only=False, retry=False)
        self._write_lock = threading.Lock()
        self._writing: int | None = None
        self._owner = False
        self._local = threading.local()
        self._readers: list[Session] = []
        self._readers_lock = threading.Lock()

    @property
    def conn(self) -> Session:
        """The calling thread's connection: the writer's inside a transaction that this thread
        holds, otherwise this thread's own reader."""
        if self._writing == threading.get_ident():
            return self._writer
        reader: Session | None = getattr(self._local, "reader", None)
        if reader is None:
            reader = self._local.reader = Session(self.url, read_only=True, retry=True)
            with self._readers_lock:
                self._readers.append(reader)
        return reader

    def dicts(self, sql: str, params: Sequence[object] = ()) -> Iterator[dict[str, Any]]:
        return iter(self.conn.dicts(sql, params))

    def rows_for(self, sql: str, ids: Sequence[str]) -> Iterator[Any]:
        """Every row of ``sql`` (whose ``IN ({marks})`` takes the ids) over ``ids``, 500 at a
        time, as ``SqliteConnection.rows_for``."""
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            yield from self.conn.execute(sql.format(marks=",".join("?" * len(chunk))), chunk)

    def transaction(self) -> _Transaction:
        return _Transaction(self)

    def claim_writer(self, *, wait: float = 2.0) -> None:
        """Become the one process that appends to this database's logs (held until close).
        A writer killed a moment ago may still hold the claim until the server sees its
        connection closed: the claim is retried for ``wait`` seconds.

        Raises WriterTaken when another process holds the claim."""
        if self._owner:
            return
        deadline = time.monotonic() + wait
        while True:
            with self._write_lock:
                if self._writer.raw.closed:
                    self._reconnect_writer()
                if self._owner or self._try_claim():
                    return
            if time.monotonic() >= deadline:
                raise _taken()
            time.sleep(0.1)

    def _try_claim(self) -> bool:
        """Take the writer lock on the writer's session if free (the caller holds
        ``_write_lock``)."""
        try:
            row = self._writer.raw.execute(
                "SELECT pg_try_advisory_lock(%s)", (_OWNER_LOCK,)
            ).fetchone()
        except psycopg.Error as exc:
            raise storage_error("cannot claim the writer lock", exc) from exc
        self._owner = bool(row and row[0])
        return self._owner

    def _reconnect_writer(self) -> None:
        """A new writer's session in place of a broken one (the caller holds
        ``_write_lock``); the writer lock, if this process held it, is taken again on it before
        anything else runs. Raises StorageFailed when no server accepts the session,
        WriterTaken when another process took the writer lock meanwhile."""
        held = self._owner
        self._owner = False
        self._writer.reconnect()
        if held and not self._try_claim():
            raise _taken()

    def scrub(self) -> bool:
        """Rewrite the tables erasures delete from (payloads, views, current state and trader
        identifiers) with ``VACUUM FULL``: a DELETE leaves the row's old version in the table's
        and its indexes' pages until then. The WAL and its archives still hold the bytes until
        they are recycled or expire (README, Operations). Reads of those tables wait for the
        rewrite.

        Only the tables' owner may rewrite them: on ``owner_url`` when given, else on this
        store's own session. When neither is the owner (a runtime role and no owner URL), the
        rewrite is left pending (``scrub_pending``, False returned) and a warning names the
        statement the operator must run as the owner: PostgreSQL itself would only skip the
        tables with a notice."""
        with self._write_lock:
            if self._writer.raw.closed:
                self._reconnect_writer()
            try:
                if self.owner_url is None:
                    done = _vacuum(self._writer.raw)
                else:
                    with connect(self.owner_url) as owner:
                        done = _vacuum(owner)
            except psycopg.Error as exc:
                raise StorageFailed(f"cannot rewrite the erased tables: {exc}") from exc
        if not done and not self.scrub_pending:
            log.warning(SCRUB_PENDING)
        self.scrub_pending = not done
        return done

    @property
    def schema_version(self) -> int:
        row = self.conn.native(
            "SELECT coalesce(max(version), 0) FROM mra_schema"
            " WHERE to_regclass('mra_schema') IS NOT NULL"
        ).fetchone()
        return int(row[0]) if row else 0

    def schema_current(self) -> bool:
        """Whether the database holds this software's schema, neither older nor absent."""
        present = self.conn.native("SELECT to_regclass('mra_schema') IS NOT NULL").fetchone()
        return bool(present and present[0]) and self.schema_version == SCHEMA_VERSION

    def migrate(self) -> None:
        """Apply every migration past the database's version, each in its own transaction.
        A database already up to date is only read: a runtime role, which may create nothing,
        opens it too."""
        if self.schema_current():
            return
        with self.transaction():
            self._writer.raw.execute(
                "CREATE TABLE IF NOT EXISTS mra_schema (version BIGINT PRIMARY KEY)"
            )
            row = self._writer.raw.execute(
                "SELECT coalesce(max(version), 0) FROM mra_schema"
            ).fetchone()
        current = int(row[0]) if row else 0
        if current > SCHEMA_VERSION:
            raise StorageFailed(
                f"database schema {current} is newer than this software ({SCHEMA_VERSION})"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                for statement in MIGRATIONS[version - 1]:
                    self._writer.raw.execute(statement)
                self._writer.raw.execute("INSERT INTO mra_schema (version) VALUES (%s)", (version,))

    @contextlib.contextmanager
    def read_transaction(self) -> Iterator[None]:
        """As ``SqliteConnection.read_transaction`` in name only: each statement of the block
        reads the last commit, as outside it. A transaction would cost two more round trips
        to the server for what, on SQLite, saves a lock per statement."""
        yield

    def change_mark(self) -> tuple[int, int]:
        """Changes whenever a transaction on this database commits, in any process (the
        ``mra_changes`` sequence, advanced after each commit): what is derived from the
        database may be kept until then."""
        row = self.conn.native("SELECT last_value, is_called FROM mra_changes").fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def close(self) -> None:
        with self._readers_lock:
            for reader in self._readers:
                reader.raw.close()
            self._readers.clear()
        self._writer.raw.close()


class _Transaction:
    """BEGIN, the write lock, ... COMMIT on the writer, one thread at a time, rolled back on
    any exception; psycopg errors -> StorageFailed (StorageFull when the server found no
    space)."""

    def __init__(self, store: PgConnection) -> None:
        self._store = store
        self._lock = store._write_lock

    @property
    def _raw(self) -> psycopg.Connection[Any]:
        return self._store._writer.raw

    def __enter__(self) -> None:
        self._lock.acquire()
        try:
            self._begin()
        except BaseException:
            self._lock.release()
            raise
        self._store._writing = threading.get_ident()

    def _begin(self) -> None:
        """BEGIN on the writer's session, on a new one if it broke before (nothing of this
        transaction was sent yet), then the write lock."""
        if self._raw.closed:
            self._store._reconnect_writer()
        try:
            self._raw.execute("BEGIN")
        except psycopg.Error as exc:
            if not self._raw.broken:
                raise storage_error("cannot start a transaction", exc) from exc
            self._store._reconnect_writer()
            try:
                self._raw.execute("BEGIN")
            except psycopg.Error as again:
                raise storage_error("cannot start a transaction", again) from again
        try:
            self._raw.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
        except psycopg.Error as exc:
            self._rollback()
            raise storage_error("cannot start a transaction", exc) from exc

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            if exc is None:
                try:
                    self._raw.execute("COMMIT")
                except psycopg.Error as error:
                    self._rollback()
                    raise storage_error("commit failed", error) from error
                self._advance_mark()
            else:
                self._rollback()
                if isinstance(exc, psycopg.Error):
                    raise storage_error("database error", exc) from exc
        finally:
            self._store._writing = None
            self._lock.release()

    def _advance_mark(self) -> None:
        # After the commit, so a reader that sees the new mark sees the new rows too.
        try:
            self._raw.execute("SELECT nextval(to_regclass('mra_changes'))")
        except psycopg.Error as exc:
            raise storage_error("committed, but cannot mark the change", exc) from exc

    def _rollback(self) -> None:
        if self._raw.closed:
            return
        # A broken connection refuses ROLLBACK: the server rolled the transaction back.
        with contextlib.suppress(psycopg.Error):
            self._raw.execute("ROLLBACK")


def _vacuum(raw: psycopg.Connection[Any]) -> bool:
    """``VACUUM FULL`` of the erased tables on ``raw`` if its role owns them all (False, nothing
    done, if not)."""
    row = raw.execute(
        "SELECT bool_and(r.rolsuper OR pg_has_role(current_user, c.relowner, 'USAGE'))"
        " FROM pg_roles r, pg_class c WHERE r.rolname = current_user"
        " AND c.oid = ANY(ARRAY[%s, %s, %s, %s, %s]::regclass[])",
        _ERASED_TABLES,
    ).fetchone()
    if not (row and row[0]):
        return False
    raw.execute(f"VACUUM FULL {', '.join(_ERASED_TABLES)}")
    return True


def _taken() -> WriterTaken:
    return WriterTaken(
        "another process already writes this node's log on this database (it holds the writer"
        " lock); stop it first: two writers would fork the log"
    )
