"""What both stores compute alike from what they hold: the derived rows an entry yields
(a record version, an erasure, a purge), the check that a batch continues the log, and the check
of every payload served.

``SqliteStore`` writes these rows to its derived tables and ``MemoryStore`` keeps them in
containers; computing them here once is what makes the two answer alike.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from node.core.canonical import parse_json
from node.core.documents import Erasure, Purge
from node.core.entries import EntryHeader, EntryKind, payload_commitment
from node.core.errors import IntegrityError, WriteRaced
from node.core.records import AeoRecord
from node.store.protocols import AppendBatch, PendingAppend

__all__ = [
    "Version",
    "check_continues",
    "document_row",
    "record_of",
    "seqs_of",
    "served",
    "version_of",
    "version_row",
]

# A record version as the derived tables hold it: origin, seq, ts, aeo_id, status code,
# certificate, legal name, [(scheme, value)].
Version = tuple[str, int, int, str, str, str, str, list[tuple[str, str]]]


def version_row(header: EntryHeader, record: AeoRecord) -> Version:
    """The derived row of a record version appended now."""
    return (
        header.origin,
        header.seq,
        header.ts,
        record.aeo_id,
        record.status.code.value,
        record.certificate.value,
        record.legal_name,
        [(i.scheme.value, i.value) for i in record.identifiers],
    )


def version_of(header: dict[str, Any], payload: bytes) -> Version:
    """A version's derived row read straight from its signed header and payload: both were
    validated when written and the payload opens the header's commitment (verification checks
    that), so rebuilding needs no second validation, only the fields."""
    record = orjson.loads(payload)
    return (
        header["origin"],
        header["seq"],
        header["ts"],
        record["aeo_id"],
        record["status"]["code"],
        record["certificate"],
        record["legal_name"],
        [(i["scheme"], i["value"]) for i in record["identifiers"]],
    )


def document_row(header: EntryHeader, payload: bytes) -> tuple[str, tuple[Any, ...]] | None:
    """The ``erasures`` or ``purges`` row (table, row) of an erasure or purge entry, in the
    tables' column order; None for any other entry."""
    if header.kind is EntryKind.AEO_ERASE:
        erasure = Erasure.from_bytes(payload)
        return "erasures", (
            header.origin,
            header.seq,
            header.ts,
            erasure.aeo_id,
            erasure.basis.value,
            erasure.reason,
            ",".join(erasure.partners),
            int(erasure.origin_copy),
            json.dumps(list(erasure.entries)),
        )
    if header.kind is EntryKind.AEO_PURGE:
        purge = Purge.from_bytes(payload)
        return "purges", (
            header.origin,
            header.seq,
            header.ts,
            purge.origin,
            purge.aeo_id,
            purge.erasure,
            purge.reason,
            purge.views,
            json.dumps(list(purge.entries)),
        )
    return None


def seqs_of(batch: AppendBatch | PendingAppend) -> range:
    """The seqs ``batch`` appends (one gapless run of its log, from its first entry's)."""
    if isinstance(batch, PendingAppend):
        first = batch.headers[0].seq if batch.headers else 0
        return range(first, first + len(batch.headers))
    first = batch.entries[0].header.seq if batch.entries else 0
    return range(first, first + len(batch.entries))


def check_continues(batch: AppendBatch | PendingAppend, held: int) -> None:
    """Raise WriteRaced unless ``batch`` starts where the ``held`` entries of its log end (a
    concurrent writer on the same store got there first: the caller may build it again)."""
    seqs = seqs_of(batch)
    if seqs and seqs.start != held:
        raise WriteRaced(
            f"another writer appended to {batch.origin}'s log first (this batch starts at seq"
            f" {seqs.start}, the log now holds {held}); nothing was"
            " written: retry"
        )


def served(
    aeo_id: str, origin: str, seq: int, salt: bytes, payload: bytes, header: bytes
) -> tuple[str, int, bytes]:
    """The cheap check of every payload served: it opens its entry's commitment (one SHA-256)
    and is the record asked for (canonical JSON names it exactly so).

    Raises IntegrityError ``payload-mismatch`` otherwise (the store was changed underneath:
    nothing damaged is served)."""
    try:
        commitment = orjson.loads(header)["commitment"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        commitment = None
    intact = commitment == payload_commitment(bytes(salt), bytes(payload)).hex()
    if not intact or f'"aeo_id":"{aeo_id}"'.encode() not in payload:
        raise IntegrityError(
            "payload-mismatch",
            f"the payload held for {aeo_id} does not open its entry's commitment",
            origin=origin,
            seq=seq,
        )
    return origin, seq, bytes(payload)


def record_of(payload: bytes) -> AeoRecord:
    return AeoRecord.from_dict(parse_json(payload))
