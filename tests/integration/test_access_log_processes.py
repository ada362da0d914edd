"""Several processes append to one access log at once (``mra node run --workers N``: every
process records its reads): on a SQLite file and on PostgreSQL the rows form one chain, with no
seq twice and none missing, because an append takes the database's write lock before it reads
the chain's last hash (SQLite ``BEGIN IMMEDIATE``, PostgreSQL a transaction-level advisory
lock)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

from node.core.access import check_access_chain
from node.store.open import open_store

ROOT = Path(__file__).resolve().parents[2]
PROCESSES, BATCHES, ROWS = 3, 150, 4
APPENDER = """
import sys
from pathlib import Path
from node.core.access import Access
from node.store.open import open_store
path, url, actor = Path(sys.argv[1]), sys.argv[2] or None, sys.argv[3]
store = open_store(path, url, durable=False)
for n in range(int(sys.argv[4])):
    rows = [
        Access(ts=n, actor=actor, action="query", channel="test", aeo_id="BR000000001")
        for _ in range(int(sys.argv[5]))
    ]
    store.append_access(rows)
store.close()
"""


def appended_together(path: Path, url: str | None) -> None:
    """Run PROCESSES appenders at once on the store at ``path`` (or ``url``), then check the
    chain they made."""
    open_store(path, url).close()  # created and migrated before they race
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                APPENDER,
                str(path),
                url or "",
                f"key:p{i}",
                str(BATCHES),
                str(ROWS),
            ],
            cwd=ROOT,
        )
        for i in range(PROCESSES)
    ]
    assert [p.wait(timeout=120) for p in processes] == [0] * PROCESSES
    store = open_store(path, url)
    try:
        rows = list(store.access_chain())
    finally:
        store.close()
    size, _ = check_access_chain(rows)  # raises at a gap, a repeated seq or a broken link
    assert size == len(rows) == PROCESSES * BATCHES * ROWS
    assert Counter(access.actor for _, access, _ in rows) == {
        f"key:p{i}": BATCHES * ROWS for i in range(PROCESSES)
    }


def test_processes_appending_to_one_sqlite_file_make_one_chain(tmp_path: Path) -> None:
    appended_together(tmp_path / "ledger.db", None)


def test_processes_appending_to_one_postgres_database_make_one_chain(
    tmp_path: Path, pg_url: str
) -> None:
    appended_together(tmp_path / "ledger.db", pg_url)
