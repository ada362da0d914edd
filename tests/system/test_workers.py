"""``mra node run --workers 2`` as real processes over real TLS on one port, on a SQLite file and
on PostgreSQL: reads are answered by both processes, a write sent to either is acknowledged once
and readable from both at once, peer (mTLS) requests work whichever process takes the
connection, every read is in an access log whose chain verifies, a second ``mra node run`` on
the home is refused, SIGTERM stops every process and a primary killed with ``kill -9`` takes its
readers with it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from network.bootstrap import client_trust
from node.core.sample import sample_dicts
from tests.system.lone_node import cli, free_port, lone_home, vouched

ROOT = Path(__file__).resolve().parents[2]


def start(home: Path, port: int, env: dict[str, str], workers: int) -> subprocess.Popen[bytes]:
    command = ["node", "run", "--home", str(home), "--port", str(port)]
    process = subprocess.Popen(
        [sys.executable, "-m", "node", *command, "--workers", str(workers)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if len(readers_of(home)) == workers - 1:
            try:
                httpx.get(f"https://127.0.0.1:{port}/v1/logs", verify=False, timeout=2)
                time.sleep(1.0)  # the readers' servers start after their process
                return process
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"node did not start: {process.stderr.read() if process.stderr else ''}")


def readers_of(home: Path) -> list[int]:
    """The pids of the reader workers serving ``home``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ours = b"node.app.reader" in command and str(home).encode() in command
        if ours and running(int(entry.name)):
            found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    """True while ``pid`` runs (an ended process not yet reaped by its new parent does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def gone(pids: list[int], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(running(pid) for pid in pids):
            return True
        time.sleep(0.1)
    return False


def fresh(url: str, ca: Path, member: Path | None = None) -> httpx.Client:
    """A client whose every request takes a new connection, so that each goes to whichever
    process accepts it; with the TLS certificate of the member whose home is ``member``."""
    context = ssl.create_default_context(cafile=str(ca))
    if member is not None:
        context.load_cert_chain(member / "tls.crt", member / "tls.key")
    return httpx.Client(
        base_url=url,
        verify=context,
        limits=httpx.Limits(max_keepalive_connections=0),
        timeout=30,
    )


def exercise(home: Path, url: str, auth: dict[str, str], records: int) -> tuple[int, int]:
    """Writes through whichever process takes each connection, each read back at once from
    new connections, peer requests with the other member's certificate, and concurrent reads.
    Returns (records written, reads made)."""
    ca = client_trust(home.parent)
    answered_by: Counter[str] = Counter()
    relayed: Counter[str] = Counter()
    reads = 0
    with fresh(url, ca) as client:
        health = client.get("/v1/health", headers=auth)
        assert health.status_code == 200 and health.json()["workers"] == 2, health.text
        for record in sample_dicts("BR", records):
            written = client.post("/v1/aeo", json=record, headers=auth)
            assert written.status_code == 200, written.text
            assert written.json()["appended"][0]["kind"] == "aeo.upsert"
            assert written.headers["x-mra-worker"] == "0"  # the primary wrote it
            relayed[written.headers.get("x-mra-relayed-by", "-")] += 1
            for _ in range(4):  # read-your-writes, on whichever process answers
                read = client.get(f"/v1/aeo/{record['aeo_id']}", headers=auth)
                assert read.status_code == 200, read.text
                assert read.json()["record"]["aeo_id"] == record["aeo_id"]
                answered_by[read.headers["x-mra-worker"]] += 1
                reads += 1
        # A write refused at a reader is refused as at the primary: the same problem document.
        bad = [client.post("/v1/aeo", json={"aeo_id": "x"}, headers=auth) for _ in range(6)]
        assert {(r.status_code, r.json()["title"]) for r in bad} == {(422, "InvalidInput")}
        assert {r.status_code for r in (client.get("/v1/aeo/BR000000001") for _ in range(4))} == {
            401
        }
    assert set(answered_by) == {"0", "1"}, answered_by  # both processes answered reads
    assert relayed["1"] > 0, relayed  # writes came through the reader, forwarded
    assert relayed["1"] + relayed["-"] == records

    # Peer requests: the other member's certificate is known whichever process took them.
    peer = fresh(url, ca, home.parent / "UY")
    with peer:
        frontiers = [peer.get("/v1/peer/frontier") for _ in range(12)]
    assert {r.status_code for r in frontiers} == {200}
    assert {r.json()["origins"]["BR"]["size"] for r in frontiers} == {records}
    assert any(r.headers.get("x-mra-relayed-by") == "1" for r in frontiers)
    # A client cannot claim a certificate by sending the header a reader forwards it in.
    pem = (home.parent / "UY" / "tls.crt").read_text()
    forged = {
        "X-MRA-Forwarded-Cert": base64.b64encode(json.dumps([pem]).encode()).decode(),
        "X-MRA-Forwarded-Client": "10.0.0.1:1",
    }
    with fresh(url, ca) as anonymous:
        refused = [anonymous.get("/v1/peer/frontier", headers=forged) for _ in range(12)]
    assert {r.status_code for r in refused} == {401}
    assert any(r.headers.get("x-mra-relayed-by") == "1" for r in refused)

    # Concurrent reads from several threads: both processes append to the access log at once.
    failures: list[str] = []

    def read_many() -> None:
        with fresh(url, ca) as client:
            for record in sample_dicts("BR", records):
                answer = client.get(f"/v1/aeo/{record['aeo_id']}", headers=auth)
                if answer.status_code != 200:
                    failures.append(answer.text)

    threads = [threading.Thread(target=read_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    return records, reads + 4 * records


def stop_and_check(
    process: subprocess.Popen[bytes], home: Path, port: int, env: dict[str, str]
) -> None:
    """A second node on the home is refused; SIGTERM stops the primary and its readers."""
    second = cli(env, "node", "run", "--home", str(home), "--port", str(free_port()))
    assert second.returncode != 0 and "another node process serves" in second.stderr, second
    readers = readers_of(home)
    assert len(readers) == 1
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == -signal.SIGTERM  # uvicorn ends by the signal it took
    assert gone(readers, within=5)
    assert not (home / "primary.sock").exists()


def test_two_workers_on_sqlite_share_reads_forward_writes_and_keep_one_access_log(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {**os.environ}
    home = lone_home(tmp_path, port)
    auth = vouched(env, home)
    process = start(home, port, env, workers=2)
    try:
        written, reads = exercise(home, f"https://127.0.0.1:{port}", auth, records=30)
        stop_and_check(process, home, port, env)
    finally:
        if process.poll() is None:
            process.kill()
    verified = cli(env, "ledger", "verify", "--home", str(home))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "access log" in verified.stdout and "hash chain intact" in verified.stdout
    with sqlite3.connect(home / "ledger.db") as db:
        versions = db.execute("SELECT count(*) FROM aeo_versions").fetchone()[0]
    with sqlite3.connect(home / "ledger.access.db") as db:  # the access log's file of its own
        queries = db.execute("SELECT count(*) FROM access_log WHERE action = 'query'").fetchone()
        seqs = db.execute("SELECT count(DISTINCT seq), max(seq) + 1 FROM access_log").fetchone()
    assert versions == written  # each write acknowledged once, appended once
    assert queries[0] == reads  # every read is logged, whichever process answered it
    assert seqs[0] == seqs[1]  # one chain, no seq twice or missing


def presented(port: int) -> tuple[str, bytes]:
    """(the worker that took it, the certificate it presented) of a new TLS connection."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the certificate itself is what is looked at
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw) as tls,
    ):
        certificate = tls.getpeercert(binary_form=True)
        assert certificate is not None
        tls.sendall(b"GET /v1/health HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = tls.recv(4096)
            assert chunk, head
            head += chunk
    fields = dict(line.partition(b":")[::2] for line in head.split(b"\r\n")[1:] if line)
    named = {name.strip().lower(): value.strip().decode() for name, value in fields.items()}
    # A reader forwards /v1/health to the primary, and says so.
    return named.get(b"x-mra-relayed-by", named[b"x-mra-worker"]), certificate


@pytest.mark.long  # 12 s
def test_every_worker_presents_a_renewed_certificate_within_seconds(tmp_path: Path) -> None:
    """A reader asks its primary what to trust every round on one kept channel, and follows
    the home's certificate: after ``mra network renew --compromised``, connections to either
    process present the new certificate."""
    port = free_port()
    env = {**os.environ}
    home = lone_home(tmp_path, port)
    vouched(env, home)
    process = start(home, port, env, workers=2)
    try:
        time.sleep(5)  # a few of the readers' rounds on their channel to the primary
        old = ssl.PEM_cert_to_DER_cert((home / "tls.crt").read_text())
        with ThreadPoolExecutor(8) as pool:
            before = set(pool.map(lambda _: presented(port), range(16)))
        assert {certificate for _, certificate in before} == {old}
        renewed = cli(env, "network", "renew", "--compromised", "--home", str(home))
        assert renewed.returncode == 0, renewed.stdout + renewed.stderr
        # "certificate <sha256 of the DER, 16 digits>... (replaces ...)": the primary presents
        # it from its next round on, each reader from its own next round.
        new = renewed.stdout.split("certificate ")[1][:16]
        assert not hashlib.sha256(old).hexdigest().startswith(new)
        seen: set[str] = set()
        deadline = time.monotonic() + 30
        with ThreadPoolExecutor(8) as pool:  # connections at once: both processes take some
            while time.monotonic() < deadline and seen != {"0", "1"}:
                for worker, certificate in pool.map(lambda _: presented(port), range(16)):
                    if hashlib.sha256(certificate).hexdigest().startswith(new):
                        seen.add(worker)
                time.sleep(0.2)
        assert seen == {"0", "1"}, seen
        assert readers_of(home), "the reader ended"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.long  # 9 s
def test_readers_end_when_the_primary_is_killed(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ}
    home = lone_home(tmp_path, port)
    vouched(env, home)
    process = start(home, port, env, workers=3)
    readers = readers_of(home)
    assert len(readers) == 2
    process.kill()
    process.wait(timeout=10)
    assert gone(readers, within=10)
    # The next start replaces the socket the killed primary left.
    again = start(home, port, env, workers=2)
    again.terminate()
    assert again.wait(timeout=30) == -signal.SIGTERM


@pytest.mark.long  # 9 s
def test_two_workers_on_postgres(tmp_path: Path, pg_url: str) -> None:
    port = free_port()
    env = {**os.environ, "MRA_DATABASE_URL": pg_url}
    home = lone_home(tmp_path, port)
    auth = vouched(env, home)
    process = start(home, port, env, workers=2)
    try:
        exercise(home, f"https://127.0.0.1:{port}", auth, records=12)
        stop_and_check(process, home, port, env)
    finally:
        if process.poll() is None:
            process.kill()
    verified = cli(env, "ledger", "verify", "--home", str(home))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "hash chain intact" in verified.stdout


def test_bad_worker_counts_and_a_taken_port_are_refused_naming_them(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ}
    home = lone_home(tmp_path, port)
    vouched(env, home)
    for count in ("0", "65", "two"):
        refused = cli(env, "node", "run", "--home", str(home), "--workers", count)
        assert refused.returncode == 2 and "--workers" in refused.stderr, refused.stderr
    with socket.create_server(("127.0.0.1", 0)) as taken:  # a program without SO_REUSEPORT
        used = str(taken.getsockname()[1])
        refused = cli(env, "node", "run", "--home", str(home), "--port", used, "--workers", "2")
    assert refused.returncode == 2 and "cannot listen on 127.0.0.1:" in refused.stderr, refused
    assert not readers_of(home) and not (home / "primary.sock").exists()
