"""The pure parts of the identifier lookup: the case rule, the per-peer rate limit, what counts
as a status-level view, and the asker's check of the origin's answer."""

from __future__ import annotations

from typing import Any

import pytest

from network.lookup import NOT_FOUND, checked_answer, status_level
from network.ratelimit import PeerLimits
from network.transport import retry_after
from node.core.errors import InvalidInput, PeerMisbehaved
from node.core.identifiers import lookup_key, match_value, scheme_name
from node.host.settings import Settings
from node.ledger.queries import Queries
from tests.factories import memory_ledger, record


@pytest.mark.parametrize(
    ("scheme", "value", "key"),
    [
        ("EORI", "br12345678901", ("EORI", "BR12345678901")),
        (" eori ", " Br12345678901 ", ("EORI", "BR12345678901")),
        ("CTPAT", "abc123", ("CTPAT", "ABC123")),
        ("C-TPAT", "abc123", ("CTPAT", "ABC123")),
        ("c-tpat", "Abc123", ("CTPAT", "ABC123")),
        ("TIN", "12.345.678/0001-90", ("TIN", "12.345.678/0001-90")),
        ("tin", "ab-12cd", ("TIN", "ab-12cd")),  # case kept: a TIN may tell cases apart
        ("OTHER", "Ref 7a", ("OTHER", "Ref 7a")),
    ],
)
def test_case_is_ignored_for_eori_and_ctpat_only(
    scheme: str, value: str, key: tuple[str, str]
) -> None:
    assert lookup_key(scheme, value) == key


@pytest.mark.parametrize(
    ("scheme", "value", "field"),
    [
        ("VAT", "BR1", "scheme"),
        ("", "BR1", "scheme"),
        (7, "BR1", "scheme"),
        ("EORI", "", "value"),
        ("EORI", "   ", "value"),
        ("TIN", "x" * 65, "value"),
        ("TIN", None, "value"),
    ],
)
def test_bad_lookups_name_the_field(scheme: Any, value: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        lookup_key(scheme, value)
    assert caught.value.field == field


def test_the_by_identifier_query_reads_schemes_it_does_not_know_as_written() -> None:
    assert scheme_name(" c-tpat ") == "CTPAT"
    assert scheme_name("vat") == "VAT"
    assert match_value("VAT", " ab ") == "ab"
    assert match_value("EORI", " br1 ") == "BR1"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_each_peer_has_a_burst_then_a_rate() -> None:
    clock = Clock()
    limits = PeerLimits(2.0, 3, clock)
    assert [limits.take("AR") for _ in range(3)] == [None, None, None]
    assert limits.take("AR") == 1  # empty: one token is back in half a second, said as 1 s
    assert limits.take("UY") is None  # another peer's bucket is its own
    clock.now += 0.5
    assert limits.take("AR") is None
    assert limits.take("AR") == 1
    clock.now += 60  # refilled up to the burst, not beyond
    assert [limits.take("AR") for _ in range(4)] == [None, None, None, 1]


def test_a_slow_rate_asks_for_a_longer_wait() -> None:
    clock = Clock()
    limits = PeerLimits(0.1, 1, clock)
    assert limits.take("AR") is None
    assert limits.take("AR") == 10
    clock.now += 4
    assert limits.take("AR") == 6


@pytest.mark.parametrize(("header", "seconds"), [("7", 7), (None, 1), ("0", 1), ("soon", 1)])
def test_retry_after_is_read_in_whole_seconds(header: str | None, seconds: int) -> None:
    assert retry_after(header) == seconds
    assert retry_after("999999") == 3600


def test_a_view_is_at_status_level_when_it_shows_a_status_code() -> None:
    assert status_level({"aeo_id": "BR1", "status": {"code": "valid", "effective": "2026"}})
    assert not status_level({"aeo_id": "BR1"})
    assert not status_level({"aeo_id": "BR1", "status": "valid"})
    assert not status_level({"aeo_id": "BR1", "status": {"effective": "2026-01-01"}})


def _found(aeo_id: str = "BR000000001", **changes: Any) -> dict[str, Any]:
    view = {"aeo_id": aeo_id, "status": {"code": "valid", "effective": "2026-01-01"}}
    return {
        "aeo_id": aeo_id,
        "origin": "BR",
        "seq": 4,
        "agreements": ["MERCOSUR-AEO"],
        "view": view,
        **changes,
    }


def test_the_asker_takes_an_answer_that_checks() -> None:
    answer = {"origin": "BR", "scheme": "EORI", "found": [_found()], "not_found": None}
    assert checked_answer("BR", answer)["found"] == [_found()]
    for reason in NOT_FOUND:
        empty = {"origin": "BR", "scheme": "EORI", "found": [], "not_found": reason}
        assert checked_answer("BR", empty)["not_found"] == reason


@pytest.mark.parametrize(
    "answer",
    [
        [],
        {"origin": "UY", "found": [], "not_found": "none-you-may-see"},  # not the origin asked
        {"origin": "BR", "found": [], "not_found": None},  # empty, and no reason
        {"origin": "BR", "found": [_found()], "not_found": "none-you-may-see"},
        {"origin": "BR", "found": [], "not_found": "no-aeo"},  # a reason the rules do not have
        {"origin": "BR", "found": [_found("UY000000001")], "not_found": None},  # not BR's
        {"origin": "BR", "found": [_found(view={"aeo_id": "BR000000001"})], "not_found": None},
        {"origin": "BR", "found": [_found(seq="4")], "not_found": None},
    ],
)
def test_the_asker_refuses_an_answer_that_does_not_check(answer: Any) -> None:
    with pytest.raises(PeerMisbehaved):
        checked_answer("BR", answer)


def test_the_lookup_limits_are_read_from_the_environment() -> None:
    assert (Settings().lookup_rate, Settings().lookup_burst) == (2.0, 20)
    read = Settings.from_environ({"MRA_LOOKUP_RATE": "0.5", "MRA_LOOKUP_BURST": "6"})
    assert (read.lookup_rate, read.lookup_burst) == (0.5, 6)
    for name, bad in (
        ("MRA_LOOKUP_RATE", "0"),
        ("MRA_LOOKUP_BURST", "0"),
        ("MRA_LOOKUP_BURST", "2.5"),
    ):
        with pytest.raises(InvalidInput) as caught:
            Settings.from_environ({name: bad})
        assert caught.value.field == name


def test_the_query_by_identifier_follows_the_case_rule_too() -> None:
    store, ledger = memory_ledger("BR")
    ids = [{"scheme": "EORI", "value": "BR12345678901"}, {"scheme": "TIN", "value": "ab-12cd"}]
    ledger.publish([record("BR", 1, identifiers=ids)])
    queries = Queries(store, "BR")

    def found(scheme: str, value: str) -> list[str]:
        return [a.aeo_id for a in queries.by_identifier(scheme, value)]

    assert found("eori", "br12345678901") == found("EORI", "BR12345678901") == ["BR000000001"]
    assert found("TIN", "ab-12cd") == ["BR000000001"]
    assert found("TIN", "AB-12CD") == []
