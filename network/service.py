"""A node on the network: its peer endpoints (``network.endpoints``) and its gossip
(``network.gossip``) wired together over one transport, started and stopped with the node.

``open_network`` is where a node's network part is built, from what ``network.files`` reads of
its home: the composition root (``node.app.compose.open_node``) builds with it the network part
of every node, served (``mra node run``, over HTTPS) or simulated (``sim``, over the in-memory
transport). ``confirm_own_log`` asks the peers
of a node that is not running (the CLI appending) for their view of its log.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry

from network.answers import Offload, PeerEndpoints, inline
from network.files import NetworkFiles, load_network
from network.gossip import Gossip
from network.held_tail import ask_held
from network.lookup import PATH as LOOKUP_PATH
from network.lookup import checked_answer
from network.member_updates import MemberUpdates
from network.membership import Member, Membership
from network.own_log import OwnLog
from network.peers import PeerMetrics, Peers, PeerStatus
from network.pki import not_after
from network.ratelimit import PeerLimits
from network.replicator import Replicator
from network.tls import NodeTls
from network.transport import HttpsTransport, Transport
from node.core.clock import Clock, system_clock
from node.core.crypto import SigningKey
from node.core.errors import NotFound, PeerMisbehaved, PeerUnavailable
from node.host.access_log import AccessLog
from node.host.guard import StartGuard
from node.host.home import NodeHome
from node.host.settings import Settings, key_passphrase
from node.store.open import NodeStore

__all__ = ["NetworkService", "confirm_own_log", "open_network"]

log = logging.getLogger("mra.network")

EXPIRY_WARNING_SECONDS = 30 * 86400  # /v1/health warns this long before a certificate expires


class NetworkService:
    """The peer endpoints and gossip of node ``files.me``, whose home is ``home``.

    ``clock``, ``monotonic`` and ``rng`` (wall time in ms, the time retries are scheduled by,
    and the backoff jitter) are the process's own unless a simulation drives the node;
    ``offload`` runs what stores what peers sent (inline unless given). Reads no file: what
    it needs of the home comes in ``files`` (``network.files.load_network``)."""

    def __init__(
        self,
        *,
        home: NodeHome,
        store: NodeStore,
        files: NetworkFiles,
        settings: Settings,
        registry: CollectorRegistry,
        transport: Transport | None = None,
        tls: NodeTls | None = None,
        access: AccessLog | None = None,
        clock: Clock = system_clock,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        offload: Offload = inline,
    ) -> None:
        self.store = store
        self.me = files.me
        self.clock = clock
        self.settings = settings
        self.offload = offload
        self.metrics = PeerMetrics(registry)
        self.peers = Peers(files.me, files.membership)
        self.tls = tls
        # The members' own changes (renewals, moves) on top of the version installed.
        self.updates = MemberUpdates(
            home=home, store=store, peers=self.peers, tls=tls, base=files.membership
        )
        if transport is None:
            if tls is None:
                raise ValueError("a network service needs a transport or its TLS contexts")
            transport = HttpsTransport(tls.client, pins=lambda code: self.peers.pins[code])
        self.transport = transport
        self._verifiers = ThreadPoolExecutor(2, thread_name_prefix="mra-verify")
        self.replicator = Replicator(
            store, files.me, files.signing_key, files.sealing_key, clock, self._verifiers
        )
        # Appends wait for the first peer's answer (or the operator's acceptance) after a start.
        self.guard = StartGuard(home, store, needs_peer=bool(self.peers.members), clock=clock)
        self.own_log = OwnLog(
            home=home,
            me=files.me,
            guard=self.guard,
            log_seen=files.log_seen,
            key_at=self.replicator.key_at,
        )
        self.endpoints = PeerEndpoints(
            store=store,
            me=files.me,
            key=files.signing_key,
            peers=self.peers,
            membership_file=files.membership_file,
            member_updates=self.updates,
            replicator=self.replicator,
            access=access if access is not None else AccessLog(store, clock),
            metrics=self.metrics,
            clock=clock,
            monotonic=monotonic,
            offload=offload,
            lookups=PeerLimits(settings.lookup_rate, settings.lookup_burst, monotonic),
        )
        self.gossip = Gossip(
            store=store,
            me=files.me,
            peers=self.peers,
            endpoints=self.endpoints,
            replicator=self.replicator,
            membership_file=files.membership_file,
            member_updates=self.updates,
            own_log=self.own_log,
            transport=transport,
            metrics=self.metrics,
            interval=settings.gossip_interval,
            clock=clock,
            monotonic=monotonic,
            rng=rng or random.Random(),
            offload=offload,
        )
        self.endpoints.refresh = self.gossip.reload_membership
        self._tasks: list[asyncio.Task[None]] = []
        self._expiry: dict[str, datetime] = {}  # certificate (PEM) -> when it expires

    # -- what the node's API asks of it ----------------------------------------------------

    @property
    def membership(self) -> Membership:
        return self.peers.membership

    @property
    def members(self) -> dict[str, Member]:
        """The members this node gossips with (all but itself), by code."""
        return self.peers.members

    @property
    def status(self) -> dict[str, PeerStatus]:
        return self.peers.status

    @property
    def key(self) -> SigningKey:
        return self.endpoints.key

    def member_codes(self) -> frozenset[str]:
        return self.peers.member_codes()

    def use_key(self, key: SigningKey) -> None:
        """This node rotated its signing key: sign views and cosignatures with ``key``."""
        self.endpoints.key = key
        self.replicator.use_key(key)

    def appended(self) -> None:
        """This node appended to its log: push now."""
        self.gossip.appended()

    async def lookup_at(self, origin: str, scheme: str, value: str) -> dict[str, Any]:
        """Ask member ``origin`` which of its AEOs holding the identifier (``scheme``,
        ``value``, normalised) it lets this node see, over the peer channel
        (``network.lookup``). Raises NotFound naming ``origin`` (not a member this node
        gossips with), PeerThrottled (ask again later), PeerUnavailable (unreachable, or an
        answer that does not check)."""
        member = self.peers.members.get(origin)
        if member is None:
            raise NotFound(f"{origin} is not a member this node can ask", field="origin")
        try:
            data = await self.transport.request(
                "POST", member, LOOKUP_PATH, json={"scheme": scheme, "value": value}
            )
            return checked_answer(origin, data)
        except PeerMisbehaved as exc:
            raise PeerUnavailable(f"{origin} gave no usable answer: {exc}") from exc

    def own_log_behind(self) -> str | None:
        return self.own_log.behind()

    def own_log_at_peers(self) -> dict[str, int]:
        """How many entries of this node's log each peer reported holding in its latest
        frontier: after a restore, the seqs from this node's size up to a peer's are the lost
        tail that peer holds (headers, and the views and deliveries sent with them)."""
        return {
            code: sizes[self.me]
            for code, sizes in sorted(self.peers.reported.items())
            if self.me in sizes
        }

    async def appends_settled(self, timeout: float) -> None:
        await self.own_log.settled(timeout)

    def lag(self) -> dict[str, int]:
        return self.peers.lag(self.replicator.size)

    def freshness(self) -> dict[str, Any]:
        lag = self.lag()
        for origin, behind in lag.items():
            self.metrics.lag.labels(origin).set(behind)
        certificates = self.certificates()
        warnings = [
            f"{code}'s TLS certificate expires {c['expires']}: 'mra network renew' at {code}"
            for code, c in certificates.items()
            if c["seconds_left"] < EXPIRY_WARNING_SECONDS
        ]
        return {
            **self.peers.freshness(self.clock(), lag),
            "frozen": sorted(self.store.frozen_origins()),
            "appends_refused": self.own_log_behind(),
            "own_log_at_peers": self.own_log_at_peers(),
            "certificates": certificates,
            "warnings": warnings,
        }

    def certificates(self) -> dict[str, dict[str, Any]]:
        """Per member whose certificate this node holds (those the membership carries, and its
        own): when it expires and the seconds left, also set as the gauge
        ``mra_tls_certificate_expiry_seconds``."""
        pems = {m.code: m.tls_cert for m in self.membership.members if m.tls_cert}
        if self.me not in pems and self.tls is not None:
            pems[self.me] = (self.tls.home.path / "tls.crt").read_text()
        now = self.clock() / 1000
        found: dict[str, dict[str, Any]] = {}
        for code, pem in sorted(pems.items()):
            if pem not in self._expiry:
                self._expiry[pem] = not_after(pem.encode())
            expires = self._expiry[pem]
            left = int(expires.timestamp() - now)
            self.metrics.tls_expiry.labels(code).set(left)
            found[code] = {"expires": expires.isoformat(), "seconds_left": left}
        return found

    # -- running ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self.gossip.probe_own_log()
        self._tasks = [
            asyncio.create_task(self.gossip.pull_loop(), name="mra-pull"),
            asyncio.create_task(self.gossip.push_loop(), name="mra-push"),
        ]
        if self.guard.vouched is None:
            log.warning(
                "no peer answered the start-up probe: appends wait until one does"
                " (or 'mra ledger accept-restore')"
            )
            self._tasks.append(asyncio.create_task(self.gossip.ask_until_vouched(), name="mra-ask"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.transport.aclose()
        self._verifiers.shutdown(wait=False)


def open_network(
    home: NodeHome,
    store: NodeStore,
    settings: Settings,
    registry: CollectorRegistry,
    *,
    transport: Transport | None = None,
    access: AccessLog | None = None,
    clock: Clock = system_clock,
    monotonic: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
    offload: Offload = inline,
) -> NetworkService:
    """The network part of the node in ``home``: its files read (``load_network``) and its
    service built over ``transport`` (HTTPS with the home's TLS material, ``network.tls``,
    unless given). Raises what ``load_network`` raises."""
    files = load_network(home, store, settings)
    tls = NodeTls.of_home(home, files.membership, settings) if transport is None else None
    return NetworkService(
        home=home,
        store=store,
        files=files,
        settings=settings,
        registry=registry,
        transport=transport,
        tls=tls,
        access=access,
        clock=clock,
        monotonic=monotonic,
        rng=rng,
        offload=offload,
    )


def confirm_own_log(home: NodeHome, store: NodeStore) -> StartGuard:
    """For a command that appends outside the node process (the CLI): ask the peers of the
    node in ``home`` for their checkpoints of its log, as a starting node does (PROBE_SECONDS
    at most), and return the guard that says whether appending is safe now. Sealed keys are
    opened with the environment's passphrase (a command is given no Settings)."""
    settings = Settings(key_passphrase=key_passphrase())
    service = open_network(home, store, settings, CollectorRegistry())

    async def probe() -> None:
        try:
            await service.gossip.probe_own_log()
        finally:
            await service.transport.aclose()

    try:
        if service.members:
            asyncio.run(probe())
    finally:
        service._verifiers.shutdown(wait=False)
    return service.guard


def held_by_peers(
    home: NodeHome, store: NodeStore, start: int
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """For a command on the node in ``home`` (running or stopped): ask each peer over mutual
    TLS, with the home's own TLS identity, what it holds of this node's log from ``start``
    (``network.held_tail.ask_held``: the items per peer that answered, and why the others did
    not)."""
    settings = Settings(key_passphrase=key_passphrase())
    service = open_network(home, store, settings, CollectorRegistry())

    async def ask() -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
        try:
            return await ask_held(service.gossip.request, service.members, service.me, start)
        finally:
            await service.transport.aclose()

    try:
        return asyncio.run(ask()) if service.members else ({}, {})
    finally:
        service._verifiers.shutdown(wait=False)
