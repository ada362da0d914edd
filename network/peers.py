"""The members this node gossips with and what it knows of each: when each last answered, how
often it failed, what it reported holding; the metrics of gossip; and the freshness report that
``GET /v1/health`` carries (how far behind its peers this node is)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from network.forks import Fork
from network.governance import SignedUpdate
from network.membership import Member, Membership

__all__ = ["PeerMetrics", "PeerStatus", "Peers"]

log = logging.getLogger("mra.network")


@dataclass(slots=True)
class PeerStatus:
    last_heard: int | None = None  # ms
    failures: int = 0
    retry_at: float = 0.0  # event-loop time
    last_error: str = ""


class PeerMetrics:
    """The gossip metrics of one node, in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.heard = Gauge(
            "mra_peer_last_heard_timestamp_seconds",
            "When each peer last answered",
            ["peer"],
            registry=registry,
        )
        self.lag = Gauge(
            "mra_origin_lag_entries",
            "Entries of each origin that a peer holds and this node does not yet",
            ["origin"],
            registry=registry,
        )
        self.replicated = Counter(
            "mra_replicated_entries", "Entries verified and stored", ["origin"], registry=registry
        )
        self.refused = Counter(
            "mra_peer_refusals", "Peer messages refused", ["peer", "reason"], registry=registry
        )
        self.tls_expiry = Gauge(
            "mra_tls_certificate_expiry_seconds",
            "Seconds until each member's TLS certificate expires (negative: expired), for the"
            " members whose certificate this node holds",
            ["member"],
            registry=registry,
        )
        self.forks_found = Counter(
            "mra_forks_found", "Fork evidence found or received", ["origin"], registry=registry
        )

    def received(self, origin: str, stored: int, fork: Fork | None) -> None:
        """Count a page of ``origin``'s entries received, and the fork it showed (logged)."""
        if stored:
            self.replicated.labels(origin).inc(stored)
        if fork is not None:
            self.forks_found.labels(fork.origin).inc()
            log.error("fork: %s signed two histories", fork.origin)


class Peers:
    """The members of the membership in force, but node ``me`` itself, and what each one
    reported; ``take`` a newer membership to gossip with its members from then on.

    ``pins`` are, per member, the SHA-256 of the TLS certificates it is accepted with: the one
    its entry pins and, after it renewed (``network.governance``), the one it renewed away from
    (the TLS handshake refuses that one once it expires). Nothing else is accepted."""

    def __init__(
        self, me: str, membership: Membership, updates: Mapping[str, SignedUpdate] | None = None
    ) -> None:
        self.me = me
        self.membership = membership
        self.updates: dict[str, SignedUpdate] = {}
        self.pins: dict[str, frozenset[str]] = {}
        self.members: dict[str, Member] = {}
        self.status: dict[str, PeerStatus] = {}
        self.reported: dict[str, dict[str, int]] = {}  # peer -> origin -> size it holds
        self.acknowledged: dict[str, int] = {}  # peer -> the revision of this node it holds
        self.take(membership, updates)

    def take(
        self, membership: Membership, updates: Mapping[str, SignedUpdate] | None = None
    ) -> None:
        """Gossip with the members of ``membership`` (the version in force with ``updates``,
        the members' own changes, applied) from now on."""
        self.membership = membership
        self.updates = dict(updates or {})
        self.members = {m.code: m for m in membership.members if m.code != self.me}
        self.pins = {m.code: frozenset({m.tls_cert_sha256}) for m in membership.members}
        for code, signed in self.updates.items():
            if code in self.pins:
                self.pins[code] |= {signed.update.previous_tls_cert_sha256}
        for code in self.members:
            self.status.setdefault(code, PeerStatus())
            self.reported.setdefault(code, {})

    def member_with(self, cert_sha256: str) -> str | None:
        """The member whose pins include the certificate ``cert_sha256``, if any."""
        return next((code for code, pins in self.pins.items() if cert_sha256 in pins), None)

    def revisions(self) -> dict[str, int]:
        """Per member that changed its own entry, the revision in force here."""
        return {m.code: m.revision for m in self.membership.members if m.revision}

    def member_codes(self) -> frozenset[str]:
        return frozenset(m.code for m in self.membership.members)

    def lag(self, held: Callable[[str], int]) -> dict[str, int]:
        """Per origin, how many more entries the peer that holds most of it reported than the
        ``held`` here."""
        lag: dict[str, int] = {}
        for sizes in self.reported.values():
            for origin, size in sizes.items():
                behind = size - held(origin)
                lag[origin] = max(lag.get(origin, 0), behind, 0)
        return lag

    def freshness(self, now: int, lag: dict[str, int]) -> dict[str, Any]:
        """When each peer last answered (``now`` in ms) and whether it is reachable, and the
        ``lag`` per origin."""
        return {
            "peers": {
                code: {
                    "last_heard_ms": s.last_heard,
                    "age_seconds": None if s.last_heard is None else (now - s.last_heard) / 1000,
                    "reachable": s.failures == 0 and s.last_heard is not None,
                    "error": s.last_error or None,
                }
                for code, s in sorted(self.status.items())
            },
            "lag": lag,
        }
