"""What a reader worker of ``mra node run --workers N`` answers itself and what it forwards to the
primary process, and the primary's side of that channel.

A reader answers the reads that need nothing but the database (``served_here``: records by id,
by trader identifier and in a batch, trails, events, logs, keys, agreements, forks, webhooks,
the OpenAPI document). Everything else goes to the primary, as it came: every write (the primary
is the one writer of the log), every peer request, the web UI, and the reads whose answer
depends on what only the primary holds in memory (health and metrics, evidence bundles and the
audit, which read the membership in force; lookups, which ask partners).

``Forward`` (reader side) sends such a request over the primary's Unix socket in the home
(``primary.sock``, mode 0600: only the node's own user may connect) with its method, path, query,
headers and body unchanged, so the primary authenticates and authorises it exactly as if it had
come to it, and adds what the reader's TLS connection knew: the client's certificate chain and
address (``FORWARDED_CERT``, ``FORWARDED_CLIENT``). The answer is streamed back unchanged.
``FromReaders`` (primary side, on that socket only) puts these back into the request's ASGI
scope, where the peer endpoints read the certificate as from a direct connection; it also
answers ``TRUST_PATH``: the certificates the primary's TLS trusts now, which the readers follow
(network.tls). ``Tagged`` names the process that answered in ``WORKER_HEADER``; a forwarded
answer also names the reader that relayed it (``RELAYED_HEADER``).

Headers a client sends under the forwarded names are dropped by the reader and never read on the
public port: only a process of the node's own user can assert a certificate.
"""

from __future__ import annotations

import asyncio
import base64
import json
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from network.tls import NodeTls
from network.tls_scope import FAST_ANSWER_HOOK, FastAnswer, Fields
from node.app.api.middleware import MAX_BODY
from node.app.api.problems import problem

__all__ = [
    "FORWARDED_CERT",
    "FORWARDED_CLIENT",
    "RELAYED_HEADER",
    "SOCKET_NAME",
    "TRUST_PATH",
    "WORKER_HEADER",
    "Forward",
    "FromReaders",
    "Tagged",
    "served_here",
]

SOCKET_NAME = "primary.sock"  # in the home
FORWARDED_CERT = b"x-mra-forwarded-cert"  # base64 of the JSON list of the chain's PEMs
FORWARDED_CLIENT = b"x-mra-forwarded-client"  # host:port of the client
WORKER_HEADER = b"x-mra-worker"  # which process answered: 0 the primary, 1.. the readers
RELAYED_HEADER = b"x-mra-relayed-by"  # on a forwarded answer: the reader that took it
TRUST_PATH = "/-/trust"  # on the primary's socket only
# The reads a reader answers from the database alone (GET and HEAD).
_READS = frozenset(
    {
        "/v1/aeo",
        "/v1/logs",
        "/v1/keys",
        "/v1/forks",
        "/v1/agreements",
        "/v1/webhooks",
        "/v1/events",
        "/v1/events/stream",
        "/v1/openapi.json",
    }
)
_BATCH = "/v1/aeo/query"  # a read sent as a POST
_HOP = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"te"})
_FORWARDED = frozenset({FORWARDED_CERT, FORWARDED_CLIENT})


def served_here(method: str, path: str, query: bytes, body: bytes = b"") -> bool:
    """True when a reader answers this request itself: a read of the database alone, without
    an evidence bundle (which names the membership in force, held by the primary)."""
    if b"evidence" in query or b'"evidence"' in body:
        return False
    if method == "POST":
        return path == _BATCH
    if method not in ("GET", "HEAD"):
        return False
    return path in _READS or (path.startswith("/v1/aeo/") and path != _BATCH)


class Tagged:
    """Adds ``WORKER_HEADER: index`` to every answer of this process, those of the app's
    ``FAST_ANSWER_HOOK`` (network.tls_scope) included."""

    def __init__(self, app: ASGIApp, index: int) -> None:
        self.app = app
        self.value = str(index).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._tag_fast_answers(scope, send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], (WORKER_HEADER, self.value)]}
            await send(message)

        await self.app(scope, receive, tagged)

    def _tag_fast_answers(self, scope: Scope, send: Send) -> Send:
        """``send`` of the lifespan: once the app has started, the hook it left in the
        lifespan state tags its answers too."""

        async def started(message: Message) -> None:
            state: dict[str, Any] = scope.get("state") or {}
            hook: FastAnswer | None = state.get(FAST_ANSWER_HOOK)
            if message["type"] == "lifespan.startup.complete" and hook is not None:
                state[FAST_ANSWER_HOOK] = partial(_tagged, hook, (WORKER_HEADER, self.value))
            await send(message)

        return started


def _tagged(
    hook: FastAnswer, tag: tuple[bytes, bytes], path: str, query: bytes, fields: Fields
) -> tuple[Fields, bytes] | None:
    answer = hook(path, query, fields)
    return None if answer is None else ([*answer[0], tag], answer[1])


class Forward:
    """Reader ``index``'s app: ``served_here`` requests go to ``app``, the others to the
    primary over the Unix socket at ``socket`` (503 with Retry-After while the primary does not
    answer)."""

    def __init__(self, app: ASGIApp, socket: Path, index: int) -> None:
        self.app = app
        self.index = str(index).encode()
        transport = httpx.AsyncHTTPTransport(uds=str(socket))
        # No read deadline: a large batch is validated and signed for as long as it takes at
        # the primary (as for a client of the primary), and an event stream stays open.
        timeout = httpx.Timeout(None, connect=5.0)
        self.client = httpx.AsyncClient(transport=transport, timeout=timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path, query = scope["method"], scope["path"], scope["query_string"]
        if _too_large(scope):  # the app refuses it before reading it (413), as the primary would
            await self.app(scope, receive, send)
            return
        if method != "POST" and served_here(method, path, query):
            await self.app(scope, receive, send)
            return
        body = await _body(receive)
        if served_here(method, path, query, body):
            await self.app(scope, _replay(body, receive), send)
            return
        await self._forward(scope, body, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            await self.client.aclose()

    async def _forward(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> None:
        target = scope.get("raw_path") or scope["path"].encode()
        if scope["query_string"]:
            target += b"?" + scope["query_string"]
        request = self.client.build_request(
            scope["method"],
            "http://primary" + target.decode("latin-1"),
            headers=_outgoing(scope),
            content=body,
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TransportError:
            busy = problem(
                503,
                "Primary unavailable",
                "this worker forwards the request to the primary process, which does not answer",
            )
            busy.headers["Retry-After"] = "1"
            await busy(scope, receive, send)
            return
        # The client may leave while an answer streams (an event stream): stop relaying then.
        relay = asyncio.ensure_future(_relay(response, send, self.index))
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait({relay, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (relay, gone):
                task.cancel()
            await asyncio.gather(relay, gone, return_exceptions=True)
            await response.aclose()
        error = relay.exception() if relay.done() and not relay.cancelled() else None
        if error is not None:
            raise error


class FromReaders:
    """The primary's app on its Unix socket: a forwarded request with the reader's TLS facts
    put back into its scope; ``TRUST_PATH`` answers the certificates ``tls`` trusts."""

    def __init__(self, app: ASGIApp, tls: NodeTls) -> None:
        self.app = app
        self.tls = tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == TRUST_PATH:
            body = json.dumps({"trusted": self.tls.trusted, "ca": self.tls.ca}).encode()
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        headers, chain, client = [], [], None
        for name, value in scope["headers"]:
            if name == FORWARDED_CERT:
                chain = json.loads(base64.b64decode(value))
            elif name == FORWARDED_CLIENT:
                host, _, port = value.decode("latin-1").rpartition(":")
                client = (host, int(port))
            else:
                headers.append((name, value))
        extensions = {**(scope.get("extensions") or {})}
        extensions["tls"] = {"client_cert_chain": chain, "tls_version": None}
        inner = {**scope, "headers": headers, "scheme": "https", "extensions": extensions}
        if client is not None:
            inner["client"] = client
        await self.app(inner, receive, send)


def _too_large(scope: Scope) -> bool:
    """True when the request declares a body the API refuses unread (node.app.api.middleware:
    over MAX_BODY, or a Content-Length that is not a number)."""
    length = Headers(scope=scope).get("content-length")
    return length is not None and (
        not (length.isascii() and length.isdigit()) or int(length) > MAX_BODY
    )


def _outgoing(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The request's headers for the primary: hop-by-hop ones and forged forwarded ones
    dropped, the client's certificate chain and address added."""
    headers = [
        (name, value)
        for name, value in scope["headers"]
        if name not in _HOP and name not in _FORWARDED and name != b"content-length"
    ]
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = json.dumps(tls.get("client_cert_chain") or []).encode()
    headers.append((FORWARDED_CERT, base64.b64encode(chain)))
    client = scope.get("client")
    if client:
        headers.append((FORWARDED_CLIENT, f"{client[0]}:{client[1]}".encode()))
    return headers


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` with the body already read given once more, first."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def _relay(response: httpx.Response, send: Send, index: bytes) -> None:
    headers = [
        (name.lower(), value)
        for name, value in response.headers.raw
        if name.lower() not in _HOP and name.lower() != b"content-length"
    ]
    length = response.headers.get("content-length")
    if length is not None:
        headers.append((b"content-length", length.encode()))
    headers.append((RELAYED_HEADER, index))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    async for chunk in response.aiter_raw():
        if chunk:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
