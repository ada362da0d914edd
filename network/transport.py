"""The one seam between gossip and the wire: ``Transport`` sends one request to a peer and
returns its parsed JSON answer. ``HttpsTransport`` goes over mutual TLS to the endpoint the
membership names; ``MemoryTransport`` hands the request to a function in the same process (the
simulation's network, or a test's fake peers)."""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx

from network.membership import Member
from network.wire import MAX_RESPONSE
from node.core.canonical import parse_json
from node.core.errors import PeerMisbehaved, PeerThrottled, PeerUnavailable

__all__ = ["Deliver", "HttpsTransport", "MemoryTransport", "Transport", "retry_after"]


class Transport(Protocol):
    """How gossip reaches a peer: one request, answered with the peer's parsed JSON.

    Raises PeerUnavailable when the peer cannot be reached or failed (5xx), PeerThrottled when
    it asks to wait (429, with its Retry-After) and PeerMisbehaved when it refused the request
    (other 4xx) or answered more than ``MAX_RESPONSE`` bytes."""

    async def request(
        self,
        method: str,
        peer: Member,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any: ...

    async def aclose(self) -> None: ...


class HttpsTransport:
    """Requests over mutual TLS with ``context`` (this node's certificate and whom it trusts,
    ``network.tls``), to the endpoint the membership names; responses are read up to
    ``MAX_RESPONSE`` bytes. With ``pins`` (per member code, the SHA-256 of the certificates it
    is accepted with), an answer is read only from a server that presented a certificate
    pinned for the member asked: another member's certificate at its endpoint is refused."""

    def __init__(
        self, context: ssl.SSLContext, pins: Callable[[str], frozenset[str]] | None = None
    ) -> None:
        self._pins = pins
        # A pooled connection is dropped well before the peer's server closes it (uvicorn's
        # keep-alive is 5 s): reusing one as it closes fails the request.
        self._client = httpx.AsyncClient(
            verify=context,
            timeout=httpx.Timeout(10.0, connect=3.0),
            limits=httpx.Limits(keepalive_expiry=2.0),
            http2=False,
        )

    async def request(
        self,
        method: str,
        peer: Member,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        url = peer.endpoint.rstrip("/") + path
        try:
            async with self._client.stream(method, url, params=params, json=json) as response:
                self._check_pinned(peer, response)
                chunks, total = [], 0
                async for chunk in response.aiter_bytes():
                    total += len(chunk)
                    if total > MAX_RESPONSE:
                        raise PeerMisbehaved(f"{peer.code} sent more than {MAX_RESPONSE} bytes")
                    chunks.append(chunk)
        except httpx.TransportError as exc:
            raise PeerUnavailable(f"{type(exc).__name__}: {exc}") from exc
        data = b"".join(chunks)
        if response.status_code >= 500:
            raise PeerUnavailable(f"{peer.code} answered {response.status_code}")
        if response.status_code == 429:
            raise PeerThrottled(
                f"{peer.code} asks this node to wait before asking {path} again",
                retry_after=retry_after(response.headers.get("Retry-After")),
            )
        if response.status_code >= 400:
            raise PeerMisbehaved(f"{peer.code} refused {path}: {data[:300]!r}")
        return parse_json(data)

    def _check_pinned(self, peer: Member, response: httpx.Response) -> None:
        if self._pins is None:
            return
        stream = response.extensions.get("network_stream")
        ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if der is None or hashlib.sha256(der).hexdigest() not in self._pins(peer.code):
            raise PeerMisbehaved(
                f"{peer.endpoint} did not present a certificate pinned for {peer.code}"
            )

    async def aclose(self) -> None:
        await self._client.aclose()


def retry_after(header: str | None) -> int:
    """A Retry-After header's whole seconds (RFC 9110 §10.2.3; an HTTP date or anything else
    unreadable counts as 1 s), at least 1 and at most an hour."""
    try:
        seconds = int(str(header).strip())
    except ValueError:
        seconds = 1
    return min(3600, max(1, seconds))


# (caller, target, method, path, query parameters, JSON body) -> the target's parsed answer
Deliver = Callable[[str, str, str, str, dict[str, Any], Any], Awaitable[Any]]


class MemoryTransport:
    """The requests of node ``caller``, handed to ``deliver`` in this process; ``deliver``
    raises as ``Transport.request`` does."""

    def __init__(self, caller: str, deliver: Deliver) -> None:
        self.caller = caller
        self._deliver = deliver

    async def request(
        self,
        method: str,
        peer: Member,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        return await self._deliver(self.caller, peer.code, method, path, params or {}, json)

    async def aclose(self) -> None:
        return None
