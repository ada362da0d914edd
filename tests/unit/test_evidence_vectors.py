"""The evidence test vectors (docs/evidence-vectors/) under two verifiers: the project's own
(network/evidence.py, through what ``mra evidence verify`` runs) and one written from
docs/evidence.md alone (tests/unit/blind_evidence.py). Each valid vector is accepted, each
invalid one refused, and over a few thousand mutants of the valid ones the two agree."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from network.evidence import verify_answer
from network.evidence_input import read_strict_json
from network.membership import Membership, SignedMembership
from node.core.checkpoint import SignedNote, cosign_checkpoint
from node.core.crypto import SigningKey
from node.core.errors import MraError
from tests.unit import blind_evidence

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "evidence-vectors"
MEMBERSHIP = (VECTORS / "membership.json").read_bytes()
INDEX = json.loads((VECTORS / "index.json").read_text())
VALID = sorted(INDEX["valid"])
INVALID = sorted(INDEX["invalid"])


def reference(data: bytes, membership: bytes = MEMBERSHIP) -> bool:
    signed = SignedMembership.from_json(membership)
    signed.verify()
    try:
        verify_answer(read_strict_json(data), signed)
    except MraError:
        return False
    return True


def blind(data: bytes, membership: bytes = MEMBERSHIP) -> bool:
    try:
        blind_evidence.verify(data, membership)
    except blind_evidence.Refused:
        return False
    return True


def test_the_index_lists_every_vector() -> None:
    assert sorted(p.name for p in (VECTORS / "valid").iterdir()) == VALID
    assert sorted(p.name for p in (VECTORS / "invalid").iterdir()) == INVALID
    assert len(VALID) >= 10 and len(INVALID) >= 30
    assert all(INDEX["invalid"][name]["refuse"] for name in INVALID)


@pytest.mark.parametrize("name", VALID)
def test_valid_vectors_are_accepted_by_both(name: str) -> None:
    data = (VECTORS / "valid" / name).read_bytes()
    assert reference(data)
    assert blind(data)


@pytest.mark.parametrize("name", INVALID)
def test_invalid_vectors_are_refused_by_both(name: str) -> None:
    data = (VECTORS / "invalid" / name).read_bytes()
    assert not reference(data), INDEX["invalid"][name]["refuse"]
    assert not blind(data), INDEX["invalid"][name]["refuse"]


def _paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield at
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*at, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*at, i))


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _structured(document: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Documents changed at one place: a member removed or added, a value changed."""
    for path in list(_paths(document))[1:]:
        *head, last = path
        for change in ("drop", "upper", "extra", "grow", "number", "null"):
            changed = copy.deepcopy(document)
            parent = _get(changed, tuple(head))
            value = parent[last]
            if change == "drop":
                del parent[last]
            elif change == "upper" and isinstance(value, str) and value.upper() != value:
                parent[last] = value.upper()
            elif change == "extra" and isinstance(value, dict):
                value["extra"] = "x"
            elif change == "grow" and isinstance(value, str):
                lines = value.endswith("\n")  # a note or a signature line: grow its last line
                parent[last] = value[:-1] + "A\n" if lines else value + "A"
            elif change == "grow" and isinstance(value, list):
                value.append(value[0] if value else "00" * 32)
            elif change == "number" and type(value) is int:
                parent[last] = value + 1
            elif change == "null" and value is not None:
                parent[last] = None
            else:
                continue
            yield f"{change} {'.'.join(map(str, path))}", changed


def _mutants() -> Iterator[tuple[str, bytes]]:
    rng = random.Random(22)
    for name in VALID:
        data = (VECTORS / "valid" / name).read_bytes()
        document = json.loads(data)
        for what, changed in _structured(document):
            yield f"{name}: {what}", json.dumps(changed).encode()
        for i in rng.sample(range(len(data)), min(len(data), 60)):
            yield f"{name}: flip byte {i}", data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]


def test_both_verifiers_agree_on_every_mutant() -> None:
    mutants = list(_mutants())
    disagree = [
        (name, reference(data), blind(data))
        for name, data in mutants
        if reference(data) != blind(data)
    ]
    accepted = [name for name, data in mutants if reference(data)]
    assert len(mutants) > 3000
    assert not disagree, disagree[:10]
    # The only changes that still verify are the two docs/evidence.md allows: a cosignature
    # fewer while the quorum holds, and an answer's agreements (which no bundle proves).
    allowed = re.compile(r".*: (drop (evidence\.)?cosignatures\.[A-Z]{2}|(drop|grow) agreements.*)")
    assert [name for name in accepted if not allowed.fullmatch(name)] == []


def _throwaway(code: str, n: int) -> SigningKey:
    """The vectors' keys, derived from public labels by scripts/evidence-vectors."""
    return SigningKey(hashlib.sha256(f"mra-evidence-vectors/v2 {code}/{n}".encode()).digest())


def test_a_rotation_the_membership_holds_cannot_be_left_out() -> None:
    """UY's cosignature dated after UY retired its first key, under that key, with UY's
    rotation left out of the bundle: a verifier holding the first membership cannot tell (the
    key was not known retired: Results, assumption 2); one holding a later membership that
    carries UY's rotation refuses it."""
    bundle = json.loads(
        (VECTORS / "valid" / "status-change-after-rotation.bundle.json").read_text()
    )
    rotation = bundle["cosigner_rotations"].pop("UY")
    text = SignedNote.parse(bundle["checkpoint"].encode()).text
    second = int(json.loads(base64.b64decode(rotation[0]["body"]))["ts"]) // 1000 + 10
    line = cosign_checkpoint(text, "mra-ledger/UY", _throwaway("UY", 0), second).line()
    bundle["cosignatures"]["UY"] = line
    data = json.dumps(bundle).encode()
    assert reference(data) and blind(data)

    first = SignedMembership.from_json(MEMBERSHIP).membership
    later = Membership(network=first.network, version=2, members=first.members)
    signed = SignedMembership(membership=later)
    for member in later.members:
        n = 1 if member.code == "UY" else 0
        signed = signed.signed_by(
            member.code, _throwaway(member.code, n), rotation if member.code == "UY" else []
        )
    carrying = signed.to_json().encode()
    assert reference(VECTORS.joinpath("valid", "record-first.bundle.json").read_bytes(), carrying)
    assert not reference(data, carrying)
    assert not blind(data, carrying)
