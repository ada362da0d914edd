"""Running seeds: a template network (members, keys, certificates, agreements in force) built
once per process by the same gossip without faults, copied for every seed into a scratch
directory, run and checked."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from contracts.agreement import Agreement
from contracts.registry import SOURCE_HASHES
from network.bootstrap import MemberSpec, init_network
from node.ledger import agreements
from sim.faults import FAULTS, Faults, Outcome
from sim.network import CODES, INTERVAL, START, Simulation

__all__ = ["run_seed", "sim_agreements"]


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
    # Each member its own TLS trust root (the default, issue 24): a member joins with its own
    # certificate.
    init_network(path, "simulation", specs, now=START - timedelta(days=1))
    docs = sim_agreements(codes)
    sim = Simulation(0, path, docs, size=size, faults=Faults(0, 0, 0.01, 0, False))
    sim.equivocator = None
    sim.clean = True
    try:
        sim.start_rounds()
        # Nodes started together append once a peer has answered (node.host.guard).
        _gossip_until(sim, lambda: all(n.service.guard.confirmed() for n in sim.nodes.values()))
        for doc in docs:
            proposer = sim.nodes[doc.parties[0]]
            agreements.propose(proposer.ledger, proposer.store, doc)
            sim.push(proposer)
        _gossip_until(sim, lambda: all(_holds(sim, d) for d in docs))
        for doc in docs:
            for party in doc.parties[1:]:
                node = sim.nodes[party]
                agreements.approve(node.ledger, node.store, doc.id)
                sim.push(node)
        _gossip_until(sim, lambda: all(_in_force(sim, d) for d in docs) and not sim.disagreements())
    finally:
        sim.close()
    _TEMPLATES[size] = _Template(path=path, agreements=tuple(docs))
    return _TEMPLATES[size]


def _gossip_until(sim: Simulation, done: Callable[[], bool]) -> None:
    for _ in range(200):
        sim.scheduler.run_until(sim.scheduler.now + INTERVAL)
        if done():
            return
    raise RuntimeError(f"the template network did not settle: {sim.disagreements()[:5]}")


def _holds(sim: Simulation, doc: Agreement) -> bool:
    return all(doc.id in agreements.states(sim.nodes[p].store) for p in doc.parties)


def _in_force(sim: Simulation, doc: Agreement) -> bool:
    now = sim.clock(0)()
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
    faults: Faults = FAULTS,
    then: Callable[[Simulation], None] | None = None,
) -> Outcome:
    """Run one seed in a copy of the template network, in a scratch directory; ``then`` (a
    test's further checks) sees the network as the run left it, before it is closed."""
    started = time.perf_counter()
    template = _template(size)
    with tempfile.TemporaryDirectory(prefix=f"mra-sim-{seed}-", dir=_scratch()) as directory:
        shutil.copytree(template.path, directory, dirs_exist_ok=True)
        sim = Simulation(seed, Path(directory), template.agreements, size=size, faults=faults)
        try:
            outcome = sim.run(duration, settle)
            if then is not None:
                then(sim)
        finally:
            sim.close()
    outcome.wall_seconds = round(time.perf_counter() - started, 2)
    return outcome


def _scratch() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() else None
