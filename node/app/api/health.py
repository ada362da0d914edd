"""How the node is doing: its health (logs held, peers' freshness, continuous verification),
the state of each log it holds, and its Prometheus metrics. ``router`` comes first in the app
and ``metrics_router`` last, the order the OpenAPI document lists them in."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import generate_latest

from node.app.api.auth import Opened, admin, viewer
from node.app.api.openapi import TEXT, operation, ref
from node.host import scrub
from node.host.apikeys import Caller
from node.ledger.queries import log_states
from node.store.postgres import PostgresStore, roles

__all__ = ["metrics_router", "router"]

router = APIRouter()
metrics_router = APIRouter()


@router.get("/v1/health", **operation(ref("Health")))
async def health(node: Opened, caller: Caller = viewer) -> dict[str, Any]:
    store = node.store
    heads = {o: store.head(o) for o in store.origins()}
    fresh = node.peers.freshness() if node.peers is not None else {}
    if isinstance(store, PostgresStore) and (warned := roles.warnings(store)):
        fresh["warnings"] = [*fresh.get("warnings", []), *warned]
    return {
        "origin": node.config.origin,
        "name": node.config.name,
        "schema": store.schema_version,
        "logs": {o: (h.size if h else 0) for o, h in heads.items()},
        **fresh,
        "verification": scrub.status(node.home.path),
        "workers": node.serving(),
    }


@router.get("/v1/logs", **operation(ref("Logs")))
async def logs(node: Opened, caller: Caller = viewer) -> list[dict[str, Any]]:
    """Per origin held here: size and Merkle root, and the latest checkpoint with its
    cosigners; two nodes hold the same log of an origin when (size, root) agree."""
    return log_states(node.store)


@metrics_router.get("/metrics", **operation(TEXT, media="text/plain"))
async def metrics(node: Opened, caller: Caller = admin) -> Response:
    verified = scrub.status(node.home.path)
    node.metrics.verify_last.set((verified["last_complete"] or 0) / 1000)
    node.metrics.verify_damage.set(verified["damage_total"])
    if node.peers is not None:
        node.peers.certificates()  # mra_tls_certificate_expiry_seconds, per member
    return Response(generate_latest(node.registry), media_type="text/plain; version=0.0.4")
