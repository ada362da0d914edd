"""What runs around every request before a route: the body limit and the request counters
(``LimitAndCount``), writes held while a started node waits for its peers (``SettleWrites``),
and the busiest read answered without the framework (``FastReads``). Plain ASGI: none adds a
task or a stream per request."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from prometheus_client import Counter
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from node.app.api.problems import problem
from node.core.errors import MraError
from node.core.log_budget import LogBudget

__all__ = [
    "MAX_BODY",
    "FastReads",
    "LimitAndCount",
    "SettleWrites",
    "SlowHeads",
    "endpoint_of",
]

MAX_BODY = 8 * 1024 * 1024
SETTLE_SECONDS = 3.0  # how long a write waits for a started node's first peer answer (< 5 s,
# the read timeout of many clients, httpx's included: they get the 503 and its reason)
FAST_READ_KEY = "mra.endpoint"  # the route template FastReads answered, for endpoint_of
log = logging.getLogger("mra.api")


class LimitAndCount:
    """Refuses a body declared over MAX_BODY before it is read (413) and counts responses per
    endpoint and status. Plain ASGI: it adds no task or stream per request."""

    def __init__(self, app: ASGIApp, *, requests: Counter, refusals: Counter) -> None:
        self.app = app
        self.requests = requests
        self.refusals = refusals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and (
            not (length.isascii() and length.isdigit()) or int(length) > MAX_BODY
        ):
            self.refusals.labels("too-large").inc()
            refused = problem(
                413, "Body too large", f"request bodies are limited to {MAX_BODY} bytes"
            )
            await refused(scope, receive, send)
            return
        status = 500

        async def counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            self.requests.labels(endpoint_of(scope), str(status)).inc()


class SettleWrites:
    """Holds a write that arrives while a started node still waits for its peers' first
    answer (node.host.guard) until appends are settled, SETTLE_SECONDS at most, rather than refusing
    it at once (nodes of a network started together answer each other within seconds). Reads,
    batch queries, peer requests and the web UI pass straight on."""

    def __init__(self, app: ASGIApp, *, settled: Callable[[float], Awaitable[None]]) -> None:
        self.app = app
        self.settled = settled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            path: str = scope.get("path", "")
            api = path.startswith("/v1/") and not path.startswith("/v1/peer/")
            if api and path != "/v1/aeo/query":
                await self.settled(SETTLE_SECONDS)
        await self.app(scope, receive, send)


def endpoint_of(scope: Scope) -> str:
    """The metric label of a request: the template of the route that answered it (a bounded
    set, whatever paths clients send), or "unmatched"."""
    route = scope.get("route")
    path = scope.get(FAST_READ_KEY) or getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class FastReads:
    """The common case of the busiest endpoint answered without the framework's layers:
    ``GET /v1/aeo/{id}`` with no query string, by a valid key, of a record held here. Everything
    else (no key, a refused role, a malformed or unknown id, ``evidence``, ``as_of``) goes on to
    the API route itself, which answers it, errors included; both give the same answer."""

    def __init__(self, app: ASGIApp, *, read: Callable[[Headers, str], bytes | None]) -> None:
        self.app = app
        self.read = read

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and not scope["query_string"]
            and path.startswith("/v1/aeo/")
            and "/" not in path[8:]
        ):
            try:
                body = self.read(Headers(scope=scope), path[8:])
            except MraError:
                body = None  # the route reads it again and answers the error's problem document
            if body is not None:
                scope[FAST_READ_KEY] = "/v1/aeo/{aeo_id}"
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


class SlowHeads:
    """The server's report of a connection it closed (network.tls_scope's ``SLOW_HEAD_HOOK``):
    counted in ``mra_refusals`` and logged, a few lines a minute at most."""

    def __init__(self, refusals: Counter) -> None:
        self.refusals = refusals
        self.lines = LogBudget(monotonic=time.monotonic)

    def __call__(self, reason: str) -> None:
        self.refusals.labels(reason).inc()
        more = self.lines.suffix(reason)
        if more is not None:
            what = (
                "whose request head was too slow (408)"
                if reason == "slow-head"
                else "that sent no request in time"
            )
            log.warning("closed a connection %s%s", what, more)
