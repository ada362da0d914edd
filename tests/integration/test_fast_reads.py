"""The fast path of the two busiest reads (node.app.api.middleware.FastReads) against the API's
own routes: the same requests, answered with the fast path on and off, give the same status,
the same bytes, the same headers, the same access-log rows and the same request counts; and a
cached API key check refuses a revoked or altered key at once."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from network.tls_scope import FAST_ANSWER_HOOK
from node.app.api import create_app
from node.app.api.app import NodeApi
from node.core.sample import sample_dicts
from node.host.apikeys import check_key, create_key
from node.host.home import NodeHome
from node.store.sqlite import SqliteStore
from node.store.sqlite.store import KEYS_SEEN

RECORDS: list[dict[str, Any]] = list(sample_dicts("BR", 3))
EORI = next(i["value"] for i in RECORDS[0]["identifiers"] if i["scheme"] == "EORI")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    home = NodeHome(path=tmp_path / "br")
    home.init("BR", "Receita Federal do Brasil")
    store = SqliteStore.open(home.db_path)
    keys = {role: create_key(store, role, f"test {role}", 0) for role in ("viewer", "publisher")}
    store.close()
    with TestClient(create_app(home)) as http:
        publisher = {"Authorization": f"Bearer {keys['publisher']}"}
        answer = http.post("/v1/aeo", json={"records": RECORDS}, headers=publisher)
        assert answer.status_code == 200
        yield http, keys


def _answers(
    http: TestClient, path: str, headers: dict[str, str], hooked: bool = False
) -> dict[str, Any]:
    """The answer to ``GET path`` and what it leaves behind: access-log rows and counts. With
    ``hooked``, the answer of the server's protocol hook (network.tls_scope) instead: its
    status is 200 when it answers, None when it declines."""
    app = http.app
    assert isinstance(app, NodeApi)
    node = app.state.node
    node.access.flush()
    before = node.store.access_size()
    if hooked:
        hook = http.app_state[FAST_ANSWER_HOOK]
        target, _, query = path.partition("?")
        fields = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        answered = hook(unquote(target), query.encode(), [(b"host", b"node"), *fields])
        answer = Response(200, headers=answered[0], content=answered[1]) if answered else None
    else:
        answer = http.get(path, headers=headers)
    node.access.flush()
    rows = [
        {k: v for k, v in row.items() if k not in ("seq", "ts", "hash")}
        for row in node.store.access_rows(after=before - 1)
    ]
    counts = {
        (s.labels["endpoint"], s.labels["status"]): s.value
        for metric in node.metrics.requests.collect()
        for s in metric.samples
        if s.name == "mra_requests_total"
    }
    if answer is None:
        return {"status": None, "rows": rows, "counts": counts}
    return {
        "status": answer.status_code,
        "body": answer.content,
        "headers": [(k, v) for k, v in answer.headers.multi_items() if k != "date"],
        "rows": rows,
        "counts": counts,
    }


def _compare(http: TestClient, path: str, headers: dict[str, str]) -> tuple[int, bool]:
    """The status of ``GET path``, and whether the fast path answered it; asserts that the
    API alone answers it alike (status, bytes, headers, access rows, request counts), and the
    server's protocol hook too, or declines it having changed nothing."""
    app = http.app
    assert isinstance(app, NodeApi)
    fast_path = app.fast
    base = _answers(http, path, headers)
    fast = _answers(http, path, headers)
    app.fast = None  # the API's routes alone
    try:
        full = _answers(http, path, headers)
    finally:
        app.fast = fast_path
    for name in ("status", "body", "headers", "rows"):
        assert fast[name] == full[name], (path, name, fast[name], full[name])
    # The same counter moved by one in both modes.
    moved = {k: v - base["counts"].get(k, 0) for k, v in fast["counts"].items()}
    moved_full = {k: v - fast["counts"].get(k, 0) for k, v in full["counts"].items()}
    assert {k: v for k, v in moved.items() if v} == {k: v for k, v in moved_full.items() if v}
    assert sum(moved.values()) == 1
    hooked = _answers(http, path, headers, hooked=True)
    if hooked["status"] is None:  # declined, having changed nothing
        assert (hooked["rows"], hooked["counts"]) == ([], full["counts"]), path
    else:
        for name in ("body", "rows"):
            assert hooked[name] == full[name], (path, name)
        assert ("content-type", "application/json") in hooked["headers"]
        moved_hooked = {k: v - full["counts"].get(k, 0) for k, v in hooked["counts"].items()}
        assert {k: v for k, v in moved_hooked.items() if v} == {k: v for k, v in moved.items() if v}
    return fast["status"], hooked["status"] is not None


def test_finding_by_identifier_answers_like_the_api(
    served: tuple[TestClient, dict[str, str]],
) -> None:
    http, keys = served
    viewer = {"Authorization": f"Bearer {keys['viewer']}"}
    by_header = {"X-API-Key": keys["publisher"]}
    cases: list[tuple[str, dict[str, str], int]] = [
        (f"/v1/aeo?scheme=EORI&value={EORI}", viewer, 200),
        (f"/v1/aeo?value={EORI.lower()}&scheme=%20eori%20", by_header, 200),
        ("/v1/aeo?scheme=EORI&value=XX000", viewer, 200),  # nothing held: an empty list
        ("/v1/aeo?scheme=EORI&value=S%C3%A3o", viewer, 200),
        ("/v1/aeo?scheme=E&value=1", viewer, 422),
        ("/v1/aeo?scheme=EORI&value=", viewer, 422),
        ("/v1/aeo?scheme=EORI&value=" + "9" * 65, viewer, 422),
        ("/v1/aeo?scheme=EORI", viewer, 422),
        (f"/v1/aeo?scheme=EORI&value={EORI}", {}, 401),
        (f"/v1/aeo?scheme=EORI&value={EORI}", {"Authorization": "Bearer mra_00_no"}, 401),
        (f"/v1/aeo?scheme=EORI&value={EORI}&evidence=false", viewer, 200),
        (f"/v1/aeo?scheme=EORI&scheme=TIN&value={EORI}", viewer, 200),
        (f"/v1/aeo?scheme=EORI&value={EORI}&as_of=yesterday", viewer, 422),
    ]
    fast = set()
    for path, headers, status in cases:
        got, answered = _compare(http, path, headers)
        assert got == status, path
        if answered:
            fast.add(path)
    assert f"/v1/aeo?scheme=EORI&value={EORI}" in fast  # the fast path did answer


def test_reading_one_answers_like_the_api(served: tuple[TestClient, dict[str, str]]) -> None:
    http, keys = served
    viewer = {"Authorization": f"Bearer {keys['viewer']}"}
    for path, headers, status in (
        ("/v1/aeo/BR000000001", viewer, 200),
        ("/v1/aeo/BR000000002", {"X-API-Key": keys["publisher"]}, 200),
        ("/v1/aeo/br000000001", viewer, 200),
        ("/v1/aeo/BR000000404", viewer, 404),
        ("/v1/aeo/not-an-id", viewer, 422),
        ("/v1/aeo/BR000000001", {}, 401),
        ("/v1/aeo/BR000000001?evidence=false", viewer, 200),
    ):
        assert _compare(http, path, headers)[0] == status, path


def test_a_declared_body_goes_to_the_api(served: tuple[TestClient, dict[str, str]]) -> None:
    http, keys = served
    viewer = {"Authorization": f"Bearer {keys['viewer']}", "Content-Length": "99999999999"}
    answer = http.request("GET", "/v1/aeo/BR000000001", headers=viewer)
    assert answer.status_code == 413


def test_a_remembered_key_is_refused_once_revoked_or_altered(tmp_path: Path) -> None:
    """The key check remembers valid keys only while nothing was committed to the file: a
    revocation, by this store or another connection, or an edit of the row, counts at once."""
    home = NodeHome(path=tmp_path / "br")
    home.init("BR", "Receita Federal do Brasil")
    store = home.open_store()
    other = home.open_store()
    try:
        keys = [create_key(store, "viewer", f"k{n}", 0) for n in range(3)]
        for key in keys:
            assert check_key(store, key) is not None
            assert check_key(store, key) is not None  # remembered
        assert store.revoke_api_key(keys[0].split("_")[1])  # this store's writer connection
        assert check_key(store, keys[0]) is None
        assert other.revoke_api_key(keys[1].split("_")[1])  # another connection
        assert check_key(store, keys[1]) is None
        assert check_key(store, keys[2]) is not None
        raw = sqlite3.connect(home.db_path)
        with raw:
            raw.execute("UPDATE api_keys SET role = 'admin' WHERE label = 'k2'")
        raw.close()
        assert check_key(store, keys[2]) is None  # the row's MAC no longer matches
        many = [create_key(store, "viewer", f"m{n}", 0) for n in range(KEYS_SEEN + 5)]
        assert all(check_key(store, key) is not None for key in many)
        assert check_key(store, "mra_000000000000_nope") is None
    finally:
        other.close()
        store.close()
    alone = SqliteStore.open(":memory:")  # one connection reads and writes
    try:
        key = create_key(alone, "viewer", "alone", 0)
        assert check_key(alone, key) is not None
        assert alone.revoke_api_key(key.split("_")[1])
        assert check_key(alone, key) is None
    finally:
        alone.close()


def test_reads_in_a_read_transaction_see_one_state_of_the_file(tmp_path: Path) -> None:
    """What the fast reads rely on: inside ``read_transaction`` the key check and every other
    read see the file as it was at the block's first read, whatever another connection commits
    meanwhile; after it, the next read sees that commit. An error inside ends the transaction,
    a block inside a block or inside a write transaction runs as it is."""
    home = NodeHome(path=tmp_path / "br")
    home.init("BR", "Receita Federal do Brasil")
    store = home.open_store()
    other = home.open_store()
    try:
        key = create_key(store, "viewer", "k", 0)
        with store.read_transaction():
            assert check_key(store, key) is not None
            assert other.revoke_api_key(key.split("_")[1])
            create_key(other, "viewer", "later", 0)
            assert check_key(store, key) is not None  # the state the block started from
            assert [k["label"] for k in store.api_keys()] == ["k"]
            with store.read_transaction():
                assert len(store.api_keys()) == 1
        assert check_key(store, key) is None
        assert sorted(k["label"] for k in store.api_keys()) == ["k", "later"]
        with pytest.raises(ZeroDivisionError), store.read_transaction():
            store.api_keys()
            _ = 1 / 0
        assert not store.conn.in_transaction
        with pytest.raises(ZeroDivisionError), store.transaction():
            store.conn.execute("DELETE FROM api_keys WHERE label = 'later'")
            with store.read_transaction():  # the write transaction's own state
                assert [k["label"] for k in store.api_keys()] == ["k"]
            _ = 1 / 0
        assert len(store.api_keys()) == 2
    finally:
        other.close()
        store.close()
