"""Evidence bundles: an answer about an AEO record that anyone can check offline with only the
network's membership document (its members' public keys). The format, ``mra-evidence/v2``, is
specified in docs/evidence.md; this module builds bundles from a store and verifies them (the
verification is pure). Who must sign lives in ``network.evidence_keys``; reading a file
strictly and checking an API answer against its bundle in ``network.evidence_input``.

Verification, in the numbered steps of docs/evidence.md (step 1, reading the file strictly and
telling a bundle from an answer, is ``network.evidence_input``; step 9 is ``verify_answer``):

2. shape: the members, the origin a member, ``seq`` an integer;
3. the checkpoint: three lines of text, exactly one signature line;
4. the origin's keys: its rotations below size - 1, each signed by the key before it and
   included in the checkpoint's tree, every rotation the membership carries among them; the
   compromise rotations among these and among all the membership carries revoke keys;
5. the checkpoint's signature, by the key in force at its size - 1, not revoked there;
6. the entry's signature, by the key in force at ``seq``, not revoked there (one step of the
   core's chain walk), and its inclusion;
7. the record (opens the commitment) or the view (signed for a member other than the origin);
8. the cosignatures: each by a member other than the origin, under its key in force at the
   cosignature's time, never a key a compromise rotation revoked (a cosignature's time is
   the signer's word, so a leaked key could date one before its revocation); at least
   ``quorum`` distinct cosigners;
9. an answer's ``origin``, ``seq`` and record or view are the ones proven.

Errors: InvalidInput for a malformed bundle, IntegrityError for one that does not verify.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from network.evidence_input import check_answer, split_answer
from network.evidence_keys import (
    OriginKeys,
    cosigner_key,
    open_rotations,
    quorum,
    require_known,
    revocations,
)
from network.membership import Membership, SignedMembership
from network.onboarding import own_rotations
from network.wire import b64, unb64
from node.core import merkle
from node.core.canonical import is_canonical, parse_json
from node.core.chain import check_payload
from node.core.checkpoint import Checkpoint, SignedNote, open_checkpoint, verify_cosignature
from node.core.entries import RECORD_KINDS, EntryHeader, SignedEntry
from node.core.errors import Conflict, IntegrityError, InvalidInput, MraError
from node.core.logs import log_name
from node.core.views import verify_view
from node.core.walk import ChainWalk, Link, revoked
from node.ledger.tree import StoredTree
from node.store.open import NodeStore
from node.store.protocols import StoredEntry

__all__ = ["FORMAT", "Verified", "build_bundle", "verify_answer", "verify_bundle"]

FORMAT = "mra-evidence/v2"
MEMBERS = frozenset(
    {
        "format",
        "origin",
        "seq",
        "entry",
        "checkpoint",
        "inclusion",
        "cosignatures",
        "rotations",
        "cosigner_rotations",
    }
)
WIRE = frozenset({"body", "signature", "salt", "payload"})
HASH_HEX = re.compile(r"[0-9a-f]{64}\Z")
# A bundle's refusals name the entry the bundle claims, not a stored position.
ENTRY_DAMAGE = {
    "wrong-position": "the entry is not {origin}#{seq}",
    "bad-signature": "{origin}#{seq} is not signed by its key at #{seq}",
    "revoked-key": "{origin}#{seq} relies on a key revoked at #{seq} (a compromise rotation)",
}
LINE = re.compile(r"\u2014 mra-ledger/([A-Z]{2}) ([A-Za-z0-9+/]+={0,2})\n\Z")


def build_bundle(
    store: NodeStore,
    origin: str,
    seq: int,
    view: tuple[str, bytes, bytes] | None = None,
    membership: Membership | None = None,
) -> dict[str, Any]:
    """The bundle for entry ``origin#seq`` with its payload, or with ``view`` (recipient, view
    bytes, the origin's signature) for a partner's record, at the newest checkpoint held that
    covers the entry and is cosigned by the quorum of ``membership`` (with no membership, at
    the newest covering checkpoint: such a bundle proves nothing to anyone).

    Raises Conflict when no checkpoint held covers the entry with the quorum's cosignatures
    yet (gossip brings them within a few rounds), or when the payload is not held here.
    """
    entry = store.entry(origin, seq)
    if entry is None:
        raise Conflict(f"{origin}#{seq} is not held here", field="seq")
    needed = quorum(membership, origin) if membership else 0
    best = 0
    held_rotations: dict[str, list[tuple[int, dict[str, str]]]] = {}
    # Only the checkpoints that cover the entry, newest first.
    for size, note in reversed(store.checkpoints(origin, seq + 1)):
        text = SignedNote.parse(note).text
        lines: dict[str, str] = {}
        cosigner_rotations: dict[str, list[dict[str, str]]] = {}
        for witness, line in sorted(store.cosignatures(origin, size).items()):
            if witness not in held_rotations:
                held_rotations[witness] = [
                    (EntryHeader.from_bytes(unb64(w["body"], "body")).ts // 1000, w)
                    for w in own_rotations(store, witness)
                ]
            second = _cosignature_second(line)
            kept = [wire for at, wire in held_rotations[witness] if at <= second]
            wires = tuple(tuple(sorted(w.items())) for w in kept)
            if membership is not None and not _counts(membership, text, witness, line, wires):
                continue
            lines[witness] = line
            if kept:
                cosigner_rotations[witness] = kept
        best = max(best, len(lines))
        if len(lines) >= needed:
            return _bundle(store, entry, note, size, lines, cosigner_rotations, view)
    raise Conflict(
        f"no checkpoint of {origin} held here covers #{seq} with the cosignatures of {needed}"
        f" members yet (at most {best}): ask again after the next gossip rounds",
        field="seq",
    )


@functools.lru_cache(maxsize=4096)
def _counts(
    membership: Membership,
    text: bytes,
    witness: str,
    line: str,
    wires: tuple[tuple[tuple[str, str], ...], ...],
) -> bool:
    """Does this cosignature count (step 8)? Remembered: a batch query with evidence asks the
    same few questions about the newest checkpoints for every record."""
    origin = Checkpoint.parse(text).origin.removeprefix("mra-ledger/")
    try:
        _cosigned(membership, origin, text, witness, line, [dict(w) for w in wires] or None, {})
    except MraError:
        return False
    return True


def _bundle(
    store: NodeStore,
    entry: StoredEntry,
    note: bytes,
    size: int,
    lines: dict[str, str],
    cosigner_rotations: dict[str, list[dict[str, str]]],
    view: tuple[str, bytes, bytes] | None,
) -> dict[str, Any]:
    origin, seq = entry.origin, entry.seq
    tree = StoredTree(store, origin)
    rotations = []
    for wire in own_rotations(store, origin):
        at = EntryHeader.from_bytes(unb64(wire["body"], "body")).seq
        if at < size - 1:  # a rotation at size - 1 changes no key the bundle uses
            proof = [h.hex() for h in tree.inclusion_proof(at, size)]
            rotations.append({**wire, "inclusion": proof})
    bundle: dict[str, Any] = {
        "format": FORMAT,
        "origin": origin,
        "seq": seq,
        "entry": {"body": b64(entry.body), "signature": b64(entry.signature)},
        "checkpoint": note.decode(),
        "inclusion": [h.hex() for h in tree.inclusion_proof(seq, size)],
        "cosignatures": lines,
        "rotations": rotations,
        "cosigner_rotations": cosigner_rotations,
    }
    if view is not None:
        recipient, body, signature = view
        bundle["view"] = {"recipient": recipient, "body": b64(body), "signature": b64(signature)}
    elif entry.salt is not None and entry.payload is not None:
        bundle["payload"] = {"salt": b64(entry.salt), "body": b64(entry.payload)}
    else:
        raise Conflict(f"the payload of {origin}#{seq} is not held here", field="seq")
    return bundle


def _cosignature_second(line: str) -> int:
    raw = SignedNote.parse(b"x\n\n" + line.encode()).signatures[0].signature
    return int.from_bytes(raw[:8], "big")


@dataclass(frozen=True, slots=True, kw_only=True)
class Verified:
    """What a valid bundle establishes."""

    origin: str
    seq: int
    checkpoint_size: int
    document: dict[str, Any]  # the record, or the view
    recipient: str | None  # None: the full record
    cosigners: tuple[str, ...]
    quorum: int


def verify_bundle(bundle: Mapping[str, Any], membership: Membership | SignedMembership) -> Verified:
    """Check a bundle against the members' keys (and, given a SignedMembership, the rotations
    it carries), in the steps of the module docstring. Raises IntegrityError naming what does
    not verify, InvalidInput for a malformed bundle."""
    known = membership.rotations if isinstance(membership, SignedMembership) else {}
    members = membership.membership if isinstance(membership, SignedMembership) else membership

    # 2. Shape.
    shown = set(bundle) - MEMBERS
    if bundle.get("format") != FORMAT:
        raise InvalidInput(f"format must be {FORMAT!r}", field="format")
    if not set(bundle) >= MEMBERS or shown not in ({"payload"}, {"view"}):
        raise InvalidInput(f"a bundle has {sorted(MEMBERS)} and a payload or a view", field="$")
    origin, seq = bundle["origin"], bundle["seq"]
    if not isinstance(origin, str) or type(seq) is not int or seq < 0:
        raise InvalidInput("origin (text) and seq (integer >= 0)", field="origin")
    member = members.member(origin)
    if member is None:
        raise IntegrityError("unknown-origin", f"{origin} is not a member of this network")

    # 3. The checkpoint note: its text and exactly one signature line, the origin's.
    if not isinstance(bundle["checkpoint"], str):
        raise InvalidInput("signed-note text", field="checkpoint")
    note = bundle["checkpoint"].encode()
    signed = SignedNote.parse(note)
    checkpoint = Checkpoint.parse(signed.text)
    if checkpoint.origin != log_name(origin) or checkpoint.extensions:
        raise InvalidInput(f"a checkpoint of {log_name(origin)}, three lines", field="checkpoint")
    if len(signed.signatures) != 1 or signed.format() != note:
        raise InvalidInput("the checkpoint carries the origin's signature only", field="checkpoint")
    size = checkpoint.size
    if not seq < size:
        raise IntegrityError("inclusion", f"a checkpoint of size {size} does not hold #{seq}")

    # 4. The origin's keys, every rotation proven in the checkpoint's tree.
    wires = _list(bundle["rotations"], "rotations")
    rotations = open_rotations(member, wires, "rotations", WIRE | {"inclusion"})
    if any(rotation.seq >= size - 1 for rotation in rotations):
        raise InvalidInput("only rotations below the checkpoint's size - 1", field="rotations")
    for i, (wire, rotation) in enumerate(zip(wires, rotations, strict=True)):
        _included(rotation.entry, rotation.seq, wire["inclusion"], checkpoint, f"rotations[{i}]")
    require_known(known.get(origin, []), rotations, lambda at, _: at < size - 1, "rotations")
    keys = OriginKeys(first=member.public_key(), rotations=tuple(rotations))
    carried = open_rotations(member, known.get(origin, []), "membership.rotations")
    revoked_keys = [*keys.revocations, *revocations(member.public_key(), carried)]

    # 5. The checkpoint's signature, by the key in force at size - 1, not revoked there.
    if (revocation := revoked(revoked_keys, keys.at(size - 1), size - 1)) is not None:
        raise IntegrityError(
            "revoked-key",
            f"the checkpoint of size {size} relies on {origin}'s key revoked from"
            f" #{revocation.since}",
        )
    open_checkpoint(note, log_name(origin), keys.at(size - 1))

    # 6. The entry: signed by the key in force at seq, included at seq.
    wire_entry = _exact(bundle["entry"], {"body", "signature"}, "entry")
    entry = SignedEntry.parse(
        unb64(wire_entry["body"], "entry.body"), unb64(wire_entry["signature"], "entry.signature")
    )
    # The core's walk, one step from a link with no previous hash (inclusion places the entry).
    chain = ChainWalk(
        Link(origin=origin, seq=seq, prev=None, min_ts=0),
        keys.schedule,
        defer_signatures=True,
        revocations=revoked_keys,
    )
    try:
        chain.step(entry.body, entry.signature)
        if entry.header.kind not in RECORD_KINDS:
            raise InvalidInput("an entry of kind aeo.upsert or aeo.status", field="entry.body")
        chain.check_signatures()()
    except IntegrityError as exc:
        detail = ENTRY_DAMAGE.get(exc.damage)
        if detail is None:
            raise
        raise IntegrityError(exc.damage, detail.format(origin=origin, seq=seq)) from exc
    _included(entry, seq, bundle["inclusion"], checkpoint, "inclusion")

    # 7. The record, or the view signed for one recipient.
    recipient: str | None = None
    if "payload" in bundle:
        opened = _exact(bundle["payload"], {"salt", "body"}, "payload")
        body = unb64(opened["body"], "payload.body")
        check_payload(entry.header, unb64(opened["salt"], "payload.salt"), body)
    else:
        viewed = _exact(bundle["view"], {"recipient", "body", "signature"}, "view")
        recipient = viewed["recipient"]
        if not isinstance(recipient, str) or recipient == origin or not members.member(recipient):
            raise InvalidInput("a member other than the origin", field="view.recipient")
        body = unb64(viewed["body"], "view.body")
        signature = unb64(viewed["signature"], "view.signature")
        if not any(
            verify_view(key, entry.hash, recipient, body, signature)
            for key in keys.between(seq, size - 1)
        ):
            raise IntegrityError("view-signature", f"{origin} did not sign this view")
    document = parse_json(body)
    if not isinstance(document, dict) or not is_canonical(body):
        raise InvalidInput("an RFC 8785 JSON object", field="view" if recipient else "payload")
    if not str(document.get("aeo_id", "")).startswith(origin):
        raise InvalidInput(f"an AEO of {origin}", field="aeo_id")

    # 8. Cosignatures: each valid under its cosigner's key in force at its time; a quorum.
    lines = _object(bundle["cosignatures"], "cosignatures")
    more = _object(bundle["cosigner_rotations"], "cosigner_rotations")
    if set(more) - set(lines):
        raise InvalidInput("rotations only of the cosigners listed", field="cosigner_rotations")
    for witness, line in sorted(lines.items()):
        _cosigned(members, origin, signed.text, witness, line, more.get(witness), known)
    needed = quorum(members, origin)
    if len(lines) < needed:
        raise IntegrityError(
            "quorum",
            f"cosigned by {len(lines)} members; {needed} of the members other than {origin}"
            " must cosign",
        )
    return Verified(
        origin=origin,
        seq=seq,
        checkpoint_size=size,
        document=document,
        recipient=recipient,
        cosigners=tuple(sorted(lines)),
        quorum=needed,
    )


def verify_answer(
    document: object, membership: Membership | SignedMembership
) -> tuple[Verified, list[str] | None]:
    """Verify a bare bundle, or an API answer and the bundle it carries: the answer's
    ``origin``, ``seq`` and ``record`` or ``view`` must be what the bundle proves. Returns what
    was proven and, for a partner's answer, its ``agreements`` (not covered by the bundle: the
    answering node's statement). Raises like ``verify_bundle``."""
    given = split_answer(document)
    verified = verify_bundle(given.bundle, membership)
    if given.answer is not None:
        shown = "record" if verified.recipient is None else "view"
        check_answer(given.answer, verified.origin, verified.seq, shown, verified.document)
    return verified, given.agreements


def _cosigned(
    members: Membership,
    origin: str,
    text: bytes,
    witness: str,
    line: object,
    wires: object,
    known: Mapping[str, list[dict[str, str]]],
) -> None:
    """Raise unless ``line`` is ``witness``'s valid cosignature of ``text``, under the key in
    force at its time (step 8)."""
    cosigner = members.member(witness)
    if cosigner is None or witness == origin:
        raise IntegrityError("cosignature", f"{witness} is not a member other than {origin}")
    where = f"cosignatures.{witness}"
    if not isinstance(line, str) or not (match := LINE.fullmatch(line)) or match[1] != witness:
        raise InvalidInput(f"one signature line by {log_name(witness)}", field=where)
    raw = unb64(match.group(2), where)
    if len(raw) != 4 + 8 + 64:
        raise InvalidInput("key id, 8-byte time and signature", field=where)
    second = int.from_bytes(raw[4:12], "big")
    listed = [] if wires is None else _list(wires, f"cosigner_rotations.{witness}")
    if wires is not None and not listed:
        raise InvalidInput("omitted when empty", field=f"cosigner_rotations.{witness}")
    rotations = open_rotations(cosigner, listed, f"cosigner_rotations.{witness}")
    if any(r.second > second for r in rotations):
        raise InvalidInput(
            "only rotations dated at or before the cosignature",
            field=f"cosigner_rotations.{witness}",
        )
    require_known(known.get(witness, []), rotations, lambda _, at: at <= second, where)
    key = cosigner_key(rotations, cosigner.public_key())
    carried = open_rotations(cosigner, known.get(witness, []), f"membership.rotations.{witness}")
    first = cosigner.public_key()
    if any(r.key == key for r in [*revocations(first, rotations), *revocations(first, carried)]):
        raise IntegrityError(
            "revoked-key", f"{witness}'s cosignature is under a key a compromise revoked"
        )
    note = SignedNote.parse(text + b"\n" + line.encode())
    name = log_name(witness)
    if verify_cosignature(note, name, key) is None:
        raise IntegrityError("cosignature", f"{witness}'s cosignature does not verify")


def _included(
    entry: SignedEntry, seq: int, proof: object, checkpoint: Checkpoint, field: str
) -> None:
    hashes = _list(proof, field)
    if not all(isinstance(h, str) and HASH_HEX.match(h) for h in hashes):
        raise InvalidInput("64 lower-case hex digits per hash", field=field)
    path = [bytes.fromhex(h) for h in hashes]
    if not merkle.verify_inclusion(
        merkle.leaf_hash(entry.leaf), seq, checkpoint.size, path, checkpoint.root
    ):
        raise IntegrityError("inclusion", f"#{seq} is not in the checkpoint's tree ({field})")


def _exact(value: object, members: set[str], field: str) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != members:
        raise InvalidInput(f"an object with exactly {sorted(members)}", field=field)
    return value


def _object(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput("a JSON object", field=field)
    return value


def _list(value: object, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput("a JSON array", field=field)
    return value
