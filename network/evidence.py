"""Evidence bundles: an answer about an AEO record that anyone can check offline with only the
network's membership document (its members' public keys). The format is specified in
docs/evidence.md; this module builds bundles from a store and verifies them (pure).

A bundle proves, in this order: the origin's key at the entry's seq (from the membership key,
through the origin's rotation entries); the entry's signature; the record (a payload that opens
the entry's commitment) or the view the origin signed for one recipient; the entry's inclusion
in the origin's log at a checkpoint the origin signed; and which members cosigned that
checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from network.membership import Membership, key_history
from network.onboarding import own_rotations
from network.sealing import verify_view
from network.wire import b64, unb64
from node.core import merkle
from node.core.canonical import parse_json
from node.core.chain import check_payload, signature_valid
from node.core.checkpoint import Checkpoint, SignedNote, open_checkpoint, verify_cosignature
from node.core.crypto import PublicKey
from node.core.entries import SignedEntry
from node.core.errors import Conflict, IntegrityError, InvalidInput
from node.core.logs import log_name
from node.sqlite_store import SqliteStore
from node.tree import StoredTree

__all__ = ["FORMAT", "Verified", "build_bundle", "verify_bundle"]

FORMAT = "mra-evidence/v1"
FIELDS = {
    "format",
    "origin",
    "seq",
    "entry",
    "checkpoint",
    "cosignatures",
    "inclusion",
    "rotations",
}


def build_bundle(
    store: SqliteStore,
    origin: str,
    seq: int,
    view: tuple[str, bytes, bytes] | None = None,
) -> dict[str, Any]:
    """The bundle for entry ``origin#seq`` with its payload, or with ``view`` (recipient, view
    bytes, the origin's signature) for a partner's record, at the latest checkpoint held.

    Raises Conflict when no checkpoint held covers the entry yet (it will after the next sync).
    """
    entry = store.entry(origin, seq)
    if entry is None:
        raise Conflict(f"{origin}#{seq} is not held here", field="seq")
    note = store.latest_checkpoint(origin)
    size = _size(note) if note else 0
    if note is None or size <= seq:
        raise Conflict(f"no checkpoint of {origin} covers #{seq} here yet", field="seq")
    bundle: dict[str, Any] = {
        "format": FORMAT,
        "origin": origin,
        "seq": seq,
        "entry": {"body": b64(entry.body), "signature": b64(entry.signature)},
        "checkpoint": note.decode(),
        "cosignatures": store.cosignatures(origin, size),
        "inclusion": [h.hex() for h in StoredTree(store, origin).inclusion_proof(seq, size)],
        "rotations": {
            code: own_rotations(store, code)
            for code in {origin, *store.cosignatures(origin, size)}
            if len(store.keys(code)) > 1
        },
    }
    if view is not None:
        recipient, body, signature = view
        bundle["view"] = {"recipient": recipient, "body": b64(body), "signature": b64(signature)}
    elif entry.salt is not None and entry.payload is not None:
        bundle["payload"] = {"salt": b64(entry.salt), "body": b64(entry.payload)}
    else:
        raise Conflict(f"the payload of {origin}#{seq} is not held here", field="seq")
    return bundle


@dataclass(frozen=True, slots=True, kw_only=True)
class Verified:
    """What a valid bundle establishes."""

    origin: str
    seq: int
    checkpoint_size: int
    document: dict[str, Any]  # the record, or the view
    recipient: str | None  # None: the full record
    cosigners: tuple[str, ...]


def verify_bundle(bundle: Mapping[str, Any], membership: Membership) -> Verified:
    """Check a bundle against the members' keys: every part, every cosignature it lists.
    Raises IntegrityError naming what does not verify, InvalidInput for a malformed bundle."""
    if bundle.get("format") != FORMAT:
        raise InvalidInput(f"format must be {FORMAT!r}", field="format")
    shown = set(bundle) - FIELDS
    if set(bundle) - shown != FIELDS or len(shown) != 1 or shown - {"payload", "view"}:
        raise InvalidInput(f"a bundle has {sorted(FIELDS)} and a payload or a view", field="$")
    origin, seq = bundle.get("origin"), bundle.get("seq")
    if not isinstance(origin, str) or not isinstance(seq, int):
        raise InvalidInput("origin (text) and seq (integer)", field="origin")
    member = membership.member(origin)
    if member is None:
        raise IntegrityError("unknown-origin", f"{origin} is not a member of this network")
    rotations = _mapping(bundle["rotations"], "rotations")
    history = key_history(member, _list(rotations.get(origin, []), f"rotations.{origin}"))

    wire = _mapping(bundle.get("entry"), "entry")
    entry = SignedEntry.parse(
        unb64(wire.get("body"), "entry.body"), unb64(wire.get("signature"), "entry.signature")
    )
    if (entry.header.origin, entry.header.seq) != (origin, seq):
        raise IntegrityError("wrong-position", f"the entry is not {origin}#{seq}")
    if not signature_valid(entry.body, entry.signature, _key_at(history, seq)):
        raise IntegrityError("bad-signature", f"{origin}#{seq} is not signed by {origin}")

    recipient: str | None = None
    if "payload" in bundle:
        opened = _mapping(bundle["payload"], "payload")
        body = unb64(opened.get("body"), "payload.body")
        check_payload(entry.header, unb64(opened.get("salt"), "payload.salt"), body)
    else:  # the member check above leaves exactly one of payload and view
        viewed = _mapping(bundle["view"], "view")
        recipient = str(viewed.get("recipient"))
        body = unb64(viewed.get("body"), "view.body")
        signature = unb64(viewed.get("signature"), "view.signature")
        if not verify_view(_key_at(history, seq), entry.hash, recipient, body, signature):
            raise IntegrityError("view-signature", f"{origin} did not sign this view")
    document = parse_json(body)
    if not isinstance(document, dict):
        raise InvalidInput("the record or view is a JSON object", field="payload")

    note = str(bundle.get("checkpoint", "")).encode()
    size = _size(note)
    checkpoint = open_checkpoint(note, log_name(origin), _key_at(history, size - 1))
    try:
        proof = [bytes.fromhex(str(h)) for h in _list(bundle.get("inclusion"), "inclusion")]
    except ValueError:
        raise InvalidInput("hex hashes", field="inclusion") from None
    leaf = merkle.leaf_hash(entry.leaf)
    if not merkle.verify_inclusion(leaf, seq, checkpoint.size, proof, checkpoint.root):
        raise IntegrityError("inclusion", f"{origin}#{seq} is not in the checkpoint's tree")

    cosigners = []
    text = SignedNote.parse(note).text
    for witness, line in sorted(_mapping(bundle["cosignatures"], "cosignatures").items()):
        cosigner = membership.member(witness)
        if cosigner is None or witness == origin:
            raise IntegrityError("cosignature", f"{witness} is not a witness of {origin}")
        keys = key_history(cosigner, _list(rotations.get(witness, []), f"rotations.{witness}"))
        cosigned = SignedNote.parse(text + b"\n" + str(line).encode())
        if all(verify_cosignature(cosigned, log_name(witness), k) is None for _, k in keys):
            raise IntegrityError("cosignature", f"{witness}'s cosignature does not verify")
        cosigners.append(witness)
    return Verified(
        origin=origin,
        seq=seq,
        checkpoint_size=checkpoint.size,
        document=document,
        recipient=recipient,
        cosigners=tuple(cosigners),
    )


def _key_at(history: list[tuple[int, PublicKey]], seq: int) -> PublicKey:
    return [key for since, key in history if since <= seq][-1]


def _size(note: bytes) -> int:
    return Checkpoint.parse(SignedNote.parse(note).text).size


def _mapping(value: object, field: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput("a JSON object", field=field)
    return value


def _list(value: object, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput("a JSON array", field=field)
    return value
