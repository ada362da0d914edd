"""A member's changes of its own entry (issue 24, points 3 and 4): ``renew`` its TLS key and
certificate, ``move`` its endpoint; and the updates a node holds of every member.

Each change is a ``network.governance.MemberUpdate`` signed by the member alone, kept in the
home's ``member-updates.json`` beside ``membership.json`` (the version all signed), and applied
on top of it: the membership in force. A node serves the updates it holds with its membership
(``GET /v1/peer/membership``, field ``updates``), names their revisions in its frontier
(``member_updates``), and pushes its own to each peer that does not hold it yet (``POST
/v1/peer/member-update``), so peers follow within one gossip round, by any path.

A renewal takes effect in two steps, so that no peer ever sees a certificate it does not trust:
``renew`` writes the new key and certificate as ``tls.next.key`` and ``tls.next.crt`` and signs
the update; peers trust the new certificate from the moment they hold the update, and the old
one still (``Peers.pins``), until it expires or is superseded. The node goes on presenting the
old certificate until every peer holds the update, then switches (``switch_when_held``).

A renewal after a compromise (``renew(compromised=True)``, issue 24 point 5) is marked so:
peers stop accepting the old certificate as soon as they hold the update, and the node presents
the new one at once (a peer that does not hold the update yet learns it from any other peer).
A member's ledger key revoked by a compromise rotation signs no update (``keys_in``), and one
signed with it is refused saying so (``revoked_in``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from cryptography.hazmat.primitives.asymmetric import ec

from network.bootstrap import tls_hosts
from network.governance import (
    KeysOf,
    MemberUpdate,
    RevokedOf,
    SignedUpdate,
    check_update,
    effective,
    sign_update,
)
from network.membership import Member, Membership, SignedMembership, pem_sha256
from network.peers import Peers
from network.pki import NodeCertificate, encrypted_key, not_after, self_issued
from network.tls import NodeTls, trusted_pems
from node.core.crypto import PublicKey
from node.core.errors import Conflict, IntegrityError, InvalidInput
from node.host import keyfiles
from node.host.home import NodeHome, load_signing_key, write_atomic
from node.host.keyfiles import write_private
from node.ledger.revocations import held_revocations
from node.store.open import NodeStore

__all__ = [
    "UPDATES_FILE",
    "MemberUpdates",
    "in_force",
    "keys_in",
    "load_updates",
    "move",
    "renew",
    "revoked_in",
]

log = logging.getLogger("mra.network")

UPDATES_FILE = "member-updates.json"
NEXT_CERT, NEXT_KEY = "tls.next.crt", "tls.next.key"
LAST_DAY = timedelta(days=1)  # a pending renewal is presented anyway this close to expiry


def keys_in(store: NodeStore) -> KeysOf:
    """Every ledger key of a member that ``store`` knows (its first and its rotations), but
    those a compromise rotation revoked: an update carries no seq that could place it before
    the revocation, so a leaked key signs none."""

    def keys_of(code: str) -> list[PublicKey]:
        revoked = {r.key for r in held_revocations(store, code)}
        return [key for _, key in store.keys(code) if key not in revoked]

    return keys_of


def revoked_in(store: NodeStore) -> RevokedOf:
    """The revocations of each member's compromise rotations that ``store`` holds."""
    return lambda code: held_revocations(store, code)


def load_updates(home: NodeHome) -> dict[str, SignedUpdate]:
    """The updates held in ``home`` (none when the file does not exist)."""
    path = home.path / UPDATES_FILE
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise InvalidInput("per member code, a signed update", field=UPDATES_FILE)
    return {str(code): SignedUpdate.from_dict(item) for code, item in data.items()}


def _save(home: NodeHome, updates: dict[str, SignedUpdate]) -> None:
    document = {code: updates[code].to_dict() for code in sorted(updates)}
    write_atomic(home.path / UPDATES_FILE, json.dumps(document, indent=2) + "\n")


def in_force(home: NodeHome, store: NodeStore) -> tuple[Membership, dict[str, SignedUpdate]]:
    """The membership in force at ``home``: the installed version with the updates held."""
    base = SignedMembership.from_json((home.path / "membership.json").read_text()).membership
    membership, applied, refused = effective(
        base, load_updates(home).values(), keys_in(store), revoked_in(store)
    )
    for reason in refused:
        log.warning("member update refused: %s", reason)
    return membership, applied


def _own_entry(home: NodeHome, store: NodeStore) -> tuple[Membership, Member]:
    if (home.path / NEXT_CERT).exists():
        raise Conflict(
            "a renewal is waiting for every peer to hold it (tls.next.crt); the node switches"
            " to it then",
            field="home",
        )
    membership, _ = in_force(home, store)
    me = home.config().origin
    mine = membership.member(me)
    if mine is None:
        raise InvalidInput(f"{me} is not a member of the membership in force", field="home")
    return membership, mine


def _sign(
    home: NodeHome,
    store: NodeStore,
    membership: Membership,
    update: MemberUpdate,
    issued: NodeCertificate | None = None,
) -> SignedUpdate:
    """Sign ``update`` with this member's ledger key and check it as every peer will; then
    write the certificate it names (``issued``, as ``tls.next.*``) and keep it. Nothing is
    written when the check refuses it."""
    signed = sign_update(update, load_signing_key(home.key_path))
    check_update(membership, signed, keys_in(store), revoked_in(store))
    if issued is not None:
        # A TLS key sealed with the passphrase (mra key encrypt) is replaced by a sealed one.
        secret = keyfiles.tls_password(home.path / "tls.key")
        key_pem = issued.key_pem if secret is None else encrypted_key(issued.key_pem, secret)
        write_private(home.path / NEXT_KEY, key_pem)
        (home.path / NEXT_CERT).write_bytes(issued.cert_pem)
    _save(home, {**load_updates(home), update.code: signed})
    return signed


def renew(
    home: NodeHome,
    store: NodeStore,
    *,
    now: datetime,
    days: float = 825,
    compromised: bool = False,
    tls_key: ec.EllipticCurvePrivateKey | None = None,
) -> SignedUpdate:
    """A new TLS key and self-issued certificate for this member (``tls.next.*``) and the
    update of its entry that names it, signed by this member alone. ``compromised``: the
    current TLS key leaked; peers stop accepting its certificate once they hold the update,
    and this node presents the new one at once. ``tls_key``: the new key, for a simulation
    that draws it from its seed (``network.pki.self_issued``); the command draws a fresh one.

    Raises Conflict while an earlier renewal waits for the peers (after a compromise too: the
    node switches to it within a gossip round)."""
    membership, mine = _own_entry(home, store)
    hosts = tls_hosts(mine.endpoint)
    issued = self_issued(mine.code, membership.network, hosts, now=now, days=days, key=tls_key)
    update = _update(membership, mine, endpoint=mine.endpoint, tls_cert=issued.cert_pem.decode())
    return _sign(home, store, membership, replace(update, compromised=compromised), issued)


def move(home: NodeHome, store: NodeStore, endpoint: str, *, now: datetime) -> SignedUpdate:
    """The update of this member's entry to ``endpoint``, signed by this member alone; a new
    host needs a certificate that names it, made as ``renew`` makes one.

    Raises InvalidInput for an endpoint that is not an https:// URL, Conflict while a renewal
    waits for the peers."""
    membership, mine = _own_entry(home, store)
    replace(mine, endpoint=endpoint)  # validates the endpoint (InvalidInput names it)
    if endpoint.rstrip("/") == mine.endpoint.rstrip("/"):
        raise InvalidInput(f"{mine.code} is at {endpoint} already", field="endpoint")
    if urlparse(endpoint).hostname in tls_hosts(mine.endpoint):
        update = _update(membership, mine, endpoint=endpoint, tls_cert=mine.tls_cert)
        return _sign(home, store, membership, update)
    # the certificate must name the new host
    issued = self_issued(mine.code, membership.network, tls_hosts(endpoint), now=now)
    update = _update(membership, mine, endpoint=endpoint, tls_cert=issued.cert_pem.decode())
    return _sign(home, store, membership, update, issued)


def _update(membership: Membership, mine: Member, *, endpoint: str, tls_cert: str) -> MemberUpdate:
    """The next revision of ``mine``: ``endpoint`` and ``tls_cert`` (empty: the certificate
    from the network CA that the entry pins stays)."""
    return MemberUpdate(
        network=membership.network,
        code=mine.code,
        revision=mine.revision + 1,
        endpoint=endpoint,
        tls_cert=tls_cert,
        tls_cert_sha256=pem_sha256(tls_cert) if tls_cert else mine.tls_cert_sha256,
        previous_tls_cert_sha256=mine.tls_cert_sha256,
        previous_tls_cert=mine.tls_cert if tls_cert != mine.tls_cert else "",
    )


class MemberUpdates:
    """The updates node ``peers.me`` holds, applied on top of ``base`` (the version installed)
    into ``peers`` (whom it gossips with, and their pins) and ``tls`` (whom the handshakes
    trust; None over the in-memory transport)."""

    def __init__(
        self,
        *,
        home: NodeHome,
        store: NodeStore,
        peers: Peers,
        tls: NodeTls | None,
        base: Membership,
    ) -> None:
        self.home = home
        self.keys_of = keys_in(store)
        self.revoked_of = revoked_in(store)
        self.peers = peers
        self.tls = tls
        self.base = base
        self.held: dict[str, SignedUpdate] = {}
        self.stamp = self._stamp()
        self.rebase(base, load_updates(home).values())

    def _stamp(self) -> int:
        path = self.home.path / UPDATES_FILE
        return path.stat().st_mtime_ns if path.exists() else 0

    def rebase(self, base: Membership, updates: Iterable[SignedUpdate] | None = None) -> None:
        """A new version is installed: apply the updates held (or ``updates``) on top of it."""
        self.base = base
        held = list(self.held.values() if updates is None else updates)
        membership, self.held, refused = effective(base, held, self.keys_of, self.revoked_of)
        for reason in refused:
            log.warning("member update refused: %s", reason)
        self._in_force(membership)

    def _in_force(self, membership: Membership) -> None:
        self.peers.take(membership, self.held)
        if self.tls is not None:
            self.tls.trust(trusted_pems(membership, self.held))

    def reload(self) -> None:
        """Take up the updates file when a command (``mra network renew``, ``move``) wrote it."""
        stamp = self._stamp()
        if stamp != self.stamp:
            self.stamp = stamp
            self.take(load_updates(self.home).values(), "this node's own files")

    def take(self, updates: Iterable[SignedUpdate], source: str) -> list[str]:
        """Apply the updates that are newer than those held and follow the rule; returns why
        each other one was refused (logged). Saved, and in force, at once."""
        current = self.peers.membership
        refused: list[str] = []
        changed = False
        for signed in sorted(updates, key=lambda s: (s.update.code, s.update.revision)):
            member = current.member(signed.update.code)
            if member is not None and signed.update.revision <= member.revision:
                continue  # held already, or superseded
            try:
                entry = check_update(current, signed, self.keys_of, self.revoked_of)
            except IntegrityError as exc:
                log.warning("member update from %s refused: %s", source, exc.detail)
                refused.append(exc.detail)
                continue
            others = [m for m in current.members if m.code != entry.code]
            current = replace(current, members=(*others, entry))
            self.held[entry.code] = signed
            changed = True
            log.warning(
                "%s's entry at revision %s (from %s): endpoint %s, certificate %s",
                entry.code,
                entry.revision,
                source,
                entry.endpoint,
                entry.tls_cert_sha256[:16],
            )
        if changed:
            _save(self.home, self.held)
            self.stamp = self._stamp()
            self._in_force(current)
        return refused

    def document(self) -> dict[str, Any]:
        return {code: self.held[code].to_dict() for code in sorted(self.held)}

    def own(self) -> SignedUpdate | None:
        return self.held.get(self.peers.me)

    def switch_when_held(self, now_ms: int) -> bool:
        """Present the renewed certificate once every peer holds the update naming it, or
        when the certificate presented now expires within ``LAST_DAY`` (``now_ms``): a peer
        away that long meets the new one when it is back, after it learnt it from any peer.
        After a compromise, at once: peers that hold the update refuse the old one already.
        True when switched now."""
        mine = self.own()
        cert, key = self.home.path / NEXT_CERT, self.home.path / NEXT_KEY
        if mine is None or not cert.exists() or cert.read_text() != mine.update.tls_cert:
            return False
        waiting = [
            code
            for code in self.peers.members
            if self.peers.acknowledged.get(code, 0) < mine.update.revision
        ]
        if waiting and not mine.update.compromised:
            presented = not_after((self.home.path / "tls.crt").read_bytes())
            if presented.timestamp() * 1000 - now_ms > LAST_DAY.total_seconds() * 1000:
                return False
            log.warning(
                "the certificate presented expires %s: switching to the renewed one although"
                " %s do not hold it yet",
                presented.isoformat(),
                ", ".join(waiting),
            )
        os.replace(key, self.home.path / "tls.key")
        os.replace(cert, self.home.path / "tls.crt")
        if self.tls is not None:
            self.tls.use_own()
        log.warning(
            "%s revision %s: presenting the renewed certificate %s",
            "the old key leaked," if mine.update.compromised else "every peer holds",
            mine.update.revision,
            mine.update.tls_cert_sha256[:16],
        )
        return True
