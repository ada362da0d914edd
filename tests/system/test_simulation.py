"""The seeded network simulation (``sim``): 20 real nodes opened by ``open_node`` and the real
gossip steps over a lossy in-memory network in virtual time. CI runs 200 seeds with
``scripts/simulate`` (``.ci/run``, beside the test command: at ~4 s a seed they would not fit
its 10 minutes); the suite replays the pinned seeds (any that ever failed), runs one seed with
an equivocating origin twice to show it replays exactly, one with membership changes in flight
(moves, renewals, an addition and a removal) twice, and shows the checks can fail."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from network.member_updates import NEXT_CERT, renew
from sim import Faults, Simulation, invariants, run_seed
from sim.network import CODES, START
from sim.nodes import SimNode

PINNED = [int(s) for s in (Path(__file__).parent / "simulation_pinned.txt").read_text().split()]


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="mra.network")


@pytest.mark.slow
@pytest.mark.long  # 10 s; .ci/run also runs 200 seeds
def test_every_pinned_seed_keeps_every_invariant() -> None:
    # Seeds that once failed (scripts/simulate appends them to simulation_pinned.txt).
    for seed in PINNED:
        assert run_seed(seed).violations == [], f"pinned seed {seed}"


@pytest.mark.slow
@pytest.mark.long  # 7 s, runs a seed twice
def test_a_seed_with_an_equivocating_origin_keeps_every_invariant_and_replays_exactly() -> None:
    # Seed 2 is one where an origin shows two histories: every honest node must freeze it,
    # none may accuse an honest origin, and nothing acknowledged may be lost.
    first, second = run_seed(2), run_seed(2)
    assert first.equivocator is not None
    assert first.violations == []
    assert first.published >= 4
    assert first.lost > 0 and first.duplicated > 0  # the faults really happened
    assert first.trace_digest == second.trace_digest
    assert (first.messages, first.lost, first.published) == (
        second.messages,
        second.lost,
        second.published,
    )


@pytest.mark.slow
def test_the_checks_catch_a_network_that_loses_everything() -> None:
    # Every message lost and no settling phase to recover: no peer ever answers a node after
    # its start, so its start guard refuses every publication (node.host.guard) and the run
    # must say so; the trace differs from another seed's.
    outcome = run_seed(3, faults=Faults(loss=1.0), settle=0.0)
    assert outcome.published == 0
    assert any("publications still refused" in v for v in outcome.violations)
    assert outcome.trace_digest != run_seed(4, faults=Faults(loss=1.0), settle=0.0).trace_digest


@pytest.mark.slow
def test_the_checks_catch_a_network_that_loses_most_messages() -> None:
    # Nine messages in ten lost and no settling phase: what was published has not reached
    # every node, and the convergence check must fail.
    outcome = run_seed(4, faults=Faults(loss=0.9), settle=0.0)
    assert outcome.published > 0
    assert any("holds" in v or "lacks" in v for v in outcome.violations)


@pytest.mark.slow
@pytest.mark.long  # 14 s, runs seeds twice
def test_membership_changes_in_flight_end_on_one_membership_and_replay_exactly() -> None:
    # Seed 4: while messages are lost and reordered, a member moves, two renew their TLS
    # certificates, a member is added and another removed (each version signed by all, installed
    # at one node, spread by gossip). Every honest node must end on the same membership, and the
    # run replays exactly (the renewals' keys come from the seed).
    seen: dict[str, Any] = {}

    def look(sim: Simulation) -> None:
        honest = sim.honest()
        [gone] = sorted(sim.changes.gone)
        added = [n for n in honest if n.code not in CODES[:20]]
        seen["versions"] = {n.service.membership.version for n in honest}
        seen["codes"] = {frozenset(n.service.peers.member_codes()) for n in honest}
        seen["gone"], seen["added"] = gone, [n.code for n in added]
        # Each presents the certificate its entry pins: the renewed ones switched to theirs.
        seen["presenting"] = {
            n.presented()[1] == _pinned(n) and not (n.home.path / NEXT_CERT).exists()
            for n in honest
        }
        # The removed node still holds the version before and still asks: it is refused.
        status, _ = sim.serve(gone, honest[0].code, "GET", "/v1/peer/frontier", {}, None)
        seen["refused"] = status

    first = run_seed(4, then=look)
    assert first.violations == []
    assert (first.moved, first.renewed, first.added, first.removed) == (1, 2, 1, 1)
    assert seen["versions"] == {3}  # v1, then the removal (v2), then the addition (v3)
    [codes] = seen["codes"]
    assert seen["gone"] not in codes and set(seen["added"]) <= codes
    assert seen["presenting"] == {True}
    assert seen["refused"] == 403
    second = run_seed(4)
    assert first.trace_digest == second.trace_digest
    assert first.messages == second.messages


@pytest.mark.slow
@pytest.mark.long  # 7 s
def test_the_membership_checks_catch_a_node_on_another_membership_or_answering_a_removed_one() -> (
    None
):
    # After seed 4 settled, one honest member renews and no peer hears of it yet: the check of
    # one membership must name it. A node answering the removed member must be reported.
    found: dict[str, list[str]] = {}

    def diverge(sim: Simulation) -> None:
        honest = sim.honest()
        assert invariants.membership_differs(honest) == []
        node = honest[3]
        renew(node.home, node.store, now=START)
        node.service.gossip.reload_membership()
        found["differs"] = invariants.membership_differs(honest)
        [gone] = sorted(sim.changes.gone)
        found["answered"] = invariants.reaches_non_member(honest[0], gone, "answered")
        found["member"] = invariants.reaches_non_member(honest[0], honest[1].code, "answered")
        found["node"] = [node.code]

    assert run_seed(4, then=diverge).violations == []
    assert len(found["differs"]) == 1 and found["differs"][0].startswith(found["node"][0])
    assert found["answered"] and found["member"] == []


def _pinned(node: SimNode) -> str:
    member = node.service.membership.member(node.code)
    assert member is not None
    return member.tls_cert_sha256
