"""Path, query and header parameters as the OpenAPI document states them; the handlers check
them (``check_id``, ``Queries``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Path, Query
from pydantic import WithJsonSchema

from contracts.agreement import AGREEMENT_ID
from node.ledger.queries import ID_PATTERN

__all__ = ["MAX_INT", "AeoId", "AgreementId", "Cursor", "EventId", "Version"]

MAX_INT = 2**63 - 1  # SQLite's largest integer: a seq, an event id or a cursor beyond it is refused
AeoId = Annotated[str, Path(json_schema_extra={"pattern": ID_PATTERN})]
AgreementId = Annotated[str, Path(json_schema_extra={"pattern": AGREEMENT_ID.pattern})]
# Optional integers in a query: documented as integers (a query parameter is absent or a
# number, never null; FastAPI would write "integer or null").
Cursor = Annotated[
    int | None,
    Query(ge=0, le=MAX_INT),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_INT}),
]
Version = Annotated[
    int | None,
    Query(ge=1, le=MAX_INT),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_INT}),
]
_EVENT_ID = "^[0-9]{1,18}$"
EventId = Annotated[
    str | None,
    Header(alias="Last-Event-ID", pattern=_EVENT_ID),
    WithJsonSchema({"type": "string", "pattern": _EVENT_ID}),
]
