"""What the simulated network does to messages, and what one seeded run comes to."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAULTS", "Faults", "Outcome"]


@dataclass(frozen=True, slots=True)
class Faults:
    """What the network does to messages while the run lasts (the settling phase is clean)."""

    loss: float = 0.08  # a request, or its answer, never arrives
    duplicate: float = 0.05  # a request is delivered a second time, later
    max_delay: float = 0.4  # seconds each way, uniform: messages overtake each other
    skew_ms: int = 120_000  # each node's clock is off by up to this, either way
    partition: bool = True  # the network is cut in two for part of the run


FAULTS = Faults()  # what a run does by default


@dataclass(slots=True)
class Outcome:
    seed: int
    violations: list[str]
    trace_digest: str
    published: int
    messages: int
    lost: int
    duplicated: int
    equivocator: str | None
    settle_seconds: float
    moved: int = 0  # members' own changes of their entry (mra network move)
    renewed: int = 0  # ... of their TLS certificate (mra network renew)
    added: int = 0  # members added by a version all signed
    removed: int = 0  # members removed by a version all the others signed
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.violations
