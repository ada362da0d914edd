"""Moving a node's ledger from its SQLite file into an empty PostgreSQL database, whole.

Every table's rows are copied as they are (``COPY``, one transaction): the log, its Merkle
nodes, checkpoints, payloads, views, the derived tables, the access log and the API keys. The
log is not re-signed, so the node continues the same history, from the same seq; nothing is
forked. The copy is then checked: the PostgreSQL database holds as many rows in each table as
the file, and each log's head (size and last entry hash) is the same.

Why a whole copy, not a replay: a replay through the writer would sign every entry again, which
is a second history; and the access log, erasures and received views are this node's records,
not something a peer could give back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from node.core.errors import InvalidInput, StorageFailed
from node.store.postgres import PostgresStore
from node.store.postgres.session import connect
from node.store.postgres.store import redacted
from node.store.sqlite import SqliteStore
from node.store.sqlite.access_file import ACCESS_TABLES
from node.store.sqlite.connection import SqliteConnection

__all__ = ["Moved", "copy_to_postgres"]

_BOOKKEEPING = {"mra_schema"}  # the PostgreSQL schema's own version table: never copied


@dataclass(frozen=True, slots=True)
class Moved:
    """What was copied: rows per table, and each log's size."""

    rows: dict[str, int]
    logs: dict[str, int]


def _pg_tables(raw: psycopg.Connection[Any]) -> dict[str, list[str]]:
    cursor = raw.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    )
    tables: dict[str, list[str]] = {}
    for table, column in cursor:
        if table not in _BOOKKEEPING:
            tables.setdefault(str(table), []).append(str(column))
    return tables


def _sqlite_columns(source: SqliteConnection, table: str) -> list[str]:
    return [str(row[1]) for row in source.conn.execute(f"PRAGMA table_info({table})")]


def _file_of(source: SqliteStore, table: str) -> SqliteConnection:
    """The file holding ``table``: the access log has one of its own."""
    return source.access_file if table in ACCESS_TABLES else source


def _heads(store: SqliteStore | PostgresStore) -> dict[str, tuple[int, bytes]]:
    heads: dict[str, tuple[int, bytes]] = {}
    for origin in store.origins():
        head = store.head(origin)
        if head is not None:
            heads[origin] = (head.size, head.last_hash)
    return heads


def copy_to_postgres(db_path: Path, url: str) -> Moved:
    """Copy the ledger in the SQLite file ``db_path`` (migrated to this software's schema
    first) into the empty PostgreSQL database at ``url`` and check the copy.

    The node must not run meanwhile (the caller holds the home's lock). Raises InvalidInput
    (field ``MRA_DATABASE_URL``) when the database already holds rows, and StorageFailed when
    the schemas differ, the server fails, or the copy does not match the file; the database is
    then left as it was (one transaction)."""
    if not db_path.exists():
        raise InvalidInput(
            f"{db_path} does not exist: there is no SQLite ledger to move", field="home"
        )
    source = SqliteStore.open(db_path)  # migrated: both schemas are this software's
    target = PostgresStore.open(url, db_path)
    try:
        source_heads = _heads(source)
        with connect(url) as raw, raw.transaction():
            tables = _pg_tables(raw)
            held = [t for t in tables if raw.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone()]
            if held:
                raise InvalidInput(
                    f"the PostgreSQL database at {redacted(url)} is not empty ({', '.join(held)}"
                    " hold rows): a ledger moves only into an empty database",
                    field="MRA_DATABASE_URL",
                )
            rows = {
                table: _copy_table(source, raw, table, columns) for table, columns in tables.items()
            }
            _advance_identities(raw, tables)
        moved_heads = _heads(target)
        if moved_heads != source_heads:
            raise StorageFailed(
                f"the copy in {redacted(url)} does not end where {db_path} does"
                f" ({_describe(moved_heads)} against {_describe(source_heads)})"
            )
        return Moved(rows=rows, logs={origin: size for origin, (size, _) in source_heads.items()})
    except psycopg.Error as exc:
        raise StorageFailed(f"cannot copy into {redacted(url)}: {exc}") from exc
    finally:
        target.close()
        source.close()


def _copy_table(
    source: SqliteStore, raw: psycopg.Connection[Any], table: str, columns: list[str]
) -> int:
    """Copy ``table``'s rows; returns how many, after checking PostgreSQL counts as many."""
    held_in = _file_of(source, table)
    have = _sqlite_columns(held_in, table)
    if sorted(have) != sorted(columns):
        raise StorageFailed(
            f"table {table} has columns {', '.join(have) or 'none'} in SQLite and"
            f" {', '.join(columns)} in PostgreSQL: this software's two schemas disagree"
        )
    listed = ", ".join(columns)
    count = 0
    with raw.cursor().copy(f"COPY {table} ({listed}) FROM STDIN") as copy:
        for row in held_in.conn.execute(f"SELECT {listed} FROM {table}"):
            copy.write_row(row)
            count += 1
    copied = raw.execute(f"SELECT count(*) FROM {table}").fetchone()
    if copied is None or int(copied[0]) != count:
        raise StorageFailed(f"table {table}: {count} rows read, {copied} in PostgreSQL")
    return count


def _advance_identities(raw: psycopg.Connection[Any], tables: dict[str, list[str]]) -> None:
    """Set each identity column's sequence past the ids copied, so new rows never collide."""
    cursor = raw.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'"
    )
    for table, column in list(cursor):
        if table in tables:
            raw.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                f" coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)"
            )
    raw.execute("SELECT nextval('mra_changes')")  # readers' caches see a change


def _describe(heads: dict[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{o} {n} entries" for o, (n, _) in sorted(heads.items())) or "no logs"
