"""The contract interface and the small rules contracts are composed of (pure, deterministic).

A contract answers two questions about an active agreement: which partners receive a record and
which view of it each one gets (``share``), and whether a partner may query another party's
records (``may_query``). A record goes to a partner only if every rule allows it; a contract
with no rules shares nothing (an empty conjunction refuses rather than passes). Views are built
by projecting the record onto the fields the contract grants, so no parameter can leak a field
the contract does not name. Time never comes from the wall clock: the caller passes the state
derived from entry timestamps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from contracts.agreement import Agreement
from node.core.records import AeoRecord

__all__ = ["Contract", "Rule", "RuleContract", "project"]

Rule = Callable[[Agreement, AeoRecord, str], bool]
"""(agreement, record, partner) -> may this partner receive this record?"""


class Contract(Protocol):
    name: str
    version: int

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Raise InvalidInput (field ``params.<name>``) for parameters this contract rejects."""

    def share(self, agreement: Agreement, record: AeoRecord) -> dict[str, dict[str, Any]]:
        """Partner -> the view of ``record`` it receives (partners not listed receive nothing)."""

    def may_query(self, agreement: Agreement, requester: str, issuer: str) -> bool:
        """May ``requester`` query records issued by ``issuer`` under this agreement?"""


def project(record: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """The record reduced to ``fields``; dotted names pick sub-fields (``status.code``)."""
    view: dict[str, Any] = {}
    for name in fields:
        head, _, tail = name.partition(".")
        if head not in record:
            continue
        if tail:
            view.setdefault(head, {})[tail] = record[head][tail]
        else:
            view[head] = record[head]
    return view


@dataclass(frozen=True, slots=True)
class RuleContract:
    """A contract made of rules (all must allow) and a field projection chosen from params."""

    name: str
    version: int
    rules: Callable[[Mapping[str, Any]], Sequence[Rule]]
    fields: Callable[[Mapping[str, Any]], Sequence[str]]
    params_check: Callable[[Mapping[str, Any]], None]

    def check_params(self, params: Mapping[str, Any]) -> None:
        self.params_check(params)

    def share(self, agreement: Agreement, record: AeoRecord) -> dict[str, dict[str, Any]]:
        rules = self.rules(agreement.params)
        if not rules:
            return {}
        fields = self.fields(agreement.params)
        data = record.to_dict()
        return {
            partner: project(data, fields)
            for partner in agreement.parties
            if partner != record.issuer and all(rule(agreement, record, partner) for rule in rules)
        }

    def may_query(self, agreement: Agreement, requester: str, issuer: str) -> bool:
        parties = set(agreement.parties)
        return requester != issuer and requester in parties and issuer in parties


# -- rules no agreement can override ---------------------------------------------------------


def issuer_is_party(agreement: Agreement, record: AeoRecord, partner: str) -> bool:
    return record.issuer in agreement.parties


def partner_is_party(agreement: Agreement, record: AeoRecord, partner: str) -> bool:
    return partner in agreement.parties and partner != record.issuer


BASE_RULES: tuple[Rule, ...] = (issuer_is_party, partner_is_party)


# -- rules chosen by parameters ----------------------------------------------------------------


def certificates_covered(types: Sequence[str]) -> Rule:
    allowed = frozenset(types)
    return lambda agreement, record, partner: record.certificate.value in allowed


def statuses_shared(codes: Sequence[str]) -> Rule:
    allowed = frozenset(codes)
    return lambda agreement, record, partner: record.status.code.value in allowed


def consent_given(agreement: Agreement, record: AeoRecord, partner: str) -> bool:
    """The trader consents per partner (finer than all-or-nothing consent)."""
    return partner in record.consent
