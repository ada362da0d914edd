"""The agreement lifecycle from entries: every transition, and order independence."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.agreement import Agreement
from contracts.lifecycle import TRANSITIONS, Action, AgreementState, Event, Phase, derive
from tests.unit.test_contracts import MERCOSUR, agreement


def ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


def propose(doc: Agreement, by: str, day: str, seq: int = 0) -> Event:
    return Event(
        action=Action.PROPOSE,
        by=by,
        ts=ms(day),
        seq=seq,
        agreement_id=doc.id,
        version=doc.version,
        doc_hash=doc.hash,
        document=doc,
    )


def approve(doc: Agreement, by: str, day: str, seq: int = 0) -> Event:
    return Event(
        action=Action.APPROVE,
        by=by,
        ts=ms(day),
        seq=seq,
        agreement_id=doc.id,
        version=doc.version,
        doc_hash=doc.hash,
    )


def withdraw(doc: Agreement, by: str, day: str, seq: int = 0) -> Event:
    return Event(action=Action.WITHDRAW, by=by, ts=ms(day), seq=seq, agreement_id=doc.id)


BR_UY = agreement()  # valid 2026-01-01 .. 2031-01-01
PLURI = agreement(**MERCOSUR)  # BR AR PY UY, valid from 2026-01-01


def state(*events: Event) -> AgreementState:
    [only] = derive(events).values()
    return only


def test_active_only_when_every_party_approved_inside_the_window() -> None:
    s = state(propose(BR_UY, "BR", "2025-12-01"))
    assert s.phase is Phase.PROPOSED and s.status_at(ms("2026-06-01")) == "pending"
    s = state(propose(BR_UY, "BR", "2025-12-01"), approve(BR_UY, "UY", "2025-12-10"))
    assert s.phase is Phase.APPROVED
    assert s.status_at(ms("2025-12-20")) == "not-yet-valid"
    assert s.status_at(ms("2026-06-01")) == "active"
    assert s.in_force_at(ms("2026-06-01")) == BR_UY
    assert s.status_at(ms("2031-01-01")) == "expired"


def test_plurilateral_needs_all_approvals_in_any_order() -> None:
    events = [
        propose(PLURI, "BR", "2026-02-01"),
        approve(PLURI, "PY", "2026-02-03"),
        approve(PLURI, "AR", "2026-02-02"),
    ]
    assert state(*events).status_at(ms("2026-03-01")) == "pending"
    events.append(approve(PLURI, "UY", "2026-02-05"))
    s = state(*events)
    assert s.status_at(ms("2026-02-04")) == "pending"
    assert s.status_at(ms("2026-02-05")) == "active"


def test_an_approval_seen_before_its_proposal_still_counts() -> None:
    s = state(approve(BR_UY, "UY", "2026-02-01"), propose(BR_UY, "BR", "2026-02-02"))
    assert s.status_at(ms("2026-02-02")) == "active"


def test_approving_a_different_version_does_not_activate() -> None:
    other = agreement(title="MRA between Brazil and Uruguay (draft 2)")
    s = state(propose(BR_UY, "BR", "2026-02-01"), approve(other, "UY", "2026-02-02"))
    assert s.phase is Phase.PROPOSED and s.status_at(ms("2026-03-01")) == "pending"


def test_withdrawal_ends_it_from_that_entry_and_is_final() -> None:
    s = state(
        propose(BR_UY, "BR", "2026-02-01"),
        approve(BR_UY, "UY", "2026-02-02"),
        withdraw(BR_UY, "UY", "2026-05-01"),
        approve(BR_UY, "UY", "2026-06-01", seq=1),
    )
    assert s.status_at(ms("2026-04-30")) == "active"
    assert s.status_at(ms("2026-05-01")) == "withdrawn"
    assert s.phase is Phase.WITHDRAWN and s.ignored


def test_amendment_replaces_the_old_version_once_all_approve() -> None:
    v2 = agreement(version=2, params={**BR_UY.params, "fields": ["legal_name"]})
    s = state(
        propose(BR_UY, "BR", "2026-02-01"),
        approve(BR_UY, "UY", "2026-02-02"),
        propose(v2, "UY", "2026-03-01"),
    )
    assert s.in_force_at(ms("2026-03-15")) == BR_UY
    s = state(
        propose(BR_UY, "BR", "2026-02-01"),
        approve(BR_UY, "UY", "2026-02-02"),
        propose(v2, "UY", "2026-03-01"),
        approve(v2, "BR", "2026-03-10"),
    )
    assert s.in_force_at(ms("2026-03-05")) == BR_UY
    assert s.in_force_at(ms("2026-03-10")) == v2
    assert s.current == v2


def test_outsiders_cannot_propose_or_withdraw() -> None:
    s = state(propose(BR_UY, "CL", "2026-02-01"))
    assert s.documents == {} and s.ignored
    s = state(
        propose(BR_UY, "BR", "2026-02-01"),
        approve(BR_UY, "UY", "2026-02-02"),
        withdraw(BR_UY, "CL", "2026-02-03"),
    )
    assert s.status_at(ms("2026-03-01")) == "active"


def test_withdrawn_is_final_in_the_table() -> None:
    assert not [key for key in TRANSITIONS if key[0] is Phase.WITHDRAWN]


def summary(states: dict[str, AgreementState]) -> Any:
    return {
        key: (
            s.phase,
            s.withdrawn_at,
            [(t, d.hash) for t, d in s.in_force],
            [s.status_at(ms(day)) for day in ("2026-02-02", "2026-03-05", "2026-03-20")],
        )
        for key, s in states.items()
    }


V2 = agreement(version=2, params={**BR_UY.params, "fields": ["legal_name"]})
HISTORY = [
    propose(BR_UY, "BR", "2026-02-01"),
    approve(BR_UY, "UY", "2026-02-02"),
    propose(PLURI, "AR", "2026-02-01"),
    approve(PLURI, "BR", "2026-02-02"),
    approve(PLURI, "PY", "2026-02-02"),
    approve(PLURI, "UY", "2026-02-03"),
    propose(V2, "UY", "2026-03-01"),
    approve(V2, "BR", "2026-03-10"),
    withdraw(PLURI, "PY", "2026-03-15"),
]


@settings(max_examples=200)
@given(st.permutations(HISTORY), st.permutations(HISTORY), st.permutations(HISTORY))
def test_three_nodes_fed_in_different_orders_agree(
    a: list[Event], b: list[Event], c: list[Event]
) -> None:
    first = summary(derive(a))
    assert first == summary(derive(b)) == summary(derive(c))
    assert first["MERCOSUR-AEO"][3] == ["pending", "active", "withdrawn"]
    assert first["MRA-BR-UY"][2][-1][1] == V2.hash


@pytest.mark.parametrize("phase", list(Phase))
def test_every_live_phase_can_be_withdrawn(phase: Phase) -> None:
    if phase is not Phase.WITHDRAWN:
        assert TRANSITIONS[(phase, "withdraw")] is Phase.WITHDRAWN
