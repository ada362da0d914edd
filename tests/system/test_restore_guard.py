"""A restored node never signs a second history; one node process per home; a write that loses
a race is told to retry (issue 19, points 8 and 9), on real ``mra node run`` processes.

Three members (AR, BR, UY) over real TLS, as in the crash campaign; the faults are injected as
users meet them: peers that hang (SIGSTOP) while BR starts, a home copied back from an older
backup, a second ``mra node run`` on a home, a ``kill -9``, and a CLI import beside the node.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from node.core.sample import sample_dicts
from tests.system.test_crash_campaign import ROOT, Cluster
from tests.system.test_devnet import wait_for

PEERS = ("AR", "UY")


def mra(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "300"},
    )


def publish(net: Cluster, code: str, count: int, start: int) -> httpx.Response:
    with net.client(code) as client:
        return client.post(
            "/v1/aeo", json={"records": list(sample_dicts(code, count, start=start))}
        )


def halt(net: Cluster, code: str) -> None:
    """Stop ``code``'s node as an operator does (SIGTERM), and wait for it to end."""
    process = net.processes.pop(code)
    process.terminate()
    process.wait(timeout=60)  # a loaded CI machine: the stop itself is bounded by the node


def signal_peers(net: Cluster, sig: signal.Signals) -> None:
    for code in PEERS:
        net.processes[code].send_signal(sig)


def peers_hold(net: Cluster, size: int) -> bool:
    return all(net.logs(peer)["BR"][0] == size for peer in PEERS)


def held_by(home: Path, origin: str = "BR") -> int:
    """How many of ``origin``'s entries the (stopped) node's database in ``home`` holds. A node
    stopped with SIGTERM anchors its access log on its own log first, so sizes are read, not
    counted by hand."""
    conn = sqlite3.connect(home / "ledger.db")
    try:
        (size,) = conn.execute(
            "SELECT count(*) FROM entries WHERE origin = ?", (origin,)
        ).fetchone()
    finally:
        conn.close()
    return int(size)


def refused_because(net: Cluster, title: str) -> httpx.Response:
    answer = publish(net, "BR", 1, start=900)
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["title"] == title, answer.text
    return answer


@pytest.mark.long  # 14 s: restores a home, two nodes
def test_a_home_restored_from_an_older_copy_never_signs_a_seq_twice(
    net: Cluster, tmp_path: Path
) -> None:
    net.wait_up()
    assert publish(net, "BR", 3, start=1).status_code == 200
    wait_for(lambda: peers_hold(net, 3), 30, "the peers hold BR's 3 entries")
    halt(net, "BR")
    shutil.copytree(net.home("BR"), tmp_path / "backup")  # the operator's backup of the home
    old = held_by(tmp_path / "backup")
    net.wait_up("BR")
    assert publish(net, "BR", 3, start=4).status_code == 200
    full = net.logs("BR")["BR"][0]
    assert full >= old + 3
    wait_for(lambda: peers_hold(net, full), 30, f"the peers hold BR's {full} entries")
    halt(net, "BR")
    shutil.rmtree(net.home("BR"))
    shutil.copytree(tmp_path / "backup", net.home("BR"))  # the old home copied back

    # Every peer hangs while BR starts: its start-up probe gets no answer within 5 s.
    signal_peers(net, signal.SIGSTOP)
    net.start("BR")
    wait_for(lambda: net.listening("BR"), 60, f"BR listens\n{net.log_tail('BR')}")
    held = refused_because(net, "OwnLogUnconfirmed")
    detail = held.json()["detail"]
    assert "no peer has shown its checkpoint of BR's log since this node started" in detail
    assert f"mra ledger accept-restore --home {net.home('BR')}" in detail
    assert held.headers["Retry-After"] == "5"
    assert "no peer has shown" in net.get("BR", "/v1/health")["appends_refused"]
    assert "no peer answered the start-up probe: appends wait" in net.log_tail("BR")
    assert net.logs("BR")["BR"][0] == old

    # One peer comes back: it shows BR the checkpoint of its whole log that BR signed, and BR
    # knows it is behind (a loss, not a risk: the operator cannot accept it away).
    net.processes["UY"].send_signal(signal.SIGCONT)
    resumed = time.monotonic()
    wait_for(
        lambda: (
            f"UY holds a checkpoint of {full}" in (net.get("BR", "/v1/health")["appends_refused"])
        ),
        30,
        "BR learns from UY that it is behind",
    )
    learnt = time.monotonic() - resumed
    behind = refused_because(net, "OwnLogBehind")
    assert f"this node holds {old}" in behind.json()["detail"]
    accepting = mra("ledger", "accept-restore", "--home", str(net.home("BR")))
    assert accepting.returncode == 3, accepting.stdout
    assert f"UY holds a checkpoint of {full} entries" in " ".join(accepting.stderr.split())
    net.processes["AR"].send_signal(signal.SIGCONT)
    time.sleep(2)  # gossip rounds: nothing BR does makes a second history
    assert net.logs("BR")["BR"][0] == old
    assert all(net.get(code, "/v1/forks") == [] for code in ("AR", "BR", "UY"))
    assert peers_hold(net, full)
    print(f"BR learnt it is behind {learnt:.1f} s after UY resumed")


@pytest.mark.long  # 11 s: waits out hung peers
def test_the_operator_accepts_the_risk_while_every_peer_hangs(net: Cluster) -> None:
    net.wait_up()
    assert publish(net, "BR", 2, start=1).status_code == 200
    wait_for(lambda: peers_hold(net, 2), 30, "the peers hold BR's 2 entries")
    halt(net, "BR")
    size = held_by(net.home("BR"))
    signal_peers(net, signal.SIGSTOP)
    net.start("BR")
    wait_for(lambda: net.listening("BR"), 60, f"BR listens\n{net.log_tail('BR')}")
    refused_because(net, "OwnLogUnconfirmed")

    accepted = mra(
        "ledger", "accept-restore", "--by", "duty officer", "--home", str(net.home("BR"))
    )
    assert accepted.returncode == 0, accepted.stderr
    assert "duty officer accepted the risk" in accepted.stdout
    recorded = json.loads((net.home("BR") / "restore-accepted.json").read_text())
    assert (recorded["by"], recorded["size"]) == ("duty officer", size)
    answer = publish(net, "BR", 1, start=3)
    assert answer.status_code == 200, answer.text
    assert answer.json()["appended"][0]["seq"] == size
    said = net.log_tail("BR")
    assert "appends allowed without a peer's confirmation: duty officer accepted the risk" in said
    with net.client("BR") as client:
        trail = client.get("/v1/audit", params={"action": "accept-restore"})
    assert trail.status_code == 200 and "duty officer" not in trail.text, trail.text
    assert "cli:" in trail.text and "accept-restore" in trail.text, trail.text

    signal_peers(net, signal.SIGCONT)
    wait_for(lambda: peers_hold(net, size + 1), 30, "the peers follow BR's log")
    assert all(net.get(code, "/v1/forks") == [] for code in ("AR", "BR", "UY"))


def test_one_node_process_per_home_and_a_kill_leaves_nothing_to_clean(net: Cluster) -> None:
    net.start("BR")
    wait_for(lambda: net.listening("BR"), 60, f"BR listens\n{net.log_tail('BR')}")
    first = net.processes["BR"].pid
    spare = net.ports["AR"]  # free: AR is not running
    second = mra("node", "run", "--home", str(net.home("BR")), "--port", str(spare))
    said = " ".join(second.stderr.split())
    assert second.returncode == 2, second.stderr
    assert f"another node process serves {net.home('BR')} (pid {first}," in said
    assert "one home runs one node" in said
    assert net.up("BR")
    net.kill("BR")  # kill -9: the lock dies with the process
    net.wait_up("BR")


@pytest.mark.long  # 17 s: races writers
def test_a_write_that_loses_a_race_with_another_writer_is_retryable_never_422(
    net: Cluster, tmp_path: Path
) -> None:
    net.wait_up()
    statuses: list[tuple[int, str, str | None]] = []
    stop = threading.Event()

    def node_writes() -> None:
        number = 1
        with net.client("BR") as client:
            while not stop.is_set():
                records = list(sample_dicts("BR", 2, start=number))
                number += 2
                answer = client.post("/v1/aeo", json={"records": records})
                title = answer.json().get("title") if answer.status_code != 200 else None
                statuses.append((answer.status_code, str(title), answer.headers.get("Retry-After")))

    writer = threading.Thread(target=node_writes)
    writer.start()
    imports: list[subprocess.CompletedProcess[str]] = []
    try:
        for batch in range(4):  # an operator's bulk imports, beside the running node
            data = tmp_path / f"import{batch}.jsonl"
            records = sample_dicts("BR", 3000, start=100_000 + batch * 3000)
            data.write_text("".join(json.dumps(r) + "\n" for r in records))
            imports.append(mra("aeo", "import", str(data), "--home", str(net.home("BR"))))
    finally:
        stop.set()
        writer.join(timeout=60)
    assert {status for status, _, _ in statuses} <= {200, 503}, statuses
    api_lost = [s for s in statuses if s[0] == 503]
    assert all(title == "WriteRaced" and after == "1" for _, title, after in api_lost), api_lost
    cli_lost = [r for r in imports if r.returncode != 0]
    for result in cli_lost:
        assert result.returncode == 3, result.stderr
        assert "another writer appended to BR's log first" in " ".join(result.stderr.split())
    assert api_lost or cli_lost, "no write lost a race: the test raced nothing"
    for result in imports:  # the operator retries what lost: it goes through now
        if result.returncode != 0:
            again = mra(*result.args[3:])
            assert again.returncode == 0, again.stderr
    print(
        f"{len(statuses)} API writes, {len(api_lost)} lost a race (503 WriteRaced); "
        f"{len(imports)} CLI imports, {len(cli_lost)} lost a race (exit 3)"
    )
