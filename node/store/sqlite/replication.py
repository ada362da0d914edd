"""The replication tables: views of partners' records (signed by their origin), witnesses'
cosignatures of checkpoints, fork evidence (an origin is frozen while its evidence is open),
and how far deliveries from each origin have been fetched."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from node.core.canonical import parse_json
from node.store.sqlite import derived
from node.store.sqlite.connection import Connection

__all__ = [
    "add_cosignature",
    "add_fork",
    "add_views",
    "all_cosignatures",
    "all_views",
    "cosignatures",
    "count_views",
    "delivery_cursor",
    "forks",
    "frozen_origins",
    "resolve_forks",
    "set_delivery_cursor",
    "view_agreements",
    "view_at",
    "view_of",
    "views_by_identifier",
    "views_by_record",
    "views_count",
    "views_held",
    "views_of",
]

# -- views ---------------------------------------------------------------------------------------


def add_views(db: Connection, rows: Iterable[tuple[str, int, str, str, bytes, bytes, int]]) -> int:
    """Keep views of partners' records: (origin, seq, aeo_id, agreements, body, signature,
    received_ts), each checked by the caller against its origin's signature."""
    added = 0
    with db.transaction():
        fresh = []
        kept: list[tuple[str, str, str]] = []
        for row in sorted(rows, key=lambda r: (r[0], r[1])):
            cursor = db.conn.execute(
                "INSERT OR IGNORE INTO views (origin, seq, aeo_id, agreements, body,"
                " signature, received_ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            if cursor.rowcount:
                added += 1
                origin, seq, aeo_id, _, body, _, received = row
                shown = parse_json(body)
                fresh.append((origin, seq, received, aeo_id, shown.get("status")))
                kept += derived.identifiers_shown(aeo_id, shown)
        derived.add_status_events(db, fresh)
        derived.add_view_ids(db, kept)
    return added


def view_of(db: Connection, aeo_id: str) -> tuple[str, int, str, bytes, bytes] | None:
    """The latest view held of a partner's record: (origin, seq, agreements, body, the
    origin's signature)."""
    row = db.conn.execute(
        "SELECT origin, seq, agreements, body, signature FROM views WHERE aeo_id = ?"
        " ORDER BY seq DESC LIMIT 1",
        (aeo_id,),
    ).fetchone()
    return (row[0], row[1], row[2], bytes(row[3]), bytes(row[4])) if row else None


def views_of(db: Connection, aeo_ids: list[str]) -> dict[str, tuple[str, int, str, bytes, bytes]]:
    """``view_of`` for many ids at once (those held)."""
    found: dict[str, tuple[str, int, str, bytes, bytes]] = {}
    for aeo_id, origin, seq, names, body, signature in db.rows_for(
        "SELECT aeo_id, origin, seq, agreements, body, signature FROM views"
        " WHERE aeo_id IN ({marks}) ORDER BY seq",
        aeo_ids,
    ):
        found[aeo_id] = (origin, seq, names, bytes(body), bytes(signature))
    return found


def view_at(db: Connection, origin: str, seq: int) -> tuple[str, bytes, bytes] | None:
    """(agreements, body, signature) of the view held of ``origin#seq``."""
    row = db.conn.execute(
        "SELECT agreements, body, signature FROM views WHERE origin = ? AND seq = ?",
        (origin, seq),
    ).fetchone()
    return (row[0], bytes(row[1]), bytes(row[2])) if row else None


def views_by_identifier(db: Connection, scheme: str, value: str) -> list[str]:
    """AEO ids of partners' records whose views held here show this identifier (any view
    held, not only the latest: ``view_ids``)."""
    rows = db.conn.execute(
        "SELECT aeo_id FROM view_ids WHERE scheme = ? AND value = ? ORDER BY aeo_id",
        (scheme, value),
    ).fetchall()
    return [r[0] for r in rows]


def views_held(db: Connection, aeo_id: str) -> list[dict[str, Any]]:
    """Every view held of a partner's record, oldest first, with when it was received and
    the entry's own time."""
    rows = db.dicts(
        "SELECT v.origin, v.seq, v.agreements, v.body, v.received_ts,"
        " json_extract(CAST(e.body AS TEXT), '$.ts') AS ts FROM views v"
        " LEFT JOIN entries e ON e.origin = v.origin AND e.seq = v.seq"
        " WHERE v.aeo_id = ? ORDER BY v.origin, v.seq",
        [aeo_id],
    )
    return [{**row, "body": bytes(row["body"])} for row in rows]


def views_count(db: Connection, origin: str, seqs: Iterable[int]) -> int:
    return sum(
        db.conn.execute(
            "SELECT count(*) FROM views WHERE origin = ? AND seq = ?", (origin, seq)
        ).fetchone()[0]
        for seq in seqs
    )


def view_agreements(db: Connection) -> list[str]:
    """Each distinct list of agreements that views held were received under."""
    return [r[0] for r in db.conn.execute("SELECT DISTINCT agreements FROM views")]


def views_by_record(
    db: Connection, agreements: list[str]
) -> dict[tuple[str, str], list[tuple[int, str]]]:
    """The views held that were received under one of the ``agreements`` lists, by
    (origin, aeo_id): (seq, agreements) in seq order."""
    found: dict[tuple[str, str], list[tuple[int, str]]] = {}
    marks = ",".join("?" * len(agreements))
    for origin, aeo_id, seq, names in db.conn.execute(
        f"SELECT origin, aeo_id, seq, agreements FROM views WHERE agreements IN ({marks})"
        " ORDER BY origin, aeo_id, seq",
        agreements,
    ):
        found.setdefault((origin, aeo_id), []).append((seq, names))
    return found


def count_views(db: Connection) -> int:
    return int(db.conn.execute("SELECT count(*) FROM views").fetchone()[0])


def all_views(db: Connection) -> Iterator[tuple[str, int, str, str, bytes, bytes, bytes | None]]:
    """Every view held, in (origin, seq) order: origin, seq, aeo_id, agreements, view
    bytes, the origin's signature, and the entry header it is of (None: not held)."""
    cursor = db.conn.execute(
        "SELECT v.origin, v.seq, v.aeo_id, v.agreements, v.body, v.signature, e.body"
        " FROM views v LEFT JOIN entries e ON e.origin = v.origin AND e.seq = v.seq"
        " ORDER BY v.origin, v.seq"
    )
    yield from cursor


# -- cosignatures --------------------------------------------------------------------------------


def add_cosignature(db: Connection, origin: str, size: int, witness: str, line: str) -> bool:
    """Keep a verified cosignature; False when this witness's was already held."""
    with db.transaction():
        cursor = db.conn.execute(
            "INSERT OR IGNORE INTO cosignatures (origin, size, witness, line) VALUES (?, ?, ?, ?)",
            (origin, size, witness, line),
        )
    return cursor.rowcount > 0


def cosignatures(db: Connection, origin: str, size: int) -> dict[str, str]:
    rows = db.conn.execute(
        "SELECT witness, line FROM cosignatures WHERE origin = ? AND size = ?",
        (origin, size),
    ).fetchall()
    return {witness: line for witness, line in rows}


def all_cosignatures(db: Connection) -> Iterator[tuple[str, int, str, str]]:
    """Every cosignature held: (origin, size, witness, signature line)."""
    return iter(
        db.conn.execute(
            "SELECT origin, size, witness, line FROM cosignatures ORDER BY origin, size, witness"
        ).fetchall()
    )


# -- forks and delivery cursors ------------------------------------------------------------------


def add_fork(db: Connection, origin: str, evidence: bytes, reported_by: str, ts: int) -> bool:
    """Keep fork evidence against ``origin`` (freezing it); False when already held."""
    with db.transaction():
        cursor = db.conn.execute(
            "INSERT OR IGNORE INTO forks (origin, evidence, found_ts, reported_by)"
            " VALUES (?, ?, ?, ?)",
            (origin, evidence, ts, reported_by),
        )
    return cursor.rowcount > 0


def forks(db: Connection) -> list[dict[str, Any]]:
    return list(
        db.dicts(
            "SELECT id, origin, evidence, found_ts, reported_by, resolved_ts, resolution"
            " FROM forks ORDER BY id"
        )
    )


def frozen_origins(db: Connection) -> set[str]:
    rows = db.conn.execute("SELECT DISTINCT origin FROM forks WHERE resolved_ts IS NULL").fetchall()
    return {r[0] for r in rows}


def resolve_forks(db: Connection, origin: str, resolution: str, ts: int) -> int:
    """An operator's decision: unfreeze ``origin``; the evidence itself is kept."""
    with db.transaction():
        cursor = db.conn.execute(
            "UPDATE forks SET resolved_ts = ?, resolution = ?"
            " WHERE origin = ? AND resolved_ts IS NULL",
            (ts, resolution, origin),
        )
    return cursor.rowcount


def delivery_cursor(db: Connection, origin: str) -> int:
    row = db.conn.execute(
        "SELECT next_seq FROM delivery_cursors WHERE origin = ?", (origin,)
    ).fetchone()
    return int(row[0]) if row else 0


def set_delivery_cursor(db: Connection, origin: str, next_seq: int) -> None:
    with db.transaction():
        db.conn.execute(
            "INSERT INTO delivery_cursors (origin, next_seq) VALUES (?, ?)"
            " ON CONFLICT (origin) DO UPDATE SET next_seq = excluded.next_seq",
            (origin, next_seq),
        )
