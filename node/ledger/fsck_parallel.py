"""``verify_log`` (``node.ledger.fsck``) over ranges of one log in separate processes, one per
core: threads cannot use both cores here, since the Python work of each entry holds the GIL.
Ranges verified separately together check exactly what one pass checks (see ``verify_log``).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from node.core.errors import IntegrityError, StorageFailed
from node.ledger.fsck import LogReport, Progress, raise_first, verify_log
from node.store.sqlite import SqliteStore

__all__ = ["PARALLEL_MIN_ENTRIES", "verify_log_parallel"]

PARALLEL_MIN_ENTRIES = 20_000


def verify_log_parallel(
    store: SqliteStore,
    origin: str,
    *,
    own: bool = False,
    processes: int = 2,
    progress: Progress | None = None,
    min_entries: int = PARALLEL_MIN_ENTRIES,
) -> LogReport:
    """``verify_log`` over ``processes`` ranges in separate processes (one per core); a log
    shorter than ``min_entries`` in this process. Reports the damage with the lowest seq when
    several ranges find some."""
    head = store.head(origin)
    size = head.size if head else 0
    if processes < 2 or size < max(min_entries, processes):
        return verify_log(store, origin, own=own, progress=progress)
    bounds = [size * i // processes for i in range(processes)]
    ranges = [(b, bounds[i + 1] if i + 1 < processes else None) for i, b in enumerate(bounds)]
    context = multiprocessing.get_context("spawn")
    done = context.Value("q", 0)
    reports: list[LogReport] = []
    damage: list[IntegrityError] = []
    with ProcessPoolExecutor(
        processes, mp_context=context, initializer=_init_worker, initargs=(done,)
    ) as pool:
        futures = [
            pool.submit(_verify_range, str(store.path), origin, own, start, end)
            for start, end in ranges
        ]
        reported = 0
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=0.25)
            if progress:
                current = int(done.value)
                progress(current - reported)
                reported = current
        for future in futures:
            try:
                reports.append(future.result())
            except IntegrityError as error:
                damage.append(error)
            except BrokenProcessPool as exc:
                raise StorageFailed(f"a verification process died: {exc}") from exc
    raise_first(*damage)
    return LogReport(
        origin=origin,
        size=reports[-1].size,
        root=reports[-1].root,
        checkpoints=sum(r.checkpoints for r in reports),
        payloads=sum(r.payloads for r in reports),
    )


_worker_done: Any = None


def _init_worker(done: Any) -> None:
    global _worker_done
    _worker_done = done


def _verify_range(path: str, origin: str, own: bool, start: int, end: int | None) -> LogReport:
    def count(n: int) -> None:
        with _worker_done.get_lock():
            _worker_done.value += n

    store = SqliteStore.open(path)
    try:
        return verify_log(store, origin, own=own, progress=count, start=start, end=end)
    finally:
        store.close()
