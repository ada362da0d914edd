"""What runs around every request before a route: the body limit and the request counters
(``LimitAndCount``), writes held while a started node waits for its peers (``SettleWrites``),
and the busiest reads answered before the framework (``FastReads``: the server's HTTP protocol
asks it first, network.tls_scope, and the app runs it ahead of all of these for what the
protocol leaves to it: node.app.api.app). Plain ASGI: none adds a task or a stream per
request."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from prometheus_client import Counter
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from network.tls_scope import Fields
from node.app.api.problems import problem
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
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "unmatched"


ONE = "/v1/aeo/{aeo_id}"  # the route templates FastReads answers, as the counters name them
FIND = "/v1/aeo"
_FIELDS = [(b"content-type", b"application/json")]  # of a fast answer, after its length
OneRead = Callable[[Headers, str], bytes | None]
FindRead = Callable[[Headers, str, str], bytes | None]


class FastReads:
    """The common case of the two busiest reads answered before the framework's layers:
    ``GET /v1/aeo/{id}`` with no query string, and ``GET /v1/aeo?scheme=..&value=..`` with
    these two parameters only, by a valid key, with no request body declared. The readers
    (node.app.api.records ``fast_read``, ``fast_find``) give the route's own answer or None.
    Everything else (no key, a refused role, a malformed or unknown id, a bad scheme or value,
    ``evidence``, ``as_of``, ``in_force_on``, a declared body) goes on to the API itself, which
    answers it, errors included. An answer is counted in ``requests`` under its route's
    template, as ``LimitAndCount`` counts the API's. ``answer`` decides and counts;
    ``protocol_answer`` gives it to the server's HTTP protocol (``FAST_ANSWER_HOOK``), which
    asks first, and ``answered`` to the app, for the requests the protocol leaves to it."""

    def __init__(self, *, one: OneRead, find: FindRead, requests: Counter) -> None:
        self.one = one
        self.find = find
        self.requests = requests
        # The two series, made on first use (as the API's are: /metrics lists a series once
        # a request has been counted in it).
        self.counts: dict[str, Counter] = {}

    def answer(self, path: str, query: bytes, headers: Headers) -> bytes | None:
        """The body of the 200 answer to ``GET path?query`` with ``headers``, counted, or None
        having changed nothing (the API then answers)."""
        asked = None
        if path == FIND and query:
            asked = _scheme_and_value(query)
            if asked is None:
                return None
        elif not (path.startswith("/v1/aeo/") and "/" not in path[8:] and not query):
            return None
        if "content-length" in headers or "transfer-encoding" in headers:
            return None  # the API's body limit judges a declared body
        try:
            body = self.one(headers, path[8:]) if asked is None else self.find(headers, *asked)
        except Exception:
            # An error (MraError, or any other) is the API's to answer: its route reads the
            # same request again and answers its problem document, as for every request.
            return None
        if body is None:
            return None
        template = ONE if asked is None else FIND
        counted = self.counts.get(template)
        if counted is None:
            counted = self.counts[template] = self.requests.labels(template, "200")
        counted.inc()
        return body

    def protocol_answer(
        self, path: str, query: bytes, fields: Fields
    ) -> tuple[Fields, bytes] | None:
        """``answer`` for the server's HTTP protocol (network.tls_scope ``FAST_ANSWER_HOOK``):
        the answer's header fields after its length, and its body."""
        body = self.answer(path, query, Headers(raw=fields))
        return None if body is None else (_FIELDS, body)

    async def answered(self, scope: Scope, send: Send) -> bool:
        """Answer the request of ``scope`` and return True, or return False having sent
        nothing and changed nothing (the API then answers)."""
        if scope["type"] != "http" or scope["method"] != "GET":
            return False
        body = self.answer(scope["path"], scope["query_string"], Headers(scope=scope))
        if body is None:
            return False
        length = (b"content-length", b"%d" % len(body))
        await send({"type": "http.response.start", "status": 200, "headers": [length, *_FIELDS]})
        await send({"type": "http.response.body", "body": body})
        return True


def _scheme_and_value(query: bytes) -> tuple[str, str] | None:
    """``scheme`` and ``value`` of a query string holding these two parameters once each and
    nothing else, decoded as the API decodes query strings (Starlette's ``QueryParams``), or
    None."""
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    if len(pairs) != 2:
        return None
    asked = dict(pairs)
    if asked.keys() != {"scheme", "value"}:
        return None
    return asked["scheme"], asked["value"]


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
