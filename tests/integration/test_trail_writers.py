"""Each version in a record's trail names who wrote it (issue 23, point 1): the actor of the
access-log row of its write, ``peer <origin>`` at a partner, or ``unknown (written before
actors were logged)``. Real SQLite files; the API over its ASGI transport."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from node.app.api import create_app
from node.core.sample import sample_dicts
from node.host.access_log import AccessLog
from node.host.apikeys import create_key
from node.host.home import NodeHome
from node.ledger.trail import UNKNOWN_WRITER, record_trail
from node.store.sqlite import SqliteStore
from tests.factories import open_ledger, record
from tests.integration.test_clocks_views import annulled_trader, nodes  # noqa: F401
from tests.integration.test_erasure import Node, gossip

SUSPENDED = {"code": "suspended", "reason": "audit", "effective": "2026-01-05"}


def test_api_writes_name_their_key(tmp_path: Path) -> None:
    home = NodeHome(path=tmp_path / "br")
    home.init("BR", "Receita Federal do Brasil")
    store = SqliteStore.open(home.db_path)
    first, second = (create_key(store, "publisher", f"officer {n}", 0) for n in (1, 2))
    store.close()
    data = next(sample_dicts("BR", 1))
    path = f"/v1/aeo/{data['aeo_id']}"
    with TestClient(create_app(home)) as http:
        published = http.post("/v1/aeo", json=data, headers={"Authorization": f"Bearer {first}"})
        assert published.status_code == 200
        as_second = {"Authorization": f"Bearer {second}"}
        assert http.post(f"{path}/status", json=SUSPENDED, headers=as_second).status_code == 200
        trail = http.get(f"{path}/trail", headers=as_second).json()
        rows = http.get("/v1/audit", headers=as_second).json()["rows"]
    wrote = {r["action"]: r["actor"] for r in rows if r["action"] in ("publish", "status")}
    assert [v["writer"] for v in trail["versions"]] == [wrote["publish"], wrote["status"]]
    assert wrote["publish"] != wrote["status"] and wrote["status"].startswith("key:")


def test_versions_written_before_actors_were_logged_say_so(tmp_path: Path) -> None:
    store, ledger = open_ledger(tmp_path / "br.db")
    original = record()
    [old] = ledger.publish([original]).entries  # no access row: as before writes were logged
    [new] = ledger.publish([record(status=SUSPENDED)]).entries
    access = AccessLog(store, lambda: new.header.ts + 5)
    access.record("cli:ana@customs as Ana", "status", "mra aeo status", original.aeo_id)
    access.flush()
    trail = record_trail(store, original.aeo_id)
    assert trail is not None
    assert [v["writer"] for v in trail["versions"]] == [UNKNOWN_WRITER, "cli:ana@customs as Ana"]
    assert old.header.seq == 0
    store.close()


def test_a_write_row_belongs_to_the_version_just_before_it(tmp_path: Path) -> None:
    store, ledger = open_ledger(tmp_path / "br.db")
    original = record()
    [first] = ledger.publish([original]).entries
    [second] = ledger.publish([record(status=SUSPENDED)]).entries
    # A row logged after the second version was appended cannot be the first one's write.
    access = AccessLog(store, lambda: second.header.ts)
    access.record("key:late", "publish", "POST /v1/aeo", original.aeo_id)
    access.flush()
    trail = record_trail(store, original.aeo_id)
    assert trail is not None
    assert [v["writer"] for v in trail["versions"]] == [UNKNOWN_WRITER, "key:late"]
    assert first.header.ts < second.header.ts
    store.close()


def test_a_partner_names_the_origin_as_writer(nodes: dict[str, Node]) -> None:  # noqa: F811
    aeo_id, _ = annulled_trader(nodes["BR"])
    gossip(nodes)
    for partner in ("UY", "AR"):
        trail = record_trail(nodes[partner].store, aeo_id)
        assert trail is not None
        assert [v["writer"] for v in trail["versions"]] == ["peer BR", "peer BR"]
