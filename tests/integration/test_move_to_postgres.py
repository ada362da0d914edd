"""``mra ledger move-to-postgres``: a node's SQLite ledger moves whole into an empty PostgreSQL
database (a real private cluster), keeps its history (same entries, same seqs, same hashes),
goes on from the next seq there, and cannot be forked by a start that forgets the database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from node.core.sample import sample_dicts, sample_records
from node.host.home import NodeHome
from node.store.postgres import PostgresStore
from node.store.sqlite import SqliteStore, access_path


def _mra(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _env(url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MRA_DATABASE_URL"}
    if url is not None:
        env["MRA_DATABASE_URL"] = url
    return env


def _home(path: Path) -> NodeHome:
    """A standalone BR node: 30 records, one suspended and one erased with the CLI (so the
    file holds erasures, deleted payloads and access-log rows)."""
    home = NodeHome(path=path)
    home.init("BR", "test node")
    store = home.open_store()
    try:
        home.open_ledger(store).publish(sample_records("BR", 30, start=1))
    finally:
        store.close()
    env, at = _env(None), ["--home", str(path)]
    ids = [r.aeo_id for r in sample_records("BR", 2, start=1)]
    suspended = _mra(env, "aeo", "status", ids[0], "suspended", "--reason", "audit", *at)
    assert suspended.returncode == 0, suspended.stderr
    erased = _mra(env, "aeo", "erase", ids[1], "--reason", "GDPR Art. 17 request", *at)
    assert erased.returncode == 0, erased.stderr
    return home


def _entries(store: SqliteStore | PostgresStore) -> list[tuple[int, bytes, bytes, bytes | None]]:
    return [(e.seq, e.body, e.signature, e.payload) for e in store.entries("BR", 0, 10**6)]


def test_a_ledger_moves_whole_and_goes_on_from_the_next_seq(tmp_path: Path, pg_url: str) -> None:
    home = _home(tmp_path / "br")
    before = SqliteStore.open_read_only(home.db_path)
    try:
        entries = _entries(before)
        access_rows = before.access_size()
    finally:
        before.close()
    assert len(entries) == 32 and access_rows >= 2

    moved = _mra(_env(pg_url), "ledger", "move-to-postgres", "--home", str(home.path))
    assert moved.returncode == 0, moved.stderr
    assert "BR: 32 entries, verified in PostgreSQL" in moved.stdout
    [kept] = home.path.glob("ledger.db.moved-to-postgres-*[0-9Z]")
    assert access_path(kept).exists()  # the access log's file is set aside with it
    assert kept.name in moved.stdout.replace("\n", "")
    assert not home.db_path.exists()

    store = PostgresStore.open(pg_url, home.db_path)
    try:
        assert _entries(store) == entries  # the same history: not one entry signed again
        assert store.conn.execute("SELECT count(*) FROM access_log").fetchone()[0] >= access_rows
    finally:
        store.close()
    at = ["--home", str(home.path)]
    new_id = sample_records("BR", 1, start=3)[0].aeo_id
    changed = _mra(_env(pg_url), "aeo", "status", new_id, "revoked", "--reason", "fraud", *at)
    assert changed.returncode == 0, changed.stderr
    verified = _mra(_env(pg_url), "ledger", "verify", *at)
    assert verified.returncode == 0, verified.stderr
    assert "BR: 33 entries" in verified.stdout


def test_a_start_that_forgets_the_database_never_signs_those_seqs_again(
    tmp_path: Path, pg_url: str
) -> None:
    home = _home(tmp_path / "br")
    assert (
        _mra(_env(pg_url), "ledger", "move-to-postgres", "--home", str(home.path)).returncode == 0
    )
    [record] = sample_dicts("BR", 1, start=500)
    (tmp_path / "new.json").write_text(json.dumps(record))
    at = ["--home", str(home.path)]
    forgot = _mra(_env(None), "aeo", "publish", str(tmp_path / "new.json"), *at)
    assert forgot.returncode != 0
    assert "32" in forgot.stderr and "MRA_DATABASE_URL" in forgot.stderr.replace("\n", " ")


def test_a_database_that_is_not_empty_is_refused_and_the_file_stays(
    tmp_path: Path, pg_url: str
) -> None:
    home = _home(tmp_path / "br")
    assert (
        _mra(_env(pg_url), "ledger", "move-to-postgres", "--home", str(home.path)).returncode == 0
    )
    other = _home(tmp_path / "br2")
    again = _mra(_env(pg_url), "ledger", "move-to-postgres", "--home", str(other.path))
    assert again.returncode != 0
    assert "MRA_DATABASE_URL" in again.stderr and "not empty" in again.stderr
    assert other.db_path.exists()


def test_without_a_database_url_the_command_names_the_setting(tmp_path: Path) -> None:
    home = _home(tmp_path / "br")
    refused = _mra(_env(None), "ledger", "move-to-postgres", "--home", str(home.path))
    assert refused.returncode != 0 and "MRA_DATABASE_URL" in refused.stderr
    assert home.db_path.exists()
