"""Deliveries between nodes: what a partner receives of an entry's payload, sealed to it.

A delivery is either the payload itself with its salt (agreement documents, checked by the
recipient against the entry's commitment) or a *view* of an AEO record: the projection a
contract grants that partner. A commitment to the whole record cannot open a projection without
revealing the fields withheld, so the origin signs each view, bound to the entry hash and the
recipient; the recipient checks that signature with the origin's ledger key, and can show it to
anyone later. Every delivery is sealed (X25519 SealedBox) to the recipient's sealing key, so a
node that relays it cannot read it.

Byte layouts:

- view signature: see ``node.core.views``
- sealed delivery = SealedBox(recipient sealing key, RFC 8785 JSON of the delivery)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.public

from network.wire import b64, unb64
from node.core.canonical import canonical_json, parse_json
from node.core.crypto import SALT_SIZE
from node.core.errors import InvalidInput
from node.core.views import sign_view, verify_view

__all__ = [
    "Delivery",
    "open_delivery",
    "seal_delivery",
    "sign_view",
    "verify_view",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One entry's payload (``salt`` and ``payload``) or view (``view``, ``signature``)."""

    seq: int
    salt: bytes | None = None
    payload: bytes | None = None
    view: bytes | None = None
    signature: bytes | None = None
    agreements: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        full = self.salt is not None and self.payload is not None
        viewed = self.view is not None and self.signature is not None
        if full == viewed:
            raise InvalidInput("a delivery holds a payload or a signed view", field="delivery")
        if self.salt is not None and len(self.salt) != SALT_SIZE:
            raise InvalidInput("a payload salt is 32 bytes", field="salt")

    def to_bytes(self) -> bytes:
        doc: dict[str, Any] = {"seq": self.seq}
        if self.payload is not None and self.salt is not None:
            doc["salt"] = b64(self.salt)
            doc["payload"] = b64(self.payload)
        if self.view is not None and self.signature is not None:
            doc["view"] = b64(self.view)
            doc["signature"] = b64(self.signature)
            doc["agreements"] = list(self.agreements)
        return canonical_json(doc)

    @classmethod
    def from_bytes(cls, data: bytes) -> Delivery:
        """Parse an opened delivery; raises InvalidInput naming the field."""
        doc = parse_json(data)
        if not isinstance(doc, dict) or not isinstance(doc.get("seq"), int):
            raise InvalidInput("a delivery is an object with an integer seq", field="seq")
        agreements = doc.get("agreements", [])
        if not isinstance(agreements, list) or not all(isinstance(a, str) for a in agreements):
            raise InvalidInput("a list of agreement ids", field="agreements")
        return cls(
            seq=doc["seq"],
            salt=_optional(doc, "salt"),
            payload=_optional(doc, "payload"),
            view=_optional(doc, "view"),
            signature=_optional(doc, "signature"),
            agreements=tuple(agreements),
        )


def seal_delivery(delivery: Delivery, recipient_sealing_key: bytes) -> bytes:
    box = nacl.public.SealedBox(nacl.public.PublicKey(recipient_sealing_key))
    return bytes(box.encrypt(delivery.to_bytes()))


def open_delivery(sealed: bytes, sealing_key: nacl.public.PrivateKey) -> Delivery:
    """Open a delivery sealed to this node; raises InvalidInput when it cannot be opened."""
    try:
        plain = nacl.public.SealedBox(sealing_key).decrypt(sealed)
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
        raise InvalidInput("a delivery that is not sealed to this node", field="sealed") from exc
    return Delivery.from_bytes(plain)


def _optional(doc: dict[str, Any], name: str) -> bytes | None:
    return None if doc.get(name) is None else unb64(doc[name], name)
