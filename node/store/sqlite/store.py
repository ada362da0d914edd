"""``SqliteStore``: one node's SQLite file, its table families sharing one connection, and the
access log's file beside it (``access_file``).

Each family is a module of functions over the shared ``Connection`` (``log``, ``records``,
``derived``, ``erasures``, ``replication``, ``local``, ``apikeys``, ``inspection``); this class
only opens the files and names those functions as its methods (``Tables``, and the inspection
of the files themselves), so one append is still one transaction whichever tables it writes,
and the store structurally satisfies every protocol of ``node.store.protocols``.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Self

import sqlite_utils

from node.core.errors import StorageFailed
from node.store.sqlite import access_index, apikeys, inspection, local
from node.store.sqlite.access_file import ACCESS_OBJECTS, AccessFile, on_access_file
from node.store.sqlite.connection import SqliteConnection, connect, connect_read_only
from node.store.sqlite.schema import ACCESS_MOVED, SCHEMA_VERSION
from node.store.sqlite.tables import Tables

if TYPE_CHECKING:
    from node.store.protocols import Store

__all__ = ["KEYS_SEEN", "SqliteStore"]

KEYS_SEEN = 64  # valid API keys remembered per connection while the file is unchanged
CHECK_MAP_BYTES = 1 << 31  # of the access file, mapped by the check of its index (SQLite's most)


class SqliteStore(SqliteConnection, Tables):
    """One node's SQLite file. Open with ``SqliteStore.open(path)``; close when done."""

    def __init__(
        self,
        db: sqlite_utils.Database,
        path: Path | str,
        access_file: AccessFile,
        *,
        mac_key: bytes | None = None,
    ) -> None:
        super().__init__(db, path, mac_key=mac_key)
        self.access_file = access_file
        # Per connection: the file's state when the keys were read, and the keys found valid.
        self._keys_seen: dict[
            sqlite3.Connection, tuple[tuple[int, int], dict[str, tuple[bytes, str]]]
        ] = {}

    @classmethod
    def open(cls, path: Path | str, *, durable: bool = True) -> Self:
        """Open (creating and migrating when needed) the node database at ``path``.

        ``durable=False`` is for the access log's writer only: its commits reach the WAL file
        without waiting for the disk (they survive a killed process; the next checkpoint syncs
        them, which a serving node runs every second, ``node.app.workers``), and it never
        checkpoints (``checkpoint_wal`` does, off the serving thread), so reads never wait on an
        fsync. The access log is in a file of its own beside ``path`` (``access_file``).

        Raises StorageFailed when the file cannot be opened or is newer than this software.
        """
        try:
            db = connect(path, durable=durable)
            mac_key, new_mac_key = apikeys.mac_key_for(path)
            store = cls(db, path, AccessFile.open(path, durable=durable), mac_key=mac_key)
            store.migrate()
            if new_mac_key:
                apikeys.seal_api_keys(store)
        except sqlite3.Error as exc:
            raise StorageFailed(f"cannot open {path}: {exc}") from exc
        except OSError as exc:
            raise StorageFailed(f"cannot open {path}: {exc.strerror or exc}") from exc
        return store

    @classmethod
    def open_read_only(cls, path: Path | str, *, mac_key_of: Path | str | None = None) -> Self:
        """Open an existing node database for reading only (continuous verification, a
        backup's check): this connection never writes, so it never checkpoints the WAL either,
        even on close, and it creates no file. API key rows are checked with the HMAC key kept
        beside ``mac_key_of`` (default: beside ``path``), when there is one.

        Raises StorageFailed when the file cannot be opened or its schema is not this
        software's."""
        try:
            db = connect_read_only(path)
            found = int(db.conn.execute("PRAGMA user_version").fetchone()[0])
            if found != SCHEMA_VERSION:
                db.conn.close()
                raise StorageFailed(f"{path} has schema {found}, not {SCHEMA_VERSION}")
            try:
                access = AccessFile.open_read_only(path)
            except BaseException:
                db.conn.close()
                raise
            store = cls(db, path, access, mac_key=apikeys.existing_mac_key(mac_key_of or path))
        except sqlite3.Error as exc:
            raise StorageFailed(f"cannot open {path}: {exc}") from exc
        except OSError as exc:
            raise StorageFailed(f"cannot open {path}: {exc.strerror or exc}") from exc
        return store

    def migrate(self, upto: int | None = None) -> None:
        """Every migration past the file's version; the access log's rows are copied into
        its own file before the migration that drops them here (``access_file``)."""
        if upto is None and self.schema_version < ACCESS_MOVED:
            super().migrate(upto=ACCESS_MOVED - 1)
            if self._separate_reads:  # a database in memory starts with an empty log
                self.access_file.take_rows_of(self.path)
        super().migrate(upto)

    def close(self) -> None:
        try:
            self.access_file.close()
        finally:
            super().close()

    # -- the access log, in its own file ---------------------------------------------------------
    append_access = on_access_file(access_index.append_access)
    access_size = on_access_file(local.access_size)
    access_hash = on_access_file(local.access_hash_at)
    access_chain = on_access_file(local.access_chain)
    access_rows = on_access_file(access_index.access_rows)

    def access_index_problems(self, *, limit: int) -> list[str]:
        """How the access log's index by AEO id differs from the log
        (``access_index.index_problems``), read on a connection of its own that maps the file:
        a look-up of the log per entry, 11 s at 7.8 million rows against 24 s without the map
        (issue 26)."""
        file = self.access_file
        if str(file.path) == ":memory:":  # one connection: the writer's, in a transaction
            with file.transaction():
                return access_index.index_problems(file.conn, limit=limit)
        with closing(connect_read_only(file.path).conn) as conn:
            conn.execute(f"PRAGMA mmap_size={CHECK_MAP_BYTES}")
            conn.execute("BEGIN")  # one snapshot, though the node may append meanwhile
            return access_index.index_problems(conn, limit=limit)

    def api_key(self, key_id: str) -> tuple[bytes, str] | None:
        """The hash and role of a key that is not revoked and whose row is intact
        (``apikeys.api_key``: one read and the row's HMAC), remembered for as long as nothing
        was committed to the file since it was read: every request is checked against the
        file as it is when the request comes, exactly as without the memory (issue 26: the
        key check was a fifth of a status query's time).

        ``PRAGMA data_version`` changes when another connection commits (a revocation, the
        access log's flush, an edit of the file by another program); ``total_changes``, when
        this one changes rows. The state is read before the row, so a key remembered was
        valid at or after that state; inside a ``read_transaction``, the state is the
        transaction's, the one the request's other reads see. Only valid keys are remembered,
        ``KEYS_SEEN`` at most per connection, so unknown keys sent by anyone cannot grow it."""
        conn = self.conn  # the calling thread's connection (``SqliteConnection._connection``)
        stamp = (conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes)
        held = self._keys_seen.get(conn)
        if held is None or held[0] != stamp:
            held = self._keys_seen[conn] = (stamp, {})
        found = held[1].get(key_id)
        if found is None:
            found = apikeys.api_key(self, key_id)
            if found is not None:
                if len(held[1]) >= KEYS_SEEN:
                    held[1].clear()
                held[1][key_id] = found
        return found

    # -- what verification reads about the files -------------------------------------------------
    def schema_objects(self) -> dict[tuple[str, str], str | None]:
        """Every table, index and trigger of both files, the access file's named
        ``access.<name>`` (``inspection.schema_objects``)."""
        held = inspection.schema_objects(self)
        for (kind, name), sql in inspection.schema_objects(self.access_file).items():
            held[(kind, f"{ACCESS_OBJECTS}{name}")] = sql
        return held

    def integrity_problems(self, *, quick: bool = False) -> list[str]:
        """SQLite's own check of both files (``inspection.integrity_problems``)."""
        found = inspection.integrity_problems(self, quick=quick)
        return found + [
            f"{self.access_file.path.name}: {problem}"
            for problem in inspection.integrity_problems(self.access_file, quick=quick)
        ]

    stray_origins = inspection.stray_origins
    derived_differences = inspection.derived_differences


if TYPE_CHECKING:
    _conforms: type[Store] = SqliteStore  # a method drifting from the protocols fails mypy
