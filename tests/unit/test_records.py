"""The AEO record: every rule as a named bad input with the exact field, normalisation, the
stable dict form and its round trip, and the update rules the ledger applies."""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import given, settings

from node.core.canonical import canonical_json, parse_json
from node.core.errors import Conflict, InvalidInput
from node.core.records import (
    MAX_RECORD_BYTES,
    Address,
    AeoRecord,
    Certificate,
    IdScheme,
    Role,
    Status,
    TraderIdentifier,
    check_update,
)
from node.core.status import StatusCode
from tests.strategies import aeo_records

GOOD: dict[str, Any] = {
    "aeo_id": "BR000000001",
    "identifiers": [
        {"scheme": "TIN", "value": "12.345.678/0001-90"},
        {"scheme": "EORI", "value": "BR12345678901"},
    ],
    "legal_name": "Atlântica Delta Ltda",
    "address": {
        "street": "Avenida Rio 100",
        "city": "Santos",
        "postcode": "11010",
        "country": "BR",
    },
    "certificate": "AEOS",
    "status": {"code": "valid", "reason": None, "effective": "2020-03-01"},
    "authorised": "2020-03-01",
    "expires": "2026-03-01",
    "roles": ["importer", "carrier"],
    "consent": ["UY", "AR"],
}
DELETE = object()
# About 1,100 identifiers of 35 characters: some 75 KB of canonical JSON.
MANY_IDS = [{"scheme": "OTHER", "value": f"{i:06d}" + "X" * 29} for i in range(1100)]
CTPAT_LOWER = {"scheme": "CTPAT", "value": "abc1"}
NO_REASON = {"code": "suspended", "effective": "2021-01-01"}
BLANK_REASON = {"code": "revoked", "reason": " ", "effective": "2021-01-01"}


def changed(path: str, value: object) -> dict[str, Any]:
    """GOOD with the field at a dotted path (``identifiers[1].value``) set, or deleted."""
    data = copy.deepcopy(GOOD)
    *parents, last = re.findall(r"[^.\[\]]+", path)
    target: Any = data
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    key: Any = int(last) if last.isdigit() else last
    if value is DELETE:
        del target[key]
    else:
        target[key] = value
    return data


def loose(build: Any, /, *args: Any, **kwargs: Any) -> Any:
    """Call a constructor with values of the wrong type, out of mypy's sight."""
    return build(*args, **kwargs)


def bad(id: str, path: str, value: object, field: str | None = None) -> Any:
    return pytest.param(path, value, field or path, id=id)


BAD = [
    # aeo_id
    bad("aeo-id-missing", "aeo_id", DELETE),
    bad("aeo-id-null", "aeo_id", None),
    bad("aeo-id-number", "aeo_id", 12345),
    bad("aeo-id-lower-case", "aeo_id", "br000000001"),
    bad("aeo-id-prefix-only", "aeo_id", "BR"),
    bad("aeo-id-18-chars", "aeo_id", "BR" + "1" * 16),
    bad("aeo-id-punctuation", "aeo_id", "BR-0001"),
    bad("aeo-id-not-iso", "aeo_id", "ZZ0001"),
    bad("aeo-id-eu-not-an-issuer", "aeo_id", "EU0001"),
    bad("aeo-id-xi-not-an-issuer", "aeo_id", "XI0001"),
    # unknown fields, at every level
    bad("unknown-field", "colour", "blue"),
    bad("unknown-address-field", "address.zip", "11010"),
    bad("unknown-status-field", "status.note", "x"),
    bad("unknown-identifier-field", "identifiers[0].issued", "2020-01-01"),
    # identifiers
    bad("identifiers-missing", "identifiers", DELETE),
    bad("identifiers-empty", "identifiers", []),
    bad("identifiers-not-list", "identifiers", "EORI:BR1"),
    bad("identifier-not-object", "identifiers[1]", "EORI:BR1"),
    bad("identifier-scheme-unknown", "identifiers[1].scheme", "VAT"),
    bad("identifier-scheme-lower", "identifiers[1].scheme", "eori"),
    bad("identifier-value-missing", "identifiers[1].value", DELETE),
    bad("identifier-value-blank", "identifiers[1].value", "  "),
    bad("identifier-value-number", "identifiers[1].value", 12345678901),
    bad("eori-lower-case", "identifiers[1].value", "br12345678901"),
    bad("eori-prefix-only", "identifiers[1].value", "BR"),
    bad("eori-too-long", "identifiers[1].value", "BR" + "1" * 16),
    bad("eori-unknown-prefix", "identifiers[1].value", "ZZ12345"),
    bad("tin-semicolon", "identifiers[0].value", "123;456"),
    bad("tin-too-long", "identifiers[0].value", "1" * 36),
    bad("ctpat-lower-case", "identifiers[0]", CTPAT_LOWER, "identifiers[0].value"),
    bad("identifier-duplicate", "identifiers[0]", GOOD["identifiers"][1], "identifiers[1]"),
    # legal_name
    bad("name-missing", "legal_name", DELETE),
    bad("name-blank", "legal_name", " \t "),
    bad("name-not-string", "legal_name", ["Atlântica"]),
    bad("name-513-chars", "legal_name", "x" * 513),
    bad("name-bell", "legal_name", "Atlântica\x07 Ltda"),
    bad("name-newline", "legal_name", "Atlântica\nLtda"),
    bad("name-line-separator", "legal_name", "Atlântica\u2028Ltda"),
    bad("name-c1-control", "legal_name", "Atlântica\x85Ltda"),
    bad("name-lone-surrogate", "legal_name", "Atlântica\ud800"),
    # names that spoof: bidirectional controls, zero-width characters, U+FEFF, tags,
    # noncharacters, and nothing visible
    bad("name-rlo", "legal_name", "Atlântica \u202eadtL"),
    bad("name-lre", "legal_name", "\u202aAtlântica Ltda"),
    bad("name-pdf", "legal_name", "Atlântica Ltda\u202c"),
    bad("name-lri", "legal_name", "Atlântica \u2066Ltda\u2069"),
    bad("name-fsi", "legal_name", "Atlântica \u2068Ltda"),
    bad("name-pdi", "legal_name", "Atlântica\u2069 Ltda"),
    bad("name-rlm", "legal_name", "Atlântica\u200f Ltda"),
    bad("name-arabic-letter-mark", "legal_name", "Atlântica\u061c Ltda"),
    bad("name-zero-width-space", "legal_name", "Atlân\u200btica Ltda"),
    bad("name-zero-width-non-joiner", "legal_name", "Atlân\u200ctica Ltda"),
    bad("name-zero-width-joiner", "legal_name", "Atlân\u200dtica Ltda"),
    bad("name-word-joiner", "legal_name", "Atlân\u2060tica Ltda"),
    bad("name-byte-order-mark", "legal_name", "\ufeffAtlântica Ltda"),
    bad("name-tag-characters", "legal_name", "Atlântica Ltda\U000e0041\U000e0042"),
    bad("name-noncharacter-fdd0", "legal_name", "Atlântica\ufdd0 Ltda"),
    bad("name-noncharacter-fffe", "legal_name", "Atlântica\ufffe Ltda"),
    bad("name-noncharacter-plane-1", "legal_name", "Atlântica\U0001ffff Ltda"),
    bad("name-noncharacter-plane-16", "legal_name", "Atlântica\U0010fffe Ltda"),
    bad("name-only-combining-marks", "legal_name", "\u0301\u0308\u0327"),
    bad("name-only-hangul-filler", "legal_name", "\u3164\u3164"),
    bad("name-only-braille-blank", "legal_name", "\u2800"),
    bad("name-only-soft-hyphen", "legal_name", "\u00ad"),
    bad("name-only-marks-and-spaces", "legal_name", "\u0301\u00a0\u0301"),
    bad("street-rlo", "address.street", "Avenida \u202eoiR 100"),
    bad("street-zero-width-space", "address.street", "Avenida\u200b Rio 100"),
    bad("street-only-combining-marks", "address.street", "\u0300"),
    bad("city-lri", "address.city", "\u2066Santos"),
    bad("city-byte-order-mark", "address.city", "San\ufefftos"),
    bad("postcode-zero-width-joiner", "address.postcode", "110\u200d10"),
    bad("postcode-noncharacter", "address.postcode", "11010\ufdef"),
    bad("reason-rlo", "status", {**NO_REASON, "reason": "audit \u202e"}, "status.reason"),
    # address
    bad("address-missing", "address", DELETE),
    bad("address-not-object", "address", "Avenida Rio 100, Santos"),
    bad("street-missing", "address.street", DELETE),
    bad("street-tab", "address.street", "Avenida\tRio"),
    bad("city-null", "address.city", None),
    bad("city-129-chars", "address.city", "c" * 129),
    bad("postcode-17-chars", "address.postcode", "1" * 17),
    bad("postcode-number", "address.postcode", 11010),
    bad("address-country-lower", "address.country", "br"),
    bad("address-country-unknown", "address.country", "XX"),
    # certificate
    bad("certificate-missing", "certificate", DELETE),
    bad("certificate-unknown", "certificate", "AEOX"),
    bad("certificate-lower", "certificate", "aeos"),
    # status
    bad("status-missing", "status", DELETE),
    bad("status-not-object", "status", "valid"),
    bad("status-code-unknown", "status.code", "expired"),
    bad("status-code-missing", "status.code", DELETE),
    bad("suspended-without-reason", "status", NO_REASON, "status.reason"),
    bad("revoked-blank-reason", "status", BLANK_REASON, "status.reason"),
    bad("status-effective-missing", "status.effective", DELETE),
    bad("status-effective-not-a-day", "status.effective", "2021-02-30"),
    bad("status-effective-short-form", "status.effective", "2021-2-3"),
    bad("status-effective-number", "status.effective", 20210101),
    bad("status-before-authorisation", "status.effective", "2020-02-29"),
    # dates
    bad("authorised-missing", "authorised", DELETE),
    bad("authorised-with-time", "authorised", "2020-03-01T00:00:00"),
    bad("authorised-basic-format", "authorised", "20200301"),
    bad("authorised-arabic-digits", "authorised", "٢٠٢٠-03-01"),
    bad("expires-before-authorised", "expires", "2020-02-29"),
    bad("expires-not-a-date", "expires", "soon"),
    # roles
    bad("roles-missing", "roles", DELETE),
    bad("roles-empty", "roles", []),
    bad("roles-not-list", "roles", "importer"),
    bad("role-unknown", "roles[1]", "smuggler"),
    bad("role-duplicate", "roles", ["importer", "importer"], "roles[1]"),
    # consent
    bad("consent-not-list", "consent", "AR"),
    bad("consent-unknown-code", "consent[0]", "ZZ"),
    bad("consent-eu", "consent[1]", "EU"),
    bad("consent-issuer-itself", "consent[1]", "BR"),
    bad("consent-duplicate", "consent", ["AR", "UY", "AR"], "consent[2]"),
    # size: a record's canonical JSON is at most MAX_RECORD_BYTES
    bad("record-over-64-kib", "identifiers", MANY_IDS),
]  # fmt: skip


@pytest.mark.parametrize(("path", "value", "field"), BAD)
def test_bad_input_names_the_field(path: str, value: object, field: str) -> None:
    data = changed(path, value)
    with pytest.raises(InvalidInput) as info:
        AeoRecord.from_dict(data)
    assert type(info.value) is InvalidInput
    assert info.value.field == field


@pytest.mark.parametrize("data", [[], "record", None], ids=["list", "string", "null"])
def test_a_record_is_an_object(data: Any) -> None:
    with pytest.raises(InvalidInput, match="must be an object") as info:
        AeoRecord.from_dict(data)
    assert info.value.field is None


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("expires", None),
        ("expires", DELETE),
        ("consent", DELETE),
        ("consent", None),
        ("consent", []),
        ("address.postcode", None),
        ("address.postcode", DELETE),
        ("status", {"code": "valid", "effective": "2020-03-01"}),
        ("status", {"code": "valid", "reason": "reinstated", "effective": "2024-01-01"}),
        ("identifiers[1].value", "XI123456789000"),  # a Northern Ireland EORI
        ("identifiers[0]", {"scheme": "CTPAT", "value": "A1B2C3D4"}),
        ("identifiers[0]", {"scheme": "OTHER", "value": "JP:AEO-0042"}),
        ("aeo_id", "BR" + "Z" * 15),
        ("expires", "2020-03-01"),
        ("legal_name", "Ame\u0301lie Transportes"),  # a combining accent (NFC composes it)
        ("legal_name", "شركة الأمل للتجارة"),  # right-to-left text needs no controls
        ("legal_name", 'א.ב. סחר בע"מ'),
        ("legal_name", "प्रगति निर्यात"),  # viramas and vowel signs are combining marks
        ("address.street", "Rua \u00a0Direita 1"),
        ("identifiers", MANY_IDS[:128]),
    ],
)
def test_optional_and_edge_values_are_accepted(path: str, value: object) -> None:
    AeoRecord.from_dict(changed(path, value))


def test_only_records_with_many_identifiers_can_reach_the_size_limit() -> None:
    # The largest record with 128 identifiers: every text at its limit in 4-byte characters,
    # every role, consent for every other country. It must be under MAX_RECORD_BYTES, or the
    # record would have to measure itself always (records.py measures from 129 identifiers).
    from node.core.countries import ISO_COUNTRIES

    wide = "\U0001f600"
    data = copy.deepcopy(GOOD)
    data.update(
        legal_name=wide * 512,
        identifiers=MANY_IDS[:128],
        roles=[r.value for r in Role],
        consent=sorted(ISO_COUNTRIES - {"BR"}),
        status={"code": "suspended", "reason": wide * 512, "effective": "2021-01-01"},
        address={"street": wide * 512, "city": wide * 128, "postcode": wide * 16, "country": "BR"},
    )
    assert len(canonical_json(AeoRecord.from_dict(data).to_dict())) < MAX_RECORD_BYTES


def test_an_oversized_record_names_the_limit() -> None:
    with pytest.raises(InvalidInput, match=f"the limit is {MAX_RECORD_BYTES}") as info:
        AeoRecord.from_dict(changed("identifiers", MANY_IDS))
    assert info.value.field == "identifiers"


def test_to_dict_is_the_normalised_stable_form() -> None:
    data = changed("legal_name", "  Atla\u0302ntica Delta Ltda ")  # NFD, padded
    assert AeoRecord.from_dict(data).to_dict() == {
        **GOOD,
        "identifiers": [
            {"scheme": "EORI", "value": "BR12345678901"},
            {"scheme": "TIN", "value": "12.345.678/0001-90"},
        ],
        "roles": ["carrier", "importer"],
        "consent": ["AR", "UY"],
    }


def test_order_of_lists_does_not_matter() -> None:
    a = AeoRecord.from_dict(GOOD)
    shuffled = copy.deepcopy(GOOD)
    for name in ("identifiers", "roles", "consent"):
        shuffled[name].reverse()
    b = AeoRecord.from_dict(shuffled)
    assert a == b
    assert hash(a) == hash(b)
    assert canonical_json(a.to_dict()) == canonical_json(b.to_dict())


def test_fields_are_typed_after_parsing() -> None:
    record = AeoRecord.from_dict(GOOD)
    assert record.certificate is Certificate.AEOS
    assert record.status.code is StatusCode.VALID
    assert record.roles == (Role.CARRIER, Role.IMPORTER)
    assert record.identifiers[0].scheme is IdScheme.EORI
    assert record.authorised == date(2020, 3, 1)
    assert record.issuer == "BR"


def test_constructors_coerce_and_trim() -> None:
    ident = TraderIdentifier(scheme="EORI", value=" BR1 ")  # type: ignore[arg-type]
    assert (ident.scheme, ident.value) == (IdScheme.EORI, "BR1")
    address = Address(street=" Rua  1 ", city="Santos", country="BR")
    assert (address.street, address.postcode) == ("Rua  1", None)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: TraderIdentifier(scheme=IdScheme.EORI, value="br1"), "value"),
        (lambda: loose(Status, code="valid", effective="2020-01-01"), "effective"),
        (lambda: loose(Status, code="valid", effective=datetime(2020, 1, 1)), "effective"),
        (lambda: loose(Status, code="revoked", effective=date(2020, 1, 1)), "reason"),
        (lambda: Address(street="x", city="y", country="ZZ"), "country"),
        (
            lambda: loose(replace, AeoRecord.from_dict(GOOD), identifiers=("EORI:BR1",)),
            "identifiers[0]",
        ),
        (lambda: loose(replace, AeoRecord.from_dict(GOOD), identifiers=[]), "identifiers"),
        (lambda: replace(AeoRecord.from_dict(GOOD), address=GOOD["address"]), "address"),
        (lambda: replace(AeoRecord.from_dict(GOOD), status=GOOD["status"]), "status"),
        (lambda: loose(replace, AeoRecord.from_dict(GOOD), authorised="2020-03-01"), "authorised"),
        (lambda: replace(AeoRecord.from_dict(GOOD), expires=datetime(2030, 1, 1)), "expires"),
        (lambda: loose(replace, AeoRecord.from_dict(GOOD), roles=("pilot",)), "roles[0]"),
        (lambda: replace(AeoRecord.from_dict(GOOD), consent=("UY", "BR")), "consent[1]"),
    ],
    ids=[
        "identifier",
        "status-date-string",
        "status-datetime",
        "status-reason",
        "address-country",
        "record-identifier-type",
        "record-identifiers-empty",
        "record-address-type",
        "record-status-type",
        "record-authorised-string",
        "record-expires-datetime",
        "record-role",
        "record-consent-issuer",
    ],
)
def test_direct_construction_validates_too(build: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        build()
    assert info.value.field == field


def test_with_status_validates() -> None:
    record = AeoRecord.from_dict(GOOD)
    suspended = record.with_status(
        Status(code=StatusCode.SUSPENDED, reason="audit", effective=date(2024, 5, 1))
    )
    assert suspended.status.code is StatusCode.SUSPENDED
    assert suspended.aeo_id == record.aeo_id
    with pytest.raises(InvalidInput) as info:
        record.with_status(Status(code=StatusCode.VALID, effective=date(2019, 1, 1)))
    assert info.value.field == "status.effective"


@settings(max_examples=150)
@given(aeo_records(issuer=None))
def test_dict_round_trip(record: AeoRecord) -> None:
    as_dict = record.to_dict()
    assert AeoRecord.from_dict(as_dict) == record
    assert AeoRecord.from_dict(as_dict).to_dict() == as_dict
    assert AeoRecord.from_dict(parse_json(canonical_json(as_dict))) == record
    assert record.consent == tuple(sorted(record.consent))
    assert record.issuer not in record.consent


# -- check_update ----------------------------------------------------------------------------

BASE = AeoRecord.from_dict(GOOD)  # valid since 2020-03-01


def status(code: str, effective: str, reason: str | None = "audit") -> Status:
    return Status.from_dict({"code": code, "reason": reason, "effective": effective})


SUSPENDED = BASE.with_status(status("suspended", "2024-01-10"))
REVOKED = BASE.with_status(status("revoked", "2024-02-01"))


@pytest.mark.parametrize(
    ("previous", "new"),
    [
        pytest.param(None, REVOKED, id="first-version-any-status"),
        pytest.param(BASE, BASE, id="identical"),
        pytest.param(BASE, replace(BASE, legal_name="New Name S.A."), id="rename"),
        pytest.param(BASE, SUSPENDED, id="suspend"),
        pytest.param(SUSPENDED, BASE.with_status(status("valid", "2024-03-01")), id="reinstate"),
        pytest.param(SUSPENDED, REVOKED, id="revoke-after-suspension"),
        pytest.param(
            SUSPENDED, SUSPENDED.with_status(status("suspended", "2024-01-05")), id="fix-date"
        ),
        pytest.param(REVOKED, REVOKED, id="final-but-unchanged"),
    ],
)
def test_allowed_updates(previous: AeoRecord | None, new: AeoRecord) -> None:
    check_update(previous, new)


@pytest.mark.parametrize(
    ("previous", "new", "field"),
    [
        pytest.param(BASE, replace(BASE, aeo_id="BR000000002"), "aeo_id", id="other-id"),
        pytest.param(REVOKED, BASE, "status.code", id="revoked-to-valid"),
        pytest.param(
            REVOKED, REVOKED.with_status(status("annulled", "2024-03-01")), "status.code",
            id="revoked-to-annulled",
        ),
        pytest.param(REVOKED, replace(REVOKED, legal_name="Other"), "legal_name", id="final-name"),
        pytest.param(
            REVOKED, REVOKED.with_status(status("revoked", "2024-02-01", "fraud")),
            "status.reason", id="final-reason",
        ),
        pytest.param(
            REVOKED, replace(REVOKED, address=replace(REVOKED.address, city="Rio")),
            "address.city", id="final-address",
        ),
        pytest.param(
            BASE, replace(BASE, authorised=date(2020, 1, 1)), "authorised", id="authorised"
        ),
        pytest.param(
            SUSPENDED, BASE.with_status(status("valid", "2024-01-09")), "status.effective",
            id="reinstated-before-suspension",
        ),
        pytest.param(
            SUSPENDED, REVOKED.with_status(status("revoked", "2023-12-31")), "status.effective",
            id="revoked-before-suspension",
        ),
    ],
)  # fmt: skip
def test_refused_updates(previous: AeoRecord, new: AeoRecord, field: str) -> None:
    with pytest.raises(Conflict) as info:
        check_update(previous, new)
    assert info.value.field == field
