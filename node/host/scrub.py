"""Continuous verification: a running node re-verifies itself in the background.

The node starts ``python -m node.host.scrub HOME PARENT BUDGET START`` beside itself. It waits
START seconds, then runs the steps of ``node.ledger.verification`` one small piece at a time
(each log in ranges of ``RANGE`` entries, then views, cosignatures, derived tables, access log,
API keys) and, after each piece, sleeps long enough that its CPU time stays within BUDGET, a
fraction of one core (the node's ``Settings``: ``MRA_VERIFY_START_SECONDS``,
``MRA_VERIFY_BUDGET``). It is a separate process, at the lowest priority, so that it never holds
the serving process's interpreter lock. It writes where it is and what it found to
``scrub.json`` in the home after every piece, so a restarted node resumes its pass where it
stopped; the node reads that file for ``/v1/health``, ``/metrics`` and the UI. It exits when
the node that started it is gone (a node killed with -9 leaves nothing running).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from node.core.errors import IntegrityError, MraError
from node.host.home import NodeHome, write_atomic
from node.ledger.erasure import erased_by_own_erasures
from node.ledger.fsck import verify_log
from node.ledger.verification import AFTER_LOGS, Check, before_logs, run_check
from node.store.sqlite import SqliteStore

__all__ = ["STATE_FILE", "Erased", "ScrubState", "read_state", "scrub_step"]

STATE_FILE = "scrub.json"
RANGE = 5_000
# Per log: how many of its entries were read for erasures, and the entries they erased. A
# range needs every erasure of the whole log; reading them all again for each range cost half
# of a range's time at 1M entries (a whole-log scan), so a pass over a log reads them once at
# its start and then only the entries appended since.
Erased = dict[str, tuple[int, set[int]]]


@dataclass(slots=True, kw_only=True)
class ScrubState:
    """Where the current pass is, and what the passes found.

    ``step`` counts the checks before the logs, then the logs (``origin`` from ``seq``), then
    the checks after them. ``found`` holds the damages of the pass under way; ``last_found``
    those of the last complete pass, finished at ``last_complete`` (ms since the epoch)."""

    step: int = 0
    origin: str | None = None
    seq: int = 0
    started: int = 0
    found: list[str] = field(default_factory=list)
    last_complete: int | None = None
    last_found: list[str] = field(default_factory=list)

    @property
    def damages(self) -> list[str]:
        """Every damage known now: the last complete pass's, and the current pass's so far."""
        return list(dict.fromkeys([*self.last_found, *self.found]))


def read_state(home: Path) -> ScrubState:
    """The scrubber's state in ``home``; a fresh one when it has none or it is unreadable."""
    try:
        data = json.loads((home / STATE_FILE).read_text(encoding="utf-8"))
        return ScrubState(**data)
    except (OSError, ValueError, TypeError):
        return ScrubState()


def scrub_step(
    store: SqliteStore, own: str, state: ScrubState, now: int, erased: Erased | None = None
) -> bool:
    """Verify the next piece named by ``state`` and move it on; True when a pass completed.
    ``erased`` carries what the own log's erasures erased from one range to the next."""
    before = before_logs(quick=True)
    if state.step < len(before):
        name, check = before[state.step]
        _check(name, check, store, own, state)
        state.step += 1
        return False
    if state.step == len(before):
        _next_range(store, own, state, {} if erased is None else erased)
        return False
    index = state.step - len(before) - 1
    name, check = AFTER_LOGS[index]
    _check(name, check, store, own, state)
    state.step += 1
    if index + 1 < len(AFTER_LOGS):
        return False
    state.last_complete, state.last_found = now, state.found
    state.step, state.origin, state.seq, state.found = 0, None, 0, []
    state.started = now
    return True


def _check(name: str, check: Check, store: SqliteStore, own: str, state: ScrubState) -> None:
    state.found.extend(str(d) for d in run_check(name, check, store, own, None))


def _next_range(store: SqliteStore, own: str, state: ScrubState, erased: Erased) -> None:
    """One range of one log; past the last log, on to the checks after the logs."""
    origins = store.origins()
    later = [o for o in origins if state.origin is None or o >= state.origin]
    if not later:
        state.step, state.origin, state.seq = state.step + 1, None, 0
        return
    origin = later[0]
    seq = state.seq if origin == state.origin else 0
    size = store.size(origin)
    last = seq + RANGE >= size
    try:
        known = _erased(store, origin, seq, size, erased) if origin == own else None
        end = None if last else seq + RANGE
        verify_log(store, origin, own=origin == own, start=seq, end=end, erased=known)
        done = last
    except IntegrityError as damage:
        state.found.append(str(damage))
        done = True  # a log is checked up to its first damage, as by mra ledger verify
    except (MraError, OSError, ValueError, TypeError, KeyError) as exc:
        state.found.append(str(IntegrityError("unreadable", f"log {origin}: {exc}")))
        done = True
    if done:
        following = [o for o in origins if o > origin]
        if following:
            state.origin, state.seq = following[0], 0
        else:
            state.step, state.origin, state.seq = state.step + 1, None, 0
    else:
        state.origin, state.seq = origin, seq + RANGE


def _erased(store: SqliteStore, origin: str, seq: int, size: int, erased: Erased) -> set[int]:
    """The entries of the own log ``origin`` (``size`` entries now) that its erasures erased,
    as the range from ``seq`` needs them: read whole when a pass over the log starts, and
    from where the last range's read ended after that."""
    read, held = erased.get(origin, (0, set())) if seq else (0, set())
    held = held | erased_by_own_erasures(store, origin, since=read)
    erased[origin] = (size, held)
    return held


def run(
    home: Path,
    *,
    budget: float,
    parent: int,
    start_delay: float,
    clock: Callable[[], float] = time.time,
) -> None:
    """Scrub ``home``'s database until the process ``parent`` is gone, after ``start_delay``
    seconds, spending ``budget`` of one core."""
    node = NodeHome(path=home)
    own = node.config().origin
    state = read_state(home)
    store = SqliteStore.open_read_only(node.db_path)
    erased: Erased = {}
    try:
        _sleep_while(parent, start_delay)
        while os.getppid() == parent:
            started = time.process_time()
            scrub_step(store, own, state, int(clock() * 1000), erased)
            write_atomic(home / STATE_FILE, json.dumps(asdict(state)))
            spent = time.process_time() - started
            _sleep_while(parent, max(spent * (1 / budget - 1), 0.05))
    finally:
        store.close()


def _sleep_while(parent: int, seconds: float) -> None:
    """Sleep ``seconds``, waking every half second to leave as soon as the node is gone."""
    end = time.monotonic() + seconds
    while os.getppid() == parent and (left := end - time.monotonic()) > 0:
        time.sleep(min(left, 0.5))


def status(home: Path) -> dict[str, Any]:
    """What ``/v1/health`` says of continuous verification."""
    state = read_state(home)
    damages = state.damages
    return {
        "last_complete": state.last_complete,
        "damage_total": len(damages),
        "first_damage": damages[0] if damages else None,
    }


def _die_with_parent() -> None:
    """Ask Linux to kill this process the moment its parent dies (prctl PR_SET_PDEATHSIG):
    nothing of a node killed with -9 may go on touching its files, even for the half second
    the parent check takes."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere the parent check alone ends it


# The node starts this with its settings (node.app.workers):
# python -m node.host.scrub HOME PARENT_PID BUDGET START_SECONDS
if __name__ == "__main__":
    _die_with_parent()
    os.nice(19)
    run(
        Path(sys.argv[1]),
        parent=int(sys.argv[2]),
        budget=float(sys.argv[3]),
        start_delay=float(sys.argv[4]),
    )
