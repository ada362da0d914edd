"""The local API through the ASGI transport: the access matrix, problem documents, publishing."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from node.app.api import MAX_BODY, create_app
from node.app.api.app import LOCK_SWITCH_SECONDS
from node.core.sample import sample_dicts
from node.host.apikeys import create_key
from node.host.home import NodeHome
from node.store.sqlite import SqliteStore


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    home = NodeHome(path=tmp_path / "br")
    home.init("BR", "Receita Federal do Brasil")
    store = SqliteStore.open(home.db_path)
    keys = {
        role: create_key(store, role, f"test {role}", 0)
        for role in ("viewer", "auditor", "publisher", "admin")
    }
    store.close()
    with TestClient(create_app(home)) as test_client:
        yield test_client, keys


RECORD: dict[str, Any] = next(sample_dicts("BR", 1))
ENDPOINTS = [
    ("GET", "/v1/health", None, "viewer"),
    ("GET", "/v1/aeo/BR000000001", None, "viewer"),
    ("GET", "/v1/aeo/BR000000001?evidence=true", None, "viewer"),
    ("GET", f"/v1/aeo?scheme=EORI&value={RECORD['identifiers'][0]['value']}", None, "viewer"),
    ("POST", "/v1/aeo/query", {"ids": ["BR000000001", "BR9"]}, "viewer"),
    ("GET", "/v1/agreements", None, "viewer"),
    ("POST", "/v1/aeo", RECORD, "publisher"),
    (
        "POST",
        "/v1/aeo/BR000000001/status",
        {"code": "suspended", "reason": "audit", "effective": "2026-01-01"},
        "publisher",
    ),
    ("GET", "/v1/logs", None, "viewer"),
    ("GET", "/v1/keys", None, "auditor"),
    ("GET", "/v1/forks", None, "auditor"),
    ("POST", "/v1/keys/rotate", None, "admin"),
    ("GET", "/metrics", None, "admin"),
    ("GET", "/v1/aeo/BR000000001/trail", None, "auditor"),
    ("GET", "/v1/audit", None, "auditor"),
    ("GET", "/v1/audit?format=csv&aeo_id=BR000000001", None, "auditor"),
    ("GET", "/v1/events", None, "viewer"),
    ("GET", "/v1/webhooks", None, "admin"),
    ("POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/hook"}, "admin"),
    ("GET", "/v1/openapi.json", None, "viewer"),
    ("POST", "/v1/aeo/BR000000001/erase", {"reason": "GDPR Art. 17"}, "admin"),
    ("POST", "/v1/retention/run", None, "admin"),
]
ORDER = ["viewer", "auditor", "publisher", "admin"]


@pytest.mark.parametrize(
    ("method", "path", "body", "needed"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS]
)
def test_access_matrix(
    client: tuple[TestClient, dict[str, str]], method: str, path: str, body: object, needed: str
) -> None:
    http, keys = client
    http.post("/v1/aeo", json=RECORD, headers={"Authorization": f"Bearer {keys['publisher']}"})
    for headers, expected in (
        ({}, 401),
        ({"Authorization": "Bearer mra_00_nope"}, 401),
        ({"X-API-Key": "garbage"}, 401),
    ):
        response = http.request(method, path, json=body, headers=headers)
        assert response.status_code == expected
        assert response.headers["content-type"] == "application/problem+json"
    for role in ORDER:
        response = http.request(
            method, path, json=body, headers={"Authorization": f"Bearer {keys[role]}"}
        )
        allowed = ORDER.index(role) >= ORDER.index(needed)
        assert (response.status_code < 400) == allowed, (role, response.text)
        if not allowed:
            assert response.status_code == 403


def test_publish_read_and_problem_documents(client: tuple[TestClient, dict[str, str]]) -> None:
    http, keys = client
    auth = {"Authorization": f"Bearer {keys['publisher']}"}
    records = list(sample_dicts("BR", 3))
    assert (
        len(http.post("/v1/aeo", json={"records": records}, headers=auth).json()["appended"]) == 3
    )
    got = http.get("/v1/aeo/BR000000002", headers=auth).json()
    assert got["record"]["aeo_id"] == "BR000000002"
    bad = http.post(
        "/v1/aeo", json={"records": [records[0], {**records[1], "certificate": "X"}]}, headers=auth
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "records[1].certificate"
    foreign = http.post("/v1/aeo", json=next(sample_dicts("UY", 1)), headers=auth)
    assert foreign.status_code == 409 and foreign.json()["field"] == "records[0].aeo_id"
    missing = http.get("/v1/aeo/BR999", headers=auth)
    assert missing.status_code == 404 and missing.json()["title"] == "NotFound"
    huge = http.post("/v1/aeo", content=b"x" * (MAX_BODY + 1), headers=auth)
    assert huge.status_code == 413
    health = http.get("/v1/health", headers=auth).json()
    assert health["logs"]["BR"] == 3  # nothing from the refused requests was written


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc", "/"])
def test_nothing_answers_without_a_key(
    client: tuple[TestClient, dict[str, str]], path: str
) -> None:
    http, _ = client
    response = http.get(path)
    assert response.status_code in (401, 404)
    assert response.headers["content-type"] == "application/problem+json"


def test_status_queries_single_by_identifier_and_batch(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    http, keys = client
    auth = {"Authorization": f"Bearer {keys['viewer']}"}
    records = list(sample_dicts("BR", 5))
    publisher = {"Authorization": f"Bearer {keys['publisher']}"}
    assert http.post("/v1/aeo", json={"records": records}, headers=publisher).status_code == 200
    ident = records[2]["identifiers"][0]
    found = http.get(
        "/v1/aeo", params={"scheme": ident["scheme"], "value": ident["value"]}, headers=auth
    ).json()["results"]
    assert [r["record"]["aeo_id"] for r in found] == [records[2]["aeo_id"]]
    none = http.get("/v1/aeo", params={"scheme": "EORI", "value": "XX1"}, headers=auth)
    assert none.status_code == 200 and none.json()["results"] == []

    ids = [r["aeo_id"] for r in records] + ["BR999999999", "br000000001"]
    batch = http.post("/v1/aeo/query", json={"ids": ids}, headers=auth).json()
    assert sorted(batch["found"]) == sorted(r["aeo_id"] for r in records)
    assert batch["unknown"] == ["BR999999999"]  # a repeated id (any case) is answered once
    with_evidence = http.post(
        "/v1/aeo/query", json={"ids": ids[:2], "evidence": True}, headers=auth
    ).json()
    assert all(
        a["evidence"]["format"] == "mra-evidence/v2" for a in with_evidence["found"].values()
    )

    over = http.post("/v1/aeo/query", json={"ids": ["BR1"] * 10_001}, headers=auth)
    assert over.status_code == 422 and over.json()["field"] == "ids"
    assert "at most 10,000 ids" in over.json()["detail"]
    malformed = http.post("/v1/aeo/query", json={"ids": ["BR1", "not an id"]}, headers=auth)
    assert malformed.status_code == 422 and malformed.json()["field"] == "ids[1]"
    bad_scheme = http.get("/v1/aeo", params={"scheme": "?", "value": "1"}, headers=auth)
    assert bad_scheme.status_code == 422 and bad_scheme.json()["field"] == "scheme"
    assert http.get("/v1/aeo/not-an-id", headers=auth).status_code == 422


def test_status_as_of_a_point_in_time(client: tuple[TestClient, dict[str, str]]) -> None:
    http, keys = client
    auth = {"Authorization": f"Bearer {keys['publisher']}"}
    before = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    record = next(sample_dicts("BR", 1, start=77))
    assert http.post("/v1/aeo", json=record, headers=auth).status_code == 200
    time.sleep(0.01)
    between = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    change = {"code": "suspended", "reason": "audit", "effective": "2026-01-01"}
    path = f"/v1/aeo/{record['aeo_id']}"
    assert http.post(f"{path}/status", json=change, headers=auth).status_code == 200

    def status(as_of: str | None) -> object:
        params = {"as_of": as_of} if as_of else {}
        answer = http.get(path, params=params, headers=auth)
        return answer.json()["record"]["status"]["code"] if answer.status_code == 200 else 404

    assert status(None) == "suspended"
    assert status(between) == record["status"]["code"] == "valid"
    assert status(before) == 404  # it did not exist yet: answered like an unknown id
    batch = http.post(
        "/v1/aeo/query", json={"ids": [record["aeo_id"]], "as_of": between}, headers=auth
    ).json()
    assert batch["found"][record["aeo_id"]]["record"]["status"]["code"] == "valid"
    with_evidence = http.get(path, params={"as_of": between, "evidence": "true"}, headers=auth)
    assert with_evidence.json()["evidence"]["seq"] == with_evidence.json()["seq"]
    bad = http.get(path, params={"as_of": "yesterday"}, headers=auth)
    assert bad.status_code == 422 and bad.json()["field"] == "as_of"


def test_the_fast_read_path_answers_like_the_api(client: tuple[TestClient, dict[str, str]]) -> None:
    http, keys = client
    publisher = {"Authorization": f"Bearer {keys['publisher']}"}
    assert http.post("/v1/aeo", json=RECORD, headers=publisher).status_code == 200
    viewer = {"Authorization": f"Bearer {keys['viewer']}"}
    fast = http.get("/v1/aeo/BR000000001", headers=viewer)  # no query string: the fast path
    full = http.get("/v1/aeo/BR000000001?evidence=false", headers=viewer)  # the API route
    assert fast.status_code == full.status_code == 200
    assert fast.json() == full.json() and fast.json()["record"]["aeo_id"] == "BR000000001"
    assert fast.headers["content-type"] == full.headers["content-type"] == "application/json"
    # Whatever the fast path does not answer, the API answers, with its problem documents.
    lower = http.get("/v1/aeo/br000000001", headers=viewer)
    assert lower.status_code == 200 and lower.json() == full.json()
    for path, headers, status in (
        ("/v1/aeo/BR000000404", viewer, 404),
        ("/v1/aeo/not-an-id", viewer, 422),
        ("/v1/aeo/BR000000001", {}, 401),
        ("/v1/aeo/BR000000001", {"X-API-Key": "mra_00_wrong"}, 401),
    ):
        answer = http.get(path, headers=headers)
        assert answer.status_code == status, path
        assert answer.headers["content-type"] == "application/problem+json"
    x_api_key = http.get("/v1/aeo/BR000000001", headers={"X-API-Key": keys["viewer"]})
    assert x_api_key.json() == full.json()


def test_erase_over_the_api(client: tuple[TestClient, dict[str, str]]) -> None:
    http, keys = client
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    auditor = {"Authorization": f"Bearer {keys['auditor']}"}
    http.post("/v1/aeo", json=RECORD, headers=admin)
    for body, field in (({}, "reason"), ({"reason": ""}, "reason"), ({"why": "x"}, "reason")):
        bad = http.post("/v1/aeo/BR000000001/erase", json=body, headers=admin)
        assert bad.status_code == 422 and bad.json()["field"] == field, bad.text
    assert http.post("/v1/aeo/BR777/erase", json={"reason": "x"}, headers=admin).status_code == 404
    assert http.get("/v1/aeo/BR000000001", headers=admin).status_code == 200

    done = http.post("/v1/aeo/BR000000001/erase", json={"reason": "GDPR Art. 17"}, headers=admin)
    assert done.status_code == 200 and done.json()["entries"] == [0]
    assert http.get("/v1/aeo/BR000000001", headers=admin).status_code == 404
    again = http.post("/v1/aeo/BR000000001/erase", json={"reason": "again"}, headers=admin)
    assert again.status_code == 409
    trail = http.get("/v1/aeo/BR000000001/trail", headers=auditor).json()
    assert trail["versions"][0]["erased"] is True
    assert trail["erasures"][0]["reason"] == "GDPR Art. 17"
    admin_id = keys["admin"].split("_")[1]
    assert [r["actor"] for r in trail["erase_requests"]] == [f"key:{admin_id}"]


def test_request_metrics_are_labelled_by_route_template(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    """Whatever paths clients send, the endpoint label takes one value per route: a scan of
    random paths cannot grow the metrics without bound."""
    http, keys = client
    auth = {"Authorization": f"Bearer {keys['admin']}"}
    http.post("/v1/aeo", json=RECORD, headers=auth)
    for n in range(30):
        http.get(f"/v1/aeo/BR{n:09d}", headers=auth)  # the fast path, found or not
        http.get(f"/v1/scan-{n}/x", headers=auth)
        http.get(f"/probe-{n}.php", headers=auth)
    text = http.get("/metrics", headers=auth).text
    endpoints = {
        line.split('endpoint="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("mra_requests_total{")
    }
    assert endpoints == {"/v1/aeo", "/v1/aeo/{aeo_id}", "unmatched"}


@pytest.mark.parametrize(
    "url",
    [
        "http://[",
        "http://host:99999/hook",
        "http://host:port/",
        "ftp://host/",
        "http:///",
        "https://host/hook\n",
        "https://ho\tst/hook",
        "https://host/a b",
    ],
)
def test_unusable_webhook_urls_are_refused_by_name(
    client: tuple[TestClient, dict[str, str]], url: str
) -> None:
    http, keys = client
    auth = {"Authorization": f"Bearer {keys['admin']}"}
    answer = http.post("/v1/webhooks", json={"url": url}, headers=auth)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "url"
    assert http.get("/v1/webhooks", headers=auth).json() == []


def test_a_batch_answers_each_record_with_the_bytes_of_a_single_read(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    http, keys = client
    records = list(sample_dicts("BR", 3))
    records[1]["legal_name"] = 'Café "Ñandú" \\ 東京 😀 Ltda'  # escapes and non-ASCII as stored
    publisher = {"Authorization": f"Bearer {keys['publisher']}"}
    assert http.post("/v1/aeo", json={"records": records}, headers=publisher).status_code == 200
    viewer = {"Authorization": f"Bearer {keys['viewer']}"}
    ids = [records[2]["aeo_id"], "BR999999999", records[0]["aeo_id"], records[1]["aeo_id"]]
    batch = http.post("/v1/aeo/query", json={"ids": ids}, headers=viewer)
    assert batch.status_code == 200 and batch.headers["content-type"] == "application/json"
    found = [i for i in ids if i != "BR999999999"]
    singles = [
        b'"%s":%s' % (i.encode(), http.get(f"/v1/aeo/{i}", headers=viewer).content) for i in found
    ]
    assert batch.content == b'{"found":{%s},"unknown":["BR999999999"]}' % b",".join(singles)
    assert (
        batch.json()["found"][records[1]["aeo_id"]]["record"]["legal_name"]
        == records[1]["legal_name"]
    )

    auditor = {"Authorization": f"Bearer {keys['auditor']}"}
    rows = http.get("/v1/audit", params={"action": "query"}, headers=auditor).json()["rows"]
    batch_rows = [r for r in rows if r["channel"] == "POST /v1/aeo/query"]
    assert [r["aeo_id"] for r in batch_rows] == [*found, "BR999999999"]  # found, then unknown
    assert len({r["ts"] for r in batch_rows}) == len({r["actor"] for r in batch_rows}) == 1


def test_a_serving_node_bounds_how_long_a_thread_holds_the_interpreter_lock(
    tmp_path: Path,
) -> None:
    """Reads on the event loop wait at most ``LOCK_SWITCH_SECONDS`` for a publishing thread
    (not Python's 5 ms) once the node serves."""
    home = NodeHome(path=tmp_path / "br")
    home.init("BR", "Receita Federal do Brasil")
    default = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    try:
        with TestClient(create_app(home)) as served:
            assert served.get("/v1/health").status_code == 401  # serving, and no key given
            assert sys.getswitchinterval() == pytest.approx(LOCK_SWITCH_SECONDS)
            assert LOCK_SWITCH_SECONDS < 0.005
    finally:
        sys.setswitchinterval(default)
