"""Time as the node reads it: a clock is a function returning milliseconds since the Unix epoch,
passed in wherever time is needed so that tests and the simulation control it."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Clock", "system_clock"]

Clock = Callable[[], int]


def system_clock() -> int:
    """Wall-clock milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000
