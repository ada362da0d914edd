"""Entry headers: canonical bytes only, every field checked, the chain and payload helpers."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from node.core.canonical import canonical_json
from node.core.chain import verify_entry
from node.core.crypto import Hash32, SigningKey, new_salt
from node.core.entries import (
    GENESIS_PREV,
    EntryHeader,
    EntryKind,
    Payload,
    SignedEntry,
    entry_hash,
    signing_message,
)
from node.core.errors import IntegrityError, InvalidInput


def header(**changes: object) -> EntryHeader:
    fields: dict[str, object] = dict(
        origin="BR",
        seq=0,
        prev=GENESIS_PREV,
        ts=1_763_850_000_000,
        kind=EntryKind.AEO_UPSERT,
        commitment=Payload(salt=new_salt(), body=b"{}").commitment,
    )
    fields.update(changes)
    return EntryHeader(**fields)  # type: ignore[arg-type]


def test_round_trip_is_byte_exact() -> None:
    original = header()
    body = original.to_bytes()
    assert EntryHeader.from_bytes(body) == original
    assert body.startswith(b'{"commitment":')


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"origin": "br"}, "origin", id="lower-case-origin"),
        pytest.param({"origin": "BR\n"}, "origin", id="origin-with-a-newline"),
        pytest.param({"seq": -1}, "seq", id="negative-seq"),
        pytest.param({"seq": 2**53}, "seq", id="seq-too-large"),
        pytest.param({"prev": b"\x00" * 31}, "prev", id="short-prev"),
        pytest.param({"prev": b"\x01" * 32}, "prev", id="genesis-prev-not-zero"),
        pytest.param({"ts": -5}, "ts", id="negative-time"),
        pytest.param({"version": 2}, "v", id="unknown-version"),
    ],
)
def test_invalid_headers_cannot_exist(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        header(**changes)
    assert caught.value.field == field


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda b: b.replace(b":", b": ", 1), id="whitespace"),
        pytest.param(lambda b: b.replace(b'"aeo.upsert"', b'"aeo.other"'), id="unknown-kind"),
        pytest.param(lambda b: b[:-1] + b',"extra":1}', id="extra-field"),
        pytest.param(lambda b: b.replace(b'"seq":0', b'"seq":0.0'), id="float-seq"),
        pytest.param(lambda b: b"[" + b + b"]", id="not-an-object"),
    ],
)
def test_non_canonical_or_malformed_bytes_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput):
        EntryHeader.from_bytes(mangle(header().to_bytes()))


def test_verify_entry_steps() -> None:
    key = SigningKey.generate()
    first = header()
    body = first.to_bytes()
    signature = key.sign(signing_message(body))
    entry = SignedEntry.parse(body, signature)
    assert entry.hash == entry_hash(body)
    ok = dict(origin="BR", seq=0, prev=GENESIS_PREV, min_ts=0, key=key.public_key)
    assert verify_entry(body, signature, **ok) == first  # type: ignore[arg-type]
    cases = {
        "wrong-position": dict(ok, seq=1),
        "broken-chain": dict(ok, prev=b"\x01" * 32),
        "time-regressed": dict(ok, min_ts=first.ts + 1),
        "bad-signature": dict(ok, key=SigningKey.generate().public_key),
    }
    for damage, arguments in cases.items():
        with pytest.raises(IntegrityError) as caught:
            verify_entry(body, signature, **arguments)  # type: ignore[arg-type]
        assert caught.value.damage == damage
    with pytest.raises(IntegrityError, match="malformed-entry"):
        verify_entry(body + b" ", signature, **ok)  # type: ignore[arg-type]


@given(
    origin=st.from_regex(r"[A-Z]{2}", fullmatch=True),
    seq=st.integers(min_value=1, max_value=2**53 - 1),
    ts=st.integers(min_value=0, max_value=2**53 - 1),
    kind=st.sampled_from(list(EntryKind)),
    prev=st.binary(min_size=32, max_size=32),
    commitment=st.binary(min_size=32, max_size=32),
)
def test_header_bytes_are_the_rfc8785_encoding(
    origin: str, seq: int, ts: int, kind: EntryKind, prev: bytes, commitment: bytes
) -> None:
    made = EntryHeader(
        origin=origin,
        seq=seq,
        prev=Hash32(prev),
        ts=ts,
        kind=kind,
        commitment=Hash32(commitment),
    )
    assert made.to_bytes() == rfc8785.dumps(made.to_dict()) == canonical_json(made.to_dict())
    assert EntryHeader.from_bytes(made.to_bytes()) == made


@pytest.mark.parametrize("name", ["seq", "ts", "version"])
def test_a_boolean_is_not_an_integer_field(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        header(**{name: True})
    assert caught.value.field == name


def test_salts_drawn_together_are_each_32_fresh_bytes() -> None:
    from node.core.crypto import SALT_SIZE, new_salts

    salts = new_salts(1000)
    assert len(salts) == 1000 and {len(s) for s in salts} == {SALT_SIZE}
    assert len(set(salts)) == 1000
    assert new_salts(0) == []
