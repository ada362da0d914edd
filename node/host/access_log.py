"""The access log: who read, received and wrote what through this node, and when.

Every read of a record (a query by id, by trader identifier or in a batch; a partner's direct
query or identifier lookup), every delivery served to a partner and every write through the API
is one row. Rows are hash-chained (each hash covers the previous one and the row's fields,
canonically encoded), the table refuses UPDATE and DELETE, and ``mra ledger verify``
re-derives the chain, so a removed or altered row shows as damage at its seq.

Rows name record ids, callers and endpoints, never the values searched for: a lookup by trader
identifier logs the records it found, so erasing a trader leaves no identifier here.

Queries must not wait for the disk: rows are kept in memory and written in one transaction every
``FLUSH_INTERVAL`` seconds (group commit) and at shutdown, on a connection that does not wait for
fsync (``SqliteStore.open(durable=False)``). A killed process loses at most the rows of that
window, never a write to the ledger.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Protocol

from node.core.access import Access, view_hash

__all__ = ["FLUSH_INTERVAL", "AccessLog", "AccessSink"]

log = logging.getLogger("mra.access")
FLUSH_INTERVAL = 0.05


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

    def delivered(
        self,
        actor: str,
        channel: str,
        aeo_id: str,
        *,
        origin: str,
        seq: int,
        view: bytes,
        agreements: str = "",
    ) -> None:
        """One delivery row: the view of entry ``origin``#``seq`` served to ``actor``. The
        store marks it as a repeat when the same view went to the same actor before."""
        self._pending.append(
            Access(
                ts=self._clock(),
                actor=actor,
                action="deliver",
                channel=channel,
                aeo_id=aeo_id,
                agreements=agreements,
                entry_origin=origin,
                entry_seq=seq,
                view_hash=view_hash(view),
            )
        )

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
