"""Helpers shared by the scripts that run nodes and measure them (``scripts/load``; meant for
``scripts/bench`` too): waiting, free ports on the loopback, filling a node's ledger, and the
resident memory of a process."""

from __future__ import annotations

import random
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path

from node.core.sample import sample_records
from node.host.home import NodeHome, load_signing_key
from node.host.signer import SigningProcess
from node.ledger.writer import Ledger
from node.store.sqlite import SqliteStore

__all__ = ["fill_ledger", "free_ports", "listening", "percentile", "resident_mib", "wait_until"]


def wait_until(check: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``check`` every 50 ms until it is true. Raises RuntimeError naming ``what``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {timeout:g} s: {what}")
        time.sleep(0.05)


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_ports(count: int, low: int = 10_000, high: int = 20_000) -> int:
    """The first of ``count`` consecutive ports on 127.0.0.1 that are free now, at random in
    [low, high). The default range lies below Linux's ephemeral ports (32768-60999), so no
    outgoing connection takes one between this probe and the server's bind. Raises
    RuntimeError when 50 tries find none."""
    for _ in range(50):
        base = random.randrange(low, high - count)
        try:
            for port in range(base, base + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no {count} free consecutive ports in [{low}, {high})")


def fill_ledger(home: NodeHome, count: int, *, start: int = 1) -> list[tuple[int, float]]:
    """Publish ``count`` sample records (``node.core.sample``, seed 1, numbers from ``start``) on
    the ledger of the stopped node in ``home``, in batches of 5,000, signed as the node signs
    them (by its signing process, started before the first batch's clock); returns, per batch,
    the records in the ledger after it and its append rate (records/s)."""
    config = home.config()
    store = SqliteStore.open(home.db_path)
    signer = SigningProcess()
    signer.start()
    try:
        key = load_signing_key(home.key_path)
        ledger = Ledger(store=store, origin=config.origin, key=key, signers=signer)
        rates = []
        for first in range(start, start + count, 5000):
            records = sample_records(config.origin, min(5000, start + count - first), start=first)
            began = time.perf_counter()
            ledger.publish(records)
            rate = len(records) / (time.perf_counter() - began)
            rates.append((first - start + len(records), rate))
    finally:
        signer.close()
        store.close()
    return rates


def resident_mib(pid: int) -> float:
    """The resident memory that is process ``pid``'s own, in MiB (Linux): its anonymous and
    shared-memory pages (``RssAnon`` + ``RssShmem``), not the pages of files it maps. Those
    are the OS's page cache, shared and reclaimable: its code, and the SQLite file a node's
    readers map, whose pages a reader touches grow the plain RSS as the ledger grows without
    any memory being held by the process. Raises OSError when the process is gone."""
    status = Path(f"/proc/{pid}/status").read_text()
    parts = [re.search(rf"{name}:\s+(\d+)", status) for name in ("RssAnon", "RssShmem")]
    if None in parts:  # a zombie has no memory left
        raise ProcessLookupError(f"process {pid} has exited")
    return sum(int(part.group(1)) for part in parts if part is not None) / 1024


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of ``values`` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]
