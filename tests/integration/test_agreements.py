"""Agreements on real ledgers: BR proposes, UY approves on its own log, each node derives the
state from the entries it holds; partner entries are accepted only after verification."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.agreement import Agreement
from node.core.errors import Conflict, ContractRefused, NotFound, PeerMisbehaved
from node.ledger import agreements
from node.ledger.replica import accept
from node.ledger.verification import verify_store
from node.ledger.writer import Ledger
from node.store.protocols import StoredEntry
from node.store.sqlite import SqliteStore
from tests.factories import open_ledger, record
from tests.unit.test_contracts import agreement

Node = tuple[SqliteStore, Ledger]


@pytest.fixture
def br(tmp_path: Path) -> Node:
    return open_ledger(tmp_path / "br.db", "BR")


@pytest.fixture
def uy(tmp_path: Path) -> Node:
    return open_ledger(tmp_path / "uy.db", "UY")


def sync(source: Node, target: Node) -> int:
    """Hand ``source``'s own new entries to ``target`` (what gossip will do)."""
    store, ledger = source
    origin = ledger.origin
    target_store = target[0]
    if target_store.public_key(origin, 0) is None:
        key = store.public_key(origin, 0)
        assert key is not None
        target_store.add_key(origin, 0, key)
    head = target_store.head(origin)
    return accept(target_store, origin, list(store.entries(origin, head.size if head else 0)))


def test_proposal_then_approval_on_each_log_activates_everywhere(br: Node, uy: Node) -> None:
    doc = agreement(valid_from="2025-01-01")
    agreements.propose(br[1], br[0], doc)
    assert agreements.states(br[0])[doc.id].status_at(2**40) == "pending"
    sync(br, uy)
    agreements.approve(uy[1], uy[0], doc.id)
    sync(uy, br)
    for store, _ in (br, uy):
        state = agreements.states(store)[doc.id]
        assert state.current == doc
        assert state.in_force
        assert state.status_at(state.in_force[0][0]) == "active"
    verify_store(br[0], own="BR")
    verify_store(uy[0], own="UY")


def test_withdrawal_ends_it_on_both_nodes(br: Node, uy: Node) -> None:
    doc = agreement(valid_from="2025-01-01")
    agreements.propose(br[1], br[0], doc)
    sync(br, uy)
    agreements.approve(uy[1], uy[0], doc.id)
    sync(uy, br)
    entry = agreements.withdraw(uy[1], uy[0], doc.id)
    sync(uy, br)
    assert agreements.states(br[0])[doc.id].status_at(entry.header.ts) == "withdrawn"
    with pytest.raises(Conflict):
        agreements.withdraw(br[1], br[0], doc.id)


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        pytest.param(agreement(contract_sha256="1" * 64), ContractRefused, id="other-source"),
        pytest.param(agreement(parties=["UY", "AR"]), Conflict, id="proposer-not-party"),
    ],
)
def test_bad_proposals_write_nothing(br: Node, doc: Agreement, error: type[Exception]) -> None:
    with pytest.raises(error):
        agreements.propose(br[1], br[0], doc)
    assert br[0].head("BR") is None


def test_versions_must_grow_and_approvals_happen_once(br: Node, uy: Node) -> None:
    doc = agreement(valid_from="2025-01-01")
    agreements.propose(br[1], br[0], doc)
    with pytest.raises(Conflict):
        agreements.propose(br[1], br[0], doc)
    with pytest.raises(Conflict):
        agreements.approve(br[1], br[0], doc.id)  # the proposal is BR's approval
    with pytest.raises(NotFound):
        agreements.approve(uy[1], uy[0], doc.id)  # UY has not received it yet


def test_a_partner_cannot_publish_another_countrys_aeo(br: Node, uy: Node) -> None:
    store, ledger = uy
    ledger.publish([record("UY")])
    sync(uy, br)
    assert br[0].current_record("UY000000001") is not None
    [stored] = list(store.entries("UY"))
    forged = StoredEntry(
        origin="UY",
        seq=1,
        body=stored.body,
        signature=stored.signature,
        salt=stored.salt,
        payload=stored.payload,
    )
    with pytest.raises(PeerMisbehaved):
        accept(br[0], "UY", [forged])  # a replay at the next seq breaks the chain
    head = br[0].head("UY")
    assert head is not None and head.size == 1


def test_three_nodes_receiving_logs_in_different_orders_decide_alike(tmp_path: Path) -> None:
    from itertools import permutations

    from contracts.registry import resolve
    from tests.unit.test_contracts import MERCOSUR

    nodes = {c: open_ledger(tmp_path / f"{c}.db", c) for c in ("BR", "AR", "PY", "UY")}
    pluri = agreement(**{**MERCOSUR, "valid_from": "2025-01-01"})
    agreements.propose(nodes["AR"][1], nodes["AR"][0], pluri)
    for party in ("BR", "PY", "UY"):
        sync(nodes["AR"], nodes[party])
        agreements.approve(nodes[party][1], nodes[party][0], pluri.id)
    nodes["BR"][1].publish([record("BR", certificate="AEOS", consent=[])])
    agreements.withdraw(nodes["PY"][1], nodes["PY"][0], pluri.id)

    results = []
    for i, order in enumerate(list(permutations(nodes))[::7][:3]):  # three different orders
        observer = open_ledger(tmp_path / f"observer{i}.db", "CL")
        for origin in order:
            sync(nodes[origin], observer)
        states = agreements.states(observer[0])
        state = states[pluri.id]
        times = sorted({t for t, _ in state.in_force} | {state.withdrawn_at or 0})
        rec = observer[0].current_record("BR000000001")
        assert rec is not None
        doc = state.in_force_at(times[-1] - 1)
        assert doc is not None
        shared = resolve(doc).share(doc, rec[1])
        results.append((state.phase, [state.status_at(t) for t in times], shared))
    assert results[0] == results[1] == results[2]
    assert set(results[0][2]) == {"AR", "PY", "UY"}  # status-only needs no consent
