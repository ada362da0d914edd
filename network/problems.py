"""How errors are answered over HTTP, in one place: the status of each error class
(``node.core.errors`` draws the tree), the RFC 9457 problem document a refusal carries, and the
short reason a refused peer request is counted under.

The node's API (``node.app.api``) and the peer endpoints answer with these, on the real
server and in the simulation (``sim``) alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from node.core.errors import (
    Conflict,
    ContractRefused,
    IntegrityError,
    InvalidInput,
    MraError,
    NotFound,
    OwnLogBehind,
    OwnLogUnconfirmed,
    PeerMisbehaved,
    PeerThrottled,
    PeerUnavailable,
    StorageFailed,
    StorageFull,
    WriteRaced,
)

__all__ = [
    "REFUSALS",
    "RETRY_AFTER",
    "STATUS",
    "PeerDenied",
    "Problem",
    "problem_of",
    "refusal_detail",
    "refusal_reason",
    "status_of",
]

# The first class that matches wins: subclasses come before their parents.
STATUS: tuple[tuple[type[MraError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
    (ContractRefused, 403),
    (PeerMisbehaved, 400),
    (PeerThrottled, 429),
    (PeerUnavailable, 503),
    (IntegrityError, 500),
    (StorageFull, 507),
    (WriteRaced, 503),
    (OwnLogBehind, 503),
    (OwnLogUnconfirmed, 503),
    (StorageFailed, 503),
)
# The 503s that go away by themselves: when to ask again (RFC 9110 §10.2.3), in seconds.
RETRY_AFTER: tuple[tuple[type[MraError], str], ...] = ((WriteRaced, "1"), (OwnLogUnconfirmed, "5"))


class PeerDenied(Exception):
    """A peer request refused for who sent it; ``reason`` labels it in the refusal metric."""

    def __init__(self, status: int, detail: str, reason: str = "identity") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.reason = reason


# What a peer request can be refused with (the peer's fault); anything else is the node's.
REFUSALS = (PeerDenied, HTTPException, RequestValidationError, InvalidInput, PeerMisbehaved)


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """An error answer: the status, the problem document, and headers to add to it."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def status_of(exc: MraError) -> int:
    """The HTTP status of ``exc``: the first class of STATUS it is an instance of, else 500."""
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 500)


def _document(status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}


def problem_of(exc: Exception) -> Problem | None:
    """What the API answers for ``exc``; None for an exception that is a bug (a 500 without a
    document, as the server sends it)."""
    if isinstance(exc, PeerDenied):
        title = "Unauthorized" if exc.status == 401 else "Forbidden"
        return Problem(status=exc.status, body=_document(exc.status, title, exc.detail))
    if isinstance(exc, MraError):
        status = status_of(exc)
        named = getattr(exc, "field", None)
        extra = {"field": named} if named else {}
        # ``field`` names the field: the detail says what is wrong with it, without repeating it
        detail = exc.reason if isinstance(exc, InvalidInput) and named else str(exc)
        body = _document(status, type(exc).__name__, detail, **extra)
        retry = next((after for kind, after in RETRY_AFTER if isinstance(exc, kind)), None)
        if isinstance(exc, PeerThrottled):  # the peer's own Retry-After, passed on
            retry = str(exc.retry_after)
        return Problem(
            status=status, body=body, headers={} if retry is None else {"Retry-After": retry}
        )
    if isinstance(exc, RequestValidationError):
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        parts = [str(part) for part in errors[0]["loc"][1:]] if errors else []
        extra = {"field": ".".join(parts)} if parts else {}
        detail = "the request does not match the API"
        return Problem(
            status=422, body=_document(422, "InvalidInput", detail, **extra, errors=errors)
        )
    if isinstance(exc, HTTPException):
        body = _document(exc.status_code, "HTTP error", str(exc.detail))
        return Problem(status=exc.status_code, body=body, headers=dict(exc.headers or {}))
    return None


def refusal_reason(exc: BaseException) -> str:
    """A short label, from a fixed set, for why a peer request was refused."""
    if isinstance(exc, PeerDenied):
        return exc.reason
    if isinstance(exc, HTTPException):
        named = {408: "slow", 413: "too-large", 429: "rate-limited"}
        return named.get(exc.status_code, f"http-{exc.status_code}")
    if isinstance(exc, PeerMisbehaved):
        cause = exc.__cause__
        return cause.damage if isinstance(cause, IntegrityError) else "unverified"
    if isinstance(exc, NotFound):
        return "not-found"
    if isinstance(exc, Conflict):
        return "conflict"
    return "malformed"


def refusal_detail(exc: BaseException) -> str:
    """What a refusal says, for the log: bounded, on one line, and for a request that does not
    match the API only where it fails (never the values sent)."""
    if isinstance(exc, RequestValidationError):
        text = "; ".join(
            f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}" for e in exc.errors()
        )
    elif isinstance(exc, HTTPException):
        text = str(exc.detail)
    else:
        text = str(exc)
    return ascii(text[:300])
