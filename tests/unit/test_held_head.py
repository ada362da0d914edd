"""network.tls_scope.HeldHead: a response's head leaves with the first bytes of its body in one
write, unchanged and in order; a head alone leaves on the loop's next turn or at a close, and
never on a connection that is closing."""

from __future__ import annotations

import asyncio
from typing import cast

from network.tls_scope import HeldHead


class Connection:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing


def _held(connection: Connection, loop: asyncio.AbstractEventLoop) -> HeldHead:
    return HeldHead(cast(asyncio.Transport, connection), loop)


def test_head_and_body_leave_in_one_write() -> None:
    async def main() -> list[bytes]:
        connection = Connection()
        held = _held(connection, asyncio.get_running_loop())
        held.write(b"HTTP/1.1 200 OK\r\n\r\n")
        assert connection.writes == []
        held.write(b"{}")
        held.write(b"more")
        await asyncio.sleep(0)
        return connection.writes

    assert asyncio.run(main()) == [b"HTTP/1.1 200 OK\r\n\r\n{}", b"more"]


def test_a_head_alone_leaves_on_the_next_turn_or_at_close() -> None:
    async def main() -> tuple[list[bytes], list[bytes], list[bytes]]:
        loop = asyncio.get_running_loop()
        streaming = Connection()
        held = _held(streaming, loop)
        held.write(b"head")
        await asyncio.sleep(0)
        held.write(b"event")
        closed = Connection()
        at_close = _held(closed, loop)
        at_close.write(b"head, connection: close")
        at_close.close()
        gone = Connection()
        _held(gone, loop).write(b"head")
        gone.closing = True  # the client left before the loop turned
        await asyncio.sleep(0)
        return streaming.writes, closed.writes, gone.writes

    streaming, closed, gone = asyncio.run(main())
    assert streaming == [b"head", b"event"]
    assert closed == [b"head, connection: close"]
    assert gone == []
