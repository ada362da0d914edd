"""What this node asks its peers (gossip), over the transport it is given:

- push: when this node appends, it sends each peer the new entries (in pages, with a
  consistency proof to its latest checkpoint) and the deliveries that peer is entitled to;
- pull: every ``interval`` seconds, jittered, it asks each peer for its frontier (per origin:
  size, latest checkpoint, cosignatures; open fork evidence), fetches what it lacks of every
  origin (relays included) and the deliveries sealed to it by that peer, and keeps cosignatures;
- own log: on a start, it asks every peer for its checkpoint of this node's log
  (``network.own_log``) before appending;
- an unreachable peer is retried with exponential backoff.

What peers send is verified by ``network.replicator`` before it is stored.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from network.answers import Offload, PeerEndpoints, inline
from network.files import MembershipFile
from network.forks import Fork
from network.governance import SignedUpdate
from network.member_updates import UPDATES_FILE, MemberUpdates
from network.membership import SignedMembership
from network.own_log import OwnLog
from network.peers import PeerMetrics, Peers
from network.replicator import Replicator
from network.transport import Transport
from network.wire import PAGE, PAGE_BYTES, entries_of, hashes_of, sealed_of
from node.core.checkpoint import Checkpoint, SignedNote
from node.core.clock import Clock
from node.core.errors import MraError, PeerMisbehaved, PeerUnavailable
from node.store.open import NodeStore

__all__ = ["ASK_SECONDS", "MAX_BACKOFF", "PROBE_SECONDS", "Gossip"]

log = logging.getLogger("mra.network")

PROBE_SECONDS = 5.0  # how long a starting node waits for peers' view of its own log
ASK_SECONDS = 1.0  # until one answers, each peer is asked again this often
MAX_BACKOFF = 30.0

Step = Callable[[str], Awaitable[None]]


class Gossip:
    """The requests node ``me`` makes of the members of ``peers``; ``endpoints`` builds what
    it pushes (the pages a peer would otherwise pull)."""

    def __init__(
        self,
        *,
        store: NodeStore,
        me: str,
        peers: Peers,
        endpoints: PeerEndpoints,
        replicator: Replicator,
        membership_file: MembershipFile,
        member_updates: MemberUpdates,
        own_log: OwnLog,
        transport: Transport,
        metrics: PeerMetrics,
        interval: float,
        clock: Clock,
        monotonic: Callable[[], float],
        rng: random.Random,
        offload: Offload = inline,
    ) -> None:
        self.store = store
        self.me = me
        self.peers = peers
        self.endpoints = endpoints
        self.replicator = replicator
        self.membership_file = membership_file
        self.member_updates = member_updates
        self.own_log = own_log
        self.transport = transport
        self.metrics = metrics
        self.interval = interval
        self.clock = clock
        self.monotonic = monotonic
        self.rng = rng
        self.offload = offload
        self._wake = asyncio.Event()
        self._sharing_seen: dict[str, list[str]] = {}

    # -- loops -----------------------------------------------------------------------------

    def appended(self) -> None:
        """This node appended to its log: push now."""
        self._wake.set()

    async def push_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.each_peer(self.push_to)

    async def pull_loop(self) -> None:
        while True:
            self.reload_membership()
            await self.each_peer(self.sync_with)
            self.member_updates.switch_when_held(self.clock())
            await asyncio.sleep(self.interval * self.rng.uniform(0.75, 1.25))

    async def each_peer(self, step: Step) -> None:
        await asyncio.gather(*(self.guarded(code, step) for code in self.peers.members))

    async def guarded(self, code: str, step: Step) -> None:
        """``step`` with peer ``code`` unless it is backing off; a failure is noted in its
        status and backs it off (exponentially, up to MAX_BACKOFF), success clears it."""
        status = self.peers.status[code]
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
            self.metrics.refused.labels(code, type(exc).__name__).inc()
            status.retry_at = self.monotonic() + min(MAX_BACKOFF, 0.5 * 2**status.failures)
            log.warning("gossip with %s: %s", code, exc)
        else:
            status.failures = 0
            status.last_error = ""
            status.last_heard = self.clock()
            self.metrics.heard.labels(code).set(status.last_heard / 1000)

    async def request(self, method: str, code: str, path: str, **kwargs: Any) -> Any:
        return await self.transport.request(method, self.peers.members[code], path, **kwargs)

    # -- membership ------------------------------------------------------------------------

    def reload_membership(self) -> None:
        """Take up a membership.json installed since it was last read (``mra network
        install``); a file that does not verify is logged and the current version kept."""
        try:
            membership = self.membership_file.changed(self.store)
        except MraError as exc:
            log.error(
                "membership.json changed but is not valid; keeping v%s: %s",
                self.peers.membership.version,
                exc,
            )
            return
        try:
            self.member_updates.reload()
        except (MraError, ValueError) as exc:
            log.error("%s changed but is not valid: %s", UPDATES_FILE, exc)
        if membership is not None and membership.version > self.peers.membership.version:
            self.member_updates.rebase(membership)
            log.warning(
                "membership v%s taken up: %s",
                membership.version,
                ", ".join(sorted(self.peers.member_codes())),
            )

    async def _adopt_membership(self, code: str) -> None:
        """A peer holds a newer membership version: fetch it, check that every member signed
        it, and install it here."""
        answer = await self.request("GET", code, "/v1/peer/membership")
        membership = self.membership_file.install(self.store, SignedMembership.from_dict(answer))
        self.member_updates.rebase(membership)
        log.warning("membership v%s adopted from %s", membership.version, code)

    async def _follow_updates(self, code: str, revisions: object) -> None:
        """The frontier of peer ``code`` named ``revisions`` of members' own entries: note
        which of this node's it holds, fetch those newer than held here, and push this node's
        own update to a peer that does not hold it yet (issue 24: peers follow in one round)."""
        if not isinstance(revisions, dict):
            return
        held = self.peers.revisions()
        self.peers.acknowledged[code] = int(revisions.get(self.me, 0))
        if any(int(r) > held.get(str(c), 0) for c, r in revisions.items()):
            answer = await self.request("GET", code, "/v1/peer/membership")
            updates = answer.get("updates", {}) if isinstance(answer, dict) else {}
            if isinstance(updates, dict):
                self.member_updates.take(
                    [SignedUpdate.from_dict(item) for item in updates.values()], code
                )
        mine = self.member_updates.own()
        if mine is not None and self.peers.acknowledged[code] < mine.update.revision:
            try:
                answer = await self.request(
                    "POST", code, "/v1/peer/member-update", json=mine.to_dict()
                )
            except PeerMisbehaved as exc:  # refused there: the logs are still pulled below
                log.warning("%s refused this node's update: %s", code, exc)
                return
            self.peers.acknowledged[code] = int(answer.get("revision", 0))

    # -- this node's own log ---------------------------------------------------------------

    async def ask_own_view(self, code: str) -> None:
        frontier = await self.request("GET", code, "/v1/peer/frontier")
        origins = frontier.get("origins") if isinstance(frontier, dict) else None
        self.own_log.take_view(code, origins)

    async def probe_own_log(self) -> None:
        """Before the node serves, ask each peer (for a few seconds at most) for its checkpoint
        of this node's log: a node that lost acknowledged entries must not append over them."""
        try:
            await asyncio.wait_for(self.each_peer(self.ask_own_view), PROBE_SECONDS)
        except TimeoutError:
            log.warning("peers did not all answer within %s s of starting", PROBE_SECONDS)

    async def ask_until_vouched(self) -> None:
        """After a start that no peer answered (nodes of a network started together, or
        peers away), ask every peer again each ASK_SECONDS, whatever their backoff, until one
        answers or the operator accepts the risk: appends wait for it."""
        guard = self.own_log.guard
        while not guard.confirmed():
            asks = [asyncio.wait_for(self.ask_own_view(c), ASK_SECONDS) for c in self.peers.members]
            started = asyncio.get_running_loop().time()
            await asyncio.gather(*asks, return_exceptions=True)
            if not guard.confirmed():
                spent = asyncio.get_running_loop().time() - started
                await asyncio.sleep(max(0.0, ASK_SECONDS - spent))
        self.own_log.vouched()
        log.warning("appends allowed: %s vouched for this node's log", guard.vouched)

    # -- push ------------------------------------------------------------------------------

    async def push_to(self, code: str) -> None:
        known = self.peers.reported[code].get(self.me)
        if known is None:
            return  # learnt from the peer's frontier in the next pull round
        head = self.store.head(self.me)
        note = self.store.latest_checkpoint(self.me)
        if head is None or note is None:
            return
        for _ in range(head.size // PAGE + 2):
            if known >= head.size:
                break
            page = self.endpoints.log_page(self.me, known, head.size)
            # The deliveries share the page's byte budget with its entries; the entries are cut
            # where the deliveries stop, so that each push is whole and under MAX_REQUEST. A
            # first delivery that alone is over the budget (a record published before the size
            # limit) is left to the peer's pull, which reads up to MAX_RESPONSE.
            room = PAGE_BYTES - sum(len(e["body"]) + len(e["signature"]) for e in page["entries"])
            delivered = self.endpoints.deliveries(
                code,
                known,
                known + len(page["entries"]),
                budget=max(room, 0),
                at_least_one=False,
            )
            page["entries"] = page["entries"][: max(1, int(delivered["next"]) - known)]
            answer = await self.request(
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
            known = self.peers.reported[code][self.me] = size
            if stalled:
                break
            if answer.get("cosignature"):
                text = SignedNote.parse(page["checkpoint"].encode()).text
                size, line = Checkpoint.parse(text).size, str(answer["cosignature"])
                await self.offload(
                    partial(self.replicator.receive_cosignatures, self.me, size, {code: line})
                )

    # -- pull ------------------------------------------------------------------------------

    async def sync_with(self, code: str) -> None:
        frontier = await self.request("GET", code, "/v1/peer/frontier")
        if not isinstance(frontier, dict) or not isinstance(frontier.get("origins", {}), dict):
            raise PeerMisbehaved(f"{code} sent a frontier that is not an object of origins")
        self.own_log.take_view(code, frontier.get("origins", {}))
        if int(frontier.get("membership", 0)) > self.peers.membership.version:
            await self._adopt_membership(code)
        if "member_updates" in frontier:  # (a node that knows members' own updates)
            await self._follow_updates(code, frontier["member_updates"])
        for evidence in frontier.get("forks", [])[:100]:
            fork = await self.offload(
                partial(self.replicator.receive_fork, str(evidence).encode(), code)
            )
            if fork is not None:
                self.metrics.forks_found.labels(fork.origin).inc()
                log.error("fork evidence against %s received from %s", fork.origin, code)
        origins = frontier.get("origins", {})
        frozen = self.store.frozen_origins()
        for origin, info in sorted(origins.items()):
            if self.store.public_key(origin, 0) is None:
                continue  # not a member known here
            self.peers.reported[code][origin] = int(info["size"])
            note = str(info.get("checkpoint", "")).encode()
            size = int(info.get("checkpoint_size", 0))
            lines = info.get("cosignatures", {})
            if origin == self.me:
                # (what the peer holds of this node's log was taken by take_view above)
                await self.offload(
                    partial(self.replicator.receive_cosignatures, self.me, size, lines)
                )
                continue
            if origin in frozen or not note or size == 0:
                continue
            if note != self.store.latest_checkpoint(origin) or self.replicator.size(origin) < size:
                await self._pull_log(code, origin, note, size)
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
            self.metrics.forks_found.labels(origin).inc()
            log.error("fork: %s signed two histories (reported via %s)", origin, code)
            return
        held = self.replicator.size(origin)
        while held < size:
            page = await self.request(
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
            self.metrics.received(origin, received.stored, received.fork)
            if received.fork is not None or received.stored == 0:
                return
            held = received.size

    async def _pull_deliveries(self, code: str) -> None:
        held = self.replicator.size(code)
        cursor = self.store.delivery_cursor(code)
        while cursor < held:
            page = await self.request("GET", code, "/v1/peer/deliveries", params={"start": cursor})
            sealed = sealed_of(page["items"])
            await self.offload(partial(self.replicator.receive_deliveries, code, sealed))
            following = min(int(page["next"]), held)
            if following <= cursor:
                break
            cursor = following
            await self.offload(partial(self.store.set_delivery_cursor, code, following))
