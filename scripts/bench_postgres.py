"""The PostgreSQL store's figures for scripts/bench, on a private durable cluster (fsync on,
``synchronous_commit=on``: what an administration would run) started and removed here.

A home of N records is filled on SQLite (the fast path) and moved whole into PostgreSQL with
``mra ledger move-to-postgres``'s code, which is a figure of its own; appends are measured on
PostgreSQL directly, through the same Ledger as SQLite's.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from node.core.crypto import SigningKey  # noqa: E402
from node.core.sample import sample_records  # noqa: E402
from node.host.backup import move_to_postgres  # noqa: E402
from node.host.home import NodeHome  # noqa: E402
from node.host.signer import SigningProcess  # noqa: E402
from node.ledger.verification import verify_store  # noqa: E402
from node.ledger.writer import Ledger  # noqa: E402
from node.store.postgres import PostgresStore  # noqa: E402
from tests import pg  # noqa: E402

__all__ = ["appends", "cluster", "move", "unavailable", "verify_time"]


def unavailable() -> str | None:
    """Why no PostgreSQL figures can be taken here (None: they can)."""
    return pg.unavailable()


@contextmanager
def cluster() -> Iterator[pg.Cluster]:
    """A private durable cluster, removed at the end."""
    server = pg.Cluster(durable=True)
    try:
        yield server
    finally:
        server.stop()


def appends(server: pg.Cluster, count: int, batch: int) -> float:
    """Append ``count`` sample records in batches to a new database, signed as the node signs
    them (by its signing process); records per second."""
    url = server.database()
    store = PostgresStore.open(url)
    signer = SigningProcess()
    signer.start()
    try:
        ledger = Ledger(store=store, origin="BR", key=SigningKey.generate(), signers=signer)
        elapsed = 0.0
        for start in range(1, count + 1, batch):
            records = sample_records("BR", min(batch, count + 1 - start), start=start)
            began = time.perf_counter()
            ledger.publish(records)
            elapsed += time.perf_counter() - began
    finally:
        signer.close()
        store.close()
        server.drop(url)
    return count / elapsed


def move(server: pg.Cluster, home: NodeHome) -> tuple[str, float, int]:
    """Move ``home``'s SQLite ledger into a new database: its URL, seconds, rows copied."""
    url = server.database()
    began = time.perf_counter()
    moved, _, _ = move_to_postgres(home, url)
    return url, time.perf_counter() - began, sum(moved.rows.values())


def verify_time(url: str, pool: ThreadPoolExecutor) -> tuple[float, int]:
    """Seconds to verify the PostgreSQL ledger at ``url`` whole (fsck), and its entries."""
    store = PostgresStore.open(url)
    try:
        began = time.perf_counter()
        [report] = verify_store(store, own="BR", executor=pool, processes=os.cpu_count() or 1)
        return time.perf_counter() - began, report.size
    finally:
        store.close()
