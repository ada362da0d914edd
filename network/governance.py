"""Membership changes under the rule the membership states (issue 24, point 2): pure checks.

Two kinds of change reach a node:

- a new membership version (``check_change``): adding or removing a member needs the signature
  of every member of the new version (every remaining member: a member removed by the others
  need not sign; one that leaves may sign too, and its signature then must verify); a version
  that changes an entry otherwise needs the signature of each member whose entry changed, and
  all of them when more than a member's ``OWN_FIELDS`` changed;
- a member's own update (``MemberUpdate``): its endpoint and TLS certificate, with a revision
  one past the last, signed by that member alone with its ledger key. Updates of different
  members commute, so that members renewing at the same moment cannot fork the membership
  (two versions n + 1 would); each node applies the highest revision it holds of each member on
  top of the version in force (``effective``), and serves them with the document.

A signature counts only by a key the member may sign with (``keys_of``) that no compromise
rotation of its log revoked (``revoked_of``, issue 24 point 5): a change signed with a leaked
key is refused, saying so, whatever seq the thief would claim.

Every check raises ``IntegrityError`` with damage "membership-rule" and a reason naming the
member and the signature or field at fault; the caller logs it and keeps what it had.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from network.membership import OWN_FIELDS, SIG_TAG, Member, Membership, pem_sha256
from node.core.canonical import canonical_json
from node.core.crypto import PublicKey, SigningKey
from node.core.errors import IntegrityError, InvalidInput
from node.core.walk import Revocation

__all__ = [
    "MemberUpdate",
    "RevokedOf",
    "SignedUpdate",
    "check_change",
    "check_not_revoked",
    "check_update",
    "effective",
    "removed",
    "required_signers",
    "sign_update",
]

UPDATE_TAG = b"mra-ledger/member-update/v1\x00"
KeysOf = Callable[[str], Iterable[PublicKey]]
RevokedOf = Callable[[str], Iterable[Revocation]]


def _none_revoked(_: str) -> Iterable[Revocation]:
    return ()


def _refused(reason: str) -> IntegrityError:
    return IntegrityError("membership-rule", reason)


NOT_VERIFIED = "does not verify"


def _revoked_by(
    message: bytes, code: str, signature: str, revoked_of: RevokedOf
) -> Revocation | None:
    """The revocation of the key of ``code`` that made ``signature`` over ``message``, if a
    compromise revoked that key."""
    try:
        raw = bytes.fromhex(signature)
    except ValueError:
        return None
    return next((r for r in revoked_of(code) if r.key.verify(message, raw)), None)


def _revoked_reason(code: str, revocation: Revocation) -> str:
    return (
        f"is made with {code}'s ledger key revoked from seq {revocation.since} (key"
        f" compromise: the rotation at seq {revocation.rotation})"
    )


def _signature_fault(
    message: bytes, code: str, signature: str, keys_of: KeysOf, revoked_of: RevokedOf
) -> str | None:
    """None when ``signature`` over ``message`` verifies by a key of ``code`` that no
    compromise revoked; otherwise what is wrong with it (``NOT_VERIFIED``, or the key's
    revocation)."""
    revocation = _revoked_by(message, code, signature, revoked_of)
    if revocation is not None:
        return _revoked_reason(code, revocation)
    try:
        raw = bytes.fromhex(signature)
    except ValueError:
        return NOT_VERIFIED
    return None if any(key.verify(message, raw) for key in keys_of(code)) else NOT_VERIFIED


def check_not_revoked(
    proposed: Membership, signatures: Mapping[str, str], revoked_of: RevokedOf
) -> None:
    """Raise IntegrityError ("membership-rule") when a signature on ``proposed`` is made with
    a key that a compromise rotation revoked (whatever else the version is checked for)."""
    message = SIG_TAG + canonical_json(proposed.to_dict())
    for code, signature in sorted(signatures.items()):
        revocation = _revoked_by(message, code, signature, revoked_of)
        if revocation is not None:
            raise _refused(
                f"v{proposed.version}: {code}'s signature {_revoked_reason(code, revocation)}"
            )


def required_signers(current: Membership, proposed: Membership) -> dict[str, str]:
    """Who must sign for ``proposed`` to follow ``current`` under the rule ``current`` states,
    each with why (a member code -> the reason)."""
    rule = current.rule_in_force
    before = {m.code: m for m in current.members}
    after = {m.code: m for m in proposed.members}
    added, removed = sorted(after.keys() - before.keys()), sorted(before.keys() - after.keys())
    if added or removed or proposed.network != current.network or proposed.rule != current.rule:
        why = ", ".join(
            [f"adds {c}" for c in added]
            + [f"removes {c}" for c in removed]
            + (["changes the network or its rule"] if not (added or removed) else [])
        )
        return {code: why for code in sorted(after)}
    needed: dict[str, str] = {}
    for code, member in sorted(after.items()):
        old = before[code]
        if member == old:
            continue
        changed = [f for f in Member.__slots__ if getattr(member, f) != getattr(old, f)]
        if all(f in OWN_FIELDS for f in changed) and rule.own_entry == "self":
            needed[code] = f"changes {code}'s {', '.join(changed)}"
        else:
            return {c: f"changes {code}'s {', '.join(changed)}" for c in sorted(after)}
    return needed


def check_change(
    current: Membership,
    proposed: Membership,
    signatures: Mapping[str, str],
    keys_of: KeysOf,
    revoked_of: RevokedOf = _none_revoked,
) -> None:
    """Raise IntegrityError ("membership-rule") unless ``proposed`` is the version after
    ``current`` and carries every signature the rule of ``current`` asks for, each by one of
    ``keys_of(code)`` that ``revoked_of(code)`` does not revoke."""
    message = SIG_TAG + canonical_json(proposed.to_dict())

    def fault(code: str, signature: str) -> str | None:
        return _signature_fault(message, code, signature, keys_of, revoked_of)

    if proposed.version != current.version + 1:
        raise _refused(f"v{proposed.version} is not the version after v{current.version}")
    for code, why in required_signers(current, proposed).items():
        if code not in signatures:
            raise _refused(f"v{proposed.version} {why}: the rule needs {code}'s signature")
        wrong = fault(code, signatures[code])
        if wrong is not None:
            raise _refused(f"v{proposed.version} {why}: {code}'s signature {wrong}")
    # A removed member's own signature (it leaves) is not needed, but is kept in the file as its
    # statement: one that is there must be its own.
    for code in sorted(set(signatures) - {m.code for m in proposed.members}):
        if current.member(code) is None:
            raise _refused(f"v{proposed.version} carries a signature of {code}, not a member")
        wrong = fault(code, signatures[code])
        if wrong is not None:
            raise _refused(
                f"v{proposed.version} removes {code}: the signature under {code} (leaving) {wrong}"
            )


def removed(current: Membership, proposed: Membership) -> list[str]:
    """The members of ``current`` that ``proposed`` no longer lists."""
    return sorted(m.code for m in current.members if proposed.member(m.code) is None)


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberUpdate:
    """A member's change of its own entry: its endpoint and TLS certificate (PEM, self-issued)
    from ``revision`` on. ``previous_tls_cert_sha256`` (and ``previous_tls_cert``, when it was
    self-issued) is the certificate it replaces, which peers still accept until it expires;
    with ``compromised`` (its key leaked, issue 24 point 5) peers stop accepting it at once.
    ``compromised`` is in the signed bytes only when true, so that earlier updates keep theirs."""

    network: str
    code: str
    revision: int
    endpoint: str
    tls_cert: str
    tls_cert_sha256: str
    previous_tls_cert_sha256: str
    previous_tls_cert: str = ""
    compromised: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.compromised, bool):
            raise InvalidInput("true or false", field="update.compromised")
        for name in self.__slots__:
            if name not in ("revision", "compromised") and not isinstance(getattr(self, name), str):
                raise InvalidInput("must be a string", field=f"update.{name}")
        if not isinstance(self.revision, int) or self.revision < 1:
            raise InvalidInput("an integer >= 1", field="revision")
        if self.previous_tls_cert and (
            pem_sha256(self.previous_tls_cert) != self.previous_tls_cert_sha256
        ):
            raise InvalidInput("is not the certificate it names", field="previous_tls_cert")

    def applied_to(self, member: Member) -> Member:
        """``member``'s entry with this update; raises InvalidInput when the result is not an
        entry (a bad endpoint, a certificate that is not the one pinned)."""
        return replace(
            member,
            endpoint=self.endpoint,
            tls_cert=self.tls_cert,
            tls_cert_sha256=self.tls_cert_sha256,
            revision=self.revision,
        )

    def to_dict(self) -> dict[str, Any]:
        document = {name: getattr(self, name) for name in self.__slots__}
        if not self.compromised:
            del document["compromised"]  # as before the field existed: same signed bytes
        return document

    @property
    def trusted_previous(self) -> str | None:
        """The pin of the certificate replaced, while peers still accept it (None: never,
        the update says its key leaked)."""
        return None if self.compromised else self.previous_tls_cert_sha256

    def message(self) -> bytes:
        return UPDATE_TAG + canonical_json(self.to_dict())


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedUpdate:
    update: MemberUpdate
    signature: str  # hex, by the member's ledger key

    def to_dict(self) -> dict[str, Any]:
        return {"update": self.update.to_dict(), "signature": self.signature}

    @classmethod
    def from_dict(cls, data: object) -> SignedUpdate:
        """Raises InvalidInput for anything but {update, signature}."""
        if not isinstance(data, dict) or not isinstance(data.get("update"), dict):
            raise InvalidInput("{update, signature}", field="updates")
        try:
            update = MemberUpdate(**data["update"])
        except TypeError as exc:
            raise InvalidInput(f"malformed update: {exc}", field="updates") from None
        return cls(update=update, signature=str(data.get("signature", "")))


def sign_update(update: MemberUpdate, key: SigningKey) -> SignedUpdate:
    return SignedUpdate(update=update, signature=key.sign(update.message()).hex())


def check_update(
    membership: Membership,
    signed: SignedUpdate,
    keys_of: KeysOf,
    revoked_of: RevokedOf = _none_revoked,
) -> Member:
    """The entry of the member that ``signed`` updates, as the update makes it, after checking
    it against the rule of ``membership`` (the membership in force with the updates applied so
    far). Raises IntegrityError ("membership-rule") naming why it is refused:

    1. it names another network, or a code that is not a member;
    2. its revision is not past the entry's;
    3. it is not signed by the member whose entry it changes (``keys_of(code)``), or with a
       key of its that a compromise revoked (``revoked_of(code)``);
    4. the entry it makes is not valid (endpoint, certificate and pin)."""
    update = signed.update
    # 1. the network and the member
    if update.network != membership.network:
        raise _refused(f"an update for another network: {update.network!r}")
    member = membership.member(update.code)
    if member is None:
        raise _refused(f"{update.code} is not a member in v{membership.version}")
    # 2. a later revision
    if update.revision <= member.revision:
        raise _refused(
            f"{update.code}'s revision {update.revision} does not follow {member.revision}"
        )
    # 3. its own signature (the rule: a member's own entry needs only its own)
    if membership.rule_in_force.own_entry != "self":
        raise _refused("the rule does not let a member change its own entry alone")
    wrong = _signature_fault(update.message(), update.code, signed.signature, keys_of, revoked_of)
    if wrong is not None and wrong != NOT_VERIFIED:
        raise _refused(f"the change of {update.code}'s entry (revision {update.revision}) {wrong}")
    if wrong is not None:
        raise _refused(
            f"the change of {update.code}'s entry (revision {update.revision}) is not signed by"
            f" {update.code}: a member changes only its own entry"
        )
    # 4. a valid entry
    try:
        return update.applied_to(member)
    except InvalidInput as exc:
        raise _refused(f"{update.code}'s revision {update.revision}: {exc}") from None


def effective(
    membership: Membership,
    updates: Iterable[SignedUpdate],
    keys_of: KeysOf,
    revoked_of: RevokedOf = _none_revoked,
) -> tuple[Membership, dict[str, SignedUpdate], list[str]]:
    """``membership`` with the latest valid update of each member applied: the membership in
    force, the updates applied (by code), and why each other update was refused."""
    applied: dict[str, SignedUpdate] = {}
    refused: list[str] = []
    members = {m.code: m for m in membership.members}
    for signed in sorted(updates, key=lambda s: (s.update.code, s.update.revision)):
        if signed.update.code not in members:
            continue  # a member removed since (or never one): its updates no longer apply
        current = replace(membership, members=tuple(members.values()))
        try:
            members[signed.update.code] = check_update(current, signed, keys_of, revoked_of)
        except IntegrityError as exc:
            if signed.update.code in members and (
                signed.update.revision <= members[signed.update.code].revision
            ):
                continue  # an update already in force, or superseded: not a refusal
            refused.append(exc.detail)
            continue
        applied[signed.update.code] = signed
    return replace(membership, members=tuple(members.values())), applied, refused
