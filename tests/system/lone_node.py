"""One node started as an operator starts it, in a network whose other member never runs (so
the operator vouches for its empty log): shared by the system tests of a single node on
PostgreSQL, with workers, or as the runtime role."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def mra(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> str:
    """``mra ARGS``'s output, with ``env`` added to this process's environment; the command
    must succeed."""
    result = cli({**os.environ, **(env or {})}, *args, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def lone_home(tmp_path: Path, port: int, partner: int = 1) -> Path:
    """BR's home, to listen on ``port``, in a network whose other member (UY, at ``partner``)
    never runs unless the test starts it."""
    net = tmp_path / "net"
    mra(
        "network",
        "init",
        str(net),
        "--member",
        f"BR,Receita Federal,https://127.0.0.1:{port}",
        "--member",
        f"UY,Aduanas,https://127.0.0.1:{partner}",
    )
    return net / "BR"


def vouched(env: dict[str, str], home: Path, role: str = "publisher") -> dict[str, str]:
    """An API key of ``role`` as request headers, once the operator has vouched for the log
    (its only peer never answers, so the node would otherwise wait for it)."""
    made = cli(env, "apikey", "create", "--role", role, "--home", str(home))
    assert made.returncode == 0, made.stderr
    assert cli(env, "ledger", "accept-restore", "--home", str(home)).returncode == 0
    return {"Authorization": f"Bearer {made.stdout.strip()}"}


def start(home: Path, port: int, env: dict[str, str], wait: float = 30) -> subprocess.Popen[bytes]:
    """``mra node run`` on ``home``, once it answers ``/v1/health`` (within ``wait`` s)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "node", "node", "run", "--home", str(home), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"https://127.0.0.1:{port}/v1/health", verify=False, timeout=1):
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"node did not start: {process.stderr.read() if process.stderr else ''}")
