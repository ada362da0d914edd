"""``mra node run`` on PostgreSQL (``MRA_DATABASE_URL``) as a real process over real TLS: records
published and read back over HTTP, a CLI append beside the running node refused (one writer of
the log), a ``kill -9`` during writes loses nothing acknowledged, and the node goes on reading
and appending when the server restarts under it (its sessions are replaced)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from node.core.sample import sample_dicts
from tests.pg import Cluster
from tests.system.lone_node import cli, free_port, lone_home, start, vouched

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.long  # 10 s: SIGKILLs and a server restart
def test_a_node_on_postgres_serves_loses_nothing_to_kill_9_and_outlives_a_server_restart(
    tmp_path: Path, pg_url: str, pg_cluster: Cluster
) -> None:
    port = free_port()
    home = lone_home(tmp_path, port)
    net = home.parent
    env = {**os.environ, "MRA_DATABASE_URL": pg_url}
    auth = vouched(env, home)
    records = list(sample_dicts("BR", 60))
    node = start(home, port, env)
    acknowledged: list[str] = []
    try:
        with httpx.Client(
            base_url=f"https://127.0.0.1:{port}", verify=str(net / "members.pem"), timeout=10
        ) as client:
            first = client.post("/v1/aeo", json=records[0], headers=auth)
            assert first.status_code == 200, first.text
            acknowledged.append(records[0]["aeo_id"])
            read = client.get(f"/v1/aeo/{records[0]['aeo_id']}", headers=auth)
            assert read.status_code == 200 and records[0]["legal_name"] in read.text
            # run as the tables' owner (no runtime role, README): a warning, not a failure
            health = client.get("/v1/health", headers=auth).json()
            assert any("enforced by triggers only" in w for w in health["warnings"]), health
            # The server restarts under the running node: its sessions are replaced on their
            # next use, reads and appends go on without restarting the node.
            pg_cluster.restart()
            read = client.get(f"/v1/aeo/{records[0]['aeo_id']}", headers=auth)
            assert read.status_code == 200, read.text
            again = client.post("/v1/aeo", json=records[1], headers=auth)
            assert again.status_code == 200, again.text
            acknowledged.append(records[1]["aeo_id"])
            # A CLI append beside the running node is a second writer: refused, nothing written
            # (once vouched for: the acceptance covered the log before the first publish). The
            # node's writer lock was taken again with its new session.
            assert cli(env, "ledger", "accept-restore", "--home", str(home)).returncode == 0
            (tmp_path / "one.json").write_text(json.dumps(records[2]))
            refused = cli(env, "aeo", "publish", str(tmp_path / "one.json"), "--home", str(home))
            assert refused.returncode == 3, refused.stderr
            assert "another process already writes" in refused.stderr

            # Publish one record at a time while the node is killed.
            def publish_all() -> None:
                for data in records[3:]:
                    try:
                        answer = client.post("/v1/aeo", json=data, headers=auth)
                    except httpx.HTTPError:
                        return
                    if answer.status_code == 200:
                        acknowledged.append(data["aeo_id"])

            writer = threading.Thread(target=publish_all)
            writer.start()
            while len(acknowledged) < 10 and writer.is_alive():
                time.sleep(0.01)
            node.send_signal(signal.SIGKILL)
            node.wait()
            writer.join(timeout=20)
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
    assert len(acknowledged) >= 10
    node = start(home, port, env)  # the writer lock went with the killed process
    try:
        with httpx.Client(
            base_url=f"https://127.0.0.1:{port}", verify=str(net / "members.pem"), timeout=10
        ) as client:
            for aeo_id in acknowledged:
                assert client.get(f"/v1/aeo/{aeo_id}", headers=auth).status_code == 200, aeo_id
    finally:
        node.terminate()
        node.wait(timeout=15)
    verified = cli(env, "ledger", "verify", "--home", str(home))
    assert verified.returncode == 0, verified.stdout + verified.stderr
