"""What a node of a network keeps in its home for gossip, read in one place: the signed
membership, the node's signing and sealing keys, and the largest checkpoint of its own log a
peer has shown. Its TLS material is read by ``network.tls``, the members' own updates by
``network.member_updates``.

``load_network`` reads them once, at start-up, for the composition root; the objects of
``network.service`` take what it read as arguments and read no file when they are built.
``MembershipFile`` is membership.json afterwards: taken up again when ``mra network install``
replaced it, served to peers, replaced by a newer version a peer showed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.public

from network.membership import Membership, SignedMembership
from network.onboarding import install
from node.core.crypto import SigningKey
from node.host import keyfiles
from node.host.home import NodeHome, load_signing_key
from node.host.settings import Settings
from node.store.open import NodeStore

__all__ = ["MembershipFile", "NetworkFiles", "load_membership", "load_network"]


def load_membership(home: NodeHome, store: NodeStore) -> Membership:
    """The membership document in ``home``, after checking every member signed it (with its
    first key, its rotation chain, or a key of its that ``store`` learnt from its log)."""
    signed = SignedMembership.from_json((home.path / "membership.json").read_text())
    signed.verify(lambda code: [key for _, key in store.keys(code)])
    return signed.membership


class MembershipFile:
    """The membership.json of ``home``, last read when its modification time was ``stamp``."""

    def __init__(self, home: NodeHome, stamp: int) -> None:
        self.home = home
        self.stamp = stamp

    @property
    def path(self) -> Path:
        return self.home.path / "membership.json"

    def _stamp(self) -> int:
        return self.path.stat().st_mtime_ns

    def changed(self, store: NodeStore) -> Membership | None:
        """The membership installed since it was last read, verified, or None when the file
        has not changed. Raises what ``load_membership`` raises for a file that does not
        verify (it is not read again until it changes again)."""
        stamp = self._stamp()
        if stamp == self.stamp:
            return None
        self.stamp = stamp
        return load_membership(self.home, store)

    def document(self) -> Any:
        """The signed membership as this node serves it to peers (the file's JSON)."""
        return json.loads(self.path.read_text())

    def install(self, store: NodeStore, signed: SignedMembership) -> Membership:
        """Check ``signed`` and make it this node's membership (``network.onboarding``)."""
        membership = install(self.home, store, signed)
        self.stamp = self._stamp()
        return membership


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkFiles:
    """What ``load_network`` read from a node's home."""

    me: str
    membership: Membership
    membership_file: MembershipFile
    signing_key: SigningKey
    sealing_key: nacl.public.PrivateKey
    log_seen: int  # the largest checkpoint of this node's log a peer showed (node.host.home)


def load_network(home: NodeHome, store: NodeStore, settings: Settings) -> NetworkFiles:
    """Read what gossip needs from ``home`` (membership checked against the keys in ``store``;
    sealed keys opened with the passphrase of ``settings``).

    Raises NotFound or InvalidInput for a missing or unreadable file, IntegrityError for a
    membership that does not verify."""
    stamp = (home.path / "membership.json").stat().st_mtime_ns
    sealing = keyfiles.read_private(home.path / "sealing.key", settings)
    sealing_hex = sealing.decode("ascii").strip()
    return NetworkFiles(
        me=home.config().origin,
        membership=load_membership(home, store),
        membership_file=MembershipFile(home, stamp),
        signing_key=load_signing_key(home.key_path, settings),
        sealing_key=nacl.public.PrivateKey(bytes.fromhex(sealing_hex)),
        log_seen=home.log_seen()[1],
    )
