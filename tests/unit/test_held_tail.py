"""What a peer holds of a member's log, and the lost-tail report built from it
(``network.held_tail``): pages over real signed entries in a memory store, the refusal of another
member's log, and a header the member never signed named as such."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from network.held_tail import HELD_PAGE, ask_held, held_page, lost_tail
from network.problems import PeerDenied
from node.core.crypto import SigningKey
from node.core.errors import InvalidInput, PeerUnavailable
from node.store.memory import MemoryStore
from tests.factories import memory_ledger, record


def br_log(count: int, key: SigningKey) -> MemoryStore:
    store, ledger = memory_ledger("BR", key)
    ledger.publish([record(number=n) for n in range(1, count + 1)])
    return store


def test_a_page_gives_the_headers_from_start_and_the_report_checks_them() -> None:
    key = SigningKey.generate()
    store = br_log(5, key)
    page = held_page(store, "BR", "BR", 2)
    assert [item["seq"] for item in page["items"]] == [2, 3, 4]
    assert page["next"] == page["size"] == 5
    assert {item["kind"] for item in page["items"]} == {"aeo.upsert"}

    held = lost_tail("BR", 2, [key.public_key], {"UY": page["items"]})
    assert [h.seq for h in held] == [2, 3, 4]
    assert all(h.forged == [] and h.kind == "aeo.upsert" for h in held)
    assert held[0].ts == page["items"][0]["ts"]


def test_a_header_this_node_never_signed_is_named_with_the_peer_that_showed_it() -> None:
    key = SigningKey.generate()
    genuine = held_page(br_log(3, key), "BR", "BR", 0)["items"]
    forged = held_page(br_log(3, SigningKey.generate()), "BR", "BR", 0)["items"]
    held = lost_tail("BR", 1, [key.public_key], {"AR": genuine, "UY": forged})
    assert [(h.seq, h.forged) for h in held] == [(1, ["UY"]), (2, ["UY"])]
    assert held[0].headers["UY"]["problem"] == "a signature no key of BR made"
    assert held[0].headers["AR"]["signed_here"] is True

    moved = [{**forged[1], "seq": 2}]  # a real header of BR#1 given as BR#2
    held = lost_tail("BR", 0, [key.public_key], {"UY": moved})
    assert held[0].headers["UY"]["problem"] == "a header of BR#1 given as BR#2"


def test_a_member_may_ask_only_of_its_own_log_and_a_bad_start_is_named() -> None:
    store = br_log(2, SigningKey.generate())
    with pytest.raises(PeerDenied) as refused:
        held_page(store, "AR", "BR", 0)
    assert refused.value.status == 403
    with pytest.raises(InvalidInput) as bad:
        held_page(store, "BR", "BR", -1)
    assert bad.value.field == "start"


def test_asking_pages_through_a_long_tail_and_names_a_peer_that_is_down() -> None:
    key = SigningKey.generate()
    store = br_log(HELD_PAGE + 30, key)
    asked: list[int] = []

    async def request(method: str, code: str, path: str, *, params: dict[str, Any]) -> Any:
        if code == "UY":
            raise PeerUnavailable("ConnectError: refused")
        assert (method, path) == ("GET", "/v1/peer/held/BR")
        asked.append(params["start"])
        return held_page(store, "BR", "BR", params["start"])

    answers, failed = asyncio.run(ask_held(request, ["AR", "UY"], "BR", 10))
    assert asked == [10, 10 + HELD_PAGE]
    assert [item["seq"] for item in answers["AR"]] == list(range(10, HELD_PAGE + 30))
    assert failed == {"UY": "unreachable: ConnectError: refused"}
