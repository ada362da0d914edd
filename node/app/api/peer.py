"""The peer endpoints (``/v1/peer/...``) on the node's HTTP app: the route table of
``network.endpoints`` mounted on FastAPI, each route documented from its table row
(``node.app.api.schemas``). What FastAPI adds is HTTP: the member named by the client certificate,
query parameters validated, a body read within its bounds, refusals answered as problem
documents (``network.problems``)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.routing import APIRoute

from network.answers import PeerEndpoints
from network.endpoints import ROUTES, Call, Route
from network.problems import REFUSALS, PeerDenied, problem_of
from network.service import NetworkService
from network.wire import MAX_REQUEST
from node.app.api.openapi import operation, ref
from node.app.api.problems import problem_response
from node.core.canonical import parse_json

__all__ = ["json_body", "peer_routes"]


async def json_body(request: Request, read_seconds: float) -> Any:
    """The request's JSON body, read up to MAX_REQUEST bytes within ``read_seconds``: a
    chunked body declares no length that the API could refuse up front, and a peer that
    trickles its body must not hold a request open."""
    chunks, total = [], 0
    try:
        async with asyncio.timeout(read_seconds):
            async for chunk in request.stream():
                total += len(chunk)
                if total > MAX_REQUEST:
                    raise HTTPException(413, f"peer requests are limited to {MAX_REQUEST} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise HTTPException(
            408, f"the request body did not arrive within {read_seconds:g} s"
        ) from None
    return parse_json(b"".join(chunks))


def peer_routes(app: FastAPI, service: NetworkService) -> None:
    """The peer endpoints of ``service``. Every refusal (identity, a request that does not
    match the API, a body over the limit or too slow, anything that does not verify) is
    counted in ``mra_peer_refusals`` and logged, by the route class below, in one place."""
    endpoints = service.endpoints

    class PeerRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()
            name = f"{','.join(sorted(self.methods or ()))} {self.path}"

            async def counted(request: Request) -> Response:
                try:
                    return await handler(request)
                except REFUSALS as exc:
                    endpoints.refuse(getattr(request.state, "peer", "unknown"), name, exc)
                    raise

            return counted

    async def peer(request: Request) -> str:
        tls = (request.scope.get("extensions") or {}).get("tls") or {}
        request.state.peer = endpoints.peer_of(tls.get("client_cert_chain") or [])
        return str(request.state.peer)

    @app.exception_handler(PeerDenied)
    async def peer_denied(request: Request, exc: PeerDenied) -> Response:
        found = problem_of(exc)
        assert found is not None
        return problem_response(found)

    router = APIRouter(route_class=PeerRoute, tags=["peer"])
    for route in ROUTES:
        router.add_api_route(
            route.path,
            _endpoint(route, endpoints, Depends(peer), service.settings.peer_read_seconds),
            methods=[route.method],
            name=route.name,
            **operation(ref(route.answer), body=route.body, errors=route.errors),
        )
    app.include_router(router)


def _endpoint(
    route: Route, endpoints: PeerEndpoints, member: Any, read_seconds: float
) -> Callable[..., Coroutine[Any, Any, Any]]:
    """The FastAPI endpoint of ``route``: its signature declares the path and query
    parameters (FastAPI validates and documents them), the request when there is a body to
    read, and the member asking (``member``, a dependency)."""

    async def endpoint(**given: Any) -> Any:
        body = None
        if route.body is not None:
            body = await json_body(given["request"], read_seconds)
        call = Call(
            peer=given["who"],
            path={name: given[name] for name in route.path_params},
            query={name: given[name] for name, _ in route.query},
            body=body,
        )
        return await route.handler(endpoints, call)

    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = []
    if route.body is not None:
        params.append(inspect.Parameter("request", keyword, annotation=Request))
    params += [inspect.Parameter(name, keyword, annotation=str) for name in route.path_params]
    for name, default in route.query:
        fallback = inspect.Parameter.empty if default is None else default
        params.append(inspect.Parameter(name, keyword, annotation=int, default=fallback))
    params.append(inspect.Parameter("who", keyword, annotation=str, default=member))
    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    endpoint.__name__ = route.name
    return endpoint
