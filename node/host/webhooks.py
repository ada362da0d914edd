"""Status events pushed to national systems: webhooks signed with HMAC-SHA256, retried with
backoff, every attempt logged; and the event stream (server-sent events).

Events come from the ``events`` table, written in the same transaction as the change (an own
record published, or a partner's view received), so none is lost between the change and its
delivery. Each hook receives events in order, at least once: a hook that fails is retried with
exponential backoff, and the events after it wait, so a receiver never sees them out of order.

A receiver checks ``X-MRA-Signature: sha256=<hex>``, the HMAC-SHA256 under its secret of
``<X-MRA-Timestamp>.<body>``, and refuses a timestamp far from its clock (replays).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from node.core.canonical import canonical_json
from node.core.errors import InvalidInput
from node.ledger.trail import iso_time
from node.store.open import NodeStore

__all__ = [
    "MAX_BACKOFF",
    "WebhookDispatcher",
    "add_webhook",
    "event_document",
    "event_stream",
    "webhook_signature",
]

log = logging.getLogger("mra.webhooks")
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 300.0
BATCH = 100


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The value of ``X-MRA-Signature`` for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def event_document(row: dict[str, Any]) -> dict[str, Any]:
    """An event as sent: the record, its origin and entry, the status and the one before."""
    return {
        "id": row["id"],
        "type": "aeo.status",
        "time": iso_time(row["ts"]),
        "aeo_id": row["aeo_id"],
        "origin": row["origin"],
        "seq": row["seq"],
        "status": row["status"],
        "previous": row["previous"],
        "effective": row["effective"],
    }


def add_webhook(store: NodeStore, url: str, now: int) -> dict[str, str]:
    """Subscribe ``url``; returns its id and the HMAC secret (shown once)."""
    try:
        parts = urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and len(url) <= 2000
        # urlsplit drops tabs and line breaks silently; the URL stored must be the URL used.
        usable = usable and not any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url)
        parts.port  # noqa: B018 -- raises ValueError on a port out of range or not a number
    except ValueError:  # urlsplit refuses some URLs outright ("http://[")
        usable = False
    if not usable:
        raise InvalidInput("an http:// or https:// URL", field="url")
    hook_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    store.add_webhook(hook_id, url, secret, now)
    return {"id": hook_id, "url": url, "secret": secret}


@dataclass
class _Retry:
    event: int
    attempt: int
    due: float


class WebhookDispatcher:
    """Delivers pending events to every hook, in order, until stopped."""

    def __init__(
        self,
        store: NodeStore,
        clock: Callable[[], int],
        *,
        interval: float = 0.5,
        timeout: float = 10.0,
        first_backoff: float = FIRST_BACKOFF,
    ) -> None:
        self._store = store
        self._clock = clock
        self._interval = interval
        self._timeout = timeout
        self._first_backoff = first_backoff
        self._retries: dict[str, _Retry] = {}

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as client:
            while True:
                try:
                    await self.deliver_pending(client)
                except Exception:  # a storage hiccup must not end deliveries for good
                    log.exception("webhook round failed")
                await asyncio.sleep(self._interval)

    async def deliver_pending(self, client: httpx.AsyncClient) -> None:
        for hook in self._store.webhooks(with_secrets=True):
            await self._deliver(client, hook)

    async def _deliver(self, client: httpx.AsyncClient, hook: dict[str, Any]) -> None:
        retry = self._retries.get(hook["id"])
        if retry is not None and retry.due > time.monotonic():
            return
        events = self._store.events(after=hook["next_event"] - 1, limit=BATCH)
        for row in events:
            attempt = retry.attempt + 1 if retry and retry.event == row["id"] else 1
            body = canonical_json(event_document(row))
            timestamp = str(self._clock() // 1000)
            status, error = None, ""
            try:
                response = await client.post(
                    hook["url"],
                    content=body,
                    headers={
                        "content-type": "application/json",
                        "x-mra-event-id": str(row["id"]),
                        "x-mra-timestamp": timestamp,
                        "x-mra-signature": webhook_signature(hook["secret"], timestamp, body),
                    },
                )
                status = response.status_code
                if not 200 <= status < 300:
                    error = f"answered {status}"
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                # InvalidURL is not an HTTPError: a hook stored before URLs were checked as
                # they are now must fail alone, not stop the round for the hooks after it.
                error = f"{type(exc).__name__}: {exc}"[:300]
            # A durable write: on a worker thread, so that the event loop neither waits for
            # its fsync nor for a large append holding the database's write lock.
            await asyncio.to_thread(
                self._store.add_webhook_attempt,
                hook["id"],
                row["id"],
                attempt,
                self._clock(),
                status,
                error,
            )
            if error:
                backoff = min(MAX_BACKOFF, self._first_backoff * 2 ** (attempt - 1))
                self._retries[hook["id"]] = _Retry(row["id"], attempt, time.monotonic() + backoff)
                log.warning(
                    "webhook %s: event %s failed (%s), retry in %.0f s",
                    hook["id"],
                    row["id"],
                    error,
                    backoff,
                )
                return
            self._retries.pop(hook["id"], None)
            retry = None


async def event_stream(
    store: NodeStore, after: int, *, poll: float = 0.25, keepalive: float = 15.0
) -> AsyncIterator[bytes]:
    """Server-sent events: every event after ``after``, then new ones as they come (an event's
    ``id`` is what a client sends back as ``Last-Event-ID`` to resume)."""
    cursor, quiet = after, 0.0
    while True:
        rows = store.events(after=cursor, limit=BATCH)
        for row in rows:
            data = canonical_json(event_document(row)).decode()
            yield f"id: {row['id']}\nevent: aeo.status\ndata: {data}\n\n".encode()
            cursor = row["id"]
        if rows:
            quiet = 0.0
            continue
        await asyncio.sleep(poll)
        quiet += poll
        if quiet >= keepalive:
            quiet = 0.0
            yield b": keepalive\n\n"
