"""Reading the erasures and purges held (derived from their entries' payloads): which records
were erased, which partners must answer, and the purges that answered."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from node.store.sqlite.connection import Connection

__all__ = [
    "erased_among",
    "erased_entries",
    "erasure_of",
    "erasures_of",
    "pending_erasures",
    "purges_answering",
    "purges_of",
    "withheld",
]


def erasure_of(db: Connection, aeo_id: str) -> dict[str, Any] | None:
    """The latest erasure held of ``aeo_id``, if any."""
    rows = erasures_of(db, aeo_id)
    return rows[-1] if rows else None


def erasures_of(db: Connection, aeo_id: str) -> list[dict[str, Any]]:
    return list(
        db.dicts(
            "SELECT origin, seq, ts, aeo_id, basis, reason, partners, origin_copy, entries"
            " FROM erasures WHERE aeo_id = ? ORDER BY origin, seq",
            [aeo_id],
        )
    )


def erased_among(db: Connection, aeo_ids: Iterable[str]) -> set[str]:
    """Those of ``aeo_ids`` that an erasure at their origin removed."""
    return {
        row[0]
        for row in db.rows_for(
            "SELECT aeo_id FROM erasures WHERE origin_copy = 1 AND aeo_id IN ({marks})",
            sorted(set(aeo_ids)),
        )
    }


def erased_entries(db: Connection, origin: str) -> set[int]:
    """``origin``'s own entries whose payloads one of its erasures deleted at the origin."""
    return {
        seq
        for (entries,) in db.conn.execute(
            "SELECT entries FROM erasures WHERE origin = ? AND origin_copy = 1", (origin,)
        )
        for seq in json.loads(entries)
    }


def withheld(db: Connection, origin: str) -> dict[int, set[str]]:
    """For each of ``origin``'s entries named by one of its erasures, the partners that
    must no longer receive it."""
    found: dict[int, set[str]] = {}
    for partners, entries in db.conn.execute(
        "SELECT partners, entries FROM erasures WHERE origin = ?", (origin,)
    ):
        for seq in json.loads(entries):
            found.setdefault(seq, set()).update(p for p in partners.split(",") if p)
    return found


def pending_erasures(db: Connection, me: str) -> list[dict[str, Any]]:
    """Erasures by other origins that name ``me`` and that ``me`` has not answered yet."""
    rows = db.dicts(
        "SELECT e.origin, e.seq, e.aeo_id, e.basis, e.reason, e.partners, e.entries"
        " FROM erasures e WHERE e.origin != ? AND NOT EXISTS (SELECT 1 FROM purges p"
        " WHERE p.origin = ? AND p.of_origin = e.origin AND p.erasure = e.seq)"
        " ORDER BY e.origin, e.seq",
        [me, me],
    )
    return [row for row in rows if me in row["partners"].split(",")]


def purges_answering(db: Connection, origin: str, erasure: int) -> list[dict[str, Any]]:
    """The purges held that answer ``origin``'s erasure entry ``erasure``."""
    return list(
        db.dicts(
            "SELECT origin AS by, seq, ts, views FROM purges"
            " WHERE of_origin = ? AND erasure = ? ORDER BY origin, seq",
            [origin, erasure],
        )
    )


def purges_of(db: Connection, aeo_id: str) -> list[dict[str, Any]]:
    """Every purge of copies of ``aeo_id`` held here (this node's and partners')."""
    return list(
        db.dicts(
            "SELECT origin AS by, seq, ts, of_origin, erasure, reason, views, entries"
            " FROM purges WHERE aeo_id = ? ORDER BY ts, origin, seq",
            [aeo_id],
        )
    )
