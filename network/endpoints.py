"""What this node answers its peers, as one route table (``ROUTES``).

Each route names its method, path, handler and what the API document says of it; the handler
takes this node's ``PeerEndpoints`` and a ``Call`` (the member asking, already identified by its
certificate, and its parameters and body, already read). ``node.app.api.peer`` mounts the table on
the node's HTTP app; ``answer`` dispatches through the same table in this process (the
simulation), and errors are answered as ``network.problems`` says in both.

    GET  /v1/peer/frontier        per origin: size, latest checkpoint, cosignatures; forks
    GET  /v1/peer/log/{origin}    a page of an origin's entries leading to a checkpoint
    GET  /v1/peer/deliveries      the deliveries of this node's entries sealed to the caller
    POST /v1/peer/push            the caller's new entries and deliveries, pushed
    POST /v1/peer/query           this node's records asked for directly
    POST /v1/peer/lookup          which of this node's AEOs the caller may see hold an identifier
    GET  /v1/peer/membership      the signed membership installed here, and the members'
                                  own updates held (``updates``)
    POST /v1/peer/member-update   a member's signed update of its own entry (a renewal, a move)
    GET  /v1/peer/forks           the open fork evidence held here
    GET  /v1/peer/held/{origin}   what is held here of the caller's own log from a seq: headers,
                                  views delivered and when (``network.held_tail``)
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from network.answers import PeerEndpoints
from network.governance import SignedUpdate
from network.problems import REFUSALS
from network.wire import checked_seq
from node.core.canonical import parse_json
from node.core.errors import Conflict, InvalidInput

__all__ = ["ROUTES", "Call", "Route", "answer"]


# -- the route table -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """One peer request as a handler sees it: who asks (a member), the path and query
    parameters (the query's integers parsed), and the JSON body of a route that takes one."""

    peer: str
    path: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, int] = field(default_factory=dict)
    body: Any = None


Handler = Callable[[PeerEndpoints, Call], Awaitable[Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """One peer endpoint: ``method`` and ``path`` (``{name}`` for a path parameter), the
    ``handler``, its integer ``query`` parameters with their defaults (None: required), and
    what the API document says of it: the operation ``name``, the ``answer`` and ``body``
    schemas (``node.app.api.schemas``) and the ``errors`` it may answer besides the common ones."""

    method: str
    path: str
    handler: Handler
    name: str
    answer: str
    query: tuple[tuple[str, int | None], ...] = ()
    body: str | None = None
    errors: tuple[int, ...] = ()

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{(\w+)\}", self.path))

    def matches(self, path: str) -> dict[str, str] | None:
        """The path parameters when ``path`` is this route's, else None."""
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        found = re.fullmatch(pattern, path)
        return None if found is None else found.groupdict()


async def _frontier(node: PeerEndpoints, call: Call) -> Any:
    node.heard(call.peer)
    return node.frontier(call.peer)


async def _log_page(node: PeerEndpoints, call: Call) -> Any:
    start = checked_seq(call.query["start"], "start")
    size = checked_seq(call.query["size"], "size")
    return node.log_page(call.path["origin"].upper(), start, size)


async def _deliveries(node: PeerEndpoints, call: Call) -> Any:
    return node.deliveries(call.peer, checked_seq(call.query["start"], "start"))


async def _push(node: PeerEndpoints, call: Call) -> Any:
    if not isinstance(call.body, dict):
        raise InvalidInput("a push is a JSON object", field="body")
    return await node.offload(partial(node.receive_push, call.peer, call.body))


async def _query(node: PeerEndpoints, call: Call) -> Any:
    body = call.body
    if not isinstance(body, dict) or not isinstance(body.get("ids"), list):
        raise InvalidInput("a JSON object with a list of AEO ids", field="ids")
    return node.query(call.peer, body["ids"], evidence=body.get("evidence") is True)


async def _lookup(node: PeerEndpoints, call: Call) -> Any:
    body = call.body
    if not isinstance(body, dict):
        raise InvalidInput("a JSON object with a scheme and a value", field="body")
    return node.lookup(call.peer, body.get("scheme"), body.get("value"))


async def _membership(node: PeerEndpoints, call: Call) -> Any:
    document = node.membership_file.document()
    updates = node.member_updates.document()
    return {**document, "updates": updates} if updates else document


async def _member_update(node: PeerEndpoints, call: Call) -> Any:
    signed = SignedUpdate.from_dict(call.body)
    refused = node.member_updates.take([signed], call.peer)
    if refused:
        raise Conflict(refused[0], field="update")
    held = node.peers.membership.member(signed.update.code)
    return {"revision": held.revision if held is not None else 0}


async def _forks(node: PeerEndpoints, call: Call) -> Any:
    return list(node.frontier(call.peer)["forks"])


async def _held(node: PeerEndpoints, call: Call) -> Any:
    return node.held(call.peer, call.path["origin"].upper(), call.query["start"])


ROUTES: tuple[Route, ...] = (
    Route(
        method="GET",
        path="/v1/peer/frontier",
        handler=_frontier,
        name="frontier",
        answer="PeerFrontier",
    ),
    Route(
        method="GET",
        path="/v1/peer/log/{origin}",
        handler=_log_page,
        name="log_page",
        answer="PeerLogPage",
        query=(("start", None), ("size", None)),
        errors=(404,),
    ),
    Route(
        method="GET",
        path="/v1/peer/deliveries",
        handler=_deliveries,
        name="deliveries",
        answer="PeerDeliveries",
        query=(("start", 0),),
    ),
    Route(
        method="POST",
        path="/v1/peer/push",
        handler=_push,
        name="push",
        answer="PeerPushAnswer",
        body="PeerPush",
        errors=(408, 409),
    ),
    Route(
        method="POST",
        path="/v1/peer/query",
        handler=_query,
        name="query",
        answer="PeerQueryAnswer",
        body="PeerQuery",
        errors=(408,),
    ),
    Route(
        method="POST",
        path="/v1/peer/lookup",
        handler=_lookup,
        name="lookup",
        answer="PeerLookupAnswer",
        body="PeerLookup",
        errors=(408, 429),
    ),
    Route(
        method="GET",
        path="/v1/peer/membership",
        handler=_membership,
        name="membership",
        answer="PeerMembership",
    ),
    Route(
        method="POST",
        path="/v1/peer/member-update",
        handler=_member_update,
        name="member_update",
        answer="PeerMemberUpdateAnswer",
        body="PeerMemberUpdate",
        errors=(409,),
    ),
    Route(
        method="GET", path="/v1/peer/forks", handler=_forks, name="peer_forks", answer="PeerForks"
    ),
    Route(
        method="GET",
        path="/v1/peer/held/{origin}",
        handler=_held,
        name="peer_held",
        answer="PeerHeld",
        query=(("start", 0),),
        errors=(403, 429),
    ),
)


def _route(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route of ``method`` and ``path``; raises HTTPException 404 or 405 as the API does."""
    found = [(route, params) for route in ROUTES if (params := route.matches(path)) is not None]
    for route, params in found:
        if route.method == method:
            return route, params
    raise HTTPException(405 if found else 404)


def _query_of(route: Route, given: Mapping[str, object]) -> dict[str, int]:
    """The route's integer query parameters from ``given``; raises RequestValidationError as
    the API's request validation does."""
    values: dict[str, int] = {}
    errors: list[dict[str, Any]] = []
    for name, default in route.query:
        raw = given.get(name, default)
        if raw is None:
            errors.append({"type": "missing", "loc": ("query", name), "msg": "Field required"})
            continue
        try:
            values[name] = int(str(raw))
        except ValueError:
            errors.append(
                {
                    "type": "int_parsing",
                    "loc": ("query", name),
                    "msg": "Input should be a valid integer, unable to parse string as an integer",
                }
            )
    if errors:
        raise RequestValidationError(errors)
    return values


async def answer(
    node: PeerEndpoints,
    peer: str,
    method: str,
    path: str,
    query: Mapping[str, object],
    body: bytes | None,
) -> Any:
    """What ``node`` answers member ``peer`` for one request, dispatched through ROUTES in this
    process; a refusal is counted and logged as the API counts it, and raised (answer it with
    ``network.problems.problem_of``)."""
    route, params = _route(method, path)  # a request no route takes is not counted
    try:
        values = _query_of(route, query)
        sent = parse_json(body or b"") if route.body is not None else None
        return await route.handler(node, Call(peer=peer, path=params, query=values, body=sent))
    except REFUSALS as exc:
        node.refuse(peer, f"{method} {route.path}", exc)
        raise
