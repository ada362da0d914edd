"""Hashing and signatures: SHA-256 with versioned domain-separation tags, Ed25519 with PyNaCl.

Every hash or signature input of the ledger starts with a tag ``mra-ledger/<purpose>/v<N>`` and a
NUL byte, so bytes hashed or signed for one purpose can never be replayed for another. The two
exceptions are fixed by external specs: RFC 9162 Merkle hashing (0x00/0x01 prefixes, in
``node.core.merkle``) and C2SP signed notes (the note text itself is signed, in
``node.core.checkpoint``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import NewType

import nacl.bindings
import nacl.exceptions

from node.core.errors import InvalidInput

__all__ = [
    "HASH_SIZE",
    "PUBLIC_KEY_SIZE",
    "SALT_SIZE",
    "SIGNATURE_SIZE",
    "Hash32",
    "PublicKey",
    "SigningKey",
    "new_salt",
    "new_salts",
    "tagged_hash",
]

HASH_SIZE = 32
SALT_SIZE = 32
SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE = 32
SEED_SIZE = 32

Hash32 = NewType("Hash32", bytes)


def tagged_hash(tag: str, *parts: bytes) -> Hash32:
    """SHA-256 of ``mra-ledger/<tag>`` NUL, then the parts concatenated."""
    digest = hashlib.sha256(b"mra-ledger/" + tag.encode("ascii") + b"\x00")
    for part in parts:
        digest.update(part)
    return Hash32(digest.digest())


def new_salt() -> bytes:
    """32 random bytes for a payload commitment (hides low-entropy payloads)."""
    return os.urandom(SALT_SIZE)


def new_salts(count: int) -> list[bytes]:
    """``count`` salts as ``new_salt`` makes them, drawn from the OS in one call (a system
    call per salt, each giving up the GIL, cost more than the salts)."""
    pool = os.urandom(SALT_SIZE * count)
    return [pool[i : i + SALT_SIZE] for i in range(0, len(pool), SALT_SIZE)]


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An Ed25519 public key (32 bytes)."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != PUBLIC_KEY_SIZE:
            raise InvalidInput(
                f"an Ed25519 public key is 32 bytes, got {len(self.raw)}", field="public_key"
            )

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's Ed25519 signature of ``message``; never raises."""
        if len(signature) != SIGNATURE_SIZE:
            return False
        try:
            nacl.bindings.crypto_sign_open(signature + message, self.raw)
        except nacl.exceptions.BadSignatureError:
            return False
        return True

    def hex(self) -> str:
        return self.raw.hex()

    @classmethod
    def from_hex(cls, text: str) -> PublicKey:
        try:
            return cls(bytes.fromhex(text))
        except ValueError as exc:
            raise InvalidInput("not a hex string", field="public_key") from exc


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An Ed25519 private key. Its repr never shows the secret."""

    seed: bytes = field(repr=False)
    _expanded: bytes = field(init=False, repr=False, compare=False)
    public_key: PublicKey = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.seed) != SEED_SIZE:
            raise InvalidInput("an Ed25519 seed is 32 bytes", field="signing_key")
        public, expanded = nacl.bindings.crypto_sign_seed_keypair(self.seed)
        object.__setattr__(self, "_expanded", expanded)
        object.__setattr__(self, "public_key", PublicKey(public))

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(os.urandom(SEED_SIZE))

    def sign(self, message: bytes) -> bytes:
        """The 64-byte detached Ed25519 signature of ``message``.

        PyNaCl releases the GIL while signing, so callers may sign from several threads.
        """
        signed: bytes = nacl.bindings.crypto_sign(message, self._expanded)
        return signed[:SIGNATURE_SIZE]
