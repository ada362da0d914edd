"""``SqliteStore``: one node's SQLite file, its table families sharing one connection.

Each family is a module of functions over the shared ``Connection`` (``log``, ``records``,
``derived``, ``erasures``, ``replication``, ``local``, ``apikeys``, ``inspection``); this class
only opens the file and names those functions as its methods (``Tables``, and the inspection
of the file itself), so one append is still one transaction whichever tables it writes, and the
store structurally satisfies every protocol of ``node.store.protocols``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Self

import sqlite_utils

from node.core.errors import StorageFailed
from node.store.sqlite import apikeys, inspection
from node.store.sqlite.connection import SqliteConnection, connect, connect_read_only
from node.store.sqlite.schema import SCHEMA_VERSION
from node.store.sqlite.tables import Tables

if TYPE_CHECKING:
    from node.store.protocols import Store

__all__ = ["KEYS_SEEN", "SqliteStore"]

KEYS_SEEN = 64  # valid API keys remembered per connection while the file is unchanged


class SqliteStore(SqliteConnection, Tables):
    """One node's SQLite file. Open with ``SqliteStore.open(path)``; close when done."""

    def __init__(
        self, db: sqlite_utils.Database, path: Path | str = "", *, mac_key: bytes | None = None
    ) -> None:
        super().__init__(db, path, mac_key=mac_key)
        # Per connection: the file's state when the keys were read, and the keys found valid.
        self._keys_seen: dict[
            sqlite3.Connection, tuple[tuple[int, int], dict[str, tuple[bytes, str]]]
        ] = {}

    @classmethod
    def open(cls, path: Path | str, *, durable: bool = True) -> Self:
        """Open (creating and migrating when needed) the node database at ``path``.

        ``durable=False`` is for the access log's writer only: its commits reach the WAL file
        without waiting for the disk (they survive a killed process; the next durable commit's
        sync covers them against power loss), and it never checkpoints (``checkpoint_wal`` does,
        off the serving thread), so reads never wait on an fsync.

        Raises StorageFailed when the file cannot be opened or is newer than this software.
        """
        try:
            db = connect(path, durable=durable)
            mac_key, new_mac_key = apikeys.mac_key_for(path)
            store = cls(db, path, mac_key=mac_key)
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
            store = cls(db, path, mac_key=apikeys.existing_mac_key(mac_key_of or path))
            found = store.schema_version
            if found != SCHEMA_VERSION:
                db.conn.close()
                raise StorageFailed(f"{path} has schema {found}, not {SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise StorageFailed(f"cannot open {path}: {exc}") from exc
        except OSError as exc:
            raise StorageFailed(f"cannot open {path}: {exc.strerror or exc}") from exc
        return store

    def api_key(self, key_id: str) -> tuple[bytes, str] | None:
        """The hash and role of a key that is not revoked and whose row is intact
        (``apikeys.api_key``: one read and the row's HMAC), remembered for as long as nothing
        was committed to the file since it was read: every request is checked against the
        file as it is when the request comes, exactly as without the memory (issue 26: the
        key check was a fifth of a status query's time).

        ``PRAGMA data_version`` changes when another connection commits (a revocation, the
        access log's flush, an edit of the file by another program); ``total_changes``, when
        this one changes rows. The state is read before the row, so a key remembered was
        valid at or after that state. Only valid keys are remembered, ``KEYS_SEEN`` at most
        per connection, so unknown keys sent by anyone cannot grow it."""
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

    # -- what verification reads about the file --------------------------------------------------
    schema_objects = inspection.schema_objects
    integrity_problems = inspection.integrity_problems
    stray_origins = inspection.stray_origins
    derived_differences = inspection.derived_differences


if TYPE_CHECKING:
    _conforms: type[Store] = SqliteStore  # a method drifting from the protocols fails mypy
