"""Agreement documents and the two contracts: who receives what, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.agreement import Agreement
from contracts.registry import SOURCE_HASHES, check_agreement, resolve
from node.core.errors import ContractRefused, InvalidInput
from tests.factories import record


def agreement(**changes: Any) -> Agreement:
    data: dict[str, Any] = {
        "id": "MRA-BR-UY",
        "kind": "bilateral",
        "parties": ["UY", "BR"],
        "contract": "mra-full",
        "contract_version": 1,
        "contract_sha256": SOURCE_HASHES["mra-full@1"],
        "params": {
            "certificates": ["AEOS", "AEOF"],
            "fields": ["legal_name", "address", "certificate"],
            "statuses": ["valid", "suspended", "revoked", "annulled"],
            "consent_required": True,
        },
        "valid_from": "2026-01-01",
        "valid_until": "2031-01-01",
        "title": "MRA between Brazil and Uruguay",
        "legal_ref": "Decision 1/2026",
    }
    data.update(changes)
    return Agreement.from_dict(data)


MERCOSUR: dict[str, Any] = {
    "id": "MERCOSUR-AEO",
    "kind": "plurilateral",
    "parties": ["BR", "AR", "PY", "UY"],
    "contract": "mra-status-only",
    "contract_sha256": SOURCE_HASHES["mra-status-only@1"],
    "params": {"certificates": ["AEOC", "AEOS", "AEOF"]},
}

SUSPENDED = {"code": "suspended", "reason": "audit", "effective": "2026-05-01"}


def aeos(**changes: Any) -> Any:
    return record(**{"certificate": "AEOS", "consent": ["UY", "AR"], **changes})


def test_document_round_trip_and_hash() -> None:
    a = agreement()
    assert Agreement.from_dict(a.to_dict()) == a
    assert a.parties == ("BR", "UY")
    assert agreement(version=2).hash != a.hash
    assert agreement(parties=["BR", "UY"]).hash == a.hash  # party order carries no meaning


def test_mra_full_shares_granted_fields_with_consenting_partner() -> None:
    a = agreement()
    views = check_agreement(a).share(a, aeos())
    assert set(views) == {"UY"}
    assert set(views["UY"]) == {"aeo_id", "status", "legal_name", "address", "certificate"}
    assert "identifiers" not in views["UY"] and "consent" not in views["UY"]


@pytest.mark.parametrize(
    ("rec", "why"),
    [
        pytest.param(lambda: aeos(consent=["AR"]), "no consent for UY", id="no-consent"),
        pytest.param(
            lambda: record(certificate="AEOC", consent=["UY"]),
            "AEOC not covered",
            id="certificate-not-covered",
        ),
        pytest.param(
            lambda: record("CL", certificate="AEOS", consent=["UY"]),
            "CL not a party",
            id="issuer-not-party",
        ),
    ],
)
def test_mra_full_withholds(rec: Any, why: str) -> None:
    a = agreement()
    assert resolve(a).share(a, rec()) == {}, why


def test_statuses_not_shared_are_withheld() -> None:
    a = agreement(params={**agreement().params, "statuses": ["valid"]})
    assert resolve(a).share(a, aeos(status=SUSPENDED)) == {}


def test_status_only_is_minimal_and_reaches_every_other_party() -> None:
    a = agreement(**MERCOSUR)
    views = check_agreement(a).share(a, aeos(status=SUSPENDED))
    assert set(views) == {"AR", "PY", "UY"}
    assert views["PY"] == {
        "aeo_id": "BR000000001",
        "certificate": "AEOS",
        "status": {"code": "suspended", "effective": "2026-05-01"},
        "authorised": views["PY"]["authorised"],
        "expires": None,
    }


def test_queries_only_between_parties() -> None:
    a = agreement(**MERCOSUR)
    contract = resolve(a)
    assert contract.may_query(a, "AR", "BR")
    assert not contract.may_query(a, "CL", "BR")
    assert not contract.may_query(a, "AR", "CL")
    assert not contract.may_query(a, "BR", "BR")


def test_same_inputs_same_decisions() -> None:
    a = agreement(**MERCOSUR)
    rec = aeos()
    assert all(resolve(a).share(a, rec) == resolve(a).share(a, rec) for _ in range(3))


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        pytest.param({"parties": ["BR", "XX"]}, InvalidInput, "parties[1]", id="unknown-party"),
        pytest.param({"parties": ["BR", "BR"]}, InvalidInput, "parties", id="duplicate-parties"),
        pytest.param(
            {"parties": ["BR", "UY", "AR"]}, InvalidInput, "parties", id="bilateral-with-three"
        ),
        pytest.param(
            {"valid_until": "2025-01-01"}, InvalidInput, "valid_until", id="inverted-window"
        ),
        pytest.param({"contract": "mra-gold"}, ContractRefused, None, id="unknown-contract"),
        pytest.param({"id": "MRA-BR-UY\n"}, InvalidInput, "id", id="id-with-a-newline"),
        pytest.param({"contract": "mra-full\n"}, InvalidInput, "contract", id="name-newline"),
        pytest.param({"contract_sha256": "0" * 64}, ContractRefused, None, id="hash-mismatch"),
        pytest.param(
            {"params": {"certificates": ["GOLD"], "fields": ["legal_name"], "statuses": ["valid"]}},
            InvalidInput,
            "params.certificates[0]",
            id="bad-param-value",
        ),
        pytest.param(
            {"params": {"certificates": ["AEOS"], "fields": ["consent"], "statuses": ["valid"]}},
            InvalidInput,
            "params.fields[0]",
            id="unshareable-field",
        ),
        pytest.param(
            {
                "params": {
                    "certificates": ["AEOS"],
                    "fields": ["legal_name"],
                    "statuses": ["valid"],
                    "share_everything": True,
                }
            },
            InvalidInput,
            "params.share_everything",
            id="unknown-param",
        ),
        pytest.param(
            {"params": {"fields": ["legal_name"], "statuses": ["valid"]}},
            InvalidInput,
            "params.certificates",
            id="missing-param",
        ),
    ],
)
def test_bad_agreements_are_refused(
    changes: dict[str, Any], error: type[Exception], field: str | None
) -> None:
    with pytest.raises(error) as caught:
        check_agreement(agreement(**changes))
    if field is not None:
        assert getattr(caught.value, "field", None) == field


def test_a_party_outside_the_network_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_agreement(agreement(), members=frozenset({"BR", "AR"}))
    assert caught.value.field == "parties[1]"


@pytest.mark.parametrize("days", [0, -1, 36_501, True, "30", 1.5])
def test_a_retention_period_is_a_whole_number_of_days(days: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        agreement(retention_days=days)
    assert caught.value.field == "retention_days"


def test_a_retention_period_is_part_of_the_approved_document() -> None:
    plain, kept = agreement(), agreement(retention_days=3650)
    assert "retention_days" not in plain.to_dict()  # older documents hash as they did
    assert Agreement.from_dict(kept.to_dict()) == kept
    assert kept.hash != plain.hash


@pytest.mark.parametrize("params", [[["certificates", ["AEOS"]]], "AEOS", 7, [], 0, "", False])
def test_params_that_are_not_an_object_are_refused_by_name(params: object) -> None:
    """A list of pairs would pass dict(); it is not what the document means."""
    document = {**agreement().to_dict(), "params": params}
    with pytest.raises(InvalidInput) as caught:
        Agreement.from_dict(document)
    assert caught.value.field == "params"
