"""The AEO record (pure): the data partners exchange under an MRA (DESIGN-BRIEF §1).

A record validates itself on construction, so an invalid one cannot exist; every error is an
InvalidInput naming the field by its dotted path (``identifiers[1].value``). ``to_dict`` is the
stable JSON form that is canonicalised, committed to and signed; ``from_dict`` is its strict
inverse (unknown fields are refused).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from typing import Any, TypeVar

from node.countries import ISO_COUNTRIES
from node.errors import Conflict, InvalidInput
from node.status import StatusCode, check_transition

__all__ = [
    "Address",
    "AeoRecord",
    "Certificate",
    "IdScheme",
    "Role",
    "Status",
    "TraderIdentifier",
    "check_update",
]

# WCO Data Model: the AEOMutualRecognitionParty id is up to 17 characters.
AEO_ID = re.compile(r"^[A-Z]{2}[A-Z0-9]{1,15}$")
EORI = re.compile(r"^[A-Z]{2}[A-Z0-9]{1,15}$")
MAX_TEXT = 512
_T = TypeVar("_T")


class Certificate(StrEnum):
    AEOC = "AEOC"  # customs simplifications
    AEOS = "AEOS"  # security and safety
    AEOF = "AEOF"  # both (legacy EU)


class IdScheme(StrEnum):
    """How a trader is identified: EORI (EU and others), national tax id per the WCO TIN
    guidelines, US C-TPAT account, or another scheme the agreement names."""

    EORI = "EORI"
    TIN = "TIN"
    CTPAT = "CTPAT"
    OTHER = "OTHER"


class Role(StrEnum):
    """Supply-chain roles (WCO SAFE Framework AEO roles)."""

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


def _text(value: object, field: str, *, optional: bool = False, limit: int = MAX_TEXT) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise InvalidInput("must be a string", field=field)
    text = value.strip()
    if not text:
        raise InvalidInput("must not be empty", field=field)
    if len(text) > limit:
        raise InvalidInput(f"longer than {limit} characters", field=field)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise InvalidInput("must not contain control characters", field=field)
    return text


def _country(value: object, field: str) -> str:
    if not isinstance(value, str) or value not in ISO_COUNTRIES:
        raise InvalidInput(f"{value!r} is not an ISO 3166-1 alpha-2 code", field=field)
    return value


def _date(value: object, field: str) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise InvalidInput("must be a date YYYY-MM-DD", field=field)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"not a calendar date: {value}", field=field) from exc


def _enum(kind: type[Any], value: object, field: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidInput(f"{value!r} is not one of {allowed}", field=field) from None


def _fields(data: object, allowed: set[str], required: set[str], field: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidInput("must be an object", field=field or None)
    prefix = f"{field}." if field else ""
    for name in data:
        if name not in allowed:
            raise InvalidInput("unknown field", field=f"{prefix}{name}")
    for name in sorted(required):
        if name not in data or data[name] is None:
            raise InvalidInput("is required", field=f"{prefix}{name}")
    return data


def _list(value: object, field: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise InvalidInput("must be a list", field=field)
    return list(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class TraderIdentifier:
    scheme: IdScheme
    value: str

    def __post_init__(self) -> None:
        _enum(IdScheme, self.scheme, "scheme")
        _text(self.value, "value", limit=64)
        if self.scheme == IdScheme.EORI and not EORI.match(self.value):
            raise InvalidInput(
                "an EORI is a country code and up to 15 letters or digits", field="value"
            )
        if self.scheme == IdScheme.EORI and self.value[:2] not in ISO_COUNTRIES:
            raise InvalidInput("an EORI starts with an ISO country code", field="value")

    @classmethod
    def from_dict(cls, data: object, field: str) -> TraderIdentifier:
        d = _fields(data, {"scheme", "value"}, {"scheme", "value"}, field)
        scheme = _enum(IdScheme, d["scheme"], f"{field}.scheme")
        return _nested(
            cls, field, scheme=scheme, value=_text(d["value"], f"{field}.value", limit=64)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    street: str
    city: str
    postcode: str | None
    country: str

    def __post_init__(self) -> None:
        _text(self.street, "street")
        _text(self.city, "city", limit=128)
        if self.postcode is not None:
            _text(self.postcode, "postcode", limit=16)
        _country(self.country, "country")

    @classmethod
    def from_dict(cls, data: object, field: str) -> Address:
        d = _fields(
            data, {"street", "city", "postcode", "country"}, {"street", "city", "country"}, field
        )
        return _nested(
            cls,
            field,
            street=_text(d["street"], f"{field}.street"),
            city=_text(d["city"], f"{field}.city", limit=128),
            postcode=_text(d["postcode"], f"{field}.postcode", limit=16)
            if d.get("postcode") is not None
            else None,
            country=_country(d["country"], f"{field}.country"),
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "street": self.street,
            "city": self.city,
            "postcode": self.postcode,
            "country": self.country,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    code: StatusCode
    reason: str | None
    effective: date

    def __post_init__(self) -> None:
        _enum(StatusCode, self.code, "code")
        if self.reason is not None:
            _text(self.reason, "reason")
        elif self.code != StatusCode.VALID:
            raise InvalidInput(f"a reason is required for status {self.code}", field="reason")

    @classmethod
    def from_dict(cls, data: object, field: str = "status") -> Status:
        d = _fields(data, {"code", "reason", "effective"}, {"code", "effective"}, field)
        reason = d.get("reason")
        return _nested(
            cls,
            field,
            code=_enum(StatusCode, d["code"], f"{field}.code"),
            reason=_text(reason, f"{field}.reason") if reason is not None else None,
            effective=_date(d["effective"], f"{field}.effective"),
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code.value,
            "reason": self.reason,
            "effective": self.effective.isoformat(),
        }


_RECORD_FIELDS = {
    "aeo_id",
    "identifiers",
    "legal_name",
    "address",
    "certificate",
    "status",
    "authorised",
    "expires",
    "roles",
    "consent",
}
_REQUIRED = _RECORD_FIELDS - {"expires", "consent"}


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
        if not isinstance(self.aeo_id, str) or not AEO_ID.match(self.aeo_id):
            raise InvalidInput(
                "an AEO id is the issuer's ISO code and 1 to 15 upper-case letters or digits",
                field="aeo_id",
            )
        _country(self.aeo_id[:2], "aeo_id")
        if not self.identifiers:
            raise InvalidInput("at least one trader identifier is required", field="identifiers")
        seen = set()
        for i, ident in enumerate(self.identifiers):
            if (ident.scheme, ident.value) in seen:
                raise InvalidInput("duplicate identifier", field=f"identifiers[{i}]")
            seen.add((ident.scheme, ident.value))
        _text(self.legal_name, "legal_name")
        _enum(Certificate, self.certificate, "certificate")
        if self.status.effective < self.authorised:
            raise InvalidInput(
                "a status cannot take effect before the authorisation", field="status.effective"
            )
        if self.expires is not None and self.expires < self.authorised:
            raise InvalidInput("expiry precedes the authorisation", field="expires")
        if not self.roles:
            raise InvalidInput("at least one supply-chain role is required", field="roles")
        if len(set(self.roles)) != len(self.roles):
            raise InvalidInput("duplicate role", field="roles")
        if len(set(self.consent)) != len(self.consent):
            raise InvalidInput("duplicate partner", field="consent")
        for i, partner in enumerate(self.consent):
            _country(partner, f"consent[{i}]")
            if partner == self.issuer:
                raise InvalidInput("the issuer needs no consent", field=f"consent[{i}]")
        # Order carries no meaning: normalise so equal content gives equal records and bytes.
        object.__setattr__(
            self, "identifiers", tuple(sorted(self.identifiers, key=lambda x: (x.scheme, x.value)))
        )
        object.__setattr__(self, "roles", tuple(sorted(self.roles)))
        object.__setattr__(self, "consent", tuple(sorted(self.consent)))

    @property
    def issuer(self) -> str:
        return self.aeo_id[:2]

    def with_status(self, status: Status) -> AeoRecord:
        return replace(self, status=status)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> AeoRecord:
        """Build a record from its JSON form. Raises InvalidInput naming the field."""
        d = _fields(data, _RECORD_FIELDS, _REQUIRED, "")
        identifiers = tuple(
            TraderIdentifier.from_dict(item, f"identifiers[{i}]")
            for i, item in enumerate(_list(d["identifiers"], "identifiers"))
        )
        roles = tuple(
            _enum(Role, r, f"roles[{i}]") for i, r in enumerate(_list(d["roles"], "roles"))
        )
        consent = tuple(
            _country(c, f"consent[{i}]")
            for i, c in enumerate(_list(d.get("consent") or [], "consent"))
        )
        expires = d.get("expires")
        return cls(
            aeo_id=_text(d["aeo_id"], "aeo_id", limit=17),
            identifiers=identifiers,
            legal_name=_text(d["legal_name"], "legal_name"),
            address=Address.from_dict(d["address"], "address"),
            certificate=_enum(Certificate, d["certificate"], "certificate"),
            status=Status.from_dict(d["status"]),
            authorised=_date(d["authorised"], "authorised"),
            expires=_date(expires, "expires") if expires is not None else None,
            roles=roles,
            consent=consent,
        )

    def to_dict(self) -> dict[str, object]:
        """The stable JSON form (what is canonicalised and signed)."""
        return {
            "aeo_id": self.aeo_id,
            "identifiers": [{"scheme": i.scheme.value, "value": i.value} for i in self.identifiers],
            "legal_name": self.legal_name,
            "address": self.address.to_dict(),
            "certificate": self.certificate.value,
            "status": self.status.to_dict(),
            "authorised": self.authorised.isoformat(),
            "expires": self.expires.isoformat() if self.expires else None,
            "roles": [r.value for r in self.roles],
            "consent": list(self.consent),
        }


def _nested(cls: type[_T], field: str, **values: Any) -> _T:
    """Construct a nested value, prefixing any error's field with the parent's path."""
    try:
        return cls(**values)
    except InvalidInput as exc:
        raise InvalidInput(
            exc.reason, field=f"{field}.{exc.field}" if exc.field else field
        ) from None


def check_update(previous: AeoRecord | None, new: AeoRecord) -> None:
    """Rules for a new version of a record, whatever the agreement. Raises Conflict.

    The status moves along the transition table; a final record never changes; the status date
    does not go backwards when the status changes; the authorisation date is fixed.
    """
    if previous is None:
        return
    if previous.aeo_id != new.aeo_id:
        raise Conflict("a new version must keep the AEO id", field="aeo_id")
    check_transition(previous.status.code, new.status.code)
    if previous.authorised != new.authorised:
        raise Conflict(
            "the authorisation date of an AEO cannot change (a new authorisation "
            "gets a new AEO id)",
            field="authorised",
        )
    if previous.status.code != new.status.code and new.status.effective < previous.status.effective:
        raise Conflict(
            "the new status takes effect before the current one", field="status.effective"
        )
