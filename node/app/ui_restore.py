"""The web UI's page of a restored node's lost tail (``/ui/lost-tail``, admin keys): what each
peer holds of this node's log beyond what its database holds, seq by seq, as ``GET
/v1/lost-tail`` answers it (``network.held_tail``), asked of every peer when the page is
opened. A header no key of this node signed is shown as evidence against the peer that showed
it, never as part of the log. Each opening is noted in the access log (action ``lost-tail``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from node.app.ui_officer import Page
from node.host.access_log import AccessLog
from node.host.apikeys import Caller, Role
from node.ledger.trail import iso_time

__all__ = ["LOST_TAIL_CHANNEL", "restore_routes"]

LOST_TAIL_CHANNEL = "UI GET /ui/lost-tail"


def restore_routes(
    app: FastAPI,
    *,
    page: Page,
    signed_in: Callable[[Request, Role], Caller],
    report: Callable[[], Awaitable[dict[str, Any]]],
    access: AccessLog,
) -> None:
    """Add the lost-tail page to ``app``; ``report`` asks the peers (``held_report``)."""

    @app.get("/ui/lost-tail", include_in_schema=False)
    async def lost_tail(request: Request) -> Response:
        caller = signed_in(request, Role.ADMIN)
        access.record(caller.actor, "lost-tail", LOST_TAIL_CHANNEL)
        found = await report()
        return page("lost_tail.html", caller, **shown(found))


def shown(found: dict[str, Any]) -> dict[str, Any]:
    """The report as the page shows it: peers that answered and those that did not, and per
    lost seq its time as ISO 8601 and its views in peer order."""
    lost = [
        {
            **item,
            "time": "?" if item["ts"] is None else iso_time(item["ts"]),
            "signed_at": sorted(c for c, h in item["headers"].items() if h["signed_here"]),
            "views": [
                {**view, "peer": code, "received": iso_time(view["received_ts"])}
                for code, view in sorted(item["views"].items())
            ],
        }
        for item in found["lost"]
    ]
    return {
        "held_here": found["held_here"],
        "answered": sorted(c for c, said in found["peers"].items() if said == "answered"),
        "failed": {c: said for c, said in sorted(found["peers"].items()) if said != "answered"},
        "lost": lost,
    }
