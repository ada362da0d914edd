"""Onboarding a member into a running network: a new membership version approved by all (a
removal, ``network.removal``, is signed and installed by the same steps).

Each step runs where the secret it needs lives, and only public files travel between parties:

    new member   join      its node home (ledger, sealing and TLS keys) and join-request.json:
                           code, name, endpoint, public keys and, in a network of self-issued
                           certificates (``--self-issued``), its certificate; otherwise a
                           TLS certificate request
    CA holder    certify   (a network with a CA only) the new member's TLS certificate
    one member   propose   membership version n + 1 with the new member, signed by the proposer
    each member  sign      its signature on the proposal; the new member's proves it holds its keys
    any node     install   checks every signature and that the version follows the installed
                           one, writes membership.json and registers the new member's ledger key

The installed version is kept as ``membership.v<n>.json`` when a newer one replaces it, so that
evidence issued under it (by a member since removed) still checks against the members it names.

A running node picks up an installed membership.json in its next gossip round, and adopts a newer
complete version from any peer, so installing it on one node is enough for the whole network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import nacl.public
from cryptography import x509

from network import pki
from network.bootstrap import cert_sha256, new_sealing_key, tls_hosts
from network.governance import check_change, check_not_revoked
from network.member_updates import in_force, revoked_in
from network.membership import (
    Member,
    Membership,
    SignedMembership,
    pem_sha256,
    rotation_chain,
    sign_membership,
)
from network.pki import CertificateAuthority, certificate_request, member_of
from network.wire import b64
from node.core.crypto import PublicKey
from node.core.errors import Conflict, InvalidInput, NotFound
from node.host.home import NodeHome, load_signing_key, write_atomic
from node.host.keyfiles import write_private
from node.store.open import NodeStore

__all__ = [
    "JoinRequest",
    "certify",
    "install",
    "installed",
    "join",
    "propose_member",
    "sign",
]

REQUEST_FILE = "join-request.json"
UNSET = "0" * 64  # a placeholder key, only to validate code, name and endpoint up front


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinRequest:
    """What a new member sends: who it is, its public keys and its certificate request."""

    code: str
    name: str
    endpoint: str
    signing_key: str
    sealing_key: str
    csr: str = ""  # a certificate request to the network CA, or
    tls_cert: str = ""  # the member's self-issued certificate (PEM)

    def member(self, cert_pem: bytes) -> Member:
        return Member(
            code=self.code,
            name=self.name,
            endpoint=self.endpoint,
            signing_key=self.signing_key,
            sealing_key=self.sealing_key,
            tls_cert_sha256=cert_sha256(cert_pem),
            tls_cert=self.tls_cert,
        )

    def to_json(self) -> str:
        data = {k: getattr(self, k) for k in self.__slots__ if getattr(self, k)}
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def load(cls, path: Path) -> JoinRequest:
        data = _read_json(path)
        common = {"code", "name", "endpoint", "signing_key", "sealing_key"}
        if not isinstance(data, dict) or set(data) not in (common | {"csr"}, common | {"tls_cert"}):
            raise InvalidInput(
                f"a join request has exactly {sorted(common)} and csr or tls_cert",
                field=str(path),
            )
        request = cls(**{k: str(v) for k, v in data.items()})
        _validate(
            request.code, request.name, request.endpoint, request.signing_key, request.sealing_key
        )
        return request


def join(
    home: NodeHome,
    code: str,
    name: str,
    endpoint: str,
    *,
    self_issued: datetime | None = None,
) -> Path:
    """Create the new member's home and its join request; returns the request's path. With
    ``self_issued`` (now), the member signs its own certificate, valid from then (a network
    with no CA); otherwise the request asks the network CA for one.

    Raises InvalidInput for a bad code, name or endpoint (nothing is created then), Conflict
    when ``home`` already holds a node.
    """
    _validate(code, name, endpoint)
    config = home.init(code, name)
    sealing_key = new_sealing_key(home)
    csr, cert = "", ""
    if self_issued is not None:
        issued = pki.self_issued(code, "MRA Ledger", tls_hosts(endpoint), now=self_issued)
        write_private(home.path / "tls.key", issued.key_pem)
        (home.path / "tls.crt").write_bytes(issued.cert_pem)
        cert = issued.cert_pem.decode()
    else:
        tls_key, request_pem = certificate_request(code, tls_hosts(endpoint))
        write_private(home.path / "tls.key", tls_key)
        csr = request_pem.decode()
    request = JoinRequest(
        code=code,
        name=name.strip(),
        endpoint=endpoint,
        signing_key=config.public_key.hex(),
        sealing_key=sealing_key,
        csr=csr,
        tls_cert=cert,
    )
    path = home.path / REQUEST_FILE
    path.write_text(request.to_json())
    return path


def certify(ca_dir: Path, request_path: Path, out: Path, *, now: datetime) -> Path:
    """As the CA holder: issue the certificate that ``request_path`` asks for, writing
    ``out/tls.crt`` and ``out/ca.crt``; returns the certificate's path."""
    request = JoinRequest.load(request_path)
    try:
        ca = CertificateAuthority.load(
            (ca_dir / "ca.key").read_bytes(), (ca_dir / "ca.crt").read_bytes()
        )
    except FileNotFoundError as exc:
        raise InvalidInput(f"no network CA here: {exc.filename}", field="ca-dir") from None
    cert = ca.certify(request.csr.encode(), request.code, tls_hosts(request.endpoint), now=now)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "tls.crt"
    if target.exists():
        raise Conflict(f"{target} exists; certify into another directory", field="out")
    target.write_bytes(cert)
    (out / "ca.crt").write_bytes(ca.cert_pem)
    return target


def installed(home: NodeHome) -> SignedMembership:
    """The membership installed at ``home``. Raises NotFound when there is none."""
    path = home.path / "membership.json"
    if not path.exists():
        raise NotFound(f"{home.path} has no membership installed", field="home")
    return SignedMembership.from_json(path.read_text())


def propose_member(
    home: NodeHome, store: NodeStore, request_path: Path, cert_path: Path | None = None
) -> SignedMembership:
    """As a member: the installed membership plus the new member, one version up, signed by
    this member. The certificate is the one the request carries (self-issued) or, in a network
    with a CA, the one at ``cert_path`` (certify). The members' own updates held here (their
    renewals and moves) are folded into the version. Raises Conflict when the code is a member
    already."""
    current = _in_force(home, store)
    request = JoinRequest.load(request_path)
    if current.member(request.code) is not None:
        raise Conflict(f"{request.code} is a member already", field="code")
    if request.tls_cert:
        cert = request.tls_cert.encode()
        pem_sha256(request.tls_cert)  # one certificate (InvalidInput otherwise)
    else:
        if cert_path is None:
            raise InvalidInput("the request carries no certificate: give --cert", field="cert")
        cert = _read_bytes(cert_path)
        if member_of(cert, (home.path / "ca.crt").read_bytes()) != request.code:
            raise InvalidInput(f"the certificate is not issued to {request.code}", field="cert")
        csr = x509.load_pem_x509_csr(request.csr.encode())
        if x509.load_pem_x509_certificate(cert).public_key() != csr.public_key():
            raise InvalidInput("the certificate is not for the request's TLS key", field="cert")
    proposed = Membership(
        network=current.network,
        version=current.version + 1,
        members=(*current.members, request.member(cert)),
        rule=current.rule,
    )
    return sign(home, store, SignedMembership(membership=proposed))


def sign(home: NodeHome, store: NodeStore, proposal: SignedMembership) -> SignedMembership:
    """Add this member's signature. A member checks that the proposal follows its installed
    version and keeps every member it does not remove as it is in force here (with the
    members' own updates held here); the new member checks that the entry under its code holds
    its own keys and certificate; a member the proposal removes signs it as its statement that
    it leaves (the rule does not need it)."""
    me = home.config().origin
    proposed = proposal.membership
    mine = proposed.member(me)
    current = _in_force(home, store) if (home.path / "membership.json").exists() else None
    leaving = current is not None and mine is None and current.member(me) is not None
    if mine is None and not leaving:
        raise InvalidInput(f"{me} is not a member in this proposal", field="members")
    if current is not None:
        if proposed.network != current.network or proposed.version != current.version + 1:
            raise InvalidInput(
                f"not the version after v{current.version} of {current.network!r}",
                field="version",
            )
        changed = [m.code for m in current.members if proposed.member(m.code) not in (m, None)]
        if changed:
            raise InvalidInput(
                f"changes {', '.join(changed)} (or holds an update of theirs this node does"
                " not hold yet: sign once gossip brought it)",
                field="members",
            )
    key, rotations = load_signing_key(home.key_path), own_rotations(store, me)
    if leaving:
        return SignedMembership(
            membership=proposed,
            signatures={**proposal.signatures, me: sign_membership(proposed, key)},
            rotations={**proposal.rotations, me: rotations} if rotations else proposal.rotations,
        )
    assert mine is not None
    _check_own_entry(home, store, mine)
    return proposal.signed_by(me, key, rotations)


def install(home: NodeHome, store: NodeStore, signed: SignedMembership) -> Membership:
    """Check ``signed`` and make it this node's membership; returns it. The version it
    replaces is kept as ``membership.v<n>.json``.

    Raises IntegrityError when a member's signature is missing or wrong or made with a ledger
    key that a compromise rotation held here revoked, or the change breaks the rule of the
    installed version (``network.governance.check_change``, for the version
    right after it; a later one must be signed by all its members), InvalidInput when the
    version does not follow the installed one, Conflict when it removes this node (a removed
    node keeps the version it had; its peers refuse it from their removal on).
    """
    proposed = signed.membership

    def keys_of(code: str) -> list[PublicKey]:
        """The keys a member may sign with: its first one and its rotation chain as the
        proposal carries them, and those learnt from its log here."""
        member = proposed.member(code)
        chain = rotation_chain(member, signed.rotations.get(code, [])) if member else []
        return [*chain, *(key for _, key in store.keys(code))]

    revoked_of = revoked_in(store)
    check_not_revoked(proposed, signed.signatures, revoked_of)
    path = home.path / "membership.json"
    if path.exists():
        current = installed(home).membership
        if proposed.version == current.version + 1:
            # The rule the installed version states (network.governance): refused with why.
            check_change(current, proposed, signed.signatures, keys_of, revoked_of)
    missing = [m.code for m in proposed.members if m.code not in signed.signatures]
    if missing:
        raise InvalidInput(f"not signed yet by {', '.join(missing)}", field="signatures")
    signed.verify(keys_of)
    if path.exists():
        if proposed.network != current.network:
            raise InvalidInput(
                f"a version of another network: {proposed.network!r}", field="network"
            )
        if proposed.version <= current.version:
            raise InvalidInput(
                f"v{proposed.version} does not follow the installed v{current.version}",
                field="version",
            )
        me = home.config().origin
        if proposed.member(me) is None:
            raise Conflict(
                f"v{proposed.version} removes {me} (this node): it keeps v{current.version},"
                " and its peers no longer answer it",
                field="members",
            )
        write_atomic(home.path / f"membership.v{current.version}.json", path.read_text())
    else:
        mine = proposed.member(home.config().origin)
        if mine is None:
            raise InvalidInput("this node is not a member in this version", field="members")
        _check_own_entry(home, store, mine)
    for member in proposed.members:
        store.add_key(member.code, 0, member.public_key())
    # (a removed member's keys stay in ``store``: its log held here still verifies)
    write_atomic(path, signed.to_json())
    return proposed


def _in_force(home: NodeHome, store: NodeStore) -> Membership:
    """The membership in force at ``home``: installed, with the members' own updates."""
    return in_force(home, store)[0]


def own_rotations(store: NodeStore, origin: str) -> list[dict[str, str]]:
    """``origin``'s key rotation entries, in the wire form a membership signature carries."""
    wires = []
    for since, _ in store.keys(origin)[1:]:
        entry = store.entry(origin, since - 1)
        if entry is None or entry.salt is None or entry.payload is None:
            raise NotFound(f"{origin}#{since - 1}: the rotation's key is not held", field="keys")
        wires.append(
            {
                "body": b64(entry.body),
                "signature": b64(entry.signature),
                "salt": b64(entry.salt),
                "payload": b64(entry.payload),
            }
        )
    return wires


def _validate(
    code: str, name: str, endpoint: str, signing_key: str = UNSET, sealing_key: str = UNSET
) -> None:
    """Raise InvalidInput naming the field unless these make a member entry."""
    Member(
        code=code,
        name=name,
        endpoint=endpoint,
        signing_key=signing_key,
        sealing_key=sealing_key,
        tls_cert_sha256=UNSET,
    )


def _check_own_entry(home: NodeHome, store: NodeStore, mine: Member) -> None:
    """The entry under this node's code must name this node's keys and certificate (its first
    key as ``store`` holds it)."""
    first = store.public_key(mine.code, 0)
    sealing = (home.path / "sealing.key").read_text().strip()
    sealing_public = bytes(nacl.public.PrivateKey(bytes.fromhex(sealing)).public_key).hex()
    certificate = home.path / "tls.crt"
    cert_hash = cert_sha256(certificate.read_bytes()) if certificate.exists() else None
    problems = [
        name
        for name, ok in (
            ("signing_key", first is not None and first.hex() == mine.signing_key),
            ("sealing_key", sealing_public == mine.sealing_key),
            ("tls_cert_sha256", cert_hash == mine.tls_cert_sha256),
        )
        if not ok
    ]
    if problems:
        raise InvalidInput(
            f"the entry for {mine.code} does not match this node's {', '.join(problems)}",
            field="members",
        )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(_read_bytes(path))
    except ValueError as exc:
        raise InvalidInput(f"{path} is not JSON: {exc}", field=str(path)) from None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field=str(path)) from None
