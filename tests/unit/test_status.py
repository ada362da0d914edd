"""The AEO status state machine: every pair of statuses, against a table written out here."""

from __future__ import annotations

import itertools

import pytest

from node.core.errors import Conflict
from node.core.status import FINAL, TRANSITIONS, StatusCode, check_transition

V, S, R, A = (StatusCode(c) for c in ("valid", "suspended", "revoked", "annulled"))

# Written independently of node.core.status: (old, new) pairs that are allowed. Staying put is
# allowed unless final; revoked and annulled have no way out.
ALLOWED = {
    (V, V), (V, S), (V, R), (V, A),
    (S, V), (S, S), (S, R), (S, A),
}  # fmt: skip

PAIRS = list(itertools.product(StatusCode, StatusCode))


def test_codes_are_the_four_statuses() -> None:
    assert [c.value for c in StatusCode] == ["valid", "suspended", "revoked", "annulled"]


@pytest.mark.parametrize(("old", "new"), PAIRS, ids=[f"{o}->{n}" for o, n in PAIRS])
def test_every_pair(old: StatusCode, new: StatusCode) -> None:
    if (old, new) in ALLOWED:
        check_transition(old, new)
    else:
        with pytest.raises(Conflict) as info:
            check_transition(old, new)
        assert info.value.field == "status.code"
        assert str(old) in info.value.reason


@pytest.mark.parametrize("new", list(StatusCode))
def test_a_new_record_may_start_in_any_status(new: StatusCode) -> None:
    check_transition(None, new)  # importing a national registry with its revoked AEOs


def test_table_matches_the_written_out_pairs() -> None:
    assert set(TRANSITIONS) == set(StatusCode)
    assert {(o, n) for o, targets in TRANSITIONS.items() for n in targets} == {
        (o, n) for o, n in ALLOWED if o != n
    }
    assert {R, A} == FINAL


def test_final_error_says_a_new_id_is_needed() -> None:
    with pytest.raises(Conflict, match="new AEO id"):
        check_transition(R, V)


def test_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        TRANSITIONS[R] = frozenset({V})  # type: ignore[index]
