"""The node's SQLite file, split by table family over one shared connection: ``schema``
(migrations), ``connection`` (opening, reads per thread, transactions), ``log`` (entries,
payloads, Merkle nodes, checkpoints, the append), ``derived`` and ``records`` (record state
derived from the log), ``erasures``, ``replication`` (views, cosignatures, forks, deliveries),
``local`` (access log, events, webhooks), ``apikeys`` and ``inspection`` (what verification
reads about the file); ``Tables`` (``tables``) names the families as methods, and
``SqliteStore`` (``store``) adds the file itself and the access log's file beside it
(``access_file``; ``PostgresStore`` runs the same families in one database).
"""

from node.store.sqlite.access_file import ACCESS_OBJECTS, access_path
from node.store.sqlite.apikeys import API_KEY_MAC_FILE, API_KEY_MAC_TAG
from node.store.sqlite.schema import (
    ACCESS_MIGRATIONS,
    DERIVED_KEYS,
    DERIVED_TABLES,
    MIGRATIONS,
    SCHEMA_VERSION,
)
from node.store.sqlite.store import SqliteStore

__all__ = [
    "ACCESS_MIGRATIONS",
    "ACCESS_OBJECTS",
    "API_KEY_MAC_FILE",
    "API_KEY_MAC_TAG",
    "DERIVED_KEYS",
    "DERIVED_TABLES",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SqliteStore",
    "access_path",
]
