"""Keys at rest, as an operator meets them: ``mra key encrypt`` seals a node's private keys with
a passphrase; commands and the node process then need it, refuse a wrong one without echoing
it, and a node refuses to start while a key file is readable by others."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from node.core.sample import sample_dicts
from node.host.home import KEY_HEADER

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery staple 7"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def mra(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MRA_KEY_PASSPHRASE")}
    return subprocess.run(
        [sys.executable, "-m", "node", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**clean, **(env or {})},
    )


def said(result: subprocess.CompletedProcess[str]) -> str:
    """What a command wrote to stderr, as one line (the console wraps long messages)."""
    return " ".join(result.stderr.split())


@pytest.fixture
def home(tmp_path: Path) -> tuple[Path, int]:
    port = _port()
    done = mra(
        "network",
        "init",
        str(tmp_path / "net"),
        "--member",
        f"BR,Brasil,https://127.0.0.1:{port}",
        "--member",
        f"UY,Uruguay,https://127.0.0.1:{_port()}",  # never started: BR just finds it away
    )
    assert done.returncode == 0, done.stderr
    return tmp_path / "net" / "BR", port


@pytest.mark.long  # 12 s: sealed keys through several CLI runs and a node
def test_sealed_keys_need_the_passphrase_and_never_show_it(
    home: tuple[Path, int], tmp_path: Path
) -> None:
    path, port = home
    seed_hex = (path / "signing.key").read_text().split()[-1]
    sealing_hex = (path / "sealing.key").read_text().strip()
    secrets = [PASSPHRASE, seed_hex, sealing_hex]

    short = mra("key", "encrypt", "--home", str(path), env={"MRA_KEY_PASSPHRASE": "short"})
    assert short.returncode == 2 and "at least 12 characters" in said(short)
    sealed = mra("key", "encrypt", "--home", str(path), env={"MRA_KEY_PASSPHRASE": PASSPHRASE})
    assert sealed.returncode == 0, sealed.stderr
    assert "signing.key, sealing.key, tls.key" in sealed.stdout
    for name in ("signing.key", "sealing.key", "tls.key"):
        data = (path / name).read_bytes()
        assert oct((path / name).stat().st_mode & 0o777) == "0o600"
        assert seed_hex.encode() not in data and sealing_hex.encode() not in data
        assert KEY_HEADER.encode() not in data
    assert b"ENCRYPTED PRIVATE KEY" in (path / "tls.key").read_bytes()

    record = tmp_path / "record.json"
    record.write_text(json.dumps(next(sample_dicts("BR", 1))))
    publish = ("aeo", "publish", str(record), "--home", str(path))
    missing = mra(*publish)
    assert missing.returncode == 2 and "MRA_KEY_PASSPHRASE" in said(missing)
    wrong = mra(*publish, env={"MRA_KEY_PASSPHRASE": "not the passphrase at all"})
    assert wrong.returncode == 2 and "wrong passphrase" in said(wrong)
    assert "not the passphrase" not in wrong.stderr + wrong.stdout
    (tmp_path / "secret").write_text(PASSPHRASE + "\n")
    (tmp_path / "secret").chmod(0o600)
    from_file = {"MRA_KEY_PASSPHRASE_FILE": str(tmp_path / "secret")}
    # UY never runs: no peer can vouch for BR's log, so the operator accepts the risk first.
    accepted = mra("ledger", "accept-restore", "--home", str(path))
    assert accepted.returncode == 0, accepted.stderr
    ok = mra(*publish, env=from_file)
    assert ok.returncode == 0, ok.stderr

    # The node process opens its sealed ledger, sealing and TLS keys with the passphrase file.
    key = mra("apikey", "create", "--role", "viewer", "--home", str(path)).stdout.strip()
    secrets.append(key)
    log = tmp_path / "node.log"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MRA_KEY_PASSPHRASE")}
    with open(log, "wb") as out:
        node = subprocess.Popen(
            [sys.executable, "-m", "node", "node", "run", "--home", str(path), "--port", str(port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**clean, **from_file},
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with httpx.Client(verify=str(path / "tls.crt"), timeout=2) as client:
                    answer = client.get(
                        f"https://127.0.0.1:{port}/v1/aeo/BR000000001",
                        headers={"Authorization": f"Bearer {key}"},
                    )
                    bad = client.get(
                        f"https://127.0.0.1:{port}/v1/health",
                        headers={"Authorization": f"Bearer {key}x"},
                    )
                break
            except httpx.TransportError:
                assert node.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        assert answer.status_code == 200, answer.text
        assert bad.status_code == 401 and key not in bad.text
    finally:
        os.killpg(node.pid, signal.SIGTERM)
        node.wait(timeout=20)

    # Without the passphrase the node does not start, and says why.
    refused = mra("node", "run", "--home", str(path), "--port", str(port))
    assert refused.returncode == 2 and "tls.key is encrypted" in said(refused)
    outputs = [log.read_text(), missing.stderr, wrong.stderr, ok.stdout, refused.stderr]
    for text in outputs:
        for secret in secrets:
            assert secret not in text


def test_a_node_refuses_to_start_with_a_key_others_can_read(home: tuple[Path, int]) -> None:
    path, port = home
    for name in ("sealing.key", "tls.key", "signing.key"):
        (path / name).chmod(0o640)
        refused = mra("node", "run", "--home", str(path), "--port", str(port))
        assert refused.returncode == 2, refused.stdout
        assert f"{path / name} is accessible to other users" in said(refused)
        assert f"chmod 600 {path / name}" in said(refused)
        (path / name).chmod(0o600)
