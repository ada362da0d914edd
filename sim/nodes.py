"""A node of the simulation: a real home opened as ``mra node run`` opens it
(``node.app.compose.open_node``: its SQLite store, keys, ledger, access log, start guard and
network part), over the in-memory transport and on the virtual clocks (``Simulated``)."""

from __future__ import annotations

import hashlib
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from network.service import NetworkService
from network.transport import Deliver, MemoryTransport
from node.app.compose import Node, Simulated, open_node
from node.core.clock import Clock
from node.host.home import NodeHome
from node.host.settings import Settings
from node.ledger.writer import Ledger
from node.store.open import NodeStore

__all__ = ["SimNode", "open_sim_node"]


@dataclass
class SimNode:
    code: str
    node: Node
    service: NetworkService  # node.peers: every simulated node belongs to the network
    skew_ms: int
    records: list[str] = field(default_factory=list)
    _presented: tuple[int, str, str] = (0, "", "")

    def presented(self) -> tuple[str, str]:
        """The certificate this node presents in a TLS handshake (its ``tls.crt``, which a
        renewal replaces): PEM, and its pin (the SHA-256 of its DER)."""
        path = self.home.path / "tls.crt"
        stamp = path.stat().st_mtime_ns
        if self._presented[0] != stamp:
            pem = path.read_text()
            pin = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
            self._presented = (stamp, pem, pin)
        return self._presented[1], self._presented[2]

    @property
    def home(self) -> NodeHome:
        return self.node.home

    @property
    def store(self) -> NodeStore:
        return self.node.store

    @property
    def ledger(self) -> Ledger:
        return self.node.ledger


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
) -> SimNode:
    """Node ``code`` of the home in ``path``, whose requests go to ``deliver``."""
    simulated = Simulated(
        transport=MemoryTransport(code, deliver), clock=clock, monotonic=monotonic, rng=rng
    )
    node = open_node(NodeHome(path=path), settings, simulated=simulated)
    if node.peers is None:
        node.close()
        raise ValueError(f"{path} belongs to no network")
    return SimNode(code, node, node.peers, skew_ms)
