"""Whose signatures an evidence bundle needs, and which key of a member was in force for each.

This module owns the trust rules of evidence bundles (docs/evidence.md, "Keys" and "Quorum"):

- ``quorum``: how many distinct members other than the origin must cosign the checkpoint. It
  is the one place the rule lives; today it is a default derived from the membership (a
  majority of the members other than the origin), so a rule stated in the membership document
  can replace it here without touching the verifier.
- ``OriginKeys``: the origin's key schedule, from its first key (the membership's
  ``signing_key``) through rotation entries, each signed by the key in force before it; the
  key in force at a seq is the core's ``key_in_force`` (``node.core.walk``), as for fsck and
  replication.
- ``require_known``: the rotations the membership document carries cannot be left out.
- ``OriginKeys.revocations``: a compromise rotation (``node.core.rotation``) revokes the key
  that signed it from its ``revoked_from`` on: a bundle relying on that key there is refused.
- ``cosigner_key``: a cosigner's key by time: a rotation entry's ``ts`` starts its new key, so a
  cosignature dated after a rotation must be under the key it introduced.

Pure: no I/O. Raises InvalidInput for malformed rotation entries, IntegrityError for ones that
do not verify.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from network.membership import Member, Membership
from node.core.canonical import canonical_json, parse_json, unb64
from node.core.chain import check_payload
from node.core.crypto import PublicKey
from node.core.entries import EntryHeader, EntryKind, SignedEntry, signing_message
from node.core.errors import IntegrityError, InvalidInput
from node.core.rotation import open_rotation
from node.core.walk import Revocation, key_in_force, keys_in_force, revoked

__all__ = [
    "OriginKeys",
    "Rotation",
    "cosigner_key",
    "open_rotations",
    "quorum",
    "require_known",
    "revocations",
    "schedule",
]


def quorum(membership: Membership, origin: str) -> int:
    """Distinct cosigners (members other than ``origin``) a checkpoint of ``origin`` needs: a
    majority of them, ``floor((n - 1) / 2) + 1`` for n members.

    A majority means that two checkpoints cosigned for two different logs of one origin share
    an honest cosigner unless a majority of the others colluded or leaked their keys."""
    others = sum(1 for m in membership.members if m.code != origin)
    return others // 2 + 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Rotation:
    """One key rotation entry, opened: its seq and time, and the key it introduces."""

    entry: SignedEntry
    key: PublicKey
    revoked_from: int | None = None  # a compromise rotation: the key before it is revoked

    @property
    def seq(self) -> int:
        return self.entry.header.seq

    @property
    def second(self) -> int:
        """The second (Unix time) the rotation entry is dated in; cosignatures are dated in
        whole seconds."""
        return self.entry.header.ts // 1000


def open_rotations(
    member: Member,
    wires: Sequence[Mapping[str, Any]],
    field: str,
    members: frozenset[str] = frozenset({"body", "signature", "salt", "payload"}),
) -> list[Rotation]:
    """``member``'s rotation entries (wire form: base64 body, signature, salt, payload), each
    checked: exactly ``members``, kind ``key.rotate`` of this member, seqs increasing, signed by
    the key before it, its payload ``{"key": <64 lower-case hex>}`` (a compromise rotation also
    ``revoked_from`` and the new key's ``proof``) in RFC 8785 bytes opening the entry's
    commitment.

    Raises InvalidInput naming ``field[i]`` for a malformed one, IntegrityError for one that
    the key before it did not sign.
    """
    first = member.public_key()
    opened: list[Rotation] = []
    for i, wire in enumerate(wires):
        name = f"{field}[{i}]"
        if not isinstance(wire, dict) or set(wire) != members:
            raise InvalidInput(f"a rotation entry has exactly {sorted(members)}", field=name)
        entry = SignedEntry.parse(
            unb64(wire["body"], f"{name}.body"), unb64(wire["signature"], f"{name}.signature")
        )
        header = entry.header
        if header.origin != member.code or header.kind != EntryKind.KEY_ROTATE:
            raise InvalidInput(f"not a key rotation of {member.code}", field=name)
        if opened and header.seq <= opened[-1].seq:
            raise InvalidInput("rotations are listed in increasing seq", field=name)
        before = key_in_force(schedule(first, opened), header.seq) or first
        if not before.verify(signing_message(entry.body), entry.signature):
            raise IntegrityError(
                "rotation-signature",
                f"{member.code}'s rotation at seq {header.seq} is not signed by the key before it",
            )
        salt = unb64(wire["salt"], f"{name}.salt")
        payload = unb64(wire["payload"], f"{name}.payload")
        check_payload(header, salt, payload)
        document = parse_json(payload)
        key = document.get("key") if isinstance(document, dict) else None
        revoked_from = None
        compromise = isinstance(document, dict) and set(document) == {
            "key",
            "revoked_from",
            "proof",
        }
        if compromise:
            try:
                revoked_from = open_rotation(header, salt, payload).revoked_from
            except InvalidInput as exc:
                raise InvalidInput(exc.reason, field=f"{name}.payload") from exc
        if (
            not isinstance(document, dict)
            or not (compromise or set(document) == {"key"})
            or not isinstance(key, str)
            or len(key) != 64
            or key.strip("0123456789abcdef")
            or canonical_json(document) != payload
        ):
            raise InvalidInput(
                'RFC 8785 {"key": <64 lower-case hex>} (a compromise also "revoked_from", "proof")',
                field=f"{name}.payload",
            )
        opened.append(Rotation(entry=entry, key=PublicKey.from_hex(key), revoked_from=revoked_from))
    return opened


@dataclass(frozen=True, slots=True, kw_only=True)
class OriginKeys:
    """The origin's key schedule: the first key signs from seq 0, each rotation's key from the
    rotation's seq + 1. Which key is in force where is the core's ``key_in_force``."""

    first: PublicKey
    rotations: tuple[Rotation, ...]

    @property
    def schedule(self) -> list[tuple[int, PublicKey]]:
        """``(since_seq, key)`` for each key, oldest first."""
        return schedule(self.first, self.rotations)

    def at(self, seq: int) -> PublicKey:
        """The key in force at ``seq``."""
        return key_in_force(self.schedule, seq) or self.first

    def between(self, first: int, last: int) -> list[PublicKey]:
        """Every key in force at some seq in ``first..last``."""
        return keys_in_force(self.schedule, first, last)

    @property
    def revocations(self) -> list[Revocation]:
        """What the compromise rotations among ``rotations`` revoke."""
        return revocations(self.first, self.rotations)

    def trusted_at(self, seq: int) -> PublicKey:
        """The key in force at ``seq``, unless a compromise rotation revoked it there.

        Raises IntegrityError ``revoked-key``."""
        key = self.at(seq)
        revocation = revoked(self.revocations, key, seq)
        if revocation is not None:
            raise IntegrityError(
                "revoked-key",
                f"the key in force at #{seq} is revoked from #{revocation.since} (compromise"
                f" rotation at #{revocation.rotation})",
            )
        return key


def revocations(first: PublicKey, rotations: Sequence[Rotation]) -> list[Revocation]:
    """The revocations that the compromise rotations among ``rotations`` (of a member whose
    first key is ``first``) make: each revokes the key in force at its seq."""
    keys = schedule(first, rotations)
    return [
        Revocation(key=key_in_force(keys, r.seq) or first, since=r.revoked_from, rotation=r.seq)
        for r in rotations
        if r.revoked_from is not None
    ]


def schedule(first: PublicKey, rotations: Sequence[Rotation]) -> list[tuple[int, PublicKey]]:
    """The key schedule that ``first`` (in force from seq 0) and ``rotations`` make."""
    return [(0, first), *((r.seq + 1, r.key) for r in rotations)]


def cosigner_key(rotations: Sequence[Rotation], first: PublicKey) -> PublicKey:
    """The key a cosignature must be under, given the cosigner's rotations dated at or before
    it (all of them, so that the list has one form): the newest one they lead to. A
    cosignature made with the old key within the second of a rotation does not count (rare:
    the builder leaves it out and others, or a later checkpoint, make the quorum)."""
    return rotations[-1].key if rotations else first


def require_known(
    known: Sequence[Mapping[str, Any]],
    listed: Sequence[Rotation],
    applies: Callable[[int, int], bool],
    field: str,
) -> None:
    """Every rotation that the membership document carries (``known``, wire form) and that
    ``applies(seq, second)`` here must be listed first in ``listed``, in its place: a rotation
    the members signed for cannot be left out. Raises IntegrityError ``rotation-missing``."""
    bodies = [unb64(w.get("body"), field) for w in known]
    wanted = [
        body
        for body in bodies
        if applies(EntryHeader.from_bytes(body).seq, EntryHeader.from_bytes(body).ts // 1000)
    ]
    if [r.entry.body for r in listed[: len(wanted)]] != wanted:
        raise IntegrityError(
            "rotation-missing", f"{field} leaves out a rotation the membership document holds"
        )
