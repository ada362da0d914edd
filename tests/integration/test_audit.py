"""The audit trail, the hash-chained access log, status events and webhooks, through the local
API on a real SQLite file (webhooks go to a real HTTP receiver on 127.0.0.1)."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from node.app.api import create_app
from node.app.cli import app as cli
from node.core.sample import sample_dicts
from node.host.apikeys import create_key
from node.host.home import NodeHome
from node.ledger.verification import verify_node
from node.store.sqlite import SqliteStore, access_path

Keys = dict[str, str]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[TestClient, Keys, NodeHome]]:
    home = NodeHome(path=tmp_path / "br")
    home.init("BR", "Receita Federal do Brasil")
    store = SqliteStore.open(home.db_path)
    keys = {role: create_key(store, role, role, 0) for role in ("viewer", "auditor", "admin")}
    keys["publisher"] = create_key(store, "publisher", "registry", 0)
    store.close()
    with TestClient(create_app(home)) as client:
        yield client, keys, home


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def key_id(key: str) -> str:
    return key.split("_")[1]


def publish_and_read(client: TestClient, keys: Keys) -> dict[str, Any]:
    record = next(sample_dicts("BR", 1))
    assert client.post("/v1/aeo", json=record, headers=auth(keys["publisher"])).status_code == 200
    suspended = {"code": "suspended", "reason": "audit finding", "effective": "2026-11-01"}
    changed = client.post(
        "/v1/aeo/BR000000001/status", json=suspended, headers=auth(keys["publisher"])
    )
    assert changed.status_code == 200
    viewer = auth(keys["viewer"])
    assert client.get("/v1/aeo/BR000000001", headers=viewer).status_code == 200
    identifier = record["identifiers"][0]
    found = client.get(
        "/v1/aeo", params={"scheme": identifier["scheme"], "value": identifier["value"]}
    )
    assert found.status_code == 401
    found = client.get(
        "/v1/aeo",
        params={"scheme": identifier["scheme"], "value": identifier["value"]},
        headers=viewer,
    )
    assert len(found.json()["results"]) == 1
    batch = client.post(
        "/v1/aeo/query", json={"ids": ["BR000000001", "BR000000404"]}, headers=viewer
    )
    assert batch.json()["unknown"] == ["BR000000404"]
    return record


def test_trail_shows_versions_changes_and_every_query(
    node: tuple[TestClient, Keys, NodeHome],
) -> None:
    client, keys, home = node
    record = publish_and_read(client, keys)
    assert client.get("/v1/aeo/BR000000001/trail", headers=auth(keys["viewer"])).status_code == 403
    trail = client.get("/v1/aeo/BR000000001/trail", headers=auth(keys["auditor"])).json()

    first, second = trail["versions"]
    assert (first["signer"], first["status"], second["status"]) == ("BR", "valid", "suspended")
    assert first["key"] == second["key"] and len(first["key"]) == 64
    assert {c["field"] for c in first["changes"]} >= {"legal_name", "status.code"}
    changed = {c["field"]: c for c in second["changes"]}
    assert changed["status.code"] == {"field": "status.code", "from": "valid", "to": "suspended"}
    assert "legal_name" not in changed
    assert first["time"] <= second["time"]

    queries = trail["queries"]
    assert [q["channel"] for q in queries] == [
        "GET /v1/aeo/{aeo_id}",
        "GET /v1/aeo?scheme=" + record["identifiers"][0]["scheme"],
        "POST /v1/aeo/query",
    ]
    assert {q["actor"] for q in queries} == {f"key:{key_id(keys['viewer'])}"}
    assert trail["deliveries"] == [] and trail["erasures"] == []

    # The searched identifier is never written to the access log; the secret never either.
    time.sleep(0.6)  # the background flusher writes the trail's own row
    store = SqliteStore.open(home.db_path)
    try:
        rows = store.access_rows(limit=100)
    finally:
        store.close()
    dumped = json.dumps(rows)
    assert record["identifiers"][0]["value"] not in dumped
    assert keys["viewer"].split("_", 2)[2] not in dumped
    assert {r["action"] for r in rows} >= {"publish", "status", "query", "audit"}

    unknown = client.get("/v1/aeo/BR000000999/trail", headers=auth(keys["auditor"]))
    assert unknown.status_code == 404
    malformed = client.get("/v1/aeo/not-an-id/trail", headers=auth(keys["auditor"]))
    assert malformed.status_code == 422 and malformed.json()["field"] == "aeo_id"


def test_access_log_export_filters(node: tuple[TestClient, Keys, NodeHome]) -> None:
    client, keys, _ = node
    publish_and_read(client, keys)
    auditor = auth(keys["auditor"])
    everything = client.get("/v1/audit", headers=auditor).json()["rows"]
    assert [r["seq"] for r in everything] == list(range(len(everything)))
    queries = client.get(
        "/v1/audit", params={"action": "query", "aeo_id": "BR000000001"}, headers=auditor
    ).json()["rows"]
    assert len(queries) == 3
    paged = client.get("/v1/audit", params={"limit": 2}, headers=auditor).json()
    assert len(paged["rows"]) == 2 and paged["next"] == 1
    rest = client.get("/v1/audit", params={"after": paged["next"]}, headers=auditor).json()
    assert rest["rows"][0]["seq"] == 2
    future = client.get("/v1/audit", params={"since": "2999-01-01"}, headers=auditor)
    assert future.json()["rows"] == []
    past = client.get("/v1/audit", params={"until": "2000-01-01T00:00:00Z"}, headers=auditor)
    assert past.json()["rows"] == []
    text = client.get(
        "/v1/audit", params={"format": "csv", "aeo_id": "BR000000001"}, headers=auditor
    ).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and {r["aeo_id"] for r in rows} == {"BR000000001"}
    assert list(rows[0]) == [
        *("seq", "time", "ts", "actor", "actor_label", "action", "channel", "aeo_id"),
        *("agreements", "entry_origin", "entry_seq", "view_hash", "repeat_of", "hash"),
    ]
    for params, field in (
        ({"format": "xml"}, "format"),
        ({"since": "yesterday"}, "since"),
        ({"limit": 0}, "limit"),
        ({"aeo_id": "x"}, "aeo_id"),
    ):
        bad = client.get("/v1/audit", params=params, headers=auditor)
        assert bad.status_code == 422 and bad.json()["field"] == field, params


ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_exports_name_times_in_iso_8601_and_actors_with_their_labels(
    node: tuple[TestClient, Keys, NodeHome], tmp_path: Path
) -> None:
    client, keys, home = node
    publish_and_read(client, keys)
    auditor = auth(keys["auditor"])
    registry = f"key:{key_id(keys['publisher'])}"
    published = client.get(
        "/v1/audit", params={"actor": registry, "action": "publish"}, headers=auditor
    ).json()["rows"]
    assert len(published) == 1
    [row] = published
    assert row["actor"] == registry and row["actor_label"] == f"{registry} (registry)"
    assert ISO_MS.match(row["time"]), row["time"]
    when = datetime.fromisoformat(row["time"].replace("Z", "+00:00"))
    assert int(when.timestamp() * 1000) == row["ts"]  # the milliseconds are kept
    text = client.get(
        "/v1/audit", params={"format": "csv", "actor": registry}, headers=auditor
    ).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["actor_label"] for r in rows} == {f"{registry} (registry)"}
    assert all(ISO_MS.match(r["time"]) for r in rows)
    out = tmp_path / "by-registry.json"
    exported = CliRunner().invoke(
        cli, ["audit", "export", str(out), "--actor", registry, "--home", str(home.path)]
    )
    assert exported.exit_code == 0, exported.output
    from_cli = json.loads(out.read_text())
    assert from_cli and {r["actor_label"] for r in from_cli} == {f"{registry} (registry)"}
    assert all(ISO_MS.match(r["time"]) for r in from_cli)
    both = CliRunner().invoke(
        cli,
        [
            *("audit", "export", str(out), "--actor", registry, "--partner", "UY"),
            *("--home", str(home.path)),
        ],
    )
    assert both.exit_code != 0 and "partner" in both.output


def test_every_audit_filter_is_in_the_openapi_document(
    node: tuple[TestClient, Keys, NodeHome],
) -> None:
    client, keys, _ = node
    document = client.get("/v1/openapi.json", headers=auth(keys["viewer"])).json()
    parameters = document["paths"]["/v1/audit"]["get"]["parameters"]
    described = {p["name"]: p for p in parameters}
    wanted = {"since", "until", "partner", "actor", "aeo_id", "action", "entry_seq", "repeats"}
    assert wanted | {"after", "limit", "format"} <= set(described)
    assert all(described[name].get("description") for name in wanted)
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    audit_section = readme[readme.index("## Audit") :]
    assert all(f"`{name}`" in audit_section for name in wanted), wanted


def test_access_log_chain_is_verified(node: tuple[TestClient, Keys, NodeHome]) -> None:
    client, keys, home = node
    publish_and_read(client, keys)
    client.get("/v1/audit", headers=auth(keys["auditor"]))  # flushes the log
    runner = CliRunner()
    verified = runner.invoke(cli, ["ledger", "verify", "--home", str(home.path)])
    assert verified.exit_code == 0, verified.output
    assert "access log:" in verified.output and "rows, hash chain intact" in verified.output

    conn = sqlite3.connect(access_path(home.db_path))  # the access log's file of its own
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE access_log SET actor = 'key:someone' WHERE seq = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM access_log WHERE seq = 2")
    # Someone with the file and sqlite3 drops the guard and rewrites history: verify names it.
    conn.execute("DROP TRIGGER access_log_no_update")
    conn.execute("UPDATE access_log SET actor = 'key:someone' WHERE seq = 2")
    conn.commit()
    conn.close()
    store = SqliteStore.open(home.db_path)
    try:
        found = verify_node(store, own="BR").damages
    finally:
        store.close()
    named = {(d.damage, d.seq) for d in found}
    assert ("access-mismatch", 2) in named, found
    assert any(d.damage == "schema-altered" and "access_log_no_update" in d.detail for d in found)
    broken = runner.invoke(cli, ["ledger", "verify", "--home", str(home.path)])
    assert broken.exit_code == 1 and "access-mismatch" in broken.output
    assert "trigger access.access_log_no_update missing" in broken.output


def test_cli_trail_and_export(node: tuple[TestClient, Keys, NodeHome], tmp_path: Path) -> None:
    client, keys, home = node
    publish_and_read(client, keys)
    client.get("/v1/audit", headers=auth(keys["auditor"]))
    runner = CliRunner()
    shown = runner.invoke(cli, ["audit", "trail", "BR000000001", "--home", str(home.path)])
    assert shown.exit_code == 0, shown.output
    assert [v["status"] for v in json.loads(shown.output)["versions"]] == ["valid", "suspended"]
    out = tmp_path / "queries.csv"
    exported = runner.invoke(
        cli,
        [
            *("audit", "export", str(out), "--aeo", "BR000000001", "--action", "query"),
            *("--since", "2020-01-01", "--home", str(home.path)),
        ],
    )
    assert exported.exit_code == 0, exported.output
    assert len(list(csv.DictReader(out.open()))) == 3
    as_json = tmp_path / "all.json"
    assert (
        runner.invoke(cli, ["audit", "export", str(as_json), "--home", str(home.path)]).exit_code
        == 0
    )
    assert json.loads(as_json.read_text())[0]["seq"] == 0
    bad = runner.invoke(cli, ["audit", "export", str(tmp_path / "x.xml"), "--home", str(home.path)])
    assert bad.exit_code != 0 and "file" in bad.output
    assert not (tmp_path / "x.xml").exists()


def test_status_events(node: tuple[TestClient, Keys, NodeHome]) -> None:
    client, keys, _ = node
    publish_and_read(client, keys)
    # Republishing the same record changes nothing and makes no event.
    same = client.get("/v1/aeo/BR000000001", headers=auth(keys["viewer"])).json()["record"]
    client.post("/v1/aeo", json=same, headers=auth(keys["publisher"]))
    events = client.get("/v1/events", headers=auth(keys["viewer"])).json()
    assert [(e["status"], e["previous"]) for e in events] == [
        ("valid", None),
        ("suspended", "valid"),
    ]
    assert events[1]["effective"] == "2026-11-01" and events[1]["aeo_id"] == "BR000000001"
    later = client.get(
        "/v1/events", params={"after": events[0]["id"]}, headers=auth(keys["viewer"])
    )
    assert [e["id"] for e in later.json()] == [events[1]["id"]]


class Receiver:
    """A national system's webhook endpoint: fails the first ``failures`` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                failed = len(receiver.calls) <= receiver.failures
                self.send_response(503 if failed else 204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/aeo-events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_webhook_signed_retried_and_logged(node: tuple[TestClient, Keys, NodeHome]) -> None:
    client, keys, _ = node
    admin = auth(keys["admin"])
    receiver = Receiver(failures=1)
    try:
        for bad in ({"url": "ftp://example.org/x"}, {"url": 7}, {}):
            refused = client.post("/v1/webhooks", json=bad, headers=admin)
            assert refused.status_code == 422 and refused.json()["field"] == "url"
        hook = client.post("/v1/webhooks", json={"url": receiver.url}, headers=admin).json()
        assert len(hook["secret"]) >= 32
        publish_and_read(client, keys)
        deadline = time.monotonic() + 15
        while len(receiver.calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        receiver.server.shutdown()
    # First attempt failed (503), retried after backoff; then the second event, in order.
    assert len(receiver.calls) == 3
    bodies = [json.loads(body) for _, body in receiver.calls]
    assert [b["status"] for b in bodies] == ["valid", "valid", "suspended"]
    for headers, body in receiver.calls:
        expected = hmac.new(
            hook["secret"].encode(),
            headers["x-mra-timestamp"].encode() + b"." + body,
            hashlib.sha256,
        ).hexdigest()
        assert headers["x-mra-signature"] == "sha256=" + expected
        assert headers["x-mra-event-id"] == str(json.loads(body)["id"])
    listed = client.get("/v1/webhooks", headers=admin).json()
    assert "secret" not in json.dumps(listed)
    attempts = listed[0]["attempts"]
    assert [(a["attempt"], a["status"], a["delivered"]) for a in reversed(attempts)] == [
        (1, 503, 0),
        (2, 204, 1),
        (1, 204, 1),
    ]
    assert client.delete(f"/v1/webhooks/{hook['id']}", headers=admin).status_code == 200
    assert client.get("/v1/webhooks", headers=admin).json() == []
    assert client.delete(f"/v1/webhooks/{hook['id']}", headers=admin).status_code == 404
