"""Checkpoints as C2SP signed notes, and cosignatures by other nodes.

A checkpoint (C2SP tlog-checkpoint) is the note text ``<origin>\\n<size>\\n<base64 root>\\n``
plus optional extension lines. A signed note (C2SP signed-note) is that text, a blank line, and
one line per signature: ``— <key name> <base64(key id || signature)>``. For Ed25519 the key id
is the first 4 bytes of SHA-256(name || "\\n" || 0x01 || public key) and the signature covers the
note text. A cosignature (C2SP tlog-cosignature) by a witness uses type 0x04 and signs
``cosignature/v1\\ntime <t>\\n`` followed by the checkpoint text; its line carries
``key id || 8-byte big-endian time || signature``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from node.core.canonical import unb64
from node.core.crypto import HASH_SIZE, PublicKey, SigningKey
from node.core.errors import IntegrityError, InvalidInput

__all__ = [
    "Checkpoint",
    "NoteSignature",
    "SignedNote",
    "add_signature",
    "cosign_checkpoint",
    "key_id",
    "open_checkpoint",
    "sign_checkpoint",
    "sign_note",
    "verify_cosignature",
    "verify_signature",
]

DASH = "\u2014"
ED25519 = 0x01
COSIGNATURE_V1 = 0x04
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 1 << 16


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """The signed statement of a log's size and root."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (
            not self.origin
            or any(c in self.origin for c in "\n\r")
            or self.origin.strip() != self.origin
        ):
            raise InvalidInput("checkpoint origin must be one non-empty line", field="origin")
        if self.size < 0:
            raise InvalidInput("checkpoint size must be >= 0", field="size")
        if len(self.root) != HASH_SIZE:
            raise InvalidInput("checkpoint root must be 32 bytes", field="root")
        if any(not line or "\n" in line for line in self.extensions):
            raise InvalidInput("extension lines must be non-empty single lines", field="extensions")

    def body(self) -> bytes:
        """The note text."""
        lines = [
            self.origin,
            str(self.size),
            base64.b64encode(self.root).decode(),
            *self.extensions,
        ]
        return ("\n".join(lines) + "\n").encode()

    @classmethod
    def parse(cls, text: bytes) -> Checkpoint:
        """Parse note text; raises InvalidInput when it is not a checkpoint."""
        try:
            lines = text.decode("utf-8").split("\n")
        except UnicodeDecodeError as exc:
            raise InvalidInput("checkpoint is not UTF-8", field="checkpoint") from exc
        if len(lines) < 4 or lines[-1] != "":
            raise InvalidInput("checkpoint needs origin, size and root lines", field="checkpoint")
        origin, size_text, root_text, *extensions = lines[:-1]
        # C2SP: the size is an ASCII decimal uint64 without leading zeros (str.isdigit alone
        # would let superscript digits through).
        if not (size_text.isascii() and size_text.isdigit() and len(size_text) <= 20) or (
            size_text.startswith("0") and size_text != "0"
        ):
            raise InvalidInput("checkpoint size is not a decimal number", field="size")
        size = int(size_text)
        if size >= 2**64:
            raise InvalidInput("checkpoint size is beyond 64 bits", field="size")
        root = unb64(root_text, "root")
        return cls(origin=origin, size=size, root=root, extensions=tuple(extensions))


@dataclass(frozen=True, slots=True, kw_only=True)
class NoteSignature:
    """One signature line: key name, 4-byte key id, and the signature bytes after the id."""

    name: str
    key_id: bytes
    signature: bytes

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() for c in self.name) or "+" in self.name:
            raise InvalidInput("key name must be non-empty, without spaces or '+'", field="name")
        if len(self.key_id) != 4:
            raise InvalidInput("key id must be 4 bytes", field="key_id")

    def line(self) -> str:
        return f"{DASH} {self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedNote:
    """Note text and its signatures (unknown signers are kept, not dropped)."""

    text: bytes
    signatures: tuple[NoteSignature, ...]

    def format(self) -> bytes:
        return self.text + b"\n" + "".join(s.line() for s in self.signatures).encode()

    @classmethod
    def parse(cls, data: bytes) -> SignedNote:
        """Parse a signed note; raises InvalidInput naming what is malformed."""
        if len(data) > MAX_NOTE_BYTES:
            raise InvalidInput("signed note is too large", field="note")
        try:
            decoded = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput("signed note is not UTF-8", field="note") from exc
        split = decoded.rfind("\n\n")
        if split < 0 or not decoded.endswith("\n"):
            raise InvalidInput("signed note needs text, a blank line and signatures", field="note")
        text, block = decoded[: split + 1], decoded[split + 2 :]
        signatures = []
        for line in block.split("\n")[:-1]:
            parts = line.split(" ")
            if len(parts) != 3 or parts[0] != DASH:
                raise InvalidInput(f"malformed signature line {line!r}", field="signature")
            raw = unb64(parts[2], "signature")
            if len(raw) < 5:
                raise InvalidInput("signature is too short", field="signature")
            signatures.append(NoteSignature(name=parts[1], key_id=raw[:4], signature=raw[4:]))
        if not signatures or len(signatures) > MAX_SIGNATURES:
            raise InvalidInput(f"a note needs 1 to {MAX_SIGNATURES} signatures", field="signature")
        return cls(text=text.encode(), signatures=tuple(signatures))


def key_id(name: str, public_key: PublicKey, kind: int = ED25519) -> bytes:
    """The C2SP key id: SHA-256(name || "\\n" || type || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public_key.raw).digest()[:4]


def sign_note(text: bytes, name: str, key: SigningKey) -> NoteSignature:
    return NoteSignature(name=name, key_id=key_id(name, key.public_key), signature=key.sign(text))


def verify_signature(note: SignedNote, name: str, public_key: PublicKey) -> bool:
    """True when ``note`` carries a valid Ed25519 signature by ``name``'s key; never raises."""
    wanted = key_id(name, public_key)
    return any(
        s.name == name and s.key_id == wanted and public_key.verify(note.text, s.signature)
        for s in note.signatures
    )


def sign_checkpoint(checkpoint: Checkpoint, name: str, key: SigningKey) -> bytes:
    """The checkpoint as a formatted signed note, signed by the origin."""
    text = checkpoint.body()
    return SignedNote(text=text, signatures=(sign_note(text, name, key),)).format()


def open_checkpoint(data: bytes, name: str, public_key: PublicKey) -> Checkpoint:
    """Parse a signed checkpoint and check the origin's signature.

    Raises InvalidInput when malformed, IntegrityError ``checkpoint-signature`` when unsigned.
    """
    note = SignedNote.parse(data)
    checkpoint = Checkpoint.parse(note.text)
    if not verify_signature(note, name, public_key):
        raise IntegrityError("checkpoint-signature", f"no valid signature by {name}")
    return checkpoint


def add_signature(data: bytes, signature: NoteSignature) -> bytes:
    """Append one more signature line (e.g. a cosignature) to a signed note."""
    note = SignedNote.parse(data)
    return SignedNote(text=note.text, signatures=(*note.signatures, signature)).format()


def _cosigned_message(text: bytes, timestamp: int) -> bytes:
    return b"cosignature/v1\ntime " + str(timestamp).encode() + b"\n" + text


def cosign_checkpoint(text: bytes, name: str, key: SigningKey, timestamp: int) -> NoteSignature:
    """A witness's tlog-cosignature/v1 over checkpoint ``text`` at ``timestamp`` (seconds)."""
    signature = key.sign(_cosigned_message(text, timestamp))
    return NoteSignature(
        name=name,
        key_id=key_id(name, key.public_key, COSIGNATURE_V1),
        signature=timestamp.to_bytes(8, "big") + signature,
    )


def verify_cosignature(note: SignedNote, name: str, public_key: PublicKey) -> int | None:
    """The timestamp of ``name``'s valid cosignature on ``note``, or None; never raises."""
    wanted = key_id(name, public_key, COSIGNATURE_V1)
    for s in note.signatures:
        if s.name == name and s.key_id == wanted and len(s.signature) == 72:
            timestamp = int.from_bytes(s.signature[:8], "big")
            if public_key.verify(_cosigned_message(note.text, timestamp), s.signature[8:]):
                return timestamp
    return None
