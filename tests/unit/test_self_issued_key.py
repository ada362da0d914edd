"""``network.pki.self_issued`` given a key (the simulation's, drawn from its seed): the same key
gives the same certificate, byte for byte; without one, each certificate has a fresh key and
serial number from the operating system's generator."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from network.pki import self_issued

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _key(value: int) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(value, ec.SECP256R1())


def test_a_given_key_gives_the_same_certificate_every_time() -> None:
    first = self_issued("BR", "Test", ["br.test"], now=NOW, key=_key(7))
    again = self_issued("BR", "Test", ["br.test"], now=NOW, key=_key(7))
    other = self_issued("BR", "Test", ["br.test"], now=NOW, key=_key(8))
    assert first.cert_pem == again.cert_pem and first.key_pem == again.key_pem
    assert other.cert_pem != first.cert_pem
    cert = x509.load_pem_x509_certificate(first.cert_pem)
    assert cert.public_key() == _key(7).public_key()
    assert 0 < cert.serial_number < 2**159


def test_without_a_key_each_certificate_is_new() -> None:
    first = self_issued("BR", "Test", ["br.test"], now=NOW)
    again = self_issued("BR", "Test", ["br.test"], now=NOW)
    assert first.key_pem != again.key_pem
    serials = {x509.load_pem_x509_certificate(c.cert_pem).serial_number for c in (first, again)}
    assert len(serials) == 2
    key = serialization.load_pem_private_key(first.key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
