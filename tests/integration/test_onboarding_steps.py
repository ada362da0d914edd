"""Each onboarding step on real files: what it checks and what it refuses (the running network
is in tests/system/test_onboarding.py)."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from network.bootstrap import MemberSpec, init_network
from network.membership import Membership, SignedMembership, rotation_chain
from network.onboarding import certify, install, installed, join, propose_member, sign
from network.pki import certificate_request
from node.core.crypto import SigningKey
from node.core.entries import signing_message
from node.core.errors import Conflict, IntegrityError, InvalidInput
from node.host.home import NodeHome, load_signing_key
from node.store.sqlite import SqliteStore

NOW = datetime.now(UTC)


@pytest.fixture
def net(tmp_path: Path) -> Path:
    specs = [
        MemberSpec(code="BR", name="Receita Federal", endpoint="https://127.0.0.1:7441"),
        MemberSpec(code="UY", name="Aduanas", endpoint="https://127.0.0.1:7442"),
    ]
    init_network(tmp_path / "net", "Test network", specs, now=NOW, network_ca=True)
    return tmp_path / "net"


def joined(net: Path) -> tuple[Path, Path]:
    request = join(NodeHome(path=net / "PE"), "PE", "SUNAT", "https://pe.example:8443")
    return request, certify(net, request, net / "PE", now=NOW)


def home(net: Path, code: str) -> NodeHome:
    return NodeHome(path=net / code)


def propose_at(net: Path, code: str, request: Path, cert: Path | None = None) -> SignedMembership:
    store = SqliteStore.open(net / code / "ledger.db")
    try:
        return propose_member(home(net, code), store, request, cert)
    finally:
        store.close()


def sign_at(net: Path, code: str, proposal: SignedMembership) -> SignedMembership:
    store = SqliteStore.open(net / code / "ledger.db")
    try:
        return sign(home(net, code), store, proposal)
    finally:
        store.close()


def test_the_steps_give_a_version_every_member_signed(net: Path) -> None:
    request, cert = joined(net)
    proposal = propose_at(net, "BR", request, cert)
    assert proposal.membership.version == 2 and list(proposal.signatures) == ["BR"]
    for code in ("UY", "PE"):
        proposal = sign_at(net, code, proposal)
    for code in ("PE", "UY"):
        store = SqliteStore.open(net / code / "ledger.db")
        try:
            assert [m.code for m in install(home(net, code), store, proposal).members] == [
                "BR",
                "PE",
                "UY",
            ]
            assert store.public_key("PE", 0) is not None
        finally:
            store.close()
    assert installed(home(net, "UY")).membership == proposal.membership


def test_certify_refuses_a_request_for_another_member_or_garbage(net: Path) -> None:
    request, _ = joined(net)
    data = json.loads(request.read_text())
    _, other = certificate_request("UY", ["pe.example"])
    request.write_text(json.dumps({**data, "csr": other.decode()}))
    with pytest.raises(InvalidInput, match="not made out to PE"):
        certify(net, request, net / "out1", now=NOW)
    request.write_text(json.dumps({**data, "csr": "-----BEGIN CERTIFICATE REQUEST-----\nxx"}))
    with pytest.raises(InvalidInput, match="csr"):
        certify(net, request, net / "out2", now=NOW)
    request.write_text(json.dumps({**data, "endpoint": "ftp://pe"}))
    with pytest.raises(InvalidInput, match="endpoint"):
        certify(net, request, net / "out3", now=NOW)


def test_propose_refuses_a_member_twice_and_a_certificate_for_another_key(net: Path) -> None:
    request, cert = joined(net)
    data = json.loads(request.read_text())
    existing = net / "uy-request.json"
    existing.write_text(json.dumps({**data, "code": "UY"}))
    with pytest.raises(Conflict, match="UY is a member already"):
        propose_at(net, "BR", existing, cert)
    _, csr = certificate_request("PE", ["pe.example"])
    swapped = net / "swapped.json"
    swapped.write_text(json.dumps({**data, "csr": csr.decode()}))
    with pytest.raises(InvalidInput, match="not for the request's TLS key"):
        propose_at(net, "BR", swapped, cert)


def test_a_member_signs_only_the_next_version_keeping_every_member(net: Path) -> None:
    request, cert = joined(net)
    proposal = propose_at(net, "BR", request, cert)
    skipped = SignedMembership(membership=replace(proposal.membership, version=3))
    with pytest.raises(InvalidInput, match="not the version after v1"):
        sign_at(net, "UY", skipped)
    members = tuple(
        replace(m, endpoint="https://evil.example:1") if m.code == "BR" else m
        for m in proposal.membership.members
    )
    changed = SignedMembership(membership=replace(proposal.membership, members=members))
    with pytest.raises(InvalidInput, match="changes BR"):
        sign_at(net, "UY", changed)


def test_the_new_member_signs_only_an_entry_with_its_own_keys(net: Path) -> None:
    request, cert = joined(net)
    proposal = propose_at(net, "BR", request, cert)
    members = tuple(
        replace(m, sealing_key="ab" * 32) if m.code == "PE" else m
        for m in proposal.membership.members
    )
    wrong = SignedMembership(membership=replace(proposal.membership, members=members))
    with pytest.raises(InvalidInput, match="sealing_key"):
        sign_at(net, "PE", wrong)


def test_a_rotated_member_signs_with_its_new_key_and_proves_it_by_its_rotation(
    net: Path,
) -> None:
    br = home(net, "BR")
    store = SqliteStore.open(br.db_path)
    try:
        br.rotate_key(br.open_ledger(store))
    finally:
        store.close()
    request, cert = joined(net)
    proposal = propose_at(net, "BR", request, cert)
    assert len(proposal.rotations["BR"]) == 1
    proposal = sign_at(net, "PE", sign_at(net, "UY", proposal))
    proposal.verify()  # no log held: BR's key is followed through its rotation

    without_chain = replace(proposal, rotations={})
    with pytest.raises(IntegrityError, match="BR has not signed"):
        without_chain.verify()
    br_member = proposal.membership.member("BR")
    assert br_member is not None
    forged = SigningKey.generate()
    wire = dict(proposal.rotations["BR"][0])
    forgery = forged.sign(signing_message(base64.b64decode(wire["body"])))
    wire["signature"] = base64.b64encode(forgery).decode()
    with pytest.raises(IntegrityError, match="not signed by its key"):
        rotation_chain(br_member, [wire])


def test_install_refuses_an_older_version_and_another_network(net: Path) -> None:
    request, cert = joined(net)
    proposal = propose_at(net, "BR", request, cert)
    proposal = sign_at(net, "PE", sign_at(net, "UY", proposal))
    store = SqliteStore.open(net / "UY" / "ledger.db")
    try:
        install(home(net, "UY"), store, proposal)
        with pytest.raises(InvalidInput, match="does not follow the installed v2"):
            install(home(net, "UY"), store, proposal)
        other = SignedMembership(
            membership=Membership(network="Other", version=3, members=proposal.membership.members)
        )
        for code in ("BR", "PE", "UY"):
            other = other.signed_by(code, load_signing_key(net / code / "signing.key"), [])
        with pytest.raises(InvalidInput, match="another network"):
            install(home(net, "UY"), store, other)
    finally:
        store.close()


@pytest.fixture
def own_roots(tmp_path: Path) -> Path:
    """A network of self-issued certificates (no CA): BR, UY, CL."""
    specs = [
        MemberSpec(code=c, name=f"Customs {c}", endpoint=f"https://127.0.0.1:{7441 + i}")
        for i, c in enumerate(("BR", "UY", "CL"))
    ]
    init_network(tmp_path / "net", "Test network", specs, now=NOW)
    return tmp_path / "net"


def test_a_member_joins_a_network_with_no_ca_with_its_own_certificate(own_roots: Path) -> None:
    request = join(
        NodeHome(path=own_roots / "PE"), "PE", "SUNAT", "https://pe.example:8443", self_issued=NOW
    )
    assert "csr" not in json.loads(request.read_text())
    proposal = propose_at(own_roots, "BR", request)
    for code in ("UY", "CL", "PE"):
        proposal = sign_at(own_roots, code, proposal)
    store = SqliteStore.open(own_roots / "UY" / "ledger.db")
    try:
        membership = install(home(own_roots, "UY"), store, proposal)
    finally:
        store.close()
    pe = membership.member("PE")
    assert pe is not None and pe.tls_cert == (own_roots / "PE" / "tls.crt").read_text()
    assert membership.rule is not None


def _signed(net: Path, membership: Membership, *codes: str) -> SignedMembership:
    signed = SignedMembership(membership=membership)
    for code in codes:
        signed = signed.signed_by(code, load_signing_key(net / code / "signing.key"), [])
    return signed


@pytest.mark.parametrize(
    ("change", "signers", "reason"),
    [
        ("remove CL", ("BR",), "removes CL: the rule needs UY's signature"),
        ("move UY", ("BR",), "changes UY's endpoint, revision: the rule needs UY's signature"),
        ("rename UY", ("BR", "UY"), "changes UY's name: the rule needs CL's signature"),
    ],
)
def test_install_refuses_a_change_the_rule_does_not_allow_and_keeps_its_version(
    own_roots: Path, change: str, signers: tuple[str, ...], reason: str
) -> None:
    current = installed(home(own_roots, "BR")).membership
    members = {m.code: m for m in current.members}
    if change == "remove CL":
        del members["CL"]
    elif change == "move UY":
        members["UY"] = replace(members["UY"], endpoint="https://127.0.0.1:1", revision=1)
    else:
        members["UY"] = replace(members["UY"], name="Someone else")
    proposed = replace(current, version=2, members=tuple(members.values()))
    store = SqliteStore.open(own_roots / "BR" / "ledger.db")
    try:
        with pytest.raises(IntegrityError, match=reason):
            install(home(own_roots, "BR"), store, _signed(own_roots, proposed, *signers))
    finally:
        store.close()
    assert installed(home(own_roots, "BR")).membership == current
