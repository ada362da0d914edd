"""Crash safety on a real process: SIGKILL a writer at random moments; after each restart every
acknowledged append is there and the whole log verifies (DESIGN-BRIEF invariant 6). On the
SQLite file, and on a PostgreSQL database of the private cluster (fewer kills)."""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from node.core.crypto import SigningKey
from node.host.home import write_signing_key
from node.ledger.verification import verify_store
from node.store.open import NodeStore, open_store

KILLS = int(os.environ.get("MRA_CRASH_KILLS", "20"))
PG_KILLS = max(3, KILLS // 4)
ROOT = Path(__file__).resolve().parents[2]


def run_until_killed(db: Path | str, keyfile: Path, first: int, lifetime: float) -> int:
    """Start a writer, SIGKILL it after ``lifetime`` seconds; the last acknowledged number."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.system.crash_writer", str(db), str(keyfile), str(first)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None
    acknowledged = first - 1
    deadline = time.monotonic() + lifetime
    buffer = b""
    while (remaining := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([child.stdout], [], [], remaining)
        if not ready:
            break
        chunk = os.read(child.stdout.fileno(), 65536)
        if not chunk:
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            acknowledged = int(line.split()[1])
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, child.stderr.read() if child.stderr else ""
    return acknowledged


@pytest.mark.long
def test_no_acknowledged_append_is_lost_across_sigkills(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    crash_and_check(db, lambda: open_store(db, None), tmp_path / "signing.key", KILLS)


@pytest.mark.long  # 15 s: SIGKILLs a node on PostgreSQL
def test_no_acknowledged_append_is_lost_across_sigkills_on_postgres(
    tmp_path: Path, pg_url: str
) -> None:
    # Longer lives: the writer's start (psycopg, a connection) takes longer on a loaded machine.
    crash_and_check(
        pg_url,
        lambda: open_store(tmp_path / "ledger.db", pg_url),
        tmp_path / "k",
        PG_KILLS,
        lives=(1.0, 2.0),
    )


def crash_and_check(
    db: Path | str,
    opened: Callable[[], NodeStore],
    keyfile: Path,
    kills: int,
    lives: tuple[float, float] = (0.4, 1.2),
) -> None:
    write_signing_key(keyfile, SigningKey.generate())
    rng = random.Random(20261122)
    acknowledged_total = 0
    for _ in range(kills):
        store = opened()
        head = store.head("BR")
        store.close()
        first = (head.size if head else 0) + 1
        acknowledged = run_until_killed(db, keyfile, first, rng.uniform(*lives))
        store = opened()
        try:
            head = store.head("BR")
            held = head.size if head else 0
            # Every acknowledged record (numbered from 1 in append order) is in the log.
            assert held >= acknowledged, f"lost {acknowledged - held} acknowledged appends"
            # (None yet when the writer was killed before its first acknowledgement.)
            for number in {1, acknowledged, (1 + acknowledged) // 2} - {0} if acknowledged else ():
                assert store.current_record(f"BR{number:09d}") is not None
            [report] = verify_store(store, own="BR")
            assert report.size == held
        finally:
            store.close()
        acknowledged_total = acknowledged
    assert acknowledged_total > kills  # the writer really made progress between kills
