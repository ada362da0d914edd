"""Which requests a reader worker of ``mra node run --workers N`` answers itself
(``node.app.forward.served_here``): reads of the database alone; every write, peer request,
UI page, health, metrics, lookup, audit and evidence bundle goes to the primary."""

from __future__ import annotations

import pytest

from node.app.forward import served_here


@pytest.mark.parametrize(
    ("method", "path", "query", "body"),
    [
        ("GET", "/v1/aeo/BR000000001", b"", b""),
        ("HEAD", "/v1/aeo/BR000000001", b"", b""),
        ("GET", "/v1/aeo/BR000000001", b"as_of=2026-11-20", b""),
        ("GET", "/v1/aeo", b"scheme=EORI&value=BR1", b""),
        ("GET", "/v1/aeo/BR000000001/trail", b"", b""),
        ("POST", "/v1/aeo/query", b"", b'{"ids": ["BR000000001"]}'),
        ("GET", "/v1/events/stream", b"", b""),
        ("GET", "/v1/logs", b"", b""),
        ("GET", "/v1/openapi.json", b"", b""),
    ],
)
def test_a_reader_answers_reads_of_the_database(
    method: str, path: str, query: bytes, body: bytes
) -> None:
    assert served_here(method, path, query, body)


@pytest.mark.parametrize(
    ("method", "path", "query", "body"),
    [
        ("POST", "/v1/aeo", b"", b"{}"),  # a write
        ("PUT", "/v1/aeo/BR000000001/status", b"", b"{}"),
        ("DELETE", "/v1/webhooks/1", b"", b""),
        ("POST", "/v1/keys/rotate", b"", b""),
        ("POST", "/v1/agreements", b"", b"{}"),
        ("GET", "/v1/aeo/BR000000001", b"evidence=true", b""),  # names the membership
        ("POST", "/v1/aeo/query", b"", b'{"ids": [], "evidence": true}'),
        ("GET", "/v1/peer/frontier", b"", b""),  # mTLS, gossip state
        ("POST", "/v1/peer/push", b"", b"{}"),
        ("GET", "/v1/health", b"", b""),  # peers' freshness, the worker count
        ("GET", "/metrics", b"", b""),
        ("GET", "/v1/lookup", b"scheme=EORI&value=X", b""),  # asks partners
        ("GET", "/v1/audit", b"", b""),
        ("GET", "/ui/", b"", b""),
        ("POST", "/ui/login", b"", b""),
        ("OPTIONS", "/v1/aeo", b"", b""),
    ],
)
def test_a_reader_forwards_the_rest(method: str, path: str, query: bytes, body: bytes) -> None:
    assert not served_here(method, path, query, body)
