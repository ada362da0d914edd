"""Virtual time: a scheduler that runs callbacks and coroutines in the order of their wake-up
times, so that a seed replays exactly. A coroutine it runs may await only ``sleep``."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Coroutine, Generator
from typing import Any

__all__ = ["Scheduler", "sleep"]


class _Sleep:
    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __await__(self) -> Generator[_Sleep, None, None]:
        yield self


def sleep(seconds: float) -> _Sleep:
    """Wait ``seconds`` of virtual time (in a coroutine the scheduler runs)."""
    return _Sleep(seconds)


class Scheduler:
    """Runs callbacks and coroutines in virtual time; ties keep the order they were made in."""

    def __init__(self) -> None:
        self.now = 0.0
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._order = 0
        self.crashes: list[str] = []

    def at(self, when: float, action: Callable[[], None]) -> None:
        self._order += 1
        heapq.heappush(self._queue, (max(when, self.now), self._order, action))

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        self.at(self.now, lambda: self._step(coro, name))

    def _step(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        try:
            waited = coro.send(None)
        except StopIteration:
            return
        except Exception as exc:  # a gossip step that raises is a bug the run reports
            self.crashes.append(f"{name}: {type(exc).__name__}: {exc}")
            return
        assert isinstance(waited, _Sleep), f"{name} awaited {waited!r} outside the simulation"
        self.at(self.now + waited.seconds, lambda: self._step(coro, name))

    def run_until(self, until: float) -> None:
        while self._queue and self._queue[0][0] <= until:
            when, _, action = heapq.heappop(self._queue)
            self.now = when
            action()
        self.now = max(self.now, until)


def run_now(coro: Coroutine[Any, Any, Any]) -> Any:
    """The result of ``coro``, which must finish without waiting (a peer endpoint whose
    writes are done inline): a request is served in one step of virtual time."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("a peer endpoint waited inside the simulation")
