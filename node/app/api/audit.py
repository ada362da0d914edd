"""What auditors and integrators read of what happened: a record's trail, the access log, the
status events (as pages, as server-sent events, and delivered to webhooks)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from node.app.api.auth import Opened, admin, auditor, viewer
from node.app.api.openapi import CSV, EVENTS, TEXT, operation, ref
from node.app.api.params import MAX_INT, AeoId, Cursor, EventId
from node.core.canonical import parse_json
from node.core.clock import system_clock
from node.core.errors import InvalidInput, NotFound
from node.core.reports import rows_csv
from node.host.apikeys import Caller
from node.host.webhooks import add_webhook, event_document, event_stream
from node.ledger.queries import ID_PATTERN, as_of_ms, check_id
from node.ledger.trail import record_trail

__all__ = ["router"]

router = APIRouter()


@router.get("/v1/aeo/{aeo_id}/trail", **operation(ref("Trail"), errors=(404,)))
async def trail(node: Opened, aeo_id: AeoId, caller: Caller = auditor) -> dict[str, Any]:
    """Every version of the record held here (signer, time, changed fields), every delivery
    of it to a partner and every query of it."""
    wanted = check_id(aeo_id, "aeo_id")
    await asyncio.to_thread(node.access.flush)  # the trail shows every access up to this one
    found = record_trail(node.store, wanted)
    node.accessed(caller, "audit", "GET /v1/aeo/{aeo_id}/trail", wanted)
    if found is None:
        raise NotFound(f"no AEO {aeo_id} is held here", field="aeo_id")
    return found


@router.get("/v1/audit", **operation(ref("AuditPage"), also={CSV: {"schema": TEXT}}))
async def audit_log(
    node: Opened,
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
    await asyncio.to_thread(node.access.flush)
    rows = node.store.access_rows(
        since=None if since is None else as_of_ms(since, "since", day_end=False),
        until=None if until is None else as_of_ms(until, "until"),
        actor=f"peer:{partner.strip().upper()}" if partner else actor,
        aeo_id=None if aeo_id is None else check_id(aeo_id, "aeo_id"),
        action=action,
        after=after,
        limit=limit,
    )
    node.accessed(caller, "audit", "GET /v1/audit")
    if format == "csv":
        return Response("".join(rows_csv(rows)), media_type="text/csv; charset=utf-8")
    return {"rows": rows, "next": rows[-1]["seq"] if len(rows) == limit else None}


@router.get("/v1/events", **operation(ref("Events")))
async def events(
    node: Opened,
    after: int = Query(0, ge=0, le=MAX_INT),
    limit: int = Query(100, ge=1, le=1000),
    caller: Caller = viewer,
) -> Any:
    """Status events (own records and partners' records received), oldest first."""
    return [event_document(row) for row in node.store.events(after=after, limit=limit)]


@router.get("/v1/events/stream", **operation(ref("ServerSentEvent"), media=EVENTS))
async def stream(
    node: Opened,
    after: Cursor = None,
    resume: EventId = None,
    caller: Caller = viewer,
) -> Any:
    """The same events as server-sent events, new ones as they happen; resumes after
    ``Last-Event-ID`` (or ``after``); without either, starts with the next event."""
    start = int(resume) if resume else after if after is not None else node.store.last_event_id()
    return StreamingResponse(
        event_stream(node.store, start),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache"},
    )


@router.post(
    "/v1/webhooks",
    status_code=201,
    **operation(ref("Webhook"), status=201, body="WebhookRequest"),
)
async def add_hook(node: Opened, request: Request, caller: Caller = admin) -> dict[str, Any]:
    """Subscribe a URL to status events; the answer holds the HMAC secret, shown once."""
    data = parse_json(await request.body())
    url = data.get("url") if isinstance(data, dict) else None
    if not isinstance(url, str):
        raise InvalidInput("an http:// or https:// URL", field="url")
    hook = await node.written(lambda: add_webhook(node.store, url, system_clock()))
    node.accessed(caller, "webhook.add", "POST /v1/webhooks")
    return hook


@router.get("/v1/webhooks", **operation(ref("Webhooks")))
async def list_hooks(node: Opened, caller: Caller = admin) -> list[dict[str, Any]]:
    """Each hook with its next event and its latest delivery attempts (never the secret)."""
    return [
        {**hook, "attempts": node.store.webhook_attempts(hook["id"], limit=20)}
        for hook in node.store.webhooks()
    ]


@router.delete("/v1/webhooks/{hook_id}", **operation(ref("Removed"), errors=(404,)))
async def remove_hook(node: Opened, hook_id: str, caller: Caller = admin) -> dict[str, Any]:
    if not await node.written(lambda: node.store.remove_webhook(hook_id)):
        raise NotFound(f"no webhook {hook_id}", field="hook_id")
    node.accessed(caller, "webhook.remove", "DELETE /v1/webhooks/{id}")
    return {"removed": hook_id}
