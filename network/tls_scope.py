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
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
from collections.abc import Callable
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from node.host.settings import Settings

__all__ = [
    "HEAD_SECONDS",
    "SLOW_HEAD_HOOK",
    "HeldHead",
    "TlsScopeProtocol",
    "head_seconds",
    "tls_scope_protocol",
]

HEAD_SECONDS = 10.0  # MRA_HEAD_SECONDS
SLOW_HEAD_HOOK = "mra.slow_head"  # lifespan state: called with the reason per connection closed

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
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self.head_started = False
        self._disarm_head_timer()
        super().on_headers_complete()
        # The cycle just made has not run yet (its task starts on the loop's next turn).
        if self.cycle is not None and not isinstance(self.cycle.transport, HeldHead):
            held = HeldHead(self.transport, self.loop)
            self.cycle.transport = cast(asyncio.Transport, held)

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
