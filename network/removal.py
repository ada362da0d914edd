"""Removing a member (issue 24, point 4): the others remove it, or it leaves.

Both are one kind of change: a membership version without the member, signed by every remaining
member (the rule, ``network.governance``), with the steps of onboarding:

    any member     propose_removal   version n + 1 without the member, signed by the proposer
    the leaver     propose_removal   (its own code: ``mra network leave``) the same version,
                                     signed by it as its statement that it leaves
    each remaining sign              its signature (``network.onboarding.sign``)
    any node       install           checked against the rule; the version before kept

The removed member's signature is not needed, so that a member cannot stay by refusing to sign,
and one that leaves needs no second kind of change. From the version that removes it, its pin is
gone (``network.peers``), nothing is delivered to it and the agreements naming it have ended
(``network.sharing``, ``node.ledger.erasure.purge_ended``); its keys stay in every store, so its
log held stays verifiable.
"""

from __future__ import annotations

from network.member_updates import in_force
from network.membership import Membership, SignedMembership
from network.onboarding import sign
from node.core.errors import InvalidInput
from node.host.home import NodeHome
from node.store.open import NodeStore

__all__ = ["propose_removal"]


def propose_removal(home: NodeHome, store: NodeStore, code: str) -> SignedMembership:
    """As a member: the membership in force without member ``code``, one version up, signed by
    this member; ``code`` this member's own: it leaves, and its signature is its statement.
    Raises InvalidInput when ``code`` is not a member, or only one member would remain."""
    current = in_force(home, store)[0]
    if current.member(code) is None:
        raise InvalidInput(f"{code} is not a member in v{current.version}", field="code")
    remaining = tuple(m for m in current.members if m.code != code)
    if len(remaining) < 2:
        raise InvalidInput(
            f"removing {code} would leave {remaining[0].code} alone: a network has two or more"
            " members",
            field="code",
        )
    proposed = Membership(
        network=current.network, version=current.version + 1, members=remaining, rule=current.rule
    )
    return sign(home, store, SignedMembership(membership=proposed))
