"""The web UI's sessions: a random token per login, kept in this process only (a restart logs
everyone out), and the CSRF token of each session derived from it under a secret of this
process, so the node stores nothing more and a page from elsewhere cannot know it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field

from node.host.apikeys import Caller

__all__ = ["SESSION_COOKIE", "SESSION_SECONDS", "Sessions"]

SESSION_COOKIE = "mra_session"
SESSION_SECONDS = 8 * 3600
CSRF_TAG = b"mra-ledger/ui-csrf/v1\x00"


@dataclass
class Sessions:
    """Open UI sessions: token -> (API key id, role, expiry). Lost on restart (log in again)."""

    ttl: float = SESSION_SECONDS
    _open: dict[str, tuple[Caller, float]] = field(default_factory=dict)
    # Lost on restart with the sessions it protects.
    _secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def open(self, caller: Caller) -> str:
        token = secrets.token_urlsafe(32)
        self._open[token] = (caller, time.monotonic() + self.ttl)
        return token

    def caller(self, token: str | None) -> Caller | None:
        found = self._open.get(token or "")
        if found is None or found[1] < time.monotonic():
            self._open.pop(token or "", None)
            return None
        return found[0]

    def close(self, token: str | None) -> None:
        self._open.pop(token or "", None)

    def csrf(self, token: str | None) -> str:
        """The CSRF token of the session ``token``: an HMAC of it under this process's secret,
        so a page from elsewhere cannot know it, and the node keeps nothing more."""
        mac = hmac.new(self._secret, CSRF_TAG + (token or "").encode(), hashlib.sha256)
        return mac.hexdigest()

    def csrf_ok(self, token: str | None, presented: str) -> bool:
        """Whether ``presented`` is the CSRF token of the open session ``token``."""
        if self.caller(token) is None or not presented:
            return False
        return hmac.compare_digest(self.csrf(token), presented)
