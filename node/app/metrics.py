"""What the node's API counts, in the node's registry (``Node.registry``, served by
``GET /metrics``): registered when the node is opened, before the peers' metrics, so that
``/metrics`` lists them in the same order on every start."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["ApiMetrics"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiMetrics:
    """What the API counts, in the node's registry (served by ``GET /metrics``)."""

    requests: Counter
    refusals: Counter
    verify_last: Gauge
    verify_damage: Gauge

    @classmethod
    def register(cls, registry: CollectorRegistry) -> ApiMetrics:
        return cls(
            requests=Counter(
                "mra_requests", "API requests", ["endpoint", "status"], registry=registry
            ),
            refusals=Counter("mra_refusals", "Refused requests", ["reason"], registry=registry),
            verify_last=Gauge(
                "mra_verify_last_complete_timestamp",
                "When continuous verification last completed a pass (seconds since the epoch;"
                " 0: never)",
                registry=registry,
            ),
            verify_damage=Gauge(
                "mra_verify_damage_total",
                "Damages named by the last complete verification pass and the one under way",
                registry=registry,
            ),
        )
