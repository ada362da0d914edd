"""A node whose database lost entries it had acknowledged (a torn WAL, an old backup) must not
sign those seqs again: when a peer shows a checkpoint of its log that it signed, of more entries
than it holds, its ledger refuses to append. A size a peer merely claims changes nothing. After
a start, a node with peers appends only once one has answered, or an operator accepted the risk;
a write that loses the race with another writer on the same database is told to retry."""

from __future__ import annotations

import asyncio
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from network.bootstrap import MemberSpec, init_network
from network.membership import Member
from network.service import NetworkService, open_network
from node.app.api import create_app
from node.core.checkpoint import Checkpoint, sign_checkpoint
from node.core.clock import system_clock
from node.core.errors import OwnLogBehind, OwnLogUnconfirmed, PeerUnavailable, WriteRaced
from node.core.logs import log_name
from node.core.sample import sample_dicts, sample_records
from node.host.apikeys import create_key
from node.host.guard import ACCEPT_SECONDS, StartGuard, accept_restore, acceptance_of
from node.host.home import NodeHome, load_signing_key
from node.host.settings import Settings
from node.ledger.writer import Ledger
from node.store.protocols import AppendBatch, PendingAppend
from node.store.sqlite import SqliteStore

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
    service = open_network(
        home, store, Settings(), CollectorRegistry(), transport=Frontiers({"UY": note})
    )
    asyncio.run(service.gossip.probe_own_log())
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


# -- after a start: no append before a peer answers or an operator accepts (node.host.guard) -----


class Hung:
    """Every peer hangs or is away: no request gets an answer."""

    async def request(self, method: str, peer: Member, path: str, **_: Any) -> Any:
        raise PeerUnavailable(f"{peer.code} did not answer")

    async def aclose(self) -> None:
        return None


class Empty:
    """Every peer answers its frontier, holding nothing of BR's log."""

    async def request(self, method: str, peer: Member, path: str, **_: Any) -> Any:
        return {"origins": {}}

    async def aclose(self) -> None:
        return None


@pytest.fixture
def started(tmp_path: Path) -> NodeHome:
    """BR's home in a two-member network, holding 2 entries of its own log."""
    init_network(tmp_path / "net", "Test network", MEMBERS, now=datetime.now(UTC))
    home = NodeHome(path=tmp_path / "net" / "BR")
    store = SqliteStore.open(home.db_path)
    home.open_ledger(store).publish(sample_records("BR", 2, start=1))
    store.close()
    return home


def _start(home: NodeHome, store: SqliteStore, transport: Any, clock: Any = None) -> Ledger:
    """The node's ledger as ``create_app`` wires it, after the start-up probe over
    ``transport``."""
    service = open_network(
        home,
        store,
        Settings(),
        CollectorRegistry(),
        transport=transport,
        clock=clock or system_clock,
    )
    asyncio.run(service.gossip.probe_own_log())
    ledger = home.open_ledger(store)
    ledger.hold = service.guard.hold
    return ledger


def test_a_started_node_appends_once_a_peer_has_answered(started: NodeHome) -> None:
    store = SqliteStore.open(started.db_path)
    try:
        ledger = _start(started, store, Hung())
        with pytest.raises(OwnLogUnconfirmed, match="no peer has shown its checkpoint"):
            ledger.publish(sample_records("BR", 1, start=50))
        assert "mra ledger accept-restore" in str(ledger.hold())
        head = store.head("BR")
        assert head is not None and head.size == 2
        # A peer that holds nothing of BR's log answered: that is its view, and enough.
        ledger = _start(started, store, Empty())
        [entry] = ledger.publish(sample_records("BR", 1, start=50)).entries
        assert entry.header.seq == 2
    finally:
        store.close()


def test_the_operator_accepts_the_risk_for_the_log_as_it_is(
    started: NodeHome, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqliteStore.open(started.db_path)
    try:
        ledger = _start(started, store, Hung())
        assert isinstance(ledger.hold(), OwnLogUnconfirmed)
        accepted = accept_restore(started, store, "ops on duty", datetime.now(UTC))
        assert (accepted.by, accepted.size) == ("ops on duty", 2)
        with caplog.at_level(logging.WARNING, logger="mra.guard"):
            [entry] = ledger.publish(sample_records("BR", 1, start=50)).entries
        assert entry.header.seq == 2
        assert "ops on duty accepted the risk" in caplog.text
        # It covered the log of 2 entries: the next start waits for a peer again.
        assert isinstance(_start(started, store, Hung()).hold(), OwnLogUnconfirmed)
        # And one that no process used lapses after an hour.
        accept_restore(started, store, "ops on duty", datetime.now(UTC))
        later = system_clock() + (ACCEPT_SECONDS + 60) * 1000
        assert isinstance(_start(started, store, Hung(), lambda: later).hold(), OwnLogUnconfirmed)
    finally:
        store.close()


def test_accepting_is_refused_once_a_peer_has_shown_more_of_the_log(
    br: tuple[NodeHome, bytes],
) -> None:
    home, note = br
    _, store = _probe(home, note)
    try:
        with pytest.raises(OwnLogBehind, match="UY holds a checkpoint of 3 entries"):
            accept_restore(home, store, "ops on duty", datetime.now(UTC))
        assert not (home.path / "restore-accepted.json").exists()
    finally:
        store.close()


def test_a_home_without_peers_appends_at_once(tmp_path: Path) -> None:
    home = NodeHome(path=tmp_path / "br")
    home.init("BR", "Receita Federal do Brasil")
    store = SqliteStore.open(home.db_path)
    try:
        assert StartGuard(home, store, needs_peer=False).hold() is None
    finally:
        store.close()


# -- two writers on one database: the loser is told to retry, never that its data is bad ----


def test_a_write_that_loses_the_race_is_retryable(started: NodeHome) -> None:
    node_store, cli_store = SqliteStore.open(started.db_path), SqliteStore.open(started.db_path)
    try:
        cli = started.open_ledger(cli_store)
        raced = False

        def clock() -> int:
            # Read while the node builds its batch, after it read the log's head: the CLI's
            # import lands in between.
            nonlocal raced
            if not raced:
                raced = True
                cli.publish(sample_records("BR", 1, start=60))
            return system_clock()

        key = load_signing_key(started.key_path)
        racing = Ledger(store=node_store, origin="BR", key=key, clock=clock)
        with pytest.raises(WriteRaced, match="another writer appended to BR's log first"):
            racing.publish(sample_records("BR", 1, start=61))
        head = node_store.head("BR")
        assert head is not None and head.size == 3  # the CLI's entry; nothing of the loser's
        [entry] = racing.publish(sample_records("BR", 1, start=61)).entries  # the retry
        assert entry.header.seq == 3
    finally:
        node_store.close()
        cli_store.close()


def test_the_api_answers_a_lost_race_with_a_retryable_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = NodeHome(path=tmp_path / "br")
    home.init("BR", "Receita Federal do Brasil")
    store = SqliteStore.open(home.db_path)
    key = create_key(store, "publisher", "test", 0)
    cli = home.open_ledger(store)
    append = SqliteStore.append
    racing = [True]

    def raced_append(self: SqliteStore, batch: AppendBatch | PendingAppend) -> None:
        if racing and self is not store:
            racing.clear()
            cli.publish(sample_records("BR", 1, start=70))  # another process got there first
        append(self, batch)

    monkeypatch.setattr(SqliteStore, "append", raced_append)
    try:
        with TestClient(create_app(home)) as client:
            record = next(sample_dicts("BR", 1, start=71))
            lost = client.post("/v1/aeo", json=record, headers={"Authorization": f"Bearer {key}"})
            assert lost.status_code == 503, lost.text
            assert lost.headers["Retry-After"] == "1"
            assert lost.headers["content-type"] == "application/problem+json"
            assert lost.json()["title"] == "WriteRaced"
            again = client.post("/v1/aeo", json=record, headers={"Authorization": f"Bearer {key}"})
            assert again.status_code == 200, again.text
            assert again.json()["appended"][0]["seq"] == 1
    finally:
        store.close()


def test_an_acceptance_counts_for_a_clock_that_reads_whole_milliseconds(started: NodeHome) -> None:
    store = SqliteStore.open(started.db_path)
    try:
        at = datetime.now(UTC).replace(microsecond=123_999)
        accept_restore(started, store, "ops on duty", at)
        read_at = at.replace(microsecond=123_000)  # what system_clock shows of the same instant
        accepted = acceptance_of(started, store, read_at)
        assert accepted is not None and accepted.by == "ops on duty"
    finally:
        store.close()
