"""What verification reads about a PostgreSQL database rather than about the ledger: whether
its schema and append-only triggers are as the migrations made them, and how its derived tables
differ from a rebuild of them (``mra ledger verify``, steps 2 and 7)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

from node.store.postgres.connection import PgConnection
from node.store.postgres.schema import MIGRATIONS, SCHEMA_VERSION
from node.store.sqlite.schema import DERIVED_KEYS

__all__ = ["derived_differences", "schema_problems"]

_TRIGGER = re.compile(r"^CREATE TRIGGER (\w+) .* ON (\w+)")
_FUNCTION = re.compile(r"^CREATE FUNCTION (\w+)\([^)]*\).*?\$\$(.*)\$\$$", re.DOTALL)


def schema_problems(db: PgConnection) -> list[str]:
    """What differs from the migrations: the schema version, and each trigger, trigger
    function and erasing function that enforces the append-only rules (missing, disabled, or
    its body changed).
    None: []."""
    found: list[str] = []
    version = db.schema_version
    if version != SCHEMA_VERSION:
        found.append(f"schema version {version}, not {SCHEMA_VERSION}")
    statements = [s for migration in MIGRATIONS for s in migration]
    triggers = {
        (m.group(1), m.group(2)) for s in statements if (m := _TRIGGER.match(s)) is not None
    }
    held = {
        (name, table): enabled
        for name, table, enabled in db.conn.raw.execute(
            "SELECT t.tgname, c.relname, t.tgenabled FROM pg_trigger t"
            " JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
        )
    }
    for name, table in sorted(triggers):
        if (name, table) not in held:
            found.append(f"trigger {name} on {table} missing")
        elif held[(name, table)] == "D":
            found.append(f"trigger {name} on {table} is disabled")
    for name, table in sorted(set(held) - triggers):
        found.append(f"trigger {name} on {table} was added")
    functions = {m.group(1): m.group(2) for s in statements if (m := _FUNCTION.match(s))}
    bodies = dict(
        db.conn.raw.execute(
            "SELECT proname, prosrc FROM pg_proc WHERE proname = ANY(%s)", (list(functions),)
        ).fetchall()
    )
    for name, body in sorted(functions.items()):
        if bodies.get(name) != body:
            found.append(f"function {name} differs from its migration")
    return found


def derived_differences(
    db: PgConnection, rebuilt: Path, *, limit: int
) -> Iterator[tuple[str, list[tuple[str, str | None, str | None]]]]:
    """As ``node.store.sqlite.inspection.derived_differences``: for each derived table, the
    rows that differ from the same table in the SQLite file at ``rebuilt`` (key, row held or
    None, row rebuilt or None), ``limit`` at most, the last entry counting the rest."""
    conn = sqlite3.connect(f"file:{pathname2url(str(rebuilt))}?mode=ro", uri=True)
    try:
        for table, key in DERIVED_KEYS.items():
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            listed = ", ".join(columns)
            width = len(key.split(","))
            built = set(conn.execute(f"SELECT {listed} FROM {table}"))
            held = {tuple(row) for row in db.conn.raw.execute(f"SELECT {listed} FROM {table}")}
            extra = _named(sorted(held - built, key=repr), columns, width, limit)
            missing = _named(sorted(built - held, key=repr), columns, width, limit)
            if extra or missing:
                yield table, _paired(extra, missing, limit)
    finally:
        conn.close()


def _named(rows: list[tuple[Any, ...]], names: list[str], width: int, limit: int) -> dict[str, str]:
    return {
        " ".join(str(v) for v in row[:width]): ", ".join(
            f"{n}={v!r}" for n, v in zip(names[width:], row[width:], strict=True)
        )
        for row in rows[: limit + 1]
    }


def _paired(
    held: dict[str, str], derived: dict[str, str], limit: int
) -> list[tuple[str, str | None, str | None]]:
    keys = sorted(set(held) | set(derived))
    pairs = [(key, held.get(key), derived.get(key)) for key in keys[:limit]]
    if len(keys) > limit:
        pairs.append(("...", f"{len(keys) - limit} more rows differ", None))
    return pairs
