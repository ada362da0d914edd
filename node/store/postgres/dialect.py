"""The table families' SQL (written for SQLite, ``node.store.sqlite``) as PostgreSQL runs it.

The families' statements are fixed strings plus placeholders, so a handful of rewrites covers
them all; a statement that still holds a SQLite-only construct after them is refused
(``ValueError``) rather than sent, so a new query that needs a rule fails its first test on
PostgreSQL instead of answering differently:

- the erasures' deletions of payloads and views call the functions that do them with the
  schema owner's rights (``node.store.postgres.schema``, version 3);
- ``?`` placeholders become ``%s`` (and a literal ``%`` becomes ``%%``), psycopg's format;
- ``INSERT OR IGNORE`` becomes ``INSERT ... ON CONFLICT DO NOTHING``;
- ``INSERT OR REPLACE INTO t (k, a, b)`` becomes an upsert on ``k``, the first column named
  (the only such statement writes ``aeo_current``, keyed by ``aeo_id``);
- two-argument ``min``/``max`` (SQLite's scalar forms) become ``LEAST``/``GREATEST``;
- ``instr(CAST(x AS TEXT), y)`` becomes ``strpos(convert_from(x, 'UTF8'), y)``: ``x`` holds
  UTF-8 JSON bytes (RFC 8785), which PostgreSQL would otherwise print as hex;
- ``json_extract(CAST(x AS TEXT), '$.k')`` becomes ``(convert_from(x, 'UTF8')::jsonb ->> 'k')``
  as a ``bigint`` (the only such field read is ``ts``, an integer);
- ``json_each(CAST(x AS TEXT), '$.k') i`` becomes ``jsonb_array_elements(... -> 'k') i`` and
  ``json_extract(i.value, '$.k')`` becomes ``(i.value ->> 'k')``.
"""

from __future__ import annotations

import functools
import re

__all__ = ["ROWS_PER_INSERT", "rows_insert", "translate"]

# Rows sent in one multi-row INSERT (well inside the 65,535 parameters of a statement).
ROWS_PER_INSERT = 250

_ERASING = {
    "DELETE FROM payloads WHERE origin = ? AND seq = ?": "SELECT mra_erase_payload(?, ?)",
    "DELETE FROM views WHERE origin = ? AND seq = ?": "SELECT mra_purge_view(?, ?)",
}
_BYTES_AS_TEXT = r"CAST\((\w+(?:\.\w+)?) AS TEXT\)"
_UNTRANSLATED = re.compile(r"\?|\bjson_extract\(|\bjson_each\(|\binstr\(|\bPRAGMA\b| OR IGNORE ")


@functools.cache
def translate(sql: str) -> str:
    """``sql`` (SQLite, ``?`` placeholders) as PostgreSQL and psycopg take it.

    Raises ValueError when a construct without a rule is left."""
    sql = _ERASING.get(sql, sql)
    out = sql.replace("%", "%%")
    out = re.sub(
        rf"json_each\({_BYTES_AS_TEXT}, '\$\.(\w+)'\) (\w+)",
        r"jsonb_array_elements(convert_from(\1, 'UTF8')::jsonb -> '\2') \3",
        out,
    )
    out = re.sub(r"json_extract\((\w+)\.value, '\$\.(\w+)'\)", r"(\1.value ->> '\2')", out)
    out = re.sub(
        rf"json_extract\({_BYTES_AS_TEXT}, '\$\.(\w+)'\)",
        r"(convert_from(\1, 'UTF8')::jsonb ->> '\2')::bigint",
        out,
    )
    out = re.sub(rf"instr\({_BYTES_AS_TEXT}, ", r"strpos(convert_from(\1, 'UTF8'), ", out)
    out = re.sub(r"\bmin\(([^(),]+),", r"LEAST(\1,", out)
    out = re.sub(r"\bmax\(([^(),]+),", r"GREATEST(\1,", out)
    if out.startswith("INSERT OR IGNORE INTO "):
        out = (
            "INSERT INTO " + out.removeprefix("INSERT OR IGNORE INTO ") + " ON CONFLICT DO NOTHING"
        )
    elif out.startswith("INSERT OR REPLACE INTO "):
        out = "INSERT INTO " + out.removeprefix("INSERT OR REPLACE INTO ") + _upsert(out)
    out = out.replace("?", "%s")
    if _UNTRANSLATED.search(out.replace("%s", "")):
        raise ValueError(f"no PostgreSQL translation for: {sql}")
    return out


_ONE_ROW = re.compile(
    r"(INSERT INTO \w+ \([\w, ]+\) VALUES )(\((?:%s, )*%s\))( ON CONFLICT DO NOTHING)?"
)


@functools.lru_cache(maxsize=256)
def rows_insert(statement: str, count: int) -> str | None:
    """``statement`` (translated, one row of placeholders) taking ``count`` rows in one
    VALUES list, for a plain INSERT or one that ignores conflicts: one statement for many rows
    instead of one per row, inserted in the order given. None for any other statement (an
    upsert may meet the same key twice in one batch, which one statement cannot do)."""
    found = _ONE_ROW.fullmatch(statement)
    if found is None:
        return None
    head, row, tail = found.groups()
    return head + ", ".join([row] * count) + (tail or "")


def _upsert(sql: str) -> str:
    found = re.search(r"\(([\w, ]+)\)", sql)
    if found is None:
        raise ValueError(f"INSERT OR REPLACE without columns: {sql}")
    key, *rest = (c.strip() for c in found.group(1).split(","))
    updates = ", ".join(f"{c} = excluded.{c}" for c in rest)
    return f" ON CONFLICT ({key}) DO UPDATE SET {updates}"
