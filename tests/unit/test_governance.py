"""The membership rule (network.governance): who must sign which change, and the refusals."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from network.governance import (
    MemberUpdate,
    SignedUpdate,
    check_change,
    check_not_revoked,
    check_update,
    effective,
    removed,
    required_signers,
    sign_update,
)
from network.membership import Member, Membership, Rule, pem_sha256, sign_membership
from network.pki import self_issued
from node.core.crypto import PublicKey, SigningKey
from node.core.errors import IntegrityError, InvalidInput
from node.core.walk import Revocation

NOW = datetime(2026, 12, 5, tzinfo=UTC)
CODES = ("AR", "BR", "CL")
KEYS = {code: SigningKey.generate() for code in (*CODES, "UY")}


def cert(code: str) -> str:
    return self_issued(code, "Test", ["127.0.0.1"], now=NOW).cert_pem.decode()


def entry(code: str, port: int = 7441) -> Member:
    pem = cert(code)
    return Member(
        code=code,
        name=f"Customs {code}",
        endpoint=f"https://127.0.0.1:{port}",
        signing_key=KEYS[code].public_key.hex(),
        sealing_key="ab" * 32,
        tls_cert_sha256=pem_sha256(pem),
        tls_cert=pem,
    )


MEMBERS = {code: entry(code) for code in CODES}
V1 = Membership(network="Test", version=1, members=tuple(MEMBERS.values()), rule=Rule())


def keys_of(code: str) -> list[PublicKey]:
    return [KEYS[code].public_key]


def signatures(proposed: Membership, *codes: str) -> dict[str, str]:
    return {code: sign_membership(proposed, KEYS[code]) for code in codes}


def renewal(member: str, revision: int = 1, **changes: object) -> MemberUpdate:
    code = member
    old = MEMBERS[code]
    pem = cert(code)
    fields: dict[str, object] = {
        "network": "Test",
        "code": code,
        "revision": revision,
        "endpoint": old.endpoint,
        "tls_cert": pem,
        "tls_cert_sha256": pem_sha256(pem),
        "previous_tls_cert_sha256": old.tls_cert_sha256,
        "previous_tls_cert": old.tls_cert,
    }
    fields.update(changes)
    return MemberUpdate(**fields)  # type: ignore[arg-type]


# -- versions --------------------------------------------------------------------------------


def test_adding_a_member_needs_every_member_of_the_new_version() -> None:
    proposed = Membership(
        network="Test", version=2, members=(*V1.members, entry("UY")), rule=Rule()
    )
    assert set(required_signers(V1, proposed)) == {"AR", "BR", "CL", "UY"}
    check_change(V1, proposed, signatures(proposed, "AR", "BR", "CL", "UY"), keys_of)
    with pytest.raises(IntegrityError, match="adds UY: the rule needs CL's signature"):
        check_change(V1, proposed, signatures(proposed, "AR", "BR", "UY"), keys_of)


def test_removing_a_member_needs_every_remaining_member_and_refuses_a_missing_one() -> None:
    proposed = Membership(
        network="Test", version=2, members=(MEMBERS["AR"], MEMBERS["BR"]), rule=Rule()
    )
    assert required_signers(V1, proposed) == {"AR": "removes CL", "BR": "removes CL"}
    check_change(V1, proposed, signatures(proposed, "AR", "BR"), keys_of)
    with pytest.raises(IntegrityError, match="removes CL: the rule needs BR's signature"):
        check_change(V1, proposed, signatures(proposed, "AR"), keys_of)


def test_a_removal_needs_no_signature_of_the_removed_member_and_its_own_does_not_count() -> None:
    """Removed by the others, or leaving: the leaver's signature is a statement the rule does not
    need, and it never stands in for a remaining member's."""
    proposed = replace(V1, version=2, members=(MEMBERS["AR"], MEMBERS["BR"]))
    assert removed(V1, proposed) == ["CL"]
    assert "CL" not in required_signers(V1, proposed)
    check_change(V1, proposed, signatures(proposed, "AR", "BR"), keys_of)  # removed by others
    check_change(V1, proposed, signatures(proposed, "AR", "BR", "CL"), keys_of)  # CL leaves
    with pytest.raises(IntegrityError, match="removes CL: the rule needs BR's signature"):
        check_change(V1, proposed, signatures(proposed, "AR", "CL"), keys_of)
    with pytest.raises(IntegrityError, match="removes CL: the rule needs AR's signature"):
        check_change(V1, proposed, signatures(proposed, "CL"), keys_of)


def test_a_signature_under_a_removed_member_must_be_its_own() -> None:
    proposed = replace(V1, version=2, members=(MEMBERS["AR"], MEMBERS["BR"]))
    forged = {**signatures(proposed, "AR", "BR"), "CL": sign_membership(proposed, KEYS["AR"])}
    with pytest.raises(IntegrityError, match=r"signature under CL \(leaving\) does not verify"):
        check_change(V1, proposed, forged, keys_of)
    stranger = {**signatures(proposed, "AR", "BR"), "UY": sign_membership(proposed, KEYS["UY"])}
    with pytest.raises(IntegrityError, match="a signature of UY, not a member"):
        check_change(V1, proposed, stranger, keys_of)


def test_removing_two_members_at_once_needs_every_one_that_remains() -> None:
    four = replace(V1, members=(*V1.members, entry("UY")))
    proposed = replace(four, version=2, members=(MEMBERS["AR"], MEMBERS["BR"]))
    assert required_signers(four, proposed) == {
        "AR": "removes CL, removes UY",
        "BR": "removes CL, removes UY",
    }
    with pytest.raises(IntegrityError, match="the rule needs BR's signature"):
        check_change(four, proposed, signatures(proposed, "AR", "CL", "UY"), keys_of)


def test_updates_of_a_removed_member_no_longer_apply_and_are_not_refusals() -> None:
    without_cl = replace(V1, version=2, members=(MEMBERS["AR"], MEMBERS["BR"]))
    updates = [sign_update(renewal("CL"), KEYS["CL"]), sign_update(renewal("BR"), KEYS["BR"])]
    membership, applied, refused = effective(without_cl, updates, keys_of)
    assert list(applied) == ["BR"] and refused == []
    assert membership.member("CL") is None


def test_a_forged_signature_is_refused_like_a_missing_one() -> None:
    proposed = Membership(
        network="Test", version=2, members=(MEMBERS["AR"], MEMBERS["BR"]), rule=Rule()
    )
    forged = {
        "AR": sign_membership(proposed, KEYS["AR"]),
        "BR": sign_membership(proposed, KEYS["AR"]),
    }
    with pytest.raises(IntegrityError, match="BR's signature does not verify"):
        check_change(V1, proposed, forged, keys_of)


def test_an_own_endpoint_change_needs_only_that_member_but_anothers_entry_needs_all() -> None:
    moved = replace(MEMBERS["BR"], endpoint="https://127.0.0.1:9999", revision=1)
    proposed = replace(V1, version=2, members=(MEMBERS["AR"], moved, MEMBERS["CL"]))
    assert list(required_signers(V1, proposed)) == ["BR"]
    check_change(V1, proposed, signatures(proposed, "BR"), keys_of)
    with pytest.raises(IntegrityError, match="the rule needs BR's signature"):
        check_change(V1, proposed, signatures(proposed, "AR", "CL"), keys_of)
    renamed = replace(MEMBERS["BR"], name="Someone else")
    proposed = replace(V1, version=2, members=(MEMBERS["AR"], renamed, MEMBERS["CL"]))
    assert set(required_signers(V1, proposed)) == set(CODES)


def test_a_version_that_does_not_follow_is_refused() -> None:
    proposed = replace(V1, version=3)
    with pytest.raises(IntegrityError, match="not the version after v1"):
        check_change(V1, proposed, signatures(proposed, *CODES), keys_of)


# -- a member's own updates ------------------------------------------------------------------


def test_a_member_renews_its_own_certificate_with_its_signature_alone() -> None:
    update = renewal("BR")
    member = check_update(V1, sign_update(update, KEYS["BR"]), keys_of)
    assert member.tls_cert_sha256 == update.tls_cert_sha256 and member.revision == 1
    assert member.signing_key == MEMBERS["BR"].signing_key


def test_a_member_changing_another_members_entry_is_refused() -> None:
    update = renewal("CL", endpoint="https://attacker.example:443")
    with pytest.raises(IntegrityError, match="not signed by CL: a member changes only its own"):
        check_update(V1, sign_update(update, KEYS["BR"]), keys_of)


def test_an_update_without_a_valid_signature_is_refused() -> None:
    signed = SignedUpdate(update=renewal("BR"), signature="00" * 64)
    with pytest.raises(IntegrityError, match="is not signed by BR"):
        check_update(V1, signed, keys_of)
    with pytest.raises(IntegrityError, match="is not signed by BR"):
        check_update(V1, SignedUpdate(update=renewal("BR"), signature="zz"), keys_of)


# BR's first key leaked: a compromise rotation at seq 9 revoked it from seq 5 (issue 24, point 5).
BR_NEW = SigningKey.generate()
REVOKED = Revocation(key=KEYS["BR"].public_key, since=5, rotation=9)


def keys_after_compromise(code: str) -> list[PublicKey]:
    """As a node knows them: BR's first key (the membership's) and its new one."""
    return [*keys_of(code), *([BR_NEW.public_key] if code == "BR" else [])]


def revoked_of(code: str) -> list[Revocation]:
    return [REVOKED] if code == "BR" else []


def test_a_change_signed_with_a_revoked_ledger_key_is_refused_saying_so() -> None:
    proposed = Membership(
        network="Test", version=2, members=(*V1.members, entry("UY")), rule=Rule()
    )
    by_thief = signatures(proposed, "AR", "BR", "CL", "UY")
    reason = r"BR.s signature is made with BR.s ledger key revoked from seq 5 \(key compromise"
    with pytest.raises(IntegrityError, match=f"adds UY: {reason}") as caught:
        check_change(V1, proposed, by_thief, keys_after_compromise, revoked_of)
    assert caught.value.damage == "membership-rule"
    with pytest.raises(IntegrityError, match=f"v2: {reason}"):
        check_not_revoked(proposed, by_thief, revoked_of)
    # Signed with BR's new key, the same version follows the rule.
    by_br = {**by_thief, "BR": sign_membership(proposed, BR_NEW)}
    check_change(V1, proposed, by_br, keys_after_compromise, revoked_of)
    check_not_revoked(proposed, by_br, revoked_of)
    # Without the revocation known, the old key still counts (what a node held before).
    check_change(V1, proposed, by_thief, keys_after_compromise)


def test_an_update_signed_with_a_revoked_ledger_key_is_refused_saying_so() -> None:
    update = renewal("BR")
    with pytest.raises(
        IntegrityError, match=r"\(revision 1\) is made with BR.s ledger key revoked from seq 5"
    ):
        check_update(V1, sign_update(update, KEYS["BR"]), keys_after_compromise, revoked_of)
    signed = sign_update(update, BR_NEW)
    assert check_update(V1, signed, keys_after_compromise, revoked_of).revision == 1
    _, applied, refused = effective(
        V1, [sign_update(update, KEYS["BR"])], keys_after_compromise, revoked_of
    )
    assert applied == {} and "revoked from seq 5" in refused[0]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"network": "Other"}, "another network"),
        ({"code": "UY"}, "UY is not a member"),
        ({"endpoint": "ftp://x"}, "endpoint"),
        ({"tls_cert_sha256": "00" * 32}, "tls_cert"),
    ],
)
def test_bad_updates_are_refused_with_a_reason(changes: dict[str, object], reason: str) -> None:
    signer = str(changes.get("code", "BR"))
    update = renewal("BR", **changes)
    key = KEYS[signer]
    with pytest.raises(IntegrityError, match=reason):
        check_update(V1, sign_update(update, key), keys_of)


def test_a_stale_revision_is_refused_and_updates_of_members_commute() -> None:
    first = sign_update(renewal("BR", 1), KEYS["BR"])
    second = sign_update(renewal("BR", 2), KEYS["BR"])
    other = sign_update(renewal("CL", 1), KEYS["CL"])
    forged = sign_update(renewal("AR", 1, endpoint="https://evil:1"), KEYS["BR"])
    one, applied, refused = effective(V1, [second, other, first, forged], keys_of)
    two, _, _ = effective(V1, [forged, other, first, second], keys_of)
    assert one == two
    member = one.member("BR")
    assert member is not None and member.tls_cert_sha256 == second.update.tls_cert_sha256
    assert set(applied) == {"BR", "CL"} and applied["BR"] == second
    assert len(refused) == 1 and "not signed by AR" in refused[0]
    with pytest.raises(IntegrityError, match="revision 1 does not follow 2"):
        check_update(one, first, keys_of)


def test_membership_documents_from_before_rules_keep_their_bytes() -> None:
    legacy = {
        "network": "Old",
        "version": 4,
        "members": [
            {k: v for k, v in MEMBERS[c].to_dict().items() if k != "tls_cert"} for c in CODES
        ],
    }
    parsed = Membership.from_dict(legacy)
    assert parsed.rule is None and parsed.to_dict() == legacy
    assert parsed.rule_in_force == Rule()
    with pytest.raises(InvalidInput, match="rule"):
        Membership.from_dict({**legacy, "rule": {"members": "any", "own_entry": "self"}})


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ("not an object", "updates"),
        ({"update": {"code": "BR"}, "signature": ""}, "updates"),
        ({"update": {**renewal("BR").to_dict(), "endpoint": 7441}, "signature": ""}, "endpoint"),
        ({"update": {**renewal("BR").to_dict(), "revision": "1"}, "signature": ""}, "revision"),
        ({"update": {**renewal("BR").to_dict(), "revision": 0}, "signature": ""}, "revision"),
    ],
)
def test_a_malformed_update_is_bad_input_naming_the_field(data: object, field: str) -> None:
    with pytest.raises(InvalidInput, match=field):
        SignedUpdate.from_dict(data)
