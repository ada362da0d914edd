"""Small factories shared by tests: a node's store and ledger, in a temporary directory or in
memory."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

from node.core.access import ACCESS_GENESIS, Access, access_hash
from node.core.crypto import SigningKey
from node.core.records import AeoRecord
from node.core.sample import sample_dicts
from node.ledger.writer import Ledger
from node.store.memory import MemoryStore
from node.store.sqlite import SqliteStore


class TickingClock:
    """A controllable clock: each call returns the next millisecond after ``start``."""

    def __init__(self, start: int = 1_763_850_000_000) -> None:
        self._ticks = itertools.count(start)

    def __call__(self) -> int:
        return next(self._ticks)


def open_ledger(
    path: Path, origin: str = "BR", key: SigningKey | None = None
) -> tuple[SqliteStore, Ledger]:
    store = SqliteStore.open(path)
    ledger = Ledger(
        store=store, origin=origin, key=key or SigningKey.generate(), clock=TickingClock()
    )
    return store, ledger


def memory_ledger(origin: str = "BR", key: SigningKey | None = None) -> tuple[MemoryStore, Ledger]:
    """A ledger on a ``MemoryStore``: the services without SQLite."""
    store = MemoryStore()
    ledger = Ledger(
        store=store, origin=origin, key=key or SigningKey.generate(), clock=TickingClock()
    )
    return store, ledger


def record(origin: str = "BR", number: int = 1, **changes: object) -> AeoRecord:
    data = next(sample_dicts(origin, 1, start=number))
    data.update(changes)
    return AeoRecord.from_dict(data)


def chain_access_rows(conn: sqlite3.Connection, rows: list[Access]) -> list[bytes]:
    """Insert ``rows``, chained from the genesis, into the ``access_log`` table on ``conn`` with
    the columns it had from its first schema on; returns their chain hashes."""
    hashes, prev = [], ACCESS_GENESIS
    for seq, access in enumerate(rows):
        prev = access_hash(prev, seq, access)
        hashes.append(bytes(prev))
        conn.execute(
            "INSERT INTO access_log (seq, ts, actor, action, channel, aeo_id, agreements, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, access.ts, access.actor, access.action, access.channel, access.aeo_id, "", prev),
        )
    return hashes
