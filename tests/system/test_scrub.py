"""Continuous verification on a real node process: the scrubber beside it completes passes,
names damage made to the database file while the node runs (in ``/v1/health``, ``/metrics``
and the UI), resumes its pass after a restart, and leaves with the node, even one killed
with -9."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from node.core.sample import sample_dicts
from node.host import scrub
from tests.system.lone_node import ROOT, free_port, lone_home, mra


@dataclass
class Running:
    url: str
    home: Path
    ca: Path
    key: str
    process: subprocess.Popen[bytes]


def start(home: Path, port: int, ca: Path, key: str, *, budget: str = "0.5") -> Running:
    env = {
        **os.environ,
        "MRA_VERIFY_START_SECONDS": "0",
        "MRA_VERIFY_BUDGET": budget,
        "MRA_ANCHOR_SECONDS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "node", "node", "run", "--home", str(home), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    url = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/v1/health", verify=str(ca), timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("node did not start")
    return Running(url, home, ca, key, process)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Running]:
    """BR, scrubbing at half a core, with its partner UY running (not scrubbing)."""
    port, partner = free_port(), free_port()
    net = lone_home(tmp_path, port, partner).parent
    key = mra("apikey", "create", "--role", "admin", "--home", str(net / "BR")).strip()
    uy = start(net / "UY", partner, net / "members.pem", "", budget="0")
    running = start(net / "BR", port, net / "members.pem", key)
    yield running
    for process in (running.process, uy.process):
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def verification(node: Running) -> dict[str, object]:
    answer = httpx.get(
        node.url + "/v1/health",
        headers={"Authorization": f"Bearer {node.key}"},
        verify=str(node.ca),
        timeout=5,
    )
    assert answer.status_code == 200
    result: dict[str, object] = answer.json()["verification"]
    return result


def wait_for(predicate: object, seconds: float = 40) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.25)
    pytest.fail("timed out")


def scrubbers(home: Path) -> list[int]:
    found = subprocess.run(
        ["pgrep", "-f", f"node.host.scrub {home}"], capture_output=True, text=True, check=False
    )
    return [int(pid) for pid in found.stdout.split()]


def test_scrubber_names_damage_while_the_node_runs(node: Running) -> None:
    auth = {"Authorization": f"Bearer {node.key}"}
    with httpx.Client(base_url=node.url, verify=str(node.ca), headers=auth) as client:
        published = client.post("/v1/aeo", json={"records": list(sample_dicts("BR", 20))})
        assert published.status_code == 200, published.text
        assert client.get("/v1/aeo/BR000000003").status_code == 200
        first = verification(node)["last_complete"]
        wait_for(lambda: verification(node)["last_complete"] not in (None, first))
        assert verification(node)["damage_total"] == 0

        # An insider suspends a trader in the derived table only, behind the node's back.
        conn = sqlite3.connect(node.home / "ledger.db")
        conn.execute("UPDATE aeo_current SET status = 'revoked' WHERE aeo_id = 'BR000000003'")
        conn.commit()
        conn.close()
        wait_for(lambda: verification(node)["damage_total"] == 1)
        health = verification(node)
        assert "derived-mismatch: aeo_current BR000000003" in str(health["first_damage"])
        metrics = client.get("/metrics").text
        assert "mra_verify_damage_total 1.0" in metrics
        assert "mra_verify_last_complete_timestamp " in metrics
        login = client.post("/ui/login", data={"api_key": node.key}, follow_redirects=True)
        assert "Integrity alarm" in login.text and "BR000000003" in login.text


def test_a_pass_resumes_after_a_restart_and_the_scrubber_leaves_with_the_node(
    node: Running,
) -> None:
    auth = {"Authorization": f"Bearer {node.key}"}
    published = httpx.post(
        node.url + "/v1/aeo",
        json={"records": list(sample_dicts("BR", 50))},
        headers=auth,
        verify=str(node.ca),
    )
    assert published.status_code == 200
    [pid] = scrubbers(node.home)
    wait_for(lambda: scrub.read_state(node.home).step > 0)
    os.kill(node.process.pid, signal.SIGKILL)
    node.process.wait(timeout=10)
    wait_for(lambda: not scrubbers(node.home), seconds=10)  # it left with its node
    stopped_at = json.loads((node.home / scrub.STATE_FILE).read_text())
    port = int(node.url.rsplit(":", 1)[1])
    restarted = start(node.home, port, node.ca, node.key)
    try:
        assert scrubbers(node.home) and scrubbers(node.home) != [pid]
        wait_for(lambda: verification(restarted)["last_complete"] is not None)
        assert scrub.read_state(node.home).last_found == []
        assert stopped_at["step"] > 0  # where the killed pass stood was kept
    finally:
        restarted.process.terminate()
        restarted.process.wait(timeout=10)
    wait_for(lambda: not scrubbers(node.home), seconds=10)
