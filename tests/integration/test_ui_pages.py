"""The web UI's pages as an auditor reads them, over the app's HTTP interface (the browser
flows are in tests/system/test_web_ui.py): actors named with their labels, no Python ``None``
in a history, and a search without a hit saying what that can mean."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from node.app.api import create_app
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
        "auditor": create_key(store, "auditor", "BR audit office", 0),
        "publisher": create_key(store, "publisher", "UY border system", 0),
    }
    store.close()
    with TestClient(create_app(home)) as client:
        yield client, keys


def test_the_record_page_names_actors_by_label_and_shows_no_none(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    http, keys = client
    record = next(sample_dicts("BR", 1))
    publisher = {"Authorization": f"Bearer {keys['publisher']}"}
    assert http.post("/v1/aeo", json=record, headers=publisher).status_code == 200
    suspended = {"code": "suspended", "reason": "audit finding", "effective": "2026-11-01"}
    assert (
        http.post("/v1/aeo/BR000000001/status", json=suspended, headers=publisher).status_code
        == 200
    )
    login = http.post("/ui/login", data={"api_key": keys["auditor"]}, follow_redirects=True)
    assert login.status_code == 200
    page = http.get("/ui/aeo/BR000000001").text
    history = page[page.index('id="history"') : page.index('id="deliveries"')]
    assert "status.reason: — → audit finding" in history  # the first version had no reason
    assert "None" not in history
    auditor_id = keys["auditor"].split("_")[1]
    queries = page[page.index('id="queries"') :]
    assert f"key:{auditor_id} (BR audit office)" in queries

    for wanted in ("BR000000404", "EORI:BR00000000000"):
        found = http.get("/ui/search", params={"q": wanted}).text
        assert "not held here (unknown, or not shared with you)" in found, wanted
    missing = http.get("/ui/aeo/BR000000404")
    assert missing.status_code == 404
    assert "not held here (unknown, or not shared with you)" in missing.text
