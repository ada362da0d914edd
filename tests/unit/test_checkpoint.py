"""Checkpoints as C2SP signed notes: format, signatures, cosignatures, malformed notes."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.core.checkpoint import (
    Checkpoint,
    SignedNote,
    add_signature,
    cosign_checkpoint,
    key_id,
    open_checkpoint,
    sign_checkpoint,
    verify_cosignature,
    verify_signature,
)
from node.core.crypto import PublicKey, SigningKey
from node.core.errors import IntegrityError, InvalidInput

KEY = SigningKey(bytes(range(32)))
NAME = "mra-ledger/BR"


def checkpoint(size: int = 7) -> Checkpoint:
    return Checkpoint(origin=NAME, size=size, root=bytes(range(32)))


def test_note_layout_follows_c2sp() -> None:
    note = sign_checkpoint(checkpoint(), NAME, KEY).decode()
    text, signatures = note.split("\n\n")
    assert text == f"{NAME}\n7\n{base64.b64encode(bytes(range(32))).decode()}"
    dash, name, blob = signatures.rstrip("\n").split(" ")
    assert (dash, name) == ("\u2014", NAME)
    raw = base64.b64decode(blob)
    assert raw[:4] == key_id(NAME, KEY.public_key) and len(raw) == 68


def test_key_id_is_the_c2sp_ed25519_key_id() -> None:
    import hashlib

    expected = hashlib.sha256(NAME.encode() + b"\n\x01" + KEY.public_key.raw).digest()[:4]
    assert key_id(NAME, KEY.public_key) == expected


@given(
    size=st.integers(0, 2**63),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(
        st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1).filter(
            lambda s: "\n" not in s
        ),
        max_size=3,
    ),
)
def test_round_trip(size: int, root: bytes, extensions: list[str]) -> None:
    original = Checkpoint(origin=NAME, size=size, root=root, extensions=tuple(extensions))
    assert open_checkpoint(sign_checkpoint(original, NAME, KEY), NAME, KEY.public_key) == original


def test_any_changed_byte_fails() -> None:
    note = sign_checkpoint(checkpoint(), NAME, KEY)
    for position in range(len(note)):
        changed = bytearray(note)
        changed[position] ^= 0x01
        with pytest.raises((InvalidInput, IntegrityError)):
            open_checkpoint(bytes(changed), NAME, KEY.public_key)


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def with_pad_bit_set(line: bytes) -> bytes:
    """The same signature line with a non-zero pad bit: it decodes to the same bytes."""
    text = line.decode().rstrip("\n")
    encoded = text.rsplit(" ", 1)[1]
    data = encoded.rstrip("=")
    last = ALPHABET[ALPHABET.index(data[-1]) | 1]
    changed = data[:-1] + last + "=" * (len(encoded) - len(data))
    assert base64.b64decode(changed) == base64.b64decode(encoded) and changed != encoded
    return (text.rsplit(" ", 1)[0] + " " + changed + "\n").encode()


def test_a_second_encoding_of_a_signature_is_refused() -> None:
    # A signature line is not covered by the signature: with free pad bits one signed note
    # would have several valid byte forms, and evidence could change without detection.
    note = sign_checkpoint(checkpoint(), NAME, KEY)
    text, _, line = note.rpartition(b"\n\n")
    with pytest.raises(InvalidInput, match="canonical base64"):
        open_checkpoint(text + b"\n\n" + with_pad_bit_set(line), NAME, KEY.public_key)
    cosigner = SigningKey.generate()
    cosignature = cosign_checkpoint(text + b"\n", "mra-ledger/UY", cosigner, 1_700_000_000)
    with pytest.raises(InvalidInput, match="canonical base64"):
        SignedNote.parse(text + b"\n\n" + with_pad_bit_set(cosignature.line().encode()))


def test_another_key_or_name_does_not_verify() -> None:
    note = sign_checkpoint(checkpoint(), NAME, KEY)
    with pytest.raises(IntegrityError):
        open_checkpoint(note, NAME, SigningKey.generate().public_key)
    with pytest.raises(IntegrityError):
        open_checkpoint(note, "mra-ledger/UY", KEY.public_key)


def test_cosignatures_are_added_and_verified() -> None:
    note = sign_checkpoint(checkpoint(), NAME, KEY)
    witness = SigningKey.generate()
    parsed = SignedNote.parse(note)
    cosigned = add_signature(
        note, cosign_checkpoint(parsed.text, "mra-ledger/UY", witness, 1_763_850_000)
    )
    again = SignedNote.parse(cosigned)
    assert len(again.signatures) == 2
    assert verify_signature(again, NAME, KEY.public_key)
    assert verify_cosignature(again, "mra-ledger/UY", witness.public_key) == 1_763_850_000
    assert verify_cosignature(again, "mra-ledger/UY", KEY.public_key) is None
    # The origin's own signature is not a cosignature, and vice versa.
    assert verify_cosignature(again, NAME, KEY.public_key) is None
    assert not verify_signature(again, "mra-ledger/UY", witness.public_key)
    assert open_checkpoint(cosigned, NAME, KEY.public_key) == checkpoint()


@pytest.mark.parametrize(
    "note",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"mra-ledger/BR\n7\nAAAA\n", id="no-signatures"),
        pytest.param(b"mra-ledger/BR\n7\n\n\xe2\x80\x94 n AAAAAAAA\n", id="missing-root"),
        pytest.param(b"mra-ledger/BR\n07\nAAAA\n\n\xe2\x80\x94 n AAAAAAAA\n", id="leading-zero"),
        pytest.param(b"mra-ledger/BR\n7\nAAAA\n\n- n AAAAAAAA\n", id="hyphen-not-em-dash"),
        pytest.param(b"mra-ledger/BR\n7\nAAAA\n\n\xe2\x80\x94 n !!!\n", id="not-base64"),
        pytest.param(b"mra-ledger/BR\n7\nAAAA\n\n\xe2\x80\x94 n AAAA\n", id="signature-too-short"),
        pytest.param(b"\xff\n7\nAAAA\n\n\xe2\x80\x94 n AAAAAAAA\n", id="not-utf8"),
        pytest.param(b"x" * 70000, id="too-large"),
        pytest.param(
            "mra-ledger/BR\n\u00b2\nAAAA\n\n\u2014 n AAAAAAAA\n".encode(), id="superscript"
        ),
        pytest.param(
            "mra-ledger/BR\n\u0667\nAAAA\n\n\u2014 n AAAAAAAA\n".encode(), id="arabic-digit"
        ),
        pytest.param(
            b"mra-ledger/BR\n18446744073709551616\nAAAA\n\n\xe2\x80\x94 n AAAAAAAA\n", id="2**64"
        ),
        pytest.param(
            b"mra-ledger/BR\n" + b"9" * 5000 + b"\nAAAA\n\n\xe2\x80\x94 n AAAAAAAA\n",
            id="5000-digits",
        ),
    ],
)
def test_malformed_notes_are_refused(note: bytes) -> None:
    with pytest.raises(InvalidInput):
        open_checkpoint(note, NAME, KEY.public_key)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"origin": ""}, id="empty-origin"),
        pytest.param({"origin": "a\nb"}, id="two-line-origin"),
        pytest.param({"size": -1}, id="negative-size"),
        pytest.param({"root": b"\x00" * 31}, id="short-root"),
    ],
)
def test_invalid_checkpoints_cannot_exist(fields: dict[str, object]) -> None:
    values: dict[str, object] = {"origin": NAME, "size": 1, "root": bytes(32), **fields}
    with pytest.raises(InvalidInput):
        Checkpoint(**values)  # type: ignore[arg-type]


def test_public_key_hex_round_trip() -> None:
    assert PublicKey.from_hex(KEY.public_key.hex()) == KEY.public_key
