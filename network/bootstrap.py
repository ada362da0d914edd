"""``mra network init``: everything a new network needs, written to one directory.

    DIR/membership.json                  membership v1 with every member's signature
    DIR/members.pem                      every member's self-issued certificate, for clients
    DIR/ca.crt, DIR/ca.key (0600)        (legacy ``network_ca`` only) the CA; keep ca.key offline
    DIR/<CODE>/                          one node home per member:
        node.json, signing.key (0600)    identity and Ed25519 ledger key (node.host.home)
        sealing.key (0600)               X25519 key that partners seal payloads to
        tls.key (0600), tls.crt          TLS identity, self-issued (legacy: from the network CA)
        ca.crt                           (legacy ``network_ca`` only) the CA's certificate
        membership.json                  the signed membership document
        ledger.db                        the ledger, with every member's ledger key registered

Each member is its own TLS trust root and no one holds a key that admits anyone (issue 24,
point 1): the membership pins and carries each member's self-issued certificate. A network CA
(``network_ca``) is the legacy mode, kept for networks created that way; each of their members
leaves it with ``mra network renew``.

Onboarding a member later is a new membership version signed by all (``network.onboarding``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

import nacl.public
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from network.membership import Member, Membership, Rule, SignedMembership, sign_membership
from network.pki import new_ca
from network.pki import self_issued as self_issued_certificate
from node.core.errors import Conflict, InvalidInput
from node.host.home import NodeHome, load_signing_key
from node.host.keyfiles import write_private
from node.store.sqlite import SqliteStore

__all__ = [
    "MemberSpec",
    "cert_sha256",
    "client_trust",
    "init_network",
    "new_sealing_key",
    "tls_hosts",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberSpec:
    code: str
    name: str
    endpoint: str

    @classmethod
    def parse(cls, text: str) -> MemberSpec:
        """``CODE,Name,https://host:port`` as given on the command line."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 3:
            raise InvalidInput(f"write CODE,Name,https://host:port (got {text!r})", field="member")
        return cls(code=parts[0].upper(), name=parts[1], endpoint=parts[2])


def new_sealing_key(home: NodeHome) -> str:
    """Create the home's X25519 sealing key; returns its public half (hex)."""
    sealing = nacl.public.PrivateKey.generate()
    write_private(home.path / "sealing.key", bytes(sealing).hex().encode() + b"\n")
    return bytes(sealing.public_key).hex()


def tls_hosts(endpoint: str) -> list[str]:
    """The names a node's TLS certificate is valid for: its endpoint's host and the loopback."""
    host = urlparse(endpoint).hostname or "localhost"
    return sorted({host, "localhost", "127.0.0.1"})


def cert_sha256(cert_pem: bytes) -> str:
    """The SHA-256 of a certificate's DER form, as the membership names it."""
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def client_trust(directory: Path) -> Path:
    """The file an API client of the network created in ``directory`` verifies its nodes
    with: ``members.pem`` (every member's self-issued certificate), or the ``ca.crt`` of a
    network created with a network CA."""
    bundle = directory / "members.pem"
    legacy = directory / "ca.crt"
    return legacy if legacy.exists() and not bundle.exists() else bundle


def init_network(
    directory: Path,
    network: str,
    specs: list[MemberSpec],
    *,
    now: datetime,
    network_ca: bool = False,
) -> Membership:
    """Create every member's keys, self-issued certificates (legacy ``network_ca``: from a new
    network CA instead) and home, and the signed membership, which states its rule
    (``network.membership.Rule``).

    Raises InvalidInput for bad members, Conflict when ``directory`` already holds a network.
    """
    if (directory / "membership.json").exists():
        raise Conflict(f"{directory} already holds a network", field="dir")
    if len({s.code for s in specs}) != len(specs) or len(specs) < 2:
        raise InvalidInput("two or more members, each once", field="member")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca = new_ca(network, now=now) if network_ca else None
    members: list[Member] = []
    for spec in specs:
        home = NodeHome(path=directory / spec.code)
        config = home.init(spec.code, spec.name)
        sealing_key = new_sealing_key(home)
        hosts = tls_hosts(spec.endpoint)
        if ca is None:
            tls = self_issued_certificate(spec.code, network, hosts, now=now)
        else:
            tls = ca.issue(spec.code, hosts, now=now)
            (home.path / "ca.crt").write_bytes(ca.cert_pem)
        write_private(home.path / "tls.key", tls.key_pem)
        (home.path / "tls.crt").write_bytes(tls.cert_pem)
        members.append(
            Member(
                code=spec.code,
                name=spec.name,
                endpoint=spec.endpoint,
                signing_key=config.public_key.hex(),
                sealing_key=sealing_key,
                tls_cert_sha256=cert_sha256(tls.cert_pem),
                tls_cert=tls.cert_pem.decode() if ca is None else "",
            )
        )
    membership = Membership(network=network, version=1, members=tuple(members), rule=Rule())
    signatures = {
        m.code: sign_membership(membership, load_signing_key(directory / m.code / "signing.key"))
        for m in membership.members
    }
    signed = SignedMembership(membership=membership, signatures=signatures)
    signed.verify()
    document = signed.to_json()
    if ca is None:
        (directory / "members.pem").write_text("".join(m.tls_cert for m in membership.members))
    else:
        write_private(directory / "ca.key", ca.key_pem)
        (directory / "ca.crt").write_bytes(ca.cert_pem)
    (directory / "membership.json").write_text(document)
    for member in membership.members:
        (directory / member.code / "membership.json").write_text(document)
        store = SqliteStore.open(directory / member.code / "ledger.db")
        try:
            for other in membership.members:
                store.add_key(other.code, 0, other.public_key())
        finally:
            store.close()
    return membership
