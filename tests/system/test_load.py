"""Bounded load: ``scripts/load`` for 30 s against a node of its own and against a devnet of its
own, as CI runs it. Every answer is the expected one (no 5xx, no transport error or timeout, no
unexpected status, no wrong content), every status change reaches the partners entitled to it,
and no node's resident memory grows past the bound after the warm-up.

The two runs go at once: on two cores each gets slower, but nothing asserted depends on speed
(a status change has 10 s to reach the partners and takes 0.5-0.8 s at the median, 4 s at
worst, on this shared machine), and the module takes about 75 s instead of about 115 one after
the other. The devnet's ports are in 10000-19999, apart from the other devnet tests'
(20000-60000) and from the ephemeral ports the other tests' servers are given.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.long  # 30 s of load on two node set-ups: the long step of .ci/run
ROOT = Path(__file__).resolve().parents[2]
SECONDS = 30
# What the mix sends, and what must have been sent in 30 s.
OPERATIONS = {
    "lookup",
    "by_trader",
    "batch",
    "trail",
    "publish",
    "publish_batch",
    "status",
    "unknown",
    "refused",
    "health",
    "metrics",
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Both runs, started together and finished; the folder of their output. The nodes live
    under the test's temporary folder, so the suite's last test searches their logs (and the
    printed output) for secrets."""
    out = tmp_path_factory.mktemp("load")
    processes = []
    for target in ("node", "devnet"):
        command = [sys.executable, str(ROOT / "scripts" / "load"), "--target", target]
        command += ["--duration", str(SECONDS), "--out", str(out), "--workdir", str(out / target)]
        with open(out / f"load-{target}.log", "w") as log:
            processes.append(
                subprocess.Popen(
                    command,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        for process in processes:
            process.wait(timeout=240)
        yield out
    finally:
        for process in processes:
            if process.poll() is None:  # stops its nodes on the way out
                process.terminate()
                process.wait(timeout=60)


def outcome(out: Path, target: str) -> tuple[str, dict[str, Any]]:
    printed = (out / f"load-{target}.log").read_text()
    found = out / f"load-{target}.json"
    assert found.exists(), printed
    result: dict[str, Any] = json.loads(found.read_text())
    return printed, result


@pytest.mark.parametrize("target", ["node", "devnet"])
def test_thirty_seconds_of_load_without_an_error_and_with_flat_memory(
    runs: Path, target: str
) -> None:
    printed, result = outcome(runs, target)
    assert result["errors"] == 0, json.dumps(result["error_samples"], indent=1)
    assert result["ok"], printed
    assert printed.rstrip().endswith(f"load-{target}.json") and "\nOK\n" in printed
    assert set(result["operations"]) >= OPERATIONS, sorted(result["operations"])
    assert result["duration_s"] >= SECONDS

    nodes = {"node": {"BR"}, "devnet": {"AR", "BR", "CL", "PY", "UY"}}[target]
    assert set(result["memory"]) == nodes  # every node process lived through the run
    for code, memory in result["memory"].items():
        assert memory["growth_mib"] <= memory["bound_mib"], (code, memory)
        assert memory["bound_mib"] == max(20.0, round(0.1 * memory["warm_mib"], 2))
        assert len(result["rss_series"][code]) >= SECONDS  # sampled every second

    if target == "devnet":  # status changes were followed to every entitled partner
        assert result["propagation_ms"]["changes"] > 0
        assert result["operations"]["partner_read"]["errors"] == 0
