"""The payloads of erase, purge and anchor entries: ``Erasure`` (``aeo.erase``), ``Purge``
(``aeo.purge``) and ``AccessAnchor`` (``access.anchor``, the access log's head pinned on the own
log). Each validates itself on construction and parses only its canonical bytes; the services
that write and answer them are ``node.ledger.erasure`` and ``node.ledger.access_anchor``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from node.core.canonical import canonical_json, parse_json
from node.core.countries import ISO_COUNTRIES
from node.core.errors import InvalidInput
from node.core.records import AEO_ID, AeoRecord

__all__ = [
    "MAX_REASON",
    "AccessAnchor",
    "Basis",
    "Erasure",
    "Purge",
    "check_reason",
    "consent_erasure",
]

MAX_REASON = 512


class Basis(StrEnum):
    REQUEST = "request"  # the trader's right to erasure, or another legal order
    RETENTION = "retention"  # the agreed retention period has passed
    CONSENT = "consent"  # the trader withdrew consent for the partners named


@dataclass(frozen=True, slots=True, kw_only=True)
class Erasure:
    """The payload of an ``aeo.erase`` entry."""

    aeo_id: str
    entries: tuple[int, ...]
    basis: Basis
    reason: str
    partners: tuple[str, ...]
    origin_copy: bool = True

    def __post_init__(self) -> None:
        _aeo_id(self.aeo_id)
        _seqs(self.entries)
        object.__setattr__(self, "basis", _basis(self.basis))
        check_reason(self.reason)
        for i, partner in enumerate(self.partners):
            if partner not in ISO_COUNTRIES or partner == self.aeo_id[:2]:
                raise InvalidInput("a partner's ISO 3166-1 code", field=f"partners[{i}]")
        object.__setattr__(self, "partners", tuple(sorted(set(self.partners))))
        if not isinstance(self.origin_copy, bool):
            raise InvalidInput("must be true or false", field="origin_copy")

    def to_dict(self) -> dict[str, Any]:
        return {
            "aeo_id": self.aeo_id,
            "entries": list(self.entries),
            "basis": self.basis.value,
            "reason": self.reason,
            "partners": list(self.partners),
            "origin_copy": self.origin_copy,
        }

    @classmethod
    def from_bytes(cls, payload: bytes) -> Erasure:
        data = _object(payload, {"aeo_id", "entries", "basis", "reason", "partners", "origin_copy"})
        return cls(
            aeo_id=data["aeo_id"],
            entries=tuple(_list(data["entries"], "entries")),
            basis=data["basis"],
            reason=data["reason"],
            partners=tuple(_list(data["partners"], "partners")),
            origin_copy=data["origin_copy"],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Purge:
    """The payload of an ``aeo.purge`` entry: this node deleted its copies of ``origin``'s
    entries ``entries`` of ``aeo_id`` (``views`` of them were held), answering the erasure at
    ``origin#erasure`` or, with ``erasure`` None, on its own account."""

    origin: str
    aeo_id: str
    entries: tuple[int, ...]
    erasure: int | None
    reason: str
    views: int

    def __post_init__(self) -> None:
        _aeo_id(self.aeo_id)
        if self.origin != self.aeo_id[:2]:
            raise InvalidInput("the record's issuer", field="origin")
        _seqs(self.entries)
        for name in ("erasure", "views"):
            value = getattr(self, name)
            if value is None and name == "erasure":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInput("must be a non-negative integer", field=name)
        check_reason(self.reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "aeo_id": self.aeo_id,
            "entries": list(self.entries),
            "erasure": self.erasure,
            "reason": self.reason,
            "views": self.views,
        }

    @classmethod
    def from_bytes(cls, payload: bytes) -> Purge:
        data = _object(payload, {"origin", "aeo_id", "entries", "erasure", "reason", "views"})
        return cls(
            origin=data["origin"],
            aeo_id=data["aeo_id"],
            entries=tuple(_list(data["entries"], "entries")),
            erasure=data["erasure"],
            reason=data["reason"],
            views=data["views"],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessAnchor:
    """The payload of an ``access.anchor`` entry: the access log held ``rows`` rows, the last
    of which hashes to ``head``."""

    rows: int
    head: bytes

    def __post_init__(self) -> None:
        if isinstance(self.rows, bool) or not isinstance(self.rows, int) or self.rows < 1:
            raise InvalidInput("must be a positive integer", field="rows")
        if not isinstance(self.head, bytes) or len(self.head) != 32:
            raise InvalidInput("must be 32 bytes", field="head")

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "head": self.head.hex()}

    @classmethod
    def from_bytes(cls, payload: bytes) -> AccessAnchor:
        data = parse_json(payload)
        if not isinstance(data, dict) or set(data) != {"rows", "head"}:
            raise InvalidInput("an anchor has exactly the members rows and head")
        head = data["head"]
        if not isinstance(head, str) or len(head) != 64 or head != head.lower():
            raise InvalidInput("64 lower-case hex digits", field="head")
        return cls(rows=data["rows"], head=bytes.fromhex(head))


# -- decisions (pure) ------------------------------------------------------------------------


def consent_erasure(previous: AeoRecord, record: AeoRecord, seqs: list[int]) -> Erasure | None:
    """The erasure of partners' copies that a new version withdrawing their consent calls for."""
    withdrawn = sorted(set(previous.consent) - set(record.consent))
    if not withdrawn or not seqs:
        return None
    return Erasure(
        aeo_id=record.aeo_id,
        entries=tuple(seqs),
        basis=Basis.CONSENT,
        reason="the trader withdrew consent to disclosure to " + ", ".join(withdrawn),
        partners=tuple(withdrawn),
        origin_copy=False,
    )


# -- parsing helpers -------------------------------------------------------------------------


def _object(payload: bytes, names: set[str]) -> dict[str, Any]:
    data = parse_json(payload)
    if not isinstance(data, dict) or set(data) != names:
        raise InvalidInput(f"an object with exactly {sorted(names)}", field="payload")
    if canonical_json(data) != payload:
        raise InvalidInput("not canonical JSON", field="payload")
    return data


def _list(value: object, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput("must be a list", field=name)
    return value


def _aeo_id(value: object) -> None:
    if not isinstance(value, str) or not AEO_ID.fullmatch(value):
        raise InvalidInput("an AEO id", field="aeo_id")


def _seqs(seqs: tuple[int, ...]) -> None:
    if not seqs:
        raise InvalidInput("names at least one entry", field="entries")
    for i, seq in enumerate(seqs):
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise InvalidInput("an entry's seq", field=f"entries[{i}]")
    if list(seqs) != sorted(set(seqs)):
        raise InvalidInput("in increasing order, without repeats", field="entries")


def _basis(value: object) -> Basis:
    try:
        return Basis(str(value))
    except ValueError:
        raise InvalidInput(f"one of {', '.join(b.value for b in Basis)}", field="basis") from None


def check_reason(value: object) -> None:
    """Raises InvalidInput unless ``value`` is a legal reason: 1 to MAX_REASON characters, not
    only spaces."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_REASON:
        raise InvalidInput(f"the legal reason, 1 to {MAX_REASON} characters", field="reason")
