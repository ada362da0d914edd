"""``SqliteStore``: one node's SQLite file, its table families sharing one connection.

Each family is a module of functions over the shared ``Connection`` (``log``, ``records``,
``derived``, ``erasures``, ``replication``, ``local``, ``apikeys``, ``inspection``); this class
only opens the file and names those functions as its methods, so one append is still one
transaction whichever tables it writes, and the store structurally satisfies every protocol of
``node.store.protocols``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Self

from node.core.errors import StorageFailed
from node.store.sqlite import (
    apikeys,
    derived,
    erasures,
    inspection,
    local,
    log,
    records,
    replication,
)
from node.store.sqlite.connection import Connection, connect, connect_read_only
from node.store.sqlite.schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from node.store.protocols import Store

__all__ = ["SqliteStore"]


class SqliteStore(Connection):
    """One node's SQLite file. Open with ``SqliteStore.open(path)``; close when done."""

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

    # -- the log ---------------------------------------------------------------------------------
    append = log.append
    add_key = log.add_key
    add_payload = log.add_payload
    add_checkpoint = log.add_checkpoint
    origins = log.origins
    size = log.size
    head = log.head
    entries = log.entries
    entry = log.entry
    entry_seqs_of_kind = log.entry_seqs_of_kind
    orphan_payload = log.orphan_payload
    all_tree_nodes = log.all_tree_nodes
    tree_nodes = log.tree_nodes
    public_key = log.public_key
    keys = log.keys
    checkpoints = log.checkpoints
    latest_checkpoint = log.latest_checkpoint
    checkpoint_at = log.checkpoint_at
    checkpoint_covering = log.checkpoint_covering

    # -- derived record state --------------------------------------------------------------------
    rebuild_derived = derived.rebuild_derived
    derive_into = derived.derive_into
    current_record = records.current_record
    current_records = records.current_records
    current_payload = records.current_payload
    current_payloads = records.current_payloads
    list_records = records.list_records
    count_records = records.count_records
    find_by_identifier = records.find_by_identifier
    status_counts = records.status_counts
    version_at = records.version_at
    own_versions = records.own_versions
    final_records = records.final_records
    agreement_entries = records.agreement_entries

    # -- erasures and purges ---------------------------------------------------------------------
    erasure_of = erasures.erasure_of
    erasures_of = erasures.erasures_of
    erased_among = erasures.erased_among
    erased_entries = erasures.erased_entries
    withheld = erasures.withheld
    pending_erasures = erasures.pending_erasures
    purges_answering = erasures.purges_answering
    purges_of = erasures.purges_of

    # -- replication -----------------------------------------------------------------------------
    add_views = replication.add_views
    view_of = replication.view_of
    views_of = replication.views_of
    view_at = replication.view_at
    views_by_identifier = replication.views_by_identifier
    views_held = replication.views_held
    views_count = replication.views_count
    view_agreements = replication.view_agreements
    views_by_record = replication.views_by_record
    count_views = replication.count_views
    all_views = replication.all_views
    add_cosignature = replication.add_cosignature
    cosignatures = replication.cosignatures
    all_cosignatures = replication.all_cosignatures
    add_fork = replication.add_fork
    forks = replication.forks
    frozen_origins = replication.frozen_origins
    resolve_forks = replication.resolve_forks
    delivery_cursor = replication.delivery_cursor
    set_delivery_cursor = replication.set_delivery_cursor

    # -- local state: access log, events, webhooks, API keys -------------------------------------
    append_access = local.append_access
    access_size = local.access_size
    access_hash = local.access_hash_at
    access_chain = local.access_chain
    access_rows = local.access_rows
    events = local.events
    last_event_id = local.last_event_id
    received_events = local.received_events
    add_webhook = local.add_webhook
    webhooks = local.webhooks
    remove_webhook = local.remove_webhook
    add_webhook_attempt = local.add_webhook_attempt
    webhook_attempts = local.webhook_attempts
    add_api_key = apikeys.add_api_key
    revoke_api_key = apikeys.revoke_api_key
    api_keys = apikeys.api_keys
    api_key = apikeys.api_key

    # -- what verification reads about the file --------------------------------------------------
    schema_objects = inspection.schema_objects
    integrity_problems = inspection.integrity_problems
    stray_origins = inspection.stray_origins
    derived_differences = inspection.derived_differences


if TYPE_CHECKING:
    _conforms: type[Store] = SqliteStore  # a method drifting from the protocols fails mypy
