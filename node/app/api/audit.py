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
from node.app.compose import Node
from node.core.canonical import parse_json
from node.core.clock import system_clock
from node.core.errors import InvalidInput, NotFound
from node.core.reports import actor_labels, readable_rows, rows_csv
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
    since: Annotated[str | None, Query(description=_SINCE, examples=[_WHEN])] = None,
    until: Annotated[str | None, Query(description=_UNTIL, examples=[_WHEN])] = None,
    partner: Annotated[str | None, Query(description=_PARTNER, examples=["UY"])] = None,
    actor: Annotated[str | None, Query(description=_ACTOR, examples=["key:019a00ccfe9d"])] = None,
    aeo_id: Annotated[
        str | None,
        Query(
            description="Only rows naming this AEO id.",
            examples=["BR000000001"],
            json_schema_extra={"pattern": ID_PATTERN},
        ),
    ] = None,
    action: Annotated[str | None, Query(description=_ACTION, examples=["deliver"])] = None,
    entry_seq: Annotated[
        int | None, Query(ge=0, le=MAX_INT, description=_ENTRY_SEQ, examples=[3])
    ] = None,
    repeats: Annotated[bool, Query(description=_REPEATS)] = True,
    after: Annotated[int, Query(ge=-1, le=MAX_INT, description=_AFTER)] = -1,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Rows per page.")] = 1000,
    format: Annotated[Literal["json", "csv"], Query(description=_FORMAT)] = "json",
    caller: Caller = auditor,
) -> dict[str, Any] | Response:
    """The access log, filtered, oldest first; JSON pages (``next`` for ``after``) or CSV.
    Each row keeps what its hash covers (``ts`` in ms, ``actor``) and adds ``time`` (ISO 8601
    UTC, milliseconds) and ``actor_label`` (the actor with its API key's label or member's
    name). A delivery row names the entry (``entry_origin``, ``entry_seq``), the SHA-256 of the
    view (``view_hash``) and, when it repeats an earlier delivery, that row (``repeat_of``)."""
    if partner is not None and actor is not None:
        raise InvalidInput("give partner or actor, not both", field="partner")
    await asyncio.to_thread(node.access.flush)
    rows = node.store.access_rows(
        since=None if since is None else as_of_ms(since, "since", day_end=False),
        until=None if until is None else as_of_ms(until, "until"),
        actor=f"peer:{partner.strip().upper()}" if partner else actor,
        aeo_id=None if aeo_id is None else check_id(aeo_id, "aeo_id"),
        action=action,
        entry_seq=entry_seq,
        repeats=repeats,
        after=after,
        limit=limit,
    )
    node.accessed(caller, "audit", "GET /v1/audit")
    readable = readable_rows(rows, labels_of(node))
    if format == "csv":
        return Response("".join(rows_csv(readable)), media_type="text/csv; charset=utf-8")
    return {"rows": readable, "next": rows[-1]["seq"] if len(rows) == limit else None}


def labels_of(node: Node) -> dict[str, str]:
    """Each actor's label on this node: API keys' labels, members' names."""
    members = {} if node.peers is None else {m.code: m.name for m in node.peers.membership.members}
    return actor_labels(node.store.api_keys(), members)


_WHEN = "2026-12-05T07:01:02.345Z"
_SINCE = "From this time on (ISO 8601; a date alone is its first instant, UTC)."
_UNTIL = "Before this time (ISO 8601, exclusive; a date alone means up to that day's end)."
_PARTNER = "Only this partner's accesses (a member code; the same as actor=peer:CODE)."
_ACTOR = (
    "Only this actor: key:<API key id>, peer:<member code> or cli:<os user>@<host>"
    " (not with partner)."
)
_ACTION = "Only this action: query, deliver, publish, status, agreement, erase, audit..."
_ENTRY_SEQ = "Only deliveries of this entry (its seq in the origin's log)."
_REPEATS = (
    "false leaves out deliveries that repeat an earlier one of the same view to the same"
    " partner (a pull after a push): one row per version and partner."
)
_AFTER = "The seq after which the page starts (the previous page's next)."
_FORMAT = "json (pages) or csv (one text, a header line first)."


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
