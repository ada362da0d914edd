"""``mra backup`` and ``mra restore`` on real ``mra node run`` processes (issue 25, point 2): a
restore during a network outage leaves appends refused, names the lost tail and what each peer
holds of it, and forks nothing; and what ``mra ledger accept-restore`` does when the home was
rebuilt from a backup that misses a tail while every peer was away.

Three members (AR, BR, UY) over real TLS, as in the crash campaign; the outage is every peer
stopped with SIGSTOP (they hang: connections open, nothing answers).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.core.sample import sample_dicts
from tests.system.test_crash_campaign import Cluster
from tests.system.test_devnet import wait_for
from tests.system.test_restore_guard import PEERS, halt, mra, peers_hold, signal_peers

# Minutes of whole-network procedures: .ci/run runs them as their own step (pytest -m long).
pytestmark = pytest.mark.long


def said(result: subprocess.CompletedProcess[str]) -> str:
    return " ".join((result.stdout + result.stderr).split())


def publish(net: Cluster, count: int, start: int) -> httpx.Response:
    with net.client("BR") as client:
        return client.post(
            "/v1/aeo", json={"records": list(sample_dicts("BR", count, start=start))}
        )


def br_size(net: Cluster) -> int:
    return net.logs("BR")["BR"][0]


def seen_by_peers(net: Cluster) -> int:
    """The largest checkpoint of BR's own log a peer has shown BR (``log-seen.json``)."""
    try:
        return int(json.loads((net.home("BR") / "log-seen.json").read_text())["size"])
    except (FileNotFoundError, ValueError, KeyError):
        return 0


def health(net: Cluster) -> dict[str, Any]:
    answer: dict[str, Any] = net.get("BR", "/v1/health")
    return answer


def refused(net: Cluster, title: str) -> str:
    """BR refuses a publish with ``title`` (503); the problem's detail."""
    answer = publish(net, 1, start=900)
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["title"] == title, answer.text
    return str(answer.json()["detail"])


def backup_missing_a_tail(net: Cluster, backup: Path) -> tuple[int, int]:
    """BR publishes, is backed up while it runs, publishes more that both peers replicate, and
    stops. Returns the own log's size in the backup and what the peers hold."""
    net.wait_up()
    assert publish(net, 3, start=1).status_code == 200
    taken = mra("backup", str(backup), "--home", str(net.home("BR")))
    assert taken.returncode == 0, taken.stderr
    old = int(json.loads((backup / "manifest.json").read_text())["log_size"])
    assert f"own log {old} entries" in said(taken)
    assert publish(net, 3, start=4).status_code == 200
    full = br_size(net)
    assert full >= old + 3
    wait_for(lambda: peers_hold(net, full), 30, f"the peers hold BR's {full} entries")
    # BR learns what the peers hold from a checkpoint of its log they show it, kept in
    # log-seen.json (the restore reports that); their frontier in /v1/health may come first.
    wait_for(
        lambda: seen_by_peers(net) >= full, 30, f"BR to keep a peer's checkpoint of {full} entries"
    )
    halt(net, "BR")
    return old, full


def test_a_restore_during_an_outage_refuses_appends_names_the_lost_tail_and_forks_nothing(
    net: Cluster, tmp_path: Path
) -> None:
    old, full = backup_missing_a_tail(net, tmp_path / "backup")
    signal_peers(net, signal.SIGSTOP)  # the outage: no peer answers from now on

    restoring = mra("restore", str(tmp_path / "backup"), "--home", str(net.home("BR")))
    assert restoring.returncode == 0, restoring.stderr
    report = said(restoring)
    replaced = int(report.split("the replaced database held ")[1].split(";")[0])
    # gossip told BR before it stopped (an access anchor signed after ``full`` may be in it too)
    seen = int(report.split(" signed entries")[0].rsplit("has seen ", 1)[1])
    assert seen >= full, report
    assert replaced >= full  # (a node stopped with SIGTERM anchors its access log first)
    assert f"LOST {replaced - old} entries" in report, report
    assert f"seqs {old} to {replaced - 1}" in report, report
    assert "aeo.upsert 3" in report, report  # the kinds lost, and the records to publish again
    assert "lost versions of 3 AEO records: BR000000004, BR000000005, BR000000006" in report

    net.start("BR")
    wait_for(lambda: net.listening("BR"), 60, f"BR listens\n{net.log_tail('BR')}")
    detail = refused(net, "OwnLogBehind")
    assert f"holds a checkpoint of {replaced} entries" in detail, detail
    assert f"this node holds {old}" in detail, detail
    assert health(net)["own_log_at_peers"] == {}  # nobody answered yet
    accepting = mra("ledger", "accept-restore", "--home", str(net.home("BR")))
    assert accepting.returncode == 3, accepting.stdout  # a known loss is not a risk to accept
    assert not (net.home("BR") / "restore-accepted.json").exists()

    # The peers come back: BR learns what each holds of its log, and still signs nothing.
    signal_peers(net, signal.SIGCONT)
    resumed = time.monotonic()
    wait_for(
        lambda: health(net)["own_log_at_peers"] == {"AR": full, "UY": full},
        30,
        f"BR learns what its peers hold of its log\n{net.log_tail('BR')}",
    )
    learnt = time.monotonic() - resumed
    state = health(net)
    assert state["logs"]["BR"] == old
    assert f"this node holds {old}" in str(state["appends_refused"])
    refused(net, "OwnLogBehind")
    time.sleep(2)  # gossip rounds: nothing BR does makes a second history
    assert br_size(net) == old
    assert peers_hold(net, full)
    assert all(net.get(code, "/v1/forks") == [] for code in ("AR", "BR", "UY"))
    print(
        f"lost seqs {old}..{replaced - 1}; AR and UY hold {old}..{full - 1}; "
        f"BR learnt it {learnt:.1f} s after the peers resumed"
    )


def test_accepting_the_risk_after_a_disk_loss_signs_seqs_peers_hold_and_they_freeze_br(
    net: Cluster, tmp_path: Path
) -> None:
    """The disk that held BR's database and log-seen.json is gone; the operator rebuilds the
    home from the backup (node.json and the key files restored separately) while every peer is
    away, and accepts the risk. That acceptance is what the guard says it is: a risk, not a
    proof. The backup missed a tail the peers hold, so BR's next entry is a second history at
    a seq they hold: the peers detect it, keep the evidence and freeze BR."""
    old, full = backup_missing_a_tail(net, tmp_path / "backup")
    home = net.home("BR")
    files = ("ledger.db", "ledger.access.db")
    lost = [f"{db}{end}" for db in files for end in ("", "-wal", "-shm")]
    for name in (*lost, "log-seen.json"):
        (home / name).unlink(missing_ok=True)
    signal_peers(net, signal.SIGSTOP)

    restoring = mra("restore", str(tmp_path / "backup"), "--home", str(home))
    assert restoring.returncode == 0, restoring.stderr
    assert "LOST" not in said(restoring)  # nothing here knows of the tail
    assert "appends resume once a peer has shown its checkpoint" in said(restoring)

    net.start("BR")
    wait_for(lambda: net.listening("BR"), 60, f"BR listens\n{net.log_tail('BR')}")
    refused(net, "OwnLogUnconfirmed")
    accepting = mra("ledger", "accept-restore", "--by", "duty officer", "--home", str(home))
    assert accepting.returncode == 0, accepting.stderr
    answer = publish(net, 1, start=50)
    assert answer.status_code == 200, answer.text
    assert answer.json()["appended"][0]["seq"] == old  # a seq AR and UY hold another entry at

    signal_peers(net, signal.SIGCONT)
    wait_for(
        lambda: all(
            any(fork.get("origin") == "BR" for fork in net.get(peer, "/v1/forks")) for peer in PEERS
        ),
        30,
        "both peers hold fork evidence against BR",
    )
    for peer in PEERS:
        assert "BR" in net.get(peer, "/v1/health")["frozen"]
        assert net.logs(peer)["BR"][0] == full  # their copy of BR's log is left as it was
    wait_for(
        lambda: "holds a checkpoint of" in str(health(net)["appends_refused"]),
        30,
        "BR learns from its peers that it is behind",
    )
    refused(net, "OwnLogBehind")
