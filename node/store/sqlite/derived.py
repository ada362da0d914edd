"""Writing the derived tables: current state and versions per AEO, trader identifiers, the
agreement entry index, erasures and purges, and status events. Each is written with the entries
it derives from (in their transaction), and ``rebuild_derived`` recomputes them all from the
log at any time.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

import orjson

from node.core.canonical import parse_json
from node.core.entries import ERASURE_KINDS, RECORD_KINDS, EntryHeader
from node.core.errors import InvalidInput
from node.core.records import AeoRecord
from node.store.rows import Version, document_row, version_of, version_row
from node.store.sqlite.connection import Connection
from node.store.sqlite.schema import DERIVED_TABLES

__all__ = [
    "add_status_events",
    "add_versions",
    "add_view_ids",
    "derive_into",
    "identifiers_shown",
    "index_agreements",
    "index_erasures",
    "rebuild_derived",
    "refresh_view_ids",
    "view_identifiers",
]

_DERIVE_CHUNK = 5000
_RECORDS = frozenset(kind.value for kind in RECORD_KINDS)
_DOCUMENT_COLUMNS = {
    "erasures": "origin, seq, ts, aeo_id, basis, reason, partners, origin_copy, entries",
    "purges": "origin, seq, ts, of_origin, aeo_id, erasure, reason, views, entries",
}


def index_erasures(db: Connection, documents: list[tuple[EntryHeader, bytes]]) -> None:
    """File each erasure and purge among ``documents`` (header, payload) in its table."""
    for header, payload in documents:
        found = document_row(header, payload)
        if found is not None:
            table, row = found
            db.conn.execute(
                f"INSERT OR IGNORE INTO {table} ({_DOCUMENT_COLUMNS[table]})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )


def add_status_events(db: Connection, versions: list[tuple[str, int, int, str, Any]]) -> None:
    """An event for each version (origin, seq, ts, aeo_id, status) whose status code
    differs from the version before it held here (a first version is an event too)."""
    _add_events(
        db,
        [
            (origin, seq, ts, aeo_id, status["code"], status.get("effective"))
            for origin, seq, ts, aeo_id, status in versions
            if isinstance(status, dict) and isinstance(status.get("code"), str)
        ],
    )


def add_versions(db: Connection, versions: list[tuple[EntryHeader, AeoRecord]]) -> None:
    """Record versions appended now (in log order): their status events (as
    ``add_status_events``), then each becomes the current state of its AEO."""
    rows = [version_row(h, r) for h, r in versions]
    _add_events(
        db,
        [
            (v[0], v[1], v[2], v[3], v[4], r.status.effective.isoformat())
            for v, (_, r) in zip(rows, versions, strict=True)
        ],
    )
    _apply_versions(db, rows)


def _add_events(db: Connection, versions: list[tuple[str, int, int, str, str, Any]]) -> None:
    """Events of versions (origin, seq, ts, aeo_id, status code, effective)."""
    last = _statuses_before(db, versions)
    events = []
    for origin, seq, ts, aeo_id, code, effective in versions:
        previous = last.get(aeo_id)
        if code != previous:
            events.append((ts, aeo_id, origin, seq, code, previous, effective))
            last[aeo_id] = code
    db.conn.executemany(
        "INSERT INTO events (ts, aeo_id, origin, seq, status, previous, effective)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        events,
    )


def _statuses_before(
    db: Connection, versions: list[tuple[str, int, int, str, str, Any]]
) -> dict[str, str]:
    """The status of the latest event held for each record of ``versions``, as it stood
    before the first of them (one query per 500 records)."""
    first: dict[str, tuple[str, int]] = {}
    for origin, seq, _, aeo_id, _, _ in versions:
        first.setdefault(aeo_id, (origin, seq))
    found: dict[str, str] = {}
    for aeo_id, origin, seq, status in db.rows_for(
        "SELECT aeo_id, origin, seq, status FROM events"
        " WHERE aeo_id IN ({marks}) ORDER BY aeo_id, origin, seq",
        sorted(first),
    ):
        if (origin, seq) < first[aeo_id] and origin == first[aeo_id][0]:
            found[aeo_id] = status
    return found


def index_agreements(db: Connection, headers: list[EntryHeader]) -> None:
    db.conn.executemany(
        "INSERT OR IGNORE INTO agreement_entries (origin, seq) VALUES (?, ?)",
        [(h.origin, h.seq) for h in headers if h.kind.value.startswith("agreement.")],
    )


def _apply_versions(db: Connection, versions: list[Version]) -> None:
    db.conn.executemany(
        "INSERT OR REPLACE INTO aeo_current"
        " (aeo_id, origin, seq, ts, status, certificate, legal_name)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(v[3], v[0], v[1], v[2], v[4], v[5], v[6]) for v in versions],
    )
    db.conn.executemany(
        "INSERT OR IGNORE INTO aeo_versions (aeo_id, seq, ts) VALUES (?, ?, ?)",
        [(v[3], v[1], v[2]) for v in versions],
    )
    db.conn.executemany("DELETE FROM trader_ids WHERE aeo_id = ?", [(v[3],) for v in versions])
    latest = {v[3]: v[7] for v in versions}
    db.conn.executemany(
        "INSERT OR IGNORE INTO trader_ids (scheme, value, aeo_id) VALUES (?, ?, ?)",
        [(scheme, value, aeo_id) for aeo_id, ids in latest.items() for scheme, value in ids],
    )


def view_identifiers(views: Iterable[tuple[str, bytes]]) -> list[tuple[str, str, str]]:
    """(scheme, value, aeo_id) of each trader identifier the views ``(aeo_id, body)`` show
    (a contract may withhold them: then none). A body that does not parse shows none: it is
    damage that verification names in the views themselves."""
    found: list[tuple[str, str, str]] = []
    for aeo_id, body in views:
        try:
            shown = parse_json(body.encode() if isinstance(body, str) else bytes(body))
        except (InvalidInput, TypeError):
            continue
        found += identifiers_shown(aeo_id, shown)
    return found


def identifiers_shown(aeo_id: str, view: object) -> list[tuple[str, str, str]]:
    """(scheme, value, aeo_id) of each trader identifier one parsed view shows."""
    shown = view.get("identifiers") if isinstance(view, dict) else None
    if not isinstance(shown, list):
        return []
    return [
        (i["scheme"], i["value"], aeo_id)
        for i in shown
        if isinstance(i, dict)
        and isinstance(i.get("scheme"), str)
        and isinstance(i.get("value"), str)
    ]


def add_view_ids(db: Connection, rows: list[tuple[str, str, str]]) -> None:
    """Index identifiers (scheme, value, aeo_id) of views just kept (``view_ids``)."""
    db.conn.executemany(
        "INSERT OR IGNORE INTO view_ids (scheme, value, aeo_id) VALUES (?, ?, ?)", rows
    )


def refresh_view_ids(db: Connection, aeo_id: str) -> None:
    """Index again the identifiers of the views still held of ``aeo_id`` (after a purge)."""
    db.conn.execute("DELETE FROM view_ids WHERE aeo_id = ?", (aeo_id,))
    held = db.conn.execute("SELECT aeo_id, body FROM views WHERE aeo_id = ?", (aeo_id,))
    add_view_ids(db, view_identifiers(held.fetchall()))


def rebuild_derived(db: Connection, own: str | None) -> int:
    """Drop and recompute the derived tables from the log (``own``: the node's origin,
    whose erased versions keep their place); returns the entries read."""
    with db.transaction():
        for table in DERIVED_TABLES:
            db.conn.execute(f"DELETE FROM {table}")
        return _derive(db, db, own)


def derive_into(db: Connection, target: Connection, own: str | None) -> int:
    """Compute into ``target`` (a fresh store) the derived tables of this store's log,
    exactly as ``rebuild_derived`` would: verification compares the two."""
    with target.transaction():
        return _derive(db, target, own)


def _derive(db: Connection, target: Connection, own: str | None) -> int:
    count = 0
    # Every entry whose payload is held, and every agreement entry (indexed whether or
    # not its document reached this node).
    cursor = db.conn.execute(
        "SELECT e.body, p.body FROM entries e LEFT JOIN payloads p"
        " ON p.origin = e.origin AND p.seq = e.seq WHERE p.seq IS NOT NULL"
        ' OR instr(CAST(e.body AS TEXT), \'"kind":"agreement.\') > 0'
        " ORDER BY e.origin, e.seq"
    )
    # SQLite files the versions in each table's key order at the end; PostgreSQL (through
    # the dialect, which has no rule for the statements that do it) one chunk after another.
    in_key_order = isinstance(target.conn, sqlite3.Connection)
    if in_key_order:
        target.conn.execute(
            "CREATE TEMP TABLE derived_versions (aeo_id TEXT, origin TEXT, seq INTEGER,"
            " ts INTEGER, status TEXT, certificate TEXT, legal_name TEXT, ids TEXT)"
        )
    while rows := cursor.fetchmany(_DERIVE_CHUNK):
        headers = [(orjson.loads(body), body, payload) for body, payload in rows]
        versions = [
            version_of(h, p) for h, _, p in headers if p is not None and h["kind"] in _RECORDS
        ]
        if in_key_order:
            _stage_versions(target, versions)
        else:
            _apply_versions(target, versions)
        # Documents are few: these are parsed (and validated) whole.
        documents = [
            (EntryHeader.from_bytes(body), p) for h, body, p in headers if h["kind"] not in _RECORDS
        ]
        index_agreements(target, [h for h, _ in documents])
        index_erasures(
            target, [(h, p) for h, p in documents if p is not None and h.kind in ERASURE_KINDS]
        )
        count += len(headers)
    if in_key_order:
        _settle_versions(target)
    # Versions of own records erased here keep their place in the trail.
    for origin, entries, aeo_id in target.conn.execute(
        "SELECT origin, entries, aeo_id FROM erasures WHERE origin_copy = 1 AND origin = ?",
        (own,),
    ).fetchall():
        erased = [
            (aeo_id, seq, ts)
            for seq in json.loads(entries)
            for (ts,) in db.conn.execute(
                "SELECT json_extract(CAST(body AS TEXT), '$.ts') FROM entries"
                " WHERE origin = ? AND seq = ?",
                (origin, seq),
            )
        ]
        target.conn.executemany(
            "INSERT OR IGNORE INTO aeo_versions (aeo_id, seq, ts) VALUES (?, ?, ?)", erased
        )
    views = db.conn.execute("SELECT aeo_id, body FROM views ORDER BY origin, seq")
    while held := views.fetchmany(_DERIVE_CHUNK):
        add_view_ids(target, view_identifiers(held))
    return count


def _stage_versions(target: Connection, versions: list[Version]) -> None:
    target.conn.executemany(
        "INSERT INTO temp.derived_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(v[3], v[0], v[1], v[2], v[4], v[5], v[6], orjson.dumps(v[7]).decode()) for v in versions],
    )


def _settle_versions(target: Connection) -> None:
    """File the versions staged in ``temp.derived_versions`` (in log order) as
    ``_apply_versions`` would have one after another, each table written in its key order:
    rows inserted in order fill B-tree pages one after the next, where inserted in log order
    they land at random (issue 26). The three tables start empty (both callers empty them, or
    write a fresh file), so plain inserts do what the replacing ones did."""
    conn = target.conn
    conn.execute(
        "INSERT OR IGNORE INTO aeo_versions (aeo_id, seq, ts)"
        " SELECT aeo_id, seq, ts FROM temp.derived_versions ORDER BY aeo_id, seq, rowid"
    )
    # The latest version of each AEO (SQLite takes the bare columns from the row of max()).
    conn.execute(
        "CREATE TEMP TABLE derived_latest AS SELECT aeo_id, origin, seq, ts, status,"
        " certificate, legal_name, ids, max(rowid) AS n FROM temp.derived_versions"
        " GROUP BY aeo_id ORDER BY aeo_id"
    )
    conn.execute(
        "INSERT INTO aeo_current (aeo_id, origin, seq, ts, status, certificate, legal_name)"
        " SELECT aeo_id, origin, seq, ts, status, certificate, legal_name"
        " FROM temp.derived_latest ORDER BY aeo_id"
    )
    # trader_ids' index by AEO id is built once after, not added to at random row by row.
    by_aeo = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'trader_ids_by_aeo'"
    ).fetchone()
    if by_aeo is not None:
        conn.execute("DROP INDEX trader_ids_by_aeo")
    conn.execute(
        "INSERT OR IGNORE INTO trader_ids (scheme, value, aeo_id)"
        " SELECT json_extract(i.value, '$[0]'), json_extract(i.value, '$[1]'), l.aeo_id"
        " FROM temp.derived_latest l, json_each(l.ids) i ORDER BY 1, 2, 3"
    )
    if by_aeo is not None:
        conn.execute(by_aeo[0])
    conn.execute("DROP TABLE temp.derived_latest")
    conn.execute("DROP TABLE temp.derived_versions")
