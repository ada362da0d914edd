"""What this node answers its peers, as values: its frontier, pages of its logs, the
deliveries sealed to a partner, direct queries of its records, identifier lookups
(``network.lookup``), pushes received; and who is asking (the member a client certificate
names). ``network.endpoints`` routes requests here.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from starlette.exceptions import HTTPException

from network.evidence import build_bundle
from network.files import MembershipFile
from network.held_tail import held_page
from network.lookup import answer_lookup
from network.member_updates import MemberUpdates
from network.peers import PeerMetrics, Peers
from network.problems import REFUSALS, PeerDenied, refusal_detail, refusal_reason
from network.ratelimit import PeerLimits
from network.replicator import Replicator
from network.sharing import Sharing
from network.wire import (
    PAGE,
    PAGE_BYTES,
    checked_seq,
    delivery_item,
    encoded_size,
    entries_of,
    hashes_of,
    opened,
    page_of,
    sealed_of,
    wire_entry,
)
from node.core.canonical import parse_json
from node.core.checkpoint import Checkpoint, SignedNote
from node.core.clock import Clock
from node.core.crypto import SigningKey
from node.core.errors import Conflict, InvalidInput, NotFound
from node.core.identifiers import lookup_key
from node.core.log_budget import LogBudget
from node.host.access_log import AccessLog
from node.host.settings import Settings
from node.ledger.queries import checked_ids
from node.ledger.tree import StoredTree
from node.store.open import NodeStore

__all__ = ["Offload", "PeerEndpoints", "inline", "log_page"]

log = logging.getLogger("mra.network")
_T = TypeVar("_T")
HELD_RATE = 5.0  # pages of a held log a member may ask for, a second
HELD_BURST = 50


class Offload(Protocol):
    """Where what peers send is written: the node's writer thread (``node.app.api``), so that
    a write waiting for a large append does not hold up the event loop; inline by default (the
    simulation keeps its virtual time)."""

    def __call__(self, work: Callable[[], _T], /) -> Awaitable[_T]: ...


async def inline(work: Callable[[], _T]) -> _T:
    return work()


def log_page(
    store: NodeStore, origin: str, start: int, size: int, budget: int = PAGE_BYTES
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
        used += encoded_size(entry.body, entry.signature, *opened(entry, rotation))
        if wired and used > budget:
            break
        wired.append(wire_entry(entry, rotation))
    proof = StoredTree(store, origin).consistency_proof(start, size) if start else []
    return page_of(origin, start, wired, note, proof)


class PeerEndpoints:
    """What node ``me`` answers the members of ``peers``."""

    def __init__(
        self,
        *,
        store: NodeStore,
        me: str,
        key: SigningKey,
        peers: Peers,
        membership_file: MembershipFile,
        member_updates: MemberUpdates,
        replicator: Replicator,
        access: AccessLog,
        metrics: PeerMetrics,
        clock: Clock,
        monotonic: Callable[[], float],
        offload: Offload = inline,
        lookups: PeerLimits | None = None,
    ) -> None:
        self.store = store
        self.me = me
        self.key = key  # replaced when this node rotates its key
        self.peers = peers
        self.membership_file = membership_file
        self.member_updates = member_updates
        self.replicator = replicator
        self.access = access
        self.metrics = metrics
        self.clock = clock
        self.offload = offload
        self._held: tuple[tuple[int, int], tuple[dict[str, Any], list[str]]] | None = None
        self._counted: weakref.WeakSet[BaseException] = weakref.WeakSet()
        self._anonymous_lines = LogBudget(monotonic=monotonic)
        if lookups is None:  # the defaults of Settings
            lookups = PeerLimits(Settings().lookup_rate, Settings().lookup_burst, monotonic)
        self.lookups = lookups
        # What a restored member asks of its lost tail (``network.held_tail``): a page reads
        # up to HELD_PAGE views, so a member is held to a few pages a second.
        self.held_asks = PeerLimits(HELD_RATE, HELD_BURST, monotonic)
        # Takes up a membership.json installed since (``Gossip.reload_membership``), before a
        # request's certificate is checked: a removal is enforced from its install on.
        self.refresh: Callable[[], None] = lambda: None

    # -- who asks --------------------------------------------------------------------------

    def peer_of(self, chain: list[Any]) -> str:
        """The member that a client certificate ``chain`` (PEM, leaf first; the ASGI TLS
        extension's ``client_cert_chain``) names. Raises PeerDenied."""
        if not chain:
            raise PeerDenied(
                401, "a client certificate pinned by the membership is required", "no-certificate"
            )
        try:
            der = ssl.PEM_cert_to_DER_cert(str(chain[0]))
        except ValueError:
            raise PeerDenied(403, "the client certificate is not PEM", "not-a-member") from None
        # The handshake checked the certificate (its signature, its validity); the pins decide
        # which member it is, and that it is the one the membership in force names for it. (The
        # handshake may still trust a removed member's certificate until a restart: a context
        # only gains trust. Its pin is gone from the version that removes it.)
        self.refresh()
        code = self.peers.member_with(hashlib.sha256(der).hexdigest())
        if code is None:
            raise PeerDenied(403, "no member is pinned with this certificate", "not-a-member")
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
        reason = refusal_reason(exc)
        self.metrics.refused.labels(peer, reason).inc()
        # Anyone who can open a connection can send refusals from "unknown": the metric counts
        # every one, the log takes a bounded number of lines.
        more = self._anonymous_lines.suffix(reason) if peer == "unknown" else ""
        if more is not None:
            log.warning(
                "refused %s from %s (%s): %s%s", request, peer, reason, refusal_detail(exc), more
            )

    def heard(self, peer: str) -> None:
        self.peers.status[peer].last_heard = self.clock()

    # -- what it answers -------------------------------------------------------------------

    def sharing(self) -> Sharing:
        """What this node shares now, under the agreements in force among the members in
        force (one naming a removed member has ended)."""
        return Sharing(self.store, self.me, self.key, self.clock(), self.peers.member_codes())

    def frontier(self, requester: str) -> dict[str, Any]:
        """Per origin: size, latest checkpoint and its cosignatures; open fork evidence; and
        the agreements in force here under which this node shares with ``requester``."""
        mark = self.store.change_mark()
        if self._held is None or self._held[0] != mark:
            self._held = (mark, self._read_held())
        origins, forks = self._held[1]
        sharing = sorted(self.sharing().ids_with(requester))
        return {
            "member": self.me,
            "membership": self.peers.membership.version,
            "member_updates": self.peers.revisions(),
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
        member = self.peers.membership.member(partner)
        assert member is not None
        head = self.store.head(self.me)
        size = head.size if head else 0
        stop = min(size, start + PAGE) if end is None else min(size, end)
        sharing = self.sharing()
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
                self.access.delivered(
                    f"peer:{partner}",
                    "peer deliveries",
                    str(parse_json(delivery.view).get("aeo_id", "")),
                    origin=self.me,
                    seq=delivery.seq,
                    view=delivery.view,
                    agreements=",".join(delivery.agreements),
                )
        return {
            "start": start,
            "next": max(start, stop),
            "items": [delivery_item(d.seq, blob) for d, blob in sealed],
        }

    def query(self, partner: str, aeo_ids: list[object], *, evidence: bool) -> dict[str, Any]:
        """This node's own records asked for by ``partner``, directly: each as the view the
        agreements in force grant it now, signed for it; anything else is answered unknown."""
        wanted = checked_ids(aeo_ids)
        if wanted:
            self.access.record(f"peer:{partner}", "query", "POST /v1/peer/query", *wanted)
        sharing = self.sharing()
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
            found_one = {
                "origin": self.me,
                "seq": entry.seq,
                "agreements": list(delivery.agreements),
                "view": parse_json(delivery.view),
            }
            if evidence:
                signed = (partner, delivery.view, delivery.signature)
                try:
                    found_one["evidence"] = build_bundle(
                        self.store, self.me, entry.seq, signed, self.peers.membership
                    )
                except Conflict as exc:  # the quorum has not cosigned a covering checkpoint yet
                    found_one["evidence_pending"] = exc.reason
            found[aeo_id] = found_one
        return {"found": found, "unknown": unknown}

    def lookup(self, partner: str, scheme: object, value: object) -> dict[str, Any]:
        """Which of this node's AEOs holding the identifier (``scheme``, ``value``) the
        contracts let ``partner`` see at status level, and their views (``network.lookup``).
        Noted in the access log as a query by ``partner``. Raises HTTPException 429 (with
        Retry-After) past the peer's rate, InvalidInput naming ``scheme`` or ``value``."""
        wait = self.lookups.take(partner)
        if wait is not None:
            raise HTTPException(
                429,
                f"at most {self.lookups.rate:g} identifier lookups a second"
                f" (bursts of {self.lookups.burst}); ask again in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        scheme, value = lookup_key(scheme, value)
        sharing = self.sharing()
        found = answer_lookup(self.store, sharing, self.me, partner, scheme, value)
        # The AEOs named, never the identifier asked for (node.host.access_log).
        self.access.record(
            f"peer:{partner}",
            "query",
            f"POST /v1/peer/lookup?scheme={scheme}",
            *(item["aeo_id"] for item in found["found"]),
            agreements=",".join(sorted({a for item in found["found"] for a in item["agreements"]})),
        )
        return found

    def held(self, peer: str, origin: str, start: int) -> dict[str, Any]:
        """What this node holds of ``peer``'s own log from ``start`` (``network.held_tail``).
        Raises HTTPException 429 (with Retry-After) past the peer's rate, PeerDenied (403) for
        another member's log."""
        wait = self.held_asks.take(peer)
        if wait is not None:
            raise HTTPException(
                429,
                f"at most {HELD_RATE:g} pages of a held log a second (bursts of {HELD_BURST});"
                f" ask again in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        return held_page(self.store, peer, origin, start)

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
        sealed = sealed_of(body.get("deliveries", []))
        note = str(body.get("checkpoint", "")).encode()
        received = self.replicator.receive_entries(peer, start, entries, note, proof, peer)
        self.metrics.received(peer, received.stored, received.fork)
        if received.fork is None:
            self.replicator.receive_deliveries(peer, sealed)
        self.heard(peer)
        return {"size": received.size, "cosignature": received.cosignature}
