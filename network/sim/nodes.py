"""A node of the simulation: a real home, a real SQLite store, the real ledger, and the
network part built as the node's API builds it (``network.service.open_network``, from what
``network.files`` reads of the home), over the in-memory transport and the virtual clocks."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry

from network.service import NetworkService, open_network
from network.transport import Deliver, MemoryTransport
from node.core.clock import Clock
from node.host.home import NodeHome
from node.host.settings import Settings
from node.ledger.writer import Ledger
from node.store.open import NodeStore
from node.store.sqlite import SqliteStore

__all__ = ["SimNode", "open_sim_node"]


@dataclass
class SimNode:
    code: str
    home: NodeHome
    store: NodeStore
    ledger: Ledger
    service: NetworkService
    skew_ms: int
    records: list[str] = field(default_factory=list)


def open_sim_node(
    path: Path,
    code: str,
    *,
    skew_ms: int,
    settings: Settings,
    deliver: Deliver,
    clock: Clock,
    monotonic: Callable[[], float],
    rng: random.Random,
    db: Path | None = None,
) -> SimNode:
    """Node ``code`` of the home in ``path`` (its database in ``db`` when given), whose
    requests go to ``deliver``."""
    home = NodeHome(path=path)
    store = SqliteStore.open(db or home.db_path)
    service = open_network(
        home,
        store,
        settings,
        CollectorRegistry(),
        transport=MemoryTransport(code, deliver),
        clock=clock,
        monotonic=monotonic,
        rng=rng,
    )
    ledger = Ledger(store=store, origin=code, key=service.key, clock=clock)
    return SimNode(code, home, store, ledger, service, skew_ms)
