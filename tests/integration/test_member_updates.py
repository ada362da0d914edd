"""A member's own updates on real homes (network.member_updates): renew and move, what they
write and refuse, and how a node takes the updates peers send (the running network is in
tests/system/test_governance.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from network.bootstrap import MemberSpec, init_network
from network.governance import sign_update
from network.member_updates import MemberUpdates, in_force, load_updates, move, renew
from network.membership import SignedMembership
from network.onboarding import install, join, propose_member, sign
from network.peers import Peers
from network.pki import not_after
from node.core.errors import Conflict, InvalidInput
from node.host.home import NodeHome, load_signing_key
from node.host.keyfiles import encrypt_home
from node.store.sqlite import SqliteStore

NOW = datetime.now(UTC)


@pytest.fixture
def net(tmp_path: Path) -> Path:
    specs = [
        MemberSpec(code="BR", name="Receita Federal", endpoint="https://127.0.0.1:7441"),
        MemberSpec(code="UY", name="Aduanas", endpoint="https://127.0.0.1:7442"),
    ]
    init_network(tmp_path / "net", "Test network", specs, now=NOW)
    return tmp_path / "net"


def opened(net: Path, code: str) -> tuple[NodeHome, SqliteStore]:
    home = NodeHome(path=net / code)
    return home, SqliteStore.open(home.db_path)


def test_renew_writes_the_next_certificate_and_an_update_signed_by_the_member(net: Path) -> None:
    home, store = opened(net, "BR")
    try:
        before = (net / "BR" / "tls.crt").read_text()
        signed = renew(home, store, now=NOW)
        assert (net / "BR" / "tls.next.crt").read_text() == signed.update.tls_cert
        assert signed.update.revision == 1 and signed.update.previous_tls_cert == before
        membership, applied = in_force(home, store)
        member = membership.member("BR")
        assert member is not None and member.tls_cert == signed.update.tls_cert
        assert applied == {"BR": signed} and load_updates(home) == {"BR": signed}
        with pytest.raises(Conflict, match="waiting for every peer"):
            renew(home, store, now=NOW)
        assert load_updates(home) == {"BR": signed}  # the refused one changed nothing
    finally:
        store.close()


def test_move_refuses_a_bad_endpoint_and_makes_a_certificate_for_a_new_host(net: Path) -> None:
    home, store = opened(net, "BR")
    try:
        with pytest.raises(InvalidInput, match="endpoint"):
            move(home, store, "ftp://elsewhere", now=NOW)
        with pytest.raises(InvalidInput, match=r"at https://127\.0\.0\.1:7441 already"):
            move(home, store, "https://127.0.0.1:7441", now=NOW)
        assert load_updates(home) == {}
        port = move(home, store, "https://127.0.0.1:7451", now=NOW)
        assert port.update.tls_cert == (net / "BR" / "tls.crt").read_text()
        assert not (net / "BR" / "tls.next.crt").exists()
        host = move(home, store, "https://br.example:7441", now=NOW)
        assert host.update.revision == 2
        cert = x509.load_pem_x509_certificate((net / "BR" / "tls.next.crt").read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "br.example" in names.get_values_for_type(x509.DNSName)
    finally:
        store.close()


def test_a_sealed_tls_key_is_renewed_sealed(net: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = b"a passphrase long enough"
    monkeypatch.setenv("MRA_KEY_PASSPHRASE", secret.decode())
    encrypt_home(net / "BR", secret)
    home, store = opened(net, "BR")
    try:
        renew(home, store, now=NOW)
    finally:
        store.close()
    sealed = (net / "BR" / "tls.next.key").read_bytes()
    assert b"ENCRYPTED" in sealed
    serialization.load_pem_private_key(sealed, password=secret)


def test_a_node_takes_an_update_of_a_member_signed_by_it_and_refuses_anothers(
    net: Path,
) -> None:
    br_home, br_store = opened(net, "BR")
    uy_home, uy_store = opened(net, "UY")
    try:
        own = renew(br_home, br_store, now=NOW)
        base = SignedMembership.from_json((net / "UY" / "membership.json").read_text()).membership
        peers = Peers("UY", base)
        updates = MemberUpdates(home=uy_home, store=uy_store, peers=peers, tls=None, base=base)
        forged = sign_update(
            own.update.__class__(**{**own.update.to_dict(), "code": "UY"}),
            load_signing_key(net / "BR" / "signing.key"),
        )
        refused = updates.take([forged], "BR")
        assert len(refused) == 1 and "not signed by UY" in refused[0]
        assert updates.take([own], "BR") == []
        assert updates.take([own], "BR") == []  # held already: neither refused nor taken again
        member = peers.membership.member("BR")
        assert member is not None and member.revision == 1
        assert peers.pins["BR"] == {own.update.tls_cert_sha256, own.update.previous_tls_cert_sha256}
        assert peers.member_with(own.update.previous_tls_cert_sha256) == "BR"
        saved = json.loads((net / "UY" / "member-updates.json").read_text())
        assert list(saved) == ["BR"]
    finally:
        br_store.close()
        uy_store.close()


def test_a_member_joins_after_another_renewed_and_the_version_folds_the_renewal_in(
    net: Path,
) -> None:
    """Onboarding after a renewal: the proposal carries BR's entry as in force (its renewed
    certificate), every member signs it, and installing it keeps BR's renewal in force."""
    br, br_store = opened(net, "BR")
    uy, uy_store = opened(net, "UY")
    try:
        signed = renew(br, br_store, now=NOW)
        for name in ("crt", "key"):  # the switch, as the running node makes it
            (net / "BR" / f"tls.next.{name}").replace(net / "BR" / f"tls.{name}")
        (net / "UY" / "member-updates.json").write_text(
            (net / "BR" / "member-updates.json").read_text()
        )  # as gossip brings it
        request = join(
            NodeHome(path=net / "PE"), "PE", "SUNAT", "https://pe.example:1", self_issued=NOW
        )
        proposal = propose_member(br, br_store, request)
        proposal = sign(uy, uy_store, proposal)
        pe, pe_store = opened(net, "PE")
        try:
            proposal = sign(pe, pe_store, proposal)
        finally:
            pe_store.close()
        membership = install(uy, uy_store, proposal)
        member = membership.member("BR")
        assert member is not None and member.tls_cert == signed.update.tls_cert
        assert member.revision == 1
        in_force_at_uy, held = in_force(uy, uy_store)
        assert in_force_at_uy == membership and held == {}  # folded in: nothing left on top
    finally:
        br_store.close()
        uy_store.close()


def test_a_renewal_waits_for_every_peer_unless_the_presented_certificate_nearly_expired(
    net: Path,
) -> None:
    home, store = opened(net, "BR")
    try:
        signed = renew(home, store, now=NOW)
        base = SignedMembership.from_json((net / "BR" / "membership.json").read_text()).membership
        peers = Peers("BR", base)
        updates = MemberUpdates(home=home, store=store, peers=peers, tls=None, base=base)
        presented = not_after((net / "BR" / "tls.crt").read_bytes())
        now_ms = int(NOW.timestamp() * 1000)
        assert not updates.switch_when_held(now_ms)  # UY does not hold it yet
        assert (net / "BR" / "tls.next.crt").exists()
        hour_before = int(presented.timestamp() * 1000) - 3_600_000
        peers.acknowledged["UY"] = 0
        assert updates.switch_when_held(hour_before)  # a day from expiry: switched anyway
        assert (net / "BR" / "tls.crt").read_text() == signed.update.tls_cert
        assert not (net / "BR" / "tls.next.crt").exists()
        assert not updates.switch_when_held(now_ms)  # nothing pending any more
    finally:
        store.close()


def test_a_renewal_is_presented_once_every_peer_holds_it(net: Path) -> None:
    home, store = opened(net, "BR")
    try:
        signed = renew(home, store, now=NOW)
        base = SignedMembership.from_json((net / "BR" / "membership.json").read_text()).membership
        peers = Peers("BR", base)
        updates = MemberUpdates(home=home, store=store, peers=peers, tls=None, base=base)
        peers.acknowledged["UY"] = signed.update.revision
        assert updates.switch_when_held(int(NOW.timestamp() * 1000))
        assert (net / "BR" / "tls.crt").read_text() == signed.update.tls_cert
    finally:
        store.close()
