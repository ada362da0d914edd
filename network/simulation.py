"""A whole network in one process, driven by one seed: the real gossip steps of
``network.service`` over an in-memory transport that loses, duplicates, delays and reorders
messages, cuts the network in two and skews every node's clock.

Each node is a real home (keys, certificates, signed membership) with a real SQLite file; the
simulation replaces only the sockets and the clocks. Time is virtual: a scheduler runs the
gossip coroutines in the order of their wake-up times, so a seed replays exactly (the trace of
what happened, message by message, is the same on every run; the bytes differ only where the
product draws fresh salts and sealing keys).

A run publishes records at random honest origins, cuts the network for a while, in some seeds
lets one origin show two histories to two halves of the network, then heals everything and
gossips until the honest nodes agree. It then checks the invariants of DESIGN-BRIEF §4:

- honest nodes converge: every honest origin's log is held whole, with the same head, by
  every honest node, and every partner has fetched the deliveries of its partners;
- no payload where it is not due: partners' record payloads are never held, and a view of a
  partner's record is held only under an agreement both are party to, with no field the
  agreement's contract does not share;
- no acknowledged entry lost: each append the origin acknowledged is held, as acknowledged,
  by its origin and by every honest node;
- an equivocating origin is found out: every honest node holds fork evidence against it and
  has frozen it, and no honest origin is ever accused.

``scripts/simulate --seeds N`` runs seeds from the command line; the test suite runs 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import heapq
import json
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Coroutine, Generator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from contracts.agreement import Agreement
from contracts.mra_full import ALWAYS as FULL_ALWAYS
from contracts.mra_status_only import FIELDS as STATUS_ONLY_FIELDS
from contracts.registry import SOURCE_HASHES
from network.bootstrap import MemberSpec, init_network
from network.membership import Member
from network.service import NetworkService, PeerDenied
from network.sharing import Sharing
from node.core.canonical import parse_json
from node.core.entries import RECORD_KINDS, EntryHeader, entry_hash
from node.core.errors import (
    IntegrityError,
    MraError,
    PeerMisbehaved,
    PeerUnavailable,
    StorageFailed,
)
from node.core.records import AeoRecord, Status
from node.core.sample import sample_dicts
from node.core.status import StatusCode
from node.host.home import NodeHome, load_signing_key
from node.ledger import agreements
from node.ledger.writer import Ledger
from node.store.sqlite import SqliteStore

__all__ = ["Faults", "Outcome", "Simulation", "run_seed"]

CODES = (
    "BR", "UY", "AR", "PY", "CL", "PE", "CO", "EC", "BO", "MX", "US", "CA", "FR", "DE", "ES",
    "PT", "IT", "NL", "JP", "KR", "IN", "ZA", "AU", "NZ", "SG", "CN", "GB", "CH", "NO", "SE",
)  # fmt: skip
START = datetime(2026, 6, 1, tzinfo=UTC)
INTERVAL = 2.0  # seconds between a node's gossip rounds
FANOUT = 3  # peers a node syncs with per round


@dataclass(frozen=True, slots=True)
class Faults:
    """What the network does to messages while the run lasts (the settling phase is clean)."""

    loss: float = 0.08  # a request, or its answer, never arrives
    duplicate: float = 0.05  # a request is delivered a second time, later
    max_delay: float = 0.4  # seconds each way, uniform: messages overtake each other
    skew_ms: int = 120_000  # each node's clock is off by up to this, either way
    partition: bool = True  # the network is cut in two for part of the run


@dataclass(slots=True)
class Outcome:
    seed: int
    violations: list[str]
    trace_digest: str
    published: int
    messages: int
    lost: int
    duplicated: int
    equivocator: str | None
    settle_seconds: float
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.violations


# -- virtual time --------------------------------------------------------------------------


class _Sleep:
    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __await__(self) -> Generator[_Sleep, None, None]:
        yield self


class Scheduler:
    """Runs callbacks and coroutines in virtual time; ties keep the order they were made in."""

    def __init__(self) -> None:
        self.now = 0.0
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._order = 0
        self.crashes: list[str] = []

    def at(self, when: float, action: Callable[[], None]) -> None:
        self._order += 1
        heapq.heappush(self._queue, (max(when, self.now), self._order, action))

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        self.at(self.now, lambda: self._step(coro, name))

    def _step(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        try:
            waited = coro.send(None)
        except StopIteration:
            return
        except Exception as exc:  # a gossip step that raises is a bug the run reports
            self.crashes.append(f"{name}: {type(exc).__name__}: {exc}")
            return
        assert isinstance(waited, _Sleep), f"{name} awaited {waited!r} outside the simulation"
        self.at(self.now + waited.seconds, lambda: self._step(coro, name))

    def run_until(self, until: float) -> None:
        while self._queue and self._queue[0][0] <= until:
            when, _, action = heapq.heappop(self._queue)
            self.now = when
            action()
        self.now = max(self.now, until)


# -- the network ---------------------------------------------------------------------------


def sleep(seconds: float) -> _Sleep:
    return _Sleep(seconds)


@dataclass
class SimNode:
    code: str
    home: NodeHome
    store: SqliteStore
    ledger: Ledger
    service: NetworkService
    skew_ms: int
    records: list[str] = field(default_factory=list)


class SimTransport:
    """A node's requests to its peers, through the simulated network."""

    def __init__(self, sim: Simulation, caller: str) -> None:
        self.sim = sim
        self.caller = caller

    async def request(
        self,
        method: str,
        peer: Member,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        return await self.sim.deliver(self.caller, peer.code, method, path, params or {}, json)

    async def aclose(self) -> None:
        return None


class Simulation:
    """One seeded run over the network whose member homes are in ``directory``."""

    def __init__(
        self,
        seed: int,
        directory: Path,
        docs: Iterable[Agreement],
        *,
        size: int = 20,
        faults: Faults = Faults(),
    ):
        self.seed = seed
        self.rng = random.Random(seed)
        self.faults = faults
        self.clean = False  # True once the settling phase starts: no more faults
        self.scheduler = Scheduler()
        self.trace = hashlib.sha256()
        self.messages = self.lost = self.duplicated = 0
        self.violations: list[str] = []
        self.acknowledged: list[tuple[str, int, bytes]] = []
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

    def _open(self, path: Path, code: str, skew_ms: int, db: Path | None = None) -> SimNode:
        home = NodeHome(path=path)
        store = SqliteStore.open(db or home.db_path)
        clock = self._clock(skew_ms)
        key = load_signing_key(home.key_path)
        ledger = Ledger(store=store, origin=code, key=key, clock=clock)
        service = NetworkService(
            home,
            store,
            CollectorRegistry(),
            interval=INTERVAL,
            clock=clock,
            monotonic=lambda: self.scheduler.now,
            rng=random.Random(self.rng.random()),
        )
        service.transport = SimTransport(self, code)
        return SimNode(code, home, store, ledger, service, skew_ms)

    def _clock(self, skew_ms: int) -> Callable[[], int]:
        base = int(START.timestamp() * 1000) + skew_ms
        return lambda: base + int(self.scheduler.now * 1000)

    def honest(self) -> list[SimNode]:
        return [n for c, n in sorted(self.nodes.items()) if c != self.equivocator]

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
        self.messages += 1
        wire = json.dumps(body) if body is not None else None
        await sleep(self.rng.uniform(0.001, self.faults.max_delay))
        if not self.reachable(caller, target) or self._faulty(self.faults.loss):
            self.lost += 1
            self.note("lost", caller, target, method, path)
            raise PeerUnavailable(f"{target}: no answer (simulated loss)")
        if self._faulty(self.faults.duplicate):
            self.duplicated += 1
            again = self.rng.uniform(0.001, self.faults.max_delay)
            self.scheduler.at(
                self.scheduler.now + again,
                lambda: self._serve_ignoring(caller, target, method, path, params, wire),
            )
        status, answer = self.serve(caller, target, method, path, params, wire)
        self.note("served", caller, target, method, path, status)
        await sleep(self.rng.uniform(0.001, self.faults.max_delay))
        if not self.reachable(caller, target) or self._faulty(self.faults.loss):
            self.lost += 1
            self.note("answer lost", caller, target, path)
            raise PeerUnavailable(f"{target}: the answer was lost (simulated)")
        if status >= 500:
            raise PeerUnavailable(f"{target} answered {status}")
        if status >= 400:
            raise PeerMisbehaved(f"{target} refused {path}: {answer}")
        return json.loads(answer)

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
        wire: str | None,
    ) -> tuple[int, str]:
        """What ``target`` answers ``caller``, as an HTTP status and a JSON text."""
        node = self.nodes[target]
        if self.twin is not None and target == self.equivocator and caller in self.twin_audience:
            node = self.twin
        service = node.service
        try:
            body = json.loads(wire) if wire is not None else None
            answer = _route(service, caller, method, path, params, body)
        except PeerDenied as exc:
            return exc.status, exc.detail
        except PeerUnavailable as exc:
            return 503, str(exc)
        except (IntegrityError, StorageFailed) as exc:
            return 500, str(exc)
        except MraError as exc:
            return 400, str(exc)
        except Exception as exc:  # a 500 in a real node: a bug the run reports
            self.scheduler.crashes.append(f"{target} serving {method} {path}: {exc!r}")
            return 500, "internal error"
        return 200, json.dumps(answer)

    # -- the run -----------------------------------------------------------------------------

    def run(self, duration: float = 12.0, settle_limit: float = 240.0) -> Outcome:
        """Faults for ``duration`` virtual seconds, then clean gossip until the honest nodes
        agree (or ``settle_limit`` passes, which is a violation), then the checks."""
        sched = self.scheduler
        self._start_rounds()
        for _ in range(self.rng.randint(4, 8)):
            sched.at(self.rng.uniform(0, duration * 0.8), self._publish_somewhere)
        if self.faults.partition:
            start = self.rng.uniform(duration * 0.1, duration * 0.4)
            sched.at(start, self._partition)
            sched.at(start + self.rng.uniform(duration * 0.2, duration * 0.5), self._heal)
        if self.equivocator is not None:
            sched.at(self.rng.uniform(duration * 0.2, duration * 0.6), self._equivocate)
        sched.run_until(duration)
        self.clean = True
        self._heal()
        settled = duration
        while settled < duration + settle_limit:
            settled += INTERVAL
            sched.run_until(settled)
            if not self._disagreements():
                break
        self.violations.extend(self._disagreements())
        self.violations.extend(sched.crashes)
        self.violations.extend(self._check_entitlement())
        self.violations.extend(self._check_acknowledged())
        self.violations.extend(self._check_forks())
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
        )

    def close(self) -> None:
        for node in [*self.nodes.values(), *([self.twin] if self.twin else [])]:
            asyncio.run(node.service.stop())
            node.store.close()

    def _start_rounds(self) -> None:
        for node in self.nodes.values():
            self.scheduler.at(self.rng.uniform(0, INTERVAL), functools.partial(self._round, node))

    def _round(self, node: SimNode) -> None:
        """One gossip round of ``node``: anti-entropy with a few peers, as the service's pull
        loop does with all of them."""
        service = node.service
        service.reload_membership()
        peers = sorted(service.peers)
        if not self.clean:  # while faults last, a few peers a round; then all, as the service does
            peers = self.rng.sample(peers, min(FANOUT, len(peers)))
        for code in peers:
            self.scheduler.spawn(service._guarded(code, service._sync_with), f"{node.code}<-{code}")
        delay = INTERVAL * self.rng.uniform(0.75, 1.25)
        self.scheduler.at(self.scheduler.now + delay, lambda: self._round(node))

    def _push(self, node: SimNode) -> None:
        for code in sorted(node.service.peers):
            if node is self.twin and code not in self.twin_audience:
                continue
            if (
                node.code == self.equivocator
                and node is not self.twin
                and code in self.twin_audience
            ):
                continue
            self.scheduler.spawn(
                node.service._guarded(code, node.service._push_to), f"{node.code}->{code}"
            )

    def _publish_somewhere(self) -> None:
        node = self.rng.choice(self.honest())
        record = self._next_version(node)
        result = node.ledger.publish([record])
        for entry in result.entries:
            self.acknowledged.append((node.code, entry.header.seq, bytes(entry_hash(entry.body))))
            self.note("published", node.code, entry.header.seq)
        self._push(node)

    def _next_version(self, node: SimNode) -> AeoRecord:
        """A new record, or a status change of one published before."""
        if node.records and self.rng.random() < 0.4:
            aeo_id = self.rng.choice(node.records)
            current = node.store.current_record(aeo_id)
            assert current is not None
            record = current[1]
            today = datetime.fromtimestamp(self._clock(node.skew_ms)() / 1000, UTC).date()
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
        """The equivocator copies its database and appends a different record to each copy;
        from now on one part of its peers is served (and pushed) the copy."""
        assert self.equivocator is not None
        node = self.nodes[self.equivocator]
        twin_db = node.home.path / "twin.db"
        source = sqlite3.connect(str(node.home.db_path))
        target = sqlite3.connect(str(twin_db))
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        self.twin = self._open(node.home.path, node.code, node.skew_ms, db=twin_db)
        peers = [c for c in self.codes if c != node.code]
        self.twin_audience = frozenset(self.rng.sample(peers, len(peers) // 2))
        for number, variant in enumerate((node, self.twin), start=900):
            [data] = list(sample_dicts(node.code, 1, seed=self.seed, start=number))
            data["address"] = {**data["address"], "country": node.code}  # type: ignore[dict-item]
            variant.ledger.publish([AeoRecord.from_dict(data)])
            self._push(variant)
        self.note("equivocated", sorted(self.twin_audience))

    # -- invariants --------------------------------------------------------------------------

    def _disagreements(self) -> list[str]:
        found = []
        honest = self.honest()
        for origin in honest:
            head = origin.store.head(origin.code)
            for node in honest:
                if node is origin:
                    continue
                held = node.store.head(origin.code)
                if held != head:
                    size = head.size if head else 0
                    found.append(
                        f"{node.code} holds {origin.code} at {held.size if held else 0} of {size}"
                    )
                elif self._shares(origin.code, node.code):
                    found.extend(self._missing_deliveries(origin, node))
        if self.equivocator is not None and self.twin is not None:
            for node in honest:
                if self.equivocator not in node.store.frozen_origins():
                    found.append(f"{node.code} has not frozen the equivocator {self.equivocator}")
        return found

    def _missing_deliveries(self, origin: SimNode, partner: SimNode) -> list[str]:
        """What ``origin`` owes ``partner`` (as its own Sharing decides) and it lacks."""
        sharing = Sharing(origin.store, origin.code, origin.service.key, origin.service.clock())
        missing = []
        for entry in origin.store.entries(origin.code):
            if sharing.delivery(entry, partner.code) is None:
                continue
            held = partner.store.entry(origin.code, entry.seq)
            if partner.store.view_at(origin.code, entry.seq) is None and (
                held is None or held.payload is None
            ):
                missing.append(f"{partner.code} lacks the delivery of {origin.code}#{entry.seq}")
        return missing

    def _shares(self, a: str, b: str) -> bool:
        return any(a in doc.parties and b in doc.parties for doc in self.agreements)

    def _check_entitlement(self) -> list[str]:
        found = []
        for node in self.honest():
            # Read from the file as an auditor would, on a connection of its own.
            uri = f"file:{node.store.path}?mode=ro"
            with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
                payloads = db.execute(
                    "SELECT e.origin, e.seq, e.body FROM entries e JOIN payloads p"
                    " ON p.origin = e.origin AND p.seq = e.seq WHERE e.origin != ?",
                    (node.code,),
                ).fetchall()
                views = db.execute(
                    "SELECT origin, seq, agreements, body FROM views ORDER BY origin, seq"
                ).fetchall()
            for origin, seq, body in payloads:
                if EntryHeader.from_bytes(bytes(body)).kind in RECORD_KINDS:
                    found.append(f"{node.code} holds the payload of {origin}#{seq}")
            for origin, seq, agreement_ids, body in views:
                found.extend(
                    self._view_allowed(node.code, origin, seq, agreement_ids, parse_json(body))
                )
        return found

    def _view_allowed(
        self, partner: str, origin: str, seq: int, agreement_ids: str, view: dict[str, Any]
    ) -> list[str]:
        where = f"{partner}'s view of {origin}#{seq}"
        docs = [d for d in self.agreements if origin in d.parties and partner in d.parties]
        if not docs:
            return [f"{where}: the two share no agreement"]
        if not set(agreement_ids.split(",")) <= {d.id for d in docs}:
            return [f"{where}: granted by {agreement_ids}, not an agreement of both"]
        source = self.nodes[origin].store.entry(origin, seq)
        record = parse_json(source.payload) if source and source.payload else {}
        allowed: set[str] = set()
        for doc in docs:
            if doc.contract == "mra-full":
                if doc.params.get("consent_required") and partner not in record.get("consent", []):
                    continue
                allowed |= set(FULL_ALWAYS) | set(doc.params["fields"])
            else:
                allowed |= set(STATUS_ONLY_FIELDS)
        extra = {p for p in _paths(view) if p not in allowed and p.split(".")[0] not in allowed}
        return [f"{where}: fields {sorted(extra)} are not shared with it"] if extra else []

    def _check_acknowledged(self) -> list[str]:
        found = []
        for origin, seq, digest in self.acknowledged:
            for node in self.honest():
                entry = node.store.entry(origin, seq)
                if entry is None or bytes(entry_hash(entry.body)) != digest:
                    found.append(f"{node.code} lost acknowledged {origin}#{seq}")
        return found

    def _check_forks(self) -> list[str]:
        found = []
        for node in self.honest():
            accused = {f["origin"] for f in node.store.forks()}
            wrongly = accused - {self.equivocator}
            if wrongly:
                found.append(f"{node.code} accuses honest origins {sorted(wrongly)}")
        return found


def _route(
    service: NetworkService,
    caller: str,
    method: str,
    path: str,
    params: dict[str, Any],
    body: Any,
) -> Any:
    """The peer endpoints of ``network.service``, called as its routes call them."""
    if method == "GET" and path == "/v1/peer/frontier":
        service.status[caller].last_heard = service.clock()
        return service.frontier(caller)
    if method == "GET" and path.startswith("/v1/peer/log/"):
        origin = path.rsplit("/", 1)[1].upper()
        return service.log_page(origin, int(params["start"]), int(params["size"]))
    if method == "GET" and path == "/v1/peer/deliveries":
        return service.deliveries(caller, int(params.get("start", 0)))
    if method == "POST" and path == "/v1/peer/push":
        return service.receive_push(caller, body)
    if method == "GET" and path == "/v1/peer/membership":
        return json.loads(service.membership_path.read_text())
    raise PeerDenied(404, f"no route {method} {path}")


def _paths(view: dict[str, Any]) -> Iterable[str]:
    """The fields of a view, with the status's sub-fields named one by one."""
    for name, value in view.items():
        if name == "status" and isinstance(value, dict):
            yield from (f"status.{sub}" for sub in value)
        else:
            yield name


# -- the template network ------------------------------------------------------------------


@dataclass(frozen=True)
class _Template:
    path: Path
    agreements: tuple[Agreement, ...]


_TEMPLATES: dict[int, _Template] = {}


def sim_agreements(codes: list[str]) -> list[Agreement]:
    """Two bilateral full-data MRAs (one asks for consent), two status-only plurilaterals;
    the last members are party to none."""
    valid_from = (START - timedelta(days=30)).date().isoformat()
    until = (START + timedelta(days=5 * 365)).date().isoformat()
    full = {
        "certificates": ["AEOC", "AEOS", "AEOF"],
        "fields": ["legal_name", "address", "certificate", "identifiers", "authorised"],
        "statuses": ["valid", "suspended", "revoked", "annulled"],
    }
    n = len(codes)
    groups = [
        ("SIM-FULL-A", "bilateral", codes[0:2], "mra-full", {**full, "consent_required": True}),
        ("SIM-FULL-B", "bilateral", codes[2:4], "mra-full", {**full, "consent_required": False}),
        ("SIM-STATUS-A", "plurilateral", codes[0 : n * 2 // 5], "mra-status-only", None),
        ("SIM-STATUS-B", "plurilateral", codes[n * 2 // 5 : n * 7 // 10], "mra-status-only", None),
    ]
    docs = []
    for agreement_id, kind, parties, contract, params in groups:
        docs.append(
            Agreement.from_dict(
                {
                    "id": agreement_id,
                    "kind": kind,
                    "parties": sorted(parties),
                    "contract": contract,
                    "contract_version": 1,
                    "contract_sha256": SOURCE_HASHES[f"{contract}@1"],
                    "params": params or {"certificates": ["AEOC", "AEOS", "AEOF"]},
                    "valid_from": valid_from,
                    "valid_until": until,
                    "title": f"{agreement_id} (simulation)",
                    "legal_ref": "simulation",
                }
            )
        )
    return docs


def _template(size: int) -> _Template:
    """A network of ``size`` members whose agreements are in force everywhere, built once per
    process by the same gossip (without faults) and copied for every seed."""
    if size in _TEMPLATES:
        return _TEMPLATES[size]
    if not 2 <= size <= len(CODES):
        raise ValueError(f"a simulated network has 2 to {len(CODES)} members")
    path = Path(tempfile.mkdtemp(prefix=f"mra-sim-template-{size}-"))
    codes = list(CODES[:size])
    specs = [
        MemberSpec(code=c, name=f"Customs {c}", endpoint=f"https://{c.lower()}.sim.invalid:7443")
        for c in codes
    ]
    init_network(path, "simulation", specs, now=START - timedelta(days=1))
    docs = sim_agreements(codes)
    sim = Simulation(0, path, docs, size=size, faults=Faults(0, 0, 0.01, 0, False))
    sim.equivocator = None
    sim.clean = True
    try:
        sim._start_rounds()
        for doc in docs:
            proposer = sim.nodes[doc.parties[0]]
            agreements.propose(proposer.ledger, proposer.store, doc)
            sim._push(proposer)
        _gossip_until(sim, lambda: all(_holds(sim, d) for d in docs))
        for doc in docs:
            for party in doc.parties[1:]:
                node = sim.nodes[party]
                agreements.approve(node.ledger, node.store, doc.id)
                sim._push(node)
        _gossip_until(
            sim, lambda: all(_in_force(sim, d) for d in docs) and not sim._disagreements()
        )
    finally:
        sim.close()
    _TEMPLATES[size] = _Template(path=path, agreements=tuple(docs))
    return _TEMPLATES[size]


def _gossip_until(sim: Simulation, done: Callable[[], bool]) -> None:
    for _ in range(200):
        sim.scheduler.run_until(sim.scheduler.now + INTERVAL)
        if done():
            return
    raise RuntimeError(f"the template network did not settle: {sim._disagreements()[:5]}")


def _holds(sim: Simulation, doc: Agreement) -> bool:
    return all(doc.id in agreements.states(sim.nodes[p].store) for p in doc.parties)


def _in_force(sim: Simulation, doc: Agreement) -> bool:
    now = sim._clock(0)()
    for party in doc.parties:
        state = agreements.states(sim.nodes[party].store).get(doc.id)
        if state is None or state.in_force_at(now) is None:
            return False
    return True


def run_seed(
    seed: int,
    *,
    size: int = 20,
    duration: float = 12.0,
    settle: float = 240.0,
    faults: Faults = Faults(),
) -> Outcome:
    """Run one seed in a copy of the template network, in a scratch directory."""
    started = time.perf_counter()
    template = _template(size)
    with tempfile.TemporaryDirectory(prefix=f"mra-sim-{seed}-", dir=_scratch()) as directory:
        shutil.copytree(template.path, directory, dirs_exist_ok=True)
        sim = Simulation(seed, Path(directory), template.agreements, size=size, faults=faults)
        try:
            outcome = sim.run(duration, settle)
        finally:
            sim.close()
    outcome.wall_seconds = round(time.perf_counter() - started, 2)
    return outcome


def _scratch() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() else None
