"""A served node's status queries over a real TLS connection: answered by the HTTP protocol's fast
path (network.tls_scope ``FAST_ANSWER_HOOK``) or, pipelined behind another request, by the
application, they read byte for byte alike, in the order they were asked, on one connection
kept alive; one that asks to close is answered, then closed."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
from pathlib import Path

import httpx

from node.core.sample import sample_dicts
from tests.system.lone_node import free_port, lone_home, start, vouched

RECORDS = list(sample_dicts("BR", 3))
EORI = next(i["value"] for i in RECORDS[1]["identifiers"] if i["scheme"] == "EORI")


def _request(path: str, key: str, *fields: bytes) -> bytes:
    head = [
        b"GET " + path.encode() + b" HTTP/1.1",
        b"host: node",
        b"authorization: " + key.encode(),
    ]
    return b"\r\n".join([*head, *fields]) + b"\r\n\r\n"


def _answers(tls: ssl.SSLSocket, count: int) -> list[tuple[bytes, list[bytes], bytes]]:
    """The next ``count`` answers on ``tls``: status line, header lines but the date, body."""
    buffer = b""
    answers = []
    while len(answers) < count:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            status, *lines = buffer[:end].split(b"\r\n")
            fields = dict(line.lower().split(b": ", 1) for line in lines)
            length = int(fields[b"content-length"])
            if len(buffer) >= end + 4 + length:
                body = buffer[end + 4 : end + 4 + length]
                kept = [line for line in lines if not line.lower().startswith(b"date:")]
                answers.append((status, kept, body))
                buffer = buffer[end + 4 + length :]
                continue
        chunk = tls.recv(65536)
        assert chunk, (answers, buffer)
        buffer += chunk
    assert buffer == b""
    return answers


def test_status_queries_read_alike_whichever_layer_answers_them(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ}
    home = lone_home(tmp_path, port)
    auth = vouched(env, home)
    process = start(home, port, env)
    url = f"https://127.0.0.1:{port}"
    try:
        published = httpx.post(
            f"{url}/v1/aeo", json={"records": RECORDS}, headers=auth, verify=False
        )
        assert published.status_code == 200, published.text
        key = auth["Authorization"]
        first, second = (f"/v1/aeo/{r['aeo_id']}" for r in RECORDS[:2])
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw) as tls,
        ):
            tls.sendall(_request(first, key))
            [alone] = _answers(tls, 1)
            # One write: behind the health check, each is answered by the application.
            tls.sendall(
                b"".join(
                    _request(path, key)
                    for path in (
                        "/v1/health",
                        first,
                        f"/v1/aeo?scheme=EORI&value={EORI}",
                        "/v1/aeo/BR999999999",
                        second,
                    )
                )
            )
            health, piped, found, unknown, other = _answers(tls, 5)
            tls.sendall(_request(second, key, b"connection: close"))
            [closing] = _answers(tls, 1)
            assert tls.recv(1) == b""  # closed after its answer
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert alone[0] == b"HTTP/1.1 200 OK"
    assert alone == piped  # the same status, fields in the same order, and bytes
    assert json.loads(alone[2])["record"]["aeo_id"] == RECORDS[0]["aeo_id"]
    assert health[0] == b"HTTP/1.1 200 OK" and json.loads(health[2])["origin"] == "BR"
    assert [r["record"]["aeo_id"] for r in json.loads(found[2])["results"]] == [
        RECORDS[1]["aeo_id"]
    ]
    assert unknown[0] == b"HTTP/1.1 404 Not Found"
    assert json.loads(other[2])["record"]["aeo_id"] == RECORDS[1]["aeo_id"]
    assert closing[2] == other[2] and b"connection: close" in closing[1]
