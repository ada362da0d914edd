"""The membership document: who is in the network, their keys and endpoints, signed by all.

Each member's entry names its code, name, HTTPS endpoint, Ed25519 ledger key, X25519 sealing
key (payloads are sealed to it) and the SHA-256 of its TLS certificate. A membership version is
valid only with a signature from every member it lists: no administration is above another.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from node.canonical import canonical_json
from node.countries import ISO_COUNTRIES
from node.crypto import Hash32, PublicKey, SigningKey, tagged_hash
from node.errors import IntegrityError, InvalidInput

__all__ = ["Member", "Membership", "sign_membership", "verify_membership"]

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
        if not re.match(r"^https://[^\s/]+(:\d+)?/?$", self.endpoint):
            raise InvalidInput("an https:// URL with host and optional port", field="endpoint")
        for name in ("signing_key", "sealing_key", "tls_cert_sha256"):
            if not HEX64.match(getattr(self, name)):
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


def sign_membership(membership: Membership, key: SigningKey) -> str:
    """One member's signature over the document (hex)."""
    return key.sign(SIG_TAG + canonical_json(membership.to_dict())).hex()


def verify_membership(membership: Membership, signatures: Mapping[str, str]) -> None:
    """Raise IntegrityError unless every member listed signed this exact document."""
    message = SIG_TAG + canonical_json(membership.to_dict())
    for member in membership.members:
        signature = signatures.get(member.code)
        try:
            raw = bytes.fromhex(signature) if signature else b""
        except ValueError:
            raw = b""
        if not member.public_key().verify(message, raw):
            raise IntegrityError(
                "membership-signature",
                f"{member.code} has not signed membership v{membership.version}",
            )
