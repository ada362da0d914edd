"""This node's TLS: the server context (``mra node run``), the client context (its requests to
peers), and whom both trust in the handshake.

A member is its own trust root (issue 24, point 1): the handshake trusts exactly the
certificates that the membership in force carries (``trusted_pems``: each member's self-issued
certificate, and the one it renewed away from until that one expires, which the handshake checks)
and, in a network created with a network CA, that CA (``ca.crt``, kept while a member's entry
still carries no certificate of its own). Which member a certificate is, and whether it is the
one pinned for that member, is decided after the handshake by the pins (``network.peers``):
nothing but a pinned certificate is accepted, whoever issued it.

The contexts are live: ``trust`` adds the certificates of a newer membership for the handshakes
that follow, and ``use_own`` loads this node's certificate again after a renewal.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping

from network.governance import SignedUpdate
from network.membership import Membership
from node.host import keyfiles
from node.host.home import NodeHome
from node.host.settings import Settings

__all__ = ["NodeTls", "trusted_pems"]


def trusted_pems(membership: Membership, updates: Mapping[str, SignedUpdate]) -> list[str]:
    """The certificates a handshake trusts for ``membership`` with its ``updates`` applied."""
    pems = [m.tls_cert for m in membership.members if m.tls_cert]
    pems += [
        u.update.previous_tls_cert
        for u in updates.values()
        if u.update.previous_tls_cert and not u.update.compromised
    ]
    return pems


def needs_ca(membership: Membership) -> bool:
    """True while a member's entry carries no certificate (it still uses the network CA's)."""
    return any(not m.tls_cert for m in membership.members)


class NodeTls:
    """The TLS contexts of the node in ``home`` (``tls.crt``, ``tls.key`` opened with
    ``password``), trusting ``pems`` and the home's ``ca.crt`` when ``ca`` and it exists."""

    def __init__(
        self, home: NodeHome, pems: Iterable[str], *, ca: bool, password: bytes | None = None
    ) -> None:
        self.home = home
        self.password = password
        self.server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # A client certificate is asked for but not required (the node's local API is served on
        # the same port); one that is presented must verify, and the pins decide the rest.
        self.server.verify_mode = ssl.CERT_OPTIONAL
        self.client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._trusted: set[str] = set()
        authority = home.path / "ca.crt"
        self.ca = ca and authority.exists()  # trusted for good once loaded
        if self.ca:
            for context in (self.server, self.client):
                context.load_verify_locations(cafile=str(authority))
        self.trust(pems)
        self.use_own()

    @classmethod
    def of_home(
        cls, home: NodeHome, membership: Membership | None, settings: Settings | None = None
    ) -> NodeTls:
        """The contexts of a node with ``membership`` (None: a node of no network, which
        trusts its own certificate and ``ca.crt``); ``tls.key`` is opened with the passphrase
        of ``settings`` when it is sealed."""
        tls_key = home.path / "tls.key"
        password = keyfiles.tls_password(tls_key, settings)
        if membership is None:
            own = (home.path / "tls.crt").read_text()
            return cls(home, [own], ca=True, password=password)
        return cls(home, trusted_pems(membership, {}), ca=needs_ca(membership), password=password)

    @property
    def trusted(self) -> list[str]:
        """The certificates trusted so far besides ``ca.crt`` (a reader worker of ``mra node
        run --workers`` trusts the same: node.app.pool)."""
        return sorted(self._trusted)

    def trust(self, pems: Iterable[str]) -> None:
        """Trust ``pems`` too in the handshakes from now on (a context can only gain trust; the
        pins refuse a certificate that the membership no longer names)."""
        for pem in pems:
            if pem in self._trusted:
                continue
            for context in (self.server, self.client):
                context.load_verify_locations(cadata=pem)
            self._trusted.add(pem)

    def use_own(self) -> None:
        """Present the home's ``tls.crt`` (with ``tls.key``) from the next handshake on."""
        cert, key = self.home.path / "tls.crt", self.home.path / "tls.key"
        for context in (self.server, self.client):
            context.load_cert_chain(cert, key, password=self.password)
