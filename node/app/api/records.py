"""Records: read one (``GET /v1/aeo/{aeo_id}``), find by an identifier (both also answered by
``FastReads``: ``fast_read``, ``fast_find``), query a batch, publish, and change a record's
status. Every record read or written is noted in the access log."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import WithJsonSchema
from starlette.datastructures import Headers

from node.app.api.auth import Opened, presented_key, publisher, viewer
from node.app.api.openapi import operation, ref
from node.app.api.params import AeoId
from node.app.compose import Node
from node.core.canonical import parse_json
from node.core.errors import InvalidInput, NotFound
from node.core.records import AEO_ID, AeoRecord, Status
from node.host.apikeys import Caller, Role, check_key
from node.ledger.queries import (
    DAY_PATTERN,
    SCHEME_PATTERN,
    Answer,
    as_of_instant,
    check_id,
    in_force_date,
)
from node.ledger.writer import Ledger, PublishResult

__all__ = ["MAX_BATCH", "fast_find", "fast_read", "router"]

MAX_BATCH = 10_000
router = APIRouter()
# The two clocks (node.core.clocks), as query parameters. The handlers check them, so that a
# bad one is a problem document naming it.
AsOf = Annotated[
    str | None,
    Query(
        description="ledger time: the version this node's ledger showed at this instant"
        " (ISO 8601 date or date-time, UTC unless it says otherwise; a date means its end)"
    ),
    WithJsonSchema({"type": "string"}),
]
InForceOn = Annotated[
    str | None,
    Query(
        description="legal time: the version whose status was in force on this date"
        " (YYYY-MM-DD), as now known, or as known at as_of when both are given"
    ),
    WithJsonSchema({"type": "string", "format": "date", "pattern": DAY_PATTERN}),
]


def _clocks(as_of: object, in_force_on: object) -> dict[str, Any]:
    """The clocks a query asked for, checked: InvalidInput names ``as_of`` or ``in_force_on``."""
    return {
        "as_of": None if as_of is None else as_of_instant(as_of),
        "in_force_on": None if in_force_on is None else in_force_date(in_force_on),
    }


def _not_held(aeo_id: str, in_force_on: str | None) -> NotFound:
    if in_force_on is None:
        return NotFound(f"no AEO {aeo_id} is held here", field="aeo_id")
    return NotFound(f"no AEO {aeo_id} in force on {in_force_on} is held here", field="aeo_id")


def fast_read(node: Node, headers: Headers, aeo_id: str) -> bytes | None:
    """``GET /v1/aeo/{aeo_id}``'s answer when it is the common case (a valid key, a record held
    here), or None: then the route answers (node.app.api.middleware.FastReads). An own
    record's document is its stored payload (``Queries.latest_one_shown``): the same bytes.
    The key and the record are read in one read transaction (one state, one lock)."""
    if not AEO_ID.fullmatch(aeo_id):
        return None
    with node.store.read_transaction():
        caller = _viewer(node, headers)
        shown = None if caller is None else node.queries.latest_one_shown(aeo_id)
    if caller is None or shown is None:
        return None
    body = orjson.dumps(shown)
    node.accessed(caller, "query", "GET /v1/aeo/{aeo_id}", aeo_id)
    return body


def fast_find(node: Node, headers: Headers, scheme: str, value: str) -> bytes | None:
    """``GET /v1/aeo?scheme=..&value=..``'s answer (neither clock, no evidence) by a valid
    key, or None: then the route answers (node.app.api.middleware.FastReads). Raises
    InvalidInput as the route does (the route then answers it). The key and the records are
    read in one read transaction, as ``fast_read`` does."""
    with node.store.read_transaction():
        caller = _viewer(node, headers)
        if caller is None:
            return None
        found = node.queries.latest_shown_by_identifier(scheme, value)
    body = orjson.dumps({"results": list(found.values())})
    if found:  # as the route logs them
        channel = f"GET /v1/aeo?scheme={scheme.strip().upper()}"
        node.accessed(caller, "query", channel, *found)
    return body


def _viewer(node: Node, headers: Headers) -> Caller | None:
    """The caller of the request's key when it may read records (the ``viewer`` role or
    above), or None (the route then refuses it with its problem document)."""
    caller = check_key(node.store, presented_key(headers))
    return caller if caller is not None and caller.allows(Role.VIEWER) else None


def _answered(node: Node, answer: Answer, evidence: bool) -> dict[str, Any]:
    shown = answer.to_dict()
    if evidence:
        from network.evidence import build_bundle

        view = None if answer.view is None else (node.config.origin, *answer.view)
        members = node.peers.membership if node.peers is not None else None
        shown["evidence"] = build_bundle(node.store, answer.origin, answer.seq, view, members)
    return shown


@router.get("/v1/aeo/{aeo_id}", **operation(ref("Answer"), errors=(404, 409)))
async def read_record(
    node: Opened,
    aeo_id: AeoId,
    evidence: bool = False,
    as_of: AsOf = None,
    in_force_on: InForceOn = None,
    caller: Caller = viewer,
) -> dict[str, Any]:
    """An own record in full, or the view of a partner's record this node received: the
    latest; as the ledger showed it at ``as_of``; the version in force on ``in_force_on``; or
    both. With ``evidence=true``, a bundle that proves it offline (docs/evidence.md)."""
    answer = node.queries.one(aeo_id, **_clocks(as_of, in_force_on))
    node.accessed(caller, "query", "GET /v1/aeo/{aeo_id}", check_id(aeo_id, "aeo_id"))
    if answer is None:
        raise _not_held(aeo_id, in_force_on)
    return _answered(node, answer, evidence)


@router.get("/v1/aeo", **operation(ref("Results"), errors=(409,)))
async def find_by_identifier(
    node: Opened,
    scheme: Annotated[str, Query(json_schema_extra={"pattern": SCHEME_PATTERN})],
    value: Annotated[str, Query(json_schema_extra={"minLength": 1, "maxLength": 64})],
    evidence: bool = False,
    as_of: AsOf = None,
    in_force_on: InForceOn = None,
    caller: Caller = viewer,
) -> dict[str, Any]:
    """Every record held of the trader with this identifier (e.g. scheme=EORI), each read at
    the clocks asked for, as ``GET /v1/aeo/{aeo_id}`` reads it."""
    found = node.queries.by_identifier(scheme, value, **_clocks(as_of, in_force_on))
    if found:  # the records found are logged, never the identifier searched for
        node.accessed(
            caller,
            "query",
            f"GET /v1/aeo?scheme={scheme.strip().upper()}",
            *(a.aeo_id for a in found),
        )
    return {"results": [_answered(node, a, evidence) for a in found]}


@router.post("/v1/aeo/query", **operation(ref("Found"), body="Query", errors=(409,)))
async def query_batch(node: Opened, request: Request, caller: Caller = viewer) -> Response:
    """``{"ids": [...], "evidence": false, "as_of": null, "in_force_on": null}``, up to 10,000
    ids: the answers found, and the ids answered as unknown (or not in force then)."""
    body = parse_json(await request.body())
    if not isinstance(body, dict) or not isinstance(body.get("ids"), list):
        raise InvalidInput("a JSON object with a list of AEO ids", field="ids")
    evidence = body.get("evidence", False)
    if not isinstance(evidence, bool):
        raise InvalidInput("true or false", field="evidence")
    clocks = _clocks(body.get("as_of"), body.get("in_force_on"))
    channel = "POST /v1/aeo/query"
    shown: dict[str, Any]
    if evidence or clocks["as_of"] is not None or clocks["in_force_on"] is not None:
        found, unknown = node.queries.many(body["ids"], **clocks)
        node.accessed(caller, "query", channel, *found, *unknown)
        shown = {aeo_id: _answered(node, a, evidence) for aeo_id, a in found.items()}
    else:  # the common case, the same answer: stored payloads served without a parse
        shown, unknown = node.queries.latest_shown(body["ids"])
        node.accessed(caller, "query", channel, *shown, *unknown)
    answers = {"found": shown, "unknown": unknown}
    # Up to 10,000 answers: encoded once, directly (the documents are plain JSON already).
    return Response(orjson.dumps(answers), media_type="application/json")


@router.post("/v1/aeo", **operation(ref("Published"), body="Publish", errors=(409,)))
async def publish(node: Opened, request: Request, caller: Caller = publisher) -> Response:
    body = await request.body()

    def work() -> bytes:
        # Parsing, validating, signing and writing up to 10,000 records, logging the
        # access and encoding the answer take seconds: all of it off the event loop.
        records, result = _publish(node.ledger, body)
        if result.entries:
            unchanged = set(result.unchanged)
            node.accessed(
                caller,
                "publish",
                "POST /v1/aeo",
                *(r.aeo_id for r in records if r.aeo_id not in unchanged),
            )
        done = [{"seq": e.header.seq, "kind": e.header.kind.value} for e in result.entries]
        return orjson.dumps({"appended": done, "unchanged": list(result.unchanged)})

    return Response(await node.written(work), media_type="application/json")


@router.post(
    "/v1/aeo/{aeo_id}/status", **operation(ref("Appended"), body="Status", errors=(404, 409))
)
async def change_status(
    node: Opened, aeo_id: AeoId, request: Request, caller: Caller = publisher
) -> dict[str, Any]:
    wanted = check_id(aeo_id, "aeo_id")
    found = node.store.current_record(wanted)
    if found is None:
        raise NotFound(f"no AEO {wanted} is held here", field="aeo_id")
    try:
        status = Status.from_dict(parse_json(await request.body()))
        record = found[1].with_status(status)
        result = await node.written(lambda: node.ledger.publish([record]))
    except InvalidInput as exc:
        raise _in_status_body(exc) from exc
    if result.entries:
        node.accessed(caller, "status", "POST /v1/aeo/{aeo_id}/status", wanted)
    return {"appended": [{"seq": e.header.seq, "kind": e.header.kind} for e in result.entries]}


def _in_status_body(exc: InvalidInput) -> InvalidInput:
    """``exc`` naming the field of the status body (``effective``), not of the record the
    status goes into (``records[0].status.effective``)."""
    field = exc.field or ""
    for prefix in ("records[0].", "records[0]", "status.", "status"):
        field = field.removeprefix(prefix)
    return type(exc)(exc.reason, field=field or None) if field != exc.field else exc


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
