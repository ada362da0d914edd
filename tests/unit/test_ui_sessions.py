"""The UI's sessions and CSRF tokens, and the status actions an officer is offered."""

from __future__ import annotations

import pytest

from node.app.ui_officer import actions_for
from node.app.ui_sessions import Sessions
from node.host.apikeys import Caller, Role


def test_a_csrf_token_belongs_to_one_open_session_of_one_process() -> None:
    sessions = Sessions()
    mine = sessions.open(Caller("aaaaaaaaaaaa", Role.PUBLISHER))
    theirs = sessions.open(Caller("bbbbbbbbbbbb", Role.VIEWER))
    token = sessions.csrf(mine)
    assert sessions.csrf_ok(mine, token)
    assert not sessions.csrf_ok(mine, sessions.csrf(theirs))
    assert not sessions.csrf_ok(mine, "")
    assert not sessions.csrf_ok(mine, token[:-1] + ("0" if token[-1] != "0" else "1"))
    assert not sessions.csrf_ok("not-a-session", sessions.csrf("not-a-session"))
    assert not Sessions().csrf_ok(mine, token)  # another process (a restart): another secret
    sessions.close(mine)
    assert not sessions.csrf_ok(mine, token)


def test_an_expired_session_has_no_valid_token() -> None:
    sessions = Sessions(ttl=-1)
    token = sessions.open(Caller("aaaaaaaaaaaa", Role.PUBLISHER))
    assert not sessions.csrf_ok(token, sessions.csrf(token))


@pytest.mark.parametrize(
    ("status", "offered"),
    [
        ("valid", ["suspended", "revoked"]),
        ("suspended", ["valid", "revoked"]),
        ("revoked", []),
        ("annulled", []),
        ("", []),
    ],
)
def test_the_actions_offered_follow_the_transition_table(status: str, offered: list[str]) -> None:
    assert [code for code, _ in actions_for(status)] == offered
