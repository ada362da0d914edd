"""The server process of ``mra node run``: uvicorn's server, which says where it listens once
it does (standard output and the node's log) and logs its stop after the node is closed."""

from __future__ import annotations

import logging
import os
import socket
import sys
from pathlib import Path

import uvicorn

from node.app.cli.common import out

__all__ = ["NodeServer", "listening_urls"]

log = logging.getLogger("mra.node")


class NodeServer(uvicorn.Server):
    """uvicorn's server for one node, whose log file is ``log_path``."""

    def __init__(self, config: uvicorn.Config, log_path: Path) -> None:
        super().__init__(config)
        self.log_path = log_path

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return  # e.g. the port is taken: uvicorn has logged why, and the process exits
        for url in listening_urls(self):
            log.info("listening on %s (pid %d)", url, os.getpid())
            out.print(f"listening on {url}  log: {self.log_path}", soft_wrap=True, markup=False)
        sys.stdout.flush()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        log.info("stopping")
        await super().shutdown(sockets)  # its end closes the node: writer, access log, anchor
        log.info("stopped")


def listening_urls(server: uvicorn.Server) -> list[str]:
    """The URL of each socket ``server`` listens on (the port the system chose for port 0)."""
    urls = []
    for listener in server.servers:
        for sock in listener.sockets:
            host, port = sock.getsockname()[:2]
            urls.append(f"https://{f'[{host}]' if ':' in host else host}:{port}")
    return urls
