"""The identifier lookup at the origin (``GET /v1/lookup``): which AEO of another member, if
any, holds a trader identifier, and its status, asked of that member directly over the peer
channel (``network.lookup`` says what it answers and why "not found" never says "no AEO").

For a partner that receives status-only views, which carry no identifiers, this is the way to
check a declared trader by EORI or TIN. The answer names who answered (``answered_by``), what
"not found" means (``not_found``, and ``detail`` in words), and each AEO with the view the
origin grants this node. Every lookup is noted in this node's access log (the AEOs named) and
in the origin's (a query by this node).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query

from network.lookup import NOT_FOUND
from node.app.api.auth import Opened, viewer
from node.app.api.openapi import operation, ref
from node.core.errors import Conflict, InvalidInput
from node.core.identifiers import lookup_key
from node.host.apikeys import Caller
from node.ledger.queries import SCHEME_PATTERN

__all__ = ["ORIGIN_PATTERN", "router"]

router = APIRouter()
ORIGIN_PATTERN = "^[A-Za-z]{2}$"
_ORIGIN = re.compile(ORIGIN_PATTERN)


@router.get("/v1/lookup", **operation(ref("Lookup"), errors=(404, 409, 429)))
async def lookup_at_origin(
    node: Opened,
    origin: Annotated[str, Query(json_schema_extra={"pattern": ORIGIN_PATTERN})],
    scheme: Annotated[str, Query(json_schema_extra={"pattern": SCHEME_PATTERN})],
    value: Annotated[str, Query(json_schema_extra={"minLength": 1, "maxLength": 64})],
    caller: Caller = viewer,
) -> dict[str, Any]:
    """Ask member ``origin`` which of its AEOs holding this identifier (``scheme`` EORI, TIN,
    CTPAT or OTHER; EORI and CTPAT values in any case) the agreements in force let this node
    see, with their status. ``not_found`` says what an empty ``found`` means. 503 when the
    origin cannot be reached; 429 (with Retry-After) when it asks this node to wait."""
    if not _ORIGIN.fullmatch(origin):
        raise InvalidInput("a member's two-letter country code", field="origin")
    asked = origin.upper()
    scheme, value = lookup_key(scheme, value)
    me = node.config.origin
    if asked == me:
        raise InvalidInput(
            f"{me} is this node: find its own records with GET /v1/aeo?scheme=&value=",
            field="origin",
        )
    if node.peers is None:
        raise Conflict("this node belongs to no network: there is no origin to ask", field="origin")
    answer = await node.peers.lookup_at(asked, scheme, value)
    found = answer["found"]
    node.accessed(  # the AEOs named, never the identifier (node.host.access_log)
        caller,
        "query",
        f"GET /v1/lookup?origin={asked}&scheme={scheme}",
        *(item["aeo_id"] for item in found),
    )
    reason = answer["not_found"]
    if reason is None:
        detail = f"{asked} answered: {len(found)} AEO(s) it shares with {me} hold this identifier"
    else:
        detail = NOT_FOUND[reason].format(origin=asked, partner=me)
    return {
        "origin": asked,
        "answered_by": asked,
        "scheme": scheme,
        "found": found,
        "not_found": reason,
        "detail": detail,
    }
