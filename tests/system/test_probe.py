"""``python -m node.app.probe``, the Compose healthcheck, against a real ``mra node run``
over TLS."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.app.probe import alive, main

ROOT = Path(__file__).resolve().parents[2]


def mra(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "node", *args], cwd=ROOT, capture_output=True, timeout=60, check=True
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def network(directory: Path, port: int) -> Path:
    """A two-member network whose BR listens on ``port``; BR's home."""
    mra(
        "network", "init", str(directory),
        "--member", f"BR,Receita Federal,https://127.0.0.1:{port}",
        "--member", "UY,Aduanas,https://127.0.0.1:1",
    )  # fmt: skip
    return directory / "BR"


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    port = free_port()
    home = network(tmp_path / "net", port)
    process = subprocess.Popen(
        [sys.executable, "-m", "node", "node", "run", "--home", str(home), "--port", str(port)],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while alive(home, port, timeout=1) is not None:
            if time.monotonic() > deadline:
                pytest.fail("the node did not start")
            time.sleep(0.1)
        yield home, port
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_a_running_node_is_alive_without_any_key(running: tuple[Path, int]) -> None:
    home, port = running
    assert alive(home, port) is None
    assert main(["--home", str(home), "--port", str(port)]) == 0


def test_a_closed_port_is_not_alive(tmp_path: Path) -> None:
    port = free_port()
    home = network(tmp_path / "net", port)
    problem = alive(home, port, timeout=1)
    assert problem is not None and f"127.0.0.1:{port}" in problem
    assert main(["--home", str(home), "--port", str(port), "--timeout", "1"]) == 1


def test_a_node_of_another_network_is_not_alive(running: tuple[Path, int], tmp_path: Path) -> None:
    _, port = running
    stranger = network(tmp_path / "other", port)  # another certificate: the handshake fails
    problem = alive(stranger, port, timeout=2)
    assert problem is not None and "CERTIFICATE_VERIFY_FAILED" in problem


def test_a_home_without_a_certificate_is_not_alive(tmp_path: Path) -> None:
    problem = alive(tmp_path, free_port())
    assert problem is not None and "no certificate to verify" in problem
