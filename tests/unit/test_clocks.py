"""The two clocks (node.core.clocks) against a brute-force reading of random histories with
back-dated changes: a calendar painted day by day, version after version."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from node.core.clocks import Version, answering, version_of
from node.core.status import TRANSITIONS, StatusCode

AUTHORISED = date(2025, 3, 1)
DAYS = 90  # effective dates fall within DAYS of the authorisation
MS_PER_DAY = 86_400_000


@st.composite
def histories(draw: st.DrawFn) -> list[Version]:
    """A record's versions as a node may hold them: statuses along the allowed transitions,
    effective dates anywhere from the authorisation on (back-dated or not), recording times
    that never go back, some versions missing (not shared) and ``authorised`` sometimes
    hidden (a view that does not show it)."""
    hidden = draw(st.booleans())
    code = draw(st.sampled_from(StatusCode))
    recorded = draw(st.integers(0, 10 * MS_PER_DAY))
    versions = []
    for seq in range(draw(st.integers(1, 8))):
        effective = AUTHORISED + timedelta(days=draw(st.integers(0, DAYS)))
        shown = draw(st.booleans())  # a version not shared with this node is not held
        if shown or seq == 0:
            versions.append(
                Version(
                    seq=seq * 3 + draw(st.integers(0, 2)),
                    recorded=recorded,
                    code=code,
                    effective=effective,
                    authorised=None if hidden else AUTHORISED,
                )
            )
        recorded += draw(st.integers(0, 5 * MS_PER_DAY))
        if not TRANSITIONS[code]:
            break  # final: nothing follows
        code = draw(st.sampled_from(sorted(TRANSITIONS[code] | {code})))
    return versions


def painted(versions: list[Version], on: date, as_of: int | None) -> Version | None:
    """The brute-force reading: keep what was recorded by ``as_of``, then paint a calendar
    from each version's start up to ``on``, in the order the versions were recorded."""
    known = sorted(
        (v for v in versions if as_of is None or v.recorded <= as_of), key=lambda v: v.seq
    )
    if not known:
        return None
    first = min(d for v in known for d in (v.authorised, v.effective) if d is not None)
    calendar: dict[date, Version] = {}
    for version in known:
        assert version.effective is not None
        day = first if version.code is StatusCode.ANNULLED else version.effective
        while day <= on:
            calendar[day] = version
            day += timedelta(days=1)
    return calendar.get(on)


def instants(versions: list[Version]) -> st.SearchStrategy[int | None]:
    times = sorted({v.recorded for v in versions})
    near = [t + d for t in times for d in (-1, 0, 1)]
    return st.none() | st.sampled_from(near) | st.integers(-1, 60 * MS_PER_DAY)


@settings(max_examples=400)
@given(st.data())
def test_legal_time_matches_the_painted_calendar(data: st.DataObject) -> None:
    versions = data.draw(histories())
    on = AUTHORISED + timedelta(days=data.draw(st.integers(-5, DAYS + 5)))
    as_of = data.draw(instants(versions))
    assert answering(versions, in_force_on=on, as_of=as_of) == painted(versions, on, as_of)


@settings(max_examples=200)
@given(st.data())
def test_ledger_time_is_the_latest_recorded_by_then(data: st.DataObject) -> None:
    versions = data.draw(histories())
    as_of = data.draw(instants(versions))
    recorded = [v for v in versions if as_of is None or v.recorded <= as_of]
    expected = recorded[-1] if recorded else None  # the versions come in seq order
    assert answering(versions, as_of=as_of) == expected


@given(histories())
def test_a_date_after_every_change_answers_the_latest_version(versions: list[Version]) -> None:
    later = AUTHORISED + timedelta(days=DAYS)
    assert answering(versions, in_force_on=later) == versions[-1]


def test_the_issue_example_back_dated_revocation() -> None:
    """Authorised in 2025, entered in 2026; revoked from 2026-11-01, recorded 2026-12-01."""
    entered, revoked_at = 1_780_000_000_000, 1_796_083_200_000  # late May and end of November 2026
    valid = version_of(0, entered, _doc("valid", "2025-04-02"))
    revoked = version_of(1, revoked_at, _doc("revoked", "2026-11-01"))
    history = [valid, revoked]
    assert answering(history, in_force_on=date(2025, 6, 1)) == valid
    assert answering(history, in_force_on=date(2025, 4, 1)) is None  # before it took effect
    assert answering(history, in_force_on=date(2026, 11, 15)) == revoked
    assert answering(history, as_of=revoked_at - 1) == valid
    assert answering(history, in_force_on=date(2026, 11, 15), as_of=revoked_at - 1) == valid
    assert answering(history, as_of=entered - 1) is None


def test_annulled_is_void_from_the_start_of_the_authorisation() -> None:
    history = [
        version_of(0, 10, _doc("valid", "2025-04-10")),
        version_of(1, 20, _doc("annulled", "2026-01-01")),
    ]
    assert answering(history, in_force_on=date(2025, 4, 2)) == history[1]
    assert answering(history, in_force_on=date(2025, 4, 1)) is None  # before authorisation


def test_a_view_without_authorised_is_read_without_it() -> None:
    view = {"aeo_id": "BR1", "status": {"code": "annulled", "effective": "2026-01-01"}}
    only = version_of(0, 10, view)
    assert only.authorised is None
    assert answering([only], in_force_on=date(2025, 12, 31)) is None  # nothing earlier shown
    assert answering([only], in_force_on=date(2026, 1, 1)) == only


def test_versions_without_a_status_state_nothing() -> None:
    bare = version_of(0, 10, {"aeo_id": "BR1", "status": {"code": "bogus"}})
    assert (bare.code, bare.effective) == (None, None)
    assert answering([bare], in_force_on=date(2030, 1, 1)) is None
    assert answering([bare]) == bare  # ledger time still shows it


def _doc(code: str, effective: str) -> dict[str, object]:
    return {
        "aeo_id": "BR1",
        "authorised": "2025-04-02",
        "status": {"code": code, "reason": None, "effective": effective},
    }
