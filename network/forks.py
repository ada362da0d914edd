"""Fork evidence: two statements signed by one origin that cannot both be true.

Each log has one writer, so an origin that shows two histories is caught by comparing what it
signed. Two forms, both portable (anyone holding the origin's public key can check them, with
no access to any node):

- ``checkpoints``: a checkpoint of size m and one of size n >= m whose tree, by a consistency
  proof from the second, had a different root at size m (for m == n: two roots for one size);
- ``entries``: two different entries signed for the same sequence number.

The evidence is RFC 8785 JSON, so two nodes that find the same fork hold the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from network.wire import b64, unb64
from node.core import merkle
from node.core.canonical import canonical_json, parse_json
from node.core.checkpoint import Checkpoint, SignedNote, open_checkpoint
from node.core.crypto import PublicKey
from node.core.entries import EntryHeader, signing_message
from node.core.errors import IntegrityError, InvalidInput
from node.core.logs import log_name

__all__ = ["Fork", "checkpoint_fork", "entries_fork", "shown", "verify_fork"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Fork:
    origin: str
    kind: str
    evidence: bytes


def checkpoint_fork(
    origin: str, small: bytes, big: bytes, prefix_root: bytes, proof: list[bytes]
) -> Fork:
    """Evidence from checkpoint notes ``small`` (size m) and ``big`` (size n >= m), where
    ``prefix_root`` is the root at size m that ``proof`` shows ``big``'s tree to have had
    (for m == n pass an empty proof: the roots contradict each other directly)."""
    if small == big:
        raise InvalidInput("two different checkpoints are needed", field="checkpoints")
    pair = [small, big]
    if not proof:  # same size: the two roots contradict each other directly
        pair, prefix_root = sorted(pair), b""
    doc = {
        "kind": "checkpoints",
        "origin": origin,
        "small": pair[0].decode("utf-8"),
        "big": pair[1].decode("utf-8"),
        "prefix_root": prefix_root.hex(),
        "proof": [p.hex() for p in proof],
    }
    return Fork(origin=origin, kind="checkpoints", evidence=canonical_json(doc))


def entries_fork(origin: str, seq: int, a: tuple[bytes, bytes], b: tuple[bytes, bytes]) -> Fork:
    """Evidence from two (body, signature) pairs signed for the same ``seq``."""
    first, second = sorted([a, b])
    doc = {
        "kind": "entries",
        "origin": origin,
        "seq": seq,
        "a": {"body": b64(first[0]), "signature": b64(first[1])},
        "b": {"body": b64(second[0]), "signature": b64(second[1])},
    }
    return Fork(origin=origin, kind="entries", evidence=canonical_json(doc))


def shown(evidence: bytes) -> str:
    """What stored evidence shows, in words for an operator (it was verified when kept)."""
    try:
        doc = parse_json(evidence)
    except InvalidInput:
        return "evidence that cannot be read"
    if not isinstance(doc, dict):
        return "evidence that cannot be read"
    if doc.get("kind") == "entries":
        return f"two different entries signed for seq {doc.get('seq')}"
    if doc.get("kind") == "checkpoints":
        return "two checkpoints of its log that cannot both be true"
    return "evidence of an unknown kind"


def verify_fork(evidence: bytes, key_at: Callable[[int], PublicKey]) -> Fork:
    """Check evidence against the origin's key in force at each seq (``key_at``); returns it
    parsed. A checkpoint of size n is signed with the key in force at seq n - 1.

    Raises InvalidInput when malformed, IntegrityError ``not-a-fork`` when it proves nothing.
    """
    doc = parse_json(evidence)
    if not isinstance(doc, dict) or doc.get("kind") not in ("checkpoints", "entries"):
        raise InvalidInput("fork evidence of kind checkpoints or entries", field="kind")
    origin = doc.get("origin")
    if not isinstance(origin, str):
        raise InvalidInput("the origin's code", field="origin")
    if canonical_json(doc) != evidence:
        raise InvalidInput("fork evidence is RFC 8785 JSON", field="evidence")
    if doc["kind"] == "checkpoints":
        _check_checkpoints(doc, origin, key_at)
    else:
        _check_entries(doc, origin, key_at)
    return Fork(origin=origin, kind=doc["kind"], evidence=evidence)


def _check_checkpoints(
    doc: dict[str, Any], origin: str, key_at: Callable[[int], PublicKey]
) -> None:
    def opened(note: bytes) -> Checkpoint:
        size = Checkpoint.parse(SignedNote.parse(note).text).size
        return open_checkpoint(note, log_name(origin), key_at(max(0, size - 1)))

    try:
        small = opened(str(doc["small"]).encode())
        big = opened(str(doc["big"]).encode())
        prefix_root = bytes.fromhex(str(doc["prefix_root"])) or big.root
        proof = [bytes.fromhex(str(p)) for p in doc["proof"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"malformed checkpoint evidence: {exc}", field="evidence") from exc
    except IntegrityError as exc:
        raise IntegrityError("not-a-fork", f"a checkpoint not signed by {origin}") from exc
    _same_origin(origin, small, big)
    if small.size > big.size:
        raise InvalidInput("'small' is the checkpoint of the smaller size", field="small")
    if small.size == big.size:
        consistent = not proof and prefix_root == big.root
    else:
        consistent = merkle.verify_consistency(small.size, big.size, proof, prefix_root, big.root)
    if not consistent or prefix_root == small.root:
        raise IntegrityError("not-a-fork", "the two checkpoints do not contradict each other")


def _same_origin(origin: str, *checkpoints: Checkpoint) -> None:
    if any(c.origin != log_name(origin) for c in checkpoints):
        raise IntegrityError("not-a-fork", f"checkpoints of another log than {origin}'s")


def _check_entries(doc: dict[str, Any], origin: str, key_at: Callable[[int], PublicKey]) -> None:
    try:
        pairs = [
            (unb64(doc[k]["body"], f"{k}.body"), unb64(doc[k]["signature"], f"{k}.signature"))
            for k in ("a", "b")
        ]
        seq = int(doc["seq"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"malformed entries evidence: {exc}", field="evidence") from exc
    if pairs[0][0] == pairs[1][0]:
        raise IntegrityError("not-a-fork", "the same entry twice")
    for body, signature in pairs:
        header = EntryHeader.from_bytes(body)
        if header.origin != origin or header.seq != seq:
            raise IntegrityError("not-a-fork", "entries of another origin or position")
        if not key_at(seq).verify(signing_message(body), signature):
            raise IntegrityError("not-a-fork", f"an entry not signed by {origin}")
