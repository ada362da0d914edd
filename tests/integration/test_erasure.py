"""Erasure, consent withdrawal and retention on real SQLite files, with real signatures and
sealed deliveries between three nodes (BR issues; UY and AR are partners). Gossip is done here
by hand with the same pieces the network service uses (``accept`` for logs, ``Sharing`` and
``Replicator.receive_deliveries`` for deliveries); the clock is the test's."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nacl.public
import pytest

from network.replicator import Replicator
from network.sharing import Sharing
from node.core import merkle
from node.core.checkpoint import Checkpoint, SignedNote
from node.core.crypto import SigningKey
from node.core.entries import EntryKind
from node.core.errors import Conflict, InvalidInput, NotFound
from node.ledger import agreements, erasure
from node.ledger.replica import accept
from node.ledger.trail import record_trail
from node.ledger.tree import StoredTree
from node.ledger.verification import verify_store
from node.ledger.writer import Ledger
from node.store.protocols import StoredEntry
from node.store.sqlite import SqliteStore
from tests.factories import record
from tests.unit.test_contracts import MERCOSUR, agreement

DAY = erasure.DAY_MS


class Clock:
    def __init__(self, when: datetime) -> None:
        self.now = int(when.timestamp() * 1000)

    def __call__(self) -> int:
        self.now += 1
        return self.now


@dataclass
class Node:
    code: str
    store: SqliteStore
    ledger: Ledger
    key: SigningKey
    sealing: nacl.public.PrivateKey
    replicator: Replicator = field(init=False)

    def __post_init__(self) -> None:
        self.replicator = Replicator(self.store, self.code, self.key, self.sealing, CLOCK)


CLOCK = Clock(datetime(2026, 6, 1, tzinfo=UTC))


@pytest.fixture
def net(tmp_path: Path) -> Iterator[dict[str, Node]]:
    nodes = {}
    for code in ("BR", "UY", "AR"):
        store = SqliteStore.open(tmp_path / f"{code}.db")
        key = SigningKey.generate()
        ledger = Ledger(store=store, origin=code, key=key, clock=CLOCK)
        nodes[code] = Node(code, store, ledger, key, nacl.public.PrivateKey.generate())
    for node in nodes.values():
        for other in nodes.values():
            if node.store.public_key(other.code, 0) is None:
                node.store.add_key(other.code, 0, other.key.public_key)
    br, uy, ar = nodes["BR"], nodes["UY"], nodes["AR"]
    bilateral = agreement(retention_days=30)
    mercosur = agreement(**{**MERCOSUR, "parties": ["AR", "BR", "UY"]})
    for doc in (bilateral, mercosur):
        agreements.propose(br.ledger, br.store, doc)
    gossip(nodes)
    for node in (uy, ar):
        for doc in (bilateral, mercosur):
            if node.code in doc.parties:
                agreements.approve(node.ledger, node.store, doc.id)
    gossip(nodes)
    yield nodes
    for node in nodes.values():
        node.store.close()


def gossip(nodes: dict[str, Node], rounds: int = 3) -> None:
    """Logs to everyone, deliveries from each origin, then each node answers erasures."""
    for _ in range(rounds):
        for source in nodes.values():
            for target in nodes.values():
                if target is not source:
                    _replicate(source, target)
        for node in nodes.values():
            erasure.acknowledge(node.ledger, node.store)


def _replicate(source: Node, target: Node) -> None:
    origin = source.code
    head = target.store.head(origin)
    start = head.size if head else 0
    headers = [
        StoredEntry(
            origin=origin, seq=e.seq, body=e.body, signature=e.signature, salt=None, payload=None
        )
        for e in source.store.entries(origin, start)
    ]
    if headers:
        accept(target.store, origin, headers)
    cursor = target.store.delivery_cursor(origin)
    sharing = Sharing(source.store, origin, source.key, CLOCK.now)
    found = sharing.sealed(
        source.store.entries(origin, cursor), target.code, bytes(target.sealing.public_key)
    )
    target.replicator.receive_deliveries(origin, [(d.seq, blob) for d, blob in found])
    size = source.store.head(origin)
    target.store.set_delivery_cursor(origin, size.size if size else 0)


def files_of(path: Path) -> bytes:
    """Every byte of a node's database files (database, WAL, journal)."""
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_an_erasure_reaches_every_partner_and_leaves_no_trace(
    net: dict[str, Node], tmp_path: Path
) -> None:
    br, uy, ar = net["BR"], net["UY"], net["AR"]
    trader = record("BR", 7, certificate="AEOS", consent=["AR", "UY"])
    br.ledger.publish([trader])
    br.ledger.publish(
        [
            trader.with_status(
                trader.status.__class__.from_dict(
                    {"code": "suspended", "reason": "audit", "effective": "2026-06-01"}
                )
            )
        ]
    )
    gossip(net)
    assert uy.store.view_of(trader.aeo_id) is not None  # the full view under MRA-BR-UY
    assert ar.store.view_of(trader.aeo_id) is not None  # the status-only view
    secrets = [trader.legal_name.encode()] + [i.value.encode() for i in trader.identifiers]
    assert all(secret in files_of(br.store.path) for secret in secrets)
    assert trader.legal_name.encode() in files_of(uy.store.path)

    entry, _ = erasure.erase(br.ledger, br.store, trader.aeo_id, "GDPR Art. 17 request")
    assert entry.header.kind is EntryKind.AEO_ERASE
    gossip(net)

    # Every partner purged and confirmed with a signed purge entry that reached BR.
    [status] = erasure.erasure_status(br.store, trader.aeo_id)
    assert status["partners"] == ["AR", "UY"]
    assert {c["by"] for c in status["confirmed"]} == {"AR", "UY"}
    assert status["outstanding"] == [] and status["reason"] == "GDPR Art. 17 request"
    assert {c["views"] for c in status["confirmed"]} == {2}  # both versions were held
    for node in net.values():
        assert node.store.view_of(trader.aeo_id) is None
        assert node.store.current_record(trader.aeo_id) is None
        assert verify_store(node.store, own=node.code)  # chain, tree, checkpoints, payloads

    # Proofs of the erased entries still verify against BR's latest checkpoint.
    note = br.store.latest_checkpoint("BR")
    assert note is not None
    checkpoint = Checkpoint.parse(SignedNote.parse(note).text)
    tree = StoredTree(br.store, "BR")
    for seq in status["entries"]:
        stored = br.store.entry("BR", seq)
        assert stored is not None and stored.payload is None
        proof = tree.inclusion_proof(seq, checkpoint.size)
        leaf = merkle.leaf_hash(stored.body + stored.signature)
        assert merkle.verify_inclusion(leaf, seq, checkpoint.size, proof, checkpoint.root)

    # The trails: BR shows versions erased, the erasure and both confirmations; UY shows
    # that the record existed and that it purged it, answering BR's erasure.
    trail = record_trail(br.store, trader.aeo_id)
    assert trail is not None
    assert [v["erased"] for v in trail["versions"]] == [True, True]
    assert trail["erasures"][0]["basis"] == "request"
    trail = record_trail(uy.store, trader.aeo_id)
    assert trail is not None and len(trail["versions"]) == 2
    assert [p["erasure"] for p in trail["purges"]] == [entry.header.seq]

    # A new version under the erased id is refused; erasing twice too.
    with pytest.raises(Conflict):
        br.ledger.publish([trader])
    with pytest.raises(Conflict):
        erasure.erase(br.ledger, br.store, trader.aeo_id, "again")

    # No byte of the trader's name or identifiers is left in any file of any node.
    for node in net.values():
        data = files_of(node.store.path)
        for secret in secrets:
            assert secret not in data, (node.code, secret)


def test_bad_erasures_change_nothing(net: dict[str, Node]) -> None:
    br, uy = net["BR"], net["UY"]
    trader = record("BR", 8)
    br.ledger.publish([trader])
    size = br.store.head("BR")
    with pytest.raises(InvalidInput, match="reason"):
        erasure.erase(br.ledger, br.store, trader.aeo_id, "  ")
    with pytest.raises(NotFound):
        erasure.erase(br.ledger, br.store, "BR999", "GDPR")
    with pytest.raises(NotFound):  # a partner cannot erase BR's record
        erasure.erase(uy.ledger, uy.store, trader.aeo_id, "GDPR")
    assert br.store.head("BR") == size
    assert br.store.current_record(trader.aeo_id) is not None


def test_withdrawn_consent_purges_that_partner_only(net: dict[str, Node]) -> None:
    br, uy, ar = net["BR"], net["UY"], net["AR"]
    trader = record("BR", 9, certificate="AEOS", consent=["AR", "UY"])
    br.ledger.publish([trader])
    gossip(net)
    assert [full for _, _, full in _held(uy, trader.aeo_id)] == [True]

    result = br.ledger.publish([record("BR", 9, certificate="AEOS", consent=["AR"])])
    assert [e.header.kind for e in result.entries] == [EntryKind.AEO_UPSERT, EntryKind.AEO_ERASE]
    gossip(net)
    # UY's copies are gone; what needs no consent (the Mercosur status-only view of the new
    # version) still reaches it.
    assert _held(uy, trader.aeo_id) == [(result.entries[0].header.seq, "MERCOSUR-AEO", False)]
    assert ar.store.view_of(trader.aeo_id) is not None  # AR still consented
    assert br.store.current_record(trader.aeo_id) is not None  # BR keeps its record
    [status] = erasure.erasure_status(br.store, trader.aeo_id)
    assert status["basis"] == "consent" and status["partners"] == ["UY"]
    assert [c["by"] for c in status["confirmed"]] == ["UY"]

    # Fetching every delivery again does not bring UY's copy back.
    uy.store.set_delivery_cursor("BR", 0)
    gossip(net)
    assert _held(uy, trader.aeo_id) == [(result.entries[0].header.seq, "MERCOSUR-AEO", False)]
    assert verify_store(br.store, own="BR") and verify_store(uy.store, own="UY")


def _held(node: Node, aeo_id: str) -> list[tuple[int, str, bool]]:
    """(seq, agreements, whether the trader's name is in it) of each view held."""
    return [
        (row["seq"], row["agreements"], b"legal_name" in row["body"])
        for row in node.store.views_held(aeo_id)
    ]


def test_retention_erases_final_records_after_the_agreed_period(net: dict[str, Node]) -> None:
    br, uy = net["BR"], net["UY"]
    trader = record("BR", 10, certificate="AEOS", consent=["UY"])
    other = record("BR", 11, certificate="AEOS", consent=["UY"])
    br.ledger.publish([trader, other])
    status = trader.status.__class__.from_dict(
        {"code": "revoked", "reason": "fraud", "effective": "2026-06-01"}
    )
    br.ledger.publish([trader.with_status(status)])
    gossip(net)
    revoked_at = CLOCK.now

    assert erasure.run_retention(br.ledger, br.store, revoked_at + 29 * DAY) == []
    assert erasure.retention_due(br.store, "BR", revoked_at + 31 * DAY) == [(trader.aeo_id, 30)]
    [done] = erasure.run_retention(br.ledger, br.store, revoked_at + 31 * DAY)
    assert done.header.kind is EntryKind.AEO_ERASE
    gossip(net)
    [held] = erasure.erasure_status(br.store, trader.aeo_id)
    assert held["basis"] == "retention" and held["outstanding"] == []
    assert uy.store.view_of(trader.aeo_id) is None
    assert br.store.current_record(other.aeo_id) is not None  # still valid: kept
    assert uy.store.view_of(other.aeo_id) is not None


def test_data_received_under_an_ended_agreement_is_purged(net: dict[str, Node]) -> None:
    br, uy = net["BR"], net["UY"]
    trader = record("BR", 12, certificate="AEOS", consent=["UY"])
    br.ledger.publish([trader])
    gossip(net)
    held = uy.store.view_of(trader.aeo_id)
    assert held is not None and set(held[2].split(",")) == {"MERCOSUR-AEO", "MRA-BR-UY"}

    agreements.withdraw(br.ledger, br.store, "MRA-BR-UY")
    gossip(net)
    [done] = erasure.purge_ended(uy.ledger, uy.store, CLOCK.now)
    assert done.header.kind is EntryKind.AEO_PURGE
    assert uy.store.view_of(trader.aeo_id) is None
    # What MERCOSUR still grants comes back, as the status-only view, on the next fetch.
    gossip(net)
    held = uy.store.view_of(trader.aeo_id)
    assert held is not None and held[2] == "MERCOSUR-AEO"
    assert "legal_name" not in held[3].decode()
    assert erasure.purge_ended(uy.ledger, uy.store, CLOCK.now) == []
    # BR holds UY's signed purge.
    assert [p["by"] for p in br.store.purges_of(trader.aeo_id)] == ["UY"]
