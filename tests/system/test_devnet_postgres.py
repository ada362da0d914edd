"""The devnet with two of its five members on PostgreSQL: BR and UY run ``mra node run`` with
``MRA_DATABASE_URL`` (a database each on the session's private cluster), AR, CL and PY on their
SQLite files. A record published at BR replicates to UY (PostgreSQL) and to AR (SQLite)."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import psycopg

from network.devnet import Devnet
from node.core.sample import sample_dicts
from tests.pg import Cluster
from tests.system.test_devnet import _free_base


def test_a_devnet_with_two_nodes_on_postgres_replicates(
    tmp_path: Path, pg_cluster: Cluster
) -> None:
    urls = {code: pg_cluster.store_database() for code in ("BR", "UY")}
    devnet = Devnet(
        tmp_path / "net",
        base_port=_free_base(),
        gossip_interval=0.5,
        node_env={code: {"MRA_DATABASE_URL": url} for code, url in urls.items()},
    )
    devnet.create()
    devnet.start()
    try:
        devnet.wait_healthy()
        published = list(sample_dicts("BR", 3))
        with devnet.client("BR") as client:
            deadline = time.monotonic() + 30
            while True:  # appends wait until a peer has vouched for BR's log (start guard)
                answer = client.post("/v1/aeo", json={"records": published})
                if answer.status_code == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert answer.status_code == 200, answer.text
            size = client.get("/v1/health").json()["logs"]["BR"]
        assert size >= 3
        for code in ("UY", "AR"):
            with devnet.client(code) as client:
                deadline = time.monotonic() + 30
                while client.get("/v1/health").json()["logs"].get("BR", 0) < size:
                    assert time.monotonic() < deadline, f"BR's log did not reach {code}"
                    time.sleep(0.2)
        # BR's and UY's ledgers are in their PostgreSQL databases, not their homes' files.
        for code, url in urls.items():
            with psycopg.connect(url) as conn:
                row = conn.execute("SELECT count(*) FROM entries WHERE origin = 'BR'").fetchone()
            assert row is not None and row[0] >= size, code
            with closing(sqlite3.connect(tmp_path / "net" / code / "ledger.db")) as held:
                assert held.execute("SELECT count(*) FROM entries").fetchone() == (0,), code
    finally:
        devnet.stop()
        for url in urls.values():
            pg_cluster.drop(url)
