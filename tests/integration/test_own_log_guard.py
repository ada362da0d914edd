"""A node whose database lost entries it had acknowledged (a torn WAL, an old backup) must not
sign those seqs again: when a peer shows a checkpoint of its log that it signed, of more entries
than it holds, its ledger refuses to append. A size a peer merely claims changes nothing."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from network.bootstrap import MemberSpec, init_network
from network.membership import Member
from network.service import NetworkService
from node.checkpoint import Checkpoint, sign_checkpoint
from node.errors import OwnLogBehind
from node.home import NodeHome, load_signing_key
from node.ledger import log_name
from node.sample import sample_records
from node.sqlite_store import SqliteStore

MEMBERS = [
    MemberSpec(code="BR", name="Receita Federal do Brasil", endpoint="https://127.0.0.1:7441"),
    MemberSpec(code="UY", name="Dirección Nacional de Aduanas", endpoint="https://127.0.0.1:7442"),
]


class Frontiers:
    """The network boundary: each peer answers its frontier with the checkpoint of BR's log
    given here."""

    def __init__(self, notes: dict[str, bytes]) -> None:
        self.notes = notes

    async def request(self, method: str, peer: Member, path: str, **_: Any) -> Any:
        assert (method, path) == ("GET", "/v1/peer/frontier")
        note = self.notes[peer.code].decode()
        return {"origins": {"BR": {"size": 10**6, "checkpoint": note}}}

    async def aclose(self) -> None:
        return None


@pytest.fixture
def br(tmp_path: Path) -> tuple[NodeHome, bytes]:
    """BR's home holding 1 entry, and the checkpoint BR signed when it held 3."""
    init_network(tmp_path / "net", "Test network", MEMBERS, now=datetime.now(UTC))
    home = NodeHome(path=tmp_path / "net" / "BR")
    store = SqliteStore.open(home.db_path)
    ledger = home.open_ledger(store)
    ledger.publish(sample_records("BR", 1, start=1))
    store.close()
    shutil.copy(home.db_path, tmp_path / "backup.db")
    store = SqliteStore.open(home.db_path)
    home.open_ledger(store).publish(sample_records("BR", 2, start=2))
    note = store.latest_checkpoint("BR")
    store.close()
    assert note is not None
    shutil.copy(home.db_path, tmp_path / "whole.db")  # closed: the WAL is folded in
    home.db_path.unlink()
    for suffix in ("-wal", "-shm"):
        home.db_path.with_name(home.db_path.name + suffix).unlink(missing_ok=True)
    shutil.copy(tmp_path / "backup.db", home.db_path)  # the database loses two entries
    return home, note


def _probe(home: NodeHome, note: bytes) -> tuple[NetworkService, SqliteStore]:
    store = SqliteStore.open(home.db_path)
    service = NetworkService(home, store, CollectorRegistry())
    service.transport = Frontiers({"UY": note})
    asyncio.run(service._probe_own_log())
    return service, store


def test_a_checkpoint_it_signed_of_more_than_it_holds_stops_its_appends(
    br: tuple[NodeHome, bytes],
) -> None:
    home, note = br
    service, store = _probe(home, note)
    try:
        ledger = home.open_ledger(store)
        reason = service.own_log_behind()
        assert reason is not None and "UY holds a checkpoint of 3 entries" in reason
        assert "this node holds 1" in reason
        with pytest.raises(OwnLogBehind):
            ledger.publish(sample_records("BR", 1, start=50))
        head = store.head("BR")
        assert head is not None and head.size == 1
        assert service.freshness()["appends_refused"] == reason
    finally:
        store.close()
    # What the peer showed is kept in the home: a ledger opened later (a restart whose peers
    # do not answer, a CLI import while the node is down) refuses too.
    store = SqliteStore.open(home.db_path)
    try:
        with pytest.raises(OwnLogBehind):
            home.open_ledger(store).publish(sample_records("BR", 1, start=50))
    finally:
        store.close()


def test_appends_resume_once_the_whole_log_is_restored(
    br: tuple[NodeHome, bytes], tmp_path: Path
) -> None:
    home, note = br
    _, store = _probe(home, note)
    store.close()
    shutil.copy(tmp_path / "whole.db", home.db_path)  # the operator restores a whole backup
    store = SqliteStore.open(home.db_path)
    try:
        ledger = home.open_ledger(store)
        assert ledger.hold() is None
        [entry] = ledger.publish(sample_records("BR", 1, start=50)).entries
        assert entry.header.seq == 3
    finally:
        store.close()


@pytest.mark.parametrize("forgery", ["signed-by-uy", "not-a-note", "beyond-any-seq"])
def test_a_size_a_peer_merely_claims_changes_nothing(
    br: tuple[NodeHome, bytes], forgery: str
) -> None:
    home, _ = br
    uy_key = load_signing_key(home.path.parent / "UY" / "signing.key")
    claimed = Checkpoint(origin=log_name("BR"), size=3, root=bytes(32))
    huge = Checkpoint(origin=log_name("BR"), size=2**63, root=bytes(32))
    note = {
        "signed-by-uy": sign_checkpoint(claimed, log_name("BR"), uy_key),
        "not-a-note": b"BR holds 3",
        "beyond-any-seq": sign_checkpoint(huge, log_name("BR"), uy_key),
    }[forgery]
    service, store = _probe(home, note)
    try:
        ledger = home.open_ledger(store)
        assert service.own_log_behind() is None
        assert not home.log_seen_path.exists()
        [entry] = ledger.publish(sample_records("BR", 1, start=50)).entries
        assert entry.header.seq == 1
    finally:
        store.close()
