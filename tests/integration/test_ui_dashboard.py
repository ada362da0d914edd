"""The UI's dashboard through the ASGI app on a real SQLite file: own records counted by status,
and status changes received from partners, newest first, a page of 20 at a time."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from node.app.api import create_app
from node.app.ui_officer import DASHBOARD_PAGE
from node.core.sample import sample_dicts
from node.host.apikeys import create_key
from node.host.home import NodeHome
from node.store.sqlite import SqliteStore

RECEIVED = 25  # views received from UY: more than a page


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    home = NodeHome(path=tmp_path / "br")
    home.init("BR", "Receita Federal do Brasil")
    store = SqliteStore.open(home.db_path)
    publisher = create_key(store, "publisher", "registry", 0)
    viewer = create_key(store, "viewer", "desk", 0)
    auditor = create_key(store, "auditor", "audit", 0)
    # Views as replication keeps them (their signatures are checked before, by the caller).
    store.add_views(
        (
            "UY",
            seq,
            str(data["aeo_id"]),
            "MRA-BR-UY",
            orjson.dumps({"aeo_id": data["aeo_id"], "status": data["status"]}),
            b"\x00" * 64,
            1_760_000_000_000 + seq,
        )
        for seq, data in enumerate(sample_dicts("UY", RECEIVED), start=1)
    )
    store.close()
    with TestClient(create_app(home)) as client:
        bearer = {"Authorization": f"Bearer {publisher}"}
        for data in sample_dicts("BR", 3):
            assert client.post("/v1/aeo", json=data, headers=bearer).status_code == 200
        suspended = {"code": "suspended", "reason": "audit", "effective": "2026-11-01"}
        answer = client.post("/v1/aeo/BR000000002/status", json=suspended, headers=bearer)
        assert answer.status_code == 200
        assert client.post("/ui/login", data={"api_key": viewer}).status_code == 200
        yield client, auditor


def counts(html: str) -> dict[str, int]:
    return {s: int(n) for s, n in re.findall(r'data-status="(\w+)">(\d+)<', html)}


def received(html: str) -> list[str]:
    return re.findall(r'<a href="/ui/aeo/(\w+)">', html)


def test_counts_and_received_changes_paged(dashboard: tuple[TestClient, str]) -> None:
    client, auditor = dashboard
    first = client.get("/ui/dashboard")
    assert first.status_code == 200
    assert counts(first.text) == {
        "valid": 2,
        "suspended": 1,
        "revoked": 0,
        "annulled": 0,
        "total": 3,
    }
    newest = received(first.text)
    # Newest first; the own records' events are not "received from partners".
    assert newest == [f"UY{n:09d}" for n in range(RECEIVED, RECEIVED - DASHBOARD_PAGE, -1)]
    older = re.search(r'href="/ui/dashboard\?before=(\d+)" id="older"', first.text)
    assert older is not None
    rest = client.get("/ui/dashboard", params={"before": older.group(1)})
    assert received(rest.text) == [f"UY{n:09d}" for n in range(RECEIVED - DASHBOARD_PAGE, 0, -1)]
    assert 'id="older"' not in rest.text and 'id="newest"' in rest.text
    # The records shown are reads, noted in the access log as a search's results are.
    audit = client.get(
        "/v1/audit", params={"action": "query"}, headers={"Authorization": f"Bearer {auditor}"}
    )
    shown = [r["aeo_id"] for r in audit.json()["rows"] if r["channel"] == "UI /ui/dashboard"]
    assert sorted(shown) == [f"UY{n:09d}" for n in range(1, RECEIVED + 1)]
