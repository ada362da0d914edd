"""``mra ledger lost-tail`` on real nodes over TLS (issue 25, point 2): after BR is restored
from a backup that misses a tail, the report names exactly the lost seqs, which peer holds
which header and which view (with its AEO id and fields), and a peer that is down, from the
CLI and from the running node's ``GET /v1/lost-tail``; a member
asking a peer what it holds of another member's log is refused with a problem document.

Three members (AR, BR, UY) with an agreement in force, so the peers hold views of BR's records.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import ssl
from pathlib import Path

import httpx
import pytest

from node.store.sqlite import access_path
from tests.system.test_crash_campaign import Cluster, put_in_force
from tests.system.test_devnet import wait_for
from tests.system.test_restore import PEERS, br_size, halt, mra, peers_hold, publish, said

pytestmark = pytest.mark.long  # about 30 s: three nodes, an agreement, a backup and a restore

LOST_IDS = ("BR000000004", "BR000000005", "BR000000006")


def as_member(net: Cluster, who: str, at: str) -> httpx.Client:
    """A client of ``at``'s peer endpoints presenting ``who``'s TLS identity."""
    context = ssl.create_default_context(cafile=str(net.dir / "members.pem"))
    context.load_cert_chain(net.home(who) / "tls.crt", net.home(who) / "tls.key")
    return httpx.Client(base_url=net.url(at), verify=context, timeout=10)


def views_held(net: Cluster, peer: str) -> bool:
    with net.client(peer) as client:
        return all(client.get(f"/v1/aeo/{aeo_id}").status_code == 200 for aeo_id in LOST_IDS)


def test_the_lost_tail_report_names_each_lost_seq_and_what_each_peer_holds_of_it(
    net: Cluster, tmp_path: Path
) -> None:
    net.wait_up()
    put_in_force(net)
    assert publish(net, 3, start=1).status_code == 200
    backup = tmp_path / "backup"
    taken = mra("backup", str(backup), "--home", str(net.home("BR")))
    assert taken.returncode == 0, taken.stderr
    old = int(json.loads((backup / "manifest.json").read_text())["log_size"])
    assert publish(net, 3, start=4).status_code == 200
    full = br_size(net)
    wait_for(lambda: peers_hold(net, full), 30, f"the peers hold BR's {full} entries")
    for peer in PEERS:
        wait_for(lambda p=peer: views_held(net, p), 30, f"{peer} holds the views of {LOST_IDS}")
    halt(net, "BR")
    held = {peer: net.logs(peer)["BR"][0] for peer in PEERS}  # (an anchor may follow the stop)
    restoring = mra("restore", str(backup), "--home", str(net.home("BR")))
    assert restoring.returncode == 0, restoring.stderr

    # BR is stopped: the command asks the peers itself, with BR's TLS identity.
    asked = mra("ledger", "lost-tail", "--json", "--home", str(net.home("BR")))
    assert asked.returncode == 0, asked.stderr
    report = json.loads(asked.stdout)
    assert report["held_here"] == old
    assert report["peers"] == {"AR": "answered", "UY": "answered"}
    lost = {item["seq"]: item for item in report["lost"]}
    assert sorted(lost) == list(range(old, max(held.values())))
    for seq, item in lost.items():
        assert sorted(item["headers"]) == [p for p in PEERS if seq < held[p]]
        assert item["not_signed_here"] == []
        assert all(h["signed_here"] for h in item["headers"].values())
    upserts = [item for item in lost.values() if item["kind"] == "aeo.upsert"]
    assert len(upserts) == 3
    for item in upserts:
        assert sorted(item["views"]) == list(PEERS)
        ids = {view["aeo_id"] for view in item["views"].values()}
        assert len(ids) == 1 and ids <= set(LOST_IDS)
        for view in item["views"].values():
            assert view["fields"]["aeo_id"] == view["aeo_id"]
            assert view["received_ts"] >= item["ts"]
    assert {v["aeo_id"] for i in upserts for v in i["views"].values()} == set(LOST_IDS)

    # The running node gives the same report to an administrator.
    net.start("BR")
    wait_for(lambda: net.listening("BR"), 60, f"BR listens\n{net.log_tail('BR')}")
    with net.client("BR") as client:
        api = client.get("/v1/lost-tail")
    assert api.status_code == 200, api.text
    assert api.json()["peers"] == report["peers"]
    assert api.json()["lost"] == report["lost"]
    # and shows it in the web UI, seq by seq
    with httpx.Client(base_url=net.url("BR"), verify=net.context, timeout=15) as browser:
        browser.post("/ui/login", data={"api_key": net.keys["BR"]})
        page = browser.get("/ui/lost-tail")
    assert page.status_code == 200, page.text
    assert f"holds <strong>{old}</strong> entries" in page.text
    assert '<span class="badge ok">AR</span> <span class="badge ok">UY</span>' in page.text
    for seq, item in lost.items():
        row = page.text[page.text.index(f'id="seq-{seq}"') :].split("</tr>")[0]
        assert f"<td>BR#{seq}</td>" in row and f"<td>{item['kind']}</td>" in row
        assert ", ".join(sorted(item["headers"])) in row
        for code, view in item["views"].items():
            assert f'<strong>{code}</strong>: <a href="/ui/aeo/{view["aeo_id"]}">' in row

    # Asked of another member's log, a peer refuses with a problem document; of its own, serves.
    with as_member(net, "AR", at="UY") as client:
        refused = client.get("/v1/peer/held/BR", params={"start": 0})
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "AR may ask only what this node holds of its own log" in refused.json()["detail"]
        bad = client.get("/v1/peer/held/AR", params={"start": "first"})
        assert bad.status_code == 422, bad.text
        assert bad.headers["content-type"] == "application/problem+json"
        assert client.get("/v1/peer/held/AR").status_code == 200

    # A peer that is down is named; the report of the others still comes.
    halt(net, "UY")
    text = mra("ledger", "lost-tail", "--home", str(net.home("BR")))
    assert text.returncode == 0, text.stderr
    said_text = said(text)
    assert "UY: no answer (unreachable" in said_text, said_text
    assert "AR: answered" in said_text, said_text
    for seq in range(old, held["AR"]):
        assert f"LOST BR#{seq} " in said_text, said_text
    for aeo_id in LOST_IDS:
        assert f"view at AR: {aeo_id}" in said_text, said_text
    with contextlib.closing(sqlite3.connect(access_path(net.db("BR")))) as db:
        rows = db.execute(
            "SELECT actor, channel FROM access_log WHERE action = 'lost-tail'"
        ).fetchall()
    assert sorted((actor.split(":")[0], channel) for actor, channel in rows) == [
        ("cli", "mra ledger lost-tail"),
        ("cli", "mra ledger lost-tail"),
        ("key", "GET /v1/lost-tail"),
        ("key", "UI GET /ui/lost-tail"),
    ], rows
