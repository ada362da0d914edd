"""Problem documents (RFC 9457, ``application/problem+json``): what the API answers for an error,
answered from the one map of error classes to HTTP statuses (``network.problems``).

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

from network.problems import STATUS, Problem, problem_of
from node.core.errors import MraError

__all__ = [
    "PROBLEM",
    "AccessDenied",
    "allowed_methods",
    "handle_errors",
    "problem",
    "problem_response",
    "server_errors",
]

PROBLEM = "application/problem+json"


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


def problem_response(found: Problem) -> JSONResponse:
    """A problem document as the API sends it (RFC 9457)."""
    response = JSONResponse(found.body, status_code=found.status, media_type=PROBLEM)
    response.headers.update(found.headers)
    return response


async def _answer(request: Request, exc: Exception) -> JSONResponse:
    """The problem document of ``network.problems.problem_of``: the one error -> status map."""
    found = problem_of(exc)
    assert found is not None  # registered only for the classes it answers
    response = problem_response(found)
    if found.status == 405:  # RFC 9110 §15.5.6: a 405 names the methods allowed
        response.headers["Allow"] = allowed_methods(request.app.router.routes, request.scope) or (
            response.headers.get("Allow", "")
        )
    return response


def handle_errors(app: FastAPI) -> None:
    """Answer every error with its problem document."""
    app.exception_handler(AccessDenied)(_denied)
    for kind in (MraError, RequestValidationError, StarletteHTTPException):
        app.exception_handler(kind)(_answer)
