"""The membership document: who is in the network, their keys and endpoints, signed by all.

Each member's entry names its code, name, HTTPS endpoint, Ed25519 ledger key, X25519 sealing
key (payloads are sealed to it) and the SHA-256 of its TLS certificate. A membership version is
valid only with a signature from every member it lists: no administration is above another.

``signing_key`` is the key a member's log starts with (seq 0). A member that rotated its key
signs with its current one and carries its rotation entries beside its signature, so that a
verifier that holds none of its log (a node joining) can follow the key from the first to the
current one; a verifier also accepts any key of the member that it learnt from the log itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from network.wire import unb64
from node.core.canonical import canonical_json
from node.core.countries import ISO_COUNTRIES
from node.core.crypto import Hash32, PublicKey, SigningKey, tagged_hash
from node.core.entries import SignedEntry, signing_message
from node.core.errors import IntegrityError, InvalidInput
from node.core.rotation import rotated_key

__all__ = [
    "Member",
    "Membership",
    "SignedMembership",
    "key_history",
    "rotation_chain",
    "sign_membership",
    "verify_membership",
]

SIG_TAG = b"mra-ledger/membership-sig/v1\x00"
HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    code: str
    name: str
    endpoint: str
    signing_key: str
    sealing_key: str
    tls_cert_sha256: str

    def __post_init__(self) -> None:
        if self.code not in ISO_COUNTRIES:
            raise InvalidInput(f"{self.code!r} is not an ISO 3166-1 alpha-2 code", field="code")
        if not self.name.strip():
            raise InvalidInput("must not be empty", field="name")
        if not re.fullmatch(r"https://[^\s/]+(:\d+)?/?", self.endpoint):
            raise InvalidInput("an https:// URL with host and optional port", field="endpoint")
        for name in ("signing_key", "sealing_key", "tls_cert_sha256"):
            if not HEX64.fullmatch(getattr(self, name)):
                raise InvalidInput("64 lower-case hex digits", field=name)

    def public_key(self) -> PublicKey:
        return PublicKey.from_hex(self.signing_key)


@dataclass(frozen=True, slots=True, kw_only=True)
class Membership:
    network: str
    version: int
    members: tuple[Member, ...]

    def __post_init__(self) -> None:
        codes = [m.code for m in self.members]
        if len(codes) < 2 or len(set(codes)) != len(codes):
            raise InvalidInput("two or more members, each once", field="members")
        if self.version < 1:
            raise InvalidInput("must be >= 1", field="version")
        object.__setattr__(self, "members", tuple(sorted(self.members, key=lambda m: m.code)))

    def member(self, code: str) -> Member | None:
        return next((m for m in self.members if m.code == code), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "version": self.version,
            "members": [
                {
                    "code": m.code,
                    "name": m.name,
                    "endpoint": m.endpoint,
                    "signing_key": m.signing_key,
                    "sealing_key": m.sealing_key,
                    "tls_cert_sha256": m.tls_cert_sha256,
                }
                for m in self.members
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Membership:
        try:
            return cls(
                network=str(data["network"]),
                version=int(data["version"]),
                members=tuple(Member(**m) for m in data["members"]),
            )
        except (KeyError, TypeError) as exc:
            raise InvalidInput(f"malformed membership document: {exc}", field="membership") from exc

    @property
    def hash(self) -> Hash32:
        return tagged_hash("membership/v1", canonical_json(self.to_dict()))


KeysOf = Callable[[Member], Iterable[PublicKey]]


def sign_membership(membership: Membership, key: SigningKey) -> str:
    """One member's signature over the document (hex)."""
    return key.sign(SIG_TAG + canonical_json(membership.to_dict())).hex()


def verify_membership(
    membership: Membership, signatures: Mapping[str, str], keys_of: KeysOf | None = None
) -> None:
    """Raise IntegrityError unless every member listed signed this exact document, each with
    one of ``keys_of(member)`` (by default the key its log starts with)."""
    message = SIG_TAG + canonical_json(membership.to_dict())
    for member in membership.members:
        signature = signatures.get(member.code)
        try:
            raw = bytes.fromhex(signature) if signature else b""
        except ValueError:
            raw = b""
        keys = keys_of(member) if keys_of else [member.public_key()]
        if not any(key.verify(message, raw) for key in keys):
            raise IntegrityError(
                "membership-signature",
                f"{member.code} has not signed membership v{membership.version}",
            )


def rotation_chain(member: Member, rotations: Iterable[Mapping[str, Any]]) -> list[PublicKey]:
    """The member's keys from the first to the current one (see ``key_history``)."""
    return [key for _, key in key_history(member, rotations)]


def key_history(
    member: Member, rotations: Iterable[Mapping[str, Any]]
) -> list[tuple[int, PublicKey]]:
    """(seq from which it signs, key) for each of the member's keys, following its rotation
    entries (wire form: base64 body, signature, salt, payload), each signed by the key before.

    Raises IntegrityError for a rotation that the key before it did not sign.
    """
    keys = [(0, member.public_key())]
    for i, wire in enumerate(rotations):
        name = f"rotations.{member.code}[{i}]"
        entry = SignedEntry.parse(
            unb64(wire.get("body"), f"{name}.body"),
            unb64(wire.get("signature"), f"{name}.signature"),
        )
        seq = entry.header.seq
        if entry.header.origin != member.code or seq < keys[-1][0]:
            raise InvalidInput(f"not a later rotation of {member.code}", field=name)
        if not keys[-1][1].verify(signing_message(entry.body), entry.signature):
            raise IntegrityError(
                "bad-signature",
                f"{member.code}'s rotation at seq {seq} is not signed by its key",
                origin=member.code,
                seq=seq,
            )
        salt = unb64(wire.get("salt"), f"{name}.salt")
        payload = unb64(wire.get("payload"), f"{name}.payload")
        keys.append((seq + 1, rotated_key(entry.header, salt, payload)))
    return keys


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedMembership:
    """A membership version with the signatures gathered so far (a file: membership.json once
    complete, a proposal while members sign it)."""

    membership: Membership
    signatures: dict[str, str] = field(default_factory=dict)
    rotations: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def verify(self, known_keys: Callable[[str], Iterable[PublicKey]] = lambda _: ()) -> None:
        """Raise IntegrityError unless every member signed, with a key of its rotation chain
        or one of ``known_keys(code)``."""

        def keys_of(member: Member) -> list[PublicKey]:
            chain = rotation_chain(member, self.rotations.get(member.code, []))
            return [*chain, *known_keys(member.code)]

        verify_membership(self.membership, self.signatures, keys_of)

    def signed_by(
        self, code: str, key: SigningKey, rotations: list[dict[str, str]]
    ) -> SignedMembership:
        if self.membership.member(code) is None:
            raise InvalidInput(f"{code} is not a member in this version", field="code")
        return SignedMembership(
            membership=self.membership,
            signatures={**self.signatures, code: sign_membership(self.membership, key)},
            rotations={**self.rotations, code: rotations} if rotations else dict(self.rotations),
        )

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "document": self.membership.to_dict(),
            "signatures": dict(sorted(self.signatures.items())),
        }
        if self.rotations:
            data["rotations"] = self.rotations
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> SignedMembership:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InvalidInput(f"not JSON: {exc}", field="membership") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: object) -> SignedMembership:
        if not isinstance(data, dict) or not isinstance(data.get("signatures", {}), dict):
            raise InvalidInput("{document, signatures, rotations?}", field="membership")
        rotations = data.get("rotations", {})
        if not isinstance(rotations, dict) or not all(
            isinstance(v, list) and all(isinstance(w, dict) for w in v) for v in rotations.values()
        ):
            raise InvalidInput("per member, a list of rotation entries", field="rotations")
        return cls(
            membership=Membership.from_dict(data.get("document") or {}),
            signatures={str(k): str(v) for k, v in data.get("signatures", {}).items()},
            rotations={str(k): list(v) for k, v in rotations.items()},
        )
