"""Key rotation: an entry, signed with the origin's current key, that names the key which signs
the origin's entries from the next seq on.

Its payload is public (every member needs it to keep verifying the log), so it travels in
clear beside the entry, and anyone can check it against the entry's commitment. Entries signed
with a retired key stay verifiable: the key in force at each seq is kept (``keys`` table), and a
checkpoint of size n is signed with the key in force at seq n - 1.
"""

from __future__ import annotations

from typing import Any

from node.core.canonical import parse_json
from node.core.chain import check_payload
from node.core.crypto import PublicKey
from node.core.entries import EntryHeader, EntryKind
from node.core.errors import InvalidInput

__all__ = ["rotated_key", "rotation_document"]


def rotation_document(key: PublicKey) -> dict[str, Any]:
    """The payload of a rotation entry to ``key``."""
    return {"key": key.hex()}


def rotated_key(header: EntryHeader, salt: bytes, payload: bytes) -> PublicKey:
    """The key that the rotation entry ``header`` (opened by ``salt`` and ``payload``) names.

    Raises IntegrityError when the payload is not the committed one, InvalidInput when it is
    not a rotation document.
    """
    if header.kind != EntryKind.KEY_ROTATE:
        raise InvalidInput(f"{header.origin}#{header.seq} is not a key rotation", field="kind")
    check_payload(header, salt, payload)
    document = parse_json(payload)
    if not isinstance(document, dict) or set(document) != {"key"}:
        raise InvalidInput("a key rotation names one key", field="key")
    return PublicKey.from_hex(str(document["key"]))
