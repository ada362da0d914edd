"""Removing a member, or a member leaving, step by step on real files (issue 24, point 4): what
each step checks and refuses (the running network is in tests/system/test_governance.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from contracts.agreement import Agreement
from contracts.registry import SOURCE_HASHES
from network.bootstrap import MemberSpec, init_network
from network.membership import SignedMembership
from network.onboarding import install, installed, sign
from network.removal import propose_removal
from node.app.api import create_app
from node.core.clock import system_clock
from node.core.errors import Conflict, IntegrityError, InvalidInput
from node.host.apikeys import create_key
from node.host.home import NodeHome
from node.ledger import agreements
from node.store.sqlite import SqliteStore

NOW = datetime.now(UTC)


@pytest.fixture
def net(tmp_path: Path) -> Path:
    """A network of self-issued certificates: BR, UY, CL."""
    specs = [
        MemberSpec(code=c, name=f"Customs {c}", endpoint=f"https://127.0.0.1:{7441 + i}")
        for i, c in enumerate(("BR", "UY", "CL"))
    ]
    init_network(tmp_path / "net", "Test network", specs, now=NOW)
    return tmp_path / "net"


def at(net: Path, code: str, step: str, *args: object) -> SignedMembership:
    store = SqliteStore.open(net / code / "ledger.db")
    try:
        home = NodeHome(path=net / code)
        if step == "remove":
            return propose_removal(home, store, str(args[0]))
        assert isinstance(args[0], SignedMembership)
        if step == "sign":
            return sign(home, store, args[0])
        install(home, store, args[0])
        return installed(home)
    finally:
        store.close()


def test_the_others_remove_a_member_and_the_version_before_is_kept(net: Path) -> None:
    proposal = at(net, "BR", "remove", "CL")
    assert [m.code for m in proposal.membership.members] == ["BR", "UY"]
    assert proposal.membership.version == 2 and list(proposal.signatures) == ["BR"]
    proposal = at(net, "UY", "sign", proposal)
    before = (net / "BR" / "membership.json").read_text()
    assert at(net, "BR", "install", proposal).membership == proposal.membership
    assert (net / "BR" / "membership.v1.json").read_text() == before
    store = SqliteStore.open(net / "BR" / "ledger.db")
    try:  # CL's keys stay known: its log held here still verifies
        assert store.public_key("CL", 0) is not None
    finally:
        store.close()


def test_a_member_leaves_with_its_own_signature_as_its_statement(net: Path) -> None:
    proposal = at(net, "CL", "remove", "CL")  # mra network leave
    assert list(proposal.signatures) == ["CL"]
    for code in ("BR", "UY"):
        proposal = at(net, code, "sign", proposal)
    done = at(net, "UY", "install", proposal)
    assert set(done.signatures) == {"BR", "CL", "UY"}
    assert done.membership.member("CL") is None


def test_the_removed_member_may_sign_but_never_installs_its_removal(net: Path) -> None:
    proposal = at(net, "BR", "remove", "CL")
    proposal = at(net, "CL", "sign", proposal)  # it agrees: a statement, not needed
    proposal = at(net, "UY", "sign", proposal)
    with pytest.raises(Conflict, match=r"removes CL \(this node\): it keeps v1"):
        at(net, "CL", "install", proposal)
    assert installed(NodeHome(path=net / "CL")).membership.version == 1


def test_a_removal_signed_by_the_leaver_and_fewer_than_every_remaining_is_refused(
    net: Path,
) -> None:
    proposal = at(net, "CL", "remove", "CL")
    proposal = at(net, "BR", "sign", proposal)
    with pytest.raises(IntegrityError, match="removes CL: the rule needs UY's signature"):
        at(net, "BR", "install", proposal)
    # the same with UY's place filled by a signature that is not UY's
    forged = replace(proposal, signatures={**proposal.signatures, "UY": proposal.signatures["BR"]})
    with pytest.raises(IntegrityError, match="removes CL: UY's signature does not verify"):
        at(net, "BR", "install", forged)
    assert installed(NodeHome(path=net / "BR")).membership.version == 1


def test_remove_refuses_a_non_member_the_last_two_and_a_proposal_changing_another(
    net: Path,
) -> None:
    with pytest.raises(InvalidInput, match="PE is not a member in v1"):
        at(net, "BR", "remove", "PE")
    proposal = at(net, "BR", "remove", "CL")
    proposal = at(net, "UY", "sign", proposal)
    at(net, "BR", "install", proposal)
    with pytest.raises(InvalidInput, match="would leave BR alone"):
        at(net, "BR", "remove", "UY")
    # A removal that also changes a member it keeps is not signed.
    current = installed(NodeHome(path=net / "UY")).membership
    bad = SignedMembership(
        membership=replace(
            current,
            version=2,
            members=tuple(
                replace(m, name="Someone else") if m.code == "BR" else m
                for m in current.members
                if m.code != "CL"
            ),
        )
    )
    with pytest.raises(InvalidInput, match="changes BR"):
        at(net, "UY", "sign", bad)


def mra(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=60,
        check=False,
    )


def test_the_commands_leave_sign_install_and_a_bad_code(net: Path) -> None:
    proposal = str(net / "leave.json")
    said = mra("network", "leave", "--out", proposal, "--home", str(net / "CL"))
    assert said.returncode == 0, said.stderr
    assert "membership v2 (removes CL, who signed it: it leaves)" in said.stdout
    assert "still to sign: BR, UY" in said.stdout
    for code in ("BR", "UY"):
        said = mra("network", "sign", proposal, "--home", str(net / code))
        assert said.returncode == 0, said.stderr
    assert "complete: mra network install" in said.stdout
    said = mra("network", "install", proposal, "--home", str(net / "BR"))
    assert "installed membership v2: BR, UY" in said.stdout, said.stderr
    bad = mra("network", "remove", "PE", "--home", str(net / "UY"), "--out", str(net / "x.json"))
    assert bad.returncode != 0 and "PE is not a member in v1" in bad.stdout + bad.stderr
    assert not (net / "x.json").exists()


def test_an_agreement_naming_a_removed_member_shows_ended(net: Path) -> None:
    today = datetime.now(UTC).date()
    doc = Agreement.from_dict(
        {
            "id": "MRA-BR-CL",
            "kind": "bilateral",
            "parties": ["BR", "CL"],
            "contract": "mra-status-only",
            "contract_version": 1,
            "contract_sha256": SOURCE_HASHES["mra-status-only@1"],
            "params": {"certificates": ["AEOC"]},
            "valid_from": today.isoformat(),
            "title": "test",
            "legal_ref": "test",
        }
    )
    store = SqliteStore.open(net / "BR" / "ledger.db")
    try:
        agreements.propose(NodeHome(path=net / "BR").open_ledger(store), store, doc)
    finally:
        store.close()
    listed = mra("agreement", "list", "--home", str(net / "BR"))
    assert "pending" in listed.stdout, listed.stderr
    at(net, "BR", "install", at(net, "UY", "sign", at(net, "BR", "remove", "CL")))
    listed = mra("agreement", "list", "--home", str(net / "BR"))
    assert "ended (CL no member)" in listed.stdout, listed.stderr
    shown = mra("agreement", "show", "MRA-BR-CL", "--home", str(net / "BR"))
    assert '"state": "ended (CL no member)"' in shown.stdout, shown.stderr
    # The API and the UI say the same, from the same function (node.ledger.agreements).
    store = SqliteStore.open(net / "BR" / "ledger.db")
    try:
        key = create_key(store, "viewer", "test", system_clock())
    finally:
        store.close()
    with TestClient(create_app(NodeHome(path=net / "BR"), network=True)) as http:
        auth = {"Authorization": f"Bearer {key}"}
        [answer] = http.get("/v1/agreements", headers=auth).json()
        assert answer["id"] == "MRA-BR-CL" and answer["phase"] == "proposed"
        assert answer["state"] == "ended (CL no member)" and answer["no_member"] == ["CL"]
        assert http.post("/ui/login", data={"api_key": key}).status_code == 200
        page = http.get("/ui/agreements")
        assert page.status_code == 200 and "ended (CL no member)" in page.text
