"""Network governance with no single authority (issue 24) on real node processes over TLS:
members that are their own trust root, pinned by the membership."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from network.bootstrap import MemberSpec, init_network
from network.pki import self_issued
from node.core.clock import system_clock
from node.core.sample import sample_dicts
from node.host.apikeys import create_key
from node.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
NODE_RUN = (sys.executable, "-m", "node", "node", "run")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def mra(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "node", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


class Net:
    """A self-issued network of real ``mra node run`` processes on 127.0.0.1."""

    def __init__(self, directory: Path, codes: tuple[str, ...]) -> None:
        self.dir = directory
        self.ports = dict(zip(codes, free_ports(len(codes)), strict=True))
        specs = [MemberSpec(code=c, name=f"Customs {c}", endpoint=self.url(c)) for c in self.ports]
        init_network(directory, "Governance test", specs, now=datetime.now(UTC), self_issued=True)
        self.keys: dict[str, str] = {}
        for code in self.ports:
            store = SqliteStore.open(directory / code / "ledger.db")
            try:
                self.keys[code] = create_key(store, "admin", "test", system_clock())
            finally:
                store.close()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def url(self, code: str) -> str:
        return f"https://127.0.0.1:{self.ports[code]}"

    def start(self, code: str) -> None:
        log = open(self.dir / code / "node.log", "ab")  # noqa: SIM115 (closed by the process)
        self.processes[code] = subprocess.Popen(
            [*NODE_RUN, "--home", str(self.dir / code), "--port", str(self.ports[code])],
            cwd=ROOT,
            env={**os.environ, "MRA_GOSSIP_INTERVAL": "0.5"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    def api(self, code: str) -> httpx.Client:
        """A client of ``code``'s API, trusting the node's own certificate (it is its root)."""
        context = ssl.create_default_context(cafile=str(self.dir / code / "tls.crt"))
        return httpx.Client(
            base_url=self.url(code),
            verify=context,
            headers={"Authorization": f"Bearer {self.keys[code]}"},
            timeout=10,
        )

    def health(self, code: str) -> dict[str, Any]:
        with self.api(code) as client:
            answer: dict[str, Any] = client.get("/v1/health").json()
            return answer

    def log(self, code: str) -> str:
        return (self.dir / code / "node.log").read_text(errors="replace")


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    network = Net(tmp_path / "net", ("AR", "BR"))
    try:
        for code in network.ports:
            network.start(code)
        for code in network.ports:
            wait_for(lambda c=code: network.health(c), 30, f"{code} to serve")  # type: ignore[misc]
        yield network
    finally:
        network.stop()


def test_a_network_with_no_ca_replicates_and_accepts_only_pinned_certificates(net: Net) -> None:
    """Point 1: no CA exists; each node trusts exactly the certificates the membership pins."""
    assert not list(net.dir.rglob("ca.key")) and not list(net.dir.rglob("ca.crt"))
    with net.api("BR") as client:
        answer = client.post("/v1/aeo", json=next(sample_dicts("BR", 1)))
        wait_for(
            lambda: (
                client.post("/v1/aeo", json=next(sample_dicts("BR", 1, start=2))).status_code == 200
            ),
            30,
            "BR to append (after AR vouched for its log)",
        )
        assert answer.status_code in (200, 503)
    wait_for(lambda: net.health("AR")["logs"].get("BR", 0) >= 1, 30, "AR to replicate BR")
    assert net.health("BR")["peers"]["AR"]["reachable"]

    # A certificate for AR that AR's entry does not pin: refused in the handshake.
    impostor = self_issued("AR", "Governance test", ["127.0.0.1"], now=datetime.now(UTC))
    (net.dir / "impostor.crt").write_bytes(impostor.cert_pem)
    (net.dir / "impostor.key").write_bytes(impostor.key_pem)
    context = ssl.create_default_context(cafile=str(net.dir / "BR" / "tls.crt"))
    context.load_cert_chain(net.dir / "impostor.crt", net.dir / "impostor.key")
    with pytest.raises(httpx.HTTPError):
        httpx.get(net.url("BR") + "/v1/peer/frontier", verify=context, timeout=5)
    # AR's real certificate is accepted; no certificate at all is refused (401).
    context = ssl.create_default_context(cafile=str(net.dir / "BR" / "tls.crt"))
    context.load_cert_chain(net.dir / "AR" / "tls.crt", net.dir / "AR" / "tls.key")
    assert httpx.get(net.url("BR") + "/v1/peer/frontier", verify=context).status_code == 200
    bare = ssl.create_default_context(cafile=str(net.dir / "BR" / "tls.crt"))
    assert httpx.get(net.url("BR") + "/v1/peer/frontier", verify=bare).status_code == 401
