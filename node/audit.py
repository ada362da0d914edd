"""The access log: who read, received and wrote what through this node, and when.

Every read of a record (a query by id, by trader identifier or in a batch; a partner's direct
query), every delivery served to a partner and every write through the API is one row. Rows are
hash-chained (each hash covers the previous one and the row's fields, canonically encoded), the
table refuses UPDATE and DELETE, and ``mra ledger verify`` re-derives the chain, so a removed or
altered row shows as damage at its seq.

Rows name record ids, callers and endpoints, never the values searched for: a lookup by trader
identifier logs the records it found, so erasing a trader leaves no identifier here.

Queries must not wait for the disk: rows are kept in memory and written in one transaction every
``FLUSH_INTERVAL`` seconds (group commit) and at shutdown, on a connection that does not wait for
fsync (``SqliteStore.open(durable=False)``). A killed process loses at most the rows of that
window, never a write to the ledger.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol

from node.canonical import canonical_json
from node.crypto import Hash32, tagged_hash
from node.errors import IntegrityError

__all__ = [
    "ACCESS_GENESIS",
    "FLUSH_INTERVAL",
    "Access",
    "AccessLog",
    "access_hash",
    "check_access_chain",
    "field_diff",
    "flatten",
    "rows_csv",
]

log = logging.getLogger("mra.access")
ACCESS_TAG = "mra-ledger/access/v1"
ACCESS_GENESIS = Hash32(bytes(32))
FLUSH_INTERVAL = 0.05


@dataclass(frozen=True, slots=True, kw_only=True)
class Access:
    """One access: ``actor`` is ``key:<API key id>`` or ``peer:<member code>``; ``action`` is
    query, deliver, publish, status, agreement, audit...; ``channel`` the endpoint."""

    ts: int
    actor: str
    action: str
    channel: str
    aeo_id: str = ""
    agreements: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ACCESS_FIELDS = tuple(f.name for f in fields(Access))


def access_hash(prev: bytes, seq: int, access: Access) -> Hash32:
    """The chain hash of row ``seq``: over the previous row's hash and this row's fields."""
    return tagged_hash(ACCESS_TAG, prev, canonical_json({"seq": seq, **access.to_dict()}))


def check_access_chain(rows: Iterable[tuple[int, Access, bytes]]) -> tuple[int, Hash32]:
    """Re-derive the chain over (seq, access, stored hash) in seq order: (rows, last hash).

    Raises IntegrityError naming the first row that is missing, altered or out of place.
    """
    prev, expected = ACCESS_GENESIS, 0
    for seq, access, stored in rows:
        if seq != expected:
            raise IntegrityError(
                "access-gap", f"row {expected} is missing", origin="access", seq=seq
            )
        derived = access_hash(prev, seq, access)
        if derived != stored:
            raise IntegrityError(
                "access-mismatch",
                "the row does not hash to its chain value (altered, or a row before it was)",
                origin="access",
                seq=seq,
            )
        prev, expected = derived, seq + 1
    return expected, prev


class AccessSink(Protocol):
    def append_access(self, rows: list[Access]) -> None: ...


class AccessLog:
    """Rows recorded in memory and written in groups by ``run`` (or ``flush``)."""

    def __init__(self, sink: AccessSink, clock: Callable[[], int]) -> None:
        self._sink = sink
        self._clock = clock
        self._pending: list[Access] = []
        # ``run`` writes on a worker thread (a write waits while another connection holds the
        # database's write lock, for the length of a large batch): one flush at a time, so
        # rows are chained in the order they were recorded.
        self._flushing = threading.Lock()

    def record(
        self, actor: str, action: str, channel: str, *aeo_ids: str, agreements: str = ""
    ) -> None:
        """One row per record id, or one row naming no record, all at the same time."""
        now = self._clock()
        # Built first, then added in one step: a flush on another thread takes either all of
        # these rows or none of them.
        rows = [
            Access(
                ts=now,
                actor=actor,
                action=action,
                channel=channel,
                aeo_id=aeo_id,
                agreements=agreements,
            )
            for aeo_id in aeo_ids or ("",)
        ]
        self._pending.extend(rows)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> int:
        """Write every pending row in one transaction; returns how many. Safe from any
        thread while others record."""
        with self._flushing:
            rows, self._pending = self._pending, []
            if rows:
                try:
                    self._sink.append_access(rows)
                except Exception:
                    self._pending[:0] = rows  # kept for the next attempt, in order
                    raise
            return len(rows)

    async def run(self, interval: float = FLUSH_INTERVAL) -> None:
        """Flush every ``interval`` seconds until cancelled, then once more."""
        try:
            while True:
                await asyncio.sleep(interval)
                try:
                    if self._pending:
                        await asyncio.to_thread(self.flush)
                except Exception as exc:  # kept pending; the next round tries again
                    log.warning("access log flush failed: %s", exc)
        finally:
            self.flush()


def field_diff(old: dict[str, Any] | None, new: dict[str, Any]) -> list[dict[str, Any]]:
    """The fields that differ between two versions of a record, by dotted path: a list of
    ``{"field", "from", "to"}`` (``from`` is absent for the first version's fields)."""
    before, after = flatten(old or {}), flatten(new)
    changed = []
    for path in sorted(before.keys() | after.keys()):
        if before.get(path, _ABSENT) != after.get(path, _ABSENT):
            change: dict[str, Any] = {"field": path, "to": after.get(path)}
            if path in before:
                change["from"] = before[path]
            changed.append(change)
    return changed


_ABSENT = object()


def flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested document as ``{dotted.path: value}``."""
    out: dict[str, Any] = {}
    for name, item in value.items():
        path = f"{prefix}{name}"
        if isinstance(item, dict) and item:
            out.update(flatten(item, path + "."))
        else:
            out[path] = item
    return out


CSV_COLUMNS = ("seq", *ACCESS_FIELDS, "hash")


def rows_csv(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Access rows as CSV text, a header line first."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        yield buffer.getvalue()
