"""The node's local HTTP API (FastAPI), versioned under ``/v1``; every endpoint needs an API key.

``build_app`` serves an opened node (``node.app.compose``) through the routers of this package,
one per area; ``create_app`` opens the node in a home and builds its app, which closes the node
when it stops. Errors are RFC 9457 problem documents (``node.app.api.problems``); the OpenAPI
document (``GET /v1/openapi.json``: ``node.app.api.openapi``) states each operation's body,
answers and errors. Endpoints are ``async`` and read on the event loop thread; what appends runs
on the node's one writer thread (``Node.written``).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from network.tls_scope import FAST_ANSWER_HOOK, SLOW_HEAD_HOOK
from node.app import workers
from node.app.api import admin, agreements, audit, health, lookup, openapi, records
from node.app.api.middleware import FastReads, LimitAndCount, SettleWrites, SlowHeads
from node.app.api.peer import peer_routes
from node.app.api.problems import handle_errors
from node.app.compose import Node, open_node
from node.app.ui import ui_routes
from node.host import scrub
from node.host.home import NodeHome
from node.host.settings import Settings

__all__ = ["NodeApi", "build_app", "create_app"]


def create_app(
    home: NodeHome, *, network: bool = True, settings: Settings | None = None
) -> FastAPI:
    """The API of the node in ``home``, opened with ``settings`` (read from the environment
    when not given), with the peer endpoints and gossip when the home belongs to a network
    and ``network``. The node is closed when the app's lifespan ends."""
    node = open_node(home, settings or Settings.from_environ(), network=network)
    return build_app(node)


class NodeApi(FastAPI):
    """The API's FastAPI app, with the busiest reads answered ahead of every layer of it
    (``FastReads``: its routing, validation, error handling and middleware cost a status
    query more than its own work)."""

    fast: FastReads | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.fast is not None and await self.fast.answered(scope, send):
            return
        await super().__call__(scope, receive, send)


def settle_heap() -> None:
    """Keep the garbage collector's full collections short. What exists once the node serves
    (the modules, the app and its routes, the opened node) lives as long as the process; a full
    collection would walk all of it again each time, holding the interpreter lock throughout,
    so every thread of the node stopped together (57 ms at 1,000,000 records). Frozen, those
    objects are left out of every later collection; what requests allocate is still collected.
    No collection first: the start-up's garbage is small and kept once, while a full
    collection of a large heap at every start cost more (a process that opens many nodes in
    turn, such as the test suite, paid it each time: 6 s over 45 API tests)."""
    gc.freeze()


# How long a thread may hold the interpreter lock while another waits for it (Python's default
# is 5 ms). The event loop answers reads while a publish of thousands of records validates,
# signs and writes them on a worker thread: each time a read lets the lock go (an SQLite call,
# the socket) it waited for the publishing thread's whole interval before it could go on. At
# 1 ms, reads during a publish of 10,000 records had a p99 of 8.0-13.1 ms against 26.9-39.7 ms
# (issue 26; nine rounds each, alternated), and the publish took as long (2.2-2.9 s).
LOCK_SWITCH_SECONDS = 0.001


def bound_lock_waits() -> None:
    """Let a thread waiting for the interpreter lock have it within ``LOCK_SWITCH_SECONDS``."""
    sys.setswitchinterval(LOCK_SWITCH_SECONDS)


def build_app(node: Node) -> FastAPI:
    """The API serving ``node``: its lifespan starts gossip and the workers, and at its end
    stops them and closes the node."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        await node.start()
        running = workers.Workers.start(node)
        settle_heap()
        bound_lock_waits()
        try:
            # The server's HTTP protocol (network.tls_scope) reports slow request heads here,
            # and answers the busiest reads from here before building a request for the app.
            yield {
                SLOW_HEAD_HOOK: SlowHeads(node.metrics.refusals),
                FAST_ANSWER_HOOK: fast.protocol_answer,
            }
        finally:
            await node.stop()
            await running.stop()
            node.close()
            gc.unfreeze()  # a process that opens several nodes in turn (tests) frees each

    # No endpoint answers without a key: the generated docs are served only behind one.
    app = NodeApi(
        title=f"MRA Ledger node {node.config.origin}",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.node = node  # what the handlers reach through node.app.api.auth.opened
    app.fast = fast = FastReads(
        one=partial(records.fast_read, node),
        find=partial(records.fast_find, node),
        requests=node.metrics.requests,
    )
    if node.peers is not None:
        app.add_middleware(SettleWrites, settled=node.peers.appends_settled)
    app.add_middleware(
        LimitAndCount, requests=node.metrics.requests, refusals=node.metrics.refusals
    )
    handle_errors(app)
    if node.peers is not None:
        peer_routes(app, node.peers)
    # In the order of the OpenAPI document's paths.
    app.include_router(health.router)
    ui_routes(
        app,
        store=node.store,
        config=node.config,
        queries=node.queries,
        access=node.access,
        peers=node.peers,
        verification=lambda: scrub.status(node.home.path),
        ledger=node.ledger,
        written=node.written,
        lost_tail=partial(admin.held_report, node),
    )
    for router in (records.router, lookup.router, agreements.router, admin.router, audit.router):
        app.include_router(router)
    app.include_router(openapi.router)
    app.include_router(health.metrics_router)
    openapi.serve_document(app)
    return app
