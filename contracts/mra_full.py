"""``mra-full@1``: the AEO data exchange of a typical MRA, with the shared fields agreed.

Parameters, and the MRA clauses they implement:

- ``certificates`` (list of AEOC, AEOS, AEOF): the programmes the arrangement recognises ("the
  Parties recognise the AEO status granted under ... programme").
- ``fields`` (list): the information items exchanged ("the Customs Administrations shall
  exchange: name, address, status of membership, date of validation, suspensions and
  revocations, unique AEO identifier, other details as mutually agreed"). ``aeo_id`` and
  ``status`` are always shared: recognising an AEO is impossible without them.
- ``statuses`` (list of valid, suspended, revoked, annulled): which statuses are sent; a
  partner must learn of suspension and revocation at once, so all four is the usual choice.
- ``consent_required`` (bool): the trader's consent to disclosure to that partner, as EU law
  requires before its data leaves the Union.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from contracts.base import (
    BASE_RULES,
    Rule,
    RuleContract,
    certificates_covered,
    consent_given,
    statuses_shared,
)
from contracts.params import bool_param, only_known, subset_param

__all__ = ["CONTRACT", "SHAREABLE_FIELDS"]

CERTIFICATES = ("AEOC", "AEOS", "AEOF")
STATUSES = ("valid", "suspended", "revoked", "annulled")
ALWAYS = ("aeo_id", "status")
SHAREABLE_FIELDS = (
    "aeo_id",
    "status",
    "identifiers",
    "legal_name",
    "address",
    "certificate",
    "authorised",
    "expires",
    "roles",
)
PARAMS = ("certificates", "fields", "statuses", "consent_required")


def _check(params: Mapping[str, Any]) -> None:
    only_known(params, PARAMS)
    subset_param(params, "certificates", CERTIFICATES)
    subset_param(params, "fields", SHAREABLE_FIELDS)
    subset_param(params, "statuses", STATUSES)
    bool_param(params, "consent_required", default=True)


def _rules(params: Mapping[str, Any]) -> Sequence[Rule]:
    rules = [
        *BASE_RULES,
        certificates_covered(params["certificates"]),
        statuses_shared(params["statuses"]),
    ]
    if bool_param(params, "consent_required", default=True):
        rules.append(consent_given)
    return rules


def _fields(params: Mapping[str, Any]) -> Sequence[str]:
    return sorted(set(ALWAYS) | set(params["fields"]))


CONTRACT = RuleContract(
    name="mra-full", version=1, rules=_rules, fields=_fields, params_check=_check
)
