"""The audit trail of one AEO record as this node holds it: every version with its signer, time
and field-level changes; every delivery of it to a partner; every query of it; erasures.

At the issuing node the versions are the record's own entries; at a partner's node they are the
views received, each with when it arrived and under which agreements.

Each version names who wrote it (``writer``): at the issuing node, the actor of the access-log
row of the write that appended it (``key:<id>`` for an API key, ``cli:<os user>@<host>[ as
NAME]`` for the command line): the first publish or status row for the record recorded at or
after the version's time and before the next version's, since a write is logged just after its
entry is appended. A version with no such row was written before writes were logged:
``unknown (written before actors were logged)``. At a partner's node, ``peer <origin>``: the
origin's administration wrote it, and this node only received it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from node.core.access import view_hash
from node.core.canonical import parse_json
from node.core.entries import EntryHeader
from node.core.reports import field_diff
from node.ledger.erasure import erasure_status
from node.store.protocols import AccessTrail, Erasures, Log, Records, Views

__all__ = ["UNKNOWN_WRITER", "WRITES", "TrailStore", "iso_time", "record_trail"]

WRITES = ("publish", "status")  # the access-log actions that append a version of a record
UNKNOWN_WRITER = "unknown (written before actors were logged)"


class TrailStore(Log, Records, Views, Erasures, AccessTrail, Protocol):
    """The parts of a store a record's trail reads."""


def iso_time(ms: int | None) -> str | None:
    """Milliseconds since the epoch as an ISO 8601 UTC time."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def record_trail(store: TrailStore, aeo_id: str, *, queries: bool = True) -> dict[str, Any] | None:
    """The trail of ``aeo_id``, or None when this node holds no trace of it; without its
    queries when ``queries`` is False (the UI reads them a page at a time)."""
    erasures = erasure_status(store, aeo_id)
    purges = store.purges_of(aeo_id)
    versions = _own_versions(store, aeo_id) or _received_versions(store, aeo_id)
    if not versions:
        # Copies purged here: the entries named still show that the record existed.
        named = {(e["origin"], s) for e in erasures for s in e["entries"]}
        named |= {(p["of_origin"], s) for p in purges for s in parse_json(p["entries"])}
        versions = [
            {**_version(store, o, s, _entry_ts(store, o, s), None, None), "writer": f"peer {o}"}
            for o, s in sorted(named)
        ]
    if not versions:
        return None
    for erasure in erasures:
        erasure["time"] = iso_time(erasure.pop("ts"))
        for confirmation in erasure["confirmed"]:
            confirmation["time"] = iso_time(confirmation.pop("ts"))
    return {
        "aeo_id": aeo_id,
        "origin": versions[-1]["origin"],
        "versions": versions,
        "deliveries": _accesses(store, aeo_id, "deliver"),
        "queries": _accesses(store, aeo_id, "query") if queries else [],
        "erasures": erasures,
        # who asked this node for an erasure (API key, or the operator at the command line)
        "erase_requests": _accesses(store, aeo_id, "erase"),
        "purges": [
            {
                **{k: v for k, v in p.items() if k not in ("ts", "entries")},
                "time": iso_time(p["ts"]),
            }
            for p in purges
        ],
    }


def _purge(row: dict[str, Any]) -> dict[str, Any]:
    """A purge of copies held: by which node, when, of which entries, why."""
    return {
        **{k: v for k, v in row.items() if k not in ("ts", "entries")},
        "entries": parse_json(row["entries"]),
        "time": iso_time(row["ts"]),
    }


def _entry_ts(store: TrailStore, origin: str, seq: int) -> int | None:
    entry = store.entry(origin, seq)
    return None if entry is None else EntryHeader.from_bytes(entry.body).ts


def _own_versions(store: TrailStore, aeo_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    before: dict[str, Any] | None = None
    held = store.own_versions(aeo_id)
    writers = _writers(store, aeo_id, [ts for _, _, ts, _ in held])
    for (origin, seq, ts, payload), writer in zip(held, writers, strict=True):
        document = None if payload is None else parse_json(payload)
        out.append({**_version(store, origin, seq, ts, document, before), "writer": writer})
        before = document if document is not None else before
    return out


def _writers(store: TrailStore, aeo_id: str, times: list[int]) -> list[str]:
    """Who wrote each version recorded at ``times`` (in seq order), from the access log."""
    if not times:
        return []
    rows = sorted(
        (
            r
            for action in WRITES
            for r in store.access_rows(aeo_id=aeo_id, action=action, limit=10_000)
        ),
        key=lambda r: int(r["seq"]),
    )
    writers, used = [], set()
    for i, start in enumerate(times):
        end = times[i + 1] if i + 1 < len(times) else None
        row = next(
            (
                r
                for r in rows
                if r["seq"] not in used and start <= r["ts"] and (end is None or r["ts"] < end)
            ),
            None,
        )
        if row is None:
            writers.append(UNKNOWN_WRITER)
        else:
            used.add(row["seq"])
            writers.append(str(row["actor"]))
    return writers


def _received_versions(store: TrailStore, aeo_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    before: dict[str, Any] | None = None
    for held in store.views_held(aeo_id):
        view = parse_json(held["body"])
        version = _version(store, held["origin"], held["seq"], held["ts"], view, before)
        version["writer"] = f"peer {held['origin']}"
        version["received"] = iso_time(held["received_ts"])
        # the SHA-256 the origin's delivery row names
        version["view_hash"] = view_hash(bytes(held["body"]))
        version["agreements"] = held["agreements"].split(",") if held["agreements"] else []
        out.append(version)
        before = view
    return out


def _version(
    store: TrailStore,
    origin: str,
    seq: int,
    ts: int | None,
    document: dict[str, Any] | None,
    before: dict[str, Any] | None,
) -> dict[str, Any]:
    key = store.public_key(origin, seq)
    status = (document or {}).get("status")
    return {
        "origin": origin,
        "seq": seq,
        "time": iso_time(ts),
        "signer": origin,
        "key": None if key is None else key.raw.hex(),
        "status": status.get("code") if isinstance(status, dict) else None,
        "changes": None if document is None else field_diff(before, document),
        "erased": document is None,
    }


def _accesses(store: TrailStore, aeo_id: str, action: str) -> list[dict[str, Any]]:
    rows = store.access_rows(aeo_id=aeo_id, action=action, limit=10_000)
    return [
        {
            "seq": row["seq"],
            "time": iso_time(row["ts"]),
            "actor": row["actor"],
            "channel": row["channel"],
            **({"agreements": row["agreements"].split(",")} if row["agreements"] else {}),
            # a delivery: the entry and the view's SHA-256; a repeat names the first row
            **{name: row[name] for name in _DELIVERED if row.get(name) not in (None, "")},
        }
        for row in rows
    ]


_DELIVERED = ("entry_origin", "entry_seq", "view_hash", "repeat_of")
