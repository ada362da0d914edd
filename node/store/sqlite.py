"""The node's SQLite file: the append-only log, payloads, the stored Merkle tree, checkpoints,
and derived tables (current state per AEO, lookups by trader identifier).

Durability: WAL with ``synchronous=FULL``, so a committed transaction has reached the disk before
``append`` returns; one batch is one transaction (group commit). Triggers refuse UPDATE and DELETE
on the log tables; payloads may only be deleted (erasure). Derived tables can be dropped and
rebuilt from the log at any time (``rebuild_derived``). The schema version lives in
``PRAGMA user_version`` and ``MIGRATIONS`` moves a file forward one version at a time.

Connections: every transaction runs on one writer connection, one thread at a time; a thread's
reads outside a transaction run on a read-only connection of that thread's own. A batch being
written on the node's writer thread is thus invisible to, and never waited for by, the reads
on the event loop (WAL: a reader sees the last commit).

Tree nodes are keyed by the leaf that completes them (``last_leaf``), so appends write sequential
keys and a full scan returns nodes in the order an append-only builder emits them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

import orjson
import sqlite_utils

from node.core.access import ACCESS_FIELDS, ACCESS_GENESIS, Access, access_hash
from node.core.canonical import canonical_json, parse_json
from node.core.crypto import PublicKey
from node.core.documents import Erasure, Purge
from node.core.entries import (
    ERASURE_KINDS,
    RECORD_KINDS,
    EntryHeader,
    EntryKind,
    entry_hash,
    payload_commitment,
)
from node.core.errors import IntegrityError, StorageFailed, StorageFull, WriteRaced
from node.core.records import AeoRecord
from node.core.walk import key_in_force
from node.store.protocols import AppendBatch, Deletion, Head, StoredEntry

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SqliteStore"]

_LOG_TABLES = ("keys", "entries", "tree_nodes", "checkpoints")


def _append_only(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
    ]


MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # version 1
    (
        "CREATE TABLE keys (origin TEXT NOT NULL, since_seq INTEGER NOT NULL,"
        " public_key BLOB NOT NULL, PRIMARY KEY (origin, since_seq)) WITHOUT ROWID",
        "CREATE TABLE entries (origin TEXT NOT NULL, seq INTEGER NOT NULL, body BLOB NOT NULL,"
        " signature BLOB NOT NULL, PRIMARY KEY (origin, seq)) WITHOUT ROWID",
        "CREATE TABLE payloads (origin TEXT NOT NULL, seq INTEGER NOT NULL, salt BLOB NOT NULL,"
        " body BLOB NOT NULL, PRIMARY KEY (origin, seq)) WITHOUT ROWID",
        "CREATE TABLE tree_nodes (origin TEXT NOT NULL, last_leaf INTEGER NOT NULL,"
        " level INTEGER NOT NULL, hash BLOB NOT NULL,"
        " PRIMARY KEY (origin, last_leaf, level)) WITHOUT ROWID",
        "CREATE TABLE checkpoints (origin TEXT NOT NULL, size INTEGER NOT NULL,"
        " note BLOB NOT NULL, PRIMARY KEY (origin, size)) WITHOUT ROWID",
        "CREATE TABLE aeo_current (aeo_id TEXT PRIMARY KEY, origin TEXT NOT NULL,"
        " seq INTEGER NOT NULL, ts INTEGER NOT NULL, status TEXT NOT NULL,"
        " certificate TEXT NOT NULL, legal_name TEXT NOT NULL) WITHOUT ROWID",
        "CREATE TABLE trader_ids (scheme TEXT NOT NULL, value TEXT NOT NULL,"
        " aeo_id TEXT NOT NULL, PRIMARY KEY (scheme, value, aeo_id)) WITHOUT ROWID",
        "CREATE INDEX trader_ids_by_aeo ON trader_ids (aeo_id)",
        *(stmt for table in _LOG_TABLES for stmt in _append_only(table)),
        "CREATE TRIGGER payloads_no_update BEFORE UPDATE ON payloads "
        "BEGIN SELECT RAISE(ABORT, 'payloads can only be erased, not changed'); END",
    ),
    # version 2: agreement entries indexed (derived), so the lifecycle needs no full scan
    (
        "CREATE TABLE agreement_entries (origin TEXT NOT NULL, seq INTEGER NOT NULL,"
        " PRIMARY KEY (origin, seq)) WITHOUT ROWID",
        "INSERT INTO agreement_entries (origin, seq) SELECT origin, seq FROM entries"
        ' WHERE CAST(body AS TEXT) LIKE \'%"kind":"agreement.%\'',
    ),
    # version 3: API keys for the local API, stored as SHA-256 hashes only
    (
        "CREATE TABLE api_keys (key_id TEXT PRIMARY KEY, key_hash BLOB NOT NULL,"
        " role TEXT NOT NULL, label TEXT NOT NULL, created_ts INTEGER NOT NULL,"
        " revoked INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID",
    ),
    # version 4: replication. Views of partners' records (signed by their origin), checkpoints
    # cosigned by witnesses, fork evidence (an origin is frozen while its evidence is open),
    # and how far deliveries from each origin have been fetched.
    (
        "CREATE TABLE views (origin TEXT NOT NULL, seq INTEGER NOT NULL, aeo_id TEXT NOT NULL,"
        " agreements TEXT NOT NULL, body BLOB NOT NULL, signature BLOB NOT NULL,"
        " received_ts INTEGER NOT NULL, PRIMARY KEY (origin, seq)) WITHOUT ROWID",
        "CREATE INDEX views_by_aeo ON views (aeo_id, seq)",
        "CREATE TABLE cosignatures (origin TEXT NOT NULL, size INTEGER NOT NULL,"
        " witness TEXT NOT NULL, line TEXT NOT NULL,"
        " PRIMARY KEY (origin, size, witness)) WITHOUT ROWID",
        "CREATE TABLE forks (id INTEGER PRIMARY KEY, origin TEXT NOT NULL,"
        " evidence BLOB NOT NULL UNIQUE, found_ts INTEGER NOT NULL, reported_by TEXT NOT NULL,"
        " resolved_ts INTEGER, resolution TEXT)",
        "CREATE TABLE delivery_cursors (origin TEXT PRIMARY KEY, next_seq INTEGER NOT NULL)"
        " WITHOUT ROWID",
    ),
    # version 5: every version of each own AEO record with its entry time (derived), for
    # queries as of a point in time
    (
        "CREATE TABLE aeo_versions (aeo_id TEXT NOT NULL, seq INTEGER NOT NULL,"
        " ts INTEGER NOT NULL, PRIMARY KEY (aeo_id, seq)) WITHOUT ROWID",
        "INSERT INTO aeo_versions (aeo_id, seq, ts) SELECT c.aeo_id, e.seq,"
        " json_extract(CAST(e.body AS TEXT), '$.ts') FROM entries e"
        " JOIN payloads p ON p.origin = e.origin AND p.seq = e.seq"
        " JOIN aeo_current c ON c.origin = e.origin"
        " AND c.aeo_id = json_extract(CAST(p.body AS TEXT), '$.aeo_id')",
    ),
    # version 6: the hash-chained access log (append-only); status events for webhooks and
    # the event stream (an outbox written with the change); webhook subscriptions and every
    # delivery attempt
    (
        "CREATE TABLE access_log (seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL,"
        " actor TEXT NOT NULL, action TEXT NOT NULL, channel TEXT NOT NULL,"
        " aeo_id TEXT NOT NULL, agreements TEXT NOT NULL, hash BLOB NOT NULL)",
        "CREATE INDEX access_by_aeo ON access_log (aeo_id, seq)",
        *_append_only("access_log"),
        "CREATE TABLE events (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL,"
        " aeo_id TEXT NOT NULL, origin TEXT NOT NULL, seq INTEGER NOT NULL,"
        " status TEXT NOT NULL, previous TEXT, effective TEXT)",
        "CREATE INDEX events_by_aeo ON events (aeo_id, origin, seq)",
        "CREATE TABLE webhooks (id TEXT PRIMARY KEY, url TEXT NOT NULL, secret TEXT NOT NULL,"
        " created_ts INTEGER NOT NULL, next_event INTEGER NOT NULL,"
        " removed INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID",
        "CREATE TABLE webhook_attempts (id INTEGER PRIMARY KEY, webhook TEXT NOT NULL,"
        " event INTEGER NOT NULL, attempt INTEGER NOT NULL, ts INTEGER NOT NULL,"
        " status INTEGER, error TEXT, delivered INTEGER NOT NULL)",
        "CREATE INDEX webhook_attempts_by_hook ON webhook_attempts (webhook, id)",
    ),
    # version 7: erasures and purges held here (derived from their entries' payloads), so an
    # origin can show who confirmed an erasure and a partner knows which ones it must answer
    (
        "CREATE TABLE erasures (origin TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL,"
        " aeo_id TEXT NOT NULL, basis TEXT NOT NULL, reason TEXT NOT NULL,"
        " partners TEXT NOT NULL, origin_copy INTEGER NOT NULL, entries TEXT NOT NULL,"
        " PRIMARY KEY (origin, seq)) WITHOUT ROWID",
        "CREATE INDEX erasures_by_aeo ON erasures (aeo_id)",
        "CREATE TABLE purges (origin TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL,"
        " of_origin TEXT NOT NULL, aeo_id TEXT NOT NULL, erasure INTEGER, reason TEXT NOT NULL,"
        " views INTEGER NOT NULL, entries TEXT NOT NULL, PRIMARY KEY (origin, seq)) WITHOUT ROWID",
        "CREATE INDEX purges_by_erasure ON purges (of_origin, erasure)",
        "CREATE INDEX purges_by_aeo ON purges (aeo_id)",
    ),
    # version 8: received views are append-only like the log: a view is deleted only by the
    # purge that names it, a payload only by the erasure or purge that names it; API keys carry
    # an HMAC under a key kept in the node's home, so an edit of the file alone is refused
    (
        "CREATE TRIGGER views_no_update BEFORE UPDATE ON views "
        "BEGIN SELECT RAISE(ABORT, 'views are append-only'); END",
        "CREATE TRIGGER views_no_delete BEFORE DELETE ON views WHEN NOT EXISTS (SELECT 1"
        " FROM purges p, json_each(p.entries) j WHERE p.of_origin = OLD.origin"
        " AND p.aeo_id = OLD.aeo_id AND j.value = OLD.seq) "
        "BEGIN SELECT RAISE(ABORT, 'views are deleted only by a purge naming them'); END",
        "CREATE TRIGGER payloads_no_delete BEFORE DELETE ON payloads WHEN NOT EXISTS (SELECT 1"
        " FROM erasures e, json_each(e.entries) j WHERE e.origin = OLD.origin"
        " AND j.value = OLD.seq) AND NOT EXISTS (SELECT 1 FROM purges p, json_each(p.entries) j"
        " WHERE p.of_origin = OLD.origin AND j.value = OLD.seq) "
        "BEGIN SELECT RAISE(ABORT, 'payloads are deleted only by an erasure or purge'); END",
        "ALTER TABLE api_keys ADD COLUMN mac BLOB",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
# Each derived table with the columns that name a row (its key, first in its columns).
DERIVED_KEYS = {
    "aeo_current": "aeo_id",
    "aeo_versions": "aeo_id, seq",
    "trader_ids": "scheme, value, aeo_id",
    "agreement_entries": "origin, seq",
    "erasures": "origin, seq",
    "purges": "origin, seq",
}
DERIVED_TABLES = tuple(DERIVED_KEYS)


class SqliteStore:
    """One node's SQLite file. Open with ``SqliteStore.open(path)``; close when done."""

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
        self._mac_key = mac_key
        self._writing: int | None = None  # the thread inside a transaction on ``_writer``
        self._separate_reads = str(path) not in ("", ":memory:")
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self.scrub_pending = False

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._connection().conn

    @property
    def _db(self) -> sqlite_utils.Database:
        return self._connection()

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
            conn.execute("PRAGMA cache_size=-65536")
            conn.execute("PRAGMA query_only=ON")  # a write outside a transaction is a bug
        except sqlite3.Error as exc:
            raise StorageFailed(f"cannot open {self.path} for reading: {exc}") from exc
        with self._readers_lock:
            self._readers.append(conn)
        return sqlite_utils.Database(conn)

    @classmethod
    def open_read_only(
        cls, path: Path | str, *, mac_key_of: Path | str | None = None
    ) -> SqliteStore:
        """Open an existing node database for reading only (continuous verification, a
        backup's check): this connection never writes, so it never checkpoints the WAL either,
        even on close, and it creates no file. API key rows are checked with the HMAC key kept
        beside ``mac_key_of`` (default: beside ``path``), when there is one.

        Raises StorageFailed when the file cannot be opened or its schema is not this
        software's."""
        try:
            conn = sqlite3.connect(
                f"file:{pathname2url(str(Path(path).resolve()))}?mode=ro",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA cache_size=-16384")
            store = cls(
                sqlite_utils.Database(conn), path, mac_key=_existing_mac_key(mac_key_of or path)
            )
            found = store.schema_version
            if found != SCHEMA_VERSION:
                conn.close()
                raise StorageFailed(f"{path} has schema {found}, not {SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise StorageFailed(f"cannot open {path}: {exc}") from exc
        except OSError as exc:
            raise StorageFailed(f"cannot open {path}: {exc.strerror or exc}") from exc
        return store

    @classmethod
    def open(cls, path: Path | str, *, durable: bool = True) -> SqliteStore:
        """Open (creating and migrating when needed) the node database at ``path``.

        ``durable=False`` is for the access log's writer only: its commits reach the WAL file
        without waiting for the disk (they survive a killed process; the next durable commit's
        sync covers them against power loss), and it never checkpoints (``checkpoint_wal`` does,
        off the serving thread), so reads never wait on an fsync.

        Raises StorageFailed when the file cannot be opened or is newer than this software.
        """
        try:
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
            # Identifier lookups are keyed by random-looking values; a larger page cache keeps
            # their B-tree in memory as the registry grows (64 MiB).
            conn.execute("PRAGMA cache_size=-65536")
            conn.execute("PRAGMA foreign_keys=ON")
            # Deleted content is overwritten with zeros, so an erased payload leaves no bytes
            # in the file's free space.
            conn.execute("PRAGMA secure_delete=ON")
            mac_key, new_mac_key = _api_key_mac_key(path)
            store = cls(db, path, mac_key=mac_key)
            store.migrate()
            if new_mac_key:
                store._seal_api_keys()
        except sqlite3.Error as exc:
            raise StorageFailed(f"cannot open {path}: {exc}") from exc
        except OSError as exc:
            raise StorageFailed(f"cannot open {path}: {exc.strerror or exc}") from exc
        return store

    def close(self) -> None:
        with self._readers_lock:
            for reader in self._readers:
                reader.close()
            self._readers.clear()
        self._writer.close()

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

    # -- schema --------------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        """Apply every migration past the file's version, each in its own transaction."""
        current = self.schema_version
        if current > SCHEMA_VERSION:
            raise StorageFailed(
                f"database schema {current} is newer than this software ({SCHEMA_VERSION})"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self._transaction():
                for statement in MIGRATIONS[version - 1]:
                    self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version={version}")

    # -- writes --------------------------------------------------------------------------------

    def add_key(self, origin: str, since_seq: int, key: PublicKey) -> None:
        """Record that ``origin`` signs with ``key`` from ``since_seq`` on."""
        with self._transaction():
            self._conn.execute(
                "INSERT OR IGNORE INTO keys (origin, since_seq, public_key) VALUES (?, ?, ?)",
                (origin, since_seq, key.raw),
            )

    def append(self, batch: AppendBatch) -> None:
        """Write a batch in one durable transaction; nothing of it is visible if it fails.

        Raises StorageFull when no space is left (nothing of the batch is written),
        StorageFailed on other database errors; WriteRaced if the batch does not continue the
        stored log (a concurrent writer on the same database got there first: nothing of this
        batch is written, and the caller may build it again and retry).
        """
        origin = batch.origin
        with self._transaction():
            head = self.head(origin)
            expected = head.size if head else 0
            if batch.entries and batch.entries[0].header.seq != expected:
                raise WriteRaced(
                    f"another writer appended to {origin}'s log first (this batch starts at seq"
                    f" {batch.entries[0].header.seq}, the log now holds {expected}); nothing was"
                    " written: retry"
                )
            self._conn.executemany(
                "INSERT INTO entries (origin, seq, body, signature) VALUES (?, ?, ?, ?)",
                [(origin, e.header.seq, e.body, e.signature) for e in batch.entries],
            )
            self._conn.executemany(
                "INSERT INTO payloads (origin, seq, salt, body) VALUES (?, ?, ?, ?)",
                [
                    (origin, e.header.seq, p.salt, p.body)
                    for e, p in zip(batch.entries, batch.payloads, strict=True)
                    if p is not None
                ],
            )
            self._conn.executemany(
                "INSERT INTO tree_nodes (origin, last_leaf, level, hash) VALUES (?, ?, ?, ?)",
                [
                    (origin, ((n.index + 1) << n.level) - 1, n.level, n.hash)
                    for n in batch.tree_nodes
                ],
            )
            if batch.checkpoint is not None:
                self._conn.execute(
                    "INSERT INTO checkpoints (origin, size, note) VALUES (?, ?, ?)",
                    (origin, batch.checkpoint_size, batch.checkpoint),
                )
            versions = [
                (entry.header, record)
                for entry, record in zip(batch.entries, batch.records, strict=True)
                if record is not None
            ]
            self._add_status_events(
                [(h.origin, h.seq, h.ts, r.aeo_id, r.status.to_dict()) for h, r in versions]
            )
            self._apply_records(versions)
            self._index_agreements([e.header for e in batch.entries])
            held = zip(batch.entries, batch.payloads, strict=True)
            self._index_erasures([(e.header, p.body) for e, p in held if p is not None])
            self._conn.executemany(
                "INSERT INTO keys (origin, since_seq, public_key) VALUES (?, ?, ?)",
                [(origin, since, key.raw) for since, key in batch.keys],
            )
            for deletion in batch.deletions:
                self._delete_copies(deletion)
            for other, seq in batch.redeliver.items():
                self._conn.execute(
                    "UPDATE delivery_cursors SET next_seq = min(next_seq, ?) WHERE origin = ?",
                    (seq, other),
                )

    def _delete_copies(self, deletion: Deletion) -> None:
        pairs = [(deletion.origin, seq) for seq in deletion.seqs]
        self._conn.executemany("DELETE FROM payloads WHERE origin = ? AND seq = ?", pairs)
        self._conn.executemany("DELETE FROM views WHERE origin = ? AND seq = ?", pairs)
        if deletion.forget:
            self._conn.execute("DELETE FROM aeo_current WHERE aeo_id = ?", (deletion.aeo_id,))
            self._conn.execute("DELETE FROM trader_ids WHERE aeo_id = ?", (deletion.aeo_id,))

    def _index_erasures(self, documents: list[tuple[EntryHeader, bytes]]) -> None:
        for header, payload in documents:
            if header.kind is EntryKind.AEO_ERASE:
                erasure = Erasure.from_bytes(payload)
                self._conn.execute(
                    "INSERT OR IGNORE INTO erasures (origin, seq, ts, aeo_id, basis, reason,"
                    " partners, origin_copy, entries) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        header.origin,
                        header.seq,
                        header.ts,
                        erasure.aeo_id,
                        erasure.basis.value,
                        erasure.reason,
                        ",".join(erasure.partners),
                        int(erasure.origin_copy),
                        json.dumps(list(erasure.entries)),
                    ),
                )
            elif header.kind is EntryKind.AEO_PURGE:
                purge = Purge.from_bytes(payload)
                self._conn.execute(
                    "INSERT OR IGNORE INTO purges (origin, seq, ts, of_origin, aeo_id, erasure,"
                    " reason, views, entries) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        header.origin,
                        header.seq,
                        header.ts,
                        purge.origin,
                        purge.aeo_id,
                        purge.erasure,
                        purge.reason,
                        purge.views,
                        json.dumps(list(purge.entries)),
                    ),
                )

    def _add_status_events(self, versions: list[tuple[str, int, int, str, Any]]) -> None:
        """An event for each version (origin, seq, ts, aeo_id, status) whose status code
        differs from the version before it held here (a first version is an event too)."""
        last = self._statuses_before(versions)
        events = []
        for origin, seq, ts, aeo_id, status in versions:
            if not isinstance(status, dict) or not isinstance(status.get("code"), str):
                continue
            if status["code"] != last.get(aeo_id):
                effective = status.get("effective")
                events.append(
                    (ts, aeo_id, origin, seq, status["code"], last.get(aeo_id), effective)
                )
                last[aeo_id] = status["code"]
        self._conn.executemany(
            "INSERT INTO events (ts, aeo_id, origin, seq, status, previous, effective)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            events,
        )

    def _statuses_before(self, versions: list[tuple[str, int, int, str, Any]]) -> dict[str, str]:
        """The status of the latest event held for each record of ``versions``, as it stood
        before the first of them (one query per 500 records)."""
        first: dict[str, tuple[str, int]] = {}
        for origin, seq, _, aeo_id, _ in versions:
            first.setdefault(aeo_id, (origin, seq))
        found: dict[str, str] = {}
        for aeo_id, origin, seq, status in self._rows_for(
            "SELECT aeo_id, origin, seq, status FROM events"
            " WHERE aeo_id IN ({marks}) ORDER BY aeo_id, origin, seq",
            sorted(first),
        ):
            if (origin, seq) < first[aeo_id] and origin == first[aeo_id][0]:
                found[aeo_id] = status
        return found

    def _index_agreements(self, headers: list[EntryHeader]) -> None:
        self._conn.executemany(
            "INSERT OR IGNORE INTO agreement_entries (origin, seq) VALUES (?, ?)",
            [(h.origin, h.seq) for h in headers if h.kind.value.startswith("agreement.")],
        )

    def _apply_records(self, versions: list[tuple[EntryHeader, AeoRecord]]) -> None:
        """Make each record version the current state of its AEO (in log order)."""
        self._apply_versions(
            [
                (
                    h.origin,
                    h.seq,
                    h.ts,
                    r.aeo_id,
                    r.status.code.value,
                    r.certificate.value,
                    r.legal_name,
                    [(i.scheme.value, i.value) for i in r.identifiers],
                )
                for h, r in versions
            ]
        )

    def _apply_versions(self, versions: list[_Version]) -> None:
        self._conn.executemany(
            "INSERT OR REPLACE INTO aeo_current"
            " (aeo_id, origin, seq, ts, status, certificate, legal_name)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(v[3], v[0], v[1], v[2], v[4], v[5], v[6]) for v in versions],
        )
        self._conn.executemany(
            "INSERT OR IGNORE INTO aeo_versions (aeo_id, seq, ts) VALUES (?, ?, ?)",
            [(v[3], v[1], v[2]) for v in versions],
        )
        self._conn.executemany(
            "DELETE FROM trader_ids WHERE aeo_id = ?", [(v[3],) for v in versions]
        )
        latest = {v[3]: v[7] for v in versions}
        self._conn.executemany(
            "INSERT OR IGNORE INTO trader_ids (scheme, value, aeo_id) VALUES (?, ?, ?)",
            [(scheme, value, aeo_id) for aeo_id, ids in latest.items() for scheme, value in ids],
        )

    def rebuild_derived(self, own: str | None) -> int:
        """Drop and recompute the derived tables from the log (``own``: the node's origin,
        whose erased versions keep their place); returns the entries read."""
        with self._transaction():
            for table in DERIVED_TABLES:
                self._conn.execute(f"DELETE FROM {table}")
            return self._derive(self, own)

    def derive_into(self, target: SqliteStore, own: str | None) -> int:
        """Compute into ``target`` (a fresh store) the derived tables of this store's log,
        exactly as ``rebuild_derived`` would: verification compares the two."""
        with target._transaction():
            return self._derive(target, own)

    def _derive(self, target: SqliteStore, own: str | None) -> int:
        count = 0
        # Every entry whose payload is held, and every agreement entry (indexed whether or
        # not its document reached this node).
        cursor = self._conn.execute(
            "SELECT e.body, p.body FROM entries e LEFT JOIN payloads p"
            " ON p.origin = e.origin AND p.seq = e.seq WHERE p.seq IS NOT NULL"
            ' OR instr(CAST(e.body AS TEXT), \'"kind":"agreement.\') > 0'
            " ORDER BY e.origin, e.seq"
        )
        while rows := cursor.fetchmany(_DERIVE_CHUNK):
            headers = [(orjson.loads(body), body, payload) for body, payload in rows]
            target._apply_versions(
                [_version(h, p) for h, _, p in headers if p is not None and h["kind"] in _RECORDS]
            )
            # Documents are few: these are parsed (and validated) whole.
            documents = [
                (EntryHeader.from_bytes(body), p)
                for h, body, p in headers
                if h["kind"] not in _RECORDS
            ]
            target._index_agreements([h for h, _ in documents])
            target._index_erasures(
                [(h, p) for h, p in documents if p is not None and h.kind in ERASURE_KINDS]
            )
            count += len(headers)
        # Versions of own records erased here keep their place in the trail.
        for origin, entries, aeo_id in target._conn.execute(
            "SELECT origin, entries, aeo_id FROM erasures WHERE origin_copy = 1 AND origin = ?",
            (own,),
        ).fetchall():
            erased = [
                (aeo_id, seq, ts)
                for seq in json.loads(entries)
                for (ts,) in self._conn.execute(
                    "SELECT json_extract(CAST(body AS TEXT), '$.ts') FROM entries"
                    " WHERE origin = ? AND seq = ?",
                    (origin, seq),
                )
            ]
            target._conn.executemany(
                "INSERT OR IGNORE INTO aeo_versions (aeo_id, seq, ts) VALUES (?, ?, ?)", erased
            )
        return count

    # -- what verification reads ---------------------------------------------------------------

    def schema_objects(self) -> dict[tuple[str, str], str | None]:
        """Every table, index and trigger: (type, name) -> the SQL that created it."""
        rows = self._conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchall()
        return {(kind, name): sql for kind, name, sql in rows}

    def integrity_problems(self, *, quick: bool = False) -> list[str]:
        """What SQLite's own check finds wrong with the file's pages and indexes (none: [])."""
        pragma = "quick_check" if quick else "integrity_check"
        rows = self._conn.execute(f"PRAGMA {pragma}(100)").fetchall()
        found = [str(r[0]) for r in rows]
        return [] if found == ["ok"] else found

    def stray_origins(self) -> list[tuple[str, str]]:
        """(table, origin) for rows filed under an origin that has neither keys nor entries."""
        known = "SELECT origin FROM keys UNION SELECT origin FROM entries"
        found: list[tuple[str, str]] = []
        for table, column in _ORIGIN_COLUMNS:
            found.extend(
                (table, str(origin))
                for (origin,) in self._conn.execute(
                    f"SELECT DISTINCT {column} FROM {table} WHERE {column} NOT IN ({known})"
                    f" ORDER BY {column}"
                )
            )
        return found

    def entry_seqs_of_kind(self, origin: str, kind: str) -> list[int]:
        """Seqs of ``origin``'s entries whose header names ``kind`` (found in the signed bytes
        themselves, not in a derived table; the caller parses each to be sure)."""
        rows = self._conn.execute(
            "SELECT seq FROM entries WHERE origin = ?"
            " AND instr(CAST(body AS TEXT), ?) > 0 ORDER BY seq",
            (origin, f'"kind":"{kind}"'),
        )
        return [seq for (seq,) in rows]

    def all_cosignatures(self) -> Iterator[tuple[str, int, str, str]]:
        """Every cosignature held: (origin, size, witness, signature line)."""
        return iter(
            self._conn.execute(
                "SELECT origin, size, witness, line FROM cosignatures"
                " ORDER BY origin, size, witness"
            ).fetchall()
        )

    def derived_differences(
        self, rebuilt: Path, *, limit: int
    ) -> Iterator[tuple[str, list[tuple[str, str | None, str | None]]]]:
        """For each derived table, the rows that differ from the same table in the database
        at ``rebuilt``: (key, row held or None, row rebuilt or None), ``limit`` at most, the
        last entry counting the rest. Reads this file on a connection of its own (read-only),
        so no statement left open on this one can stand in the way."""
        conn = sqlite3.connect(f"file:{pathname2url(str(rebuilt))}", uri=True)
        try:
            held = f"file:{pathname2url(str(self.path.resolve()))}?mode=ro"
            conn.execute("ATTACH DATABASE ? AS held", (held,))
            for table, key in DERIVED_KEYS.items():
                extra = _differing(conn, f"held.{table}", f"main.{table}", key, limit)
                missing = _differing(conn, f"main.{table}", f"held.{table}", key, limit)
                if extra or missing:
                    yield table, _pair_rows(extra, missing, limit)
        finally:
            conn.close()

    def count_views(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM views").fetchone()[0])

    def all_views(self) -> Iterator[tuple[str, int, str, str, bytes, bytes, bytes | None]]:
        """Every view held, in (origin, seq) order: origin, seq, aeo_id, agreements, view
        bytes, the origin's signature, and the entry header it is of (None: not held)."""
        cursor = self._conn.execute(
            "SELECT v.origin, v.seq, v.aeo_id, v.agreements, v.body, v.signature, e.body"
            " FROM views v LEFT JOIN entries e ON e.origin = v.origin AND e.seq = v.seq"
            " ORDER BY v.origin, v.seq"
        )
        yield from cursor

    # -- reads ---------------------------------------------------------------------------------

    def agreement_entries(self) -> list[tuple[EntryHeader, bytes | None]]:
        """Every agreement entry held (any origin) with its payload, if still held."""
        rows = self._conn.execute(
            "SELECT e.body, p.body FROM agreement_entries a JOIN entries e"
            " ON e.origin = a.origin AND e.seq = a.seq LEFT JOIN payloads p"
            " ON p.origin = a.origin AND p.seq = a.seq ORDER BY a.origin, a.seq"
        ).fetchall()
        return [(EntryHeader.from_bytes(body), payload) for body, payload in rows]

    def add_api_key(self, key_id: str, key_hash: bytes, role: str, label: str, ts: int) -> None:
        row = (key_id, key_hash, role, label, ts, 0)
        with self._transaction():
            self._conn.execute(
                "INSERT INTO api_keys (key_id, key_hash, role, label, created_ts, revoked, mac)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*row, self._api_key_mac(row)),
            )

    def revoke_api_key(self, key_id: str) -> bool:
        """Revoke a key (kept, so the access log's actors stay explained); False if unknown,
        already revoked, or altered outside this software."""
        with self._transaction():
            found = self._conn.execute(
                f"SELECT {_API_KEY_COLUMNS}, mac FROM api_keys WHERE key_id = ? AND revoked = 0",
                (key_id,),
            ).fetchone()
            if found is None or not self._api_key_intact(found):
                return False
            revoked = (*found[:5], 1)
            self._conn.execute(
                "UPDATE api_keys SET revoked = 1, mac = ? WHERE key_id = ?",
                (self._api_key_mac(revoked), key_id),
            )
        return True

    def api_keys(self) -> list[dict[str, Any]]:
        """Every key: id, role, label, creation time, whether it is revoked, and whether its
        row is as this software wrote it (``intact``; no hashes)."""
        rows = self._conn.execute(
            f"SELECT {_API_KEY_COLUMNS}, mac FROM api_keys ORDER BY created_ts, key_id"
        ).fetchall()
        return [
            {
                "key_id": r[0],
                "role": r[2],
                "label": r[3],
                "created_ts": r[4],
                "revoked": r[5],
                "intact": self._api_key_intact(r),
            }
            for r in rows
        ]

    def api_key(self, key_id: str) -> tuple[bytes, str] | None:
        """The hash and role of a key that is not revoked and whose row is intact."""
        row = self._conn.execute(
            f"SELECT {_API_KEY_COLUMNS}, mac FROM api_keys WHERE key_id = ? AND revoked = 0",
            (key_id,),
        ).fetchone()
        if row is None or not self._api_key_intact(row):
            return None
        return bytes(row[1]), str(row[2])

    def _api_key_mac(self, row: Sequence[Any]) -> bytes | None:
        if self._mac_key is None:
            return None
        key_id, key_hash, role, label, created_ts, revoked = row
        message = canonical_json(
            {
                "key_id": key_id,
                "key_hash": bytes(key_hash).hex(),
                "role": role,
                "label": label,
                "created_ts": created_ts,
                "revoked": revoked,
            }
        )
        return hmac.new(self._mac_key, API_KEY_MAC_TAG + message, hashlib.sha256).digest()

    def _api_key_intact(self, row: Sequence[Any]) -> bool:
        """Whether a row (the API key columns, then its mac) is as this software wrote it."""
        expected = self._api_key_mac(row[:6])
        if expected is None:
            return True  # a store opened without a home (tests, benchmarks) checks nothing
        return row[6] is not None and hmac.compare_digest(bytes(row[6]), expected)

    def _seal_api_keys(self) -> None:
        """Give rows written before this home had a MAC key (schema 7 and older) their MAC;
        runs only when the key is created, so a row inserted later without one stays refused."""
        with self._transaction():
            rows = self._conn.execute(
                f"SELECT {_API_KEY_COLUMNS} FROM api_keys WHERE mac IS NULL"
            ).fetchall()
            self._conn.executemany(
                "UPDATE api_keys SET mac = ? WHERE key_id = ?",
                [(self._api_key_mac(r), r[0]) for r in rows],
            )

    def change_mark(self) -> tuple[int, int]:
        """Changes whenever this store's database changes, by this connection or another:
        what is derived from it may be kept until then."""
        other = self._conn.execute("PRAGMA data_version").fetchone()[0]
        return int(other), self._conn.total_changes

    def origins(self) -> list[str]:
        rows = self._conn.execute(
            "SELECT origin FROM keys UNION SELECT DISTINCT origin FROM entries ORDER BY origin"
        ).fetchall()
        return [r[0] for r in rows]

    def size(self, origin: str) -> int:
        """How many entries of ``origin``'s log are held (its seqs are gapless from 0)."""
        row = self._conn.execute(
            "SELECT max(seq) FROM entries WHERE origin = ?", (origin,)
        ).fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def head(self, origin: str) -> Head | None:
        row = self._conn.execute(
            "SELECT seq, body FROM entries WHERE origin = ? ORDER BY seq DESC LIMIT 1", (origin,)
        ).fetchone()
        if row is None:
            return None
        header = EntryHeader.from_bytes(row[1])
        return Head(size=row[0] + 1, last_hash=entry_hash(row[1]), last_ts=header.ts)

    def entries(self, origin: str, start: int = 0, end: int | None = None) -> Iterator[StoredEntry]:
        """Entries of ``origin`` in seq order from ``start`` (inclusive) to ``end`` (exclusive)."""
        stop = end if end is not None else 2**63 - 1
        cursor = self._conn.execute(
            "SELECT e.seq, e.body, e.signature, p.salt, p.body FROM entries e"
            " LEFT JOIN payloads p ON p.origin = e.origin AND p.seq = e.seq"
            " WHERE e.origin = ? AND e.seq >= ? AND e.seq < ? ORDER BY e.seq",
            (origin, start, stop),
        )
        for seq, body, signature, salt, payload in cursor:
            yield StoredEntry(
                origin=origin, seq=seq, body=body, signature=signature, salt=salt, payload=payload
            )

    def all_tree_nodes(
        self, origin: str, start: int = 0, end: int | None = None
    ) -> Iterator[tuple[int, int, bytes]]:
        """Stored ``(last_leaf, level, hash)`` rows completed by leaves ``start`` to ``end``
        (exclusive), in the order an append-only builder completes them."""
        return iter(
            self._conn.execute(
                "SELECT last_leaf, level, hash FROM tree_nodes WHERE origin = ?"
                " AND last_leaf >= ? AND last_leaf < ? ORDER BY last_leaf, level",
                (origin, start, end if end is not None else 2**63 - 1),
            )
        )

    def tree_nodes(
        self, origin: str, wanted: Iterable[tuple[int, int]]
    ) -> Mapping[tuple[int, int], bytes]:
        """The stored hashes of the perfect subtrees ``(level, index)`` asked for."""
        keys = [(((index + 1) << level) - 1, level) for level, index in wanted]
        found: dict[tuple[int, int], bytes] = {}
        for last_leaf, level in keys:
            row = self._conn.execute(
                "SELECT hash FROM tree_nodes WHERE origin = ? AND last_leaf = ? AND level = ?",
                (origin, last_leaf, level),
            ).fetchone()
            if row is not None:
                found[(level, ((last_leaf + 1) >> level) - 1)] = row[0]
        return found

    def orphan_payload(self) -> tuple[str, int] | None:
        """The first payload stored without an entry, if any (a sign of tampering)."""
        row = self._conn.execute(
            "SELECT p.origin, p.seq FROM payloads p LEFT JOIN entries e"
            " ON e.origin = p.origin AND e.seq = p.seq WHERE e.seq IS NULL"
            " ORDER BY p.origin, p.seq LIMIT 1"
        ).fetchone()
        return (row[0], row[1]) if row else None

    def public_key(self, origin: str, seq: int) -> PublicKey | None:
        """``origin``'s key in force at ``seq`` (``node.core.walk.key_in_force`` over its keys)."""
        return key_in_force(self.keys(origin), seq)

    def keys(self, origin: str) -> list[tuple[int, PublicKey]]:
        rows = self._conn.execute(
            "SELECT since_seq, public_key FROM keys WHERE origin = ? ORDER BY since_seq",
            (origin,),
        ).fetchall()
        return [(since, PublicKey(raw)) for since, raw in rows]

    def checkpoints(self, origin: str) -> list[tuple[int, bytes]]:
        rows = self._conn.execute(
            "SELECT size, note FROM checkpoints WHERE origin = ? ORDER BY size", (origin,)
        ).fetchall()
        return [(size, note) for size, note in rows]

    def latest_checkpoint(self, origin: str) -> bytes | None:
        row = self._conn.execute(
            "SELECT note FROM checkpoints WHERE origin = ? ORDER BY size DESC LIMIT 1", (origin,)
        ).fetchone()
        return bytes(row[0]) if row else None

    def current_record(self, aeo_id: str) -> tuple[int, AeoRecord] | None:
        """The latest version of an AEO record (its seq and the record), if held."""
        row = self._conn.execute(
            "SELECT c.seq, p.body FROM aeo_current c JOIN payloads p"
            " ON p.origin = c.origin AND p.seq = c.seq WHERE c.aeo_id = ?",
            (aeo_id,),
        ).fetchone()
        return (row[0], _record(row[1])) if row else None

    def current_payload(self, aeo_id: str) -> tuple[str, int, bytes] | None:
        """(origin, seq, payload bytes) of the latest version held, as validated when it was
        written (the read path serves it without building the record again), checked against
        its entry's commitment first.

        Raises IntegrityError when the payload does not open its entry's commitment or is not
        the record asked for (the file was changed underneath: nothing damaged is served)."""
        row = self._conn.execute(
            "SELECT c.origin, c.seq, p.salt, p.body, e.body FROM aeo_current c JOIN payloads p"
            " ON p.origin = c.origin AND p.seq = c.seq JOIN entries e"
            " ON e.origin = c.origin AND e.seq = c.seq WHERE c.aeo_id = ?",
            (aeo_id,),
        ).fetchone()
        return _served(aeo_id, *row) if row else None

    def current_payloads(self, aeo_ids: list[str]) -> dict[str, tuple[str, int, bytes]]:
        """``current_payload`` for many ids at once (those held)."""
        return {
            aeo_id: _served(aeo_id, *rest)
            for aeo_id, *rest in self._rows_for(
                "SELECT c.aeo_id, c.origin, c.seq, p.salt, p.body, e.body FROM aeo_current c"
                " JOIN payloads p ON p.origin = c.origin AND p.seq = c.seq JOIN entries e"
                " ON e.origin = c.origin AND e.seq = c.seq WHERE c.aeo_id IN ({marks})",
                aeo_ids,
            )
        }

    def views_of(self, aeo_ids: list[str]) -> dict[str, tuple[str, int, str, bytes, bytes]]:
        """``view_of`` for many ids at once (those held)."""
        found: dict[str, tuple[str, int, str, bytes, bytes]] = {}
        for aeo_id, origin, seq, names, body, signature in self._rows_for(
            "SELECT aeo_id, origin, seq, agreements, body, signature FROM views"
            " WHERE aeo_id IN ({marks}) ORDER BY seq",
            aeo_ids,
        ):
            found[aeo_id] = (origin, seq, names, bytes(body), bytes(signature))
        return found

    def current_records(self, aeo_ids: Iterable[str]) -> dict[str, tuple[int, AeoRecord]]:
        """The latest versions of many AEO records at once (those held)."""
        return {
            aeo_id: (seq, _record(body))
            for aeo_id, seq, body in self._rows_for(
                "SELECT c.aeo_id, c.seq, p.body FROM aeo_current c JOIN payloads p"
                " ON p.origin = c.origin AND p.seq = c.seq WHERE c.aeo_id IN ({marks})",
                sorted(set(aeo_ids)),
            )
        }

    def list_records(
        self, *, status: str | None = None, limit: int = 100, after: str = ""
    ) -> list[dict[str, Any]]:
        """A page of current AEO states (derived table), ordered by aeo_id."""
        where, args = "aeo_id > ?", [after]
        if status is not None:
            where += " AND status = ?"
            args.append(status)
        rows = self._db.query(
            f"SELECT aeo_id, origin, seq, ts, status, certificate, legal_name FROM aeo_current"
            f" WHERE {where} ORDER BY aeo_id LIMIT ?",
            [*args, limit],
        )
        return list(rows)

    def find_by_identifier(self, scheme: str, value: str) -> list[str]:
        rows = self._conn.execute(
            "SELECT aeo_id FROM trader_ids WHERE scheme = ? AND value = ? ORDER BY aeo_id",
            (scheme, value),
        ).fetchall()
        return [r[0] for r in rows]

    def version_at(self, aeo_id: str, ts: int) -> tuple[str, int] | None:
        """(origin, seq) of the version of ``aeo_id`` in force at ``ts`` (ms): the latest one
        entered at or before it, own record or partner's view."""
        row = self._conn.execute(
            "SELECT c.origin, v.seq FROM aeo_versions v JOIN aeo_current c USING (aeo_id)"
            " WHERE v.aeo_id = ? AND v.ts <= ? ORDER BY v.seq DESC LIMIT 1",
            (aeo_id, ts),
        ).fetchone()
        if row is None:
            row = self._conn.execute(
                "SELECT v.origin, v.seq FROM views v JOIN entries e"
                " ON e.origin = v.origin AND e.seq = v.seq WHERE v.aeo_id = ?"
                " AND json_extract(CAST(e.body AS TEXT), '$.ts') <= ?"
                " ORDER BY v.seq DESC LIMIT 1",
                (aeo_id, ts),
            ).fetchone()
        return (row[0], row[1]) if row else None

    def view_at(self, origin: str, seq: int) -> tuple[str, bytes, bytes] | None:
        """(agreements, body, signature) of the view held of ``origin#seq``."""
        row = self._conn.execute(
            "SELECT agreements, body, signature FROM views WHERE origin = ? AND seq = ?",
            (origin, seq),
        ).fetchone()
        return (row[0], bytes(row[1]), bytes(row[2])) if row else None

    def views_by_identifier(self, scheme: str, value: str) -> list[str]:
        """AEO ids of partners' records whose views held here show this identifier."""
        rows = self._conn.execute(
            "SELECT DISTINCT v.aeo_id FROM views v,"
            " json_each(CAST(v.body AS TEXT), '$.identifiers') i"
            " WHERE json_extract(i.value, '$.scheme') = ? AND json_extract(i.value, '$.value') = ?"
            " ORDER BY v.aeo_id",
            (scheme, value),
        ).fetchall()
        return [r[0] for r in rows]

    # -- replication ---------------------------------------------------------------------------

    def entry(self, origin: str, seq: int) -> StoredEntry | None:
        return next(self.entries(origin, seq, seq + 1), None)

    def checkpoint_at(self, origin: str, size: int) -> bytes | None:
        row = self._conn.execute(
            "SELECT note FROM checkpoints WHERE origin = ? AND size = ?", (origin, size)
        ).fetchone()
        return bytes(row[0]) if row else None

    def checkpoint_covering(self, origin: str, size: int) -> tuple[int, bytes] | None:
        """The smallest checkpoint held of size ``size`` or more."""
        row = self._conn.execute(
            "SELECT size, note FROM checkpoints WHERE origin = ? AND size >= ?"
            " ORDER BY size LIMIT 1",
            (origin, size),
        ).fetchone()
        return (row[0], bytes(row[1])) if row else None

    def add_checkpoint(self, origin: str, size: int, note: bytes) -> None:
        """Keep a verified checkpoint of a log held at least up to ``size``."""
        with self._transaction():
            self._conn.execute(
                "INSERT OR IGNORE INTO checkpoints (origin, size, note) VALUES (?, ?, ?)",
                (origin, size, note),
            )

    def add_cosignature(self, origin: str, size: int, witness: str, line: str) -> bool:
        """Keep a verified cosignature; False when this witness's was already held."""
        with self._transaction():
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO cosignatures (origin, size, witness, line)"
                " VALUES (?, ?, ?, ?)",
                (origin, size, witness, line),
            )
        return cursor.rowcount > 0

    def cosignatures(self, origin: str, size: int) -> dict[str, str]:
        rows = self._conn.execute(
            "SELECT witness, line FROM cosignatures WHERE origin = ? AND size = ?",
            (origin, size),
        ).fetchall()
        return {witness: line for witness, line in rows}

    def add_payload(self, origin: str, seq: int, salt: bytes, body: bytes) -> bool:
        """Keep a payload received for a held entry (the caller checked its commitment)."""
        with self._transaction():
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO payloads (origin, seq, salt, body) VALUES (?, ?, ?, ?)",
                (origin, seq, salt, body),
            )
            row = self._conn.execute(
                "SELECT body FROM entries WHERE origin = ? AND seq = ?", (origin, seq)
            ).fetchone()
            if cursor.rowcount and row is not None:
                self._index_erasures([(EntryHeader.from_bytes(row[0]), body)])
        return cursor.rowcount > 0

    def add_views(self, rows: Iterable[tuple[str, int, str, str, bytes, bytes, int]]) -> int:
        """Keep views of partners' records: (origin, seq, aeo_id, agreements, body, signature,
        received_ts), each checked by the caller against its origin's signature."""
        added = 0
        with self._transaction():
            fresh = []
            for row in sorted(rows, key=lambda r: (r[0], r[1])):
                cursor = self._conn.execute(
                    "INSERT OR IGNORE INTO views (origin, seq, aeo_id, agreements, body,"
                    " signature, received_ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
                if cursor.rowcount:
                    added += 1
                    origin, seq, aeo_id, _, body, _, received = row
                    fresh.append((origin, seq, received, aeo_id, parse_json(body).get("status")))
            self._add_status_events(fresh)
        return added

    def view_of(self, aeo_id: str) -> tuple[str, int, str, bytes, bytes] | None:
        """The latest view held of a partner's record: (origin, seq, agreements, body, the
        origin's signature)."""
        row = self._conn.execute(
            "SELECT origin, seq, agreements, body, signature FROM views WHERE aeo_id = ?"
            " ORDER BY seq DESC LIMIT 1",
            (aeo_id,),
        ).fetchone()
        return (row[0], row[1], row[2], bytes(row[3]), bytes(row[4])) if row else None

    def add_fork(self, origin: str, evidence: bytes, reported_by: str, ts: int) -> bool:
        """Keep fork evidence against ``origin`` (freezing it); False when already held."""
        with self._transaction():
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO forks (origin, evidence, found_ts, reported_by)"
                " VALUES (?, ?, ?, ?)",
                (origin, evidence, ts, reported_by),
            )
        return cursor.rowcount > 0

    def forks(self) -> list[dict[str, Any]]:
        return list(
            self._db.query(
                "SELECT id, origin, evidence, found_ts, reported_by, resolved_ts, resolution"
                " FROM forks ORDER BY id"
            )
        )

    def frozen_origins(self) -> set[str]:
        rows = self._conn.execute(
            "SELECT DISTINCT origin FROM forks WHERE resolved_ts IS NULL"
        ).fetchall()
        return {r[0] for r in rows}

    def resolve_forks(self, origin: str, resolution: str, ts: int) -> int:
        """An operator's decision: unfreeze ``origin``; the evidence itself is kept."""
        with self._transaction():
            cursor = self._conn.execute(
                "UPDATE forks SET resolved_ts = ?, resolution = ?"
                " WHERE origin = ? AND resolved_ts IS NULL",
                (ts, resolution, origin),
            )
        return cursor.rowcount

    def delivery_cursor(self, origin: str) -> int:
        row = self._conn.execute(
            "SELECT next_seq FROM delivery_cursors WHERE origin = ?", (origin,)
        ).fetchone()
        return int(row[0]) if row else 0

    def set_delivery_cursor(self, origin: str, next_seq: int) -> None:
        with self._transaction():
            self._conn.execute(
                "INSERT INTO delivery_cursors (origin, next_seq) VALUES (?, ?)"
                " ON CONFLICT (origin) DO UPDATE SET next_seq = excluded.next_seq",
                (origin, next_seq),
            )

    # -- access log, trail, events, webhooks --------------------------------------------------

    def append_access(self, rows: list[Access]) -> None:
        """Append rows to the hash-chained access log in one transaction."""
        with self._transaction():
            last = self._conn.execute(
                "SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            seq, prev = (last[0] + 1, bytes(last[1])) if last else (0, ACCESS_GENESIS)
            chained = []
            for access in rows:
                prev = access_hash(prev, seq, access)
                chained.append((seq, *(getattr(access, f) for f in ACCESS_FIELDS), prev))
                seq += 1
            marks = ", ".join("?" * (len(ACCESS_FIELDS) + 2))
            self._conn.executemany(
                f"INSERT INTO access_log (seq, {', '.join(ACCESS_FIELDS)}, hash) VALUES ({marks})",
                chained,
            )

    def access_size(self) -> int:
        row = self._conn.execute("SELECT max(seq) FROM access_log").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def access_hash(self, seq: int) -> bytes | None:
        """The stored chain hash of access row ``seq``, if the row is held."""
        row = self._conn.execute("SELECT hash FROM access_log WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else bytes(row[0])

    def access_chain(self) -> Iterator[tuple[int, Access, bytes]]:
        """Every access row in seq order, with its stored hash."""
        cursor = self._conn.execute(
            f"SELECT seq, {', '.join(ACCESS_FIELDS)}, hash FROM access_log ORDER BY seq"
        )
        for row in cursor:
            yield row[0], Access(**dict(zip(ACCESS_FIELDS, row[1:-1], strict=True))), bytes(row[-1])

    def access_rows(
        self,
        *,
        since: int | None = None,
        until: int | None = None,
        actor: str | None = None,
        aeo_id: str | None = None,
        action: str | None = None,
        after: int = -1,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """A page of access rows (oldest first, ``seq > after``) matching every filter given;
        times are ms since the epoch, ``until`` exclusive."""
        where: list[str] = ["seq > ?"]
        args: list[object] = [after]
        for clause, value in (
            ("ts >= ?", since),
            ("ts < ?", until),
            ("actor = ?", actor),
            ("aeo_id = ?", aeo_id),
            ("action = ?", action),
        ):
            if value is not None:
                where.append(clause)
                args.append(value)
        rows = self._db.query(
            f"SELECT seq, {', '.join(ACCESS_FIELDS)}, hash FROM access_log"
            f" WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?",
            [*args, limit],
        )
        return [{**row, "hash": bytes(row["hash"]).hex()} for row in rows]

    def own_versions(self, aeo_id: str) -> list[tuple[str, int, int, bytes | None]]:
        """Every version of an own record: (origin, seq, ts, payload or None once erased).
        An AEO id starts with its issuer's code, which is the origin of its entries."""
        origin = aeo_id[:2]
        rows = self._conn.execute(
            "SELECT v.seq, v.ts, p.body FROM aeo_versions v LEFT JOIN payloads p"
            " ON p.origin = ? AND p.seq = v.seq WHERE v.aeo_id = ? ORDER BY v.seq",
            (origin, aeo_id),
        ).fetchall()
        return [(origin, r[0], r[1], None if r[2] is None else bytes(r[2])) for r in rows]

    # -- erasures and purges ---------------------------------------------------------------------

    def erasure_of(self, aeo_id: str) -> dict[str, Any] | None:
        """The latest erasure held of ``aeo_id``, if any."""
        rows = self.erasures_of(aeo_id)
        return rows[-1] if rows else None

    def erased_among(self, aeo_ids: Iterable[str]) -> set[str]:
        """Those of ``aeo_ids`` that an erasure at their origin removed."""
        return {
            row[0]
            for row in self._rows_for(
                "SELECT aeo_id FROM erasures WHERE origin_copy = 1 AND aeo_id IN ({marks})",
                sorted(set(aeo_ids)),
            )
        }

    def erasures_of(self, aeo_id: str) -> list[dict[str, Any]]:
        return list(
            self._db.query(
                "SELECT origin, seq, ts, aeo_id, basis, reason, partners, origin_copy, entries"
                " FROM erasures WHERE aeo_id = ? ORDER BY origin, seq",
                [aeo_id],
            )
        )

    def erased_entries(self, origin: str) -> set[int]:
        """``origin``'s own entries whose payloads one of its erasures deleted at the origin."""
        return {
            seq
            for (entries,) in self._conn.execute(
                "SELECT entries FROM erasures WHERE origin = ? AND origin_copy = 1", (origin,)
            )
            for seq in json.loads(entries)
        }

    def withheld(self, origin: str) -> dict[int, set[str]]:
        """For each of ``origin``'s entries named by one of its erasures, the partners that
        must no longer receive it."""
        found: dict[int, set[str]] = {}
        for partners, entries in self._conn.execute(
            "SELECT partners, entries FROM erasures WHERE origin = ?", (origin,)
        ):
            for seq in json.loads(entries):
                found.setdefault(seq, set()).update(p for p in partners.split(",") if p)
        return found

    def pending_erasures(self, me: str) -> list[dict[str, Any]]:
        """Erasures by other origins that name ``me`` and that ``me`` has not answered yet."""
        rows = self._db.query(
            "SELECT e.origin, e.seq, e.aeo_id, e.basis, e.reason, e.partners, e.entries"
            " FROM erasures e WHERE e.origin != ? AND NOT EXISTS (SELECT 1 FROM purges p"
            " WHERE p.origin = ? AND p.of_origin = e.origin AND p.erasure = e.seq)"
            " ORDER BY e.origin, e.seq",
            [me, me],
        )
        return [row for row in rows if me in row["partners"].split(",")]

    def purges_answering(self, origin: str, erasure: int) -> list[dict[str, Any]]:
        """The purges held that answer ``origin``'s erasure entry ``erasure``."""
        return list(
            self._db.query(
                "SELECT origin AS by, seq, ts, views FROM purges"
                " WHERE of_origin = ? AND erasure = ? ORDER BY origin, seq",
                [origin, erasure],
            )
        )

    def purges_of(self, aeo_id: str) -> list[dict[str, Any]]:
        """Every purge of copies of ``aeo_id`` held here (this node's and partners')."""
        return list(
            self._db.query(
                "SELECT origin AS by, seq, ts, of_origin, erasure, reason, views, entries"
                " FROM purges WHERE aeo_id = ? ORDER BY ts, origin, seq",
                [aeo_id],
            )
        )

    def views_count(self, origin: str, seqs: Iterable[int]) -> int:
        return sum(
            self._conn.execute(
                "SELECT count(*) FROM views WHERE origin = ? AND seq = ?", (origin, seq)
            ).fetchone()[0]
            for seq in seqs
        )

    def view_agreements(self) -> list[str]:
        """Each distinct list of agreements that views held were received under."""
        return [r[0] for r in self._conn.execute("SELECT DISTINCT agreements FROM views")]

    def views_by_record(
        self, agreements: list[str]
    ) -> dict[tuple[str, str], list[tuple[int, str]]]:
        """The views held that were received under one of the ``agreements`` lists, by
        (origin, aeo_id): (seq, agreements) in seq order."""
        found: dict[tuple[str, str], list[tuple[int, str]]] = {}
        marks = ",".join("?" * len(agreements))
        for origin, aeo_id, seq, names in self._conn.execute(
            f"SELECT origin, aeo_id, seq, agreements FROM views WHERE agreements IN ({marks})"
            " ORDER BY origin, aeo_id, seq",
            agreements,
        ):
            found.setdefault((origin, aeo_id), []).append((seq, names))
        return found

    def final_records(self, origin: str, statuses: Iterable[str], before: int) -> list[str]:
        """Own records of ``origin`` whose current status is one of ``statuses``, recorded
        before ``before`` (ms)."""
        wanted = list(statuses)
        marks = ", ".join("?" * len(wanted))
        rows = self._conn.execute(
            f"SELECT aeo_id FROM aeo_current WHERE origin = ? AND status IN ({marks})"
            " AND ts < ? ORDER BY aeo_id",
            (origin, *wanted, before),
        ).fetchall()
        return [r[0] for r in rows]

    def views_held(self, aeo_id: str) -> list[dict[str, Any]]:
        """Every view held of a partner's record, oldest first, with when it was received and
        the entry's own time."""
        rows = self._db.query(
            "SELECT v.origin, v.seq, v.agreements, v.body, v.received_ts,"
            " json_extract(CAST(e.body AS TEXT), '$.ts') AS ts FROM views v"
            " LEFT JOIN entries e ON e.origin = v.origin AND e.seq = v.seq"
            " WHERE v.aeo_id = ? ORDER BY v.origin, v.seq",
            [aeo_id],
        )
        return [{**row, "body": bytes(row["body"])} for row in rows]

    def events(self, *, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Status events with id > ``after``, oldest first."""
        return list(
            self._db.query(
                "SELECT id, ts, aeo_id, origin, seq, status, previous, effective FROM events"
                " WHERE id > ? ORDER BY id LIMIT ?",
                [after, limit],
            )
        )

    def last_event_id(self) -> int:
        row = self._conn.execute("SELECT max(id) FROM events").fetchone()
        return int(row[0] or 0)

    def add_webhook(self, hook_id: str, url: str, secret: str, ts: int) -> None:
        """Subscribe ``url`` to events from the next one on."""
        with self._transaction():
            self._conn.execute(
                "INSERT INTO webhooks (id, url, secret, created_ts, next_event)"
                " VALUES (?, ?, ?, ?, (SELECT coalesce(max(id), 0) + 1 FROM events))",
                (hook_id, url, secret, ts),
            )

    def webhooks(self, *, with_secrets: bool = False) -> list[dict[str, Any]]:
        columns = "id, url, created_ts, next_event" + (", secret" if with_secrets else "")
        return list(self._db.query(f"SELECT {columns} FROM webhooks WHERE removed = 0 ORDER BY id"))

    def remove_webhook(self, hook_id: str) -> bool:
        with self._transaction():
            cursor = self._conn.execute(
                "UPDATE webhooks SET removed = 1 WHERE id = ? AND removed = 0", (hook_id,)
            )
        return cursor.rowcount > 0

    def add_webhook_attempt(
        self, hook_id: str, event: int, attempt: int, ts: int, status: int | None, error: str
    ) -> None:
        """Log one delivery attempt; a delivered one moves the hook past its event."""
        delivered = status is not None and 200 <= status < 300
        with self._transaction():
            self._conn.execute(
                "INSERT INTO webhook_attempts (webhook, event, attempt, ts, status, error,"
                " delivered) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (hook_id, event, attempt, ts, status, error, int(delivered)),
            )
            if delivered:
                self._conn.execute(
                    "UPDATE webhooks SET next_event = max(next_event, ?) WHERE id = ?",
                    (event + 1, hook_id),
                )

    def webhook_attempts(self, hook_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """The latest delivery attempts of a hook, newest first."""
        return list(
            self._db.query(
                "SELECT event, attempt, ts, status, error, delivered FROM webhook_attempts"
                " WHERE webhook = ? ORDER BY id DESC LIMIT ?",
                [hook_id, limit],
            )
        )

    # -- plumbing ------------------------------------------------------------------------------

    def _rows_for(self, sql: str, ids: Sequence[str]) -> Iterator[Any]:
        """Every row of ``sql`` (whose ``IN ({marks})`` takes the ids) over ``ids``, 500 at a
        time, well inside SQLite's limit on bound parameters."""
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            yield from self._conn.execute(sql.format(marks=",".join("?" * len(chunk))), chunk)

    def _transaction(self) -> _Transaction:
        return _Transaction(self)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT on the store's writer connection, by one thread at a time,
    rolled back on any exception; sqlite errors -> StorageFailed (StorageFull when the write
    found no space)."""

    def __init__(self, store: SqliteStore) -> None:
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


def _differing(
    conn: sqlite3.Connection, one: str, other: str, key: str, limit: int
) -> dict[str, str]:
    """Rows of table ``one`` not in ``other`` (``limit`` + 1 at most): key -> the rest."""
    rows = conn.execute(
        f"SELECT * FROM (SELECT * FROM {one} EXCEPT SELECT * FROM {other}) ORDER BY {key} LIMIT ?",
        (limit + 1,),
    )
    names = [d[0] for d in rows.description]
    width = len(key.split(","))
    return {
        " ".join(str(v) for v in row[:width]): ", ".join(
            f"{n}={v!r}" for n, v in zip(names[width:], row[width:], strict=True)
        )
        for row in rows
    }


def _pair_rows(
    held: dict[str, str], derived: dict[str, str], limit: int
) -> list[tuple[str, str | None, str | None]]:
    keys = sorted(set(held) | set(derived))
    pairs = [(key, held.get(key), derived.get(key)) for key in keys[:limit]]
    if len(keys) > limit:
        pairs.append(("...", f"{len(keys) - limit} more rows differ", None))
    return pairs


_DERIVE_CHUNK = 5000
# Every column that files a row under an origin (checked against the origins with keys or
# entries: a row under any other is damage).
_ORIGIN_COLUMNS = (
    ("payloads", "origin"),
    ("tree_nodes", "origin"),
    ("checkpoints", "origin"),
    ("views", "origin"),
    ("cosignatures", "origin"),
    ("forks", "origin"),
    ("delivery_cursors", "origin"),
    ("aeo_current", "origin"),
    ("agreement_entries", "origin"),
    ("erasures", "origin"),
    ("purges", "origin"),
    ("purges", "of_origin"),
    ("events", "origin"),
)
_API_KEY_COLUMNS = "key_id, key_hash, role, label, created_ts, revoked"
API_KEY_MAC_TAG = b"mra-ledger/api-key-row/v1\x00"
API_KEY_MAC_FILE = "apikeys-mac.key"


def _api_key_mac_key(path: Path | str) -> tuple[bytes, bool]:
    """The HMAC key of the API key rows, kept beside the database file (created, mode 0600,
    on first use): someone who can edit the database alone cannot forge a row. True when it
    was created now."""
    if str(path) in ("", ":memory:"):
        return secrets.token_bytes(32), True
    key_path = Path(path).parent / API_KEY_MAC_FILE
    if not key_path.exists():
        # Written whole under another name, then linked: a concurrent opener sees no file or
        # the whole key, and exactly one link succeeds.
        fresh = key_path.with_name(f"{API_KEY_MAC_FILE}.{os.getpid()}.tmp")
        fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, secrets.token_bytes(32))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(fresh, key_path)
            created = True
        except FileExistsError:
            created = False
        finally:
            fresh.unlink()
    else:
        created = False
    key = key_path.read_bytes()
    if len(key) != 32:
        raise StorageFailed(f"{key_path} is damaged: expected 32 bytes")
    return key, created


def _existing_mac_key(path: Path | str) -> bytes | None:
    """The HMAC key of the API key rows kept beside ``path``, if there is one (never created)."""
    if not (Path(path).parent / API_KEY_MAC_FILE).exists():
        return None
    return _api_key_mac_key(path)[0]


# Extended result codes of a write that found no room: SQLITE_FULL (ENOSPC), and the unix VFS's
# SQLITE_IOERR_WRITE and SQLITE_IOERR_SHMSIZE, which is how a write or a growth of the
# shared-memory file refused with EFBIG (the process's file-size limit) reaches us.
_NO_SPACE = frozenset({13, 778, 4874})


def _storage_error(what: str, exc: sqlite3.Error) -> StorageFailed:
    if getattr(exc, "sqlite_errorcode", None) in _NO_SPACE:
        return StorageFull(f"{what}: {exc} (the disk is full or the file-size limit reached)")
    return StorageFailed(f"{what}: {exc}")


def _served(
    aeo_id: str, origin: str, seq: int, salt: bytes, payload: bytes, header: bytes
) -> tuple[str, int, bytes]:
    """The cheap check of every payload served: it opens its entry's commitment (one SHA-256)
    and is the record asked for (canonical JSON names it exactly so)."""
    try:
        commitment = orjson.loads(header)["commitment"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        commitment = None
    intact = commitment == payload_commitment(bytes(salt), bytes(payload)).hex()
    if not intact or f'"aeo_id":"{aeo_id}"'.encode() not in payload:
        raise IntegrityError(
            "payload-mismatch",
            f"the payload held for {aeo_id} does not open its entry's commitment",
            origin=origin,
            seq=seq,
        )
    return origin, seq, bytes(payload)


# A record version as the derived tables hold it: origin, seq, ts, aeo_id, status code,
# certificate, legal name, [(scheme, value)].
_Version = tuple[str, int, int, str, str, str, str, list[tuple[str, str]]]
_RECORDS = frozenset(kind.value for kind in RECORD_KINDS)


def _version(header: dict[str, Any], payload: bytes) -> _Version:
    """A version's derived row read straight from its signed header and payload: both were
    validated when written and the payload opens the header's commitment (verification checks
    that), so rebuilding needs no second validation, only the fields."""
    record = orjson.loads(payload)
    return (
        header["origin"],
        header["seq"],
        header["ts"],
        record["aeo_id"],
        record["status"]["code"],
        record["certificate"],
        record["legal_name"],
        [(i["scheme"], i["value"]) for i in record["identifiers"]],
    )


def _record(payload: bytes) -> AeoRecord:
    return AeoRecord.from_dict(parse_json(payload))
