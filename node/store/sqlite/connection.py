"""The one connection every table family of a node's SQLite file shares.

Durability: WAL with ``synchronous=FULL``, so a committed transaction has reached the disk before
it returns; one append is one transaction (group commit) whichever tables it writes.

Connections: every transaction runs on one writer connection, one thread at a time; a thread's
reads outside a transaction run on a read-only connection of that thread's own. A batch being
written on the node's writer thread is thus invisible to, and never waited for by, the reads
on the event loop (WAL: a reader sees the last commit).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.request import pathname2url

import sqlite_utils

from node.core.errors import StorageFailed, StorageFull
from node.store.sqlite.schema import MIGRATIONS

__all__ = [
    "Connection",
    "Cursor",
    "SqlConnection",
    "SqliteConnection",
    "connect",
    "connect_read_only",
]

READER_MAP_BYTES = 1 << 40  # of a file mapped by each reader: all of it, up to SQLite's cap
# Identifier lookups are keyed by random-looking values; a larger page cache keeps their
# B-tree in memory as the registry grows.
PAGE_CACHE_KIB = 65536


def connect(
    path: Path | str, *, durable: bool, cache_kib: int = PAGE_CACHE_KIB
) -> sqlite_utils.Database:
    """The writer connection to the file at ``path`` (created when missing), with a page cache
    of up to ``cache_kib``; see ``SqliteStore.open`` for ``durable``. Raises sqlite3.Error."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    db = sqlite_utils.Database(conn)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before we acknowledge it, even on power loss.
    conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    if not durable:
        conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("PRAGMA busy_timeout=10000")
    # A WAL reset after a checkpoint truncates the file back to 64 MiB at most.
    conn.execute("PRAGMA journal_size_limit=67108864")
    conn.execute(f"PRAGMA cache_size=-{cache_kib}")
    conn.execute("PRAGMA foreign_keys=ON")
    # Deleted content is overwritten with zeros, so an erased payload leaves no bytes
    # in the file's free space.
    conn.execute("PRAGMA secure_delete=ON")
    return db


def connect_read_only(path: Path | str) -> sqlite_utils.Database:
    """A connection that never writes, so it never checkpoints the WAL either, even on close.
    Raises sqlite3.Error."""
    conn = sqlite3.connect(
        f"file:{pathname2url(str(Path(path).resolve()))}?mode=ro",
        uri=True,
        isolation_level=None,
        check_same_thread=False,
    )
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA cache_size=-16384")
    return sqlite_utils.Database(conn)


class Cursor(Protocol):
    """What the table families read from a statement's result (DB-API 2.0)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchmany(self, size: int = ...) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class SqlConnection(Protocol):
    """What the table families run statements on: ``sqlite3.Connection``, or a connection
    that takes the same SQL (``node.store.postgres.dialect`` translates it)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...


class Connection(Protocol):
    """What every table family (``log``, ``records``, ...) takes: the calling thread's
    connection, dict rows, chunked ``IN`` lookups and the transaction that makes one write of
    several families atomic. ``SqliteConnection`` is one; ``node.store.postgres`` has the
    other."""

    mac_key: bytes | None

    @property
    def path(self) -> Path: ...

    @property
    def conn(self) -> SqlConnection: ...

    def dicts(self, sql: str, params: Sequence[object] = ()) -> Iterator[dict[str, Any]]: ...

    def rows_for(self, sql: str, ids: Sequence[str]) -> Iterator[Any]: ...

    def transaction(self) -> AbstractContextManager[None]: ...


class SqliteConnection:
    """The connection state the table families share: the writer, a reader per thread, and
    the transaction that makes one write of several families atomic."""

    migrations: tuple[tuple[str, ...], ...] = MIGRATIONS  # the file's schema, in order
    reader_map_bytes = READER_MAP_BYTES  # of the file each reader maps (see ``_open_reader``)
    cache_kib = PAGE_CACHE_KIB  # of each reader's page cache

    def __init__(
        self, db: sqlite_utils.Database, path: Path | str = "", *, mac_key: bytes | None = None
    ) -> None:
        """``db``: the connection every transaction runs on. With a ``path``, reads outside a
        transaction run on a connection of their own per thread (see ``_connection``).
        ``mac_key``: the key of the API key rows' HMAC (None: rows are not checked)."""
        self.path = Path(path)
        self._writer_db = db
        self._writer: sqlite3.Connection = db.conn
        self._write_lock = threading.Lock()
        self.mac_key = mac_key
        self._writing: int | None = None  # the thread inside a transaction on ``_writer``
        self._separate_reads = str(path) not in ("", ":memory:")
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self.scrub_pending = False

    @property
    def conn(self) -> sqlite3.Connection:
        """The calling thread's connection (see ``_connection``)."""
        return self._connection().conn

    def dicts(self, sql: str, params: Sequence[object] = ()) -> Iterator[dict[str, Any]]:
        """The rows of ``sql`` as dicts, on the calling thread's connection."""
        return iter(self._connection().query(sql, params))

    def _connection(self) -> sqlite_utils.Database:
        """The connection for the calling thread: the writer's inside a transaction that this
        thread holds, otherwise this thread's reader. A write may run on a worker thread for
        seconds (a batch of 10,000 records): readers on other threads must neither see its
        uncommitted rows, which they would on the writer's connection, nor wait for it, and
        WAL gives each reader the last committed state without waiting."""
        if not self._separate_reads or self._writing == threading.get_ident():
            return self._writer_db
        reader: sqlite_utils.Database | None = getattr(self._local, "reader", None)
        if reader is None:
            reader = self._local.reader = self._open_reader()
        return reader

    def _open_reader(self) -> sqlite_utils.Database:
        try:
            conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute(f"PRAGMA cache_size=-{self.cache_kib}")
            conn.execute("PRAGMA query_only=ON")  # a write outside a transaction is a bug
            # Mapped, a lookup reads its pages in place in the OS's page cache: at 1M records
            # it took about half the time (issue 26), but more than unmapped beside another
            # connection committing to the same file every 50 ms, which is why the access
            # log's commits go to a file of their own (``access_file``). SQLite caps the map
            # at its build's limit (2 GiB by default); the rest of a larger file is read as
            # before.
            conn.execute(f"PRAGMA mmap_size={self.reader_map_bytes}")
        except sqlite3.Error as exc:
            raise StorageFailed(f"cannot open {self.path} for reading: {exc}") from exc
        with self._readers_lock:
            self._readers.append(conn)
        return sqlite_utils.Database(conn)

    def close(self) -> None:
        with self._readers_lock:
            for reader in self._readers:
                reader.close()
            self._readers.clear()
        self._writer.close()

    def checkpoint_on_commit(self, on: bool) -> None:
        """Whether a commit that leaves more than 1,000 pages in the WAL copies them back into
        the database (SQLite's default), or leaves that to ``checkpoint_wal`` (a serving node's
        worker, on a thread of its own: the copy syncs the database file, which on a busy disk
        took up to 0.2 s inside the commit that ran it). Durability is the same either way:
        a commit is on disk once it is in the synced WAL."""
        with self._write_lock:  # on the writer's connection, with no transaction open on it
            try:
                self._writer.execute(f"PRAGMA wal_autocheckpoint={1000 if on else 0}")
            except sqlite3.Error as exc:
                raise StorageFailed(f"cannot set checkpoints of {self.path}: {exc}") from exc

    @staticmethod
    def checkpoint_wal(path: Path | str) -> None:
        """Copy the WAL back into the database file without blocking readers or writers
        (a passive checkpoint, on its own connection: safe from any thread)."""
        try:
            conn = sqlite3.connect(str(path), isolation_level=None)
            try:
                conn.execute("PRAGMA busy_timeout=1000")
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise StorageFailed(f"cannot checkpoint {path}: {exc}") from exc

    def scrub(self) -> bool:
        """Copy the WAL into the database and truncate it to zero bytes, so no old copy of an
        erased row stays in it; False when a reader kept it from completing (try again)."""
        with self._write_lock:  # on the writer's connection, with no transaction open on it
            try:
                self._writer.execute("PRAGMA busy_timeout=2000")
                busy = self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.Error as exc:
                raise StorageFailed(f"cannot checkpoint {self.path}: {exc}") from exc
            finally:
                self._writer.execute("PRAGMA busy_timeout=10000")
        self.scrub_pending = bool(busy)
        return not busy

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self, upto: int | None = None) -> None:
        """Apply every migration of ``migrations`` past the file's version (up to ``upto``
        only, when given), each in its own transaction."""
        newest = len(self.migrations)
        current = self.schema_version
        if current > newest:
            raise StorageFailed(
                f"database schema {current} of {self.path} is newer than this software ({newest})"
            )
        for version in range(current + 1, (upto or newest) + 1):
            with self.transaction():
                for statement in self.migrations[version - 1]:
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version={version}")

    def change_mark(self) -> tuple[int, int]:
        """Changes whenever this store's database changes, by this connection or another:
        what is derived from it may be kept until then."""
        other = self.conn.execute("PRAGMA data_version").fetchone()[0]
        return int(other), self.conn.total_changes

    @contextmanager
    def read_transaction(self) -> Iterator[None]:
        """The calling thread's reads inside the block all see one state of the file: one
        read transaction on its reader. Besides that, it is cheaper: each statement outside a
        transaction takes and releases the WAL's read lock on its own, which a served status
        query (its key check, then its record) did twice (issue 26). Inside this thread's
        write transaction, or on a file in memory, the block runs as it is."""
        conn = self.conn
        # In this thread's write transaction (``conn`` is then the writer) or an enclosing
        # block, one is open already; a file in memory has one connection, the writer's.
        if not self._separate_reads or conn.in_transaction:
            yield
            return
        conn.execute("BEGIN")
        try:
            yield
        finally:
            # Nothing is written on a reader (query_only), so ROLLBACK ends the transaction as
            # COMMIT would, and even with a statement still open. After some I/O errors SQLite
            # has ended it already: a second end would raise and hide the error that matters.
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def rows_for(self, sql: str, ids: Sequence[str]) -> Iterator[Any]:
        """Every row of ``sql`` (whose ``IN ({marks})`` takes the ids) over ``ids``, 500 at a
        time, well inside SQLite's limit on bound parameters."""
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            yield from self.conn.execute(sql.format(marks=",".join("?" * len(chunk))), chunk)

    def transaction(self) -> _Transaction:
        """BEGIN IMMEDIATE ... COMMIT around a ``with`` block (see ``_Transaction``)."""
        return _Transaction(self)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT on the store's writer connection, by one thread at a time,
    rolled back on any exception; sqlite errors -> StorageFailed (StorageFull when the write
    found no space)."""

    def __init__(self, store: SqliteConnection) -> None:
        self._store = store
        self._conn = store._writer
        self._lock = store._write_lock

    def __enter__(self) -> None:
        self._lock.acquire()
        try:
            # Only this class opens transactions on the connection, under the lock: one still
            # open here was left by a rollback that failed, and would refuse every later BEGIN.
            self._rollback()
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._lock.release()
            raise _storage_error("cannot start a transaction", exc) from exc
        self._store._writing = threading.get_ident()

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            if exc is None:
                try:
                    self._conn.execute("COMMIT")
                except sqlite3.Error as error:
                    self._rollback(quietly=True)
                    raise _storage_error("commit failed", error) from error
            else:
                self._rollback(quietly=True)
                if isinstance(exc, sqlite3.Error):
                    raise _storage_error("database error", exc) from exc
        finally:
            self._store._writing = None
            self._lock.release()

    def _rollback(self, *, quietly: bool = False) -> None:
        # After SQLITE_FULL or an I/O error SQLite may already have rolled the transaction back
        # (https://www.sqlite.org/lang_transaction.html, "Response To Errors Within A
        # Transaction"): a second ROLLBACK would raise and hide the error that matters. One
        # that fails ``quietly`` leaves the transaction to the next ``__enter__``, which retries.
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                if not quietly:
                    raise


# Extended result codes of a write that found no room: SQLITE_FULL (ENOSPC), and the unix VFS's
# SQLITE_IOERR_WRITE and SQLITE_IOERR_SHMSIZE, which is how a write or a growth of the
# shared-memory file refused with EFBIG (the process's file-size limit) reaches us.
_NO_SPACE = frozenset({13, 778, 4874})


def _storage_error(what: str, exc: sqlite3.Error) -> StorageFailed:
    if getattr(exc, "sqlite_errorcode", None) in _NO_SPACE:
        return StorageFull(f"{what}: {exc} (the disk is full or the file-size limit reached)")
    return StorageFailed(f"{what}: {exc}")
