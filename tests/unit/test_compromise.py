"""The pure rule of a key compromise (issue 24, point 5): a compromise rotation names the seq
from which the key it replaces is revoked; the walk refuses that key there (``revoked-key``),
the rotation itself excepted, and the rotation document proves the new key signed it."""

from __future__ import annotations

import pytest

from node.core.canonical import canonical_json
from node.core.crypto import SigningKey, new_salt
from node.core.entries import GENESIS_PREV, EntryHeader, EntryKind, Payload, signing_message
from node.core.errors import IntegrityError, InvalidInput
from node.core.rotation import compromise_document, open_rotation, rotation_document
from node.core.walk import ChainWalk, Link, Revocation, revoked, walk
from tests.unit.test_walk import FIRST, ROTATED, SECOND, chain

# FIRST signs seqs 0..3 (3 is the rotation), SECOND from 4 on.
ITEMS = chain(8, rotate_after=3)


def damage(items: list[tuple[bytes, bytes]], revocations: list[Revocation]) -> tuple[str, int]:
    with pytest.raises(IntegrityError) as caught:
        list(walk(Link.genesis("BR"), items, ROTATED, revocations))
    assert caught.value.seq is not None
    return caught.value.damage, caught.value.seq


def test_a_revocation_covers_its_key_from_its_seq_but_not_the_rotation_itself() -> None:
    revocation = Revocation(key=FIRST.public_key, since=2, rotation=3)
    assert [revoked([revocation], FIRST.public_key, s) is not None for s in range(6)] == [
        False,
        False,
        True,
        False,  # the compromise rotation: the old key's last act
        True,
        True,
    ]
    assert revoked([revocation], SECOND.public_key, 5) is None
    for since, rotation in ((-1, 3), (4, 3)):
        with pytest.raises(InvalidInput, match="revoked_from"):
            Revocation(key=FIRST.public_key, since=since, rotation=rotation)


def test_the_walk_passes_when_the_old_key_signed_nothing_past_the_revocation() -> None:
    revocation = Revocation(key=FIRST.public_key, since=3, rotation=3)
    assert len(list(walk(Link.genesis("BR"), ITEMS, ROTATED, [revocation]))) == 8


def test_entries_the_old_key_signed_at_or_past_revoked_from_are_revoked_key() -> None:
    assert damage(ITEMS, [Revocation(key=FIRST.public_key, since=2, rotation=3)]) == (
        "revoked-key",
        2,
    )
    # Past the rotation the new key is in force: an old-key signature there is named for what
    # it is (a stolen key at work), not a mere bad signature, deferred or not.
    forged = list(ITEMS)
    forged[5] = (ITEMS[5][0], FIRST.sign(signing_message(ITEMS[5][0])))  # FIRST signed #5
    assert damage(forged, []) == ("bad-signature", 5)
    revocation = Revocation(key=FIRST.public_key, since=3, rotation=3)
    assert damage(forged, [revocation]) == ("revoked-key", 5)
    walker = ChainWalk(Link.genesis("BR"), ROTATED, defer_signatures=True)
    for seq, (body, signature) in enumerate(forged):
        walker.step(body, signature)
        if seq == 3:
            walker.revoke(revocation)
    with pytest.raises(IntegrityError) as caught:
        walker.check_signatures()()
    assert (caught.value.damage, caught.value.seq) == ("revoked-key", 5)


def rotation_header(seq: int, document: dict[str, object]) -> tuple[EntryHeader, bytes, bytes]:
    payload = Payload(salt=new_salt(), body=canonical_json(document))
    header = EntryHeader(
        origin="BR",
        seq=seq,
        prev=GENESIS_PREV,
        ts=1_763_850_000_000,
        kind=EntryKind.KEY_ROTATE,
        commitment=payload.commitment,
    )
    return header, payload.salt, payload.body


def test_a_compromise_rotation_opens_to_its_key_and_revocation() -> None:
    new = SigningKey.generate()
    rotated = open_rotation(*rotation_header(7, compromise_document("BR", new, 5)))
    assert (rotated.key, rotated.revoked_from) == (new.public_key, 5)
    assert rotated.revocation(FIRST.public_key) == Revocation(
        key=FIRST.public_key, since=5, rotation=7
    )
    plain = open_rotation(*rotation_header(7, rotation_document(new.public_key)))
    assert plain.revoked_from is None and plain.revocation(FIRST.public_key) is None


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("revoked past the rotation", "revoked_from"),
        ("revoked before zero", "revoked_from"),
        ("revoked_from not an integer", "revoked_from"),
        ("proof by another key", "proof"),
        ("proof for another origin", "proof"),
        ("proof not base64", "proof"),
        ("an extra member", "key"),
    ],
)
def test_bad_compromise_rotations_are_refused_naming_the_field(case: str, field: str) -> None:
    new, other = SigningKey.generate(), SigningKey.generate()
    document = compromise_document("BR", new, 5)
    if case == "revoked past the rotation":
        document = compromise_document("BR", new, 8)
    elif case == "revoked before zero":
        document = compromise_document("BR", new, -1)
    elif case == "revoked_from not an integer":
        document["revoked_from"] = "5"
    elif case == "proof by another key":
        document = {**compromise_document("BR", other, 5), "key": new.public_key.hex()}
    elif case == "proof for another origin":
        document = compromise_document("UY", new, 5)
    elif case == "proof not base64":
        document["proof"] = "not base64!"
    else:
        document["note"] = "x"
    with pytest.raises(InvalidInput) as caught:
        open_rotation(*rotation_header(7, document))
    assert caught.value.field == field
