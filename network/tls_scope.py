"""Client certificates for the application: uvicorn's HTTP protocol, plus the ASGI TLS extension.

Uvicorn verifies a client certificate against the network CA during the handshake but does not
(yet) pass it to the application. This protocol adds ``scope["extensions"]["tls"]`` with the
``client_cert_chain`` field of the ASGI TLS extension (PEM, leaf first) to every request of a
connection, so the peer endpoints can map the certificate to a member.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["TlsScopeProtocol"]


class TlsScopeProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
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
