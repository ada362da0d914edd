"""The gossip wire format in one place: how bytes travel inside the JSON that nodes exchange
(standard base64, RFC 4648 §4), how large a page may be, and how entries, hashes and sealed
deliveries are written into a page and read back out of one.

Pure: no store, no socket. What a node answers is built from these by ``network.endpoints``;
what it asks for is read with them by ``network.gossip``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from node.core.canonical import unb64
from node.core.entries import MAX_SEQ
from node.core.errors import InvalidInput
from node.store.protocols import StoredEntry

__all__ = [
    "MAX_REQUEST",
    "MAX_RESPONSE",
    "PAGE",
    "PAGE_BYTES",
    "WireEntry",
    "b64",
    "checked_seq",
    "delivery_item",
    "encoded_size",
    "entries_of",
    "hashes_of",
    "opened",
    "page_of",
    "sealed_of",
    "unb64",
    "wire_entry",
]

PAGE = 500
MAX_RESPONSE = 16 * 1024 * 1024  # what a node reads of a peer's answer
MAX_REQUEST = 8 * 1024 * 1024  # what a node reads of a peer's request body
# A page of entries, of deliveries, or a push of both holds at most PAGE items and about
# PAGE_BYTES of encoded bytes: it stops before the item that would pass the bound (one item is
# at most a record's 64 KiB, node.core.records.MAX_RECORD_BYTES, sealed and in base64), so every
# page is far below what a receiver reads (MAX_REQUEST, MAX_RESPONSE), however large the
# records of a backlog. A larger item than any record now allowed (published before the limit)
# still travels alone in a page of deliveries, and is left out of pushes.
PAGE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class WireEntry:
    """An entry as gossip carries it; a key rotation also carries its payload in clear."""

    body: bytes
    signature: bytes
    salt: bytes | None = None
    payload: bytes | None = None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def encoded_size(*parts: bytes | None) -> int:
    """Bytes that ``parts`` take in a JSON message: their base64 text, quoted, with a name and
    separators (an upper bound, counted without encoding anything)."""
    return sum(4 * ((len(p) + 2) // 3) + 16 for p in parts if p is not None)


def checked_seq(value: object, field: str) -> int:
    """A seq or a size as peers send it: an integer in [0, MAX_SEQ]; raises InvalidInput."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQ:
        raise InvalidInput(f"an integer in [0, {MAX_SEQ}]", field=field)
    return value


def opened(entry: StoredEntry, rotation: bool) -> tuple[bytes, bytes] | tuple[()]:
    """The salt and payload a page carries in clear: a key rotation's only (a public key)."""
    if rotation and entry.salt is not None and entry.payload is not None:
        return entry.salt, entry.payload
    return ()


def wire_entry(entry: StoredEntry, rotation: bool) -> dict[str, str]:
    """An entry as a page carries it: body and signature, and a key rotation's payload."""
    wire = {"body": b64(entry.body), "signature": b64(entry.signature)}
    clear = opened(entry, rotation)
    if clear:
        wire.update(salt=b64(clear[0]), payload=b64(clear[1]))
    return wire


def _objects(value: object, field: str, each: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The items of a list of at most PAGE JSON objects, numbered, one by one; raises
    InvalidInput naming ``field``, or the first item that is not an object (``each`` says
    what it should be) when the reader reaches it."""
    if not isinstance(value, list) or len(value) > PAGE:
        raise InvalidInput(f"a list of at most {PAGE} {field}", field=field)
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise InvalidInput(each, field=f"{field}[{i}]")
        yield i, item


def entries_of(value: object) -> list[WireEntry]:
    """The entries of a page or a push; raises InvalidInput naming the first bad one."""
    entries = []
    for i, entry in _objects(value, "entries", "an entry is {body, signature}"):
        clear = "payload" in entry
        entries.append(
            WireEntry(
                body=unb64(entry.get("body"), f"entries[{i}].body"),
                signature=unb64(entry.get("signature"), f"entries[{i}].signature"),
                salt=unb64(entry.get("salt"), f"entries[{i}].salt") if clear else None,
                payload=unb64(entry.get("payload"), f"entries[{i}].payload") if clear else None,
            )
        )
    return entries


def sealed_of(value: object) -> list[tuple[int, bytes]]:
    """The (seq, sealed box) deliveries of a page or a push; raises InvalidInput."""
    items = []
    for i, item in _objects(value, "deliveries", "a delivery has a seq and a sealed box"):
        seq = checked_seq(item.get("seq"), f"deliveries[{i}].seq")
        items.append((seq, unb64(item.get("sealed"), f"deliveries[{i}].sealed")))
    return items


def hashes_of(value: object, field: str) -> list[bytes]:
    """A list of at most 64 hex hashes (a Merkle proof); raises InvalidInput."""
    if not isinstance(value, list) or len(value) > 64:
        raise InvalidInput("a list of hashes", field=field)
    try:
        return [bytes.fromhex(str(h)) for h in value]
    except ValueError as exc:
        raise InvalidInput("hex hashes", field=field) from exc


def page_of(
    origin: str,
    start: int,
    entries: list[dict[str, str]],
    checkpoint: bytes,
    proof: list[bytes],
) -> dict[str, Any]:
    """A page of ``origin``'s log as it travels: entries from ``start`` leading to
    ``checkpoint``, with the consistency ``proof`` from ``start`` to it."""
    return {
        "origin": origin,
        "start": start,
        "entries": entries,
        "checkpoint": checkpoint.decode(),
        "proof": [p.hex() for p in proof],
    }


def delivery_item(seq: int, sealed: bytes) -> dict[str, Any]:
    """One delivery in a page or a push: the seq and the box sealed to the recipient."""
    return {"seq": seq, "sealed": b64(sealed)}
