"""The two roles of a PostgreSQL-backed node: the owner of the schema and the node's runtime role.

The owner (``MRA_DATABASE_OWNER_URL``, or ``MRA_DATABASE_URL`` alone as before) creates and
migrates the tables, moves a SQLite ledger in, rebuilds the derived tables and rewrites the
erased tables (``VACUUM FULL``, which only a table's owner may run). The runtime role
(``MRA_DATABASE_URL``) is what the serving node connects as; ``grant_runtime`` gives it only:

- SELECT and INSERT on every table: the logs, payloads, views, versions, events, the access
  log and the rest are only ever appended to;
- UPDATE and DELETE where rows genuinely change (``MUTABLE``): the current state and the
  identifier lookups it derives, API keys (revocation), webhooks, delivery cursors, forks
  (their resolution);
- EXECUTE on the two functions that delete an erased payload or a purged view (schema version
  3), which run with the owner's rights and whose guard triggers refuse any other row.

So the append-only rules hold twice: the triggers refuse the statement, and the runtime role
could not drop, disable or alter the triggers (only a table's owner may), nor UPDATE or DELETE
a log row in the first place. ``append_only_warning`` says when a node runs as the owner (or a
superuser), where only the triggers stand.
"""

from __future__ import annotations

import re

from psycopg import sql

from node.store.postgres.connection import SCRUB_PENDING, PgConnection

__all__ = [
    "MUTABLE",
    "append_only_warning",
    "current_role",
    "grant_runtime",
    "may_migrate",
    "owns_tables",
    "warnings",
]

# table -> what the runtime role may do to its rows beyond SELECT and INSERT
MUTABLE = {
    "aeo_current": "UPDATE, DELETE",  # an upsert per new version; deleted by an erasure
    "trader_ids": "DELETE",  # replaced per new version; deleted by an erasure
    "view_ids": "DELETE",  # indexed again when a purge deletes views
    "api_keys": "UPDATE",  # revoked, and sealed with the HMAC key
    "webhooks": "UPDATE",  # removed, and their next event
    "delivery_cursors": "UPDATE",  # moved on by each delivery
    "forks": "UPDATE",  # resolved
}
_ERASING = ("mra_erase_payload(TEXT, BIGINT)", "mra_purge_view(TEXT, BIGINT)")
_ROLE = re.compile(r"^[a-z_][a-z0-9_$]{0,62}$")


def grant_runtime(db: PgConnection, role: str) -> list[str]:
    """Give ``role`` (an existing role, not the owner) what a serving node needs, as above, in
    one transaction on ``db`` (connected as the owner); returns the statements run.

    Raises ValueError for a role name that is not a plain lower-case identifier."""
    if not _ROLE.fullmatch(role):
        raise ValueError(f"not a plain role name (lower-case letters, digits, _): {role!r}")
    name = sql.Identifier(role)
    schema = sql.Identifier(_current_schema(db))
    tables = [
        row[0]
        for row in db.conn.native(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            " AND tablename <> 'mra_schema' ORDER BY tablename"
        )
    ]
    statements = [
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, name),
        sql.SQL("GRANT SELECT ON mra_schema TO {}").format(name),
        *(
            sql.SQL("GRANT SELECT, INSERT{} ON {} TO {}").format(
                sql.SQL(", " + MUTABLE[t] if t in MUTABLE else ""), sql.Identifier(t), name
            )
            for t in tables
        ),
        # mra_changes (the change mark) and the identity columns' sequences
        sql.SQL("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(
            schema, name
        ),
        *(sql.SQL(f"GRANT EXECUTE ON FUNCTION {f} TO {{}}").format(name) for f in _ERASING),
    ]
    with db.transaction():
        raw = db.conn.raw  # the writer's session, this transaction's
        for statement in statements:
            raw.execute(statement)
        return [statement.as_string(raw) for statement in statements]


def _current_schema(db: PgConnection) -> str:
    row = db.conn.native("SELECT current_schema()").fetchone()
    return str(row[0]) if row else "public"


def current_role(db: PgConnection) -> str:
    """The role ``db``'s sessions run as."""
    row = db.conn.native("SELECT current_user").fetchone()
    return str(row[0]) if row else "?"


def owns_tables(db: PgConnection) -> bool:
    """Whether this session's role could drop or disable the append-only triggers: it is a
    superuser, or owns (or is a member of the owner of) the log's tables."""
    row = db.conn.native(
        "SELECT r.rolsuper OR pg_has_role(current_user, c.relowner, 'USAGE')"
        " FROM pg_roles r, pg_class c"
        " WHERE r.rolname = current_user AND c.oid = to_regclass('entries')"
    ).fetchone()
    return bool(row and row[0])


def may_migrate(db: PgConnection) -> bool:
    """Whether this session's role may create and alter the schema: it owns the log's tables
    (or is a superuser), or there are none yet and it may create tables in the schema."""
    row = db.conn.native(
        "SELECT to_regclass('entries') IS NULL AND has_schema_privilege(current_schema(), 'CREATE')"
    ).fetchone()
    return owns_tables(db) or bool(row and row[0])


def append_only_warning(db: PgConnection) -> str | None:
    """What ``mra ledger verify`` warns of when the node's own role owns its tables (None when
    it does not): the triggers alone enforce the append-only rules, and that role may drop
    them."""
    if not owns_tables(db):
        return None
    return (
        "append-only is enforced by triggers only: the database role"
        f" {current_role(db)} owns the tables (or is a superuser) and could drop"
        " them; give the node a runtime role ('mra ledger grant ROLE' with the owner's URL,"
        " README: Operations, PostgreSQL)"
    )


def warnings(db: PgConnection) -> list[str]:
    """What ``/v1/health`` warns of about the database: the triggers standing alone, and an
    erasure's rewrite left pending for want of the owner's URL."""
    found = [w for w in (append_only_warning(db),) if w is not None]
    if db.scrub_pending:
        found.append(SCRUB_PENDING)
    return found
