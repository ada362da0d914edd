"""network.tls_scope's ``FAST_ANSWER_HOOK``: a plain GET the hook answers is answered as its head
is parsed, in uvicorn's own form, without reaching the application; what the hook declines,
and every request it must not be asked about, reaches the application; answers keep the order
of their requests when they are pipelined."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from network.tls_scope import FAST_ANSWER_HOOK, Fields, tls_scope_protocol

DEFAULT = [(b"server", b"uvicorn")]  # the server's default fields (uvicorn adds date too)


class Connection:
    """The transport: what the protocol writes, and whether it closed."""

    def __init__(self) -> None:
        self.written = b""
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8443), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )


class Served:
    """One connection to a protocol whose hook answers ``/fast/..`` paths (and names what it
    was asked) and whose application answers everything (and names what reached it)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.asked: list[tuple[str, bytes]] = []
        self.reached: list[str] = []

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            assert scope["type"] == "http"
            self.reached.append(scope["path"])
            body = b"app " + scope["path"].encode()
            length = (b"content-length", b"%d" % len(body))
            await send({"type": "http.response.start", "status": 200, "headers": [length]})
            await send({"type": "http.response.body", "body": body})

        def hook(path: str, query: bytes, fields: Fields) -> tuple[Fields, bytes] | None:
            self.asked.append((path, query))
            assert (b"host", b"node") in fields
            if not path.startswith("/fast/"):
                return None
            return [(b"content-type", b"text/plain")], b"fast " + path.encode()

        config = Config(app=app, log_level="warning")
        state = ServerState()
        state.default_headers = DEFAULT
        protocol_class = tls_scope_protocol(10.0)
        self.protocol = protocol_class(config, state, {FAST_ANSWER_HOOK: hook}, _loop=loop)
        self.state = state
        self.connection = Connection()
        self.protocol.connection_made(self.connection)  # type: ignore[arg-type]

    def send(self, *requests: bytes) -> None:
        self.protocol.data_received(b"".join(requests))


def get(path: str, *fields: bytes, version: bytes = b"1.1", method: bytes = b"GET") -> bytes:
    head = [method + b" " + path.encode() + b" HTTP/" + version, b"host: node", *fields]
    return b"\r\n".join(head) + b"\r\n\r\n"


def answer(body: bytes, *fields: bytes) -> bytes:
    head = [b"HTTP/1.1 200 OK", b"server: uvicorn", b"content-length: %d" % len(body), *fields]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


async def settled() -> None:
    for _ in range(20):  # the application's tasks and the held heads' turns
        await asyncio.sleep(0)


def test_a_get_the_hook_answers_never_reaches_the_application() -> None:
    async def main() -> Served:
        served = Served(asyncio.get_running_loop())
        served.send(get("/fast/1"))
        assert served.connection.written == answer(b"fast /fast/1", b"content-type: text/plain")
        served.send(get("/fast/2?x=1"))  # the same connection, kept alive
        await settled()
        return served

    served = asyncio.run(main())
    assert served.asked == [("/fast/1", b""), ("/fast/2", b"x=1")]
    assert served.reached == []
    assert served.state.total_requests == 2
    assert served.protocol.timeout_keep_alive_task is not None  # idle now: uvicorn's timer runs
    assert not served.connection.closing


def test_what_the_hook_declines_the_application_answers() -> None:
    async def main() -> Served:
        served = Served(asyncio.get_running_loop())
        served.send(get("/slow"))
        await settled()
        return served

    served = asyncio.run(main())
    assert served.asked == [("/slow", b"")]
    assert served.reached == ["/slow"]
    assert served.connection.written == answer(b"app /slow")


def test_the_hook_is_not_asked_about_what_it_must_not_answer() -> None:
    requests = {
        "/fast/head": get("/fast/head", method=b"HEAD"),
        "/fast/post": get("/fast/post", b"content-length: 0", method=b"POST"),
        "/fast/1.0": get("/fast/1.0", version=b"1.0"),
        "/fast/A": get("/fast/%41"),  # a path the application decodes
        "/fast/closing": get("/fast/closing", b"connection: close"),
    }

    async def main(request: bytes) -> Served:
        served = Served(asyncio.get_running_loop())  # a connection of its own
        served.send(request)
        await settled()
        return served

    for path, request in requests.items():
        served = asyncio.run(main(request))
        assert served.asked == [], path
        assert served.reached == [path]
        body = b"" if path == "/fast/head" else b"app " + path.encode()  # HEAD: no body
        assert served.connection.written.endswith(b"\r\n\r\n" + body)
    # Answered with "connection: close" by uvicorn, then closed.
    assert b"connection: close" in served.connection.written
    assert served.connection.closing


def test_pipelined_requests_are_answered_in_their_order() -> None:
    async def main() -> Served:
        served = Served(asyncio.get_running_loop())
        served.send(get("/fast/1"), get("/slow"), get("/fast/2"), get("/fast/3"))
        await settled()
        served.send(get("/fast/4"))
        await settled()
        return served

    served = asyncio.run(main())
    bodies = [b"fast /fast/1", b"app /slow", b"app /fast/2", b"app /fast/3", b"fast /fast/4"]
    written = served.connection.written
    assert [written.index(body) for body in bodies] == sorted(written.index(b) for b in bodies)
    # Behind an answer still being made, the application answers, in order.
    assert served.reached == ["/slow", "/fast/2", "/fast/3"]
    assert served.asked == [("/fast/1", b""), ("/slow", b""), ("/fast/4", b"")]


def test_no_answer_is_written_here_while_the_connection_s_writes_are_paused() -> None:
    async def main() -> Served:
        served = Served(asyncio.get_running_loop())
        served.protocol.pause_writing()  # the client does not read what it is sent
        served.send(get("/fast/1"))
        await settled()
        assert served.connection.written == b""  # the application waits to write
        served.protocol.resume_writing()
        await settled()
        return served

    served = asyncio.run(main())
    assert served.asked == []
    assert served.reached == ["/fast/1"]
    assert served.connection.written == answer(b"app /fast/1")
