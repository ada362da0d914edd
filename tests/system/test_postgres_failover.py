"""A node on a PostgreSQL primary with a streaming standby, reached by a multi-host URL
(``host=<primary>,<standby>&target_session_attrs=read-write``), through a failover: the primary
stops as a crash would and the standby is promoted (README, Operations: PostgreSQL high
availability).

Synchronous replication: records are published throughout; the node, never restarted,
reconnects to the new primary and every write it acknowledged is there. Asynchronous
replication, the standby behind: the node reconnects, and refuses to append (OwnLogBehind)
rather than sign again the seqs the new primary lacks."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from node.core.sample import sample_dicts
from tests.pg import Cluster, unavailable
from tests.system.lone_node import free_port, lone_home, start, vouched

# Minutes of whole-network procedures: .ci/run runs them as their own step (pytest -m long).
pytestmark = pytest.mark.long


@contextlib.contextmanager
def replicated(*, synchronous: bool) -> Iterator[tuple[Cluster, Cluster]]:
    """A primary (committing only once its standby has the WAL when ``synchronous``), its
    streaming standby, and a database ``mra`` on them."""
    why = unavailable()
    if why is not None:
        if os.environ.get("CI") or os.environ.get("MRA_REQUIRE_POSTGRES"):
            pytest.fail(f"{why}: CI runs the PostgreSQL tests")
        pytest.skip(why)
    primary = Cluster(settings="-c synchronous_standby_names='*'" if synchronous else "")
    standby: Cluster | None = None
    try:
        standby = Cluster(standby_of=primary)
        with psycopg.connect(primary.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE mra")
            for _ in range(100):  # the standby connects once it has replayed the backup
                states = conn.execute("SELECT sync_state FROM pg_stat_replication").fetchall()
                if states:
                    break
                time.sleep(0.1)
        assert states == [("sync" if synchronous else "async",)]
        yield primary, standby
    finally:
        if standby is not None:
            standby.stop()
        primary.stop()


def node_on(
    tmp_path: Path, primary: Cluster, standby: Cluster
) -> tuple[subprocess.Popen[bytes], httpx.Client, dict[str, str]]:
    """BR's node on the pair's multi-host URL, vouched for (its only peer never runs): the
    process, a client of its API and a publisher's header."""
    url = (
        f"postgresql://postgres@/mra?host={primary.root},{standby.root}"
        "&target_session_attrs=read-write"
    )
    port = free_port()
    home = lone_home(tmp_path, port)
    env = {**os.environ, "MRA_DATABASE_URL": url}
    auth = vouched(env, home)
    node = start(home, port, env)
    client = httpx.Client(
        base_url=f"https://127.0.0.1:{port}", verify=str(home.parent / "members.pem"), timeout=10
    )
    return node, client, auth


def test_synchronous_the_node_reconnects_to_the_promoted_standby_and_loses_no_write(
    tmp_path: Path,
) -> None:
    with replicated(synchronous=True) as (primary, standby):
        node, client, auth = node_on(tmp_path, primary, standby)
        try:
            with client:
                acknowledged, refused = failover(client, auth, primary, standby)
        finally:
            node.terminate()
            node.wait(timeout=15)
        # The writes during the outage were refused (503), not acknowledged.
        assert refused and set(refused) == {503}, refused
        with psycopg.connect(standby.url("mra")) as conn:
            held = conn.execute("SELECT count(*) FROM entries WHERE origin = 'BR'").fetchone()
        assert held is not None and held[0] >= len(acknowledged)


def failover(
    client: httpx.Client, auth: dict[str, str], primary: Cluster, standby: Cluster
) -> tuple[list[str], list[int]]:
    """Publish while the primary halts and the standby is promoted, until ten more are
    accepted; every acknowledged record is then read back. Returns the acknowledged ids and
    the statuses of the refused publishes."""
    records = list(sample_dicts("BR", 200))
    acknowledged: list[str] = []
    refused: list[int] = []
    done = threading.Event()

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
    try:
        while len(acknowledged) < 10 and writer.is_alive():
            time.sleep(0.01)
        primary.halt()  # the primary's server dies under the writes
        before = len(acknowledged)
        standby.promote()
        deadline = time.monotonic() + 30
        while len(acknowledged) < before + 10 and writer.is_alive():
            assert time.monotonic() < deadline, "no write accepted after the promotion"
            time.sleep(0.05)
    finally:
        done.set()
        writer.join(timeout=20)
    # Every acknowledged write is on the new primary, read through the same process.
    for aeo_id in acknowledged:
        assert client.get(f"/v1/aeo/{aeo_id}", headers=auth).status_code == 200, aeo_id
    return acknowledged, refused


def test_asynchronous_a_standby_behind_is_not_appended_to_after_the_failover(
    tmp_path: Path,
) -> None:
    with replicated(synchronous=False) as (primary, standby):
        node, client, auth = node_on(tmp_path, primary, standby)
        first, second, third = sample_dicts("BR", 3)
        try:
            with client:
                assert client.post("/v1/aeo", json=first, headers=auth).status_code == 200
                wait_replayed(primary)
                standby.halt()  # the standby falls behind: the primary does not wait for it
                assert client.post("/v1/aeo", json=second, headers=auth).status_code == 200
                primary.halt()
                standby.start()
                standby.promote()  # it lacks the second record's entry
                refused = client.post("/v1/aeo", json=third, headers=auth)
                assert refused.status_code == 503, refused.text
                assert refused.json()["title"] == "OwnLogBehind", refused.text
                assert "this process committed 2" in refused.json()["detail"]
        finally:
            node.terminate()
            node.wait(timeout=15)
        with psycopg.connect(standby.url("mra")) as conn:
            held = conn.execute("SELECT count(*) FROM entries WHERE origin = 'BR'").fetchone()
        assert held == (1,)  # seq 1 was not signed a second time


def wait_replayed(primary: Cluster) -> None:
    """Until the standby has replayed everything the primary wrote."""
    with psycopg.connect(primary.url("postgres"), autocommit=True) as conn:
        for _ in range(100):
            row = conn.execute(
                "SELECT replay_lsn >= pg_current_wal_lsn() FROM pg_stat_replication"
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.05)
    raise AssertionError("the standby did not catch up")
