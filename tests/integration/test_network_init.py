"""``mra network init``: keys, certificates, signed membership, and a real mutual-TLS handshake
between two members' certificates."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

from network.bootstrap import MemberSpec, init_network
from network.membership import (
    Member,
    Membership,
    Rule,
    SignedMembership,
    pem_sha256,
    verify_membership,
)
from network.pki import member_of, new_ca
from node.core.errors import Conflict, IntegrityError, InvalidInput
from node.store.sqlite import SqliteStore
from tests.integration.test_cli import mra

MEMBERS = [
    MemberSpec(code="BR", name="Receita Federal do Brasil", endpoint="https://127.0.0.1:7441"),
    MemberSpec(code="UY", name="Dirección Nacional de Aduanas", endpoint="https://127.0.0.1:7442"),
    MemberSpec(code="CL", name="Servicio Nacional de Aduanas", endpoint="https://127.0.0.1:7443"),
]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("net") / "devnet"
    init_network(directory, "Test network", MEMBERS, now=datetime.now(UTC), network_ca=True)
    return directory


def test_files_and_secrets(net: Path) -> None:
    assert (net / "ca.key").stat().st_mode & 0o777 == 0o600
    for code in ("BR", "UY", "CL"):
        for secret in ("signing.key", "sealing.key", "tls.key"):
            assert (net / code / secret).stat().st_mode & 0o777 == 0o600, (code, secret)
        store = SqliteStore.open(net / code / "ledger.db")
        assert store.origins() == ["BR", "CL", "UY"]  # every member's key registered
        store.close()


def test_membership_is_signed_by_every_member(net: Path) -> None:
    data = json.loads((net / "membership.json").read_text())
    membership = Membership.from_dict(data["document"])
    verify_membership(membership, data["signatures"])
    with pytest.raises(IntegrityError):
        verify_membership(membership, {**data["signatures"], "UY": "00" * 64})
    changed = Membership.from_dict({**data["document"], "version": 2})
    with pytest.raises(IntegrityError):
        verify_membership(changed, data["signatures"])


def test_certificates_map_to_members_and_outsiders_are_refused(net: Path) -> None:
    ca = (net / "ca.crt").read_bytes()
    assert member_of((net / "UY" / "tls.crt").read_bytes(), ca) == "UY"
    other = new_ca("Another network", now=datetime.now(UTC)).issue(
        "UY", ["127.0.0.1"], now=datetime.now(UTC)
    )
    with pytest.raises(InvalidInput):
        member_of(other.cert_pem, ca)


def test_init_refuses_to_overwrite_and_bad_members(net: Path, tmp_path: Path) -> None:
    with pytest.raises(Conflict):
        init_network(net, "again", MEMBERS, now=datetime.now(UTC))
    with pytest.raises(InvalidInput):
        MemberSpec.parse("BR-only")
    with pytest.raises(InvalidInput):
        init_network(tmp_path / "x", "x", MEMBERS[:1], now=datetime.now(UTC))


def test_mutual_tls_between_two_members(net: Path) -> None:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=net / "ca.crt")
    server_ctx.load_cert_chain(net / "BR" / "tls.crt", net / "BR" / "tls.key")
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.create_default_context(cafile=net / "ca.crt")
    client_ctx.load_cert_chain(net / "UY" / "tls.crt", net / "UY" / "tls.key")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen: list[str] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            der = tls.getpeercert(binary_form=True)
            assert der is not None
            seen.append(
                member_of(ssl.DER_cert_to_PEM_cert(der).encode(), (net / "ca.crt").read_bytes())
            )
            tls.sendall(b"ok")

    thread = threading.Thread(target=serve)
    thread.start()
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.recv(2) == b"ok"
    thread.join(timeout=10)
    listener.close()
    assert seen == ["UY"]


@pytest.mark.parametrize(
    "changes",
    [
        {"endpoint": "https://127.0.0.1:7441\n"},
        {"signing_key": "ab" * 32 + "\n"},
        {"tls_cert_sha256": "ab" * 32 + "\n"},
    ],
    ids=["endpoint", "signing_key", "tls_cert_sha256"],
)
def test_a_member_entry_with_a_trailing_newline_is_refused(changes: dict[str, str]) -> None:
    fields = {
        "code": "BR",
        "name": "Receita",
        "endpoint": "https://127.0.0.1:7441",
        "signing_key": "ab" * 32,
        "sealing_key": "ab" * 32,
        "tls_cert_sha256": "ab" * 32,
    }
    Member(**fields)
    with pytest.raises(InvalidInput) as caught:
        Member(**{**fields, **changes})
    assert caught.value.field == next(iter(changes))


def test_a_self_issued_network_has_no_ca_and_pins_each_members_own_certificate(
    tmp_path: Path,
) -> None:
    """Issue 24, point 1: no key that admits anyone exists; each member signs its own
    certificate, which the membership pins, carries and states the rule for."""
    net = tmp_path / "net"
    init_network(net, "Test network", MEMBERS, now=datetime.now(UTC))
    assert not list(net.rglob("ca.key")) and not list(net.rglob("ca.crt"))
    membership = SignedMembership.from_json((net / "membership.json").read_text())
    membership.verify()
    assert membership.membership.rule == Rule()
    bundle = (net / "members.pem").read_text()
    for member in membership.membership.members:
        cert = (net / member.code / "tls.crt").read_text()
        assert member.tls_cert == cert and cert in bundle
        assert pem_sha256(cert) == member.tls_cert_sha256
        parsed = x509.load_pem_x509_certificate(cert.encode())
        assert parsed.issuer == parsed.subject  # its own root


def test_mra_network_init_is_self_issued_unless_asked_for_a_network_ca(tmp_path: Path) -> None:
    """Issue 24, point 1: the command creates no CA by default; ``--network-ca`` (legacy)
    still makes one, for networks that keep working that way until each member renews."""
    members = [f"--member={s.code},{s.name},{s.endpoint}" for s in MEMBERS[:2]]
    made = mra(tmp_path / "unused", "network", "init", str(tmp_path / "own"), *members)
    assert made.returncode == 0, made.stderr
    assert "no CA" in made.stdout and (tmp_path / "own" / "members.pem").is_file()
    assert not list((tmp_path / "own").rglob("ca.*"))
    signed = SignedMembership.from_json((tmp_path / "own" / "membership.json").read_text())
    assert all(m.tls_cert for m in signed.membership.members)

    legacy = mra(
        tmp_path / "unused", "network", "init", str(tmp_path / "ca"), *members, "--network-ca"
    )
    assert legacy.returncode == 0, legacy.stderr
    assert (tmp_path / "ca" / "ca.key").is_file() and not (tmp_path / "ca" / "members.pem").exists()
    signed = SignedMembership.from_json((tmp_path / "ca" / "membership.json").read_text())
    assert not any(m.tls_cert for m in signed.membership.members)
