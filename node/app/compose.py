"""The composition root of a serving node: ``open_node`` is the one place that opens the store,
the keys and the membership of a node's home and wires the writer, the access log, the webhooks
and gossip together; ``Node.close`` undoes it.

What appends to the node's own log (publications, status changes, agreements, keys, erasures,
anchors) and what peers send runs on one writer thread, in order (``Node.written``), so that
reads keep their latency while a large batch is validated, signed and written: the store gives
each thread its own read connection, which never sees a transaction in progress.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, TypeVar

from prometheus_client import CollectorRegistry

from network.answers import Offload, inline
from network.service import NetworkService, confirm_own_log, open_network
from network.transport import Transport
from node.app.metrics import ApiMetrics
from node.core.clock import Clock, system_clock
from node.core.errors import MraError, StorageFailed
from node.host import keyfiles
from node.host.access_log import AccessLog
from node.host.apikeys import Caller
from node.host.guard import StartGuard
from node.host.home import NodeConfig, NodeHome, load_signing_key
from node.host.settings import Settings
from node.host.signer import SigningProcess
from node.host.webhooks import WebhookDispatcher
from node.ledger.access_anchor import AccessAnchors
from node.ledger.queries import Queries
from node.ledger.writer import BatchSigner, Ledger
from node.store.open import NodeStore, open_store

__all__ = ["PRIMARY", "READER", "Node", "Role", "Simulated", "open_node"]

Role = Literal["primary", "reader"]
PRIMARY: Role = "primary"  # the process that writes: the only one of a single-process node
READER: Role = "reader"  # a worker that serves reads and forwards writes to the primary

_T = TypeVar("_T")
log = logging.getLogger("mra.api")


class Writer:
    """The one thread that writes the node's log and what peers send, one write after the
    other. ``appended`` is the ledger's ``on_append``: it notes, on this thread, that the own log
    grew; once the write that grew it is done, ``run`` calls ``wake`` on the serving loop (the
    push to peers waits on an asyncio event, which only that loop may set), so what a handler
    does right after the write (a rotated key given to the peers) comes before the push runs."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="mra-write")
        self._grew = False
        self.wake: Callable[[], None] = lambda: None  # set once the peers exist

    def appended(self) -> None:
        self._grew = True

    async def run(self, work: Callable[[], _T]) -> _T:
        """Run ``work`` (which writes) on the writer thread; the event loop keeps serving."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, work)
        finally:
            if self._grew:
                self._grew = False
                self.wake()

    def shutdown(self) -> None:
        """Wait for the writes under way; nothing is written after."""
        self._thread.shutdown(wait=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Simulated:
    """What a simulation gives a node in place of the process's own: the transport its requests
    to peers take (``network.transport.MemoryTransport``), its wall clock in ms, the time its
    retries are scheduled by, and the randomness of its gossip. What peers send is then written
    inline, not on the writer thread: a simulated request is answered in one step of virtual
    time."""

    transport: Transport
    clock: Clock
    monotonic: Callable[[], float]
    rng: random.Random


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """An opened node: what ``open_node`` wired, for the API, the UI and the workers."""

    home: NodeHome
    settings: Settings
    config: NodeConfig
    store: NodeStore
    ledger: Ledger
    queries: Queries
    access: AccessLog
    access_writer: NodeStore  # the access log's own connection (not durable: node.host)
    anchors: AccessAnchors
    webhooks: WebhookDispatcher
    peers: NetworkService | None  # None: a node that belongs to no network
    registry: CollectorRegistry
    metrics: ApiMetrics  # what the API counts
    writer: Writer
    role: Role = PRIMARY
    # Makes the signatures of the primary's large batches (None in a reader, which never signs).
    signer: SigningProcess | None = None
    # How many processes serve the API now (node.app.pool; 1: this one alone).
    serving: Callable[[], int] = lambda: 1

    def members(self) -> frozenset[str] | None:
        """The codes of the membership in force (None: a node of no network)."""
        return self.peers.member_codes() if self.peers is not None else None

    @property
    def guard(self) -> StartGuard | None:
        """After a start, appends wait for a peer (node.host.guard); None without peers."""
        return self.peers.guard if self.peers is not None else None

    async def written(self, work: Callable[[], _T]) -> _T:
        """Run ``work`` (which writes) on the writer thread; the event loop keeps serving. When
        it appended to the own log, the push to peers wakes."""
        return await self.writer.run(work)

    def accessed(
        self, caller: Caller, action: str, channel: str, *ids: str, agreements: str = ""
    ) -> None:
        """Note in the access log that ``caller`` did ``action`` through ``channel``."""
        self.access.record(caller.actor, action, channel, *ids, agreements=agreements)

    def anchor_access(self) -> None:
        """Put the access log's head on the signed log, so a cut or rewritten row is caught
        (an append: on the writer thread, or once it is done)."""
        try:
            self.anchors.anchor()
        except MraError as exc:  # OwnLogBehind, a full disk: the next round tries again
            log.warning("access log anchor not written: %s", exc)

    async def start(self) -> None:
        """Start gossip, when the node has peers, on the running loop."""
        if self.peers is not None:
            await self.peers.start()

    async def stop(self) -> None:
        """Stop gossip (before the workers stop and the node closes)."""
        if self.peers is not None:
            await self.peers.stop()

    def close(self) -> None:
        """Let the writer thread finish, end the signing process, flush and anchor the access
        log, close the stores."""
        self.writer.shutdown()
        if self.signer is not None:
            self.signer.close()
        self.access.flush()
        if self.role == PRIMARY:  # a reader's rows are anchored by its primary
            self.anchor_access()  # the writer thread is done: nothing else appends now
        self.access_writer.close()
        self.store.close()


def open_node(
    home: NodeHome,
    settings: Settings,
    *,
    network: bool = True,
    simulated: Simulated | None = None,
    role: Role = PRIMARY,
    serving: Callable[[], int] = lambda: 1,
) -> Node:
    """Open the node in ``home`` with ``settings``: its store, its signing key (refusing to
    start when another user may read a private key), its ledger, access log and webhooks, and
    its peers when ``network`` and the home belongs to one (over HTTPS, on this process's
    clocks, unless ``simulated``). Close it with ``Node.close``. A ``READER`` (a worker of
    ``mra node run --workers``) has no peers and a ledger that refuses to append; ``serving``
    counts the processes serving the API (``GET /v1/health``).

    Raises NotFound (no node in ``home``), InvalidInput (key file permissions, a missing or
    wrong passphrase), Conflict (a key that does not match node.json), StorageFailed."""
    config = home.config()
    keyfiles.check_home(home.path)  # no start with private keys others may read
    clock = simulated.clock if simulated is not None else system_clock
    store = open_store(home.db_path, settings.database_url, owner_url=settings.database_owner_url)
    writer = Writer()
    signer = None
    if role == READER:
        ledger = _refusing_ledger(home, config, store, settings)
    else:
        signer = SigningProcess()  # started by the first large batch, not before
        ledger = home.open_ledger(
            store, clock, settings=settings, on_append=writer.appended, signers=signer
        )
    registry = CollectorRegistry()
    metrics = ApiMetrics.register(registry)
    access_writer = open_store(home.db_path, settings.database_url, durable=False)
    access = AccessLog(access_writer, clock)
    peers = None
    if role == PRIMARY and network and (home.path / "membership.json").exists():
        peers = _network_service(home, settings, store, registry, access, writer.run, simulated)
        writer.wake = peers.appended  # each append to the own log is pushed to the peers
        ledger.hold = peers.guard.hold  # after a start, appends wait for a peer (node.host.guard)
    return Node(
        home=home,
        settings=settings,
        config=config,
        store=store,
        ledger=ledger,
        queries=Queries(store, config.origin),
        access=access,
        access_writer=access_writer,
        anchors=AccessAnchors(ledger, store),
        webhooks=WebhookDispatcher(store, clock),
        peers=peers,
        registry=registry,
        metrics=metrics,
        writer=writer,
        role=role,
        signer=signer,
        serving=serving,
    )


def _refusing_ledger(
    home: NodeHome, config: NodeConfig, store: NodeStore, settings: Settings
) -> Ledger:
    """The ledger of a reader worker: it refuses every append (the primary is the one writer;
    a write that reached a reader is forwarded, node.app.forward), so two processes can never
    sign the same seq. It settles no key rotation and adds no key: the primary did at its
    start."""
    key = load_signing_key(home.key_path, settings)
    ledger = Ledger(store=store, origin=config.origin, key=key)
    refused = StorageFailed("a reader worker does not append: its primary process does")
    ledger.hold = lambda: refused
    return ledger


def _network_service(
    home: NodeHome,
    settings: Settings,
    store: NodeStore,
    registry: CollectorRegistry,
    access: AccessLog,
    offload: Offload,
    simulated: Simulated | None,
) -> NetworkService:
    """The peer endpoints and gossip of the node in ``home``: the one place that builds them."""
    if simulated is None:
        return open_network(home, store, settings, registry, access=access, offload=offload)
    return open_network(
        home,
        store,
        settings,
        registry,
        transport=simulated.transport,
        access=access,
        clock=simulated.clock,
        monotonic=simulated.monotonic,
        rng=simulated.rng,
        offload=inline,
    )


def open_for_command(
    home: NodeHome,
    database_url: str | None = None,
    owner_url: str | None = None,
    signers: BatchSigner | None = None,
) -> tuple[NodeStore, Callable[[], Ledger]]:
    """The node in ``home`` opened for one ``mra`` command: its store, and its ledger opened on
    first use (a command that only reads loads no key and asks no peer). ``database_url``:
    the node's PostgreSQL database (``MRA_DATABASE_URL``), None for its SQLite file;
    ``owner_url``: its owner's (``MRA_DATABASE_OWNER_URL``, for the erasures' rewrite);
    ``signers``: what signs the ledger's large batches (node.host.signer; None: the ledger).

    In a home with peers the ledger appends only once one of them has shown its checkpoint of
    this node's log (asked then, as a starting node does, for a few seconds at most) or an
    operator has accepted the risk (``mra ledger accept-restore``): the home may be an older
    copy (node.host.guard)."""
    store = home.open_store(database_url, owner_url)

    def open_ledger() -> Ledger:
        ledger = home.open_ledger(store, signers=signers)
        if (home.path / "membership.json").exists():
            ledger.hold = confirm_own_log(home, store).hold
        return ledger

    return store, open_ledger
