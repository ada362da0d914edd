"""What an officer does in the web UI: change an own record's status (suspend, reinstate, revoke)
in two steps, and the dashboard.

A status change is a form on the record page (code, reason, effective date), reviewed on a
confirmation page, then written on confirmation. Both POSTs carry the session's CSRF token
(``Sessions.csrf``: an HMAC of the session token under a secret of this process) and need a
publisher key: without the token, or with a lesser key, the answer is a 403 problem page and
nothing is written. The change is checked exactly as the API's ``POST /v1/aeo/{aeo_id}/status``
checks it (``check_update``, then the ledger on the writer thread), is written on the node's
one writer thread, and is noted in the access log with the key as actor, action ``status``.
A refused change (a bad date, no reason, a transition the ledger refuses) is shown on the page
with the form as it was filled, and changes nothing.

The dashboard counts the own records by status and lists the latest status changes received
from partners (the ``events`` table), newest first, a page at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from network.problems import status_of
from node.core.errors import InvalidInput, MraError, NotFound
from node.core.records import Status, check_update
from node.core.status import TRANSITIONS, StatusCode
from node.host.access_log import AccessLog
from node.host.apikeys import Caller, Role
from node.ledger.queries import check_id
from node.ledger.trail import iso_time
from node.ledger.writer import Ledger, PublishResult
from node.store.open import NodeStore

__all__ = ["ACTIONS", "DASHBOARD_PAGE", "actions_for", "officer_routes", "today"]

# What the UI offers, in the order shown: the status each action sets, and its label.
ACTIONS: dict[StatusCode, str] = {
    StatusCode.SUSPENDED: "Suspend",
    StatusCode.VALID: "Reinstate",
    StatusCode.REVOKED: "Revoke",
}
DASHBOARD_PAGE = 20  # status changes received from partners, per page
STATUS_CHANNEL = "UI POST /ui/aeo/{aeo_id}/status"

Page = Callable[..., HTMLResponse]
SignedIn = Callable[[Request], Caller]
CsrfOk = Callable[[Request, str], bool]
Written = Callable[[Callable[[], PublishResult]], Awaitable[PublishResult]]


def actions_for(status: str) -> list[tuple[str, str]]:
    """The actions (status code, label) the UI offers for an own record now in ``status``:
    the transitions the table allows among ACTIONS."""
    try:
        allowed = TRANSITIONS[StatusCode(status)]
    except ValueError:
        return []
    return [(code.value, label) for code, label in ACTIONS.items() if code in allowed]


def officer_routes(
    app: FastAPI,
    *,
    store: NodeStore,
    origin: str,
    ledger: Ledger,
    written: Written,
    access: AccessLog,
    page: Page,
    signed_in: SignedIn,
    csrf_ok: CsrfOk,
) -> None:
    """Add the status change (``POST /ui/aeo/{aeo_id}/status``) and the dashboard
    (``GET /ui/dashboard``) to ``app``."""

    def refused(caller: Caller | None, detail: str) -> HTMLResponse:
        return page("problem.html", caller, 403, title="Forbidden", status=403, detail=detail)

    @app.post("/ui/aeo/{aeo_id}/status", include_in_schema=False)
    async def change_status(request: Request, aeo_id: str) -> Response:
        caller = signed_in(request)
        body = (await request.body()).decode(errors="replace")
        form = {name: values[0] for name, values in parse_qs(body).items()}
        # 1. The session's own token, or the request came from elsewhere: nothing is read.
        if not csrf_ok(request, form.get("csrf", "")):
            return refused(caller, "the form's CSRF token is missing or not this session's")
        # 2. Only a publisher key changes a status, as in the API.
        if not caller.allows(Role.PUBLISHER):
            return refused(caller, f"this key's role is {caller.role}; publisher is needed")
        filled = {name: form.get(name, "").strip() for name in ("code", "reason", "effective")}
        values: dict[str, Any] = {"aeo_id": aeo_id, "form": filled, "csrf": form.get("csrf")}
        try:
            # 3. The change checked as the ledger will check it.
            wanted = check_id(aeo_id, "aeo_id")
            found = store.current_record(wanted)
            if found is None or found[1].issuer != origin:
                raise NotFound(f"no own AEO {wanted} is held here", field="aeo_id")
            previous = found[1]
            new = previous.with_status(_status(filled))
            check_update(previous, new)
            values.update(current=previous.status.code.value, label=ACTIONS[new.status.code])
            if form.get("confirm") != "yes":
                return page("status_change.html", caller, **values)
            # 4. Confirmed: written on the writer thread (the ledger checks it again there),
            # then noted in the access log with the key as actor, as the API notes it.
            result = await written(lambda: ledger.publish([new]))
        except MraError as exc:
            values.setdefault("current", _current(store, aeo_id))
            return page("status_change.html", caller, status_of(exc), error=_said(exc), **values)
        if result.entries:
            access.record(caller.actor, "status", STATUS_CHANNEL, wanted)
            seq = result.entries[0].header.seq
            return RedirectResponse(f"/ui/aeo/{quote(wanted)}?changed={seq}", status_code=303)
        return RedirectResponse(f"/ui/aeo/{quote(wanted)}", status_code=303)

    @app.get("/ui/dashboard", include_in_schema=False)
    async def dashboard(request: Request, before: str = "") -> Response:
        caller = signed_in(request)
        until = int(before) if before.isdigit() else None
        # Counting scans the own records (about 75 ms at 100,000): off the event loop.
        counts, received = await asyncio.to_thread(
            lambda: (
                store.status_counts(origin),
                store.received_events(origin, before=until, limit=DASHBOARD_PAGE + 1),
            )
        )
        more = len(received) > DASHBOARD_PAGE
        received = received[:DASHBOARD_PAGE]
        shown = sorted({e["aeo_id"] for e in received})
        if shown:  # the records named are read, as a search that finds them is
            access.record(caller.actor, "query", "UI /ui/dashboard", *shown)
        return page(
            "dashboard.html",
            caller,
            counts=[(code.value, counts.get(code.value, 0)) for code in StatusCode],
            total=sum(counts.values()),
            received=[{**e, "time": iso_time(e["ts"])} for e in received],
            older=received[-1]["id"] if more else None,
            first=until is None,
        )


def _status(filled: dict[str, str]) -> Status:
    """The status the form asks for. Raises InvalidInput naming ``code``, ``reason`` or
    ``effective``."""
    code = filled["code"]
    if code not in {c.value for c in ACTIONS}:
        raise InvalidInput(f"one of {', '.join(c.value for c in ACTIONS)}", field="code")
    data = {"code": code, "reason": filled["reason"] or None, "effective": filled["effective"]}
    return Status.from_dict(data, field="")


def _said(exc: MraError) -> str:
    """What went wrong, naming the form's field (``status.code`` is the form's ``code``)."""
    if isinstance(exc, InvalidInput) and exc.field:
        return f"{exc.field.rsplit('.', 1)[-1]}: {exc.reason}"
    return str(exc)


def _current(store: NodeStore, aeo_id: str) -> str:
    found = store.current_record(aeo_id)
    return found[1].status.code.value if found is not None else ""


def today() -> str:
    """Today's date in UTC, the effective date the form proposes."""
    return datetime.now(UTC).date().isoformat()
