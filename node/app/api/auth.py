"""Who may call what: every endpoint needs an API key (``Authorization: Bearer`` or
``X-API-Key``) of a role at least the one it names (``viewer``, ``auditor``, ``publisher``,
``admin``), and reaches the opened node (``node.app.compose``) through ``opened``.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPBearer
from starlette.datastructures import Headers

from node.app.api.problems import AccessDenied
from node.app.compose import Node
from node.host.apikeys import Caller, Role, check_key

__all__ = [
    "API_KEY",
    "BEARER",
    "Opened",
    "admin",
    "auditor",
    "opened",
    "presented_key",
    "publisher",
    "role",
    "viewer",
]

# The two ways to present an API key, as security schemes (never raising: the API's own check
# answers a missing or bad key with its problem document).
BEARER = HTTPBearer(scheme_name="bearer", description="an API key", auto_error=False)
API_KEY = APIKeyHeader(
    name="X-API-Key", scheme_name="apiKey", description="an API key", auto_error=False
)


def opened(request: Request) -> Node:
    """The node the app serves (``node.app.api.app.build_app`` puts it in the app's state)."""
    return cast(Node, request.app.state.node)


async def _opened(request: Request) -> Node:
    # A coroutine, so that FastAPI calls it on the loop: a plain function dependency is run on
    # the thread pool, a round trip that cost queries by trader id a quarter of their rate.
    return opened(request)


Opened = Annotated[Node, Depends(_opened)]


def presented_key(headers: Headers) -> str:
    """The API key a request presents (``Authorization: Bearer`` or ``X-API-Key``), or ""."""
    bearer = headers.get("authorization", "").removeprefix("Bearer ").strip()
    return bearer or headers.get("x-api-key", "")


def role(needed: Role) -> Any:
    """A dependency that answers the caller with a key of role ``needed`` or above, and
    refuses anyone else (401 or 403, counted in ``mra_refusals``)."""

    # The two schemes are declared so that the document names both ways to present a key and
    # the role each operation needs; the key is read by presented_key, as on the fast path
    # (node.app.api.middleware.FastReads), so both paths accept exactly the same requests.
    async def check(
        request: Request,
        _bearer: Annotated[object, Depends(BEARER)],
        _header: Annotated[object, Depends(API_KEY)],
    ) -> Caller:
        refusals = opened(request).metrics.refusals
        key = presented_key(request.headers)
        if not key:
            refusals.labels("no-credentials").inc()
            raise AccessDenied(401, "an API key is required (Authorization: Bearer ...)")
        found = check_key(opened(request).store, key)
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
