"""A token bucket per peer: how often a member may ask this node something costly (the
identifier lookup, ``network.lookup``). Pure: time comes from the ``monotonic`` function given.

Each peer has a bucket of ``burst`` tokens, refilled at ``rate`` tokens per second; a request
takes one. An empty bucket refuses, saying how many whole seconds until a token is back (what
the 429 answer's ``Retry-After`` carries, RFC 9110 §10.2.3).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["PeerLimits"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class PeerLimits:
    """``burst`` requests at once per peer, then ``rate`` a second."""

    def __init__(self, rate: float, burst: int, monotonic: Callable[[], float]) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate above 0 and a burst of at least 1")
        self.rate = rate
        self.burst = burst
        self._monotonic = monotonic
        self._buckets: dict[str, _Bucket] = {}

    def take(self, peer: str) -> int | None:
        """Take a token of ``peer``'s: None when there was one, else the whole seconds (at
        least 1) until there is."""
        now = self._monotonic()
        bucket = self._buckets.setdefault(peer, _Bucket(tokens=float(self.burst), at=now))
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / self.rate))
