"""The ledger services on a ``MemoryStore``: publishing, status changes, queries, the trail,
erasure, agreements, replication and the access-log anchors, with no SQLite anywhere."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta

import pytest

from node.core import merkle
from node.core.access import Access
from node.core.checkpoint import open_checkpoint
from node.core.entries import EntryHeader, EntryKind, Payload
from node.core.errors import Conflict, IntegrityError, PeerMisbehaved, WriteRaced
from node.core.logs import log_name
from node.ledger import agreements, erasure
from node.ledger.access_anchor import AccessAnchors, check_anchors
from node.ledger.fsck import verify_log
from node.ledger.queries import Queries, log_states
from node.ledger.replica import accept
from node.ledger.trail import record_trail
from node.ledger.tree import StoredTree
from node.store.memory import MemoryStore
from node.store.protocols import AppendBatch, StoredEntry
from tests.factories import memory_ledger, record
from tests.unit.test_contracts import agreement

SUSPENDED = {"code": "suspended", "reason": "audit", "effective": "2026-01-05"}


def test_the_services_load_no_sqlite() -> None:
    modules = [
        "node.store.memory",
        *(f"node.ledger.{m}" for m in ("writer", "replica", "queries", "trail", "tree")),
        *(f"node.ledger.{m}" for m in ("erasure", "agreements", "access_anchor")),
    ]
    code = (
        f"import sys, {', '.join(modules)}\nprint(sorted(m for m in sys.modules if 'sqlite' in m))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert found.strip() == "[]"


def test_publish_writes_a_signed_checkpointed_log_that_verifies() -> None:
    store, ledger = memory_ledger()
    result = ledger.publish([record(number=n) for n in (1, 2, 3)])
    assert [e.header.seq for e in result.entries] == [0, 1, 2]
    key = store.public_key("BR", 0)
    assert key is not None and result.checkpoint is not None
    checkpoint = open_checkpoint(result.checkpoint, log_name("BR"), key)
    leaves = [e.body + e.signature for e in store.entries("BR")]
    assert checkpoint.size == 3 and checkpoint.root == merkle.root(leaves)
    assert StoredTree(store, "BR").root(3) == merkle.root(leaves)
    report = verify_log(store, "BR", own=True)
    assert (report.size, report.payloads, report.checkpoints) == (3, 3, 1)


def test_republishing_is_idempotent_and_a_status_change_is_its_own_kind() -> None:
    store, ledger = memory_ledger()
    original = record()
    ledger.publish([original])
    assert ledger.publish([original]).unchanged == (original.aeo_id,)
    [entry] = ledger.publish([record(status=SUSPENDED)]).entries
    assert entry.header.kind == EntryKind.AEO_STATUS
    current = store.current_record(original.aeo_id)
    assert current is not None and current[0] == 1
    assert current[1].status.code.value == "suspended"
    assert [seq for _, seq, _, _ in store.own_versions(original.aeo_id)] == [0, 1]
    assert store.final_records("BR", ["suspended"], 2**62) == [original.aeo_id]


def test_a_foreign_record_is_refused_and_nothing_is_written() -> None:
    store, ledger = memory_ledger()
    with pytest.raises(Conflict):
        ledger.publish([record(origin="UY")])
    assert store.head("BR") is None


def test_a_batch_that_does_not_continue_the_log_is_a_race_and_writes_nothing() -> None:
    store, ledger = memory_ledger()
    [entry] = ledger.publish([record()]).entries
    stale = AppendBatch(
        origin="BR",
        entries=[entry],
        payloads=[None],
        records=[None],
        tree_nodes=[],
        checkpoint=None,
        checkpoint_size=0,
    )
    with pytest.raises(WriteRaced):
        store.append(stale)
    assert [e.seq for e in store.entries("BR")] == [0]


def test_queries_answer_own_records_by_id_time_and_identifier() -> None:
    store, ledger = memory_ledger()
    first = record()
    ledger.publish([first, record(number=2)])
    ledger.publish([record(status=SUSPENDED)])
    queries = Queries(store, "BR")
    latest = queries.one(first.aeo_id.lower())
    assert latest is not None and latest.seq == 2
    assert latest.document["status"]["code"] == "suspended"
    before = store.entry("BR", 0)
    assert before is not None
    earlier = queries.one(first.aeo_id, as_of=EntryHeader.from_bytes(before.body).ts)
    assert earlier is not None and earlier.seq == 0
    found, missing = queries.many([first.aeo_id, "BR404"])
    assert list(found) == [first.aeo_id] and missing == ["BR404"]
    identifier = first.identifiers[0]
    answers = queries.by_identifier(identifier.scheme.value, identifier.value)
    assert [a.aeo_id for a in answers] == [first.aeo_id]
    [state] = log_states(store)
    assert (state["origin"], state["size"], state["checkpoint_size"]) == ("BR", 3, 3)


def test_queries_read_legal_time_on_the_memory_store() -> None:
    store, ledger = memory_ledger()
    first = record()
    ledger.publish([first])
    [entry] = ledger.publish([record(status=SUSPENDED)]).entries
    queries = Queries(store, "BR")
    effective = first.status.effective
    on_authorisation = queries.one(first.aeo_id, in_force_on=effective)
    assert on_authorisation is not None and on_authorisation.seq == 0
    assert on_authorisation.to_dict()["in_force_on"] == effective.isoformat()
    suspended = queries.one(first.aeo_id, in_force_on=date(2026, 1, 5))
    assert suspended is not None and suspended.seq == 1
    known_before = queries.one(first.aeo_id, entry.header.ts - 1, date(2026, 1, 5))
    assert known_before is not None and known_before.seq == 0
    assert queries.one(first.aeo_id, in_force_on=effective - timedelta(days=1)) is None


def test_the_trail_shows_each_version_with_its_changes() -> None:
    store, ledger = memory_ledger()
    original = record()
    ledger.publish([original])
    ledger.publish([record(status=SUSPENDED)])
    store.append_access([])
    trail = record_trail(store, original.aeo_id)
    assert trail is not None
    assert [v["status"] for v in trail["versions"]] == ["valid", "suspended"]
    assert trail["versions"][1]["changes"]
    assert record_trail(store, "BR404") is None


def test_erasure_deletes_every_payload_and_refuses_the_id_again() -> None:
    store, ledger = memory_ledger()
    original = record()
    ledger.publish([original, record(number=2)])
    ledger.publish([record(status=SUSPENDED)])
    entry, doc = erasure.erase(ledger, store, original.aeo_id, "asked by the trader")
    assert doc.entries == (0, 2)
    assert store.current_record(original.aeo_id) is None
    assert [p for _, _, _, p in store.own_versions(original.aeo_id)] == [None, None]
    assert store.erased_among([original.aeo_id, record(number=2).aeo_id]) == {original.aeo_id}
    assert Queries(store, "BR").one(original.aeo_id) is None
    with pytest.raises(Conflict):
        ledger.publish([original])
    [status] = erasure.erasure_status(store, original.aeo_id)
    assert (status["seq"], status["entries"]) == (entry.header.seq, [0, 2])
    verify_log(store, "BR", own=True)  # erased payloads are explained by the signed erasure


def test_a_payload_that_does_not_open_its_commitment_is_not_served() -> None:
    source, ledger = memory_ledger()
    original = record()
    [entry] = ledger.publish([original]).entries
    [stored] = source.entries("BR")
    assert stored.payload is not None
    tampered = MemoryStore()
    tampered.append(
        AppendBatch(
            origin="BR",
            entries=[entry],
            payloads=[Payload(salt=bytes(32), body=stored.payload)],
            records=[original],
            tree_nodes=[],
            checkpoint=None,
            checkpoint_size=0,
        )
    )
    with pytest.raises(IntegrityError) as raised:
        tampered.current_payload(original.aeo_id)
    assert raised.value.damage == "payload-mismatch"


def test_agreements_propose_and_approve_across_two_memory_nodes() -> None:
    br_store, br = memory_ledger("BR")
    uy_store, uy = memory_ledger("UY")
    doc = agreement(valid_from="2025-01-01")
    agreements.propose(br, br_store, doc)
    assert agreements.states(br_store)[doc.id].status_at(2**40) == "pending"
    for source, target, origin in ((br_store, uy_store, "BR"),):
        key = source.public_key(origin, 0)
        assert key is not None
        target.add_key(origin, 0, key)
        assert accept(target, origin, list(source.entries(origin))) == 1
    agreements.approve(uy, uy_store, doc.id)
    assert StoredTree(uy_store, "BR").root(1) == StoredTree(br_store, "BR").root(1)
    state = agreements.states(uy_store)[doc.id]
    assert state.approvals and erasure.partners_of(uy_store, "UY") == ("BR",)


def test_replication_refuses_an_entry_with_a_broken_signature() -> None:
    source, ledger = memory_ledger("BR")
    ledger.publish([record()])
    target = MemoryStore()
    key = source.public_key("BR", 0)
    assert key is not None
    target.add_key("BR", 0, key)
    [stored] = source.entries("BR")
    forged = StoredEntry(
        origin="BR",
        seq=0,
        body=stored.body,
        signature=bytes(64),
        salt=stored.salt,
        payload=stored.payload,
    )
    with pytest.raises(PeerMisbehaved):
        accept(target, "BR", [forged])
    assert target.head("BR") is None


def _accessed(store: MemoryStore, *aeo_ids: str) -> None:
    """One access-log row per id, as an API key's reads write them."""
    at = 1_763_850_000_000
    rows = [
        Access(ts=at, actor="key:ops", action="query", channel="GET", aeo_id=i) for i in aeo_ids
    ]
    store.append_access(rows)


def test_the_access_log_is_anchored_only_when_it_grew_and_the_anchors_hold() -> None:
    store, ledger = memory_ledger()
    anchors = AccessAnchors(ledger, store)
    assert anchors.anchor() is None  # an empty access log: nothing to anchor
    _accessed(store, "BR-1", "BR-2")
    first = anchors.anchor()
    assert first is not None and first.header.kind is EntryKind.ACCESS_ANCHOR
    assert anchors.anchor() is None  # nothing new since
    _accessed(store, "BR-3")
    assert AccessAnchors(ledger, store).anchor() is not None  # a restart resumes from the last
    assert AccessAnchors(ledger, store).anchor() is None
    assert check_anchors(store, "BR") == 3
    assert verify_log(store, "BR", own=True).size == 2


def test_an_access_log_rewritten_under_its_anchor_is_caught() -> None:
    # The same signed log over another access log (one row rewritten, then one cut): the anchor
    # no longer matches the row it names.
    store, ledger = memory_ledger()
    _accessed(store, "BR-1", "BR-2")
    AccessAnchors(ledger, store).anchor()
    for rows in (("BR-1", "BR-9"), ("BR-1",)):
        other = MemoryStore()
        key = store.public_key("BR", 0)
        assert key is not None
        other.add_key("BR", 0, key)
        assert accept(other, "BR", list(store.entries("BR"))) == 1
        _accessed(other, *rows)
        with pytest.raises(IntegrityError) as raised:
            check_anchors(other, "BR")
        assert raised.value.damage == "access-anchor"
