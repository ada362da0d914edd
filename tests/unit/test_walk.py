"""The one chain walk (``node.core.walk``): a sound chain passes, each named damage is found at
the entry that carries it, deferred signatures report the first bad one in seq order, and the
key in force at a seq follows the key schedule."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.core.crypto import Hash32, PublicKey, SigningKey, new_salt
from node.core.entries import (
    GENESIS_PREV,
    EntryHeader,
    EntryKind,
    Payload,
    entry_hash,
    signing_message,
)
from node.core.errors import IntegrityError
from node.core.walk import ChainWalk, Link, key_in_force, keys_in_force, walk

TS = 1_763_850_000_000
FIRST, SECOND = SigningKey.generate(), SigningKey.generate()
Chain = list[tuple[bytes, bytes]]


def chain(n: int, *, rotate_after: int | None = None, origin: str = "BR") -> Chain:
    """``n`` signed headers of ``origin``; FIRST signs up to ``rotate_after``, SECOND after."""
    items: Chain = []
    prev = GENESIS_PREV
    for seq in range(n):
        header = EntryHeader(
            origin=origin,
            seq=seq,
            prev=prev,
            ts=TS + seq,
            kind=EntryKind.AEO_UPSERT,
            commitment=Payload(salt=new_salt(), body=b"{}").commitment,
        )
        body = header.to_bytes()
        key = SECOND if rotate_after is not None and seq > rotate_after else FIRST
        items.append((body, key.sign(signing_message(body))))
        prev = entry_hash(body)
    return items


SCHEDULE = [(0, FIRST.public_key)]
ROTATED = [(0, FIRST.public_key), (4, SECOND.public_key)]  # a rotation at seq 3


def resigned(body: bytes) -> tuple[bytes, bytes]:
    return body, FIRST.sign(signing_message(body))


def with_header(items: Chain, at: int, **changes: object) -> Chain:
    """``items`` with header ``at`` rebuilt with ``changes`` and signed again."""
    fields = EntryHeader.from_bytes(items[at][0])
    values = {name: getattr(fields, name) for name in EntryHeader.__dataclass_fields__}
    values.update(changes)
    return [*items[:at], resigned(EntryHeader(**values).to_bytes()), *items[at + 1 :]]  # type: ignore[arg-type]


Mangle = Callable[[Chain], Chain]
BAD: dict[str, tuple[Mangle, str, int]] = {
    "non-canonical-bytes": (
        lambda c: [*c[:3], resigned(c[3][0].replace(b":", b": ", 1)), *c[4:]],
        "malformed-entry",
        3,
    ),
    "not-json": (lambda c: [*c[:2], (b"nonsense", c[2][1]), *c[3:]], "malformed-entry", 2),
    "swapped": (lambda c: [c[0], c[2], c[1], *c[3:]], "wrong-position", 1),
    "foreign-origin": (lambda c: with_header(c, 4, origin="BS"), "wrong-position", 4),
    "skipped-entry": (lambda c: [*c[:5], *c[6:]], "wrong-position", 5),
    "prev-changed": (lambda c: with_header(c, 2, prev=Hash32(b"\x01" * 32)), "broken-chain", 2),
    "time-goes-back": (lambda c: with_header(c, 6, ts=TS), "time-regressed", 6),
    "signature-flipped": (
        lambda c: [*c[:5], (c[5][0], bytes([c[5][1][0] ^ 1]) + c[5][1][1:]), *c[6:]],
        "bad-signature",
        5,
    ),
    "signed-by-another-key": (
        lambda c: [*c[:7], (c[7][0], SECOND.sign(signing_message(c[7][0]))), *c[8:]],
        "bad-signature",
        7,
    ),
}


def test_a_sound_chain_walks_to_its_end() -> None:
    items = chain(8)
    headers = list(walk(Link.genesis("BR"), items, SCHEDULE))
    assert [h.seq for h in headers] == list(range(8))
    walker = ChainWalk(Link.genesis("BR"), SCHEDULE)
    for body, signature in items:
        walker.step(body, signature)
    assert walker.link == Link(origin="BR", seq=8, prev=entry_hash(items[-1][0]), min_ts=TS + 7)


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("deferred", [False, True], ids=["inline", "deferred"])
def test_each_damage_is_named_at_its_entry(case: str, deferred: bool) -> None:
    mangle, damage, seq = BAD[case]
    walker = ChainWalk(Link.genesis("BR"), SCHEDULE, defer_signatures=deferred)
    with pytest.raises(IntegrityError) as caught:
        for body, signature in mangle(chain(10)):
            walker.step(body, signature)
        walker.check_signatures()()
    assert (caught.value.damage, caught.value.origin, caught.value.seq) == (damage, "BR", seq)
    if damage != "bad-signature":
        assert walker.seq == seq  # a damaged header does not advance the walk


def test_a_walk_resumes_from_a_link() -> None:
    items = chain(6)
    head = list(walk(Link.genesis("BR"), items[:3], SCHEDULE))
    link = Link(origin="BR", seq=3, prev=entry_hash(items[2][0]), min_ts=head[-1].ts)
    assert [h.seq for h in walk(link, items[3:], SCHEDULE)] == [3, 4, 5]
    with pytest.raises(IntegrityError, match="broken-chain"):
        list(walk(Link(origin="BR", seq=4, prev=link.prev, min_ts=0), items[4:], SCHEDULE))


def test_a_lone_entry_skips_the_chain_step() -> None:
    body, signature = chain(5)[4]
    lone = Link(origin="BR", seq=4, prev=None, min_ts=0)
    assert next(walk(lone, [(body, signature)], SCHEDULE)).seq == 4


def test_no_key_in_force_is_missing_key() -> None:
    with pytest.raises(IntegrityError) as caught:
        list(walk(Link.genesis("BR"), chain(2), [(1, FIRST.public_key)]))
    assert (caught.value.damage, caught.value.seq) == ("missing-key", 0)


def test_rotated_keys_sign_from_the_seq_after_the_rotation() -> None:
    items = chain(8, rotate_after=3)
    assert len(list(walk(Link.genesis("BR"), items, ROTATED))) == 8
    with pytest.raises(IntegrityError) as caught:
        list(walk(Link.genesis("BR"), items, SCHEDULE))
    assert (caught.value.damage, caught.value.seq) == ("bad-signature", 4)
    # A key learnt during the walk (replication sees the rotation entry, then what it signs).
    walker = ChainWalk(Link.genesis("BR"), SCHEDULE, defer_signatures=True)
    for seq, (body, signature) in enumerate(items):
        walker.step(body, signature)
        if seq == 3:
            walker.rotate(4, SECOND.public_key)
    walker.check_signatures()()


def test_deferred_signatures_on_a_pool_report_the_first_bad_one() -> None:
    items = chain(150)
    for seq in (140, 90):
        items[seq] = (items[seq][0], SECOND.sign(signing_message(items[seq][0])))
    walker = ChainWalk(Link.genesis("BR"), SCHEDULE, defer_signatures=True)
    with ThreadPoolExecutor(2) as pool:
        for body, signature in items[:100]:
            walker.step(body, signature)
        first = walker.check_signatures(pool)
        for body, signature in items[100:]:
            walker.step(body, signature)
        second = walker.check_signatures(pool)
        with pytest.raises(IntegrityError) as caught:
            first()
        assert (caught.value.damage, caught.value.seq) == ("bad-signature", 90)
        with pytest.raises(IntegrityError) as caught:
            second()
        assert (caught.value.damage, caught.value.seq) == ("bad-signature", 140)
        walker.check_signatures(pool)()  # nothing left to check


KEYS = [PublicKey(bytes([n]) * 32) for n in range(4)]


@pytest.mark.parametrize(
    ("schedule", "seq", "expected"),
    [
        pytest.param([], 0, None, id="empty-schedule"),
        pytest.param([(0, KEYS[0])], 0, KEYS[0], id="first-key-at-0"),
        pytest.param([(0, KEYS[0])], 2**53, KEYS[0], id="first-key-forever"),
        pytest.param([(3, KEYS[0])], 2, None, id="before-the-first-key"),
        pytest.param([(0, KEYS[0]), (5, KEYS[1])], 4, KEYS[0], id="just-before-a-rotation"),
        pytest.param([(0, KEYS[0]), (5, KEYS[1])], 5, KEYS[1], id="at-a-rotation"),
        pytest.param([(0, KEYS[0]), (5, KEYS[1]), (9, KEYS[2])], 7, KEYS[1], id="between"),
    ],
)
def test_key_in_force(
    schedule: list[tuple[int, PublicKey]], seq: int, expected: PublicKey | None
) -> None:
    assert key_in_force(schedule, seq) == expected


@given(
    starts=st.lists(st.integers(min_value=1, max_value=50), max_size=3, unique=True),
    first=st.integers(min_value=0, max_value=60),
    length=st.integers(min_value=0, max_value=60),
)
def test_keys_in_force_are_the_keys_at_each_seq(starts: list[int], first: int, length: int) -> None:
    schedule = [(0, KEYS[0]), *((s, KEYS[i + 1]) for i, s in enumerate(sorted(starts)))]
    last = first + length
    expected = {key_in_force(schedule, seq) for seq in range(first, last + 1)}
    found = keys_in_force(schedule, first, last)
    assert set(found) == expected and len(found) == len(expected)
