"""scripts/bench's figures of the node as ``mra node run --workers N`` serves it, against limits
measured in the same run (issue 26's goals for reads on both cores and for fsck):

- status queries by id and by trader identifier over TLS, against a bare ASGI endpoint under
  ``uvicorn --workers N`` with the node's own certificate, the same wrk load (one thread, 16
  connections), the two taking turns round after round (the order alternating);
- a batch of 10,000 ids in one ``POST /v1/aeo/query`` to that node;
- fsck of the whole log (``verify_store`` on one process per core), against the raw Ed25519
  verify loop run in as many processes at once.

The home is BR of a two-member network (the partner never runs; the operator accepted the
restore risk), filled with sample records on the stopped node, as ``scripts/bench-workers``.
"""

from __future__ import annotations

import random
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import httpx
from _harness import fill_ledger, listening, percentile, wait_until

from node.core.crypto import SigningKey
from node.host.apikeys import create_key
from node.host.home import NodeHome
from node.ledger.fsck_parallel import verify_log_parallel
from node.ledger.verification import before_logs, derived_damage, run_check, verify_store
from node.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[1]
# The same answer size as a status query's, with nothing behind it.
BARE_MODULE = """
BODY = b'{"origin":"BR","seq":1,"record":{"aeo_id":"BR000000001","status":{"code":"valid"}}}'


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": BODY})
"""


def raw_verify(n: int) -> float:
    """Limit: Ed25519 verify loop with PyNaCl on one core (verifies/s)."""
    key = SigningKey.generate()
    msgs = [b"entry %d" % i for i in range(1000)]
    sigs = [key.sign(m) for m in msgs]
    public = key.public_key
    start = time.perf_counter()
    for i in range(n):
        public.verify(msgs[i % 1000], sigs[i % 1000])
    return n / (time.perf_counter() - start)


def raw_verify_processes(n: int, processes: int) -> float:
    """Limit: the raw verify loop in ``processes`` processes at once, ``n`` verifies each; the
    sum of their rates (verifies/s)."""
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        pool.submit(raw_verify, 100).result()  # the processes started and imported
        return sum(pool.map(raw_verify, [n] * processes))


def wrk(url: str, seconds: int, script: Path | None = None) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) from wrk with one thread and 16 connections."""
    command = ["wrk", "-t1", "-c16", f"-d{seconds}s", "--latency", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} failed requests:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    return rate, _ms(latency["50"]), _ms(latency["99"])


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def random_paths_script(directory: Path, key: str, prefix: str, values: list[str]) -> Path:
    """A wrk script asking ``prefix + value`` for random values, with the API key."""
    listed = directory / f"values-{len(values)}-{abs(hash(prefix))}.txt"
    listed.write_text("\n".join(values) + "\n")
    script = directory / f"{listed.stem}.lua"
    script.write_text(
        f'wrk.headers["Authorization"] = "Bearer {key}"\n'
        "local values = {}\n"
        f'for line in io.lines("{listed}") do values[#values + 1] = line end\n'
        "request = function()\n"
        f'  return wrk.format("GET", "{prefix}" .. values[math.random(#values)])\n'
        "end\n"
    )
    return script


@dataclass
class Served:
    """Medians over the rounds (rates in requests/s, latencies in ms, batch in s)."""

    bare_rate: float
    bare_p99: float
    single_rate: float
    single_p50: float
    single_p99: float
    trader_rate: float
    trader_p99: float
    batch_p50: float
    rounds: int


def network_home(directory: Path, records: int, port: int) -> NodeHome:
    """BR of a two-member network, its ledger holding ``records`` sample records."""
    net = directory / "net"
    mra(
        "network",
        "init",
        str(net),
        "--member",
        f"BR,Receita Federal,https://127.0.0.1:{port}",
        "--member",
        "UY,Aduanas,https://127.0.0.1:1",
    )
    home = NodeHome(path=net / "BR")
    fill_ledger(home, records)
    mra("ledger", "accept-restore", "--by", "bench", "--home", str(home.path))
    return home


def mra(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "node", *args], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"mra {' '.join(args)} failed: {done.stderr}")


@contextmanager
def running(command: list[str], port: int, settle: float) -> Iterator[str]:
    """The server of ``command`` listening on ``port``; its https base URL."""
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        wait_until(lambda: listening(port), 60, f"a server on port {port}")
        time.sleep(settle)  # every worker process up, not only the first
        yield f"https://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)


def node_command(home: NodeHome, port: int, workers: int) -> list[str]:
    serving = f"--port {port} --workers {workers}"
    return [sys.executable, "-m", "node", "node", "run", "--home", str(home.path), *serving.split()]


def bare_command(directory: Path, home: NodeHome, port: int, workers: int) -> list[str]:
    (directory / "bench_bare.py").write_text(BARE_MODULE)
    tls = [
        "--ssl-certfile",
        str(home.path / "tls.crt"),
        "--ssl-keyfile",
        str(home.path / "tls.key"),
    ]
    serving = f"--host 127.0.0.1 --port {port} --workers {workers} --log-level warning"
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "bench_bare:app",
        "--app-dir",
        str(directory),
        *serving.split(),
        "--no-access-log",
        *tls,
    ]


def served_figures(
    directory: Path,
    home: NodeHome,
    port: int,
    workers: int,
    seconds: int,
    rounds: int,
) -> Served:
    """The node under ``mra node run --workers`` and the bare endpoint under ``uvicorn
    --workers``, both ``workers`` processes, taking turns ``rounds`` times."""
    store = SqliteStore.open(home.db_path)
    key = create_key(store, "viewer", "bench", 0)
    ids = [
        r[0]
        for r in store.conn.execute("SELECT aeo_id FROM aeo_current ORDER BY random() LIMIT 20000")
    ]
    eori = [
        r[0]
        for r in store.conn.execute(
            "SELECT value FROM trader_ids WHERE scheme = 'EORI' ORDER BY random() LIMIT 20000"
        )
    ]
    store.close()
    single_script = random_paths_script(directory, key, "/v1/aeo/", ids)
    trader_script = random_paths_script(directory, key, "/v1/aeo?scheme=EORI&value=", eori)
    bare: list[tuple[float, float, float]] = []
    single: list[tuple[float, float, float]] = []
    trader: list[tuple[float, float, float]] = []
    batches: list[float] = []
    settle = 3.0 if seconds > 1 else 0.5  # a smoke run's readers may still be starting

    def run_bare() -> None:
        with running(bare_command(directory, home, port, workers), port, settle) as url:
            if seconds > 1:  # a smoke run's 1 s is its own warm-up
                wrk(url, 1)
            bare.append(wrk(url, seconds))

    def run_node() -> None:
        with running(node_command(home, port, workers), port, settle) as url:
            if seconds > 1:
                wrk(url, 3, single_script)  # warm-up
            single.append(wrk(url, seconds, single_script))
            trader.append(wrk(url, seconds, trader_script))
            auth = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=url, headers=auth, verify=False, timeout=60) as client:
                for _ in range(3):
                    wanted = random.sample(ids * (1 + 10_000 // len(ids)), 10_000)
                    began = time.perf_counter()
                    answer = client.post("/v1/aeo/query", json={"ids": wanted})
                    batches.append(time.perf_counter() - began)
                    answer.raise_for_status()

    for round_ in range(rounds):
        for turn in (run_bare, run_node) if round_ % 2 == 0 else (run_node, run_bare):
            turn()
    return Served(
        bare_rate=statistics.median(r[0] for r in bare),
        bare_p99=statistics.median(r[2] for r in bare),
        single_rate=statistics.median(r[0] for r in single),
        single_p50=statistics.median(r[1] for r in single),
        single_p99=statistics.median(r[2] for r in single),
        trader_rate=statistics.median(r[0] for r in trader),
        trader_p99=statistics.median(r[2] for r in trader),
        batch_p50=percentile(batches, 0.5),
        rounds=rounds,
    )


def fsck_time(home: NodeHome, pool: ThreadPoolExecutor, processes: int) -> tuple[float, int]:
    """Seconds to verify the home's whole log on ``processes`` processes, and its size."""
    store = SqliteStore.open(home.db_path)
    try:
        began = time.perf_counter()
        reports = verify_store(store, own="BR", executor=pool, processes=processes)
        elapsed = time.perf_counter() - began
        # The partner's log is empty (it never ran): BR's is the whole of the work.
        return elapsed, sum(report.size for report in reports)
    finally:
        store.close()


def fsck_parts(home: NodeHome, pool: ThreadPoolExecutor, processes: int) -> dict[str, float]:
    """Seconds of the largest parts of verification, each run alone in turn: the logs' pass on
    ``processes`` processes (``node.ledger.fsck``: chain, signatures, payloads, tree,
    checkpoints), SQLite's integrity check, and the derived tables rebuilt and compared. Each
    part found no damage, or this raises."""
    store = SqliteStore.open(home.db_path)
    parts: dict[str, float] = {}
    try:
        began = time.perf_counter()
        verify_log_parallel(store, "BR", own=True, processes=processes)
        parts["logs"] = time.perf_counter() - began
        checks = dict(before_logs(quick=False))
        for name, check in (("integrity", checks["integrity check"]), ("derived", derived_damage)):
            began = time.perf_counter()
            damages = run_check(name, check, store, "BR", pool)
            parts[name] = time.perf_counter() - began
            if damages:
                raise RuntimeError(f"{name}: {damages[0]}")
    finally:
        store.close()
    return parts
