"""The identifier lookup on a real devnet (five ``mra node run`` processes, mutual TLS): AR and
PY receive BR's records as status-only views (no identifiers), UY as full views, CL nothing.
A partner asks its own node, which asks BR over the peer channel; BR answers only for what
the contracts let that partner see, notes the query in its access log, and rate-limits each
peer (here 6 lookups at once, then one every 2 s, so the limit shows quickly)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.system.lone_node import mra
from tests.system.test_devnet import Net, _free_base, new_record, publish

EORI = "BR98765432101"


def _mra(*args: str, env: dict[str, str] | None = None) -> str:
    return mra(*args, env=env, timeout=180)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    directory = tmp_path_factory.mktemp("devnet") / "net"
    base = _free_base()
    limits = {"MRA_LOOKUP_BURST": "6", "MRA_LOOKUP_RATE": "0.5"}
    _mra("devnet", "up", "--dir", str(directory), "--base-port", str(base), "--records", "3",
         "--detach", env=limits)  # fmt: skip
    yield Net(directory, base)
    _mra("devnet", "down", "--dir", str(directory))


def lookup(net: Net, code: str, **params: str) -> httpx.Response:
    with net.api(code) as client:
        return client.get("/v1/lookup", params=params)


def published(net: Net, number: int, **changes: Any) -> str:
    record = new_record("BR", number, identifiers=[{"scheme": "EORI", "value": EORI}], **changes)
    publish(net, "BR", record)
    return str(record["aeo_id"])


def audit(net: Net, code: str, **params: str) -> list[dict[str, Any]]:
    with net.api(code) as client:
        answer = client.get("/v1/audit", params=params)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["rows"]
    return rows


def test_a_status_only_partner_finds_a_trader_by_eori_at_the_origin(net: Net) -> None:
    aeo_id = published(net, 910001, consent=["AR", "UY"])
    # What AR holds cannot answer: status-only views carry no identifiers.
    with net.api("AR") as client:
        held = client.get("/v1/aeo", params={"scheme": "EORI", "value": EORI})
    assert held.json() == {"results": []}
    answer = lookup(net, "AR", origin="br", scheme="eori", value=EORI.lower())  # any case
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["answered_by"] == "BR" and body["origin"] == "BR" and body["not_found"] is None
    [found] = body["found"]
    assert found["aeo_id"] == aeo_id and found["agreements"] == ["MERCOSUR-AEO"]
    assert set(found["view"]["status"]) == {"code", "effective"}
    assert found["view"]["status"]["code"] == "valid"
    assert "identifiers" not in found["view"] and "legal_name" not in found["view"]
    # BR noted the query as AR's, naming the AEO, never the EORI; AR noted its caller's.
    rows = audit(net, "BR", partner="AR", aeo_id=aeo_id, action="query")
    assert [r["channel"] for r in rows] == ["POST /v1/peer/lookup?scheme=EORI"]
    assert EORI not in str(audit(net, "BR", partner="AR"))
    mine = audit(net, "AR", aeo_id=aeo_id, action="query")
    assert [r["channel"] for r in mine] == ["GET /v1/lookup?origin=BR&scheme=EORI"]


def test_not_found_says_what_it_means_and_a_tin_keeps_its_case(net: Net) -> None:
    held = lookup(net, "AR", origin="BR", scheme="EORI", value="BR00000000001").json()
    assert held["answered_by"] == "BR"
    assert held["found"] == [] and held["not_found"] == "none-you-may-see"
    assert "does not say whether" in held["detail"]
    tin = [{"scheme": "TIN", "value": "ab-12cd"}]
    record = new_record("BR", 910002, identifiers=tin)
    publish(net, "BR", record)
    found = lookup(net, "AR", origin="BR", scheme="TIN", value="ab-12cd").json()["found"]
    assert [f["aeo_id"] for f in found] == [record["aeo_id"]]
    other_case = lookup(net, "AR", origin="BR", scheme="TIN", value="AB-12CD").json()
    assert other_case["found"] == [] and other_case["not_found"] == "none-you-may-see"


def test_a_partner_with_no_agreement_learns_nothing(net: Net) -> None:
    aeo_id = published(net, 910003, consent=["AR", "CL", "UY"])
    answers = [
        lookup(net, "CL", origin="BR", scheme="EORI", value=value)
        for value in (EORI, "BR00000000001")
    ]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["not_found"] == "nothing-shared"
    assert aeo_id not in answers[0].text
    rows = audit(net, "BR", partner="CL", action="query")
    assert rows and {r["aeo_id"] for r in rows} == {""}  # asked, and shown no AEO


def test_bad_lookups_are_refused_naming_the_field(net: Net) -> None:
    cases = [
        ({"origin": "BR", "scheme": "VAT", "value": EORI}, 422, "scheme"),
        ({"origin": "BR", "scheme": "EORI", "value": " "}, 422, "value"),
        ({"origin": "B1", "scheme": "EORI", "value": EORI}, 422, "origin"),
        ({"origin": "AR", "scheme": "EORI", "value": EORI}, 422, "origin"),  # itself
        ({"origin": "ZZ", "scheme": "EORI", "value": EORI}, 404, "origin"),
    ]
    for params, status, field in cases:
        answer = lookup(net, "AR", **params)
        assert answer.status_code == status, (params, answer.text)
        assert answer.json()["field"] == field
    with net.as_peer("CL") as client:  # straight to BR's peer endpoint
        url = f"{net.url('BR')}/v1/peer/lookup"
        assert client.post(url, json=[EORI]).status_code == 422
        assert client.post(url, json={"scheme": "EORI"}).json()["field"] == "value"
    assert httpx.post(url, json={}, verify=str(net.dir / "members.pem")).status_code == 401


def test_each_peer_is_rate_limited_at_the_origin(net: Net) -> None:
    statuses = []
    for _ in range(12):
        answer = lookup(net, "PY", origin="BR", scheme="EORI", value=EORI)
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            break
    assert statuses[-1] == 429 and set(statuses[:-1]) == {200}, statuses
    wait = int(answer.headers["Retry-After"])
    assert 1 <= wait <= 2 and answer.json()["title"] == "PeerThrottled"
    # Another peer's lookups are not held up by PY's.
    assert lookup(net, "UY", origin="BR", scheme="EORI", value=EORI).status_code == 200
    with net.as_peer("PY") as client:  # BR's own answer to PY: a 429 problem
        direct = client.post(
            f"{net.url('BR')}/v1/peer/lookup", json={"scheme": "EORI", "value": EORI}
        )
    assert direct.status_code == 429 and direct.headers["Retry-After"]
    assert direct.headers["content-type"].startswith("application/problem+json")
    time.sleep(int(direct.headers["Retry-After"]) + 0.1)
    assert lookup(net, "PY", origin="BR", scheme="EORI", value=EORI).status_code == 200
