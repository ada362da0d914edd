"""Both clocks over HTTP (issue 23, point 4): legal time (``in_force_on``), ledger time
(``as_of``) and both together, in the single, batch and by-identifier queries; bad dates are
problem documents naming the parameter; the OpenAPI document states the parameters."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from node.app.api import create_app
from node.core.sample import sample_dicts
from node.host.apikeys import create_key
from node.host.home import NodeHome
from node.store.sqlite import SqliteStore

REVOKED = {"code": "revoked", "reason": "fraud", "effective": "2026-11-01"}


@pytest.fixture
def http(tmp_path: Path) -> Iterator[TestClient]:
    home = NodeHome(path=tmp_path / "br")
    home.init("BR", "Receita Federal do Brasil")
    store = SqliteStore.open(home.db_path)
    key = create_key(store, "publisher", "test publisher", 0)
    store.close()
    with TestClient(create_app(home), headers={"Authorization": f"Bearer {key}"}) as client:
        yield client


def trader() -> dict[str, Any]:
    """A record authorised in 2025, entered today."""
    data = next(sample_dicts("BR", 1, start=41))
    data["authorised"] = "2025-03-10"
    data["status"] = {"code": "valid", "reason": None, "effective": "2025-03-10"}
    return data


@pytest.fixture
def history(http: TestClient) -> dict[str, Any]:
    """Entered today; revoked, back-dated to 2026-11-01, a moment later. Returns the record
    and an instant between the two recordings."""
    record = trader()
    assert http.post("/v1/aeo", json=record).status_code == 200
    time.sleep(0.01)
    between = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    path = f"/v1/aeo/{record['aeo_id']}/status"
    assert http.post(path, json=REVOKED).status_code == 200
    return {"record": record, "between": between}


def status_of(answer: dict[str, Any]) -> str:
    code: str = answer["record"]["status"]["code"]
    return code


def test_a_record_entered_today_answers_for_its_2025_dates(
    http: TestClient, history: dict[str, Any]
) -> None:
    path = f"/v1/aeo/{history['record']['aeo_id']}"
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    # Ledger time: yesterday the ledger held nothing of it.
    assert http.get(path, params={"as_of": yesterday}).status_code == 404
    # Legal time: in force in 2025 as now known.
    answer = http.get(path, params={"in_force_on": "2025-06-01"})
    assert answer.status_code == 200
    assert status_of(answer.json()) == "valid" and answer.json()["seq"] == 0
    assert answer.json()["in_force_on"] == "2025-06-01" and "as_of" not in answer.json()
    # Before its authorisation took effect it was not in force; the problem says which date.
    before = http.get(path, params={"in_force_on": "2025-03-09"})
    assert before.status_code == 404 and "2025-03-09" in before.json()["detail"]
    # Both: in force in 2025, as the ledger knew it yesterday: it knew nothing yet.
    both = {"in_force_on": "2025-06-01", "as_of": yesterday}
    assert http.get(path, params=both).status_code == 404


def test_a_back_dated_revocation_under_each_clock(
    http: TestClient, history: dict[str, Any]
) -> None:
    path = f"/v1/aeo/{history['record']['aeo_id']}"
    between = history["between"]

    def read(**params: str) -> dict[str, Any]:
        answer = http.get(path, params=params)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    latest = read()
    assert status_of(latest) == "revoked"
    assert "in_force_on" not in latest and "as_of" not in latest  # the default, unchanged
    assert status_of(read(in_force_on="2026-11-15")) == "revoked"  # as now known
    assert status_of(read(in_force_on="2026-10-31")) == "valid"  # before it took effect
    then = read(as_of=between)  # the ledger, before the revocation was recorded
    assert status_of(then) == "valid"
    assert then["as_of"].endswith("Z") and "in_force_on" not in then
    both = read(in_force_on="2026-11-15", as_of=between)  # in force then, as known then
    assert status_of(both) == "valid"
    assert both["in_force_on"] == "2026-11-15"
    assert both["as_of"] == datetime.fromisoformat(between).isoformat(
        timespec="milliseconds"
    ).replace("+00:00", "Z")
    with_evidence = read(in_force_on="2026-11-15", evidence="true")
    assert with_evidence["evidence"]["seq"] == with_evidence["seq"] == 1


def test_batch_and_identifier_queries_read_the_clocks(
    http: TestClient, history: dict[str, Any]
) -> None:
    record = history["record"]
    aeo_id = record["aeo_id"]

    def batch(**clocks: str) -> dict[str, Any]:
        answer = http.post("/v1/aeo/query", json={"ids": [aeo_id, "BR9"], **clocks})
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    now = batch(in_force_on="2026-11-15")
    assert status_of(now["found"][aeo_id]) == "revoked" and now["unknown"] == ["BR9"]
    assert now["found"][aeo_id]["in_force_on"] == "2026-11-15"
    then = batch(in_force_on="2026-11-15", as_of=history["between"])
    assert status_of(then["found"][aeo_id]) == "valid"
    assert batch(in_force_on="2024-12-31")["unknown"] == [aeo_id, "BR9"]
    assert "in_force_on" not in batch()["found"][aeo_id]

    identifier = record["identifiers"][0]
    params = {"scheme": identifier["scheme"], "value": identifier["value"]}
    [found] = http.get("/v1/aeo", params={**params, "in_force_on": "2026-11-15"}).json()["results"]
    assert status_of(found) == "revoked" and found["in_force_on"] == "2026-11-15"
    [found] = http.get(
        "/v1/aeo", params={**params, "in_force_on": "2026-11-15", "as_of": history["between"]}
    ).json()["results"]
    assert status_of(found) == "valid"
    assert http.get("/v1/aeo", params={**params, "in_force_on": "2025-01-01"}).json() == {
        "results": []
    }


BAD_DATES = ["2026-13-01", "2026-02-30", "20261115", "2026-11-15T00:00:00", "yesterday", ""]


@pytest.mark.parametrize("bad", BAD_DATES)
def test_a_bad_date_is_a_problem_naming_in_force_on(
    http: TestClient, history: dict[str, Any], bad: str
) -> None:
    aeo_id = history["record"]["aeo_id"]
    identifier = history["record"]["identifiers"][0]
    answers = [
        http.get(f"/v1/aeo/{aeo_id}", params={"in_force_on": bad}),
        http.post("/v1/aeo/query", json={"ids": [aeo_id], "in_force_on": bad}),
        http.get("/v1/aeo", params={**identifier, "in_force_on": bad}),
    ]
    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["field"] == "in_force_on"


def test_a_bad_instant_is_a_problem_naming_as_of(http: TestClient) -> None:
    both = {"in_force_on": "2026-11-15", "as_of": "soon"}
    for answer in (
        http.get("/v1/aeo/BR1", params=both),
        http.post("/v1/aeo/query", json={"ids": ["BR1"], **both}),
        http.post("/v1/aeo/query", json={"ids": ["BR1"], "in_force_on": 20261115}),
    ):
        assert answer.status_code == 422
    assert http.get("/v1/aeo/BR1", params=both).json()["field"] == "as_of"
    # An instant that cannot be echoed back in ISO 8601 is refused too, not a server error.
    for edge in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"):
        answer = http.get("/v1/aeo/BR1", params={"as_of": edge})
        assert answer.status_code == 422 and answer.json()["field"] == "as_of"


def test_the_openapi_document_states_both_clocks(http: TestClient) -> None:
    document = http.get("/v1/openapi.json").json()
    for path in ("/v1/aeo/{aeo_id}", "/v1/aeo"):
        parameters = {p["name"]: p for p in document["paths"][path]["get"]["parameters"]}
        assert parameters["in_force_on"]["schema"]["format"] == "date"
        assert "legal time" in parameters["in_force_on"]["description"]
        assert "ledger time" in parameters["as_of"]["description"]
    query = document["components"]["schemas"]["Query"]["properties"]
    assert {"as_of", "in_force_on"} <= set(query)
    for shape in document["components"]["schemas"]["Answer"]["oneOf"]:
        assert {"as_of", "in_force_on"} <= set(shape["properties"])
