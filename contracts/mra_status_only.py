"""``mra-status-only@1``: minimal disclosure, for plurilateral arrangements.

Shares only the AEO id, the certificate type, the status with its effective date, and the
authorisation and expiry dates: enough for a border officer to grant MRA benefits, with no
name, address or trader identifier leaving the issuing administration. The reason of a
suspension or revocation stays with the issuer.

Parameters, and the clauses they implement:

- ``certificates`` (list of AEOC, AEOS, AEOF): the programmes mutually recognised.
- ``consent_required`` (bool, default false): status alone is usually shared without consent;
  set true where national law asks for it anyway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from contracts.base import BASE_RULES, Rule, RuleContract, certificates_covered, consent_given
from contracts.params import bool_param, only_known, subset_param

__all__ = ["CONTRACT", "FIELDS"]

CERTIFICATES = ("AEOC", "AEOS", "AEOF")
FIELDS = ("aeo_id", "certificate", "status.code", "status.effective", "authorised", "expires")
PARAMS = ("certificates", "consent_required")


def _check(params: Mapping[str, Any]) -> None:
    only_known(params, PARAMS)
    subset_param(params, "certificates", CERTIFICATES)
    bool_param(params, "consent_required", default=False)


def _rules(params: Mapping[str, Any]) -> Sequence[Rule]:
    rules = [*BASE_RULES, certificates_covered(params["certificates"])]
    if bool_param(params, "consent_required", default=False):
        rules.append(consent_given)
    return rules


CONTRACT = RuleContract(
    name="mra-status-only",
    version=1,
    rules=_rules,
    fields=lambda params: FIELDS,
    params_check=_check,
)
