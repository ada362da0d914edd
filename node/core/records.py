"""The AEO record (pure): the data partners exchange under an MRA (DESIGN-BRIEF §1).

A record validates itself on construction, so an invalid one cannot exist; every error is an
InvalidInput naming the field by its dotted path (``identifiers[1].value``, ``status.effective``).
Construction also normalises: text is trimmed and put in Unicode NFC, enum strings become enums,
and lists whose order means nothing (identifiers, roles, consent) are sorted, so equal content
gives equal records, equal ``to_dict`` forms and equal signed bytes.

``to_dict`` is the stable JSON form that is canonicalised, committed to and signed;
``from_dict`` is its strict inverse: unknown fields are refused, types are checked, dates are
``YYYY-MM-DD`` strings, and optional fields may be absent or null.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date
from enum import StrEnum
from typing import Any

from node.core.canonical import canonical_json
from node.core.countries import EORI_PREFIXES, ISO_COUNTRIES
from node.core.errors import Conflict, InvalidInput
from node.core.fields import (
    MAX_TEXT,
    check_country,
    check_date,
    check_enum,
    check_items,
    check_object,
    check_text,
    join_field,
    parse_date,
    set_normalised,
    under_field,
)
from node.core.status import FINAL, StatusCode, check_transition

__all__ = [
    "MAX_CITY",
    "MAX_POSTCODE",
    "MAX_RECORD_BYTES",
    "MAX_TEXT",
    "Address",
    "AeoRecord",
    "Certificate",
    "IdScheme",
    "Role",
    "Status",
    "TraderIdentifier",
    "check_update",
]

# WCO Data Model: the AEOMutualRecognitionParty id is up to 17 characters (an..17); ours is the
# issuer's ISO code followed by 1 to 15 upper-case letters or digits.
AEO_ID = re.compile(r"[A-Z]{2}[A-Z0-9]{1,15}")
MAX_CITY = 128  # an address's city and postcode are shorter than the other texts
MAX_POSTCODE = 16
# A record's RFC 8785 form is at most 64 KiB: far under the API's 8 MiB body and the 16 MiB a
# peer reads, so one record can always travel in one page of gossip (network.service).
MAX_RECORD_BYTES = 64 * 1024
# Every field but the identifiers is bounded (texts of at most MAX_TEXT characters, ten roles,
# one consent per country): below this many identifiers a record cannot reach the limit
# (tests/unit/test_records.py builds the largest one), so only larger ones are measured.
_MEASURE_FROM = 128


class Certificate(StrEnum):
    """AEO certificate types."""

    AEOC = "AEOC"  # customs simplifications
    AEOS = "AEOS"  # security and safety
    AEOF = "AEOF"  # both (legacy EU)


class IdScheme(StrEnum):
    """How a trader is identified (the items MRAs exchange, DESIGN-BRIEF §1).

    EORI: EU-style number, a country code (``XI`` allowed) and 1 to 15 upper-case letters or
    digits. TIN: the national tax or trader id as the issuing country writes it (WCO TIN
    guidelines). CTPAT: a US C-TPAT account number. OTHER: any other id the agreement names.
    """

    EORI = "EORI"
    TIN = "TIN"
    CTPAT = "CTPAT"
    OTHER = "OTHER"


# Identifier values by scheme. None holds ';' (the CSV list separator) or control characters.
_LOOSE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 ./:-]{0,33}[A-Za-z0-9./:-])?")
_ID_FORMATS: Mapping[IdScheme, tuple[re.Pattern[str], str]] = {
    IdScheme.EORI: (
        re.compile(r"[A-Z]{2}[A-Z0-9]{1,15}"),
        "an EORI is a country code and 1 to 15 upper-case letters or digits",
    ),
    IdScheme.TIN: (_LOOSE, "1 to 35 letters, digits, spaces and . / : - (no ;)"),
    IdScheme.CTPAT: (re.compile(r"[A-Z0-9]{1,35}"), "1 to 35 upper-case letters or digits"),
    IdScheme.OTHER: (_LOOSE, "1 to 35 letters, digits, spaces and . / : - (no ;)"),
}


class Role(StrEnum):
    """Supply-chain roles of an AEO (after the WCO SAFE Framework's AEO actors)."""

    IMPORTER = "importer"
    EXPORTER = "exporter"
    MANUFACTURER = "manufacturer"
    CARRIER = "carrier"
    FREIGHT_FORWARDER = "freight_forwarder"
    CUSTOMS_BROKER = "customs_broker"
    WAREHOUSE_OPERATOR = "warehouse_operator"
    PORT_OPERATOR = "port_operator"
    TERMINAL_OPERATOR = "terminal_operator"
    CONSOLIDATOR = "consolidator"


@dataclass(frozen=True, slots=True, kw_only=True)
class TraderIdentifier:
    """One way of identifying the trader, e.g. ``EORI:BR12345678901``."""

    scheme: IdScheme
    value: str

    def __post_init__(self) -> None:
        scheme = check_enum(IdScheme, self.scheme, "scheme")
        value = check_text(self.value, "value", limit=64)
        pattern, rule = _ID_FORMATS[scheme]
        if not pattern.fullmatch(value):
            raise InvalidInput(rule, field="value")
        if scheme is IdScheme.EORI and value[:2] not in EORI_PREFIXES:
            raise InvalidInput(
                f"an EORI starts with a country code, not {value[:2]}", field="value"
            )
        set_normalised(self, "scheme", scheme)
        set_normalised(self, "value", value)

    @classmethod
    def from_dict(cls, data: object, field: str = "identifier") -> TraderIdentifier:
        """Build from ``{"scheme", "value"}``. Raises InvalidInput naming ``field.<name>``."""
        d = check_object(data, ("scheme", "value"), set(), field)
        return under_field(field, cls, scheme=d["scheme"], value=d["value"])

    def to_dict(self) -> dict[str, object]:
        return {"scheme": self.scheme.value, "value": self.value}


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    """The trader's legal address."""

    street: str
    city: str
    postcode: str | None = None
    country: str

    def __post_init__(self) -> None:
        set_normalised(self, "street", check_text(self.street, "street"))
        set_normalised(self, "city", check_text(self.city, "city", limit=MAX_CITY))
        if self.postcode is not None:
            set_normalised(
                self, "postcode", check_text(self.postcode, "postcode", limit=MAX_POSTCODE)
            )
        check_country(self.country, "country")

    @classmethod
    def from_dict(cls, data: object, field: str = "address") -> Address:
        """Build from its JSON object. Raises InvalidInput naming ``field.<name>``."""
        d = check_object(data, ("street", "city", "postcode", "country"), {"postcode"}, field)
        return under_field(field, cls, **d)

    def to_dict(self) -> dict[str, object]:
        return {
            "street": self.street,
            "city": self.city,
            "postcode": self.postcode,
            "country": self.country,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    """The AEO's membership status, why (required unless valid) and from when."""

    code: StatusCode
    reason: str | None = None
    effective: date

    def __post_init__(self) -> None:
        code = check_enum(StatusCode, self.code, "code")
        set_normalised(self, "code", code)
        if self.reason is not None:
            set_normalised(self, "reason", check_text(self.reason, "reason"))
        elif code is not StatusCode.VALID:
            raise InvalidInput(f"a reason is required for status {code}", field="reason")
        check_date(self.effective, "effective")

    @classmethod
    def from_dict(cls, data: object, field: str = "status") -> Status:
        """Build from its JSON object. Raises InvalidInput naming ``field.<name>``."""
        d = check_object(data, ("code", "reason", "effective"), {"reason"}, field)
        effective = parse_date(d["effective"], join_field(field, "effective"))
        return under_field(field, cls, code=d["code"], reason=d.get("reason"), effective=effective)

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code.value,
            "reason": self.reason,
            "effective": self.effective.isoformat(),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class AeoRecord:
    """One version of an AEO's record as its issuing administration publishes it."""

    aeo_id: str
    identifiers: tuple[TraderIdentifier, ...]
    legal_name: str
    address: Address
    certificate: Certificate
    status: Status
    authorised: date
    expires: date | None = None
    roles: tuple[Role, ...]
    consent: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Checked in field order, so the first error reported is the first field at fault.
        if not isinstance(self.aeo_id, str) or not AEO_ID.fullmatch(self.aeo_id):
            raise InvalidInput(
                "an AEO id is the issuer's ISO code and 1 to 15 upper-case letters or digits",
                field="aeo_id",
            )
        if self.aeo_id[:2] not in ISO_COUNTRIES:
            raise InvalidInput(
                f"{self.aeo_id[:2]} is not an ISO 3166-1 country code", field="aeo_id"
            )
        identifiers = check_items(self.identifiers, "identifiers")
        if not identifiers:
            raise InvalidInput("at least one trader identifier is required", field="identifiers")
        seen: set[tuple[str, str]] = set()
        for i, ident in enumerate(identifiers):
            if not isinstance(ident, TraderIdentifier):
                raise InvalidInput("must be a TraderIdentifier", field=f"identifiers[{i}]")
            if (ident.scheme, ident.value) in seen:
                raise InvalidInput("duplicate identifier", field=f"identifiers[{i}]")
            seen.add((ident.scheme, ident.value))
        set_normalised(
            self, "identifiers", tuple(sorted(identifiers, key=lambda x: (x.scheme, x.value)))
        )
        set_normalised(self, "legal_name", check_text(self.legal_name, "legal_name"))
        if not isinstance(self.address, Address):
            raise InvalidInput("must be an Address", field="address")
        set_normalised(
            self, "certificate", check_enum(Certificate, self.certificate, "certificate")
        )
        if not isinstance(self.status, Status):
            raise InvalidInput("must be a Status", field="status")
        authorised = check_date(self.authorised, "authorised")
        if self.status.effective < authorised:
            raise InvalidInput(
                "a status cannot take effect before the authorisation", field="status.effective"
            )
        if self.expires is not None and check_date(self.expires, "expires") < authorised:
            raise InvalidInput("the expiry precedes the authorisation", field="expires")
        roles = [
            check_enum(Role, r, f"roles[{i}]")
            for i, r in enumerate(check_items(self.roles, "roles"))
        ]
        if not roles:
            raise InvalidInput("at least one supply-chain role is required", field="roles")
        set_normalised(self, "roles", _sorted_unique(roles, "roles", "duplicate role"))
        partners = check_items(self.consent, "consent")
        for i, partner in enumerate(partners):
            if check_country(partner, f"consent[{i}]") == self.issuer:
                raise InvalidInput(
                    "the issuer needs no consent to hold its own data", field=f"consent[{i}]"
                )
        set_normalised(self, "consent", _sorted_unique(partners, "consent", "duplicate partner"))
        if len(identifiers) > _MEASURE_FROM:
            size = len(canonical_json(self.to_dict()))
            if size > MAX_RECORD_BYTES:
                raise InvalidInput(
                    f"the record is {size} bytes of canonical JSON; the limit is "
                    f"{MAX_RECORD_BYTES} (MAX_RECORD_BYTES)",
                    field="identifiers",
                )

    @property
    def issuer(self) -> str:
        """The issuing administration: the AEO id's ISO 3166-1 prefix."""
        return self.aeo_id[:2]

    def with_status(self, status: Status) -> AeoRecord:
        """The same record with a new status (validated like any record)."""
        return replace(self, status=status)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> AeoRecord:
        """Build a record from its JSON form (``to_dict``'s output).

        Raises InvalidInput naming the field: unknown fields, missing required ones, wrong
        types, malformed dates and every rule of the record.
        """
        d = check_object(data, _RECORD_FIELDS, {"expires", "consent"}, "")
        identifiers = tuple(
            TraderIdentifier.from_dict(item, f"identifiers[{i}]")
            for i, item in enumerate(check_items(d["identifiers"], "identifiers"))
        )
        address = Address.from_dict(d["address"])
        status = Status.from_dict(d["status"])
        authorised = parse_date(d["authorised"], "authorised")
        expires = d.get("expires")
        return cls(
            aeo_id=d["aeo_id"],
            identifiers=identifiers,
            legal_name=d["legal_name"],
            address=address,
            certificate=d["certificate"],
            status=status,
            authorised=authorised,
            expires=None if expires is None else parse_date(expires, "expires"),
            roles=check_items(d["roles"], "roles"),
            consent=() if d.get("consent") is None else check_items(d["consent"], "consent"),
        )

    def to_dict(self) -> dict[str, object]:
        """The stable JSON form: what is canonicalised, committed to and signed."""
        return {
            "aeo_id": self.aeo_id,
            "identifiers": [i.to_dict() for i in self.identifiers],
            "legal_name": self.legal_name,
            "address": self.address.to_dict(),
            "certificate": self.certificate.value,
            "status": self.status.to_dict(),
            "authorised": self.authorised.isoformat(),
            "expires": None if self.expires is None else self.expires.isoformat(),
            "roles": [r.value for r in self.roles],
            "consent": list(self.consent),
        }


_RECORD_FIELDS = tuple(f.name for f in fields(AeoRecord))


def _sorted_unique(items: Any, field: str, message: str) -> tuple[Any, ...]:
    seen: set[object] = set()
    for i, item in enumerate(items):
        if item in seen:
            raise InvalidInput(message, field=f"{field}[{i}]")
        seen.add(item)
    return tuple(sorted(items))


def check_update(previous: AeoRecord | None, new: AeoRecord) -> None:
    """Check that ``new`` may follow ``previous`` (None: a first version) in the issuer's log.

    Rules, whatever the agreement: the AEO id is kept; a record in a final status never changes
    (a new authorisation gets a new AEO id); the authorisation date is fixed; the status moves
    along the transition table (node.core.status); a status change does not take effect before the
    current status did. Raises Conflict naming the field at fault.
    """
    if previous is None or new == previous:
        return
    if previous.aeo_id != new.aeo_id:
        raise Conflict("a new version must keep the AEO id", field="aeo_id")
    old_code, new_code = previous.status.code, new.status.code
    if old_code in FINAL:
        if new_code != old_code:
            check_transition(old_code, new_code)  # always refuses, naming status.code
        raise Conflict(
            f"the record is {old_code}, which is final: it cannot change "
            "(a new authorisation gets a new AEO id)",
            field=_first_change(previous, new),
        )
    if previous.authorised != new.authorised:
        raise Conflict(
            "the authorisation date cannot change (a new authorisation gets a new AEO id)",
            field="authorised",
        )
    check_transition(old_code, new_code)
    if old_code != new_code and new.status.effective < previous.status.effective:
        raise Conflict(
            f"the new status would take effect before the current one "
            f"({previous.status.effective.isoformat()})",
            field="status.effective",
        )


def _first_change(old: AeoRecord, new: AeoRecord) -> str:
    """The dotted path of the first field that differs (one level into nested objects)."""
    a, b = old.to_dict(), new.to_dict()
    for name, value in a.items():
        other = b[name]
        if value == other:
            continue
        if isinstance(value, dict) and isinstance(other, dict):
            return next(f"{name}.{k}" for k in value if value[k] != other[k])
        return name
    return "aeo_id"  # unreachable for records that differ; a safe, named default
