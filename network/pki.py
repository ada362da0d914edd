"""Node TLS certificates (X.509, ``cryptography``): self-issued, or from a network CA.

No external PKI is needed. A member is its own trust root (``self_issued``): its certificate
signs itself, and the membership pins it and carries it, so no member holds a key that admits
anyone else. Networks created before that have one CA (``new_ca``) whose certificates their
memberships still pin; each member leaves it with ``mra network renew``. Every node certificate
carries its member code in its subject. TLS keys
are ECDSA P-256, which every TLS stack accepts; ledger signatures stay Ed25519 (node.core.crypto).
Everything here works in memory and returns PEM bytes; callers decide where files go.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from node.core.errors import InvalidInput

__all__ = [
    "CertificateAuthority",
    "NodeCertificate",
    "certificate_request",
    "encrypted_key",
    "member_of",
    "new_ca",
    "not_after",
    "self_issued",
]

MEMBER_PREFIX = "mra-member:"


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeCertificate:
    key_pem: bytes = field(repr=False)
    cert_pem: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateAuthority:
    """A network CA: its key (secret) and self-signed certificate."""

    key: ec.EllipticCurvePrivateKey = field(repr=False)
    cert: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return _pem(self.key)

    @classmethod
    def load(cls, key_pem: bytes, cert_pem: bytes) -> CertificateAuthority:
        """The CA from its key and certificate files (as ``mra network init`` wrote them)."""
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise InvalidInput("the CA key is not an EC key", field="ca.key")
        cert = x509.load_pem_x509_certificate(cert_pem)
        if cert.public_key() != key.public_key():
            raise InvalidInput("ca.key does not belong to ca.crt", field="ca.key")
        return cls(key=key, cert=cert)

    def issue(
        self, code: str, hosts: list[str], *, now: datetime, days: int = 825
    ) -> NodeCertificate:
        """A new TLS key and its certificate for member ``code``, valid as server and client,
        for ``hosts`` (DNS names or IP addresses)."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._certificate(code, key.public_key(), hosts, now=now, days=days)
        return NodeCertificate(key_pem=_pem(key), cert_pem=cert)

    def certify(
        self, csr_pem: bytes, code: str, hosts: list[str], *, now: datetime, days: int = 825
    ) -> bytes:
        """The certificate for a request made by member ``code`` (which kept its TLS key).

        Raises InvalidInput when the request is malformed, not self-signed by its key, or made
        out to another member.
        """
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as exc:
            raise InvalidInput(f"not a PEM certificate request: {exc}", field="csr") from None
        if not csr.is_signature_valid:
            raise InvalidInput("the request's signature does not verify", field="csr")
        common = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if not common or common[0].value != f"{MEMBER_PREFIX}{code}":
            raise InvalidInput(f"the request is not made out to {code}", field="csr")
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise InvalidInput("the request's key is not an EC key", field="csr")
        return self._certificate(code, public_key, hosts, now=now, days=days)

    def _certificate(
        self,
        code: str,
        public_key: ec.EllipticCurvePublicKey,
        hosts: list[str],
        *,
        now: datetime,
        days: int,
    ) -> bytes:
        cert = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COMMON_NAME, f"{MEMBER_PREFIX}{code}"),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.network),
                    ]
                )
            )
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(_names(hosts)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM)

    @property
    def network(self) -> str:
        value = self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        return str(value)


def certificate_request(code: str, hosts: list[str]) -> tuple[bytes, bytes]:
    """A new TLS key for member ``code`` and a request for its certificate, both PEM, that the
    network CA answers with ``CertificateAuthority.certify``."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{MEMBER_PREFIX}{code}")])
        )
        .add_extension(x509.SubjectAlternativeName(_names(hosts)), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _pem(key), csr.public_bytes(serialization.Encoding.PEM)


def self_issued(
    code: str,
    network: str,
    hosts: list[str],
    *,
    now: datetime,
    days: float = 825,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> NodeCertificate:
    """A new TLS key for member ``code`` and a certificate it signs itself, valid as server and
    client for ``hosts`` from five minutes before ``now`` until ``days`` after it.

    ``key``: the key to certify instead of a new one from the operating system's generator;
    the serial number and the signature then follow from it (RFC 6979), so that a simulation
    that draws its keys from a seed replays exactly. Nodes never pass one."""
    given = key is not None
    if key is None:
        key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # Each certificate of a member gets a name of its own (its key's digest): the TLS stack
    # finds a trusted certificate by name, and a renewal must not hide the one it replaces.
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"{MEMBER_PREFIX}{code}"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, network),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, hashlib.sha256(spki).hexdigest()[:32]),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(_serial_of(spki) if given else x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(_names(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256(), ecdsa_deterministic=True if given else None)
    )
    return NodeCertificate(
        key_pem=_pem(key), cert_pem=cert.public_bytes(serialization.Encoding.PEM)
    )


def _serial_of(spki: bytes) -> int:
    """A positive serial number of at most 159 bits (RFC 5280 §4.1.2.2) from a key's digest."""
    return int.from_bytes(hashlib.sha256(b"mra-ledger/serial/v1\x00" + spki).digest()[:20]) >> 1


def encrypted_key(key_pem: bytes, secret: bytes) -> bytes:
    """``key_pem`` as an encrypted PKCS#8 PEM, opened with ``secret`` (as ``mra key encrypt``
    seals ``tls.key``)."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret),
    )


def not_after(cert_pem: bytes) -> datetime:
    """When a certificate expires (UTC). Raises InvalidInput for one that is not PEM."""
    try:
        return x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc
    except ValueError as exc:
        raise InvalidInput(f"not a PEM certificate: {exc}", field="certificate") from None


def _names(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def new_ca(network: str, *, now: datetime, days: int = 3650) -> CertificateAuthority:
    """A fresh CA for the network called ``network``."""
    if not network.strip():
        raise InvalidInput("a network needs a name", field="network")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, network)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(key=key, cert=cert)


def member_of(cert_pem: bytes, ca_pem: bytes) -> str:
    """The member code a certificate was issued to, after checking the CA signed it.

    Raises InvalidInput when the certificate is not from this network's CA.
    """
    cert = x509.load_pem_x509_certificate(cert_pem)
    ca = x509.load_pem_x509_certificate(ca_pem)
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, Exception) as exc:  # InvalidSignature has no common base
        raise InvalidInput(
            f"certificate not issued by this network's CA: {exc}", field="certificate"
        ) from exc
    common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not common or not str(common[0].value).startswith(MEMBER_PREFIX):
        raise InvalidInput("certificate names no member", field="certificate")
    return str(common[0].value)[len(MEMBER_PREFIX) :]
