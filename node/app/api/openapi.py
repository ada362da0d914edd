"""What the API's OpenAPI document says beyond what FastAPI infers from the handlers.

The keyword arguments that attach the schemas of ``node.app.api.schemas`` to a route
(``operation``), and ``document``, which completes FastAPI's document with the credentials and
the errors every operation can answer. The node serves it behind a key
(``GET /v1/openapi.json``), built once per app.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response

from node.app.api.auth import BEARER, viewer
from node.app.api.problems import PROBLEM, server_errors
from node.app.api.schemas import JSON, REF, SCHEMAS
from node.host.apikeys import Caller, Role

__all__ = [
    "CSV",
    "EVENTS",
    "JSON",
    "TEXT",
    "document",
    "operation",
    "ref",
    "router",
    "serve_document",
]

CSV = "text/csv"
EVENTS = "text/event-stream"
TEXT: Mapping[str, Any] = {"type": "string"}


def ref(name: str) -> dict[str, str]:
    """A reference to the component schema ``name``; raises KeyError for an unknown one."""
    if name not in SCHEMAS:
        raise KeyError(name)
    return {"$ref": REF + name}


_ERRORS = {
    401: "no API key, or an unknown or revoked one",
    403: "refused: the key's role is below the one needed, or a contract refuses it",
    404: "not held here",
    408: "the request body took longer to arrive than the node allows",
    409: "valid on its own, but not in the ledger's current state",
    413: "the body is over the size limit",
    422: "malformed input; `field` names the offending part",
    429: "too many requests for now: ask again after the seconds Retry-After says",
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": ref("Problem")}}}


def operation(
    answer: Mapping[str, Any],
    *,
    status: int = 200,
    media: str = JSON,
    also: Mapping[str, Any] | None = None,
    body: str | None = None,
    errors: Iterable[int] = (),
) -> dict[str, Any]:
    """Keyword arguments for a route decorator: the ``answer`` schema sent as ``media`` with
    ``status`` (``also``: other media types of that answer; for ``text/event-stream``, the
    schema of one event), the request ``body`` (a component name) and the ``errors`` this
    operation can answer besides the ones ``document`` adds to every operation."""
    # OpenAPI 3.2: itemSchema describes each item of a sequential media type (each event).
    key = "itemSchema" if media == EVENTS else "schema"
    responses: dict[int | str, Any] = {
        status: {"content": {media: {key: dict(answer)}, **(also or {})}},
        **{code: _problem(_ERRORS[code]) for code in errors},
    }
    extra = None
    if body is not None:
        extra = {"requestBody": {"required": True, "content": {JSON: {"schema": ref(body)}}}}
    kwargs: dict[str, Any] = {
        "response_model": None,
        "responses": responses,
        "openapi_extra": extra,
    }
    if media != JSON:
        kwargs["response_class"] = Response  # the handler sends its own; FastAPI adds no JSON
    return kwargs


def document(app: FastAPI, *, server_errors: Mapping[int, str]) -> dict[str, Any]:
    """The OpenAPI document of ``app``: FastAPI's, with the schemas above, and on every
    operation the problem documents it can answer: 401 and 403 for its credentials (an API key
    of the role its security requirement names, or a member certificate for the peer
    endpoints), 422 when it takes input, 413 when it takes a body, and ``server_errors``.

    Raises RuntimeError for an operation that needs no credentials: none may exist.
    """
    doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for fastapi_default in ("HTTPValidationError", "ValidationError"):
        schemas.pop(fastapi_default, None)
    schemas.update(SCHEMAS)
    components.setdefault("securitySchemes", {})["memberCertificate"] = {
        "type": "mutualTLS",
        "description": "a client certificate from the network CA naming another member",
    }
    for path, item in doc["paths"].items():
        for method, op in item.items():
            _credentials(op, f"{method.upper()} {path}")
            responses = op.setdefault("responses", {})
            if op.get("parameters") or "requestBody" in op:
                responses["422"] = _problem(_ERRORS[422])
            if "requestBody" in op:
                responses["413"] = _problem(_ERRORS[413])
            for code, why in server_errors.items():
                responses[str(code)] = _problem(why)
    return doc


def _credentials(op: dict[str, Any], label: str) -> None:
    responses = op.setdefault("responses", {})
    # OpenAPI 3.1 (Security Requirement Object): for schemes other than OAuth2, the list
    # names the roles needed.
    roles = {role for need in op.get("security", []) for role in need.get(BEARER.scheme_name, [])}
    if len(roles) == 1:
        role = Role(roles.pop())
        unauthorized = _problem(_ERRORS[401])
        unauthorized["headers"] = {"WWW-Authenticate": {"schema": {"const": "Bearer"}}}
        responses["401"] = unauthorized
        if role is not Role.VIEWER:
            responses["403"] = _problem(_ERRORS[403])
        op["description"] = (
            op.get("description", "") + f"\n\nNeeds an API key with role {role} or above."
        ).strip()
    elif "peer" in op.get("tags", ()):
        op["security"] = [{"memberCertificate": []}]
        responses["400"] = _problem("the message fails verification")
        responses["401"] = _problem("no client certificate")
        responses["403"] = _problem("the certificate names no other member of the network")
    else:
        raise RuntimeError(f"{label} names no credentials ({op.get('security')})")


def serve_document(app: FastAPI) -> None:
    """Make ``app.openapi()`` answer ``document``, built at the first call."""

    def built() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app, server_errors=server_errors())
        return app.openapi_schema

    app.openapi = built  # type: ignore[method-assign]


router = APIRouter()


@router.get("/v1/openapi.json", include_in_schema=False)
async def openapi(request: Request, caller: Caller = viewer) -> dict[str, Any]:
    answer: dict[str, Any] = request.app.openapi()
    return answer
