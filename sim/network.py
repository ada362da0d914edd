"""The simulated network: real nodes (``sim.nodes``) whose requests travel through
``Simulation.deliver``, which loses, duplicates, delays and reorders them, cuts the network in
two and heals it; each request is answered by the target's peer endpoints through the same
route table as the node's API (``network.endpoints.answer``), with the same statuses and
problem documents (``network.problems``).

A run publishes records at random honest origins, changes the membership while messages are
lost (``sim.membership``: members move and renew their certificates; in some seeds a member is
added, or removed), cuts the network for a while, in some seeds lets one origin show two
histories to two halves of the network, then heals everything and gossips until the honest
nodes agree (on the membership in force too); then come the checks of ``sim.invariants``.

Each request names its caller as the TLS handshake does: the target identifies it by the
certificate it presents (``PeerEndpoints.peer_of``, against the pins of the membership in force
there), and the caller accepts only a target presenting a certificate it pins.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import random
import shutil
import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.agreement import Agreement
from network.endpoints import answer
from network.problems import problem_of
from node.core.canonical import parse_json
from node.core.entries import entry_hash
from node.core.errors import PeerMisbehaved, PeerUnavailable
from node.core.records import AeoRecord, Status
from node.core.sample import sample_dicts
from node.core.status import StatusCode
from node.host.guard import accept_restore
from node.host.settings import Settings
from node.store.sqlite import access_path
from sim import invariants
from sim.faults import FAULTS, Faults, Outcome
from sim.membership import Changes
from sim.nodes import SimNode, open_sim_node
from sim.scheduler import Scheduler, run_now, sleep

__all__ = ["CODES", "FANOUT", "INTERVAL", "RETRY", "START", "Simulation"]

CODES = (
    "BR", "UY", "AR", "PY", "CL", "PE", "CO", "EC", "BO", "MX", "US", "CA", "FR", "DE", "ES",
    "PT", "IT", "NL", "JP", "KR", "IN", "ZA", "AU", "NZ", "SG", "CN", "GB", "CH", "NO", "SE",
)  # fmt: skip
START = datetime(2026, 6, 1, tzinfo=UTC)
INTERVAL = 2.0  # seconds between a node's gossip rounds
RETRY = 1.0  # seconds before a client tries a refused publication again
FANOUT = 3  # peers a node syncs with per round


def _json(value: Any) -> str:
    """JSON text as the node's API renders it (Starlette's JSONResponse)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class Simulation:
    """One seeded run over the network whose member homes are in ``directory``."""

    def __init__(
        self,
        seed: int,
        directory: Path,
        docs: Iterable[Agreement],
        *,
        size: int = 20,
        faults: Faults = FAULTS,
    ):
        self.seed = seed
        self.directory = directory
        self.rng = random.Random(seed)
        self.faults = faults
        self.clean = False  # True once the settling phase starts: no more faults
        self.scheduler = Scheduler()
        self.trace = hashlib.sha256()
        self.messages = self.lost = self.duplicated = 0
        self.violations: list[str] = []
        self.acknowledged: list[tuple[str, int, bytes]] = []
        self.waiting = 0  # publications refused by a start guard, to be tried again
        self.cut: tuple[frozenset[str], frozenset[str]] | None = None
        self.agreements = tuple(docs)
        self.nodes: dict[str, SimNode] = {}
        for code in CODES[:size]:
            skew = self.rng.randint(-faults.skew_ms, faults.skew_ms)
            self.nodes[code] = self._open(directory / code, code, skew)
        self.codes = sorted(self.nodes)
        # An equivocating origin, in about one seed in three: a second history, shown to
        # some of its peers while the rest see the first.
        self.equivocator: str | None = None
        self.twin: SimNode | None = None
        self.twin_audience: frozenset[str] = frozenset()
        if self.rng.random() < 1 / 3:
            self.equivocator = self.rng.choice(self.codes)
        self.changes = Changes(self)

    def _open(
        self, path: Path, code: str, skew_ms: int, rng: random.Random | None = None
    ) -> SimNode:
        return open_sim_node(
            path,
            code,
            skew_ms=skew_ms,
            settings=Settings(gossip_interval=INTERVAL),
            deliver=self.deliver,
            clock=self.clock(skew_ms),
            monotonic=lambda: self.scheduler.now,
            rng=random.Random((rng or self.rng).random()),
        )

    def clock(self, skew_ms: int) -> Callable[[], int]:
        """Wall time in ms of a node whose clock is off by ``skew_ms``."""
        base = int(START.timestamp() * 1000) + skew_ms
        return lambda: base + int(self.scheduler.now * 1000)

    def honest(self) -> list[SimNode]:
        """The nodes that follow the protocol: all but the equivocator and those removed."""
        out = {self.equivocator, *self.changes.gone}
        return [n for c, n in sorted(self.nodes.items()) if c not in out]

    def spare_code(self) -> str:
        """The first code of ``CODES`` that no node of the run has."""
        return next(c for c in CODES if c not in self.nodes)

    def admit(self, path: Path, code: str) -> None:
        """Start the node of a member just added, in ``path``; it gossips from now on."""
        rng = self.changes.rng
        node = self._open(path, code, rng.randint(-self.faults.skew_ms, self.faults.skew_ms), rng)
        self.nodes[code] = node
        self.codes = sorted(self.nodes)
        self.scheduler.at(self.scheduler.now + rng.uniform(0, INTERVAL), lambda: self._round(node))

    def note(self, *parts: object) -> None:
        self.trace.update(repr((round(self.scheduler.now, 6), *parts)).encode())

    # -- messages ----------------------------------------------------------------------------

    def reachable(self, a: str, b: str) -> bool:
        if self.cut is None:
            return True
        left, _ = self.cut
        return (a in left) == (b in left)

    def _faulty(self, chance: float) -> bool:
        return not self.clean and self.rng.random() < chance

    async def deliver(
        self, caller: str, target: str, method: str, path: str, params: dict[str, Any], body: Any
    ) -> Any:
        """``caller``'s request to ``target``, through the network (a ``Deliver``)."""
        self.messages += 1
        wire = json.dumps(body).encode() if body is not None else None
        sender = self.nodes[caller]
        if sender in self.honest():
            self.violations.extend(invariants.reaches_non_member(sender, target, "sent to"))
        await sleep(self.rng.uniform(0.001, self.faults.max_delay))
        if not self.reachable(caller, target) or self._faulty(self.faults.loss):
            self.lost += 1
            self.note("lost", caller, target, method, path)
            raise PeerUnavailable(f"{target}: no answer (simulated loss)")
        pins = sender.service.peers.pins.get(target, frozenset())
        if self._server(caller, target).presented()[1] not in pins:
            self.note("handshake refused", caller, target)
            raise PeerUnavailable(f"{target} presented a certificate {caller} does not pin")
        if self._faulty(self.faults.duplicate):
            self.duplicated += 1
            again = self.rng.uniform(0.001, self.faults.max_delay)
            self.scheduler.at(
                self.scheduler.now + again,
                lambda: self._serve_ignoring(caller, target, method, path, params, wire),
            )
        status, text = self.serve(caller, target, method, path, params, wire)
        self.note("served", caller, target, method, path, status)
        await sleep(self.rng.uniform(0.001, self.faults.max_delay))
        if not self.reachable(caller, target) or self._faulty(self.faults.loss):
            self.lost += 1
            self.note("answer lost", caller, target, path)
            raise PeerUnavailable(f"{target}: the answer was lost (simulated)")
        if status >= 500:
            raise PeerUnavailable(f"{target} answered {status}")
        if status >= 400:
            raise PeerMisbehaved(f"{target} refused {path}: {text[:300]!r}")
        return parse_json(text.encode())

    def _serve_ignoring(self, *args: Any) -> None:
        status, _ = self.serve(*args)
        self.note("served again", args[0], args[1], args[3], status)

    def serve(
        self,
        caller: str,
        target: str,
        method: str,
        path: str,
        params: dict[str, Any],
        wire: bytes | None,
    ) -> tuple[int, str]:
        """What ``target`` answers ``caller``, as an HTTP status and a JSON text."""
        node = self._server(caller, target)
        endpoints = node.service.endpoints
        try:
            # The handshake: the caller is the member whose pin its certificate matches.
            peer = endpoints.peer_of([self.nodes[caller].presented()[0]])
            found = run_now(answer(endpoints, peer, method, path, params, wire))
        except Exception as exc:
            problem = problem_of(exc)
            if problem is None:  # a 500 in a real node: a bug the run reports
                self.scheduler.crashes.append(f"{target} serving {method} {path}: {exc!r}")
                return 500, "Internal Server Error"
            return problem.status, _json(problem.body)
        if node in self.honest():
            self.violations.extend(invariants.reaches_non_member(node, caller, "answered"))
        return 200, _json(found)

    def _server(self, caller: str, target: str) -> SimNode:
        """The node that answers ``caller``'s requests to ``target`` (the equivocator's twin
        answers its audience)."""
        if self.twin is not None and target == self.equivocator and caller in self.twin_audience:
            return self.twin
        return self.nodes[target]

    # -- the run -----------------------------------------------------------------------------

    def run(self, duration: float = 12.0, settle_limit: float = 240.0) -> Outcome:
        """Faults for ``duration`` virtual seconds, then clean gossip until the honest nodes
        agree (or ``settle_limit`` passes, which is a violation), then the checks."""
        sched = self.scheduler
        self.start_rounds()
        for _ in range(self.rng.randint(4, 8)):
            sched.at(self.rng.uniform(0, duration * 0.8), self._publish_somewhere)
        if self.faults.partition:
            start = self.rng.uniform(duration * 0.1, duration * 0.4)
            sched.at(start, self._partition)
            sched.at(start + self.rng.uniform(duration * 0.2, duration * 0.5), self._heal)
        if self.equivocator is not None:
            sched.at(self.rng.uniform(duration * 0.2, duration * 0.6), self._equivocate)
        self.changes.schedule(duration)
        sched.run_until(duration)
        self.clean = True
        self._heal()
        settled = duration
        while settled < duration + settle_limit:
            settled += INTERVAL
            sched.run_until(settled)
            if not self.disagreements():
                break
        honest = self.honest()
        self.violations.extend(self.disagreements())
        self.violations.extend(sched.crashes)
        self.violations.extend(
            invariants.payloads_misplaced(honest, self.nodes, self.agreements, self.twin)
        )
        self.violations.extend(
            invariants.acknowledged_lost(honest, self.acknowledged, self.changes.gone, self.nodes)
        )
        self.violations.extend(invariants.forks_misplaced(honest, self.equivocator))
        return Outcome(
            seed=self.seed,
            violations=self.violations,
            trace_digest=self.trace.hexdigest(),
            published=len(self.acknowledged),
            messages=self.messages,
            lost=self.lost,
            duplicated=self.duplicated,
            equivocator=self.equivocator,
            settle_seconds=round(settled - duration, 1),
            moved=self.changes.moved,
            renewed=self.changes.renewed,
            added=self.changes.added,
            removed=self.changes.removed,
        )

    def disagreements(self) -> list[str]:
        """Where the honest nodes do not agree yet (``invariants.disagreements``)."""
        equivocated = self.equivocator if self.twin is not None else None
        waiting = [f"{self.waiting} publications still refused"] if self.waiting else []
        waiting += [f"the {c} is still collecting signatures" for c in sorted(self.changes.pending)]
        return waiting + invariants.disagreements(self.honest(), self.agreements, equivocated)

    def close(self) -> None:
        for node in [*self.nodes.values(), *([self.twin] if self.twin else [])]:
            asyncio.run(node.node.stop())
            node.node.close()

    def start_rounds(self) -> None:
        for node in self.nodes.values():
            self.scheduler.at(self.rng.uniform(0, INTERVAL), functools.partial(self._round, node))

    def _round(self, node: SimNode) -> None:
        """One gossip round of ``node``: anti-entropy with a few peers, as the service's pull
        loop does with all of them."""
        gossip = node.service.gossip
        gossip.reload_membership()
        # (the service does this after a round; here, with the acknowledgements of the last)
        if gossip.member_updates.switch_when_held(node.service.clock()):
            self.note("switched", node.code)
        peers = sorted(node.service.members)
        if not self.clean:  # while faults last, a few peers a round; then all, as the service does
            peers = self.rng.sample(peers, min(FANOUT, len(peers)))
        for code in peers:
            self.scheduler.spawn(gossip.guarded(code, gossip.sync_with), f"{node.code}<-{code}")
        delay = INTERVAL * self.rng.uniform(0.75, 1.25)
        self.scheduler.at(self.scheduler.now + delay, lambda: self._round(node))

    def push(self, node: SimNode) -> None:
        """``node`` appended: push to its peers (a twin only to its audience)."""
        gossip = node.service.gossip
        for code in sorted(node.service.members):
            if node is self.twin and code not in self.twin_audience:
                continue
            if (
                node.code == self.equivocator
                and node is not self.twin
                and code in self.twin_audience
            ):
                continue
            self.scheduler.spawn(gossip.guarded(code, gossip.push_to), f"{node.code}->{code}")

    def _publish_somewhere(self) -> None:
        self._publish(self.rng.choice(self.honest()))

    def _publish(self, node: SimNode, again: bool = False) -> None:
        """A client publishes a record at ``node``. Until a peer has answered the node since it
        started, its start guard refuses appends (node.host.guard): the client tries again a
        second later."""
        self.waiting -= again
        if node.code in self.changes.gone:  # removed: the client goes elsewhere
            return
        if node.service.own_log_behind() is not None:
            self.waiting += 1
            self.note("publish refused", node.code)
            retry = functools.partial(self._publish, node, True)
            self.scheduler.at(self.scheduler.now + RETRY, retry)
            return
        record = self._next_version(node)
        result = node.ledger.publish([record])
        for entry in result.entries:
            self.acknowledged.append((node.code, entry.header.seq, bytes(entry_hash(entry.body))))
            self.note("published", node.code, entry.header.seq)
        self.push(node)

    def _next_version(self, node: SimNode) -> AeoRecord:
        """A new record, or a status change of one published before."""
        if node.records and self.rng.random() < 0.4:
            aeo_id = self.rng.choice(node.records)
            current = node.store.current_record(aeo_id)
            assert current is not None
            record = current[1]
            today = datetime.fromtimestamp(self.clock(node.skew_ms)() / 1000, UTC).date()
            if record.status.code is StatusCode.VALID:
                status = Status(code=StatusCode.SUSPENDED, reason="audit", effective=today)
            else:
                status = Status(code=StatusCode.VALID, effective=today)
            return record.with_status(status)
        number = len(node.records) + 1
        [data] = list(sample_dicts(node.code, 1, seed=self.seed, start=number))
        others = [c for c in self.codes if c != node.code]
        data["consent"] = sorted(self.rng.sample(others, self.rng.randint(0, 3)))
        data["address"] = {**data["address"], "country": node.code}  # type: ignore[dict-item]
        record = AeoRecord.from_dict(data)
        node.records.append(record.aeo_id)
        return record

    def _partition(self) -> None:
        codes = list(self.codes)
        self.rng.shuffle(codes)
        cut = self.rng.randint(len(codes) // 4, len(codes) // 2)
        self.cut = (frozenset(codes[:cut]), frozenset(codes[cut:]))
        self.note("partition", sorted(self.cut[0]))

    def _heal(self) -> None:
        self.cut = None
        self.note("heal")

    def _equivocate(self) -> None:
        """The equivocator's operator copies its home (the database through SQLite's backup),
        runs the copy as a second node, accepts on both that they append without a peer's
        confirmation (``mra ledger accept-restore``) and appends a different record to each;
        from now on one part of its peers is served (and pushed) the copy."""
        assert self.equivocator is not None
        node = self.nodes[self.equivocator]
        twin_home = node.home.path.with_name(f"{node.code}-twin")
        shutil.copytree(node.home.path, twin_home, ignore=shutil.ignore_patterns("ledger.*"))
        for path in (node.home.db_path, access_path(node.home.db_path)):  # the access log's too
            source = sqlite3.connect(str(path))
            target = sqlite3.connect(str(twin_home / path.name))
            try:
                source.backup(target)
            finally:
                source.close()
                target.close()
        self.twin = self._open(twin_home, node.code, node.skew_ms)
        peers = [c for c in self.codes if c != node.code]
        self.twin_audience = frozenset(self.rng.sample(peers, len(peers) // 2))
        now = datetime.fromtimestamp(self.clock(node.skew_ms)() / 1000, UTC)
        for number, variant in enumerate((node, self.twin), start=900):
            accept_restore(variant.home, variant.store, f"operator of {node.code}", now)
            [data] = list(sample_dicts(node.code, 1, seed=self.seed, start=number))
            data["address"] = {**data["address"], "country": node.code}  # type: ignore[dict-item]
            variant.ledger.publish([AeoRecord.from_dict(data)])
            self.push(variant)
        self.note("equivocated", sorted(self.twin_audience))
