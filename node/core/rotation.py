"""Key rotation: an entry, signed with the origin's current key, that names the key which signs
the origin's entries from the next seq on.

Its payload is public (every member needs it to keep verifying the log), so it travels in
clear beside the entry, and anyone can check it against the entry's commitment. Entries signed
with a retired key stay verifiable: the key in force at each seq is kept (``keys`` table), and a
checkpoint of size n is signed with the key in force at seq n - 1.

A **compromise rotation** (issue 24, point 5) is a rotation whose payload also names
``revoked_from``: the seq from which the key it replaces (the key that signs the rotation) must
no longer be trusted, at most the rotation's own seq, and ``proof``: the new key's signature over
``mra-ledger/key-compromise/v1`` NUL and the canonical ``{"key", "origin", "revoked_from"}``, so
that a rotation cannot name a key its author does not hold. The old key's signature on the
rotation itself is its last act: it stays valid, and everything else it signs at or past
``revoked_from`` is refused (``node.core.walk.Revocation``). A plain rotation's payload is, as
before, ``{"key"}`` alone.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from node.core.canonical import canonical_json, parse_json
from node.core.chain import check_payload
from node.core.crypto import PublicKey, SigningKey
from node.core.entries import EntryHeader, EntryKind
from node.core.errors import InvalidInput
from node.core.walk import Revocation

__all__ = [
    "COMPROMISE_TAG",
    "Rotated",
    "compromise_document",
    "open_rotation",
    "rotated_key",
    "rotation_document",
]

COMPROMISE_TAG = b"mra-ledger/key-compromise/v1\x00"
PLAIN = frozenset({"key"})
COMPROMISE = frozenset({"key", "revoked_from", "proof"})


def rotation_document(key: PublicKey) -> dict[str, Any]:
    """The payload of a rotation entry to ``key``."""
    return {"key": key.hex()}


def _proof_message(origin: str, key: PublicKey, revoked_from: int) -> bytes:
    statement = {"key": key.hex(), "origin": origin, "revoked_from": revoked_from}
    return COMPROMISE_TAG + canonical_json(statement)


def compromise_document(origin: str, key: SigningKey, revoked_from: int) -> dict[str, Any]:
    """The payload of a compromise rotation of ``origin`` to ``key``: the key signing the
    rotation must not be trusted from ``revoked_from`` on. Signed (``proof``) by ``key``."""
    proof = key.sign(_proof_message(origin, key.public_key, revoked_from))
    return {
        "key": key.public_key.hex(),
        "proof": base64.b64encode(proof).decode(),
        "revoked_from": revoked_from,
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class Rotated:
    """What a rotation entry at ``seq`` says: ``key`` signs from ``seq`` + 1; with
    ``revoked_from``, the key before it is revoked from that seq (a compromise)."""

    seq: int
    key: PublicKey
    revoked_from: int | None = None

    def revocation(self, old: PublicKey) -> Revocation | None:
        """The revocation of ``old`` (the key that signed this rotation) it makes, if any."""
        if self.revoked_from is None:
            return None
        return Revocation(key=old, since=self.revoked_from, rotation=self.seq)


def open_rotation(header: EntryHeader, salt: bytes, payload: bytes) -> Rotated:
    """What the rotation entry ``header`` (opened by ``salt`` and ``payload``) says.

    Raises IntegrityError when the payload is not the committed one, InvalidInput when it is
    not a rotation document (plain or compromise), when ``revoked_from`` is not in 0..seq, or
    when the new key's ``proof`` does not verify.
    """
    if header.kind != EntryKind.KEY_ROTATE:
        raise InvalidInput(f"{header.origin}#{header.seq} is not a key rotation", field="kind")
    check_payload(header, salt, payload)
    document = parse_json(payload)
    if not isinstance(document, dict) or set(document) not in (PLAIN, COMPROMISE):
        raise InvalidInput(
            "a key rotation names one key (and, for a compromise, revoked_from and proof)",
            field="key",
        )
    key = PublicKey.from_hex(str(document["key"]))
    if set(document) == PLAIN:
        return Rotated(seq=header.seq, key=key)
    revoked_from = document["revoked_from"]
    if type(revoked_from) is not int or not 0 <= revoked_from <= header.seq:
        raise InvalidInput(
            f"revoked_from is a seq in 0..{header.seq} (the rotation's own)", field="revoked_from"
        )
    try:
        proof = base64.b64decode(str(document["proof"]), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("base64 of the new key's signature", field="proof") from None
    if not key.verify(_proof_message(header.origin, key, revoked_from), proof):
        raise InvalidInput("the new key did not sign this compromise rotation", field="proof")
    return Rotated(seq=header.seq, key=key, revoked_from=revoked_from)


def rotated_key(header: EntryHeader, salt: bytes, payload: bytes) -> PublicKey:
    """The key that the rotation entry ``header`` (opened by ``salt`` and ``payload``) names.

    Raises like ``open_rotation``."""
    return open_rotation(header, salt, payload).key
