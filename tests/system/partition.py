"""A network that can be cut: one HTTP CONNECT proxy port per node, set as that node's
``HTTPS_PROXY``, so every gossip connection a node opens goes through here.

While the network is split into groups, a tunnel from one group to another is refused (the
CONNECT gets 403, which httpx reports as a transport error) and the tunnels already open across
the cut are closed. TLS runs end to end inside each tunnel: the proxy sees no plaintext and the
nodes' mutual TLS is untouched. This is a fake of the network only, the boundary under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable

__all__ = ["Partitioner"]


class Partitioner:
    """Proxies for the nodes listening on ``ports`` (member code -> node port)."""

    def __init__(self, ports: dict[str, int]) -> None:
        self.node_of_port = {port: code for code, port in ports.items()}
        self.proxy_ports: dict[str, int] = {}
        self.refused = 0
        self._groups: list[frozenset[str]] = []
        self._tunnels: set[tuple[str, str, asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.Server] = []
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> dict[str, dict[str, str]]:
        """Listen; returns each node's environment (its egress proxy, no exceptions)."""
        self._thread.start()
        for code in self.node_of_port.values():
            server = self._call(asyncio.start_server(self._serve(code), "127.0.0.1", 0))
            self._servers.append(server)
            self.proxy_ports[code] = server.sockets[0].getsockname()[1]
        return {
            code: {
                "HTTPS_PROXY": f"http://127.0.0.1:{port}",
                "https_proxy": f"http://127.0.0.1:{port}",
                "NO_PROXY": "",
                "no_proxy": "",
            }
            for code, port in self.proxy_ports.items()
        }

    def split(self, *groups: Iterable[str]) -> None:
        """Refuse traffic between the groups from now on, and cut what crosses already."""
        self._groups = [frozenset(g) for g in groups]

        def cut() -> None:
            for source, target, a, b in list(self._tunnels):
                if not self.allowed(source, target):
                    a.close()
                    b.close()

        self._loop.call_soon_threadsafe(cut)

    def heal(self) -> None:
        self._groups = []

    def allowed(self, source: str, target: str) -> bool:
        return not self._groups or any(source in g and target in g for g in self._groups)

    def stop(self) -> None:
        for server in self._servers:
            server.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _call(self, coroutine: object) -> asyncio.Server:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]
        return future.result(timeout=5)

    def _serve(self, source: str):  # type: ignore[no-untyped-def]
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                method, authority, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
                host, port = authority.rsplit(":", 1)
                target = self.node_of_port.get(int(port))
                if method != "CONNECT" or target is None or not self.allowed(source, target):
                    self.refused += 1
                    writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                    return
                upstream_reader, upstream = await asyncio.open_connection(host, int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
                tunnel = (source, target, writer, upstream)
                self._tunnels.add(tunnel)
                try:
                    await asyncio.gather(_pipe(reader, upstream), _pipe(upstream_reader, writer))
                finally:
                    self._tunnels.discard(tunnel)
                    upstream.close()
            except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                pass
            finally:
                writer.close()

        return handle


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ConnectionError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    with contextlib.suppress(OSError, RuntimeError):
        writer.close()
