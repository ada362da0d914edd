"""The operators' and auditors' web UI: server-rendered pages (Jinja2), behind the node's API keys.

A user logs in with an API key; the node keeps a session for it (a random token in an HttpOnly,
SameSite=Strict cookie; the key itself is never stored in the browser) and checks on every page
that the key is still valid and its role allows the page. Every form that changes something
carries the session's CSRF token (``node.app.ui_sessions``); what officers change is in
``node.app.ui_officer``. Pages read through the same paths as
the API: the record page through ``Queries`` and the trail, and every record shown is written to
the access log like an API read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from network.forks import shown as shown_fork
from node.app.ui_officer import Written, actions_for, officer_routes, today
from node.app.ui_restore import restore_routes
from node.app.ui_sessions import SESSION_COOKIE, SESSION_SECONDS, Sessions
from node.core.errors import InvalidInput, MraError
from node.core.reports import actor_labels, flatten, labelled
from node.host.access_log import AccessLog
from node.host.apikeys import Caller, Role, check_key
from node.host.home import NodeConfig
from node.ledger import agreements
from node.ledger.queries import (
    Answer,
    Queries,
    as_of_instant,
    check_id,
    in_force_date,
    log_states,
)
from node.ledger.trail import iso_time, record_trail
from node.ledger.writer import Ledger
from node.store.open import NodeStore

if TYPE_CHECKING:
    from network.service import NetworkService

__all__ = ["ui_routes"]

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
)
NOT_HELD = "not held here (unknown, or not shared with you)"
NETWORK_REFRESH_SECONDS = 10  # the network page reloads itself: peers, lag and forks change
QUERIES_PAGE = 50  # rows of a record page's queries table; "older" pages back


class _Redirect(Exception):
    def __init__(self, to: str) -> None:
        super().__init__(to)
        self.to = to


def ui_routes(
    app: FastAPI,
    *,
    store: NodeStore,
    config: NodeConfig,
    queries: Queries,
    access: AccessLog,
    peers: NetworkService | None,
    verification: Callable[[], dict[str, Any]],
    ledger: Ledger,
    written: Written,
    lost_tail: Callable[[], Awaitable[dict[str, Any]]],
) -> None:
    """Add the UI's pages to ``app``; status changes are written through ``written`` (the
    node's writer thread) with ``ledger``; ``lost_tail`` asks the peers for the lost-tail
    report (``node.app.ui_restore``)."""
    sessions = Sessions()

    def page(name: str, caller: Caller | None, code: int = 200, **values: Any) -> HTMLResponse:
        html = _templates.get_template(name).render(
            origin=config.origin, name=config.name, caller=caller, **values
        )
        return HTMLResponse(html, status_code=code)

    def signed_in(request: Request, needed: Role = Role.VIEWER) -> Caller:
        caller = sessions.caller(request.cookies.get(SESSION_COOKIE))
        # A key revoked after login ends its sessions at the next page.
        if caller is None or store.api_key(caller.key_id) is None:
            raise _Redirect("/ui/login")
        if not caller.allows(needed):
            raise _Redirect("/ui/")
        return caller

    def read(caller: Caller, channel: str, *ids: str) -> None:
        if ids:
            access.record(caller.actor, "query", channel, *ids)

    officer_routes(
        app,
        store=store,
        origin=config.origin,
        ledger=ledger,
        written=written,
        access=access,
        page=page,
        signed_in=signed_in,
        csrf_ok=lambda request, presented: sessions.csrf_ok(
            request.cookies.get(SESSION_COOKIE), presented
        ),
    )

    restore_routes(app, page=page, signed_in=signed_in, report=lost_tail, access=access)

    @app.exception_handler(_Redirect)
    async def redirect(request: Request, exc: _Redirect) -> Response:
        return RedirectResponse(exc.to, status_code=303)

    @app.get("/ui/login", include_in_schema=False)
    async def login_form(request: Request) -> Response:
        return page("login.html", None)

    @app.post("/ui/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode(errors="replace"))
        caller = check_key(store, (form.get("api_key") or [""])[0].strip())
        if caller is None:
            return page("login.html", None, 401, error="unknown or revoked API key")
        response = RedirectResponse("/ui/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            sessions.open(caller),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/ui",
        )
        return response

    @app.get("/ui/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        sessions.close(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/ui/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/ui")
        return response

    @app.get("/ui/", include_in_schema=False)
    async def overview(request: Request) -> Response:
        caller = signed_in(request)
        fresh = peers.freshness() if peers is not None else {}
        logs = log_states(store)
        forks = store.forks()
        return page(
            "overview.html",
            caller,
            forks=[
                {
                    "origin": f["origin"],
                    "shows": shown_fork(bytes(f["evidence"])),
                    "found": iso_time(f["found_ts"]),
                    "reported_by": f["reported_by"],
                }
                for f in forks
                if f["resolved_ts"] is None
            ],
            resolved=sum(1 for f in forks if f["resolved_ts"] is not None),
            refresh=NETWORK_REFRESH_SECONDS,
            now=iso_time(int(time.time() * 1000)),
            peers=fresh.get("peers", {}),
            lag=fresh.get("lag", {}),
            frozen=sorted(store.frozen_origins()),
            certificates=fresh.get("warnings", []),
            logs=logs,
            verification=verification(),
        )

    @app.get("/ui/search", include_in_schema=False)
    async def search(request: Request, q: str = "") -> Response:
        caller = signed_in(request)
        q = q.strip()
        if not q:
            return page("search.html", caller, q="", results=[])
        try:
            if ":" in q:
                scheme, _, value = q.partition(":")
                found = queries.by_identifier(scheme, value)
            else:
                answer = queries.one(check_id(q, "q"))
                if answer is not None:
                    read(caller, "UI search", answer.aeo_id)
                    raise _Redirect(f"/ui/aeo/{quote(answer.aeo_id)}")
                found = []
        except InvalidInput as exc:
            return page("search.html", caller, 422, q=q, results=[], error=_said(exc))
        read(caller, "UI search", *(a.aeo_id for a in found))
        return page("search.html", caller, q=q, results=[_row(a) for a in found])

    @app.get("/ui/aeo/{aeo_id}", include_in_schema=False)
    async def record(
        request: Request,
        aeo_id: str,
        in_force_on: str = "",
        as_of: str = "",
        changed: str = "",
        queries_before: str = "",
    ) -> Response:
        caller = signed_in(request)
        # The two clocks (node.core.clocks); an empty form field means "not asked".
        clocks = {"in_force_on": in_force_on.strip(), "as_of": as_of.strip()}
        try:
            wanted = check_id(aeo_id, "aeo_id")
            on = in_force_date(clocks["in_force_on"]) if clocks["in_force_on"] else None
            at = as_of_instant(clocks["as_of"]) if clocks["as_of"] else None
            before = _row_number(queries_before, "queries_before")
        except InvalidInput as exc:
            return page("search.html", caller, 422, q=aeo_id, results=[], error=_said(exc))
        answer = queries.one(wanted, at, on)
        read(caller, "UI /ui/aeo/{aeo_id}", wanted)
        if answer is None:
            when = f" in force on {on.isoformat()}" if on else ""
            when += f" as the ledger showed it at {clocks['as_of']}" if at is not None else ""
            return page(
                "search.html",
                caller,
                404,
                q=wanted,
                results=[],
                error=f"{wanted}{when}: {NOT_HELD}",
            )
        verified, problem = _verify(store, config.origin, answer, peers)
        trail = None
        asked: list[dict[str, Any]] = []
        labels: dict[str, str] = {}
        if caller.allows(Role.AUDITOR):
            await asyncio.to_thread(access.flush)
            trail = record_trail(store, wanted, queries=False)
            # Newest first, a page at a time: a busy record has been queried thousands of times.
            asked = store.access_rows(
                aeo_id=wanted,
                action="query",
                before=before,
                newest_first=True,
                limit=QUERIES_PAGE + 1,
            )
            members = {} if peers is None else {m.code: m.name for m in peers.membership.members}
            labels = actor_labels(store.api_keys(), members)
        status = answer.document.get("status", {})
        code = status.get("code") if isinstance(status, dict) else ""
        # An officer acts on the current state of an own record, never on a past one.
        acting = (
            caller.allows(Role.PUBLISHER)
            and answer.view is None
            and answer.origin == config.origin
            and not any(clocks.values())
        )
        return page(
            "record.html",
            caller,
            aeo_id=wanted,
            record_origin=answer.origin,
            seq=answer.seq,
            own=answer.view is None,
            agreements=answer.agreements,
            status=code,
            fields=[
                (name, _shown(value)) for name, value in sorted(flatten(answer.document).items())
            ],
            verified=verified,
            problem=problem,
            trail=trail,
            clocks=clocks,
            who=lambda actor: labelled(actor, labels),
            shown=_shown,
            acting=acting,
            actions=actions_for(str(code)) if acting else [],
            csrf=sessions.csrf(request.cookies.get(SESSION_COOKIE)),
            today=today(),
            changed=changed if changed.isdigit() else "",
            queries=[{**q, "time": iso_time(q["ts"])} for q in asked[:QUERIES_PAGE]],
            queries_page=QUERIES_PAGE,
            older=_older(request, asked[QUERIES_PAGE - 1]["seq"])
            if len(asked) > QUERIES_PAGE
            else "",
            newest=_older(request, None) if before is not None else "",
        )

    @app.get("/ui/agreements", include_in_schema=False)
    async def agreement_list(request: Request) -> Response:
        caller = signed_in(request)
        members = peers.member_codes() if peers is not None else None
        rows = [
            {
                "phase": state.phase.value,
                "state": agreements.shown_state(state.phase.value, state.current, members),
                **state.current.to_dict(),
            }
            for _, state in sorted(agreements.states(store).items())
            if state.current is not None
        ]
        return page("agreements.html", caller, agreements=rows)


def _row(answer: Answer) -> dict[str, Any]:
    document = answer.document
    status = document.get("status", {})
    return {
        "aeo_id": answer.aeo_id,
        "origin": answer.origin,
        "status": status.get("code", "") if isinstance(status, dict) else "",
        "certificate": document.get("certificate", ""),
        "name": document.get("legal_name", ""),
    }


def _verify(
    store: NodeStore, me: str, answer: Answer, peers: NetworkService | None
) -> tuple[Any, str | None]:
    """The record's evidence bundle, checked as an outsider would check it, against the
    network's public keys."""
    if peers is None:
        return None, "this node is in no network: there are no members' keys to check against"
    from network.evidence import build_bundle, verify_bundle

    view = None if answer.view is None else (me, *answer.view)
    try:
        bundle = build_bundle(store, answer.origin, answer.seq, view, peers.membership)
        return verify_bundle(bundle, peers.membership), None
    except MraError as exc:
        return None, str(exc)


def _shown(value: object) -> str:
    """A field's value as a person reads it (identifiers as ``SCHEME value``)."""
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(
            f"{v.get('scheme')} {v.get('value')}" if isinstance(v, dict) else str(v) for v in value
        )
    return str(value)


def _row_number(text: str, field: str) -> int | None:
    """A page's starting row from the query string: none when empty. Raises InvalidInput
    naming ``field`` for anything but a whole number."""
    text = text.strip()
    if not text:
        return None
    if not text.isdecimal() or len(text) > 18:
        raise InvalidInput(f"a row number, 0 or more, not {text[:20]!r}", field=field)
    return int(text)


def _older(request: Request, before: int | None) -> str:
    """This page's address with the queries table starting below row ``before`` (None: the
    newest rows), the other parameters kept."""
    params = {
        k: v for k, v in request.query_params.items() if k not in ("queries_before", "changed")
    }
    if before is not None:
        params["queries_before"] = str(before)
    return (
        f"{request.url.path}?{urlencode(params)}#queries"
        if params
        else f"{request.url.path}#queries"
    )


def _said(exc: InvalidInput) -> str:
    return f"{exc.field}: {exc.reason}" if exc.field else exc.reason
