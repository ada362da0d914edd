"""The processes of ``mra node run --workers N``: one primary and N-1 reader workers on one port.

The primary is the node as one process runs it (it holds the home's lock, writes the log, runs
gossip, webhooks, anchors, erasures and the scrubber) and also:

1. binds the public TLS port with ``SO_REUSEPORT`` and serves it (``PrimaryServer``);
2. listens on a Unix socket in the home (``primary.sock``, mode 0600), the channel on which the
   readers forward what they do not answer (node.app.forward);
3. starts the readers (``python -m node.app.reader``), each with a socket of its own bound to
   the same port (the kernel spreads new connections over the sockets of the port evenly, by
   a hash of their addresses; one socket shared by all would let whichever process woke first
   accept a whole burst), and a pipe whose other end only the primary holds: when the primary
   ends, even by ``kill -9``, the readers read its end-of-file and stop;
4. starts a reader again when one ends by itself, and stops them all (SIGTERM, then SIGKILL after
   the graceful shutdown's time) before it stops serving.

Read-your-writes across processes: the primary answers a write only after its transaction
committed (SQLite in WAL mode, PostgreSQL with ``synchronous_commit=on``); a reader's next read
starts a new read transaction (its connections are in autocommit mode and hold none open
between reads), which sees every commit made before it began.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import uvicorn

from node.app.forward import SOCKET_NAME
from node.app.serve import NodeServer
from node.core.errors import StorageFailed

__all__ = ["PrimaryServer", "Readers", "channel_address", "listen", "listen_channel"]

log = logging.getLogger("mra.node")
STOP_SECONDS = 10.0  # a reader's graceful shutdown (5 s) and some
RESTART_SECONDS = 5.0  # a reader that ends is started again at most this often
_UNIX_PATH_MAX = 100  # sun_path holds 108 bytes on Linux; a longer home goes through /proc


def channel_address(home: Path) -> str:
    """The path to connect to or bind the primary's socket in ``home`` by: the path itself, or
    for a home whose path is too long for a Unix socket, that path through an open descriptor
    of the home (``/proc/self/fd/N/primary.sock``, Linux)."""
    path = home / SOCKET_NAME
    if len(str(path)) <= _UNIX_PATH_MAX:
        return str(path)
    fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY)  # held for the process
    return f"/proc/self/fd/{fd}/{SOCKET_NAME}"


def listen(host: str, port: int) -> socket.socket:
    """A socket of the public port (``SO_REUSEPORT``: the kernel lets only processes of this
    user bind it beside the primary). Raises OSError (the port is taken by another program)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048, reuse_port=True)


def listen_channel(home: Path) -> socket.socket:
    """The primary's Unix socket in ``home``, which only the home's user may connect to. A file
    left there by a process that was killed is replaced (the caller holds the home's lock).
    Raises StorageFailed when it cannot be made."""
    path = home / SOCKET_NAME
    channel = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        path.unlink(missing_ok=True)
        address = channel_address(home)
        channel.bind(address)
        os.chmod(address, 0o600)
        channel.listen(2048)
    except OSError as exc:
        channel.close()
        raise StorageFailed(f"cannot listen on {path}: {exc}") from exc
    finally:
        os.umask(old)
    return channel


class Readers:
    """The reader worker processes of the primary: ``count`` of them on the port of
    ``listener`` (the primary's socket)."""

    def __init__(self, home: Path, listener: socket.socket, count: int) -> None:
        self.home = home
        self.listener = listener
        self.host, self.port = listener.getsockname()[:2]
        self.count = count
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self._lifelines: dict[int, int] = {}  # the write end of each reader's pipe
        self._started: dict[int, float] = {}
        self.stopping = False

    def alive(self) -> int:
        """How many processes serve the API now: the primary and its running readers."""
        return 1 + sum(1 for p in self.processes.values() if p.poll() is None)

    def start(self) -> None:
        for index in range(1, self.count + 1):
            self._spawn(index)

    def _spawn(self, index: int) -> None:
        read_end, write_end = os.pipe()
        own = listen(self.host, self.port)  # the reader's alone: closed here once it has it
        fd = own.fileno()
        command = [sys.executable, "-m", "node.app.reader", str(self.home), str(index)]
        try:
            process = subprocess.Popen(
                [*command, str(fd), str(read_end)],
                pass_fds=(fd, read_end),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        finally:
            own.close()
            os.close(read_end)
        old = self._lifelines.pop(index, None)
        if old is not None:
            os.close(old)
        self._lifelines[index] = write_end
        self.processes[index] = process
        self._started[index] = time.monotonic()
        log.info("reader worker %d started (pid %d)", index, process.pid)

    async def watch(self, every: float = 1.0) -> None:
        """Start again a reader that ended by itself (at most every RESTART_SECONDS each)."""
        while not self.stopping:
            await asyncio.sleep(every)
            for index, process in list(self.processes.items()):
                code = process.poll()
                if code is None or self.stopping:
                    continue
                if time.monotonic() - self._started[index] < RESTART_SECONDS:
                    continue
                log.warning("reader worker %d (pid %d) ended (%s)", index, process.pid, code)
                try:
                    self._spawn(index)
                except OSError as exc:  # the next round tries again
                    self._started[index] = time.monotonic()
                    log.warning("reader worker %d not started again: %s", index, exc)

    def stop(self) -> None:
        """SIGTERM every reader (each answers what it has in flight), SIGKILL one still running
        after STOP_SECONDS."""
        self.stopping = True
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for process in self.processes.values():
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for write_end in self._lifelines.values():
            os.close(write_end)
        self._lifelines.clear()


class PrimaryServer(NodeServer):
    """The primary's server: the public port, the readers' channel (``channel`` served by
    ``forwarded``) and the readers themselves."""

    def __init__(
        self,
        config: uvicorn.Config,
        log_path: Path,
        *,
        readers: Readers,
        forwarded: uvicorn.Config,
        channel: socket.socket,
    ) -> None:
        super().__init__(config, log_path)
        self.readers = readers
        self.channel = channel
        self.forwarded = uvicorn.Server(forwarded)
        self.watching: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        config = self.forwarded.config
        config.load()
        self.forwarded.lifespan = config.lifespan_class(config)  # "off": the node's runs here
        await self.forwarded.startup(sockets=[self.channel])
        self.readers.start()
        self.watching = asyncio.create_task(self.readers.watch())
        log.info(
            "serving with %d processes (1 primary, %d readers)",
            1 + self.readers.count,
            self.readers.count,
        )

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.watching is not None:
            self.watching.cancel()
        await asyncio.to_thread(self.readers.stop)  # their forwarded requests are answered
        if self.forwarded.started:
            await self.forwarded.shutdown(sockets=[self.channel])
        (Path(self.readers.home) / SOCKET_NAME).unlink(missing_ok=True)
        await super().shutdown(sockets)
