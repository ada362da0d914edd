"""scripts/bench's peers (``scripts/peers/compare.py``): a peer that cannot run is reported with
the reason and never installed by the tests; the PostgreSQL chain writes every row it claims;
the table's ratios are this project ÷ the peer, from medians."""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg
import pytest

from tests import pg

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from peers.compare import Results, compare, install_hypercore, postgres_chain, rows_of


def test_without_node_hypercore_is_not_run_and_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no node, no npm: nothing is installed
    assert install_hypercore() == "Node.js/npm not found (Debian: apt-get install nodejs npm)"
    why_not_postgres = pg.unavailable()  # as root without runuser on PATH: a reason
    results = compare(1000, 2, lambda _: (100.0, 50.0), replication=True, log=lambda _: None)
    measured, not_run = rows_of(results)
    hypercore = (
        "peer: Hypercore",
        "not run: Node.js/npm not found (Debian: apt-get install nodejs npm)",
    )
    assert measured[0] == (
        "appends, batches of 1,000 (median of the peer rounds)",
        100.0,
        "records/s",
        None,
        "",
    )
    if why_not_postgres is not None:
        assert not_run == [hypercore, ("peer: PostgreSQL", f"not run: {why_not_postgres}")]
        assert len(measured) == 1
    else:  # PostgreSQL ran: its figure and this project's ratio to it, nothing of Hypercore's
        assert not_run == [hypercore]
        assert measured[1][0].startswith("peer: PostgreSQL ")
        assert measured[2][:2] == ("appends, batches of 1,000, against PostgreSQL", 100.0)


def test_ratios_are_ours_over_the_peer_from_medians() -> None:
    results = Results(versions={"Hypercore": "11.39.5", "PostgreSQL": "15"})
    for ours, hypercore, postgres in ((10.0, 40.0, 100.0), (30.0, 20.0, 60.0), (20.0, 30.0, 80.0)):
        results.add("ours appends", ours)
        results.add("hypercore appends_per_s", hypercore)
        results.add("postgres appends", postgres)
    for ours, hypercore in ((900.0, 300.0), (700.0, 250.0), (800.0, 200.0)):
        results.add("ours single", ours)
        results.add("hypercore single appends_per_s", hypercore)
    measured, not_run = rows_of(results)
    assert not_run == []
    against = {name: (value, limit, goal) for name, value, _, limit, goal in measured if limit}
    assert against == {
        "appends, batches of 1,000, against Hypercore": (20.0, 30.0, ">= 100%"),
        "appends, one record per publish, against Hypercore": (800.0, 250.0, ">= 80%"),
        "appends, batches of 1,000, against PostgreSQL": (20.0, 80.0, ""),
    }


def test_postgres_chain_writes_a_signed_chain(pg_cluster: pg.Cluster) -> None:
    url = pg_cluster.database()
    try:
        assert postgres_chain(url, 2500) > 0  # it checks that the table holds every row
        with psycopg.connect(url) as conn:
            left = conn.execute("SELECT to_regclass('chain')").fetchone()
        assert left == (None,)  # dropped after counting
    finally:
        pg_cluster.drop(url)
