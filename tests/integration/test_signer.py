"""The writer's signing process (node.host.signer), as a real process: what it signs, that a
lost process never loses a signature, and that it never outlives the node that started it."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient

from node.app.api import create_app
from node.core.crypto import SigningKey
from node.core.sample import sample_dicts
from node.host.apikeys import create_key
from node.host.home import NodeHome
from node.host.signer import SigningProcess
from node.ledger.verification import verify_store
from node.ledger.writer import PARALLEL_SIGN_THRESHOLD
from node.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]


def _gone(pid: int, seconds: float) -> bool:
    """True once ``pid`` has exited within ``seconds`` (an exited orphan nobody reaped yet,
    a zombie, counts: it runs nothing)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def test_chunks_come_back_in_order_whichever_is_asked_for_first() -> None:
    keys = [SigningKey.generate(), SigningKey.generate()]
    chunks = [[b"chunk %d message %d" % (c, m) for m in range(50)] for c in range(4)]
    signer = SigningProcess()
    try:
        results = [signer.submit(keys[c % 2], chunk) for c, chunk in enumerate(chunks)]
        got = {c: results[c]() for c in (2, 0, 3, 1)}
        pid = signer.pid
    finally:
        signer.close()
    for c, chunk in enumerate(chunks):
        assert got[c] == [keys[c % 2].sign(m) for m in chunk]
    assert pid is not None and pid != os.getpid()
    assert _gone(pid, 5), "close() leaves the signing process running"


def test_many_chunks_sent_before_any_is_read_do_not_stall() -> None:
    # A batch of 10,000 sends 79 chunks before it reads an answer: megabytes each way, more
    # than a pipe holds, so the process must keep reading while its answers wait.
    key = SigningKey.generate()
    chunks = [[b"%d:%d:" % (c, m) + bytes(400) for m in range(128)] for c in range(80)]
    signer = SigningProcess()
    outcome: list[list[list[bytes]]] = []
    try:
        sender = threading.Thread(
            target=lambda: outcome.append([r() for r in [signer.submit(key, c) for c in chunks]]),
            daemon=True,
        )
        sender.start()
        sender.join(60)
        if sender.is_alive() and signer.pid is not None:
            os.kill(signer.pid, signal.SIGKILL)  # so that the test fails rather than hangs
        assert not sender.is_alive(), "the writer and its signing process wait for each other"
    finally:
        signer.close()
    [signatures] = outcome
    assert signatures[-1] == [key.sign(m) for m in chunks[-1]]
    assert sum(len(s) for s in signatures) == 80 * 128


def test_signatures_nobody_will_ask_for_are_not_kept() -> None:
    # An append that fails after its chunks were sent drops the functions that would read
    # their signatures: the signer must not keep them for the node's life.
    key = SigningKey.generate()
    signer = SigningProcess()
    try:
        abandoned = [signer.submit(key, [b"abandoned %d" % i]) for i in range(3)]
        kept = signer.submit(key, [b"kept"])
        assert signer.held == 4
        del abandoned
        gc.collect()
        assert kept() == [key.sign(b"kept")]  # reads the abandoned answers on its way
        assert signer.held == 0
        signer.close()
        lost = signer.submit(key, [b"signed here"])  # a new process; then lose it unread
        signer.close()
        del lost
        gc.collect()
        assert signer.held == 0
    finally:
        signer.close()


def test_a_signing_process_that_dies_loses_no_signature() -> None:
    key = SigningKey.generate()
    signer = SigningProcess(restart_after=0)
    try:
        first = signer.submit(key, [b"first"])
        assert first() == [key.sign(b"first")]
        pid = signer.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # the next chunk is sent, and never answered
        waiting = signer.submit(key, [b"sent before it died %d" % i for i in range(100)])
        os.kill(pid, signal.SIGKILL)
        assert _gone(pid, 5)
        later = signer.submit(key, [b"sent after it died"])
        assert waiting() == [key.sign(b"sent before it died %d" % i) for i in range(100)]
        assert later() == [key.sign(b"sent after it died")]
        again = signer.submit(key, [b"a new process"])
        assert again() == [key.sign(b"a new process")]
        assert signer.pid not in (None, pid)
    finally:
        signer.close()


def test_after_a_loss_chunks_are_signed_here_until_the_restart_delay() -> None:
    # A process that keeps dying is not started again for every chunk.
    key = SigningKey.generate()
    signer = SigningProcess(restart_after=600)
    try:
        signer.start()
        pid = signer.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert _gone(pid, 5)
        first = signer.submit(key, [b"first"])
        assert first() == [key.sign(b"first")]
        assert signer.pid is None
        second = signer.submit(key, [b"second"])
        assert signer.pid is None
        assert second() == [key.sign(b"second")]
        assert second() == [key.sign(b"second")]  # asked twice: the same answer
        assert signer.held == 0
    finally:
        signer.close()


def test_the_signing_process_ends_when_its_node_is_killed(tmp_path: Path) -> None:
    # A node killed with -9 leaves nothing running: its signer reads the end of its pipe.
    script = tmp_path / "node_like.py"
    script.write_text(
        "import sys, time\n"
        "from node.core.crypto import SigningKey\n"
        "from node.host.signer import SigningProcess\n"
        "if __name__ == '__main__':\n"
        "    signer = SigningProcess()\n"
        "    key = SigningKey.generate()\n"
        "    assert signer.submit(key, [b'x'])() == [key.sign(b'x')]\n"
        "    print(signer.pid, flush=True)\n"
        "    time.sleep(600)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    node = subprocess.Popen(
        [sys.executable, str(script)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert node.stdout is not None
        signer_pid = int(node.stdout.readline())
        assert not _gone(signer_pid, 0.2)
        node.kill()
        node.wait(10)
        assert _gone(signer_pid, 10), "the signing process outlived its node"
    finally:
        if node.poll() is None:
            node.kill()
            node.wait(10)


def test_a_node_signs_a_large_publish_in_its_signing_process(tmp_path: Path) -> None:
    # Through the API as a publisher sees it: 600 records (past PARALLEL_SIGN_THRESHOLD) are
    # signed by the node's signing process, the log verifies, and the node's shutdown ends
    # the process.
    home = NodeHome(path=tmp_path / "br")
    home.init("BR", "Receita Federal do Brasil")
    store = SqliteStore.open(home.db_path)
    publisher = create_key(store, "publisher", "test publisher", 0)
    store.close()
    count = PARALLEL_SIGN_THRESHOLD + 88
    with TestClient(create_app(home)) as client:
        node = client.app.state.node  # type: ignore[attr-defined]
        assert node.signer is not None and node.signer.pid is None  # not started before
        answer = client.post(
            "/v1/aeo",
            json={"records": list(sample_dicts("BR", count))},
            headers={"Authorization": f"Bearer {publisher}"},
        )
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["appended"]) == count
        pid = node.signer.pid
        assert pid is not None and pid != os.getpid()
    assert _gone(pid, 10), "the node's shutdown left its signing process running"
    store = SqliteStore.open(home.db_path)
    try:
        [report] = verify_store(store, own="BR")
    finally:
        store.close()
    assert report.size > count  # and the access log's anchor, appended at the shutdown


def test_a_large_import_verifies_and_leaves_no_process_running(tmp_path: Path) -> None:
    # `mra aeo import` publishes the file as one batch, past PARALLEL_SIGN_THRESHOLD, so its
    # command's signing process signs it; when the command is done no process it started is
    # left (each would still hold the home in its environment), and the log verifies.
    home = tmp_path / "br"
    env = {**os.environ, "MRA_HOME": str(home), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "node"]
    init = subprocess.run(
        [*command, "init", "BR", "--name", "Receita Federal"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert init.returncode == 0, init.stderr
    data = tmp_path / "registry.jsonl"
    count = PARALLEL_SIGN_THRESHOLD + 100
    data.write_text("".join(json.dumps(r) + "\n" for r in sample_dicts("BR", count)))
    done = subprocess.run(
        [*command, "aeo", "import", str(data)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert f"{count} appended" in done.stdout
    assert _processes_of(home) == []
    verified = subprocess.run(
        [*command, "ledger", "verify"], env=env, capture_output=True, text=True, timeout=300
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _processes_of(home: Path) -> list[int]:
    """The processes still running with ``MRA_HOME`` set to ``home``."""
    found = []
    marker = f"MRA_HOME={home}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return [pid for pid in found if not _gone(pid, 5)]
