"""Problem documents (RFC 9457, ``application/problem+json``): what the API answers for an error,
and the one map from the error classes of ``node.core.errors`` to HTTP statuses.

422 bad input, 404 unknown, 409 conflict, 403 refused by a contract or the caller's role, 401 no
or bad credentials, 413 a body over the limit, 503 storage (``STATUS``); the 503s that go away by
themselves say when to ask again (``RETRY_AFTER``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from network.service import PeerDenied
from node.core.errors import (
    Conflict,
    ContractRefused,
    IntegrityError,
    InvalidInput,
    MraError,
    NotFound,
    OwnLogBehind,
    OwnLogUnconfirmed,
    PeerMisbehaved,
    PeerUnavailable,
    StorageFailed,
    StorageFull,
    WriteRaced,
)

__all__ = [
    "PROBLEM",
    "STATUS",
    "AccessDenied",
    "allowed_methods",
    "handle_errors",
    "handle_peer_denied",
    "problem",
    "server_errors",
]

PROBLEM = "application/problem+json"
STATUS: list[tuple[type[MraError], int]] = [
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
    (ContractRefused, 403),
    (PeerMisbehaved, 400),
    (PeerUnavailable, 503),
    (IntegrityError, 500),
    (StorageFull, 507),
    (WriteRaced, 503),
    (OwnLogBehind, 503),
    (OwnLogUnconfirmed, 503),
    (StorageFailed, 503),
]
# The 503s that go away by themselves: when to ask again (RFC 9110 §10.2.3), in seconds.
RETRY_AFTER: list[tuple[type[MraError], str]] = [(WriteRaced, "1"), (OwnLogUnconfirmed, "5")]


def server_errors() -> dict[int, str]:
    """The statuses of the errors that are nobody's fault but the node's, each described by
    its class: any operation can answer them."""
    found: dict[int, list[str]] = {}
    for kind, status in STATUS:
        if status >= 500:
            found.setdefault(status, []).append((kind.__doc__ or kind.__name__).split("\n")[0])
    return {status: " Or: ".join(why) for status, why in found.items()}


class AccessDenied(Exception):
    """A request without a valid API key (401) or by a key whose role is too low (403)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """Every method the path of ``scope`` answers, for the Allow header of a 405 (Starlette's
    names only the first route that matched the path). A concrete path is matched before a
    templated one, as OpenAPI matches paths (``/v1/aeo/query`` before ``/v1/aeo/{aeo_id}``)."""
    found: dict[bool, set[str]] = {True: set(), False: set()}
    for route in _flat(routes):
        if isinstance(route, Route) and route.methods and route.matches(scope)[0] != Match.NONE:
            found[not route.param_convertors] |= route.methods
    return ", ".join(sorted(found[True] or found[False]))


def _flat(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """The routes of an app, those of its included routers in their place (FastAPI keeps an
    included router as one route that holds the router: ``original_router``)."""
    flat: list[BaseRoute] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        flat.extend(_flat(inner.routes) if inner is not None else [route])
    return flat


async def _denied(request: Request, exc: AccessDenied) -> JSONResponse:
    title = "Unauthorized" if exc.status == 401 else "Forbidden"
    response = problem(exc.status, title, exc.detail)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def _mra_error(request: Request, exc: MraError) -> JSONResponse:
    status = next((code for kind, code in STATUS if isinstance(exc, kind)), 500)
    field = getattr(exc, "field", None)
    named = {"field": field} if field else {}
    answer = problem(status, type(exc).__name__, str(exc), **named)
    retry = next((after for kind, after in RETRY_AFTER if isinstance(exc, kind)), None)
    if retry is not None:
        answer.headers["Retry-After"] = retry
    return answer


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
    named = [str(part) for part in errors[0]["loc"][1:]] if errors else []
    return problem(
        422,
        "InvalidInput",
        "the request does not match the API",
        **({"field": ".".join(named)} if named else {}),
        errors=errors,
    )


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    response = problem(exc.status_code, "HTTP error", str(exc.detail))
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:  # RFC 9110 §15.5.6: a 405 names the methods allowed
        response.headers["Allow"] = allowed_methods(request.app.router.routes, request.scope) or (
            response.headers.get("Allow", "")
        )
    return response


async def _peer_denied(request: Request, exc: PeerDenied) -> JSONResponse:
    title = "Unauthorized" if exc.status == 401 else "Forbidden"
    return problem(exc.status, title, exc.detail)


def handle_errors(app: FastAPI) -> None:
    """Answer every error with its problem document."""
    app.exception_handler(AccessDenied)(_denied)
    app.exception_handler(MraError)(_mra_error)
    app.exception_handler(RequestValidationError)(_invalid)
    app.exception_handler(StarletteHTTPException)(_http_error)


def handle_peer_denied(app: FastAPI) -> None:
    """Answer a peer request refused for who sent it (the peer endpoints: node.app.peer)."""
    app.exception_handler(PeerDenied)(_peer_denied)
