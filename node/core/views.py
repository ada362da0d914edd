"""The origin's signature on a view: the projection of one of its AEO records that a contract
grants one partner.

A commitment to the whole record cannot open a projection without revealing the fields
withheld, so the origin signs each view, bound to the entry hash and the recipient; the
recipient checks it on receipt, verification checks it again for every view held, and anyone
can check it later (evidence bundles).

    view signature = Ed25519(origin key, "mra-ledger/view-sig/v1" NUL || entry hash
                             || recipient || NUL || RFC 8785 view bytes)
"""

from __future__ import annotations

from node.core.crypto import Hash32, PublicKey, SigningKey

__all__ = ["VIEW_SIG_TAG", "sign_view", "verify_view"]

VIEW_SIG_TAG = b"mra-ledger/view-sig/v1\x00"


def _view_message(entry: Hash32 | bytes, recipient: str, view: bytes) -> bytes:
    return VIEW_SIG_TAG + entry + recipient.encode("ascii") + b"\x00" + view


def sign_view(key: SigningKey, entry: Hash32, recipient: str, view: bytes) -> bytes:
    return key.sign(_view_message(entry, recipient, view))


def verify_view(
    key: PublicKey, entry: Hash32 | bytes, recipient: str, view: bytes, signature: bytes
) -> bool:
    """True when the origin signed this view of this entry for this recipient; never raises."""
    return key.verify(_view_message(entry, recipient, view), signature)
