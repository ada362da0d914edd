"""The record page reads both clocks (issue 23, point 4) and names who wrote each version
(point 1): the UI through the ASGI transport, signed in with an API key."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from node.app.api import create_app
from node.host.apikeys import create_key
from node.host.home import NodeHome
from node.store.sqlite import SqliteStore
from tests.integration.test_api_clocks import REVOKED, trader


def status_shown(html: str) -> str:
    found = re.search(r'id="status">([a-z]+)<', html)
    assert found is not None, html
    return found.group(1)


def test_the_record_page_answers_for_a_date_an_instant_and_both(tmp_path: Path) -> None:
    home = NodeHome(path=tmp_path / "br")
    home.init("BR", "Receita Federal do Brasil")
    store = SqliteStore.open(home.db_path)
    key = create_key(store, "publisher", "officer", 0)
    store.close()
    record = trader()
    api = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(home)) as http:
        assert http.post("/v1/aeo", json=record, headers=api).status_code == 200
        time.sleep(0.01)
        between = datetime.now(UTC).isoformat()
        time.sleep(0.01)
        path = f"/ui/aeo/{record['aeo_id']}"
        assert http.post(f"/v1/aeo/{record['aeo_id']}/status", json=REVOKED, headers=api)
        assert http.post("/ui/login", data={"api_key": key}).status_code == 200

        def page(**clocks: str) -> str:
            shown = http.get(path, params=clocks)
            assert shown.status_code == 200, shown.text
            return shown.text

        latest = page()
        assert status_shown(latest) == "revoked" and "current state, as now known" in latest
        legal = page(in_force_on="2026-11-15")
        assert status_shown(legal) == "revoked"
        assert "status in force on 2026-11-15, as now known" in legal
        assert status_shown(page(in_force_on="2026-10-31")) == "valid"
        assert status_shown(page(as_of=between)) == "valid"
        both = page(in_force_on="2026-11-15", as_of=between)
        assert status_shown(both) == "valid" and "as known at" in both
        assert status_shown(page(in_force_on="", as_of="")) == "revoked"  # an empty form

        early = http.get(path, params={"in_force_on": "2025-03-09"})
        assert early.status_code == 404 and "in force on 2025-03-09" in early.text
        bad = http.get(path, params={"in_force_on": "15/11/2026"})
        assert bad.status_code == 422 and "in_force_on" in bad.text
        # Who wrote each version: the key, by its actor name, in the status history.
        history = latest[latest.index('id="history"') :]
        history = history[: history.index("</table>")]
        assert "written by" in history and history.count("<td>key:") == 2
