"""Ledger entries: the signed header that each origin appends to its own log, and its payload.

An entry header carries the format version, the origin, the sequence number (gapless from 0), the
hash of the previous header, a timestamp (milliseconds since the Unix epoch, never decreasing), a
kind and a salted commitment to the payload. It names no trader: identifiers live only in the
payload, which can be erased while the header, the chain and every Merkle proof still verify.

Byte layouts (each hash and signature input starts with a versioned tag, see ``node.core.crypto``):

- header bytes      = RFC 8785 canonical JSON of the header; stored exactly as signed
- signature         = Ed25519(origin key, "mra-ledger/entry-sig/v1" NUL || header bytes)
- entry hash        = SHA-256("mra-ledger/entry/v1" NUL || header bytes); the next ``prev``
- Merkle leaf data  = header bytes || signature (so the tree also commits to the signatures)
- commitment        = SHA-256("mra-ledger/payload/v1" NUL || salt || payload bytes)

The chain links headers rather than signed entries so that a batch can be signed in parallel: each
signature still covers a header that commits to the whole history before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from node.core.canonical import canonical_json, parse_json
from node.core.crypto import HASH_SIZE, SALT_SIZE, SIGNATURE_SIZE, Hash32, tagged_hash
from node.core.errors import InvalidInput

__all__ = [
    "AGREEMENT_KINDS",
    "DOCUMENT_KINDS",
    "ERASURE_KINDS",
    "FORMAT_VERSION",
    "GENESIS_PREV",
    "RECORD_KINDS",
    "EntryHeader",
    "EntryKind",
    "Payload",
    "SignedEntry",
    "entry_hash",
    "payload_commitment",
    "payload_matches",
    "signing_message",
]

FORMAT_VERSION = 1
GENESIS_PREV = Hash32(bytes(HASH_SIZE))
ENTRY_SIG_TAG = b"mra-ledger/entry-sig/v1\x00"
ORIGIN_PATTERN = re.compile(r"^[A-Z]{2}\Z")
MAX_SEQ = 2**53 - 1
_HEADER_FIELDS = frozenset({"v", "origin", "seq", "prev", "ts", "kind", "commitment"})


class EntryKind(StrEnum):
    """What an entry records."""

    AEO_UPSERT = "aeo.upsert"
    AEO_STATUS = "aeo.status"
    AEO_ERASE = "aeo.erase"  # the origin erases a record's payloads, here and at partners
    AEO_PURGE = "aeo.purge"  # a node deleted its copies of another origin's record
    AGREEMENT_PROPOSE = "agreement.propose"
    AGREEMENT_APPROVE = "agreement.approve"
    AGREEMENT_WITHDRAW = "agreement.withdraw"
    KEY_ROTATE = "key.rotate"
    ACCESS_ANCHOR = "access.anchor"  # the access log's head, so peers witness it (stays here)


AGREEMENT_KINDS = frozenset(
    {EntryKind.AGREEMENT_PROPOSE, EntryKind.AGREEMENT_APPROVE, EntryKind.AGREEMENT_WITHDRAW}
)
RECORD_KINDS = frozenset({EntryKind.AEO_UPSERT, EntryKind.AEO_STATUS})
ERASURE_KINDS = frozenset({EntryKind.AEO_ERASE, EntryKind.AEO_PURGE})
# Payloads that go whole (with their salt) to the nodes concerned, rather than as views.
DOCUMENT_KINDS = AGREEMENT_KINDS | ERASURE_KINDS


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryHeader:
    """The signed part of an entry. Invalid headers cannot be constructed."""

    version: int = FORMAT_VERSION
    origin: str
    seq: int
    prev: Hash32
    ts: int
    kind: EntryKind
    commitment: Hash32

    def __post_init__(self) -> None:
        for name in ("version", "seq", "ts"):
            if type(getattr(self, name)) is not int:
                raise InvalidInput("must be an integer", field=name)
        if self.version != FORMAT_VERSION:
            raise InvalidInput(f"unsupported entry format {self.version}", field="v")
        if not ORIGIN_PATTERN.fullmatch(self.origin):
            raise InvalidInput("origin must be an ISO 3166-1 alpha-2 code", field="origin")
        if not 0 <= self.seq <= MAX_SEQ:
            raise InvalidInput("seq must be between 0 and 2**53-1", field="seq")
        if len(self.prev) != HASH_SIZE:
            raise InvalidInput("prev must be a 32-byte hash", field="prev")
        if not 0 <= self.ts <= MAX_SEQ:
            raise InvalidInput("ts must be milliseconds since the epoch", field="ts")
        if len(self.commitment) != HASH_SIZE:
            raise InvalidInput("commitment must be a 32-byte hash", field="commitment")
        if self.seq == 0 and self.prev != GENESIS_PREV:
            raise InvalidInput("the first entry's prev must be all zeros", field="prev")

    def to_bytes(self) -> bytes:
        """The canonical bytes that are signed, hashed and stored: RFC 8785 JSON, written out
        directly (the hot path of every append). Every value is checked above to be an integer
        in the exact range or ASCII that needs no escaping, and the keys are in RFC 8785 order,
        so this equals ``canonical_json`` of the header object (a property test checks it)."""
        return (
            f'{{"commitment":"{self.commitment.hex()}","kind":"{self.kind.value}",'
            f'"origin":"{self.origin}","prev":"{self.prev.hex()}","seq":{self.seq},'
            f'"ts":{self.ts},"v":{self.version}}}'
        ).encode("ascii")

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": self.version,
            "origin": self.origin,
            "seq": self.seq,
            "prev": self.prev.hex(),
            "ts": self.ts,
            "kind": self.kind.value,
            "commitment": self.commitment.hex(),
        }

    @classmethod
    def from_bytes(cls, data: bytes) -> EntryHeader:
        """Parse stored or received header bytes; refuses anything not canonical.

        Raises InvalidInput naming the field when the bytes are not a valid canonical header.
        """
        obj = parse_json(data)
        if not isinstance(obj, dict):
            raise InvalidInput("an entry header is a JSON object", field="header")
        if set(obj) != _HEADER_FIELDS:
            extra = sorted(set(obj) - _HEADER_FIELDS)
            missing = sorted(_HEADER_FIELDS - set(obj))
            raise InvalidInput(f"unexpected fields {extra}, missing {missing}", field="header")
        header = cls(
            version=_int(obj, "v"),
            origin=_str(obj, "origin"),
            seq=_int(obj, "seq"),
            prev=_hash(obj, "prev"),
            ts=_int(obj, "ts"),
            kind=_kind(obj),
            commitment=_hash(obj, "commitment"),
        )
        # The parsed object re-encoded must be the very bytes given (no other spelling).
        if canonical_json(obj) != data:
            raise InvalidInput("entry header bytes are not canonical JSON", field="header")
        return header


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedEntry:
    """Header bytes exactly as signed, the signature, and the parsed header."""

    body: bytes
    signature: bytes
    header: EntryHeader = field(compare=False)

    def __post_init__(self) -> None:
        if len(self.signature) != SIGNATURE_SIZE:
            raise InvalidInput("an Ed25519 signature is 64 bytes", field="signature")

    @classmethod
    def parse(cls, body: bytes, signature: bytes) -> SignedEntry:
        return cls(body=body, signature=signature, header=EntryHeader.from_bytes(body))

    @property
    def hash(self) -> Hash32:
        return entry_hash(self.body)

    @property
    def leaf(self) -> bytes:
        """The Merkle leaf data of this entry."""
        return self.body + self.signature


@dataclass(frozen=True, slots=True, kw_only=True)
class Payload:
    """A payload with the salt that hides it inside the header's commitment."""

    salt: bytes = field(repr=False)
    body: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.salt) != SALT_SIZE:
            raise InvalidInput("a payload salt is 32 bytes", field="salt")

    @property
    def commitment(self) -> Hash32:
        return payload_commitment(self.salt, self.body)


def entry_hash(body: bytes) -> Hash32:
    """The hash that the next entry's ``prev`` names."""
    return tagged_hash("entry/v1", body)


def payload_commitment(salt: bytes, body: bytes) -> Hash32:
    """The salted commitment to a payload that an entry header carries."""
    return tagged_hash("payload/v1", salt, body)


def payload_matches(header: EntryHeader, salt: bytes, body: bytes) -> bool:
    """True when ``salt`` and ``body`` open the header's payload commitment."""
    return payload_commitment(salt, body) == header.commitment


def signing_message(body: bytes) -> bytes:
    """What the origin's key signs for an entry."""
    return ENTRY_SIG_TAG + body


def _int(obj: dict[str, Any], name: str) -> int:
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("must be an integer", field=name)
    return value


def _str(obj: dict[str, Any], name: str) -> str:
    value = obj[name]
    if not isinstance(value, str):
        raise InvalidInput("must be a string", field=name)
    return value


def _hash(obj: dict[str, Any], name: str) -> Hash32:
    text = _str(obj, name)
    if len(text) != 2 * HASH_SIZE or text != text.lower():
        raise InvalidInput("must be 64 lower-case hex digits", field=name)
    try:
        return Hash32(bytes.fromhex(text))
    except ValueError as exc:
        raise InvalidInput("must be 64 lower-case hex digits", field=name) from exc


def _kind(obj: dict[str, Any]) -> EntryKind:
    try:
        return EntryKind(_str(obj, "kind"))
    except ValueError as exc:
        raise InvalidInput(f"unknown entry kind {obj['kind']!r}", field="kind") from exc
