"""A node on a PostgreSQL primary with a synchronous streaming standby, reached by a multi-host
URL (``host=<primary>,<standby>&target_session_attrs=read-write``): records are published while
the primary stops as a crash would and the standby is promoted; the node, never restarted,
reconnects to the new primary and every write it acknowledged is there (README, Operations:
PostgreSQL high availability)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from node.core.sample import sample_dicts
from tests.pg import Cluster, unavailable
from tests.system.test_node_service import free_port, mra
from tests.system.test_postgres_node import cli, start


@pytest.fixture
def pair() -> Iterator[tuple[Cluster, Cluster]]:
    """A primary that commits only once its standby has the WAL, and that standby."""
    why = unavailable()
    if why is not None:
        if os.environ.get("CI") or os.environ.get("MRA_REQUIRE_POSTGRES"):
            pytest.fail(f"{why}: CI runs the PostgreSQL tests")
        pytest.skip(why)
    primary = Cluster(settings="-c synchronous_standby_names='*'")
    standby: Cluster | None = None
    try:
        standby = Cluster(standby_of=primary)
        with psycopg.connect(primary.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE mra")  # returns once the standby has it: it streams
            states = conn.execute("SELECT sync_state FROM pg_stat_replication").fetchall()
        assert states == [("sync",)]
        yield primary, standby
    finally:
        if standby is not None:
            standby.stop()
        primary.stop()


def test_the_node_reconnects_to_the_promoted_standby_and_loses_no_acknowledged_write(
    tmp_path: Path, pair: tuple[Cluster, Cluster]
) -> None:
    primary, standby = pair
    url = (
        f"postgresql://postgres@/mra?host={primary.root},{standby.root}"
        "&target_session_attrs=read-write"
    )
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
    home = net / "BR"
    env = {**os.environ, "MRA_DATABASE_URL": url}
    made = cli(env, "apikey", "create", "--role", "publisher", "--home", str(home))
    assert made.returncode == 0, made.stderr
    auth = {"Authorization": f"Bearer {made.stdout.strip()}"}
    assert cli(env, "ledger", "accept-restore", "--home", str(home)).returncode == 0
    records = list(sample_dicts("BR", 200))
    acknowledged: list[str] = []
    refused: list[int] = []
    done = threading.Event()
    node = start(home, port, env)
    try:
        with httpx.Client(
            base_url=f"https://127.0.0.1:{port}", verify=str(net / "ca.crt"), timeout=10
        ) as client:

            def publish() -> None:
                for data in records:
                    if done.is_set():
                        return
                    answer = client.post("/v1/aeo", json=data, headers=auth)
                    if answer.status_code == 200:
                        acknowledged.append(data["aeo_id"])
                    else:
                        refused.append(answer.status_code)
                        time.sleep(0.05)

            writer = threading.Thread(target=publish)
            writer.start()
            while len(acknowledged) < 10 and writer.is_alive():
                time.sleep(0.01)
            primary.halt()  # the primary's server dies under the writes
            before = len(acknowledged)
            standby.promote()
            deadline = time.monotonic() + 30
            while len(acknowledged) < before + 10 and writer.is_alive():
                assert time.monotonic() < deadline, "no write accepted after the promotion"
                time.sleep(0.05)
            done.set()
            writer.join(timeout=20)
            # Every acknowledged write is on the new primary, read through the same process.
            for aeo_id in acknowledged:
                assert client.get(f"/v1/aeo/{aeo_id}", headers=auth).status_code == 200, aeo_id
    finally:
        done.set()
        node.terminate()
        node.wait(timeout=15)
    # The writes during the outage were refused (503), not acknowledged.
    assert refused and set(refused) == {503}, refused
    with psycopg.connect(standby.url("mra")) as conn:
        held = conn.execute("SELECT count(*) FROM entries WHERE origin = 'BR'").fetchone()
    assert held is not None and held[0] >= len(acknowledged)
