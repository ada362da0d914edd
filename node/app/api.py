"""The node's local HTTP API (FastAPI), versioned under ``/v1``; every endpoint needs an API key.

Errors are RFC 9457 problem documents (``application/problem+json``) with the HTTP status of
their class in ``node.core.errors``: 422 bad input, 404 unknown, 409 conflict, 403 refused by a
contract or the caller's role, 401 no or bad credentials, 413 a body over the limit, 503
storage. The OpenAPI document (``GET /v1/openapi.json``, completed by ``node.app.apidoc``) states
each operation's body, answers and errors. Endpoints are ``async`` and read on the event loop
thread; what appends to the node's own log (publications, status changes, agreements, keys,
erasures) runs on one writer thread, in order, so that reads keep their latency while a large
batch is validated, signed and written (the store gives each thread its own read connection,
which never sees a transaction in progress).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import orjson
from fastapi import Depends, FastAPI, Header, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from pydantic import WithJsonSchema
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts.agreement import AGREEMENT_ID, Agreement
from network.problems import STATUS, problem_of
from network.tls_scope import SLOW_HEAD_HOOK
from node.app.apidoc import API_KEY, BEARER, CSV, EVENTS, PROBLEM, TEXT, document, operation, ref
from node.app.peer import peer_routes, problem_response
from node.app.ui import ui_routes
from node.core.canonical import parse_json
from node.core.clock import system_clock
from node.core.errors import (
    InvalidInput,
    MraError,
    NotFound,
    StorageFailed,
)
from node.core.log_budget import LogBudget
from node.core.records import AEO_ID, AeoRecord, Status
from node.core.reports import rows_csv
from node.host import keyfiles, scrub
from node.host.access_log import AccessLog
from node.host.apikeys import Caller, Role, check_key
from node.host.home import NodeHome
from node.host.settings import Settings
from node.host.webhooks import WebhookDispatcher, add_webhook, event_document, event_stream
from node.ledger import agreements, erasure
from node.ledger.access_anchor import ANCHOR_SECONDS, AccessAnchors
from node.ledger.queries import (
    ID_PATTERN,
    SCHEME_PATTERN,
    Answer,
    Queries,
    as_of_ms,
    check_id,
    log_states,
)
from node.ledger.trail import record_trail
from node.ledger.writer import Ledger, PublishResult
from node.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from network.service import NetworkService

__all__ = ["MAX_BODY", "create_app"]

MAX_BODY = 8 * 1024 * 1024
_T = TypeVar("_T")
WAL_CHECKPOINT_SECONDS = 5.0
ERASURE_POLL_SECONDS = 1.0
SETTLE_SECONDS = 3.0  # how long a write waits for a started node's first peer answer (< 5 s,
# the read timeout of many clients, httpx's included: they get the 503 and its reason)
RETENTION_SECONDS = 3600.0  # how often retention runs (MRA_RETENTION_SECONDS overrides)
log = logging.getLogger("mra.api")
MAX_BATCH = 10_000
MAX_INT = 2**63 - 1  # SQLite's largest integer: a seq, an event id or a cursor beyond it is refused
# Parameters as the document states them; the handlers check them (check_id, Queries).
AeoId = Annotated[str, Path(json_schema_extra={"pattern": ID_PATTERN})]
AgreementId = Annotated[str, Path(json_schema_extra={"pattern": AGREEMENT_ID.pattern})]
# Optional integers in a query: documented as integers (a query parameter is absent or a
# number, never null; FastAPI would write "integer or null").
Cursor = Annotated[
    int | None,
    Query(ge=0, le=MAX_INT),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_INT}),
]
Version = Annotated[
    int | None,
    Query(ge=1, le=MAX_INT),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_INT}),
]
_EVENT_ID = "^[0-9]{1,18}$"
EventId = Annotated[
    str | None,
    Header(alias="Last-Event-ID", pattern=_EVENT_ID),
    WithJsonSchema({"type": "string", "pattern": _EVENT_ID}),
]


def _server_errors() -> dict[int, str]:
    """The statuses of the errors that are nobody's fault but the node's, each described by
    its class: any operation can answer them."""
    found: dict[int, list[str]] = {}
    for kind, status in STATUS:
        if status >= 500:
            found.setdefault(status, []).append((kind.__doc__ or kind.__name__).split("\n")[0])
    return {status: " Or: ".join(why) for status, why in found.items()}


class AccessDenied(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


FAST_READ_KEY = "mra.endpoint"  # the route template FastReads answered, for endpoint_of


class LimitAndCount:
    """Refuses a body declared over MAX_BODY before it is read (413) and counts responses per
    endpoint and status. Plain ASGI: it adds no task or stream per request."""

    def __init__(self, app: ASGIApp, *, requests: Counter, refusals: Counter) -> None:
        self.app = app
        self.requests = requests
        self.refusals = refusals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and (
            not (length.isascii() and length.isdigit()) or int(length) > MAX_BODY
        ):
            self.refusals.labels("too-large").inc()
            refused = problem(
                413, "Body too large", f"request bodies are limited to {MAX_BODY} bytes"
            )
            await refused(scope, receive, send)
            return
        status = 500

        async def counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            self.requests.labels(endpoint_of(scope), str(status)).inc()


class SettleWrites:
    """Holds a write that arrives while a started node still waits for its peers' first
    answer (node.host.guard) until appends are settled, SETTLE_SECONDS at most, rather than refusing
    it at once (nodes of a network started together answer each other within seconds). Reads,
    batch queries, peer requests and the web UI pass straight on."""

    def __init__(self, app: ASGIApp, *, settled: Callable[[float], Awaitable[None]]) -> None:
        self.app = app
        self.settled = settled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            path: str = scope.get("path", "")
            api = path.startswith("/v1/") and not path.startswith("/v1/peer/")
            if api and path != "/v1/aeo/query":
                await self.settled(SETTLE_SECONDS)
        await self.app(scope, receive, send)


def endpoint_of(scope: Scope) -> str:
    """The metric label of a request: the template of the route that answered it (a bounded
    set, whatever paths clients send), or "unmatched"."""
    route = scope.get("route")
    path = scope.get(FAST_READ_KEY) or getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """Every method the path of ``scope`` answers, for the Allow header of a 405 (Starlette's
    names only the first route that matched the path). A concrete path is matched before a
    templated one, as OpenAPI matches paths (``/v1/aeo/query`` before ``/v1/aeo/{aeo_id}``)."""
    found: dict[bool, set[str]] = {True: set(), False: set()}
    for route in routes:
        if isinstance(route, Route) and route.methods and route.matches(scope)[0] != Match.NONE:
            found[not route.param_convertors] |= route.methods
    return ", ".join(sorted(found[True] or found[False]))


def presented_key(headers: Headers) -> str:
    """The API key a request presents (``Authorization: Bearer`` or ``X-API-Key``), or ""."""
    bearer = headers.get("authorization", "").removeprefix("Bearer ").strip()
    return bearer or headers.get("x-api-key", "")


class FastReads:
    """The common case of the busiest endpoint answered without the framework's layers:
    ``GET /v1/aeo/{id}`` with no query string, by a valid key, of a record held here. Everything
    else (no key, a refused role, a malformed or unknown id, ``evidence``, ``as_of``) goes on to
    the API route itself, which answers it, errors included; both give the same answer."""

    def __init__(self, app: ASGIApp, *, read: Callable[[Headers, str], bytes | None]) -> None:
        self.app = app
        self.read = read

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and not scope["query_string"]
            and path.startswith("/v1/aeo/")
            and "/" not in path[8:]
        ):
            try:
                body = self.read(Headers(scope=scope), path[8:])
            except MraError:
                body = None  # the route reads it again and answers the error's problem document
            if body is not None:
                scope[FAST_READ_KEY] = "/v1/aeo/{aeo_id}"
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def _start_scrubber(home: NodeHome) -> subprocess.Popen[bytes] | None:
    """Continuous verification beside this process (``node.host.scrub``); none when the budget is
    0 (``MRA_VERIFY_BUDGET``)."""
    if float(os.environ.get("MRA_VERIFY_BUDGET", scrub.DEFAULT_BUDGET)) <= 0:
        return None
    return subprocess.Popen(
        [sys.executable, "-m", "node.host.scrub", str(home.path), str(os.getpid())],
        stdin=subprocess.DEVNULL,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def create_app(home: NodeHome, *, network: bool = True) -> FastAPI:
    """The API of the node in ``home`` (composition root: store, ledger, metrics, and the
    peer endpoints and gossip when the home belongs to a network)."""
    config = home.config()
    keyfiles.check_home(home.path)  # no start with private keys others may read
    store = SqliteStore.open(home.db_path)
    ledger: Ledger = home.open_ledger(store)
    registry = CollectorRegistry()
    requests = Counter("mra_requests", "API requests", ["endpoint", "status"], registry=registry)
    refusals = Counter("mra_refusals", "Refused requests", ["reason"], registry=registry)
    verify_last = Gauge(
        "mra_verify_last_complete_timestamp",
        "When continuous verification last completed a pass (seconds since the epoch; 0: never)",
        registry=registry,
    )
    verify_damage = Gauge(
        "mra_verify_damage_total",
        "Damages named by the last complete verification pass and the one under way",
        registry=registry,
    )
    access_writer = SqliteStore.open(home.db_path, durable=False)
    access = AccessLog(access_writer, system_clock)
    dispatcher = WebhookDispatcher(store, system_clock)
    # One thread writes the node's log and what peers send, one write after the other.
    writer = ThreadPoolExecutor(1, thread_name_prefix="mra-write")

    async def written(work: Callable[[], _T]) -> _T:
        """Run ``work`` (which writes) on the writer thread; the event loop keeps serving."""
        return await asyncio.get_running_loop().run_in_executor(writer, work)

    peers: NetworkService | None = None
    if network and (home.path / "membership.json").exists():
        from network.service import open_network

        settings = Settings.from_environ()  # (compose.open_node will pass its own)
        peers = open_network(home, store, settings, registry, access=access, offload=written)
        ledger.hold = peers.guard.hold  # after a start, appends wait for a peer (node.host.guard)

    def accessed(
        caller: Caller, action: str, channel: str, *ids: str, agreements: str = ""
    ) -> None:
        access.record(caller.actor, action, channel, *ids, agreements=agreements)

    def appended() -> None:
        if peers is not None:
            peers.appended()

    async def wal_checkpoints() -> None:
        # The access log's writer never checkpoints (a checkpoint syncs the file, and it would
        # stall every request behind it): this copies the WAL back on a worker thread instead.
        while True:
            await asyncio.sleep(WAL_CHECKPOINT_SECONDS)
            try:
                if store.scrub_pending:
                    await written(store.scrub)  # an erasure's WAL truncation a reader held up
                await asyncio.to_thread(SqliteStore.checkpoint_wal, home.db_path)
            except StorageFailed as exc:
                log.warning("WAL checkpoint failed: %s", exc)

    anchors = AccessAnchors(ledger, store)

    def anchor_access() -> None:
        # The access log's head goes on the signed log, so a cut or rewritten row is caught.
        try:
            if anchors.anchor() is not None:
                appended()
        except MraError as exc:  # OwnLogBehind, a full disk: the next round tries again
            log.warning("access log anchor not written: %s", exc)

    async def access_anchors() -> None:
        while True:
            await asyncio.sleep(float(os.environ.get("MRA_ANCHOR_SECONDS", ANCHOR_SECONDS)))
            await asyncio.to_thread(access.flush)
            await written(anchor_access)  # an append: on the writer thread, like every other

    erasure_lines = LogBudget(lines=3, monotonic=time.monotonic)

    async def erasure_work() -> None:
        # Answer the erasures that reached this node within a second, and apply retention on
        # schedule (at start, then every RETENTION_SECONDS).
        loop = asyncio.get_running_loop()
        every = float(os.environ.get("MRA_RETENTION_SECONDS", RETENTION_SECONDS))
        next_retention = loop.time()
        while True:
            try:
                done = await written(lambda: erasure.acknowledge(ledger, store))
                if loop.time() >= next_retention:
                    next_retention = loop.time() + every
                    done += await written(
                        lambda: erasure.run_retention(ledger, store, system_clock())
                    )
                if done:
                    log.info("erasure: appended %d purge or erasure entries", len(done))
                    appended()
            except MraError as exc:
                # Retried every poll: a lasting cause (OwnLogBehind, a full disk) is logged
                # a few times a minute, not every second.
                more = erasure_lines.suffix(type(exc).__name__)
                if more is not None:
                    log.warning("erasure work failed: %s%s", exc, more)
            await asyncio.sleep(ERASURE_POLL_SECONDS)

    slow_head_lines = LogBudget(monotonic=time.monotonic)

    def slow_head(reason: str) -> None:
        refusals.labels(reason).inc()
        more = slow_head_lines.suffix(reason)
        if more is not None:
            what = (
                "whose request head was too slow (408)"
                if reason == "slow-head"
                else "that sent no request in time"
            )
            log.warning("closed a connection %s%s", what, more)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        if peers is not None:
            await peers.start()
        tasks = [
            asyncio.create_task(access.run()),
            asyncio.create_task(dispatcher.run()),
            asyncio.create_task(wal_checkpoints()),
            asyncio.create_task(erasure_work()),
            asyncio.create_task(access_anchors()),
        ]
        scrubber = _start_scrubber(home)
        try:
            # The server's HTTP protocol (network.tls_scope) reports slow request heads here.
            yield {SLOW_HEAD_HOOK: slow_head}
        finally:
            if peers is not None:
                await peers.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if scrubber is not None:
                _stop(scrubber)
            writer.shutdown(wait=True)
            access.flush()
            anchor_access()  # the writer thread is done: nothing else appends now
            access_writer.close()
            store.close()

    # No endpoint answers without a key: the generated docs are served only behind one.
    app = FastAPI(
        title=f"MRA Ledger node {config.origin}",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    def role(needed: Role) -> Any:
        # The two schemes are declared so that the document names both ways to present a key
        # and the role each operation needs; the key is read by presented_key, as on the fast
        # path, so both paths accept exactly the same requests.
        async def check(
            request: Request,
            _bearer: Annotated[object, Depends(BEARER)],
            _header: Annotated[object, Depends(API_KEY)],
        ) -> Caller:
            key = presented_key(request.headers)
            if not key:
                refusals.labels("no-credentials").inc()
                raise AccessDenied(401, "an API key is required (Authorization: Bearer ...)")
            found = check_key(store, key)
            if found is None:
                refusals.labels("bad-credentials").inc()
                raise AccessDenied(401, "unknown or revoked API key")
            if not found.allows(needed):
                refusals.labels("role").inc()
                raise AccessDenied(403, f"this key's role is {found.role}; {needed} is needed")
            return found

        return Security(check, scopes=[needed.value])

    viewer, publisher, admin = role(Role.VIEWER), role(Role.PUBLISHER), role(Role.ADMIN)
    auditor = role(Role.AUDITOR)

    def fast_read(headers: Headers, aeo_id: str) -> bytes | None:
        caller = check_key(store, presented_key(headers))
        if caller is None or not caller.allows(Role.VIEWER) or not AEO_ID.fullmatch(aeo_id):
            return None
        answer = queries.one(aeo_id)
        if answer is None:
            return None
        accessed(caller, "query", "GET /v1/aeo/{aeo_id}", aeo_id)
        return orjson.dumps(answer.to_dict())

    if peers is not None:
        app.add_middleware(SettleWrites, settled=peers.appends_settled)
    app.add_middleware(FastReads, read=fast_read)
    app.add_middleware(LimitAndCount, requests=requests, refusals=refusals)

    @app.exception_handler(AccessDenied)
    async def denied(request: Request, exc: AccessDenied) -> JSONResponse:
        title = "Unauthorized" if exc.status == 401 else "Forbidden"
        response = problem(exc.status, title, exc.detail)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    if peers is not None:
        peer_routes(app, peers)

    @app.exception_handler(MraError)
    async def mra_error(request: Request, exc: MraError) -> Response:
        found = problem_of(exc)
        assert found is not None
        return problem_response(found)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        found = problem_of(exc)
        assert found is not None
        return problem_response(found)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        found = problem_of(exc)
        assert found is not None
        response = problem_response(found)
        if exc.status_code == 405:  # RFC 9110 §15.5.6: a 405 names the methods allowed
            response.headers["Allow"] = allowed_methods(app.router.routes, request.scope) or (
                response.headers.get("Allow", "")
            )
        return response

    @app.get("/v1/health", **operation(ref("Health")))
    async def health(caller: Caller = viewer) -> dict[str, Any]:
        heads = {o: store.head(o) for o in store.origins()}
        return {
            "origin": config.origin,
            "name": config.name,
            "schema": store.schema_version,
            "logs": {o: (h.size if h else 0) for o, h in heads.items()},
            **(peers.freshness() if peers is not None else {}),
            "verification": scrub.status(home.path),
        }

    @app.get("/v1/logs", **operation(ref("Logs")))
    async def logs(caller: Caller = viewer) -> list[dict[str, Any]]:
        """Per origin held here: size and Merkle root, and the latest checkpoint with its
        cosigners; two nodes hold the same log of an origin when (size, root) agree."""
        return log_states(store)

    queries = Queries(store, config.origin)

    def answered(answer: Answer, evidence: bool) -> dict[str, Any]:
        shown = answer.to_dict()
        if evidence:
            from network.evidence import build_bundle

            view = None if answer.view is None else (config.origin, *answer.view)
            members = peers.membership if peers is not None else None
            shown["evidence"] = build_bundle(store, answer.origin, answer.seq, view, members)
        return shown

    ui_routes(
        app,
        store=store,
        config=config,
        queries=queries,
        access=access,
        peers=peers,
        verification=lambda: scrub.status(home.path),
    )

    @app.get("/v1/aeo/{aeo_id}", **operation(ref("Answer"), errors=(404, 409)))
    async def read_record(
        aeo_id: AeoId, evidence: bool = False, as_of: str | None = None, caller: Caller = viewer
    ) -> dict[str, Any]:
        """An own record in full, or the view of a partner's record this node received; as it
        stood at ``as_of`` (ISO 8601); with ``evidence=true``, a bundle that proves it offline
        (docs/evidence.md)."""
        answer = queries.one(aeo_id, None if as_of is None else as_of_ms(as_of))
        accessed(caller, "query", "GET /v1/aeo/{aeo_id}", check_id(aeo_id, "aeo_id"))
        if answer is None:
            raise NotFound(f"no AEO {aeo_id} is held here", field="aeo_id")
        return answered(answer, evidence)

    @app.get("/v1/aeo", **operation(ref("Results"), errors=(409,)))
    async def find_by_identifier(
        scheme: Annotated[str, Query(json_schema_extra={"pattern": SCHEME_PATTERN})],
        value: Annotated[str, Query(json_schema_extra={"minLength": 1, "maxLength": 64})],
        evidence: bool = False,
        caller: Caller = viewer,
    ) -> dict[str, Any]:
        """Every record held of the trader with this identifier (e.g. scheme=EORI)."""
        found = queries.by_identifier(scheme, value)
        if found:  # the records found are logged, never the identifier searched for
            accessed(
                caller,
                "query",
                f"GET /v1/aeo?scheme={scheme.strip().upper()}",
                *(a.aeo_id for a in found),
            )
        return {"results": [answered(a, evidence) for a in found]}

    @app.post("/v1/aeo/query", **operation(ref("Found"), body="Query", errors=(409,)))
    async def query_batch(request: Request, caller: Caller = viewer) -> Response:
        """``{"ids": [...], "evidence": false, "as_of": null}``, up to 10,000 ids: the answers
        found, and the ids answered as unknown."""
        body = parse_json(await request.body())
        if not isinstance(body, dict) or not isinstance(body.get("ids"), list):
            raise InvalidInput("a JSON object with a list of AEO ids", field="ids")
        evidence = body.get("evidence", False)
        if not isinstance(evidence, bool):
            raise InvalidInput("true or false", field="evidence")
        as_of = body.get("as_of")
        found, unknown = queries.many(body["ids"], None if as_of is None else as_of_ms(as_of))
        accessed(caller, "query", "POST /v1/aeo/query", *found, *unknown)
        answers = {
            "found": {aeo_id: answered(a, evidence) for aeo_id, a in found.items()},
            "unknown": unknown,
        }
        # Up to 10,000 answers: encoded once, directly (the documents are plain JSON already).
        return Response(orjson.dumps(answers), media_type="application/json")

    @app.post("/v1/aeo", **operation(ref("Published"), body="Publish", errors=(409,)))
    async def publish(request: Request, caller: Caller = publisher) -> Response:
        body = await request.body()

        def work() -> tuple[bytes, bool]:
            # Parsing, validating, signing and writing up to 10,000 records, logging the
            # access and encoding the answer take seconds: all of it off the event loop.
            records, result = _publish(ledger, body)
            if result.entries:
                unchanged = set(result.unchanged)
                accessed(
                    caller,
                    "publish",
                    "POST /v1/aeo",
                    *(r.aeo_id for r in records if r.aeo_id not in unchanged),
                )
            done = [{"seq": e.header.seq, "kind": e.header.kind.value} for e in result.entries]
            answer = {"appended": done, "unchanged": list(result.unchanged)}
            return orjson.dumps(answer), bool(done)

        answer, grew = await written(work)
        if grew:
            appended()
        return Response(answer, media_type="application/json")

    @app.post(
        "/v1/aeo/{aeo_id}/status", **operation(ref("Appended"), body="Status", errors=(404, 409))
    )
    async def change_status(
        aeo_id: AeoId, request: Request, caller: Caller = publisher
    ) -> dict[str, Any]:
        wanted = check_id(aeo_id, "aeo_id")
        found = store.current_record(wanted)
        if found is None:
            raise NotFound(f"no AEO {wanted} is held here", field="aeo_id")
        status = Status.from_dict(parse_json(await request.body()))
        result = await written(lambda: ledger.publish([found[1].with_status(status)]))
        if result.entries:
            appended()
            accessed(caller, "status", "POST /v1/aeo/{aeo_id}/status", wanted)
        return {"appended": [{"seq": e.header.seq, "kind": e.header.kind} for e in result.entries]}

    @app.get("/v1/agreements", **operation(ref("Agreements")))
    async def list_agreements(caller: Caller = viewer) -> list[dict[str, Any]]:
        out = []
        for agreement_id, state in sorted(agreements.states(store).items()):
            if state.current is not None:
                out.append(
                    {
                        "id": agreement_id,
                        "phase": state.phase.value,
                        "document": state.current.to_dict(),
                    }
                )
        return out

    @app.post(
        "/v1/agreements",
        status_code=201,
        **operation(ref("Entry"), status=201, body="AgreementDocument", errors=(409,)),
    )
    async def propose(request: Request, caller: Caller = admin) -> dict[str, Any]:
        """Propose an agreement (or an amendment: same id, higher version)."""
        data = parse_json(await request.body())
        if not isinstance(data, dict):
            raise InvalidInput("an agreement document is a JSON object", field="body")
        members = peers.member_codes() if peers else None
        document = Agreement.from_dict(data)
        entry = await written(lambda: agreements.propose(ledger, store, document, members))
        appended()
        accessed(caller, "agreement.propose", "POST /v1/agreements", agreements=document.id)
        return {"seq": entry.header.seq, "kind": entry.header.kind}

    @app.post("/v1/agreements/{agreement_id}/approve", **operation(ref("Entry"), errors=(404, 409)))
    async def approve(
        agreement_id: AgreementId,
        version: Version = None,
        caller: Caller = admin,
    ) -> Any:
        entry = await written(lambda: agreements.approve(ledger, store, agreement_id, version))
        appended()
        accessed(
            caller, "agreement.approve", "POST /v1/agreements/{id}/approve", agreements=agreement_id
        )
        return {"seq": entry.header.seq, "kind": entry.header.kind}

    @app.post(
        "/v1/agreements/{agreement_id}/withdraw", **operation(ref("Entry"), errors=(404, 409))
    )
    async def withdraw(agreement_id: AgreementId, caller: Caller = admin) -> dict[str, Any]:
        entry = await written(lambda: agreements.withdraw(ledger, store, agreement_id))
        appended()
        accessed(
            caller,
            "agreement.withdraw",
            "POST /v1/agreements/{id}/withdraw",
            agreements=agreement_id,
        )
        return {"seq": entry.header.seq, "kind": entry.header.kind}

    @app.post("/v1/keys/rotate", **operation(ref("Rotation")))
    async def rotate_key(caller: Caller = admin) -> dict[str, Any]:
        """Replace this node's signing key: a rotation entry signed with the old key names the
        new one, which signs everything after it. Partners learn it with the entry."""
        entry, key = await written(lambda: home.rotate_key(ledger))
        if peers is not None:
            peers.use_key(key)
        appended()
        accessed(caller, "key.rotate", "POST /v1/keys/rotate")
        return {
            "seq": entry.header.seq,
            "public_key": key.public_key.hex(),
            "since": entry.header.seq + 1,
        }

    @app.get("/v1/keys", **operation(ref("Keys")))
    async def keys(origin: str | None = None, caller: Caller = auditor) -> dict[str, Any]:
        """Every key each origin has signed with, and the seq from which it is in force."""
        wanted = [origin.upper()] if origin else store.origins()
        return {
            o: [{"since": since, "public_key": key.hex()} for since, key in store.keys(o)]
            for o in wanted
        }

    @app.get("/v1/forks", **operation(ref("Forks")))
    async def forks(caller: Caller = auditor) -> list[dict[str, Any]]:
        """Fork evidence held here: each open one freezes its origin at this node."""
        return [{**row, "evidence": parse_json(row["evidence"])} for row in store.forks()]

    @app.post(
        "/v1/forks/{origin}/resolve", **operation(ref("Resolved"), body="Resolution", errors=(404,))
    )
    async def resolve_fork(origin: str, request: Request, caller: Caller = admin) -> dict[str, Any]:
        """An operator's decision after a fork: unfreeze the origin (the evidence is kept)."""
        data = parse_json(await request.body())
        reason = data.get("resolution") if isinstance(data, dict) else None
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInput("say what was decided", field="resolution")
        count = await written(lambda: store.resolve_forks(origin.upper(), reason, system_clock()))
        if count == 0:
            raise NotFound(f"no open fork evidence against {origin}", field="origin")
        return {"resolved": count}

    @app.post(
        "/v1/aeo/{aeo_id}/erase",
        **operation(ref("Erasure"), body="EraseRequest", errors=(404, 409)),
    )
    async def erase(aeo_id: AeoId, request: Request, caller: Caller = admin) -> dict[str, Any]:
        """Erase an own record here and at every partner: body ``{"reason": "..."}``."""
        wanted = check_id(aeo_id, "aeo_id")
        data = parse_json(await request.body())
        if not isinstance(data, dict) or set(data) != {"reason"}:
            raise InvalidInput('send {"reason": "the legal reason"}', field="reason")
        reason = data["reason"]
        entry, done = await written(lambda: erasure.erase(ledger, store, wanted, reason))
        appended()
        accessed(caller, "erase", "POST /v1/aeo/{aeo_id}/erase", wanted)
        return {
            "seq": entry.header.seq,
            "entries": list(done.entries),
            "partners": list(done.partners),
        }

    @app.post("/v1/retention/run", **operation(ref("Appended")))
    async def retention(caller: Caller = admin) -> dict[str, Any]:
        """Apply retention now: erase own records past their period, purge what was received
        under agreements that ended."""
        done = await written(lambda: erasure.run_retention(ledger, store, system_clock()))
        if done:
            appended()
        return {"appended": [{"seq": e.header.seq, "kind": e.header.kind} for e in done]}

    @app.get("/v1/aeo/{aeo_id}/trail", **operation(ref("Trail"), errors=(404,)))
    async def trail(aeo_id: AeoId, caller: Caller = auditor) -> dict[str, Any]:
        """Every version of the record held here (signer, time, changed fields), every delivery
        of it to a partner and every query of it."""
        wanted = check_id(aeo_id, "aeo_id")
        await asyncio.to_thread(access.flush)  # the trail shows every access up to this one
        found = record_trail(store, wanted)
        accessed(caller, "audit", "GET /v1/aeo/{aeo_id}/trail", wanted)
        if found is None:
            raise NotFound(f"no AEO {aeo_id} is held here", field="aeo_id")
        return found

    @app.get("/v1/audit", **operation(ref("AuditPage"), also={CSV: {"schema": TEXT}}))
    async def audit_log(
        since: str | None = None,
        until: str | None = None,
        partner: str | None = None,
        actor: str | None = None,
        aeo_id: Annotated[str | None, Query(json_schema_extra={"pattern": ID_PATTERN})] = None,
        action: str | None = None,
        after: int = Query(-1, ge=-1, le=MAX_INT),
        limit: int = Query(1000, ge=1, le=10_000),
        format: Literal["json", "csv"] = "json",
        caller: Caller = auditor,
    ) -> dict[str, Any] | Response:
        """The access log, filtered (times ISO 8601, ``until`` exclusive; ``partner`` is a
        member code), oldest first; JSON pages (``next`` for ``after``) or CSV."""
        if partner is not None and actor is not None:
            raise InvalidInput("give partner or actor, not both", field="partner")
        await asyncio.to_thread(access.flush)
        rows = store.access_rows(
            since=None if since is None else as_of_ms(since, "since", day_end=False),
            until=None if until is None else as_of_ms(until, "until"),
            actor=f"peer:{partner.strip().upper()}" if partner else actor,
            aeo_id=None if aeo_id is None else check_id(aeo_id, "aeo_id"),
            action=action,
            after=after,
            limit=limit,
        )
        accessed(caller, "audit", "GET /v1/audit")
        if format == "csv":
            return Response("".join(rows_csv(rows)), media_type="text/csv; charset=utf-8")
        return {"rows": rows, "next": rows[-1]["seq"] if len(rows) == limit else None}

    @app.get("/v1/events", **operation(ref("Events")))
    async def events(
        after: int = Query(0, ge=0, le=MAX_INT),
        limit: int = Query(100, ge=1, le=1000),
        caller: Caller = viewer,
    ) -> Any:
        """Status events (own records and partners' records received), oldest first."""
        return [event_document(row) for row in store.events(after=after, limit=limit)]

    @app.get("/v1/events/stream", **operation(ref("ServerSentEvent"), media=EVENTS))
    async def stream(
        after: Cursor = None,
        resume: EventId = None,
        caller: Caller = viewer,
    ) -> Any:
        """The same events as server-sent events, new ones as they happen; resumes after
        ``Last-Event-ID`` (or ``after``); without either, starts with the next event."""
        start = int(resume) if resume else after if after is not None else store.last_event_id()
        return StreamingResponse(
            event_stream(store, start),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache"},
        )

    @app.post(
        "/v1/webhooks",
        status_code=201,
        **operation(ref("Webhook"), status=201, body="WebhookRequest"),
    )
    async def add_hook(request: Request, caller: Caller = admin) -> dict[str, Any]:
        """Subscribe a URL to status events; the answer holds the HMAC secret, shown once."""
        data = parse_json(await request.body())
        url = data.get("url") if isinstance(data, dict) else None
        if not isinstance(url, str):
            raise InvalidInput("an http:// or https:// URL", field="url")
        hook = await written(lambda: add_webhook(store, url, system_clock()))
        accessed(caller, "webhook.add", "POST /v1/webhooks")
        return hook

    @app.get("/v1/webhooks", **operation(ref("Webhooks")))
    async def list_hooks(caller: Caller = admin) -> list[dict[str, Any]]:
        """Each hook with its next event and its latest delivery attempts (never the secret)."""
        return [
            {**hook, "attempts": store.webhook_attempts(hook["id"], limit=20)}
            for hook in store.webhooks()
        ]

    @app.delete("/v1/webhooks/{hook_id}", **operation(ref("Removed"), errors=(404,)))
    async def remove_hook(hook_id: str, caller: Caller = admin) -> dict[str, Any]:
        if not await written(lambda: store.remove_webhook(hook_id)):
            raise NotFound(f"no webhook {hook_id}", field="hook_id")
        accessed(caller, "webhook.remove", "DELETE /v1/webhooks/{id}")
        return {"removed": hook_id}

    def openapi_document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app, server_errors=_server_errors())
        return app.openapi_schema

    app.openapi = openapi_document  # type: ignore[method-assign]

    @app.get("/v1/openapi.json", include_in_schema=False)
    async def openapi(caller: Caller = viewer) -> dict[str, Any]:
        return app.openapi()

    @app.get("/metrics", **operation(TEXT, media="text/plain"))
    async def metrics(caller: Caller = admin) -> Response:
        verified = scrub.status(home.path)
        verify_last.set((verified["last_complete"] or 0) / 1000)
        verify_damage.set(verified["damage_total"])
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    return app


def _publish(ledger: Ledger, body: bytes) -> tuple[list[AeoRecord], PublishResult]:
    """Parse ``POST /v1/aeo``'s body (one record, or ``{"records": [...]}``) and publish it as
    one batch. Raises InvalidInput naming ``records[i].field``, or what ``publish`` raises."""
    data = parse_json(body)
    items = data.get("records") if isinstance(data, dict) and "records" in data else [data]
    if not isinstance(items, list) or not items or len(items) > MAX_BATCH:
        raise InvalidInput(f"send one record or 1 to {MAX_BATCH} in 'records'", field="records")
    records = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidInput("a record is a JSON object", field=f"records[{i}]")
        try:
            records.append(AeoRecord.from_dict(item))
        except InvalidInput as exc:
            raise InvalidInput(exc.reason, field=f"records[{i}].{exc.field}") from None
    return records, ledger.publish(records)
