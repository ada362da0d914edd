"""Contracts this node holds, by ``name@version``, each pinned by the SHA-256 of its source.

An agreement names the contract and the hash of its source; a node whose copy hashes
differently refuses to apply it and says so, so every party evaluates the same rules
(DESIGN-BRIEF invariant 5). The hashes are read once, from the modules' own files.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import ModuleType

from contracts import mra_full, mra_status_only
from contracts.agreement import Agreement
from contracts.base import Contract
from node.core.errors import ContractRefused, InvalidInput

__all__ = ["CONTRACTS", "SOURCE_HASHES", "check_agreement", "resolve"]


def _source_hash(module: ModuleType) -> str:
    return hashlib.sha256(Path(str(module.__file__)).read_bytes()).hexdigest()


_MODULES = (mra_full, mra_status_only)
CONTRACTS: dict[str, Contract] = {
    f"{m.CONTRACT.name}@{m.CONTRACT.version}": m.CONTRACT for m in _MODULES
}
SOURCE_HASHES: dict[str, str] = {
    f"{m.CONTRACT.name}@{m.CONTRACT.version}": _source_hash(m) for m in _MODULES
}


def resolve(agreement: Agreement) -> Contract:
    """The contract an agreement pins. Raises ContractRefused when unknown or a different
    version of the source (the message names both hashes)."""
    ref = agreement.contract_ref
    contract = CONTRACTS.get(ref)
    if contract is None:
        raise ContractRefused(f"this node holds no contract {ref} (it holds {sorted(CONTRACTS)})")
    held = SOURCE_HASHES[ref]
    if held != agreement.contract_sha256:
        raise ContractRefused(
            f"{ref}: the agreement pins source {agreement.contract_sha256[:16]}..., this node "
            f"holds {held[:16]}...; refusing to apply a different version"
        )
    return contract


def check_agreement(agreement: Agreement, members: frozenset[str] | None = None) -> Contract:
    """Everything a node checks before proposing or approving: known parties, the pinned
    contract, and parameters that contract accepts. Raises InvalidInput or ContractRefused."""
    if members is not None:
        for i, party in enumerate(agreement.parties):
            if party not in members:
                raise InvalidInput(f"{party} is not a member of the network", field=f"parties[{i}]")
    contract = resolve(agreement)
    contract.check_params(agreement.params)
    return contract
