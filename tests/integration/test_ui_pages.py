"""The web UI's pages as an auditor reads them, over the app's HTTP interface (the browser
flows are in tests/system/test_web_ui.py): actors named with their labels, no Python ``None``
in a history, and a search without a hit saying what that can mean."""

from __future__ import annotations

import contextlib
import html
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from network.forks import entries_fork
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


def _query_rows(page: str) -> list[int]:
    """The access-log rows the queries table of a record page lists, in its order."""
    table = page[page.index('id="queries"') : page.index("</table>", page.index('id="queries"'))]
    return [int(n) for n in re.findall(r"<tr><td>(\d+)</td>", table)]


def test_the_queries_table_shows_50_rows_a_page_newest_first_and_pages_back(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    """Issue 23, point 6: a record queried 120 times does not list 120 rows on its page."""
    http, keys = client
    publisher = {"Authorization": f"Bearer {keys['publisher']}"}
    assert http.post("/v1/aeo", json=next(sample_dicts("BR", 1)), headers=publisher).is_success
    for _ in range(120):
        assert http.get("/v1/aeo/BR000000001", headers=publisher).status_code == 200
    http.post("/ui/login", data={"api_key": keys["auditor"]})
    first = http.get("/ui/aeo/BR000000001", params={"in_force_on": "2026-12-01"})
    assert first.status_code == 200
    # 121 queries: the 120 reads, then this page's own (written before the page is drawn).
    rows = _query_rows(first.text)
    assert len(rows) == 50 and rows == sorted(rows, reverse=True)
    assert "UI /ui/aeo/{aeo_id}" in first.text.split('id="queries"')[1].split("</tr>")[1]
    pages = [rows]
    older = re.search(r'href="([^"]+)" id="queries-older"', first.text)
    while older is not None:
        link = html.unescape(older.group(1))
        assert "in_force_on=2026-12-01" in link  # the page's other parameters are kept
        following = http.get(link)
        assert following.status_code == 200 and 'id="queries-newest"' in following.text
        pages.append(_query_rows(following.text))
        older = re.search(r'href="([^"]+)" id="queries-older"', following.text)
    assert [len(p) for p in pages] == [50, 50, 21]
    listed = [row for page in pages for row in page]
    assert listed == sorted(set(listed), reverse=True)  # each row once, newest to oldest
    assert http.get("/ui/aeo/BR000000001", params={"queries_before": "x"}).status_code == 422


def test_the_network_page_shows_fork_status_and_refreshes_itself(
    client: tuple[TestClient, dict[str, str]], tmp_path: Path
) -> None:
    """Issue 23, point 6: "no forks" said plainly, the alarm naming the origin and what its
    evidence shows once there is one, and the page reloads itself to show it."""
    http, keys = client
    http.post("/ui/login", data={"api_key": keys["auditor"]})
    calm = http.get("/ui/")
    assert calm.status_code == 200
    assert re.search(r'<meta http-equiv="refresh" content="(\d+)">', calm.text).group(1) == "10"
    forks = calm.text[calm.text.index('id="forks"') :]
    assert "no forks" in forks[: forks.index("</section>")]
    assert "Fork alarm" not in calm.text

    # Evidence of UY signing two entries for seq 7 reaches this node (as a peer reports it).
    evidence = entries_fork("UY", 7, (b"one body", b"sig 1"), (b"another body", b"sig 2"))
    store = SqliteStore.open(tmp_path / "br" / "ledger.db")
    try:
        assert store.add_fork("UY", evidence.evidence, "peer:AR", 1_764_900_000_000)
    finally:
        store.close()
    alarm = http.get("/ui/").text
    section = alarm[alarm.index('id="forks"') :]
    section = section[: section.index("</section>")]
    assert "Fork alarm" in section and "no forks" not in section
    assert "Open fork evidence against: <strong>UY</strong>" in section
    assert (
        "<td><strong>UY</strong></td><td>two different entries signed for seq 7</td>"
        "<td>2025-12-05T02:00:00.000+00:00</td><td>peer:AR</td>"
    ) in section


def test_the_lost_tail_page_is_an_administrators_and_is_noted_in_the_access_log(
    tmp_path: Path, client: tuple[TestClient, dict[str, str]]
) -> None:
    """Issue 25, point 2, in the UI: the page shows what the database holds and what the
    peers hold beyond it (a node outside a network: no peer, nothing lost); a lesser key is
    sent back to the overview; each opening is an access-log row."""
    http, keys = client
    publisher = {"Authorization": f"Bearer {keys['publisher']}"}
    assert http.post("/v1/aeo", json=next(sample_dicts("BR", 1)), headers=publisher).is_success
    http.post("/ui/login", data={"api_key": keys["auditor"]})
    assert "/ui/lost-tail" not in http.get("/ui/").text
    refused = http.get("/ui/lost-tail", follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"] == "/ui/"

    store = SqliteStore.open(tmp_path / "br" / "ledger.db")
    admin = create_key(store, "admin", "BR operations", 0)
    store.close()
    http.post("/ui/login", data={"api_key": admin})
    assert '<a href="/ui/lost-tail">Lost tail</a>' in http.get("/ui/").text
    page = http.get("/ui/lost-tail")
    assert page.status_code == 200
    assert "This node's database holds <strong>1</strong> entries of its own log" in page.text
    assert 'id="nothing-lost"' in page.text and 'id="lost"' not in page.text
    deadline = time.monotonic() + 5  # the access log is written in groups (FLUSH_INTERVAL)
    while True:
        with contextlib.closing(sqlite3.connect(tmp_path / "br" / "ledger.access.db")) as db:
            rows = db.execute(
                "SELECT actor, channel FROM access_log WHERE action = 'lost-tail'"
            ).fetchall()
        if rows or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert rows == [(f"key:{admin.split('_')[1]}", "UI GET /ui/lost-tail")]
