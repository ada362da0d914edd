"""Onboarding a member into a running network, as the README's procedure does it: real node
processes over TLS, only ``mra`` commands and the HTTP API.

BR and UY run; BR rotates its key (so BR's signature on the new version is checked through its
rotation chain); PE joins. The new version is installed at PE and at BR only: UY adopts it from
BR by gossip. PE then gossips with both and holds their logs exactly as they do.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.core.sample import sample_dicts
from tests.system.lone_node import ROOT, free_port

NAMES = {"BR": "Receita Federal", "UY": "Aduanas", "PE": "SUNAT"}


def mra(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "node", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if ok:
        assert result.returncode == 0, result.stderr
    return result


class Network:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports = {code: free_port() for code in NAMES}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.keys: dict[str, str] = {}

    def url(self, code: str) -> str:
        return f"https://127.0.0.1:{self.ports[code]}"

    def home(self, code: str) -> str:
        return str(self.root / code)

    def start(self, code: str) -> None:
        created = mra("apikey", "create", "--role", "admin", "--home", self.home(code))
        self.keys[code] = created.stdout.strip()
        run = ("node", "run", "--home", self.home(code), "--port", str(self.ports[code]))
        with open(self.root / f"{code}.log", "ab") as log:
            self.processes[code] = subprocess.Popen(
                [sys.executable, "-m", "node", *run],
                cwd=ROOT,
                env={**os.environ, "MRA_GOSSIP_INTERVAL": "0.5"},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(lambda: self.get(code, "/v1/health").status_code == 200, f"{code} starts")

    def client(self, code: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url(code),
            # Each node presents the certificate it issued itself (no network CA).
            verify=ssl.create_default_context(cafile=self.root / code / "tls.crt"),
            headers={"Authorization": f"Bearer {self.keys[code]}"},
            timeout=10,
        )

    def get(self, code: str, path: str) -> httpx.Response:
        try:
            with self.client(code) as client:
                return client.get(path)
        except httpx.TransportError:
            return httpx.Response(599)

    def logs(self, code: str) -> dict[str, tuple[int, str]]:
        answer = self.get(code, "/v1/logs")
        if answer.status_code != 200:
            return {}
        return {log["origin"]: (log["size"], log["root"]) for log in answer.json()}

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            process.wait(timeout=15)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting until {what}")


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Network]:
    net = Network(tmp_path / "net")
    mra(
        "network",
        "init",
        str(net.root),
        *("--member", f"BR,{NAMES['BR']},{net.url('BR')}"),
        *("--member", f"UY,{NAMES['UY']},{net.url('UY')}"),
    )
    try:
        net.start("BR")
        net.start("UY")
        yield net
    finally:
        net.stop()


@pytest.mark.long  # 19 s: a network, then a member joins it
def test_a_member_joins_a_running_network(network: Network, tmp_path: Path) -> None:
    net = network
    with net.client("BR") as br:
        for record in sample_dicts("BR", 3):
            assert br.post("/v1/aeo", json=record).status_code == 200
        assert br.post("/v1/keys/rotate").status_code == 200
        assert br.post("/v1/aeo", json=next(sample_dicts("BR", 1, start=10))).status_code == 200
    wait_for(lambda: net.logs("UY").get("BR") == net.logs("BR")["BR"], "UY holds BR's log")

    # The new member (its certificate self-issued), then the members: the README's procedure.
    request = net.root / "PE" / "join-request.json"
    pe = ("--home", net.home("PE"))
    mra("network", "join", "--code", "PE", "--name", NAMES["PE"], "--endpoint", net.url("PE"), *pe)
    proposal = tmp_path / "proposal.json"
    mra("network", "propose", str(request), "--out", str(proposal), "--home", net.home("BR"))
    refused = mra("network", "install", str(proposal), *pe, ok=False)
    assert refused.returncode == 2 and "not signed yet by PE, UY" in refused.stderr
    mra("network", "sign", str(proposal), "--home", net.home("UY"))
    mra("network", "sign", str(proposal), *pe)
    signed = json.loads(proposal.read_text())
    assert sorted(signed["signatures"]) == ["BR", "PE", "UY"]
    assert len(signed["rotations"]["BR"]) == 1  # BR signed with its rotated key

    forged = json.loads(proposal.read_text())
    forged["document"]["members"][1]["endpoint"] = "https://evil.example:443"
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    damaged = mra("network", "install", str(tmp_path / "forged.json"), *pe, ok=False)
    assert damaged.returncode == 1 and "has not signed membership v2" in damaged.stderr

    mra("network", "install", str(proposal), *pe)
    mra("network", "install", str(proposal), "--home", net.home("BR"))
    again = mra("network", "install", str(proposal), "--home", net.home("BR"), ok=False)
    assert again.returncode == 2 and "does not follow the installed v2" in again.stderr

    net.start("PE")
    # UY adopts v2 from BR by gossip; PE replicates BR's log across its rotation and UY's log.
    wait_for(
        lambda: (
            json.loads((net.root / "UY" / "membership.json").read_text())["document"]["version"]
            == 2
        ),
        "UY adopts membership v2",
    )
    wait_for(
        lambda: all(net.logs("PE").get(o) == net.logs(o)[o] for o in ("BR", "UY")),
        "PE holds BR's and UY's logs as they do",
    )
    health = net.get("PE", "/v1/health").json()
    wait_for(
        lambda: all(p["reachable"] for p in net.get("PE", "/v1/health").json()["peers"].values()),
        f"PE hears from both peers ({health['peers']})",
    )
    wait_for(
        lambda: net.get("UY", "/v1/health").json()["peers"].get("PE", {}).get("reachable"),
        "UY gossips with PE",
    )
    assert len(net.get("PE", "/v1/keys?origin=BR").json()["BR"]) == 2

    # What PE received verifies offline like any node's ledger.
    stopped = net.processes.pop("PE")
    stopped.terminate()
    stopped.wait(timeout=15)
    verified = mra("ledger", "verify", *pe).stdout
    assert "OK BR: 5 entries" in verified and "OK UY" in verified


def test_join_refuses_bad_input_and_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "xx"
    bad = mra(
        "network", "join", "--code", "PE", "--name", "SUNAT", "--endpoint", "http://x:1",
        "--home", str(home), ok=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "endpoint" in bad.stderr
    assert not home.exists()
