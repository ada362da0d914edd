"""A reader worker of ``mra node run --workers N`` (``python -m node.app.reader HOME INDEX FD
PIPE``, started by the primary: node.app.pool).

It opens the node in ``HOME`` as a ``READER`` (node.app.compose: no writer, no gossip, no
webhooks, no lock on the home), serves the API on the listening socket ``FD`` it inherited,
answering the reads of the database itself and forwarding the rest to the primary
(node.app.forward), and stops when SIGTERM comes or when the pipe ``PIPE`` reaches its end (the
primary, which holds the other end, has ended). Its TLS trusts what the primary's trusts, asked
over the channel at start and every ``FOLLOW_SECONDS`` (a membership in force changes it), and
presents the home's ``tls.crt`` again when it is renewed. It logs to ``node-worker-INDEX.log``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import socket
import sys
import time
from pathlib import Path

import httpx
import uvicorn

from network.tls import NodeTls
from network.tls_scope import tls_scope_protocol
from node.app.api import build_app
from node.app.compose import READER, open_node
from node.app.forward import TRUST_PATH, Forward, Tagged
from node.app.pool import channel_address
from node.host import keyfiles, logfile
from node.host.home import NodeHome
from node.host.settings import Settings

__all__ = ["ReaderServer", "main"]

FOLLOW_SECONDS = 2.0
START_SECONDS = 20.0  # how long a starting reader waits for the primary's channel
SHUTDOWN_SECONDS = 5  # as the primary's (node.app.cli.node)
log = logging.getLogger("mra.node")


def primary_channel(address: str) -> httpx.Client:
    """A client of the primary's socket at ``address``. A reader keeps one for as long as
    it runs: a new client loads the system's CA bundle (about 70 ms of CPU), which a client
    made every round of ``_follow`` cost 4% of a busy reader's time."""
    return httpx.Client(transport=httpx.HTTPTransport(uds=address), timeout=5)


def trust(
    primary: httpx.Client, *, wait: float = 0.0, lifeline: int | None = None
) -> tuple[list[str], bool]:
    """What the primary's TLS trusts (certificates, and whether ``ca.crt``), asked on its
    channel ``primary``, retried for ``wait`` seconds while the primary holds ``lifeline``.
    Raises httpx.HTTPError."""
    deadline = time.monotonic() + wait
    while True:
        try:
            answer = primary.get("http://primary" + TRUST_PATH).raise_for_status().json()
            return list(answer["trusted"]), bool(answer["ca"])
        except httpx.HTTPError:
            if time.monotonic() >= deadline or not primary_runs(lifeline):
                raise
            time.sleep(0.1)


def primary_runs(lifeline: int | None) -> bool:
    """False once the primary's end of the pipe ``lifeline`` is closed (it has ended)."""
    if lifeline is None:
        return True
    readable, _, _ = select.select([lifeline], [], [], 0)
    return not readable or os.read(lifeline, 1) != b""


class ReaderServer(uvicorn.Server):
    """A reader's server: it ends when the primary's end of ``lifeline`` closes, and follows the
    primary's trust into ``tls``."""

    def __init__(self, config: uvicorn.Config, *, lifeline: int, address: str, tls: NodeTls):
        super().__init__(config)
        self.lifeline = lifeline
        self.tls = tls
        self.following: asyncio.Task[None] | None = None
        self.primary = primary_channel(address)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        asyncio.get_running_loop().add_reader(self.lifeline, self._primary_ended)
        self.following = asyncio.create_task(self._follow())
        log.info("reader worker serving (pid %d)", os.getpid())

    def _primary_ended(self) -> None:
        try:
            data = os.read(self.lifeline, 1)
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.lifeline)
            log.warning("the primary process has ended: this reader worker stops")
            self.should_exit = True

    async def _follow(self) -> None:
        own = _stamp(self.tls.home.path / "tls.crt")
        while True:
            await asyncio.sleep(FOLLOW_SECONDS)
            try:
                pems, _ = await asyncio.to_thread(trust, self.primary)
                self.tls.trust(pems)
                now = _stamp(self.tls.home.path / "tls.crt")
                if now != own:
                    own = now
                    self.tls.use_own()
            except Exception as exc:  # the primary stopping, a renewal half written: next round
                log.info("trust not followed this round: %s", exc)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.following is not None:
            self.following.cancel()
        await super().shutdown(sockets)
        self.primary.close()


def _stamp(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def main(argv: list[str]) -> int:
    home_path, index, fd, lifeline = Path(argv[1]), int(argv[2]), int(argv[3]), int(argv[4])
    settings = Settings.from_environ()
    logfile.log_to_home(home_path, name=f"node-worker-{index}.log")
    home = NodeHome(path=home_path)
    address = channel_address(home_path)
    with primary_channel(address) as primary:
        pems, ca = trust(primary, wait=START_SECONDS, lifeline=lifeline)
    password = keyfiles.tls_password(home_path / "tls.key", settings)
    tls = NodeTls(home, pems, ca=ca, password=password)
    node = open_node(home, settings, role=READER)
    app = Forward(Tagged(build_app(node), index), Path(address), index)
    config = uvicorn.Config(
        app,
        ssl_context_factory=lambda config, default: tls.server,
        http=tls_scope_protocol(settings.head_seconds),
        timeout_graceful_shutdown=SHUTDOWN_SECONDS,
        log_config=None,
        log_level="warning",
        access_log=False,
    )
    listener = socket.socket(fileno=fd)
    if not primary_runs(lifeline):  # ended while this one opened the node
        return 1
    ReaderServer(config, lifeline=lifeline, address=address, tls=tls).run(sockets=[listener])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
