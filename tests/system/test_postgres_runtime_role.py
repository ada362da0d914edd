"""``mra node run`` on PostgreSQL as the runtime role (``mra ledger grant``): the operator grants
the role in one command as the owner, the node serves publishes, reads and an erasure over real
TLS without UPDATE or DELETE on the log, the owner's URL rewrites the erased tables, and
``mra ledger verify`` passes, warning only when the node's role owns its tables."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from node.core.sample import sample_dicts
from tests.integration.test_postgres_store import _table_files
from tests.pg import Cluster
from tests.system.lone_node import cli, free_port, lone_home, start, vouched


@pytest.mark.long  # 24 s: several CLI processes and a node start on a shared machine
def test_a_node_run_as_the_runtime_role_serves_erases_and_verifies(
    tmp_path: Path, pg_url: str, pg_cluster: Cluster
) -> None:
    port = free_port()
    home = lone_home(tmp_path, port)
    net = home.parent
    owner = {**os.environ, "MRA_DATABASE_URL": pg_url}
    database = conninfo_to_dict(pg_url)["dbname"]
    role = f"node_{database}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
    refused = cli(owner, "ledger", "grant", "Robert'); DROP TABLE entries; --", "--home", str(home))
    assert refused.returncode != 0 and "role" in refused.stderr
    granted = cli(owner, "ledger", "grant", role, "--home", str(home))
    assert granted.returncode == 0, granted.stderr
    runtime = {
        **os.environ,
        "MRA_DATABASE_URL": f"postgresql://{role}@/{database}?host={pg_cluster.root}",
        "MRA_DATABASE_OWNER_URL": pg_url,
    }
    auth = vouched(runtime, home, role="admin")
    first, second = list(sample_dicts("BR", 2))
    node = start(home, port, runtime)
    try:
        with httpx.Client(
            base_url=f"https://127.0.0.1:{port}", verify=str(net / "members.pem"), timeout=10
        ) as client:
            for data in (first, second):
                answer = client.post("/v1/aeo", json=data, headers=auth)
                assert answer.status_code == 200, answer.text
            read = client.get(f"/v1/aeo/{first['aeo_id']}", headers=auth)
            assert read.status_code == 200 and first["legal_name"] in read.text
            health = client.get("/v1/health", headers=auth).json()
            assert not any("triggers only" in w for w in health.get("warnings", [])), health
            erased = client.post(
                f"/v1/aeo/{first['aeo_id']}/erase", json={"reason": "asked"}, headers=auth
            )
            assert erased.status_code == 200, erased.text
            gone = client.get(f"/v1/aeo/{first['aeo_id']}", headers=auth)
            assert gone.status_code in (404, 410), gone.text
    finally:
        node.terminate()
        node.wait(timeout=15)
    held = _table_files(pg_url)
    assert first["legal_name"].encode() not in held
    assert second["legal_name"].encode() in held
    verified = cli(runtime, "ledger", "verify", "--home", str(home))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "WARNING" not in verified.stderr
    as_owner = cli(owner, "ledger", "verify", "--home", str(home))
    assert as_owner.returncode == 0, as_owner.stdout + as_owner.stderr
    assert "append-only is enforced by triggers only" in as_owner.stderr
