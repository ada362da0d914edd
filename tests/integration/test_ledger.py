"""The write path against a real SQLite file: publish, refuse, idempotence, proofs, restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.core import merkle
from node.core.checkpoint import open_checkpoint
from node.core.crypto import SigningKey
from node.core.entries import signing_message
from node.core.errors import Conflict, InvalidInput
from node.core.logs import log_name
from node.core.records import AeoRecord
from node.core.sample import sample_records
from node.host.signer import SigningProcess
from node.ledger.tree import StoredTree
from node.ledger.verification import verify_store
from node.ledger.writer import PARALLEL_SIGN_THRESHOLD, SIGN_CHUNK, Ledger
from node.store.sqlite import SqliteStore
from tests.factories import TickingClock, open_ledger, record


def leaves(store: SqliteStore, origin: str = "BR") -> list[bytes]:
    return [e.body + e.signature for e in store.entries(origin)]


def test_publish_appends_gapless_signed_entries_with_a_checkpoint(tmp_path: Path) -> None:
    store, ledger = open_ledger(tmp_path / "n.db")
    result = ledger.publish(sample_records("BR", 5))
    assert [e.header.seq for e in result.entries] == [0, 1, 2, 3, 4]
    assert result.checkpoint is not None
    key = store.public_key("BR", 0)
    assert key is not None
    checkpoint = open_checkpoint(result.checkpoint, log_name("BR"), key)
    assert checkpoint.size == 5
    assert checkpoint.root == merkle.root(leaves(store))
    [report] = verify_store(store)
    assert (report.size, report.payloads, report.checkpoints) == (5, 5, 1)


def test_identical_record_is_not_appended_again(tmp_path: Path) -> None:
    store, ledger = open_ledger(tmp_path / "n.db")
    records = sample_records("BR", 3)
    ledger.publish(records)
    again = ledger.publish(records)
    assert again.entries == () and len(again.unchanged) == 3
    assert store.head("BR").size == 3  # type: ignore[union-attr]


def test_status_change_is_its_own_kind_and_updates_current_state(tmp_path: Path) -> None:
    store, ledger = open_ledger(tmp_path / "n.db")
    original = record()
    ledger.publish([original])
    suspended = record(status={"code": "suspended", "reason": "audit", "effective": "2026-01-05"})
    [entry] = ledger.publish([suspended]).entries
    assert entry.header.kind == "aeo.status"
    current = store.current_record(original.aeo_id)
    assert current is not None and current[1] == suspended
    assert store.list_records(status="suspended")[0]["aeo_id"] == original.aeo_id


REVOKED = {"code": "revoked", "reason": "fraud", "effective": "2026-01-05"}


@pytest.mark.parametrize(
    ("batch", "field"),
    [
        pytest.param([record(number=8), record("UY")], "records[1].aeo_id", id="foreign-prefix"),
        pytest.param(
            [record(number=8), record(number=7, status=REVOKED), record(number=7)],
            "records[2].status.code",
            id="revoked-is-final",
        ),
    ],
)
def test_refused_batch_writes_nothing(tmp_path: Path, batch: list[AeoRecord], field: str) -> None:
    store, ledger = open_ledger(tmp_path / "n.db")
    ledger.publish([record(number=7)])
    with pytest.raises(Conflict) as caught:
        ledger.publish(batch)
    assert caught.value.field == field
    assert store.head("BR").size == 1  # type: ignore[union-attr]


def test_skip_invalid_writes_the_rest(tmp_path: Path) -> None:
    _store, ledger = open_ledger(tmp_path / "n.db")
    result = ledger.publish([record(number=1), record("UY"), record(number=2)], skip_invalid=True)
    assert len(result.entries) == 2
    assert [index for index, _ in result.rejected] == [1]


def test_a_ledger_refuses_a_key_that_is_not_the_origins(tmp_path: Path) -> None:
    store, _ = open_ledger(tmp_path / "n.db")
    with pytest.raises(InvalidInput):
        Ledger(store=store, origin="BR", key=SigningKey.generate(), clock=TickingClock())


def test_restart_continues_the_chain_and_tree(tmp_path: Path) -> None:
    key = SigningKey.generate()
    store, ledger = open_ledger(tmp_path / "n.db", key=key)
    ledger.publish(sample_records("BR", 7))
    store.close()
    store, ledger = open_ledger(tmp_path / "n.db", key=key)
    ledger.publish(sample_records("BR", 6, start=100))
    [report] = verify_store(store)
    assert report.size == 13
    assert report.root == merkle.root(leaves(store))


def test_a_batch_signed_by_the_signing_process_is_the_batch_signed_inline(tmp_path: Path) -> None:
    # Past PARALLEL_SIGN_THRESHOLD the signatures are made in chunks by the signing process
    # while the headers are built; Ed25519 is deterministic, so every signature, the tree and
    # the checkpoint must equal the inline ones over the same bodies.
    key = SigningKey.generate()
    count = PARALLEL_SIGN_THRESHOLD + 3 * SIGN_CHUNK // 2
    signer = SigningProcess()
    try:
        store = SqliteStore.open(tmp_path / "n.db")
        ledger = Ledger(store=store, origin="BR", key=key, clock=TickingClock(), signers=signer)
        ledger.publish(sample_records("BR", 5))
        result = ledger.publish(sample_records("BR", count, start=10))
    finally:
        signer.close()
    assert [e.signature for e in result.entries] == [
        key.sign(signing_message(e.body)) for e in result.entries
    ]
    data = leaves(store)
    assert len(data) == count + 5
    assert result.checkpoint is not None
    checkpoint = open_checkpoint(result.checkpoint, log_name("BR"), key.public_key)
    assert (checkpoint.size, checkpoint.root) == (count + 5, merkle.root(data))
    [report] = verify_store(store)
    assert (report.size, report.root) == (count + 5, merkle.root(data))


def test_two_ledgers_on_one_store_each_grow_the_tree_the_other_left(tmp_path: Path) -> None:
    # Each ledger keeps the tree's frontier after its own append; the other's appends move the
    # log's end, so the kept one must not be used (a wrong root would fail verification).
    key = SigningKey.generate()
    store, first = open_ledger(tmp_path / "n.db", key=key)
    second = Ledger(store=store, origin="BR", key=key, clock=TickingClock())
    start = 1
    for ledger, count in ((first, 5), (second, 12), (first, 1), (first, 17), (second, 3)):
        result = ledger.publish(sample_records("BR", count, start=start))
        start += count
        assert result.checkpoint is not None
        checkpoint = open_checkpoint(result.checkpoint, log_name("BR"), key.public_key)
        assert checkpoint.root == merkle.root(leaves(store))
    [report] = verify_store(store, own="BR")
    assert (report.size, report.root) == (38, merkle.root(leaves(store)))


def test_stored_tree_gives_the_pure_roots_and_proofs(tmp_path: Path) -> None:
    store, ledger = open_ledger(tmp_path / "n.db")
    for start in range(1, 40, 3):  # uneven batches
        ledger.publish(sample_records("BR", 3, start=start))
    data = leaves(store)
    tree = StoredTree(store, "BR")
    for size in range(1, len(data) + 1):
        assert tree.root(size) == merkle.root(data[:size])
        for index in range(0, size, 5):
            assert tree.inclusion_proof(index, size) == merkle.inclusion_proof(data[:size], index)
        for old in range(1, size, 4):
            assert tree.consistency_proof(old, size) == merkle.consistency_proof(data[:size], old)
