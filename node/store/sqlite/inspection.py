"""What verification reads about the file itself rather than about the ledger: the schema as
stored, SQLite's own integrity check, rows filed under an unknown origin, and the differences
between the derived tables and a rebuild of them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.request import pathname2url

from node.store.sqlite.connection import Connection
from node.store.sqlite.schema import DERIVED_KEYS, ORIGIN_COLUMNS

__all__ = ["derived_differences", "integrity_problems", "schema_objects", "stray_origins"]


def schema_objects(db: Connection) -> dict[tuple[str, str], str | None]:
    """Every table, index and trigger: (type, name) -> the SQL that created it."""
    rows = db.conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return {(kind, name): sql for kind, name, sql in rows}


def integrity_problems(db: Connection, *, quick: bool = False) -> list[str]:
    """What SQLite's own check finds wrong with the file's pages and indexes (none: [])."""
    pragma = "quick_check" if quick else "integrity_check"
    rows = db.conn.execute(f"PRAGMA {pragma}(100)").fetchall()
    found = [str(r[0]) for r in rows]
    return [] if found == ["ok"] else found


def stray_origins(db: Connection) -> list[tuple[str, str]]:
    """(table, origin) for rows filed under an origin that has neither keys nor entries."""
    known = "SELECT origin FROM keys UNION SELECT origin FROM entries"
    found: list[tuple[str, str]] = []
    for table, column in ORIGIN_COLUMNS:
        found.extend(
            (table, str(origin))
            for (origin,) in db.conn.execute(
                f"SELECT DISTINCT {column} FROM {table} WHERE {column} NOT IN ({known})"
                f" ORDER BY {column}"
            )
        )
    return found


def derived_differences(
    db: Connection, rebuilt: Path, *, limit: int
) -> Iterator[tuple[str, list[tuple[str, str | None, str | None]]]]:
    """For each derived table, the rows that differ from the same table in the database
    at ``rebuilt``: (key, row held or None, row rebuilt or None), ``limit`` at most, the
    last entry counting the rest. Reads this file on a connection of its own (read-only),
    so no statement left open on this one can stand in the way."""
    conn = sqlite3.connect(f"file:{pathname2url(str(rebuilt))}", uri=True)
    try:
        held = f"file:{pathname2url(str(db.path.resolve()))}?mode=ro"
        conn.execute("ATTACH DATABASE ? AS held", (held,))
        for table, key in DERIVED_KEYS.items():
            if _same_rows(conn, f"held.{table}", f"main.{table}", key):
                continue
            extra = _differing(conn, f"held.{table}", f"main.{table}", key, limit)
            missing = _differing(conn, f"main.{table}", f"held.{table}", key, limit)
            if extra or missing:
                yield table, _pair_rows(extra, missing, limit)
    finally:
        conn.close()


def _same_rows(conn: sqlite3.Connection, one: str, other: str, key: str) -> bool:
    """True when tables ``one`` and ``other`` (the same table in two schemas) hold the same
    rows. When both were created alike, ``key`` is the primary key of each, so neither holds
    a key twice: equal counts of ``one``, of ``other`` and of their join on every column then
    mean that each row of one has its equal in the other, and no more rows. All of it runs in
    SQLite, a quarter of the time of comparing the rows fetched in key order (1.9 s of CPU
    against 7.7 s at 1M records). ``one`` is read from its table's own B-tree (``NOT
    INDEXED``), which the queries answer from, never from an index that could disagree with
    it. False says only that ``_differing`` must look (a table created otherwise, and what
    cannot be read, are left to it)."""
    (one_schema, _), (schema, table) = one.split("."), other.split(".")
    created = [
        conn.execute(
            f"SELECT sql FROM {s}.sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        for s in (one_schema, schema)
    ]
    if created[0] != created[1]:
        return False
    columns = [row[1] for row in conn.execute(f"PRAGMA {schema}.table_info({table})")]
    keys = [k.strip() for k in key.split(",")]
    matched = " AND ".join(
        [f"h.{c} = m.{c}" for c in keys] + [f"h.{c} IS m.{c}" for c in columns if c not in keys]
    )
    try:
        counts = [
            conn.execute(f"SELECT count(*) FROM {one} NOT INDEXED").fetchone()[0],
            conn.execute(f"SELECT count(*) FROM {other}").fetchone()[0],
            conn.execute(
                f"SELECT count(*) FROM {one} AS h NOT INDEXED JOIN {other} AS m ON {matched}"
            ).fetchone()[0],
        ]
    except sqlite3.Error:
        return False
    return len(set(counts)) == 1


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
