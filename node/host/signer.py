"""The writer's signatures made in a process of their own, on the other core.

A large batch's Ed25519 signatures (about 20 µs each here) were made on a thread pool in the
writer's process, but that gained nothing: PyNaCl gives up the interpreter lock for each
signature and must take it back to return, while the writer thread holds it building headers
and rows, so every signature waited for the lock to be handed over (measured: the same rate
as signing on the writer thread, and about 20 µs more CPU per record). A process of its own
needs no lock: the writer sends each chunk of messages down a pipe as soon as it is built,
goes on writing the batch's rows, and reads the signatures back when it needs them.

The process is started (spawned: a fresh interpreter, not a copy of the node) on the first
chunk, gets the key with each chunk, over its pipe only, and keeps nothing. It ignores
Ctrl-C (its node decides when it ends) and ends when its pipe closes: when ``close`` is called
or the node's process is gone, even killed with -9, so nothing is left running. A chunk whose
process died is signed here instead: a lost signer never fails an append. A new process is
started only ``restart_after`` seconds after a loss (the chunks meanwhile signed here), so a
process that keeps dying is not started again for every chunk; each loss is logged.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import queue
import signal
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from node.core.crypto import SigningKey

__all__ = ["SigningProcess"]

log = logging.getLogger("mra.signer")


class SigningProcess:
    """Signs chunks of messages in a separate process (the ledger's ``BatchSigner``).
    Thread-safe; ``close`` ends the process."""

    def __init__(self, *, restart_after: float = 10.0) -> None:
        self._restart_after = restart_after
        self._lost_at: float | None = None  # time.monotonic() of the last loss
        self._lock = threading.Lock()
        self._pipe: Connection | None = None
        self._process: BaseProcess | None = None
        self._tickets = itertools.count()
        self._unsigned: dict[int, tuple[SigningKey, list[bytes]]] = {}
        self._in_flight: deque[int] = deque()  # sent down the pipe, answered in this order
        self._signed: dict[int, list[bytes]] = {}
        # The function each chunk's signatures are asked through, held weakly: once the
        # caller dropped it (an append that failed before it needed them), nobody will ask,
        # and what the chunk left here is forgotten rather than kept for the node's life.
        self._claims: dict[int, weakref.ref[Callable[[], list[bytes]]]] = {}

    def submit(self, key: SigningKey, messages: list[bytes]) -> Callable[[], list[bytes]]:
        """Start signing ``messages`` with ``key``; the returned function gives the signatures
        (waiting for them if need be)."""
        with self._lock:
            self._forget_abandoned()
            ticket = next(self._tickets)
            answer: list[list[bytes]] = []

            def signatures() -> list[bytes]:
                if not answer:
                    answer.append(self._result(ticket))
                return answer[0]

            self._claims[ticket] = weakref.ref(signatures)
            self._unsigned[ticket] = (key, messages)
            try:
                pipe = self._started()
                if pipe is not None:
                    pipe.send((key, messages))
                    self._in_flight.append(ticket)
            except Exception as exc:  # any failure: signed here instead
                self._lose(exc)
        return signatures

    def start(self) -> None:
        """Start the process now, and wait until it answers, rather than with the first chunk
        (which would wait for a fresh interpreter to start: about a fifth of a second here)."""
        with self._lock:
            try:
                pipe = self._started()
                if pipe is not None and not self._in_flight:
                    pipe.send((None, []))  # an empty chunk: answered once the process runs
                    pipe.recv()
            except Exception as exc:  # any failure: the chunks signed here
                self._lose(exc)

    @property
    def held(self) -> int:
        """Chunks whose messages or signatures are kept here (until they are asked for)."""
        with self._lock:
            self._forget_abandoned()
            return len(self._unsigned.keys() | self._signed.keys())

    @property
    def pid(self) -> int | None:
        """The signing process's id; None before the first chunk or after ``close``."""
        return self._process.pid if self._process is not None else None

    def close(self) -> None:
        """End the process (it reads the closed pipe and exits); signatures not yet read are
        made here when asked for."""
        with self._lock:
            self._lose()

    def _result(self, ticket: int) -> list[bytes]:
        with self._lock:
            while ticket not in self._signed:
                if ticket not in self._in_flight:  # its process was lost: sign it here
                    del self._claims[ticket]
                    key, messages = self._unsigned.pop(ticket)
                    return [key.sign(m) for m in messages]
                assert self._pipe is not None
                try:
                    signatures = self._pipe.recv()
                except Exception as exc:  # any failure: signed here instead
                    self._lose(exc)
                    continue
                answered = self._in_flight.popleft()
                del self._unsigned[answered]
                claim = self._claims.get(answered)
                if claim is not None and claim() is not None:
                    self._signed[answered] = signatures
            del self._claims[ticket]
            return self._signed.pop(ticket)

    def _forget_abandoned(self) -> None:
        """Forget the chunks nobody can ask for any more (their answers still in flight are
        dropped as they arrive)."""
        for ticket in [t for t, claim in self._claims.items() if claim() is None]:
            del self._claims[ticket]
        for ticket in [t for t in self._signed if t not in self._claims]:
            del self._signed[ticket]
        for ticket in [t for t in self._unsigned if t not in self._claims]:
            if ticket not in self._in_flight:
                del self._unsigned[ticket]

    def _started(self) -> Connection | None:
        """The pipe to the process, started if need be; None while a lost one is not to be
        replaced yet."""
        lost_at = self._lost_at
        if self._pipe is None and (
            lost_at is None or time.monotonic() - lost_at >= self._restart_after
        ):
            context = multiprocessing.get_context("spawn")
            mine, theirs = context.Pipe()
            process = context.Process(target=_serve, args=(theirs,), name="mra-signer")
            process.daemon = True
            process.start()
            theirs.close()  # the process holds the only other end: it sees EOF when we go
            self._pipe, self._process = mine, process
        return self._pipe

    def _lose(self, cause: Exception | None = None) -> None:
        """Close the pipe (the process then ends) and wait for the process; what it had not
        answered is signed here when asked for. ``cause``: why it is lost (None: ``close``)."""
        pipe, process, self._pipe, self._process = self._pipe, self._process, None, None
        self._in_flight.clear()
        self._forget_abandoned()
        if cause is not None:
            self._lost_at = time.monotonic()
            log.warning(
                "signing process lost (%s): signing on the writer thread, a new process in %g s",
                type(cause).__name__,
                self._restart_after,
            )
        if pipe is not None:
            pipe.close()
        if process is not None:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()


def _serve(pipe: Connection) -> None:
    """The signing process: sign each chunk read from ``pipe`` and send the signatures back,
    until the pipe closes. The signatures are sent by a thread of their own, so that this loop
    never stops reading: the writer may send many chunks before it reads any answer, and two
    processes each waiting for the other to read a full pipe would wait forever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    answers: queue.SimpleQueue[list[bytes]] = queue.SimpleQueue()

    def answer() -> None:
        while True:
            try:
                pipe.send(answers.get())
            except OSError:  # the writer is gone
                return

    threading.Thread(target=answer, name="mra-signer-answers", daemon=True).start()
    while True:
        try:
            key, messages = pipe.recv()
        except (EOFError, OSError):  # the writer is gone
            return
        answers.put([key.sign(m) for m in messages])
