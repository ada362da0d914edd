"""The SQLite schema: every migration, in order, as the exact SQL each one ran.

The text of a migration never changes once released: a file's schema is checked against these
statements (``mra ledger verify``, step 2), and ``PRAGMA user_version`` counts how many of them
a file has applied. Triggers refuse UPDATE and DELETE on the log tables; payloads and views may
only be deleted by the erasure or purge naming them.
"""

from __future__ import annotations

__all__ = [
    "ACCESS_MIGRATIONS",
    "ACCESS_MOVED",
    "DERIVED_KEYS",
    "DERIVED_TABLES",
    "MIGRATIONS",
    "ORIGIN_COLUMNS",
    "SCHEMA_VERSION",
]

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
    # version 9: a delivery row names what was delivered (the entry, the view's SHA-256) and
    # the row that first delivered the same view to the same partner, when it repeats one
    (
        "ALTER TABLE access_log ADD COLUMN entry_origin TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE access_log ADD COLUMN entry_seq INTEGER",
        "ALTER TABLE access_log ADD COLUMN view_hash TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE access_log ADD COLUMN repeat_of INTEGER",
        "CREATE INDEX access_deliveries ON access_log (actor, entry_origin, entry_seq, seq)"
        " WHERE entry_seq IS NOT NULL",
    ),
    # version 10: the trader identifiers the views held show (derived), so a query by
    # identifier reads an index instead of every view's JSON
    (
        "CREATE TABLE view_ids (scheme TEXT NOT NULL, value TEXT NOT NULL,"
        " aeo_id TEXT NOT NULL, PRIMARY KEY (scheme, value, aeo_id)) WITHOUT ROWID",
        "CREATE INDEX view_ids_by_aeo ON view_ids (aeo_id)",
        "INSERT OR IGNORE INTO view_ids (scheme, value, aeo_id)"
        " SELECT json_extract(i.value, '$.scheme'), json_extract(i.value, '$.value'), v.aeo_id"
        " FROM views v, json_each(CAST(v.body AS TEXT), '$.identifiers') i"
        " WHERE json_type(CAST(v.body AS TEXT), '$.identifiers') = 'array'"
        " AND json_type(i.value, '$.scheme') = 'text' AND json_type(i.value, '$.value') = 'text'",
    ),
    # version 11: the access log moves to a file of its own (``ACCESS_MIGRATIONS``; its rows
    # are copied there first, ``node.store.sqlite.access_file``): its commits, 20 a second
    # under load, no longer reset the readers' page cache of the ledger (issue 26). Dropping
    # the table drops its indexes and triggers, and fires none.
    ("DROP TABLE access_log",),
)
SCHEMA_VERSION = len(MIGRATIONS)
ACCESS_MOVED = 11  # the version whose migration removes the access log from the ledger's file

# The access log's own file (``node.store.sqlite.access_file``): the table as versions 6 and 9
# left it in the ledger's file, columns in the same order, append-only.
ACCESS_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # version 1
    (
        "CREATE TABLE access_log (seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL,"
        " actor TEXT NOT NULL, action TEXT NOT NULL, channel TEXT NOT NULL,"
        " aeo_id TEXT NOT NULL, agreements TEXT NOT NULL, hash BLOB NOT NULL,"
        " entry_origin TEXT NOT NULL DEFAULT '', entry_seq INTEGER,"
        " view_hash TEXT NOT NULL DEFAULT '', repeat_of INTEGER)",
        "CREATE INDEX access_by_aeo ON access_log (aeo_id, seq)",
        "CREATE INDEX access_deliveries ON access_log (actor, entry_origin, entry_seq, seq)"
        " WHERE entry_seq IS NOT NULL",
        *_append_only("access_log"),
    ),
    # version 2: the index by AEO id is kept in sorted runs behind the log instead of a B-tree
    # written at random on every row (``node.store.sqlite.access_index``); the rows already
    # held become one run, of the top level (``TOP_LEVEL`` when this was written): never
    # merged.
    (
        "DROP INDEX access_by_aeo",
        "CREATE TABLE access_runs (run INTEGER PRIMARY KEY, level INTEGER NOT NULL,"
        " first INTEGER NOT NULL, last INTEGER NOT NULL)",
        "CREATE TABLE access_index (run INTEGER NOT NULL, aeo_id TEXT NOT NULL,"
        " seq INTEGER NOT NULL, PRIMARY KEY (run, aeo_id, seq)) WITHOUT ROWID",
        "INSERT INTO access_runs (run, level, first, last)"
        " SELECT 0, 1, 0, max(seq) FROM access_log HAVING count(*) > 0",
        "INSERT INTO access_index (run, aeo_id, seq) SELECT 0, aeo_id, seq FROM access_log"
        " WHERE EXISTS (SELECT 1 FROM access_runs) ORDER BY aeo_id, seq",
    ),
)
# Each derived table with the columns that name a row (its key, first in its columns).
DERIVED_KEYS = {
    "aeo_current": "aeo_id",
    "aeo_versions": "aeo_id, seq",
    "trader_ids": "scheme, value, aeo_id",
    "view_ids": "scheme, value, aeo_id",
    "agreement_entries": "origin, seq",
    "erasures": "origin, seq",
    "purges": "origin, seq",
}
DERIVED_TABLES = tuple(DERIVED_KEYS)

# Every column that files a row under an origin (checked against the origins with keys or
# entries: a row under any other is damage).
ORIGIN_COLUMNS = (
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
