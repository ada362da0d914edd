"""The agreement document: who is party to an MRA, under which contract, for how long.

An agreement names its parties (ISO codes), a contract by ``name@version`` pinned by the SHA-256
of that contract's source, the contract's parameters, a validity window and the legal instrument
it implements. Its hash (over the RFC 8785 bytes, with a domain tag) is what every party approves;
an amendment is the same id with a higher ``version``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from node.core.canonical import canonical_json
from node.core.countries import ISO_COUNTRIES
from node.core.crypto import Hash32, tagged_hash
from node.core.errors import InvalidInput

__all__ = ["Agreement", "AgreementKind"]

AGREEMENT_ID = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,63}$")
CONTRACT_NAME = re.compile(r"^[a-z][a-z0-9-]{1,63}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_FIELDS = {
    "id",
    "version",
    "kind",
    "parties",
    "contract",
    "contract_version",
    "contract_sha256",
    "params",
    "valid_from",
    "valid_until",
    "title",
    "legal_ref",
    "retention_days",
}
MAX_RETENTION_DAYS = 36_500


class AgreementKind(StrEnum):
    BILATERAL = "bilateral"
    PLURILATERAL = "plurilateral"


@dataclass(frozen=True, slots=True, kw_only=True)
class Agreement:
    """One version of an agreement document. Invalid documents cannot be constructed."""

    id: str
    version: int = 1
    kind: AgreementKind
    parties: tuple[str, ...]
    contract: str
    contract_version: int
    contract_sha256: str
    params: Mapping[str, Any] = field(default_factory=dict)
    valid_from: date
    valid_until: date | None = None
    title: str
    legal_ref: str
    # How long after a record's final status its data may be kept (None: no period agreed).
    retention_days: int | None = None

    def __post_init__(self) -> None:
        if not AGREEMENT_ID.fullmatch(self.id):
            raise InvalidInput("upper-case letters, digits and '-', 3 to 64", field="id")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise InvalidInput("must be an integer >= 1", field="version")
        kind = _kind(self.kind)
        if len(set(self.parties)) != len(self.parties):
            raise InvalidInput("a party is named twice", field="parties")
        for i, party in enumerate(self.parties):
            if party not in ISO_COUNTRIES:
                raise InvalidInput(
                    f"{party!r} is not an ISO 3166-1 alpha-2 code", field=f"parties[{i}]"
                )
        if kind is AgreementKind.BILATERAL and len(self.parties) != 2:
            raise InvalidInput("a bilateral agreement has exactly two parties", field="parties")
        if kind is AgreementKind.PLURILATERAL and len(self.parties) < 3:
            raise InvalidInput(
                "a plurilateral agreement has three or more parties", field="parties"
            )
        if not CONTRACT_NAME.fullmatch(self.contract):
            raise InvalidInput("lower-case letters, digits and '-'", field="contract")
        if (
            isinstance(self.contract_version, bool)
            or not isinstance(self.contract_version, int)
            or self.contract_version < 1
        ):
            raise InvalidInput("must be an integer >= 1", field="contract_version")
        if not SHA256_HEX.fullmatch(self.contract_sha256):
            raise InvalidInput("64 lower-case hex digits", field="contract_sha256")
        if not isinstance(self.params, Mapping):
            raise InvalidInput("must be an object", field="params")
        canonical_json(dict(self.params))  # JSON-only parameters, or InvalidInput
        if self.valid_until is not None and self.valid_until <= self.valid_from:
            raise InvalidInput("the window ends before it starts", field="valid_until")
        for name in ("title", "legal_ref"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip() or len(value) > 512:
                raise InvalidInput("must be 1 to 512 characters", field=name)
        days = self.retention_days
        if days is not None and (
            isinstance(days, bool)
            or not isinstance(days, int)
            or not 0 < days <= MAX_RETENTION_DAYS
        ):
            raise InvalidInput(
                f"a number of days from 1 to {MAX_RETENTION_DAYS}", field="retention_days"
            )
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "parties", tuple(sorted(self.parties)))

    @property
    def contract_ref(self) -> str:
        return f"{self.contract}@{self.contract_version}"

    def to_dict(self) -> dict[str, Any]:
        # retention_days appears only when set, so documents without it hash as they always did.
        optional = {} if self.retention_days is None else {"retention_days": self.retention_days}
        return {
            **optional,
            "id": self.id,
            "version": self.version,
            "kind": self.kind.value,
            "parties": list(self.parties),
            "contract": self.contract,
            "contract_version": self.contract_version,
            "contract_sha256": self.contract_sha256,
            "params": dict(self.params),
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "title": self.title,
            "legal_ref": self.legal_ref,
        }

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_dict())

    @property
    def hash(self) -> Hash32:
        """What every party approves: the hash of this exact version of the document."""
        return tagged_hash("agreement/v1", self.to_bytes())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Agreement:
        """Strict inverse of ``to_dict``; raises InvalidInput naming the field."""
        if not isinstance(data, Mapping):
            raise InvalidInput("an agreement is a JSON object", field="agreement")
        for name in data:
            if name not in _FIELDS:
                raise InvalidInput("unknown field", field=name)
        for name in sorted(_FIELDS - {"params", "valid_until", "version", "retention_days"}):
            if data.get(name) is None:
                raise InvalidInput("is required", field=name)
        parties = data["parties"]
        if not isinstance(parties, list | tuple) or not all(isinstance(p, str) for p in parties):
            raise InvalidInput("must be a list of ISO codes", field="parties")
        params = data.get("params")
        params = {} if params is None else params
        if not isinstance(params, Mapping):
            raise InvalidInput("must be an object", field="params")
        until = data.get("valid_until")
        return cls(
            id=_text(data["id"], "id"),
            version=data.get("version", 1),
            kind=_kind(data["kind"]),
            parties=tuple(parties),
            contract=_text(data["contract"], "contract"),
            contract_version=data["contract_version"],
            contract_sha256=_text(data["contract_sha256"], "contract_sha256"),
            params=dict(params),
            valid_from=_date(data["valid_from"], "valid_from"),
            valid_until=_date(until, "valid_until") if until is not None else None,
            title=_text(data["title"], "title"),
            legal_ref=_text(data["legal_ref"], "legal_ref"),
            retention_days=data.get("retention_days"),
        )


def _kind(value: object) -> AgreementKind:
    try:
        return AgreementKind(str(value))
    except ValueError:
        raise InvalidInput("bilateral or plurilateral", field="kind") from None


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput("must be a string", field=name)
    return value


def _date(value: object, name: str) -> date:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise InvalidInput("must be a date YYYY-MM-DD", field=name)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"not a calendar date: {value}", field=name) from None
