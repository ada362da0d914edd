"""``mra node run`` as a real process over real TLS on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from node.sample import sample_dicts

ROOT = Path(__file__).resolve().parents[2]


def mra(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "node", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[str, Path, str]]:
    port = free_port()
    net = tmp_path / "net"
    mra(
        "network",
        "init",
        str(net),
        "--member",
        f"BR,Receita Federal,https://127.0.0.1:{port}",
        "--member",
        "UY,Aduanas,https://127.0.0.1:1",
    )
    key = mra("apikey", "create", "--role", "publisher", "--home", str(net / "BR")).strip()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "node",
            "node",
            "run",
            "--home",
            str(net / "BR"),
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env={**os.environ},
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail(f"node did not start: {process.stderr.read() if process.stderr else ''}")
    yield f"https://127.0.0.1:{port}", net, key
    process.terminate()
    process.wait(timeout=10)


def test_tls_api_with_keys(node: tuple[str, Path, str]) -> None:
    url, net, key = node
    with httpx.Client(base_url=url, verify=str(net / "ca.crt")) as client:
        assert client.get("/v1/health").status_code == 401
        auth = {"Authorization": f"Bearer {key}"}
        # Its only peer never answers: nothing vouches for the log this home holds, so appends
        # wait, until the operator accepts the risk (node.guard).
        held = client.post("/v1/aeo", json=next(sample_dicts("BR", 1)), headers=auth)
        assert held.status_code == 503 and held.json()["title"] == "OwnLogUnconfirmed", held.text
        assert held.headers["Retry-After"] == "5"
        accepted = mra(
            "ledger", "accept-restore", "--by", "test operator", "--home", str(net / "BR")
        )
        assert "test operator accepted the risk" in accepted
        published = client.post("/v1/aeo", json=next(sample_dicts("BR", 1)), headers=auth)
        assert published.status_code == 200, published.text
        health = client.get("/v1/health", headers=auth).json()
        assert health["origin"] == "BR" and health["logs"]["BR"] == 1
    with pytest.raises(httpx.HTTPError):  # the server speaks TLS only
        httpx.get(url.replace("https", "http") + "/v1/health", timeout=5)
    with pytest.raises(httpx.ConnectError):  # and its certificate is from the network's CA
        httpx.get(url + "/v1/health", timeout=5)
