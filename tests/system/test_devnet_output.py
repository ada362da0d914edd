"""What ``mra devnet up`` prints, read as a newcomer reads it in a terminal of 80 columns or
through a pipe (issue 23, point 6): each admin key whole on one line, and a stop command that
can be run as printed. Real node processes, started by the command as a user starts them."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.system.test_devnet import ROOT, _free_base

pytestmark = pytest.mark.long  # 11 s: a whole devnet up and down through the CLI

MRA = ROOT / ".venv" / "bin" / "mra"


def test_devnet_up_prints_keys_unbroken_and_a_stop_command_to_run(tmp_path: Path) -> None:
    directory = tmp_path / "net"
    # As after scripts/run: the virtualenv is not on PATH, so mra is .venv/bin/mra.
    path = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(p) != MRA.parent
    )
    env = {**os.environ, "COLUMNS": "80", "PATH": path}
    base = _free_base()

    def up_at(port: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *(str(MRA), "devnet", "up", "--dir", str(directory), "--detach"),
                *("--records", "1", "--base-port", str(port)),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    up = up_at(base)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        # Issue 23, point 6: --base-port on an existing devnet says plainly it cannot move it,
        # and what to run instead; the running nodes are left as they are.
        pids = (directory / "pids.json").read_text()
        moved = up_at(base + 100)
        assert moved.returncode == 2, moved.stdout + moved.stderr
        said = " ".join(moved.stderr.split())
        assert said.startswith(f"error: --base-port: the devnet in {directory} listens on"), said
        assert f"{base}-{base + 4} and cannot move to {base + 100}" in said, said
        assert f"Start it where it is with '.venv/bin/mra devnet up --dir {directory}'" in said
        assert (directory / "pids.json").read_text() == pids
        lines = up.stdout.splitlines()
        for code in ("BR", "UY", "AR", "PY", "CL"):
            key = (directory / code / "admin.key").read_text().strip()
            assert any(key in line for line in lines), (key, up.stdout)  # whole, on one line
        [stop] = [line for line in lines if "stop with:" in line]
        command = stop.split("stop with:", 1)[1].strip()
        assert command.startswith(".venv/bin/mra devnet down"), command  # as run from ROOT
    finally:
        down = subprocess.run(
            [str(MRA), "devnet", "down", "--dir", str(directory)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert down.returncode == 0, down.stderr
    stopped = subprocess.run(
        shlex.split(command), cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert stopped.returncode == 0 and "nothing was running" in stopped.stdout, stopped.stdout
