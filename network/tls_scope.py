"""The node's HTTP protocol: uvicorn's, plus the client certificate in the ASGI TLS extension and a
deadline on request heads.

Uvicorn verifies a client certificate during the handshake (against what the node trusts,
``network.tls``) but does not (yet) pass it to the application. This protocol adds
``scope["extensions"]["tls"]`` with the ``client_cert_chain`` field of the ASGI TLS extension
(PEM, leaf first) to every request of a connection, so the peer endpoints can map the
certificate to a member.

Uvicorn's only timer is the keep-alive one, armed after a response and cancelled by the first
byte of the next request: a client that sends its request line and headers a byte at a time
(or opens a connection and sends nothing) holds the connection for ever. Here a connection has
``MRA_HEAD_SECONDS`` from its opening, and each request from its first byte, to finish the
request head; past that it is answered 408 and closed (a connection with no request begun is
closed without an answer). The application counts and logs these through the
``mra.slow_head`` hook it puts in the lifespan state, with the reason "slow-head" or "idle".

The application may also put a ``mra.fast_answer`` hook there (``FastAnswer``): a plain GET
it answers from that hook is answered as soon as its head is parsed, with no request cycle,
task or ASGI call (issue 26: for a status query these cost about as much as the read itself).
Whatever the hook declines, and every request it is not asked about, goes to the application
as before.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
from collections.abc import Callable
from typing import Any, cast

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from node.host.settings import Settings

__all__ = [
    "FAST_ANSWER_HOOK",
    "HEAD_SECONDS",
    "SLOW_HEAD_HOOK",
    "FastAnswer",
    "HeldHead",
    "TlsScopeProtocol",
    "head_seconds",
    "tls_scope_protocol",
]

HEAD_SECONDS = 10.0  # MRA_HEAD_SECONDS
SLOW_HEAD_HOOK = "mra.slow_head"  # lifespan state: called with the reason per connection closed
FAST_ANSWER_HOOK = "mra.fast_answer"  # lifespan state: a FastAnswer
Fields = list[tuple[bytes, bytes]]
# Called with a GET request's path (decoded), query string and header fields (names in lower
# case); returns the header fields and body of its 200 answer, or None having changed nothing
# (the application then answers the request).
FastAnswer = Callable[[str, bytes, Fields], tuple[Fields, bytes] | None]

_TIMED_OUT = json.dumps(
    {
        "type": "about:blank",
        "title": "Request Timeout",
        "status": 408,
        "detail": "the request line and headers took too long to arrive",
    }
).encode()


@functools.cache
def head_seconds() -> float:
    """``MRA_HEAD_SECONDS`` as ``Settings`` reads it: a positive number of seconds (``mra node
    run`` checks it first). Raises InvalidInput naming the variable. A composition root that
    holds its Settings passes ``settings.head_seconds`` to ``tls_scope_protocol`` instead."""
    return Settings.from_environ().head_seconds


def tls_scope_protocol(seconds: float) -> type[TlsScopeProtocol]:
    """The protocol class for uvicorn (``http=``), with a deadline of ``seconds`` on request
    heads (``Settings.head_seconds``)."""
    return type("TlsScopeProtocol", (TlsScopeProtocol,), {"deadline": seconds})


class TlsScopeProtocol(HttpToolsProtocol):
    deadline: float | None = None  # seconds for a request head; None: MRA_HEAD_SECONDS
    head_timer: asyncio.TimerHandle | None = None
    head_started = False  # a request line has begun and its headers have not all arrived
    answered_here = False  # the request being parsed was answered by the FAST_ANSWER_HOOK

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.head_seconds = self.deadline if self.deadline is not None else head_seconds()
        self._arm_head_timer()
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
        inner = self.app

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if ssl_object is not None:
                extensions = scope.setdefault("extensions", {}) or {}
                extensions["tls"] = {"client_cert_chain": chain, "tls_version": None}
                scope["extensions"] = extensions
            await inner(scope, receive, send)

        self.app = app

    def data_received(self, data: bytes) -> None:
        if self.cycle is None or self.cycle.response_complete:
            # Bytes of a next request (some, like a bare CRLF, begin no message), or of a body
            # the answer no longer waits for: either way they have a deadline.
            self._arm_head_timer()
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.head_started = True
        self.answered_here = False
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self.head_started = False
        self._disarm_head_timer()
        if self._answer_here():
            return
        super().on_headers_complete()
        # The cycle just made has not run yet (its task starts on the loop's next turn).
        if self.cycle is not None and not isinstance(self.cycle.transport, HeldHead):
            held = HeldHead(self.transport, self.loop)
            self.cycle.transport = cast(asyncio.Transport, held)

    def on_body(self, body: bytes) -> None:
        if not self.answered_here:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self.answered_here:
            super().on_message_complete()

    def _answer_here(self) -> bool:
        """Answer the request whose head was just parsed from the FAST_ANSWER_HOOK and return
        True, or return False having written nothing. Only a GET of HTTP/1.1 on a connection
        kept alive, with nothing ahead of it still being answered and the connection's writes
        not paused: otherwise uvicorn's order of pipelined answers, its back-pressure and its
        closing of connections apply as they are."""
        fast: FastAnswer | None = self.app_state.get(FAST_ANSWER_HOOK)
        parser = self.parser
        if (
            fast is None
            or parser.get_method() != b"GET"
            or parser.get_http_version() != "1.1"
            or not parser.should_keep_alive()
            or parser.should_upgrade()
            or self.root_path
            or self.pipeline
            or not (self.cycle is None or self.cycle.response_complete)
            or self.flow.write_paused
        ):
            return False
        url = httptools.parse_url(self.url)
        if b"%" in url.path or not url.path.isascii():
            return False  # the application decodes such paths (or refuses them)
        answer = fast(url.path.decode("ascii"), url.query or b"", self.headers)
        if answer is None:
            return False
        fields, body = answer
        # As uvicorn writes an answer: its status line, its default fields (date, server),
        # then the application's, in one write.
        out = [STATUS_LINE[200]]
        for name, value in self.server_state.default_headers:
            out += [name, b": ", value, b"\r\n"]
        out += [b"content-length: %d\r\n" % len(body)]
        for name, value in fields:
            out += [name, b": ", value, b"\r\n"]
        out += [b"\r\n", body]
        self.transport.write(b"".join(out))
        self.answered_here = True  # the parser's calls for this message's end are ignored
        self.on_response_complete()  # as uvicorn's: counted, keep-alive timer armed
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """The server stops: an idle connection is cut at once. A TLS close waits for the
        client's close_notify, which an idle keep-alive client (a browser, a peer's pool) only
        sends when it next uses the connection: the node would wait for it until the graceful
        shutdown timeout. A connection with a request in flight is answered first."""
        if self.cycle is None or self.cycle.response_complete:
            self._disarm_head_timer()
            self.transport.abort()
        else:
            super().shutdown()

    def _arm_head_timer(self) -> None:
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(self.head_seconds, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A request is being answered; a head pipelined behind it is judged afterwards.
            self._arm_head_timer()
            return
        reason = "idle"
        if self.head_started:
            # Only a request that has begun is answered: a 408 written on an idle connection
            # could be read as the answer to a request the client sends at that moment.
            reason = "slow-head"
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_TIMED_OUT), _TIMED_OUT)
            )
        self.transport.close()
        hook: Callable[[str], None] | None = self.app_state.get(SLOW_HEAD_HOOK)
        if hook is not None:
            hook(reason)


class HeldHead:
    """The connection as one response sees it: the response head is held until the first
    bytes of its body are written, then both go in one write, so a small answer leaves in one
    TLS record and one ``send`` rather than two (issue 26: the second write cost a status
    query about a tenth of its time). What is written is unchanged, byte for byte and in
    order; a head whose body does not follow at once (a stream) leaves on the loop's next
    turn, and nothing is held past a ``close``."""

    __slots__ = ("held", "loop", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self.loop = loop
        self.held: bytes | None = None

    def write(self, data: bytes) -> None:
        if self.held is None:
            # The first write of a response is its head (uvicorn's RequestResponseCycle).
            self.held = data
            self.loop.call_soon(self.flush)
            return
        self.transport.write(self.held + data if self.held else data)
        self.held = b""

    def flush(self) -> None:
        """Write a head still held (not once the connection is closing: uvicorn writes
        nothing to a connection that is gone)."""
        if self.held and not self.transport.is_closing():
            self.transport.write(self.held)
            self.held = b""

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()
