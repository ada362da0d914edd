"""Agreements between administrations: list them, propose one (or an amendment), approve or
withdraw it (node.ledger.agreements; the rules are the contracts')."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from contracts.agreement import Agreement
from node.app.api.auth import Opened, admin, viewer
from node.app.api.openapi import operation, ref
from node.app.api.params import AgreementId, Version
from node.core.canonical import parse_json
from node.core.errors import InvalidInput
from node.host.apikeys import Caller
from node.ledger import agreements

__all__ = ["router"]

router = APIRouter()


@router.get("/v1/agreements", **operation(ref("Agreements")))
async def list_agreements(node: Opened, caller: Caller = viewer) -> list[dict[str, Any]]:
    """Each agreement: its phase, its ``state`` (the phase, or "ended (CL no member)" once a
    party is no member of the membership in force: ended for every party), the parties that
    are ``no_member``, and its document."""
    out = []
    members = node.members()
    for agreement_id, state in sorted(agreements.states(node.store).items()):
        if state.current is not None:
            out.append(
                {
                    "id": agreement_id,
                    "phase": state.phase.value,
                    "state": agreements.shown_state(state.phase.value, state.current, members),
                    "no_member": agreements.no_member(state.current, members),
                    "document": state.current.to_dict(),
                }
            )
    return out


@router.post(
    "/v1/agreements",
    status_code=201,
    **operation(ref("Entry"), status=201, body="AgreementDocument", errors=(409,)),
)
async def propose(node: Opened, request: Request, caller: Caller = admin) -> dict[str, Any]:
    """Propose an agreement (or an amendment: same id, higher version)."""
    data = parse_json(await request.body())
    if not isinstance(data, dict):
        raise InvalidInput("an agreement document is a JSON object", field="body")
    members = node.peers.member_codes() if node.peers else None
    document = Agreement.from_dict(data)
    entry = await node.written(
        lambda: agreements.propose(node.ledger, node.store, document, members)
    )
    node.accessed(caller, "agreement.propose", "POST /v1/agreements", agreements=document.id)
    return {"seq": entry.header.seq, "kind": entry.header.kind}


@router.post("/v1/agreements/{agreement_id}/approve", **operation(ref("Entry"), errors=(404, 409)))
async def approve(
    node: Opened,
    agreement_id: AgreementId,
    version: Version = None,
    caller: Caller = admin,
) -> Any:
    entry = await node.written(
        lambda: agreements.approve(node.ledger, node.store, agreement_id, version)
    )
    node.accessed(
        caller, "agreement.approve", "POST /v1/agreements/{id}/approve", agreements=agreement_id
    )
    return {"seq": entry.header.seq, "kind": entry.header.kind}


@router.post("/v1/agreements/{agreement_id}/withdraw", **operation(ref("Entry"), errors=(404, 409)))
async def withdraw(
    node: Opened, agreement_id: AgreementId, caller: Caller = admin
) -> dict[str, Any]:
    entry = await node.written(lambda: agreements.withdraw(node.ledger, node.store, agreement_id))
    node.accessed(
        caller,
        "agreement.withdraw",
        "POST /v1/agreements/{id}/withdraw",
        agreements=agreement_id,
    )
    return {"seq": entry.header.seq, "kind": entry.header.kind}
