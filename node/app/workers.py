"""The background work of a serving node, beside the requests: the access log's writes and
anchors, webhook deliveries, WAL checkpoints, erasures and retention, and continuous
verification in its own process (``node.host.scrub``). ``Workers.start`` starts them on the
running loop; ``stop`` ends them before the node closes. A reader worker of ``mra node run
--workers`` writes its access log rows and nothing else."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import partial

from node.app.compose import READER, Node
from node.core.clock import system_clock
from node.core.entries import SignedEntry
from node.core.errors import MraError, StorageFailed
from node.core.log_budget import LogBudget
from node.host.home import NodeHome
from node.host.settings import Settings
from node.ledger import erasure
from node.store.sqlite import SqliteStore

__all__ = ["Workers"]

WAL_CHECKPOINT_SECONDS = 1.0  # about 1,000 pages of WAL at a steady publish
SCRUB_RETRY_SECONDS = 5.0
ERASURE_POLL_SECONDS = 1.0
log = logging.getLogger("mra.api")


@dataclass(slots=True)
class Workers:
    """The tasks and the scrubber process of one serving node."""

    tasks: list[asyncio.Task[None]]
    scrubber: subprocess.Popen[bytes] | None

    @classmethod
    def start(cls, node: Node) -> Workers:
        if node.role == READER:  # the primary does the rest (node.app.compose)
            return cls([asyncio.create_task(node.access.run())], None)
        tasks = [
            asyncio.create_task(node.access.run()),
            asyncio.create_task(node.webhooks.run()),
            asyncio.create_task(wal_checkpoints(node)),
            asyncio.create_task(erasure_work(node)),
            asyncio.create_task(access_anchors(node)),
        ]
        return cls(tasks, start_scrubber(node.home, node.settings))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.scrubber is not None:
            _stop(self.scrubber)


async def wal_checkpoints(node: Node) -> None:
    # Neither writer checkpoints on commit (a checkpoint syncs the database file: it would
    # stall the write that ran it, and the access log's would stall every request behind it):
    # this copies the WAL back on a worker thread instead, often enough to keep it short, and
    # syncs the access log's file, whose commits do not wait for the disk (``SqliteStore.open``).
    # The store's last connection to close checkpoints what is left.
    store = node.store
    if isinstance(store, SqliteStore):
        await node.written(partial(store.checkpoint_on_commit, False))
    waited = 0.0
    while True:
        await asyncio.sleep(WAL_CHECKPOINT_SECONDS)
        waited += WAL_CHECKPOINT_SECONDS
        try:
            if store.scrub_pending and waited >= SCRUB_RETRY_SECONDS:
                waited = 0.0
                await node.written(store.scrub)  # an erasure's WAL truncation a reader held up
            if isinstance(store, SqliteStore):
                for path in (store.path, store.access_file.path):
                    await asyncio.to_thread(SqliteStore.checkpoint_wal, path)
        except StorageFailed as exc:
            log.warning("WAL checkpoint failed: %s", exc)


async def access_anchors(node: Node) -> None:
    """Anchor the access log every ``Settings.anchor_seconds``."""
    while True:
        await asyncio.sleep(node.settings.anchor_seconds)
        await asyncio.to_thread(node.access.flush)
        await node.written(node.anchor_access)  # an append: on the writer thread, like every other


async def erasure_work(node: Node) -> None:
    """Answer the erasures that reached this node within a second, and apply retention on
    schedule (at start, then every ``Settings.retention_seconds``)."""
    ledger, store = node.ledger, node.store
    lines = LogBudget(lines=3, monotonic=time.monotonic)
    loop = asyncio.get_running_loop()
    next_retention = loop.time()
    version = node.peers.membership.version if node.peers is not None else 0
    while True:
        try:
            done: list[SignedEntry] = await node.written(lambda: erasure.acknowledge(ledger, store))
            # A new membership version may remove a member: what was received under the
            # agreements naming it is purged at once, not at the next scheduled run.
            now_version = node.peers.membership.version if node.peers is not None else 0
            if loop.time() >= next_retention or now_version != version:
                next_retention = loop.time() + node.settings.retention_seconds
                version = now_version
                done += await node.written(
                    partial(erasure.run_retention, ledger, store, system_clock(), node.members())
                )
            if done:
                log.info("erasure: appended %d purge or erasure entries", len(done))
        except MraError as exc:
            # Retried every poll: a lasting cause (OwnLogBehind, a full disk) is logged
            # a few times a minute, not every second.
            more = lines.suffix(type(exc).__name__)
            if more is not None:
                log.warning("erasure work failed: %s%s", exc, more)
        await asyncio.sleep(ERASURE_POLL_SECONDS)


def start_scrubber(home: NodeHome, settings: Settings) -> subprocess.Popen[bytes] | None:
    """Continuous verification beside this process (``node.host.scrub``), with the node's
    budget and first pause; none when the budget is 0 (``MRA_VERIFY_BUDGET``)."""
    if settings.verify_budget <= 0:
        return None
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "node.host.scrub",
            str(home.path),
            str(os.getpid()),
            repr(settings.verify_budget),
            repr(settings.verify_start_seconds),
        ],
        stdin=subprocess.DEVNULL,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
