"""The membership document: who is in the network, their keys and endpoints, signed by all.

Each member's entry names its code, name, HTTPS endpoint, Ed25519 ledger key, X25519 sealing
key (payloads are sealed to it) and the SHA-256 of its TLS certificate (the pin: a peer is
accepted only with that certificate). A member that is its own TLS trust root (a self-issued
certificate, ``network.pki.self_issued``) carries the certificate itself in ``tls_cert``, so that
every node can trust it in the TLS handshake; ``revision`` counts the changes a member made to its
own entry (``network.governance``). A membership version is valid only with a signature from
every member it lists: no administration is above another. ``rule`` states how the membership may
change (``Rule``); a document from before rules has none and follows ``DEFAULT_RULE``.

``signing_key`` is the key a member's log starts with (seq 0). A member that rotated its key
signs with its current one and carries its rotation entries beside its signature, so that a
verifier that holds none of its log (a node joining) can follow the key from the first to the
current one; a verifier also accepts any key of the member that it learnt from the log itself.
"""

from __future__ import annotations

import base64
import hashlib
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
    "DEFAULT_RULE",
    "OWN_FIELDS",
    "Member",
    "Membership",
    "Rule",
    "SignedMembership",
    "key_history",
    "pem_sha256",
    "rotation_chain",
    "sign_membership",
    "verify_membership",
]

SIG_TAG = b"mra-ledger/membership-sig/v1\x00"
HEX64 = re.compile(r"^[0-9a-f]{64}$")
PEM = re.compile(r"-----BEGIN CERTIFICATE-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----")
# The fields of its entry a member changes alone (network.governance), the others need all.
OWN_FIELDS = ("endpoint", "tls_cert", "tls_cert_sha256", "revision")


def pem_sha256(pem: str) -> str:
    """The SHA-256 (hex) of the DER form of one PEM certificate, as pins name it.

    Raises InvalidInput unless ``pem`` holds exactly one certificate."""
    found = PEM.findall(pem)
    if len(found) != 1:
        raise InvalidInput("one PEM certificate", field="tls_cert")
    try:
        der = base64.b64decode("".join(found[0].split()), validate=True)
    except ValueError:
        raise InvalidInput("the certificate is not base64", field="tls_cert") from None
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """How the membership may change, stated in the membership itself (issue 24, point 2):
    adding or removing a member needs the signature of every member of the new version (every
    remaining member, and a new member's own, which proves it holds its keys); a change of a
    member's own endpoint or certificate (``OWN_FIELDS``) needs only that member's signature.
    Each is named, so that a later rule is a new name that old nodes refuse to apply."""

    members: str = "every-remaining-member"
    own_entry: str = "self"

    def __post_init__(self) -> None:
        if self.members != "every-remaining-member":
            raise InvalidInput("'every-remaining-member' is the one rule known", field="rule")
        if self.own_entry != "self":
            raise InvalidInput("'self' is the one rule known", field="rule")

    def to_dict(self) -> dict[str, str]:
        return {"members": self.members, "own_entry": self.own_entry}


DEFAULT_RULE = Rule()


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    code: str
    name: str
    endpoint: str
    signing_key: str
    sealing_key: str
    tls_cert_sha256: str
    tls_cert: str = ""  # PEM, when the member is its own TLS trust root (self-issued)
    revision: int = 0  # changes the member made to its own entry

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
        if self.tls_cert and pem_sha256(self.tls_cert) != self.tls_cert_sha256:
            raise InvalidInput("is not the certificate tls_cert_sha256 pins", field="tls_cert")
        if not isinstance(self.revision, int) or self.revision < 0:
            raise InvalidInput("an integer >= 0", field="revision")

    def to_dict(self) -> dict[str, Any]:
        """The entry as the document holds it; ``tls_cert`` and ``revision`` only when set, so
        that a document from before them keeps its bytes (and its signatures)."""
        data: dict[str, Any] = {
            "code": self.code,
            "name": self.name,
            "endpoint": self.endpoint,
            "signing_key": self.signing_key,
            "sealing_key": self.sealing_key,
            "tls_cert_sha256": self.tls_cert_sha256,
        }
        if self.tls_cert:
            data["tls_cert"] = self.tls_cert
        if self.revision:
            data["revision"] = self.revision
        return data

    def public_key(self) -> PublicKey:
        return PublicKey.from_hex(self.signing_key)


@dataclass(frozen=True, slots=True, kw_only=True)
class Membership:
    network: str
    version: int
    members: tuple[Member, ...]
    rule: Rule | None = None  # None: a document from before rules, which follows DEFAULT_RULE

    def __post_init__(self) -> None:
        codes = [m.code for m in self.members]
        if len(codes) < 2 or len(set(codes)) != len(codes):
            raise InvalidInput("two or more members, each once", field="members")
        if self.version < 1:
            raise InvalidInput("must be >= 1", field="version")
        object.__setattr__(self, "members", tuple(sorted(self.members, key=lambda m: m.code)))

    def member(self, code: str) -> Member | None:
        return next((m for m in self.members if m.code == code), None)

    @property
    def rule_in_force(self) -> Rule:
        return self.rule if self.rule is not None else DEFAULT_RULE

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "network": self.network,
            "version": self.version,
            "members": [m.to_dict() for m in self.members],
        }
        if self.rule is not None:
            data["rule"] = self.rule.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Membership:
        try:
            rule = data.get("rule")
            return cls(
                network=str(data["network"]),
                version=int(data["version"]),
                members=tuple(Member(**m) for m in data["members"]),
                rule=None if rule is None else Rule(**rule),
            )
        except (KeyError, TypeError, AttributeError) as exc:
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
