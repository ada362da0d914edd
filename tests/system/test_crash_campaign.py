"""Crash and disk campaign on real ``mra node run`` processes (DESIGN-BRIEF invariant 6).

Three members (BR, UY, AR) over real TLS, in one plurilateral ``mra-status-only`` agreement, so
every record of each origin replicates as a header to both partners and is delivered to both as
a view; gossip every 0.3 s. The tests share the network and run in file order:

1. nodes are SIGKILLed at random moments (``MRA_CAMPAIGN_KILLS`` times, default 50, and more
   until each node has acknowledged more than half that many records; seeded by
   ``MRA_CAMPAIGN_SEED``, printed) while records are published to every node and partners
   replicate; no acknowledged write is lost, every log verifies, every partner converges and
   holds every view it is entitled to;
2. a full disk: the running node's file-size limit (``RLIMIT_FSIZE``, lowered from outside
   with ``prlimit``: lowering a soft limit needs no privilege) makes every write past it fail
   with EFBIG, as a full disk fails with ENOSPC; publishing gets a 507 problem document and
   writes nothing, reads go on, and writes resume once the limit is raised, without a restart;
3. a torn WAL: a node killed mid-write loses the tail of its WAL; it starts again on a
   consistent prefix of its log. Acknowledged commits in the lost tail are gone from it; where
   its peers already hold them, it refuses to append (503) rather than sign those seqs again,
   until its database is restored from a backup that holds the whole log.
"""

from __future__ import annotations

import os
import random
import resource
import secrets
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.registry import SOURCE_HASHES
from network.bootstrap import MemberSpec, init_network
from node.core.canonical import canonical_json
from node.core.clock import system_clock
from node.core.entries import RECORD_KINDS, EntryHeader
from node.core.records import AeoRecord
from node.core.sample import sample_dicts
from node.host.apikeys import create_key
from node.store.sqlite import SqliteStore
from tests.system.test_devnet import _free_base, wait_for

ROOT = Path(__file__).resolve().parents[2]
CODES = ("AR", "BR", "UY")
KILLS = int(os.environ.get("MRA_CAMPAIGN_KILLS", "50"))
SEED = int(os.environ.get("MRA_CAMPAIGN_SEED") or secrets.randbelow(2**31))
GOSSIP_INTERVAL = "0.3"


@dataclass(frozen=True, slots=True)
class Ack:
    """One record whose publication the node acknowledged (HTTP 200) at ``seq``."""

    origin: str
    seq: int
    aeo_id: str
    payload: bytes  # the canonical record, as the origin stores and signs it


class Cluster:
    """The members' homes in ``directory`` and their node processes, started and killed here."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        base = _free_base()
        self.ports = {code: base + i for i, code in enumerate(CODES)}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        specs = [MemberSpec(code=c, name=f"{c} customs", endpoint=self.url(c)) for c in CODES]
        init_network(directory, "crash campaign", specs, now=datetime.now(UTC))
        self.keys: dict[str, str] = {}
        for code in CODES:
            store = SqliteStore.open(self.db(code))
            try:
                self.keys[code] = create_key(store, "admin", "campaign", system_clock())
            finally:
                store.close()
        self.context = ssl.create_default_context(cafile=str(directory / "members.pem"))

    def url(self, code: str) -> str:
        return f"https://127.0.0.1:{self.ports[code]}"

    def home(self, code: str) -> Path:
        return self.dir / code

    def db(self, code: str) -> Path:
        return self.home(code) / "ledger.db"

    def client(self, code: str, timeout: float = 15.0) -> httpx.Client:
        return httpx.Client(
            base_url=self.url(code),
            verify=self.context,
            headers={"Authorization": f"Bearer {self.keys[code]}"},
            timeout=timeout,
        )

    def start(self, code: str) -> None:
        assert code not in self.processes, f"{code} is running"
        with open(self.home(code) / "console.log", "ab") as log:  # the node logs to node.log
            self.processes[code] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "node",
                    "node",
                    "run",
                    "--home",
                    str(self.home(code)),
                    "--port",
                    str(self.ports[code]),
                ],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "MRA_GOSSIP_INTERVAL": GOSSIP_INTERVAL},
                start_new_session=True,
            )

    def alive(self, code: str) -> None:
        """Fail at once when ``code``'s node ended by itself (a node never does)."""
        returncode = self.processes[code].poll()
        assert returncode is None, f"{code} exited ({returncode}):\n{self.log_tail(code)}"

    def kill(self, code: str) -> None:
        """SIGKILL ``code``'s node, which must still be running."""
        self.alive(code)
        process = self.processes.pop(code)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL

    def running(self, code: str) -> bool:
        return code in self.processes

    def listening(self, code: str) -> bool:
        """The node accepts connections (uvicorn listens once the app has started)."""
        self.alive(code)
        try:
            socket.create_connection(("127.0.0.1", self.ports[code]), timeout=0.2).close()
        except OSError:
            return False
        return True

    def up(self, code: str) -> bool:
        self.alive(code)
        try:
            with self.client(code, timeout=2.0) as client:
                return client.get("/v1/health").status_code == 200
        except httpx.HTTPError:
            return False

    def wait_up(self, *codes: str) -> None:
        for code in codes or CODES:
            if not self.running(code):
                self.start(code)
        for code in codes or CODES:
            wait_for(lambda c=code: self.up(c), 60, f"{code} answers\n{self.log_tail(code)}")

    def stop(self) -> None:
        for code in list(self.processes):
            self.kill(code)

    def log_tail(self, code: str) -> str:
        paths = [self.home(code) / name for name in ("console.log", "node.log")]
        return "".join(p.read_text(errors="replace")[-3000:] for p in paths if p.exists())

    def get(self, code: str, path: str) -> Any:
        with self.client(code) as client:
            answer = client.get(path)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def logs(self, code: str) -> dict[str, tuple[int, str]]:
        return {log["origin"]: (log["size"], log["root"]) for log in self.get(code, "/v1/logs")}


def agreement(today: date) -> dict[str, Any]:
    """Every member shares every record's status with every other (no consent needed)."""
    return {
        "id": "CAMPAIGN-AEO",
        "kind": "plurilateral",
        "parties": list(CODES),
        "contract": "mra-status-only",
        "contract_version": 1,
        "contract_sha256": SOURCE_HASHES["mra-status-only@1"],
        "params": {"certificates": ["AEOC", "AEOS", "AEOF"]},
        "valid_from": today.isoformat(),
        "valid_until": today.replace(year=today.year + 1).isoformat(),
        "title": "Crash campaign recognition",
        "legal_ref": "test",
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    print(f"crash campaign seed {SEED} (MRA_CAMPAIGN_SEED={SEED} repeats the kill schedule)")
    net = Cluster(tmp_path_factory.mktemp("campaign") / "net")
    try:
        net.wait_up()
        put_in_force(net)
        yield net
    finally:
        net.stop()


def put_in_force(net: Cluster) -> None:
    """BR proposes ``agreement`` and AR and UY approve it; returns once it is in force at all."""
    document = agreement(datetime.now(UTC).date())
    with net.client("BR") as client:
        answer = client.post("/v1/agreements", json=document)
        assert answer.status_code == 201, answer.text
    for party in ("AR", "UY"):
        wait_for(
            lambda p=party: any(a["id"] == document["id"] for a in net.get(p, "/v1/agreements")),
            30,
            f"{party} received the agreement",
        )
        with net.client(party) as client:
            answer = client.post(f"/v1/agreements/{document['id']}/approve")
            assert answer.status_code == 200, answer.text
    for party in CODES:
        wait_for(
            lambda p=party: [a["phase"] for a in net.get(p, "/v1/agreements")] == ["approved"],
            30,
            f"the agreement is in force at {party}",
        )


class Publisher:
    """Publishes batches of new records to one node (on a thread, or one batch at a time),
    keeping every acknowledged one; a batch refused or left unanswered is never sent again."""

    def __init__(self, cluster: Cluster, code: str, first: int, seed: int) -> None:
        self.cluster, self.code, self.next = cluster, code, first
        self.rng = random.Random(seed)
        self.acks: list[Ack] = []
        self.in_doubt = 0
        self.refused: list[tuple[int, str]] = []
        self.halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def progressed(self) -> bool:
        """Whether enough records were acknowledged for the campaign to have tested them."""
        return len(self.acks) > KILLS // 2

    def start(self) -> None:
        self.halt.clear()
        self._thread = threading.Thread(target=self._run, name=f"publish-{self.code}")
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread; raises what made it stop early, if anything did."""
        self.halt.set()
        assert self._thread is not None
        self._thread.join(timeout=60)
        assert not self._thread.is_alive()
        if self._failure is not None:
            raise self._failure

    def _run(self) -> None:
        try:
            with self.cluster.client(self.code) as client:
                while not self.halt.is_set():
                    self.publish_once(client)
                    self.halt.wait(self.rng.uniform(0.02, 0.15))
        except BaseException as exc:  # handed to the test by stop()
            self._failure = exc

    def publish_once(self, client: httpx.Client) -> httpx.Response | None:
        records = list(
            sample_dicts(self.code, self.rng.choice((1, 1, 2, 3, 5, 10)), seed=7, start=self.next)
        )
        self.next += len(records)
        try:
            answer = client.post("/v1/aeo", json={"records": records})
        except httpx.ConnectError:
            self.halt.wait(0.05)  # the node is down
            return None
        except httpx.HTTPError:
            self.in_doubt += 1  # sent, and the node was killed before it answered
            return None
        if answer.status_code != 200:
            self.refused.append((answer.status_code, answer.text[:300]))
            return answer
        appended = answer.json()["appended"]
        assert len(appended) == len(records), answer.text
        for record, entry in zip(records, appended, strict=True):
            payload = canonical_json(AeoRecord.from_dict(record).to_dict())
            self.acks.append(Ack(self.code, entry["seq"], str(record["aeo_id"]), payload))
        return answer


def converged(cluster: Cluster) -> dict[str, tuple[int, str]] | None:
    """Each origin's (size, root), when every node holds exactly what the origin holds."""
    views = {code: cluster.logs(code) for code in CODES}
    own = {code: views[code][code] for code in CODES}
    return own if all(view == own for view in views.values()) else None


def delivered(cluster: Cluster, partner: str, acks: list[Ack]) -> bool:
    """``partner`` holds the view of every acknowledged record of its partners, at its seq."""
    wanted = {a.aeo_id: a for a in acks if a.origin != partner}
    ids = sorted(wanted)
    with cluster.client(partner, timeout=60) as client:
        for start in range(0, len(ids), 5000):
            answer = client.post("/v1/aeo/query", json={"ids": ids[start : start + 5000]})
            assert answer.status_code == 200, answer.text
            found = answer.json()["found"]
            for aeo_id in ids[start : start + 5000]:
                held = found.get(aeo_id)
                if held is None or "view" not in held:
                    return False
                assert held["seq"] == wanted[aeo_id].seq and held["origin"] == aeo_id[:2]
                assert held["agreements"] == ["CAMPAIGN-AEO"]
    return True


def verify_homes(cluster: Cluster, *codes: str) -> None:
    """``mra ledger verify`` on stopped nodes' homes, side by side; each must pass."""
    assert not any(cluster.running(code) for code in codes)
    runs = {
        code: subprocess.Popen(
            [sys.executable, "-m", "node", "ledger", "verify", "--home", str(cluster.home(code))],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for code in codes
    }
    for code, run in runs.items():
        output, _ = run.communicate(timeout=300)
        assert run.returncode == 0, f"mra ledger verify, {code}: {output}"
        assert f"OK {code}:" in output, output


def check_stored(cluster: Cluster, acks: list[Ack]) -> None:
    """With every node stopped: each acknowledged record is in its origin's file at its seq,
    and every partner holds a view of every record entry of every other origin."""
    stores = {code: SqliteStore.open(cluster.db(code)) for code in CODES}
    try:
        for ack in acks:
            entry = stores[ack.origin].entry(ack.origin, ack.seq)
            assert entry is not None, f"lost acknowledged {ack.aeo_id} at {ack.origin}#{ack.seq}"
            assert entry.payload == ack.payload, f"{ack.origin}#{ack.seq} is not {ack.aeo_id}"
        for origin in CODES:
            records = {
                e.seq
                for e in stores[origin].entries(origin)
                if EntryHeader.from_bytes(e.body).kind in RECORD_KINDS
            }
            for partner in set(CODES) - {origin}:
                held = stores[partner].views_count(origin, records)
                assert held == len(records), f"{partner} holds {held} of {origin}'s {len(records)}"
    finally:
        for store in stores.values():
            store.close()


@pytest.mark.long
def test_no_acknowledged_write_is_lost_across_random_sigkills(cluster: Cluster) -> None:
    rng = random.Random(SEED)
    publishers = {
        code: Publisher(cluster, code, first=1, seed=SEED + i) for i, code in enumerate(CODES)
    }
    # Each node lives on its own random schedule: killed 0.15-1.2 s after it listens (one time
    # in six, 0.2-1.5 s after it was started, listening or not), and started again at once.
    started = time.monotonic()
    kill_at: dict[str, float | None] = {c: started + rng.uniform(0.15, 1.2) for c in CODES}
    serving = dict.fromkeys(CODES, True)
    kills = during_start = 0
    for publisher in publishers.values():
        publisher.start()
    try:
        # At least KILLS kills, and on until every node has acknowledged more than KILLS // 2
        # records: on a slow machine a node spends most of each life starting (2-4 s here,
        # three at once on two cores), and a campaign of lives too short to publish in would
        # pass without having tested anything.
        while kills < KILLS or not all(p.progressed() for p in publishers.values()):
            assert time.monotonic() - started < 600, (
                f"{kills} kills in 600 s; acks: { {c: len(p.acks) for c, p in publishers.items()} }"
            )
            for code in CODES:
                now = time.monotonic()
                if not cluster.running(code):
                    cluster.start(code)
                    serving[code] = False
                    kill_at[code] = now + rng.uniform(0.2, 1.5) if rng.random() < 1 / 6 else None
                elif not serving[code] and cluster.listening(code):
                    serving[code] = True
                    kill_at[code] = kill_at[code] or now + rng.uniform(0.15, 1.2)
                deadline = kill_at[code]
                if deadline is not None and now >= deadline:
                    cluster.kill(code)
                    kills += 1
                    during_start += not serving[code]
            time.sleep(0.02)
    finally:
        for publisher in publishers.values():
            publisher.stop()
    campaign = time.monotonic() - started
    acks = [ack for publisher in publishers.values() for ack in publisher.acks]
    waited = 0
    for publisher in publishers.values():
        # A node started while both its peers were down refuses to append until one answers
        # (503 OwnLogUnconfirmed: not acknowledged, never sent again); nothing else is refused.
        unconfirmed = [r for r in publisher.refused if '"OwnLogUnconfirmed"' in r[1]]
        other = [r for r in publisher.refused if r not in unconfirmed]
        assert all(status == 503 for status, _ in unconfirmed), unconfirmed[:3]
        assert not other, f"{publisher.code} refused: {other[:3]}"
        waited += len(unconfirmed)

    settled = time.monotonic()
    cluster.wait_up()
    heads = wait_for(lambda: converged(cluster), 90, "every node holds every origin's log")
    for code in CODES:
        mine = [a.seq for a in acks if a.origin == code]
        assert heads[code][0] > max(mine), f"{code} holds less than it acknowledged"
        assert len(set(mine)) == len(mine), f"{code} acknowledged one seq twice"
    for partner in CODES:
        wait_for(lambda p=partner: delivered(cluster, p, acks), 90, f"{partner}'s deliveries")
        assert cluster.get(partner, "/v1/forks") == []
    cluster.stop()
    checked = time.monotonic()
    verify_homes(cluster, *CODES)
    check_stored(cluster, acks)
    print(
        f"seed {SEED}: {kills} SIGKILLs ({during_start} while starting) in {campaign:.0f} s, "
        f"converged and delivered in {checked - settled:.0f} s, "
        f"verified in {time.monotonic() - checked:.0f} s; "
        f"{len(acks)} acknowledged records checked, 0 lost, "
        f"{sum(p.in_doubt for p in publishers.values())} publications in flight at a kill, "
        f"{waited} refused while a restarted node waited for a peer; "
        f"logs {', '.join(f'{c} {heads[c][0]}' for c in CODES)}"
    )


FULL_AT = 64 * 1024  # while the disk is "full", no write of the node may end past this byte


def test_a_full_disk_refuses_writes_cleanly_and_they_resume_when_space_returns(
    cluster: Cluster,
) -> None:
    code = "UY"
    cluster.wait_up()
    process = cluster.processes[code]
    # A write past the limit raises SIGXFSZ, whose default action ends the process; CPython
    # ignores it from start-up on, so the write fails with EFBIG and the node goes on.
    ignored = next(
        int(line.split()[1], 16)
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines()
        if line.startswith("SigIgn:")
    )
    assert ignored >> (signal.SIGXFSZ - 1) & 1, "the node would be killed by a full disk"
    publisher = Publisher(cluster, code, first=700_000, seed=SEED)
    soft, hard = resource.prlimit(process.pid, resource.RLIMIT_FSIZE)
    with cluster.client(code) as client:
        assert publisher.publish_once(client) is not None and publisher.acks
        # No file of the node may be written past FULL_AT bytes (no privilege needed to lower
        # one's own soft limit). The WAL is written from its start again after a checkpoint,
        # so a few batches may still fit: publish until the first refusal.
        resource.prlimit(process.pid, resource.RLIMIT_FSIZE, (FULL_AT, hard))
        try:
            for _ in range(300):
                fitted = len(publisher.acks)
                answer = publisher.publish_once(client)
                assert answer is not None, "the node stopped answering"
                if answer.status_code != 200:
                    break
            refusals = len(publisher.refused)
            assert refusals, "no write was refused with the disk full"
            held = max(a.seq for a in publisher.acks) + 1
            for _ in range(3):  # the same clean refusal each time: no transaction left open
                answer = publisher.publish_once(client)
                assert answer is not None and answer.status_code == 507, answer and answer.text
            assert answer.headers["content-type"] == "application/problem+json"
            problem = answer.json()
            assert problem["status"] == 507 and problem["title"] == "StorageFull", problem
            assert process.poll() is None, "the node died of a full disk"
            # Nothing half-written, and reads go on.
            assert cluster.logs(code)[code][0] == held
            last = publisher.acks[-1]
            record = client.get(f"/v1/aeo/{last.aeo_id}")
            assert record.status_code == 200 and record.json()["seq"] == last.seq
            ids = [a.aeo_id for a in publisher.acks]
            found = client.post("/v1/aeo/query", json={"ids": ids}).json()["found"]
            assert {i: found[i]["seq"] for i in ids} == {a.aeo_id: a.seq for a in publisher.acks}
        finally:
            resource.prlimit(process.pid, resource.RLIMIT_FSIZE, (soft, hard))
        # Space is back: the next batch is appended right after the last acknowledged one.
        answer = publisher.publish_once(client)
        assert answer is not None and answer.status_code == 200, answer and answer.text
        assert answer.json()["appended"][0]["seq"] == held
        for _ in range(5):
            answer = publisher.publish_once(client)
            assert answer is not None and answer.status_code == 200, answer.text
    assert len(publisher.refused) == refusals + 3
    wait_for(lambda: converged(cluster), 60, "the partners caught up with UY")
    cluster.kill(code)
    verify_homes(cluster, code)
    cluster.wait_up(code)
    with cluster.client(code) as client:
        ids = [a.aeo_id for a in publisher.acks]
        found = client.post("/v1/aeo/query", json={"ids": ids}).json()["found"]
    assert {i: found[i]["seq"] for i in ids} == {a.aeo_id: a.seq for a in publisher.acks}
    print(
        f"full disk: {len(publisher.acks)} acknowledged ({fitted} before the first refusal), "
        f"{len(publisher.refused)} refused with 507, none lost"
    )


def wal_frames(wal: bytes) -> tuple[int, list[tuple[int, bool]]]:
    """The page size of a WAL file image, and the end offset of each of its frames with
    whether it ends a transaction (https://www.sqlite.org/fileformat2.html#walformat: a
    32-byte header, then frames of a 24-byte header and one page; a commit frame holds the
    database size in pages, and frames of an older generation carry other salts)."""
    page_size, salts = struct.unpack(">I", wal[8:12])[0], wal[16:24]
    frames, offset = [], 32
    while offset + 24 + page_size <= len(wal) and wal[offset + 8 : offset + 16] == salts:
        commit = struct.unpack(">I", wal[offset + 4 : offset + 8])[0] != 0
        offset += 24 + page_size
        frames.append((offset, commit))
    return page_size, frames


def wal_index(shm: bytes) -> tuple[int, int]:
    """From a wal-index (-shm) file: how many frames hold committed transactions (mxFrame), and
    how many of them a checkpoint copied, or may have begun to copy, into the database file
    (nBackfill, nBackfillAttempted). Layout: https://www.sqlite.org/walformat.html, two copies
    of the index header, then the checkpoint information at byte 96; native byte order."""
    committed, copied, attempted = (
        struct.unpack("=I", shm[at : at + 4])[0] for at in (16, 96, 128)
    )
    return committed, min(committed, max(copied, attempted))


def own_size(home: Path, wal: bytes, origin: str, directory: Path) -> int:
    """The size of ``origin``'s log in a copy of ``home``'s database with this WAL."""
    directory.mkdir()
    shutil.copy(home / "ledger.db", directory / "ledger.db")
    (directory / "ledger.db-wal").write_bytes(wal)
    store = SqliteStore.open(directory / "ledger.db")
    try:
        head = store.head(origin)
        return head.size if head else 0
    finally:
        store.close()


def test_a_torn_wal_leaves_a_consistent_prefix_and_no_seq_is_signed_twice(
    cluster: Cluster, tmp_path: Path
) -> None:
    code, rng = "AR", random.Random(SEED)
    cluster.wait_up()
    home = cluster.home(code)
    publisher = Publisher(cluster, code, first=800_000, seed=SEED)
    for _ in range(5):
        publisher.start()
        wanted = len(publisher.acks) + 40
        wait_for(
            lambda w=wanted: len(publisher.acks) >= w,  # type: ignore[misc]
            60,
            f"{code} acknowledges",
        )
        cluster.kill(code)  # mid-write: the publisher is still sending
        publisher.stop()
        wal, shm = (home / "ledger.db-wal").read_bytes(), (home / "ledger.db-shm").read_bytes()
        page_size, frames = wal_frames(wal)
        committed, copied = wal_index(shm)
        if committed > copied:  # frames past the last checkpoint: there is a tail to tear
            break
        cluster.wait_up(code)
    else:
        pytest.fail("every kill found the WAL already checkpointed")
    assert len(frames) >= committed and frames[committed - 1][1], "mxFrame ends a commit"
    # A torn write: the WAL ends at an arbitrary byte of the frames that no checkpoint copied
    # into the database file. (SQLite syncs frames before it copies them: no crash tears those,
    # and cutting them would leave the file holding pages newer than the WAL.)
    safe = 32 + copied * (page_size + 24)
    cut = rng.randint(safe, frames[committed - 1][0])
    lost_commits = sum(1 for end, commit in frames[:committed] if commit and end > cut)
    full = own_size(home, wal, code, tmp_path / "before")
    floor = own_size(home, wal[:safe], code, tmp_path / "checkpointed")
    with open(home / "ledger.db-wal", "r+b") as handle:
        handle.truncate(cut)

    cluster.wait_up(code)
    size = cluster.logs(code)[code][0]
    assert floor <= size <= full, (floor, size, full)
    if lost_commits == 0:
        assert size == full
    lost = [a for a in publisher.acks if a.seq >= size]
    kept = [a for a in publisher.acks if a.seq < size]
    with cluster.client(code) as client:
        found = client.post("/v1/aeo/query", json={"ids": [a.aeo_id for a in kept]}).json()
    assert {a.aeo_id: found["found"][a.aeo_id]["seq"] for a in kept} == {
        a.aeo_id: a.seq for a in kept
    }
    shared, torn = max(cluster.logs(peer)[code][0] for peer in ("BR", "UY")), size
    if shared > torn:
        # Its peers hold checkpoints it signed of more than it holds: signing from ``size`` on
        # would contradict them. It refuses to append, says why, and nobody sees a fork.
        with cluster.client(code) as client:
            record = next(sample_dicts(code, 1, seed=8, start=950_000))
            refused = client.post("/v1/aeo", json=record)
            assert refused.status_code == 503, refused.text
            assert refused.json()["title"] == "OwnLogBehind"
            assert f"holds {size}" in refused.json()["detail"]
            assert client.get("/v1/health").json()["appends_refused"]
        time.sleep(3)  # several gossip rounds
        assert cluster.logs(code)[code][0] == size
        assert all(cluster.get(p, "/v1/forks") == [] for p in CODES)
        # The operator restores the database from a backup that holds the whole log.
        cluster.kill(code)
        for suffix in ("-wal", "-shm"):
            (home / f"ledger.db{suffix}").unlink(missing_ok=True)
        shutil.copy(tmp_path / "before" / "ledger.db", home / "ledger.db")
        cluster.wait_up(code)
        size = cluster.logs(code)[code][0]
        assert size == full
    with cluster.client(code) as client:
        answer = client.post("/v1/aeo", json=next(sample_dicts(code, 1, seed=8, start=900_000)))
        assert answer.status_code == 200, answer.text
        assert answer.json()["appended"][0]["seq"] == size
        assert client.get("/v1/health").json()["appends_refused"] is None
    wait_for(lambda: converged(cluster), 30, "the peers follow AR's log")
    assert all(cluster.get(p, "/v1/forks") == [] for p in CODES)
    cluster.kill(code)
    verify_homes(cluster, code)
    # What it holds is a prefix of what it held before the tear, and of what its peers hold.
    stores = [SqliteStore.open(p) for p in (cluster.db(code), tmp_path / "before/ledger.db")]
    stores += [SqliteStore.open(cluster.db(peer)) for peer in ("BR", "UY")]
    try:
        mine = [(e.body, e.signature) for e in stores[0].entries(code, 0, size)]
        assert len(mine) == size
        for other in stores[1:]:
            theirs = [(e.body, e.signature) for e in other.entries(code, 0, size)]
            assert mine[: len(theirs)] == theirs
    finally:
        for store in stores:
            store.close()
    print(
        f"torn WAL: cut at byte {cut} of {len(wal)} ({committed - copied} frames not yet "
        f"checkpointed, {lost_commits} commits cut): {code}'s log {full} -> {torn} entries "
        f"(at least {floor} before the tear); {len(lost)} acknowledged records lost, "
        f"{len(kept)} kept; peers held {shared}: "
        f"{'appends refused until the backup was restored' if shared > torn else 'no refusal'}"
    )
