"""API keys for the local API: ``mra_<id>_<secret>``, stored as SHA-256 of the secret only.

Roles, each including the ones before it: ``viewer`` (read), ``auditor`` (read and the audit
trail), ``publisher`` (publish AEO records and statuses), ``admin`` (agreements, keys, metrics).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from node.core.errors import InvalidInput
from node.store.open import NodeStore

__all__ = ["Caller", "Role", "check_key", "create_key"]


class Role(StrEnum):
    VIEWER = "viewer"
    AUDITOR = "auditor"
    PUBLISHER = "publisher"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who presented a valid key: named in the access log by the key's id, never its secret."""

    key_id: str
    role: Role

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}"

    def allows(self, needed: Role) -> bool:
        return self.role.allows(needed)


def _hash(secret: str) -> bytes:
    return hashlib.sha256(b"mra-ledger/api-key/v1\x00" + secret.encode()).digest()


def create_key(store: NodeStore, role: str, label: str, ts: int) -> str:
    """A new key with ``role``; the full key is returned once and never stored."""
    try:
        parsed = Role(role)
    except ValueError:
        raise InvalidInput(f"one of {', '.join(r.value for r in Role)}", field="role") from None
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    store.add_api_key(key_id, _hash(secret), parsed.value, label, ts)
    return f"mra_{key_id}_{secret}"


def check_key(store: NodeStore, presented: str) -> Caller | None:
    """The caller of a valid, unrevoked key; None otherwise (never says which part was
    wrong)."""
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != "mra" or not key_id or not secret:
        return None
    found = store.api_key(key_id)
    if found is None or not hmac.compare_digest(found[0], _hash(secret)):
        return None
    return Caller(key_id, Role(found[1]))
