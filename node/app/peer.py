"""The peer endpoints (``/v1/peer/...``) on the node's HTTP app: what a member may ask of this
node over mutual TLS, answered by its ``NetworkService``."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.routing import APIRoute

from network.service import REFUSALS, NetworkService, checked_seq
from node.app.apidoc import operation, ref
from node.core.errors import InvalidInput

__all__ = ["peer_routes"]


def peer_routes(app: FastAPI, service: NetworkService) -> None:
    """The peer endpoints. Every refusal (identity, a request that does not match the API,
    a body over the limit or too slow, anything that does not verify) is counted in
    ``mra_peer_refusals`` and logged, by the route class below, in one place."""

    class PeerRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()
            name = f"{','.join(sorted(self.methods or ()))} {self.path}"

            async def counted(request: Request) -> Response:
                try:
                    return await handler(request)
                except REFUSALS as exc:
                    service.refuse(getattr(request.state, "peer", "unknown"), name, exc)
                    raise

            return counted

    router = APIRouter(route_class=PeerRoute, tags=["peer"])

    async def peer(request: Request) -> str:
        request.state.peer = service.peer_of(request)
        return str(request.state.peer)

    member = Depends(peer)

    @router.get("/v1/peer/frontier", **operation(ref("PeerFrontier")))
    async def frontier(who: str = member) -> dict[str, Any]:
        service.status[who].last_heard = service.clock()
        return service.frontier(who)

    @router.get("/v1/peer/log/{origin}", **operation(ref("PeerLogPage"), errors=(404,)))
    async def log_page(origin: str, start: int, size: int, who: str = member) -> dict[str, Any]:
        first, count = checked_seq(start, "start"), checked_seq(size, "size")
        return service.log_page(origin.upper(), first, count)

    @router.get("/v1/peer/deliveries", **operation(ref("PeerDeliveries")))
    async def deliveries(start: int = 0, who: str = member) -> dict[str, Any]:
        return service.deliveries(who, checked_seq(start, "start"))

    @router.post(
        "/v1/peer/push",
        **operation(ref("PeerPushAnswer"), body="PeerPush", errors=(408, 409)),
    )
    async def push(request: Request, who: str = member) -> dict[str, Any]:
        body = await service.json_body(request)
        if not isinstance(body, dict):
            raise InvalidInput("a push is a JSON object", field="body")
        return await service.offload(partial(service.receive_push, who, body))

    @router.post(
        "/v1/peer/query", **operation(ref("PeerQueryAnswer"), body="PeerQuery", errors=(408,))
    )
    async def query(request: Request, who: str = member) -> dict[str, Any]:
        body = await service.json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("ids"), list):
            raise InvalidInput("a JSON object with a list of AEO ids", field="ids")
        return service.query(who, body["ids"], evidence=body.get("evidence") is True)

    @router.get("/v1/peer/membership", **operation(ref("PeerMembership")))
    async def membership(who: str = member) -> Any:
        return json.loads(service.membership_path.read_text())

    @router.get("/v1/peer/forks", **operation(ref("PeerForks")))
    async def peer_forks(who: str = member) -> list[str]:
        return list(service.frontier(who)["forks"])

    app.include_router(router)
