"""The whole backup and restore cycle of a serving node at scale (issue 25, "How it is
checked"): ``mra backup`` of a running ``mra node run`` while a reader and a writer keep
going, then ``mra restore`` of that copy, as an operator runs them.

``MRA_BACKUP_CYCLE_RECORDS`` sets the size (default 20,000, a CI-sized run of about a
minute; ``MRA_BACKUP_CYCLE_RECORDS=1000000`` is the slow variant, whose figures are in README,
Operations).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from node.core.sample import sample_dicts
from tests.system.lone_node import cli, free_port, lone_home, start, vouched

pytestmark = pytest.mark.long

RECORDS = int(os.environ.get("MRA_BACKUP_CYCLE_RECORDS", "20000"))
SLOW = max(120.0, RECORDS / 400)  # seconds a command over every record may take (import, restore)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=SLOW)


def test_a_backup_of_a_serving_node_disturbs_no_request_and_restores_to_its_log(
    tmp_path: Path,
) -> None:
    port = free_port()
    home = lone_home(tmp_path, port)
    env = dict(os.environ)
    auth = vouched(env, home)  # its only peer never runs: the operator vouches for the log
    registry = tmp_path / "registry.jsonl"
    with registry.open("w") as out:
        for record in sample_dicts("BR", RECORDS):
            out.write(json.dumps(record) + "\n")
    imported = cli(env, "aeo", "import", str(registry), "--home", str(home), timeout=SLOW)
    assert imported.returncode == 0, imported.stderr
    # and again for the log as the import left it, which the node starts on
    assert cli(env, "ledger", "accept-restore", "--home", str(home)).returncode == 0
    node = start(home, port, env, wait=SLOW)
    failures: list[str] = []
    served = {"reads": 0, "writes": 0}
    stopping = threading.Event()
    client = httpx.Client(
        base_url=f"https://127.0.0.1:{port}",
        verify=str(home.parent / "members.pem"),
        headers=auth,
        timeout=30,
    )

    def read() -> None:
        while not stopping.is_set():
            aeo_id = f"BR{random.randint(1, RECORDS):09d}"
            answer = client.get(f"/v1/aeo/{aeo_id}")
            if answer.status_code != 200:
                failures.append(f"GET {aeo_id}: {answer.status_code} {answer.text[:200]}")
            served["reads"] += 1

    def write() -> None:
        start_at = RECORDS + 1
        while not stopping.is_set():
            batch = list(sample_dicts("BR", 10, start=start_at))
            answer = client.post("/v1/aeo", json={"records": batch})
            if answer.status_code != 200:
                failures.append(f"POST: {answer.status_code} {answer.text[:200]}")
            start_at += 10
            served["writes"] += 1
            time.sleep(0.05)

    threads = [threading.Thread(target=read), threading.Thread(target=write)]
    backup = tmp_path / "backup"
    try:
        for thread in threads:
            thread.start()
        time.sleep(1)
        taken = cli(env, "backup", str(backup), "--home", str(home), timeout=SLOW)
        time.sleep(1)
    finally:
        stopping.set()
        for thread in threads:
            thread.join(timeout=60)
        client.close()
        stop(node)
    assert taken.returncode == 0, taken.stderr
    assert failures == [], failures[:5]
    assert served["reads"] > 0 and served["writes"] > 0, served
    manifest = json.loads((backup / "manifest.json").read_text())
    # the copy holds every record imported and the batches acknowledged before it began
    assert manifest["log_size"] >= RECORDS, manifest

    restored = cli(env, "restore", str(backup), "--home", str(home), timeout=SLOW)
    assert restored.returncode == 0, restored.stderr
    said = " ".join((restored.stdout + restored.stderr).split())
    assert f"own log {manifest['log_size']} entries" in said, said
    assert "LOST" in said, said  # the writer went on after the copy's snapshot
    verified = cli(env, "ledger", "verify", "--home", str(home), timeout=SLOW)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    node = start(home, port, env, wait=SLOW)
    try:
        with httpx.Client(
            base_url=f"https://127.0.0.1:{port}",
            verify=str(home.parent / "members.pem"),
            headers=auth,
            timeout=30,
        ) as again:
            for number in (1, RECORDS // 2, RECORDS):
                assert again.get(f"/v1/aeo/BR{number:09d}").status_code == 200, number
            # the lost tail's seqs are never signed again without a peer or the operator
            refused = again.post("/v1/aeo", json=next(sample_dicts("BR", 1, start=10**8)))
            assert refused.status_code == 503, refused.text
    finally:
        stop(node)
