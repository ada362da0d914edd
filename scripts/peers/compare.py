"""This project beside its peers, on one workload, in one run: ``entries`` entries of 721 bytes
appended in batches of 1,000 with a durable commit per batch, the three systems taking turns
in each round (the order rotating from round to round), medians over the rounds.

- this project: ``Ledger.publish`` of sample records in batches (the bench's ``fill``), then
  a replica pulling and verifying the log (the bench's ``replication_rate``); and, when asked,
  one record per ``Ledger.publish`` (each its own durable commit) against Hypercore appending
  one block per call (``append.js --batch 1``: each block signed and its WAL fdatasync'ed);
- Hypercore 11 (npm, RocksDB storage): ``hypercore/append.js``, an application Ed25519
  signature on every block and an fdatasync of RocksDB's write-ahead log per batch, then
  in-process replication into fresh cores, with and without checking every block's signature;
- PostgreSQL (Debian): a signed SHA-256 chain (each row's hash covers the previous hash and the
  entry, and is signed with Ed25519) written with COPY, one transaction per batch, in a private
  cluster with the server's durable defaults (fsync, ``synchronous_commit=on``).

A peer that cannot be installed or run is reported with the reason, and the others still run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from node.core.crypto import SigningKey
from tests import pg

HERE = Path(__file__).resolve().parent
HYPERCORE = HERE / "hypercore"
ENTRY_BYTES = 721
BATCH = 1000


@dataclass
class Results:
    """Per-figure measurements of every round, and the peers that did not run (name: why)."""

    figures: dict[str, list[float]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    def add(self, figure: str, value: float) -> None:
        self.figures.setdefault(figure, []).append(value)

    def median(self, figure: str) -> float | None:
        values = self.figures.get(figure)
        return statistics.median(values) if values else None


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


def install_hypercore() -> str | None:
    """Install Hypercore's pinned packages (``npm ci``) unless present; None, or why not."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "Node.js/npm not found (Debian: apt-get install nodejs npm)"
    lock = HYPERCORE / "package-lock.json"
    installed = HYPERCORE / "node_modules" / ".package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return None
    try:
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=HYPERCORE,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "npm ci took over 10 minutes (is the npm registry reachable?)"
    if done.returncode != 0:
        return f"npm ci failed: {_last_line(done.stderr or done.stdout)}"
    return None


def run_hypercore(
    entries: int, directory: Path, replication: bool, batch: int = BATCH
) -> dict[str, float | str]:
    """One run of ``append.js`` in a fresh directory; its JSON figures."""
    command = ["node", str(HYPERCORE / "append.js"), "--entries", str(entries)]
    command += ["--batch", str(batch), "--size", str(ENTRY_BYTES), "--dir", str(directory)]
    if not replication:
        command.append("--no-replication")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"append.js failed: {_last_line(done.stderr)}")
    figures: dict[str, float | str] = json.loads(done.stdout)
    return figures


def postgres_chain(url: str, entries: int) -> float:
    """Entries/s of a signed SHA-256 chain written with COPY, one transaction per batch."""
    key = SigningKey.generate()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE chain (seq bigint PRIMARY KEY, body bytea NOT NULL,"
            " hash bytea NOT NULL, signature bytea NOT NULL)"
        )
        previous = bytes(32)
        elapsed = 0.0
        for start in range(0, entries, BATCH):
            bodies = [os.urandom(ENTRY_BYTES) for _ in range(min(BATCH, entries - start))]
            began = time.perf_counter()
            with conn.transaction(), conn.cursor() as cursor:
                copy_sql = "COPY chain (seq, body, hash, signature) FROM STDIN (FORMAT BINARY)"
                with cursor.copy(copy_sql) as copy:
                    copy.set_types(["int8", "bytea", "bytea", "bytea"])
                    for seq, body in enumerate(bodies, start):
                        previous = hashlib.sha256(previous + body).digest()
                        copy.write_row((seq, body, previous, key.sign(previous)))
            elapsed += time.perf_counter() - began
        (count,) = conn.execute("SELECT count(*) FROM chain").fetchone() or (0,)
        if count != entries:
            raise RuntimeError(f"PostgreSQL holds {count} of {entries} chain rows")
        conn.execute("DROP TABLE chain")
    return entries / elapsed


def compare(
    entries: int,
    rounds: int,
    ours: Callable[[Path], tuple[float, float | None]],
    replication: bool,
    log: Callable[[str], None] = print,
    single: tuple[int, Callable[[Path], float]] | None = None,
) -> Results:
    """Run this project (``ours(directory)``: appends/s and replicated entries/s) and every
    peer that can run, taking turns, ``rounds`` times. With ``single`` (a count and
    ``publish(directory)``: this project's records/s publishing one record per call), each
    round also times that many one-record appends here and on Hypercore (a block per append,
    each fdatasync'ed)."""
    results = Results()
    why = install_hypercore()
    if why is not None:
        results.skipped["Hypercore"] = why
    cluster: pg.Cluster | None = None
    why = pg.unavailable()
    if why is None:
        try:
            cluster = pg.Cluster(durable=True)
            bin_dir = pg.binaries()
            results.versions["PostgreSQL"] = bin_dir.parts[4] if bin_dir else "?"
        except (RuntimeError, OSError) as error:
            why = f"the private cluster did not start: {_last_line(str(error))}"
    if why is not None:
        results.skipped["PostgreSQL"] = why

    def run_ours(directory: Path) -> None:
        appends, replicated = ours(directory)
        results.add("ours appends", appends)
        if replicated is not None:
            results.add("ours replication", replicated)
        log(f"  this project: {appends:,.0f} appends/s")

    def run_hypercore_once(directory: Path) -> None:
        if "Hypercore" in results.skipped:
            return
        try:
            figures = run_hypercore(entries, directory, replication)
        except RuntimeError as error:
            results.skipped["Hypercore"] = str(error)
            return
        results.versions["Hypercore"] = str(figures["hypercore"])
        for name in ("appends_per_s", "replication_per_s", "replication_signatures_per_s"):
            if name in figures:
                results.add(f"hypercore {name}", float(figures[name]))
        log(f"  Hypercore: {float(figures['appends_per_s']):,.0f} appends/s")

    def run_single_once(directory: Path) -> None:
        if single is None:
            return
        count, publish = single
        rate = publish(directory)
        results.add("ours single", rate)
        log(f"  this project, one record per publish: {rate:,.0f} records/s")
        if "Hypercore" in results.skipped:
            return
        try:
            figures = run_hypercore(count, directory / "hypercore", False, batch=1)
        except RuntimeError as error:
            results.skipped["Hypercore"] = str(error)
            return
        results.add("hypercore single appends_per_s", float(figures["appends_per_s"]))
        log(f"  Hypercore, one block per append: {float(figures['appends_per_s']):,.0f} appends/s")

    def run_postgres_once(_: Path) -> None:
        if cluster is None or "PostgreSQL" in results.skipped:
            return
        url = cluster.database()
        try:
            rate = postgres_chain(url, entries)
        except (psycopg.Error, RuntimeError) as error:
            results.skipped["PostgreSQL"] = f"the chain failed: {_last_line(str(error))}"
            return
        finally:
            cluster.drop(url)
        results.add("postgres appends", rate)
        log(f"  PostgreSQL: {rate:,.0f} appends/s")

    turns = [run_ours, run_hypercore_once, run_postgres_once, run_single_once]
    try:
        for round_ in range(rounds):
            log(f"peers: round {round_ + 1} of {rounds}, {entries:,} entries")
            for turn in turns[round_ % 4 :] + turns[: round_ % 4]:
                with tempfile.TemporaryDirectory(prefix="mra-peer-") as tmp:
                    turn(Path(tmp))
    finally:
        if cluster is not None:
            cluster.stop()
    # A peer that failed in a later round is reported as not run, not with partial figures.
    for name, prefix in (("Hypercore", "hypercore "), ("PostgreSQL", "postgres ")):
        if name in results.skipped:
            results.figures = {k: v for k, v in results.figures.items() if not k.startswith(prefix)}
    return results


Row = tuple[str, float, str, float | None, str]  # figure, value, unit, limit, goal


def rows_of(results: Results) -> tuple[list[Row], list[tuple[str, str]]]:
    """The bench's rows (medians; a peer's figure is the limit of this project's, so the ratio
    is this project ÷ peer) and the peers not run with why."""
    out: list[Row] = []
    ours = results.median("ours appends")
    ours_replication = results.median("ours replication")
    ours_single = results.median("ours single")
    if ours is not None:
        out.append(
            ("appends, batches of 1,000 (median of the peer rounds)", ours, "records/s", None, "")
        )
    hc = f"Hypercore {results.versions.get('Hypercore', '11')}"
    postgres = f"PostgreSQL {results.versions.get('PostgreSQL', '')}".strip()
    pairs = [
        (
            "hypercore appends_per_s",
            f"peer: {hc}, appends (block signatures, WAL fdatasync per batch)",
            "appends, batches of 1,000, against Hypercore",
            ours,
            ">= 100%",
        ),
        (
            "hypercore single appends_per_s",
            f"peer: {hc}, one block per append (block signature, WAL fdatasync per append)",
            "appends, one record per publish, against Hypercore",
            ours_single,
            ">= 80%",
        ),
        (
            "postgres appends",
            f"peer: {postgres}, signed SHA-256 chain via COPY, synchronous_commit=on",
            "appends, batches of 1,000, against PostgreSQL",
            ours,
            "",
        ),
        (
            "hypercore replication_per_s",
            f"peer: {hc}, replication (in-process streams)",
            "replicated and verified, against Hypercore's replication",
            ours_replication,
            "",
        ),
        (
            "hypercore replication_signatures_per_s",
            f"peer: {hc}, replication checking every block's signature",
            "replicated and verified, against Hypercore checking signatures",
            ours_replication,
            ">= 200%",
        ),
    ]
    for figure, peer_name, ours_name, mine, goal in pairs:
        theirs = results.median(figure)
        if theirs is None:
            continue
        out.append((peer_name, theirs, "entries/s", None, ""))
        if mine is not None:
            out.append((ours_name, mine, "entries/s", theirs, goal))
    not_run = [(f"peer: {name}", f"not run: {why}") for name, why in results.skipped.items()]
    return out, not_run
