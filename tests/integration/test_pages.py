"""Pages of gossip are bounded by encoded bytes as well as by count (network.wire.PAGE_BYTES):
a page stops before the item that would pass its budget, keeps at least one item so that it
moves forward (except a push's deliveries), and says where the next page starts. Real SQLite
files and real sealed deliveries between BR and UY (the ``net`` of test_erasure)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from network.answers import log_page
from network.sharing import Sharing
from network.wire import encoded_size
from tests.factories import record
from tests.integration import test_erasure
from tests.integration.test_erasure import CLOCK, Node


@pytest.fixture
def net(tmp_path: Path) -> Iterator[dict[str, Node]]:
    """BR, UY and AR with their agreements in force (test_erasure's network)."""
    yield from test_erasure.net.__wrapped__(tmp_path)


def _published(br: Node, count: int) -> list[int]:
    result = br.ledger.publish([record("BR", 100 + n, consent=["UY", "AR"]) for n in range(count)])
    return [e.header.seq for e in result.entries]


def test_a_page_of_deliveries_stops_before_its_byte_budget(net: dict[str, Node]) -> None:
    br, uy = net["BR"], net["UY"]
    seqs = _published(br, 12)
    sharing = Sharing(br.store, "BR", br.key, CLOCK.now)
    key = bytes(uy.sealing.public_key)
    whole, left_out = sharing.sealed_page(br.store.entries("BR", seqs[0]), "UY", key)
    assert left_out is None and [d.seq for d, _ in whole] == seqs
    each = max(encoded_size(blob) for _, blob in whole)
    budget = 5 * each
    page, left_out = sharing.sealed_page(br.store.entries("BR", seqs[0]), "UY", key, budget=budget)
    assert 0 < len(page) < len(seqs)
    assert sum(encoded_size(blob) for _, blob in page) <= budget
    assert left_out == seqs[len(page)]  # the next page starts at the first one left out
    rest, _ = sharing.sealed_page(br.store.entries("BR", left_out), "UY", key, budget=budget)
    assert rest[0][0].seq == left_out


def test_one_delivery_over_the_budget_travels_alone_or_not_at_all(net: dict[str, Node]) -> None:
    br, uy = net["BR"], net["UY"]
    seqs = _published(br, 3)
    sharing = Sharing(br.store, "BR", br.key, CLOCK.now)
    key = bytes(uy.sealing.public_key)
    alone, left_out = sharing.sealed_page(br.store.entries("BR", seqs[0]), "UY", key, budget=1)
    assert [d.seq for d, _ in alone] == seqs[:1] and left_out == seqs[1]
    none, left_out = sharing.sealed_page(
        br.store.entries("BR", seqs[0]), "UY", key, budget=1, at_least_one=False
    )
    assert none == [] and left_out == seqs[0]  # a push leaves it to the pull


def test_a_page_of_entries_stops_before_its_byte_budget(net: dict[str, Node]) -> None:
    br = net["BR"]
    _published(br, 10)
    size = br.store.size("BR")
    whole = log_page(br.store, "BR", 0, size)
    assert len(whole["entries"]) == size
    one = sum(len(v) for v in whole["entries"][0].values()) + 64
    page = log_page(br.store, "BR", 0, size, budget=3 * one)
    assert 0 < len(page["entries"]) <= 3
    assert page["entries"] == whole["entries"][: len(page["entries"])]
    assert len(log_page(br.store, "BR", 0, size, budget=1)["entries"]) == 1
