"""Small factories shared by tests: a node's store and ledger, in a temporary directory or in
memory."""

from __future__ import annotations

import itertools
from pathlib import Path

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
