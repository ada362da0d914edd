"""A node on the network: the peer endpoints (mutual TLS) and gossip (push, pull anti-entropy).

Peers are members of the signed membership document. Every peer request carries a client
certificate issued by the network CA whose SHA-256 is the one the membership names for that
member; anything else is refused (401 without a certificate, 403 for a certificate that maps to
no member). Gossip runs in the node's event loop beside the local API:

- push: when this node appends, it sends each peer the new entries (in pages, with a
  consistency proof to its latest checkpoint) and the deliveries that peer is entitled to;
- pull: every ``interval`` seconds, jittered, it asks each peer for its frontier (per origin:
  size, latest checkpoint, cosignatures; open fork evidence), fetches what it lacks of every
  origin (relays included) and the deliveries sealed to it by that peer, and keeps cosignatures;
- an unreachable peer is retried with exponential backoff; responses are read up to a bound.

What peers send is verified by ``network.replicator`` before it is stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import ssl
import time
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx
import nacl.public
from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import CollectorRegistry, Counter, Gauge

from network.evidence import build_bundle
from network.forks import Fork
from network.membership import Member, Membership, SignedMembership
from network.onboarding import install
from network.pki import member_of
from network.replicator import Replicator, WireEntry
from network.sharing import Sharing
from network.wire import b64, encoded_size, unb64
from node.core.canonical import parse_json
from node.core.checkpoint import Checkpoint, SignedNote, open_checkpoint
from node.core.clock import Clock, system_clock
from node.core.crypto import SigningKey
from node.core.entries import MAX_SEQ
from node.core.errors import (
    Conflict,
    IntegrityError,
    InvalidInput,
    MraError,
    NotFound,
    PeerMisbehaved,
    PeerUnavailable,
)
from node.core.log_budget import LogBudget
from node.core.logs import log_name
from node.host import keyfiles
from node.host.access_log import AccessLog
from node.host.guard import StartGuard
from node.host.home import NodeHome, load_signing_key
from node.ledger.queries import checked_ids
from node.ledger.tree import StoredTree
from node.store.protocols import StoredEntry
from node.store.sqlite import SqliteStore

__all__ = [
    "PAGE",
    "PAGE_BYTES",
    "HttpsTransport",
    "NetworkService",
    "Offload",
    "PeerDenied",
    "Transport",
    "confirm_own_log",
    "entries_of",
    "hashes_of",
    "load_membership",
    "log_page",
]

log = logging.getLogger("mra.network")

PAGE = 500
MAX_RESPONSE = 16 * 1024 * 1024
MAX_REQUEST = 8 * 1024 * 1024
# A page of entries, of deliveries, or a push of both holds at most PAGE items and about
# PAGE_BYTES of encoded bytes: it stops before the item that would pass the bound (one item is
# at most a record's 64 KiB, node.core.records.MAX_RECORD_BYTES, sealed and in base64), so every
# page is far below what a receiver reads (MAX_REQUEST, MAX_RESPONSE), however large the
# records of a backlog. A larger item than any record now allowed (published before the limit)
# still travels alone in a page of deliveries, and is left out of pushes.
PAGE_BYTES = 4 * 1024 * 1024
PROBE_SECONDS = 5.0  # how long a starting node waits for peers' view of its own log
ASK_SECONDS = 1.0  # until one answers, each peer is asked again this often
READ_SECONDS = 30.0  # how long a peer may take to send a request body (MRA_PEER_READ_SECONDS)
MAX_BACKOFF = 30.0
_T = TypeVar("_T")


class Offload(Protocol):
    """Where what gossip stores is written: the node's writer thread (``node.app.api``), so that a
    write waiting for a large append does not hold up the event loop; inline by default (the
    simulation keeps its virtual time)."""

    def __call__(self, work: Callable[[], _T], /) -> Awaitable[_T]: ...


async def _inline(work: Callable[[], _T]) -> _T:
    return work()


class PeerDenied(Exception):
    """A peer request refused for who sent it; ``reason`` labels it in the refusal metric."""

    def __init__(self, status: int, detail: str, reason: str = "identity") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.reason = reason


# What a peer request can be refused with (the peer's fault); anything else is the node's.
REFUSALS = (PeerDenied, HTTPException, RequestValidationError, InvalidInput, PeerMisbehaved)


def _reason(exc: BaseException) -> str:
    """A short label, from a fixed set, for why a peer request was refused."""
    if isinstance(exc, PeerDenied):
        return exc.reason
    if isinstance(exc, HTTPException):
        return {408: "slow", 413: "too-large"}.get(exc.status_code, f"http-{exc.status_code}")
    if isinstance(exc, PeerMisbehaved):
        cause = exc.__cause__
        return cause.damage if isinstance(cause, IntegrityError) else "unverified"
    if isinstance(exc, NotFound):
        return "not-found"
    if isinstance(exc, Conflict):
        return "conflict"
    return "malformed"


def _detail(exc: BaseException) -> str:
    """What a refusal says, for the log: bounded, on one line, and for a request that does not
    match the API only where it fails (never the values sent)."""
    if isinstance(exc, RequestValidationError):
        text = "; ".join(
            f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}" for e in exc.errors()
        )
    elif isinstance(exc, HTTPException):
        text = str(exc.detail)
    else:
        text = str(exc)
    return ascii(text[:300])


def checked_seq(value: object, field: str) -> int:
    """A seq or a size as peers send it: an integer in [0, MAX_SEQ]; raises InvalidInput."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQ:
        raise InvalidInput(f"an integer in [0, {MAX_SEQ}]", field=field)
    return value


def load_membership(path: Path, store: SqliteStore) -> Membership:
    """The membership document in ``path``, after checking every member signed it (with its
    first key, its rotation chain, or a key of its that ``store`` learnt from its log)."""
    signed = SignedMembership.from_json(path.read_text())
    signed.verify(lambda code: [key for _, key in store.keys(code)])
    return signed.membership


def log_page(
    store: SqliteStore, origin: str, start: int, size: int, budget: int = PAGE_BYTES
) -> dict[str, Any]:
    """Entries of ``origin`` from ``start`` leading to its checkpoint at ``size``, or to the
    checkpoint right after the first key rotation on the way: the receiver learns the new
    key from that rotation before it checks anything the new key signed. At most PAGE
    entries, and no more than ``budget`` bytes of them encoded (at least one)."""
    if not 0 <= start < size:
        raise InvalidInput(f"start must be in [0, {size})", field="start")
    key_changes = [since for since, _ in store.keys(origin) if start < since <= size]
    size = min(key_changes, default=size)
    note = store.checkpoint_at(origin, size)
    if note is None:
        raise NotFound(f"no checkpoint of {origin} at size {size} is held here", field="size")
    wired: list[dict[str, str]] = []
    used = 0
    for entry in store.entries(origin, start, min(size, start + PAGE)):
        rotation = entry.seq + 1 in key_changes
        used += encoded_size(entry.body, entry.signature, *_opened(entry, rotation))
        if wired and used > budget:
            break
        wired.append(_wire(entry, rotation))
    proof = StoredTree(store, origin).consistency_proof(start, size) if start else []
    return {
        "origin": origin,
        "start": start,
        "entries": wired,
        "checkpoint": note.decode(),
        "proof": [p.hex() for p in proof],
    }


def _opened(entry: StoredEntry, rotation: bool) -> tuple[bytes, bytes] | tuple[()]:
    """The salt and payload a page carries in clear: a key rotation's only (a public key)."""
    if rotation and entry.salt is not None and entry.payload is not None:
        return entry.salt, entry.payload
    return ()


def _wire(entry: StoredEntry, rotation: bool) -> dict[str, str]:
    wire = {"body": b64(entry.body), "signature": b64(entry.signature)}
    opened = _opened(entry, rotation)
    if opened:
        wire.update(salt=b64(opened[0]), payload=b64(opened[1]))
    return wire


@dataclass(slots=True)
class PeerStatus:
    last_heard: int | None = None  # ms
    failures: int = 0
    retry_at: float = 0.0  # event-loop time
    last_error: str = ""


class Transport(Protocol):
    """How gossip reaches a peer: one request, answered with the peer's parsed JSON.

    Raises PeerUnavailable when the peer cannot be reached or failed (5xx) and PeerMisbehaved
    when it refused the request (4xx) or answered more than ``MAX_RESPONSE`` bytes."""

    async def request(
        self,
        method: str,
        peer: Member,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any: ...

    async def aclose(self) -> None: ...


class HttpsTransport:
    """Requests over mutual TLS with this node's certificate, to the endpoint the membership
    names; responses are read up to ``MAX_RESPONSE`` bytes."""

    def __init__(self, home: NodeHome) -> None:
        context = ssl.create_default_context(cafile=str(home.path / "ca.crt"))
        tls_key = home.path / "tls.key"
        context.load_cert_chain(
            home.path / "tls.crt", tls_key, password=keyfiles.tls_password(tls_key)
        )
        # A pooled connection is dropped well before the peer's server closes it (uvicorn's
        # keep-alive is 5 s): reusing one as it closes fails the request.
        self._client = httpx.AsyncClient(
            verify=context,
            timeout=httpx.Timeout(10.0, connect=3.0),
            limits=httpx.Limits(keepalive_expiry=2.0),
            http2=False,
        )

    async def request(
        self,
        method: str,
        peer: Member,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        url = peer.endpoint.rstrip("/") + path
        try:
            async with self._client.stream(method, url, params=params, json=json) as response:
                chunks, total = [], 0
                async for chunk in response.aiter_bytes():
                    total += len(chunk)
                    if total > MAX_RESPONSE:
                        raise PeerMisbehaved(f"{peer.code} sent more than {MAX_RESPONSE} bytes")
                    chunks.append(chunk)
        except httpx.TransportError as exc:
            raise PeerUnavailable(f"{type(exc).__name__}: {exc}") from exc
        data = b"".join(chunks)
        if response.status_code >= 500:
            raise PeerUnavailable(f"{peer.code} answered {response.status_code}")
        if response.status_code >= 400:
            raise PeerMisbehaved(f"{peer.code} refused {path}: {data[:300]!r}")
        return parse_json(data)

    async def aclose(self) -> None:
        await self._client.aclose()


def entries_of(value: object) -> list[WireEntry]:
    if not isinstance(value, list) or len(value) > PAGE:
        raise InvalidInput(f"a list of at most {PAGE} entries", field="entries")
    entries = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise InvalidInput("an entry is {body, signature}", field=f"entries[{i}]")
        opened = "payload" in entry
        entries.append(
            WireEntry(
                body=unb64(entry.get("body"), f"entries[{i}].body"),
                signature=unb64(entry.get("signature"), f"entries[{i}].signature"),
                salt=unb64(entry.get("salt"), f"entries[{i}].salt") if opened else None,
                payload=unb64(entry.get("payload"), f"entries[{i}].payload") if opened else None,
            )
        )
    return entries


def _sealed(value: object) -> list[tuple[int, bytes]]:
    if not isinstance(value, list) or len(value) > PAGE:
        raise InvalidInput(f"a list of at most {PAGE} deliveries", field="deliveries")
    items = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise InvalidInput("a delivery has a seq and a sealed box", field=f"deliveries[{i}]")
        seq = checked_seq(item.get("seq"), f"deliveries[{i}].seq")
        items.append((seq, unb64(item.get("sealed"), f"deliveries[{i}].sealed")))
    return items


def hashes_of(value: object, field: str) -> list[bytes]:
    if not isinstance(value, list) or len(value) > 64:
        raise InvalidInput("a list of hashes", field=field)
    try:
        return [bytes.fromhex(str(h)) for h in value]
    except ValueError as exc:
        raise InvalidInput("hex hashes", field=field) from exc


def confirm_own_log(home: NodeHome, store: SqliteStore) -> StartGuard:
    """For a command that appends outside the node process (the CLI): ask the peers of the
    node in ``home`` for their checkpoints of its log, as a starting node does (PROBE_SECONDS
    at most), and return the guard that says whether appending is safe now."""
    service = NetworkService(home, store, CollectorRegistry())

    async def probe() -> None:
        service.transport = HttpsTransport(home)
        try:
            await service._probe_own_log()
        finally:
            await service.transport.aclose()

    try:
        if service.peers:
            asyncio.run(probe())
    finally:
        service._verifiers.shutdown(wait=False)
    return service.guard


class NetworkService:
    """Peer endpoints and gossip for the node in ``home``."""

    def __init__(
        self,
        home: NodeHome,
        store: SqliteStore,
        registry: CollectorRegistry,
        *,
        interval: float | None = None,
        read_timeout: float | None = None,
        access: AccessLog | None = None,
        clock: Clock = system_clock,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        offload: Offload | None = None,
    ) -> None:
        """``clock``, ``monotonic`` and ``rng`` (wall time in ms, the time retries are
        scheduled by, and the backoff jitter) are the process's own unless a simulation
        drives the node (``network.simulation``); ``offload`` runs what stores what peers
        sent (inline unless given)."""
        self.home = home
        self.clock = clock
        self.monotonic = monotonic
        self.rng = rng or random.Random()
        self.offload: Offload = offload or _inline
        self.access = access if access is not None else AccessLog(store, clock)
        self.store = store
        self.me = home.config().origin
        self.membership_path = home.path / "membership.json"
        self.membership = load_membership(self.membership_path, store)
        self._membership_stamp = self.membership_path.stat().st_mtime_ns
        self.ca_pem = (home.path / "ca.crt").read_bytes()
        self.key = load_signing_key(home.key_path)
        sealing_hex = keyfiles.read_private(home.path / "sealing.key").decode("ascii").strip()
        self.sealing_key = nacl.public.PrivateKey(bytes.fromhex(sealing_hex))
        self._verifiers = ThreadPoolExecutor(2, thread_name_prefix="mra-verify")
        self.replicator = Replicator(
            store, self.me, self.key, self.sealing_key, clock, self._verifiers
        )
        self.peers: dict[str, Member] = {}
        self.status: dict[str, PeerStatus] = {}
        self.reported: dict[str, dict[str, int]] = {}
        # The largest checkpoint of this node's own log, signed by it, that a peer has shown
        # (recorded in the home: more than the database holds means it lost entries).
        self._log_seen = home.log_seen()[1]
        self._take(self.membership)
        # Appends wait for the first peer's answer (or the operator's acceptance) after a start.
        self.guard = StartGuard(home, store, needs_peer=bool(self.peers), clock=clock)
        self._vouched = asyncio.Event()
        self.interval = interval or float(os.environ.get("MRA_GOSSIP_INTERVAL", "2"))
        self.read_timeout = read_timeout or float(
            os.environ.get("MRA_PEER_READ_SECONDS", str(READ_SECONDS))
        )
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.transport: Transport | None = None
        self._sharing_seen: dict[str, list[str]] = {}
        self._held: tuple[tuple[int, int], tuple[dict[str, Any], list[str]]] | None = None
        self.heard = Gauge(
            "mra_peer_last_heard_timestamp_seconds",
            "When each peer last answered",
            ["peer"],
            registry=registry,
        )
        self.lag_gauge = Gauge(
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
        self._counted: weakref.WeakSet[BaseException] = weakref.WeakSet()
        self._anonymous_lines = LogBudget(monotonic=monotonic)
        self.forks_found = Counter(
            "mra_forks_found", "Fork evidence found or received", ["origin"], registry=registry
        )

    # -- identities ------------------------------------------------------------------------

    def peer_of(self, request: Request) -> str:
        """The member that the request's client certificate names. Raises PeerDenied."""
        tls = (request.scope.get("extensions") or {}).get("tls") or {}
        chain = tls.get("client_cert_chain") or []
        if not chain:
            raise PeerDenied(
                401, "a client certificate from the network CA is required", "no-certificate"
            )
        pem = str(chain[0]).encode()
        try:
            code = member_of(pem, self.ca_pem)
        except InvalidInput as exc:
            raise PeerDenied(403, str(exc), "not-a-member") from None
        member = self.membership.member(code)
        der = ssl.PEM_cert_to_DER_cert(pem.decode())
        if member is None or hashlib.sha256(der).hexdigest() != member.tls_cert_sha256:
            raise PeerDenied(403, f"{code} is not a member with this certificate", "not-a-member")
        if code == self.me:
            raise PeerDenied(403, "a node does not gossip with itself", "own-certificate")
        return code

    def refuse(self, peer: str, request: str, exc: BaseException) -> None:
        """Count and log a refused peer request, once per refusal (a push is counted by
        ``receive_push`` itself, for callers that do not come through the routes). The log
        line names the request, the peer and the reason, never the bytes sent."""
        if exc in self._counted:
            return
        self._counted.add(exc)
        reason = _reason(exc)
        self.refused.labels(peer, reason).inc()
        # Anyone who can open a connection can send refusals from "unknown": the metric counts
        # every one, the log takes a bounded number of lines.
        more = self._anonymous_lines.suffix(reason) if peer == "unknown" else ""
        if more is not None:
            log.warning("refused %s from %s (%s): %s%s", request, peer, reason, _detail(exc), more)

    def member_codes(self) -> frozenset[str]:
        return frozenset(m.code for m in self.membership.members)

    def _take(self, membership: Membership) -> None:
        """Gossip with the members of ``membership`` from now on."""
        self.membership = membership
        self.peers = {m.code: m for m in membership.members if m.code != self.me}
        for code in self.peers:
            self.status.setdefault(code, PeerStatus())
            self.reported.setdefault(code, {})

    def reload_membership(self) -> None:
        """Take up a membership.json installed since it was last read (``mra network
        install``); a file that does not verify is logged and the current version kept."""
        stamp = self.membership_path.stat().st_mtime_ns
        if stamp == self._membership_stamp:
            return
        self._membership_stamp = stamp
        try:
            membership = load_membership(self.membership_path, self.store)
        except MraError as exc:
            log.error(
                "membership.json changed but is not valid; keeping v%s: %s",
                self.membership.version,
                exc,
            )
            return
        if membership.version > self.membership.version:
            self._take(membership)
            log.warning(
                "membership v%s taken up: %s",
                membership.version,
                ", ".join(sorted(self.member_codes())),
            )

    async def _adopt_membership(self, code: str) -> None:
        """A peer holds a newer membership version: fetch it, check that every member signed
        it, and install it here."""
        answer = await self._request("GET", code, "/v1/peer/membership")
        signed = SignedMembership.from_dict(answer)
        membership = install(self.home, self.store, signed)
        self._membership_stamp = self.membership_path.stat().st_mtime_ns
        self._take(membership)
        log.warning("membership v%s adopted from %s", membership.version, code)

    # -- what this node serves -------------------------------------------------------------

    def frontier(self, requester: str) -> dict[str, Any]:
        """Per origin: size, latest checkpoint and its cosignatures; open fork evidence; and
        the agreements in force here under which this node shares with ``requester``."""
        mark = self.store.change_mark()
        if self._held is None or self._held[0] != mark:
            self._held = (mark, self._read_held())
        origins, forks = self._held[1]
        sharing = sorted(Sharing(self.store, self.me, self.key, self.clock()).ids_with(requester))
        return {
            "member": self.me,
            "membership": self.membership.version,
            "origins": origins,
            "forks": forks,
            "sharing": sharing,
        }

    def _read_held(self) -> tuple[dict[str, Any], list[str]]:
        """What the frontier says of every origin held here, and the open fork evidence: the
        same for every peer, read again only when the store has changed (peers ask for it
        every few seconds each)."""
        origins: dict[str, Any] = {}
        for origin in self.store.origins():
            head = self.store.head(origin)
            note = self.store.latest_checkpoint(origin)
            if head is None or note is None:
                continue
            size = Checkpoint.parse(SignedNote.parse(note).text).size
            origins[origin] = {
                "size": head.size,
                "checkpoint": note.decode(),
                "checkpoint_size": size,
                "cosignatures": self.store.cosignatures(origin, size),
            }
        forks = [f["evidence"].decode() for f in self.store.forks() if f["resolved_ts"] is None]
        return origins, forks

    def log_page(self, origin: str, start: int, size: int) -> dict[str, Any]:
        return log_page(self.store, origin, start, size)

    def deliveries(
        self,
        partner: str,
        start: int,
        end: int | None = None,
        *,
        budget: int = PAGE_BYTES,
        at_least_one: bool = True,
    ) -> dict[str, Any]:
        """The deliveries sealed to ``partner`` for this node's entries from ``start`` (to
        ``end``, or a page), bounded by PAGE items and ``budget`` encoded bytes; ``next`` is
        the seq the following page starts from."""
        member = self.membership.member(partner)
        assert member is not None
        head = self.store.head(self.me)
        size = head.size if head else 0
        stop = min(size, start + PAGE) if end is None else min(size, end)
        sharing = Sharing(self.store, self.me, self.key, self.clock())
        sealed, left_out = sharing.sealed_page(
            self.store.entries(self.me, start, stop),
            partner,
            bytes.fromhex(member.sealing_key),
            budget=budget,
            at_least_one=at_least_one,
        )
        if left_out is not None:
            stop = left_out
        for delivery, _ in sealed:
            if delivery.view is not None:
                self.access.record(
                    f"peer:{partner}",
                    "deliver",
                    "peer deliveries",
                    str(parse_json(delivery.view).get("aeo_id", "")),
                    agreements=",".join(delivery.agreements),
                )
        return {
            "start": start,
            "next": max(start, stop),
            "items": [{"seq": d.seq, "sealed": b64(blob)} for d, blob in sealed],
        }

    def query(self, partner: str, aeo_ids: list[object], *, evidence: bool) -> dict[str, Any]:
        """This node's own records asked for by ``partner``, directly: each as the view the
        agreements in force grant it now, signed for it; anything else is answered unknown."""
        wanted = checked_ids(aeo_ids)
        if wanted:
            self.access.record(f"peer:{partner}", "query", "POST /v1/peer/query", *wanted)
        sharing = Sharing(self.store, self.me, self.key, self.clock())
        found: dict[str, Any] = {}
        unknown: list[str] = []
        for aeo_id in wanted:
            current = self.store.current_record(aeo_id)
            entry = self.store.entry(self.me, current[0]) if current else None
            delivery = sharing.delivery(entry, partner) if entry else None
            if entry is None or delivery is None or delivery.view is None:
                unknown.append(aeo_id)
                continue
            assert delivery.signature is not None
            answer = {
                "origin": self.me,
                "seq": entry.seq,
                "agreements": list(delivery.agreements),
                "view": parse_json(delivery.view),
            }
            if evidence:
                signed = (partner, delivery.view, delivery.signature)
                try:
                    answer["evidence"] = build_bundle(
                        self.store, self.me, entry.seq, signed, self.membership
                    )
                except Conflict as exc:  # the quorum has not cosigned a covering checkpoint yet
                    answer["evidence_pending"] = exc.reason
            found[aeo_id] = answer
        return {"found": found, "unknown": unknown}

    def receive_push(self, peer: str, body: dict[str, Any]) -> dict[str, Any]:
        """Entries of ``peer``'s own log with the deliveries sealed to this node; a push that
        does not verify is refused (counted and logged) and changes nothing."""
        try:
            return self._receive_push(peer, body)
        except REFUSALS as exc:
            self.refuse(peer, "POST /v1/peer/push", exc)
            raise

    def _receive_push(self, peer: str, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("origin") != peer:
            raise PeerDenied(403, f"{peer} may push its own log only", "wrong-origin")
        # Everything is parsed before anything is stored: a malformed part refuses it whole.
        start = checked_seq(body.get("start"), "start")
        entries = entries_of(body.get("entries"))
        proof = hashes_of(body.get("proof"), "proof")
        sealed = _sealed(body.get("deliveries", []))
        note = str(body.get("checkpoint", "")).encode()
        received = self.replicator.receive_entries(peer, start, entries, note, proof, peer)
        self._count(peer, received.stored, received.fork)
        if received.fork is None:
            self.replicator.receive_deliveries(peer, sealed)
        self.status[peer].last_heard = self.clock()
        return {"size": received.size, "cosignature": received.cosignature}

    # -- routes ----------------------------------------------------------------------------

    async def json_body(self, request: Request) -> Any:
        """The request's JSON body, read up to MAX_REQUEST bytes within ``read_timeout``
        seconds: a chunked body declares no length that the API could refuse up front, and
        a peer that trickles its body must not hold a request open."""
        chunks, total = [], 0
        try:
            async with asyncio.timeout(self.read_timeout):
                async for chunk in request.stream():
                    total += len(chunk)
                    if total > MAX_REQUEST:
                        raise HTTPException(
                            413, f"peer requests are limited to {MAX_REQUEST} bytes"
                        )
                    chunks.append(chunk)
        except TimeoutError:
            raise HTTPException(
                408, f"the request body did not arrive within {self.read_timeout:g} s"
            ) from None
        return parse_json(b"".join(chunks))

    # -- freshness -------------------------------------------------------------------------

    def lag(self) -> dict[str, int]:
        lag: dict[str, int] = {}
        for sizes in self.reported.values():
            for origin, size in sizes.items():
                behind = size - self.replicator.size(origin)
                lag[origin] = max(lag.get(origin, 0), behind, 0)
        return lag

    def freshness(self) -> dict[str, Any]:
        now = self.clock()
        lag = self.lag()
        for origin, behind in lag.items():
            self.lag_gauge.labels(origin).set(behind)
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
            "frozen": sorted(self.store.frozen_origins()),
            "appends_refused": self.own_log_behind(),
        }

    # -- gossip ----------------------------------------------------------------------------

    async def start(self) -> None:
        self.transport = HttpsTransport(self.home)
        await self._probe_own_log()
        self._tasks = [
            asyncio.create_task(self._pull_loop(), name="mra-pull"),
            asyncio.create_task(self._push_loop(), name="mra-push"),
        ]
        if self.guard.vouched is None:
            log.warning(
                "no peer answered the start-up probe: appends wait until one does"
                " (or 'mra ledger accept-restore')"
            )
            self._tasks.append(asyncio.create_task(self._ask_until_vouched(), name="mra-ask"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.transport is not None:
            await self.transport.aclose()
        self._verifiers.shutdown(wait=False)

    def use_key(self, key: SigningKey) -> None:
        """This node rotated its signing key: sign views and cosignatures with ``key``."""
        self.key = key
        self.replicator.use_key(key)

    def own_log_behind(self) -> str | None:
        """Why appending now could sign again a seq that a peer already holds, or None (the
        node's ledger asks ``guard`` the same before every append)."""
        refused = self.guard.hold()
        return None if refused is None else str(refused)

    def _note_own_checkpoint(self, code: str, note: bytes) -> None:
        """Remember the size of a checkpoint of this node's log that ``code`` showed, if this
        node signed it (a size a peer merely claims could stop this node's appends)."""
        try:
            size = Checkpoint.parse(SignedNote.parse(note).text).size
            if size <= self._log_seen or size > MAX_SEQ + 1:
                return
            open_checkpoint(note, log_name(self.me), self.replicator.key_at(self.me, size - 1))
            self.home.note_log_seen(code, size)
        except MraError:
            return
        self._log_seen = size
        reason = self.own_log_behind()
        if reason is not None:
            log.error("appends refused: %s", reason)

    def _take_own_view(self, code: str, origins: object) -> None:
        """Note ``code``'s checkpoint of this node's log from its frontier's ``origins``; then
        appends may proceed (unless that showed a loss): a peer answered, and holding none of
        this node's log is an answer too."""
        if not isinstance(origins, dict):
            return
        own = origins.get(self.me)
        if isinstance(own, dict):
            self._note_own_checkpoint(code, str(own.get("checkpoint", "")).encode())
        self.guard.peer_answered(code)
        self._vouched.set()

    async def _ask_own_view(self, code: str) -> None:
        frontier = await self._request("GET", code, "/v1/peer/frontier")
        self._take_own_view(code, frontier.get("origins") if isinstance(frontier, dict) else None)

    async def _ask_until_vouched(self) -> None:
        """After a start that no peer answered (nodes of a network started together, or
        peers away), ask every peer again each ASK_SECONDS, whatever their backoff, until one
        answers or the operator accepts the risk: appends wait for it."""
        while not self.guard.confirmed():
            asks = [asyncio.wait_for(self._ask_own_view(c), ASK_SECONDS) for c in self.peers]
            started = asyncio.get_running_loop().time()
            await asyncio.gather(*asks, return_exceptions=True)
            if not self.guard.confirmed():
                spent = asyncio.get_running_loop().time() - started
                await asyncio.sleep(max(0.0, ASK_SECONDS - spent))
        self._vouched.set()
        log.warning("appends allowed: %s vouched for this node's log", self.guard.vouched)

    async def appends_settled(self, timeout: float) -> None:
        """Return once appends no longer wait for a peer's first answer, or after ``timeout``
        seconds: a write that arrives while a started node waits for its peers waits with it,
        rather than being refused at once."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not self.guard.confirmed() and (left := end - loop.time()) > 0:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._vouched.wait(), min(left, 0.25))

    async def _probe_own_log(self) -> None:
        """Before the node serves, ask each peer (for a few seconds at most) for its checkpoint
        of this node's log: a node that lost acknowledged entries must not append over them."""
        probes = asyncio.gather(*(self._guarded(code, self._ask_own_view) for code in self.peers))
        try:
            await asyncio.wait_for(probes, PROBE_SECONDS)
        except TimeoutError:
            log.warning("peers did not all answer within %s s of starting", PROBE_SECONDS)

    def appended(self) -> None:
        """This node appended to its log: push now."""
        self._wake.set()

    async def _push_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.gather(*(self._guarded(code, self._push_to) for code in self.peers))

    async def _pull_loop(self) -> None:
        while True:
            self.reload_membership()
            await asyncio.gather(*(self._guarded(code, self._sync_with) for code in self.peers))
            await asyncio.sleep(self.interval * self.rng.uniform(0.75, 1.25))

    async def _guarded(self, code: str, step: Any) -> None:
        status = self.status[code]
        if self.monotonic() < status.retry_at:
            return
        try:
            await step(code)
        except PeerUnavailable as exc:
            status.failures += 1
            status.last_error = f"unreachable: {exc}"[:200]
            delay = min(MAX_BACKOFF, 0.5 * 2**status.failures) * self.rng.uniform(0.8, 1.2)
            status.retry_at = self.monotonic() + delay
        except (MraError, ValueError, KeyError, TypeError) as exc:
            status.failures += 1
            status.last_error = f"refused: {exc}"[:200]
            self.refused.labels(code, type(exc).__name__).inc()
            status.retry_at = self.monotonic() + min(MAX_BACKOFF, 0.5 * 2**status.failures)
            log.warning("gossip with %s: %s", code, exc)
        else:
            status.failures = 0
            status.last_error = ""
            status.last_heard = self.clock()
            self.heard.labels(code).set(status.last_heard / 1000)

    async def _request(self, method: str, code: str, path: str, **kwargs: Any) -> Any:
        assert self.transport is not None
        return await self.transport.request(method, self.peers[code], path, **kwargs)

    async def _push_to(self, code: str) -> None:
        known = self.reported[code].get(self.me)
        if known is None:
            return  # learnt from the peer's frontier in the next pull round
        head = self.store.head(self.me)
        note = self.store.latest_checkpoint(self.me)
        if head is None or note is None:
            return
        for _ in range(head.size // PAGE + 2):
            if known >= head.size:
                break
            page = self.log_page(self.me, known, head.size)
            # The deliveries share the page's byte budget with its entries; the entries are cut
            # where the deliveries stop, so that each push is whole and under MAX_REQUEST. A
            # first delivery that alone is over the budget (a record published before the size
            # limit) is left to the peer's pull, which reads up to MAX_RESPONSE.
            room = PAGE_BYTES - sum(len(e["body"]) + len(e["signature"]) for e in page["entries"])
            delivered = self.deliveries(
                code,
                known,
                known + len(page["entries"]),
                budget=max(room, 0),
                at_least_one=False,
            )
            page["entries"] = page["entries"][: max(1, int(delivered["next"]) - known)]
            answer = await self._request(
                "POST",
                code,
                "/v1/peer/push",
                json={
                    "origin": self.me,
                    "start": known,
                    "entries": page["entries"],
                    "checkpoint": page["checkpoint"],
                    "proof": page["proof"],
                    "deliveries": delivered["items"],
                },
            )
            size = int(answer["size"])
            stalled = size == known
            known = self.reported[code][self.me] = size
            if stalled:
                break
            if answer.get("cosignature"):
                text = SignedNote.parse(page["checkpoint"].encode()).text
                size, line = Checkpoint.parse(text).size, str(answer["cosignature"])
                await self.offload(
                    partial(self.replicator.receive_cosignatures, self.me, size, {code: line})
                )

    async def _sync_with(self, code: str) -> None:
        frontier = await self._request("GET", code, "/v1/peer/frontier")
        if not isinstance(frontier, dict) or not isinstance(frontier.get("origins", {}), dict):
            raise PeerMisbehaved(f"{code} sent a frontier that is not an object of origins")
        self._take_own_view(code, frontier.get("origins", {}))
        if int(frontier.get("membership", 0)) > self.membership.version:
            await self._adopt_membership(code)
        for evidence in frontier.get("forks", [])[:100]:
            fork = await self.offload(
                partial(self.replicator.receive_fork, str(evidence).encode(), code)
            )
            if fork is not None:
                self.forks_found.labels(fork.origin).inc()
                log.error("fork evidence against %s received from %s", fork.origin, code)
        origins = frontier.get("origins", {})
        frozen = self.store.frozen_origins()
        for origin, info in sorted(origins.items()):
            if self.store.public_key(origin, 0) is None:
                continue  # not a member known here
            self.reported[code][origin] = int(info["size"])
            note = str(info.get("checkpoint", "")).encode()
            size = int(info.get("checkpoint_size", 0))
            if origin == self.me:
                # (what the peer holds of this node's log was taken by _take_own_view above)
                lines = info.get("cosignatures", {})
                await self.offload(
                    partial(self.replicator.receive_cosignatures, self.me, size, lines)
                )
                continue
            if origin in frozen or not note or size == 0:
                continue
            if note != self.store.latest_checkpoint(origin) or self.replicator.size(origin) < size:
                await self._pull_log(code, origin, note, size)
            lines = info.get("cosignatures", {})
            await self.offload(partial(self.replicator.receive_cosignatures, origin, size, lines))
        sharing = [str(i) for i in frontier.get("sharing", [])]
        if sharing != self._sharing_seen.get(code):
            # What this peer shares with us changed (an agreement came into force or ended):
            # its deliveries are fetched again from the start; the stored ones are kept.
            await self.offload(partial(self.store.set_delivery_cursor, code, 0))
            self._sharing_seen[code] = sharing
        if code in origins:
            await self._pull_deliveries(code)

    async def _pull_log(self, code: str, origin: str, note: bytes, size: int) -> None:
        found = await self.offload(
            partial(self.replicator.check_checkpoint, origin, note, code, ahead=True)
        )
        if isinstance(found, Fork):
            self.forks_found.labels(origin).inc()
            log.error("fork: %s signed two histories (reported via %s)", origin, code)
            return
        held = self.replicator.size(origin)
        while held < size:
            page = await self._request(
                "GET", code, f"/v1/peer/log/{origin}", params={"start": held, "size": size}
            )
            start, entries = int(page["start"]), entries_of(page["entries"])
            note_of_page = str(page["checkpoint"]).encode()
            proof = hashes_of(page["proof"], "proof")
            received = await self.offload(
                partial(
                    self.replicator.receive_entries,
                    origin,
                    start,
                    entries,
                    note_of_page,
                    proof,
                    code,
                )
            )
            self._count(origin, received.stored, received.fork)
            if received.fork is not None or received.stored == 0:
                return
            held = received.size

    async def _pull_deliveries(self, code: str) -> None:
        held = self.replicator.size(code)
        cursor = self.store.delivery_cursor(code)
        while cursor < held:
            page = await self._request("GET", code, "/v1/peer/deliveries", params={"start": cursor})
            sealed = _sealed(page["items"])
            await self.offload(partial(self.replicator.receive_deliveries, code, sealed))
            following = min(int(page["next"]), held)
            if following <= cursor:
                break
            cursor = following
            await self.offload(partial(self.store.set_delivery_cursor, code, following))

    def _count(self, origin: str, stored: int, fork: Fork | None) -> None:
        if stored:
            self.replicated.labels(origin).inc(stored)
        if fork is not None:
            self.forks_found.labels(fork.origin).inc()
            log.error("fork: %s signed two histories", fork.origin)
