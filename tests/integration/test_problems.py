"""Problem documents as an integrator reads them: ``field`` names the field, ``detail`` says what
is wrong with it without repeating the name, and an endpoint names the fields of its own body."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from node.app.api import create_app
from node.core.sample import sample_dicts
from node.host.apikeys import create_key
from node.host.home import NodeHome
from node.store.sqlite import SqliteStore


@pytest.fixture
def http(tmp_path: Path) -> Iterator[TestClient]:
    home = NodeHome(path=tmp_path / "br")
    home.init("BR", "Receita Federal do Brasil")
    store = SqliteStore.open(home.db_path)
    key = create_key(store, "publisher", "registry", 0)
    store.close()
    with TestClient(create_app(home), headers={"Authorization": f"Bearer {key}"}) as client:
        yield client


def refused(answer: Any, status: int, field: str) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["field"] == field, body
    assert not body["detail"].startswith(field), body  # said once, in field
    return str(body["detail"])


def test_detail_does_not_repeat_the_field(http: TestClient) -> None:
    record = next(sample_dicts("BR", 1))
    bad = http.post("/v1/aeo", json={**record, "certificate": "X"})
    assert "AEOC" in refused(bad, 422, "records[0].certificate")
    foreign = http.post("/v1/aeo", json=next(sample_dicts("UY", 1)))
    refused(foreign, 409, "records[0].aeo_id")
    refused(http.get("/v1/aeo/BR000000404"), 404, "aeo_id")


def test_a_status_change_names_the_fields_of_its_own_body(http: TestClient) -> None:
    record = next(sample_dicts("BR", 1))
    assert http.post("/v1/aeo", json=record).status_code == 200
    path = f"/v1/aeo/{record['aeo_id']}/status"
    early = {"code": "suspended", "reason": "audit", "effective": "2000-01-01"}
    assert "authorisation" in refused(http.post(path, json=early), 422, "effective")
    revoked = {"code": "revoked", "reason": "fraud", "effective": "2026-11-01"}
    assert http.post(path, json=revoked).status_code == 200
    again = {"code": "valid", "reason": None, "effective": "2026-11-02"}
    assert "final" in refused(http.post(path, json=again), 409, "code")
    unknown = {"code": "paused", "reason": "x", "effective": "2026-11-02"}
    refused(http.post(path, json=unknown), 422, "code")
    assert http.get("/v1/health").json()["logs"]["BR"] == 2  # the refusals appended nothing
