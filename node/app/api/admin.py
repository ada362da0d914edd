"""What an administrator does to the node: rotate its signing key, read the keys and fork
evidence held here (auditors too), resolve a fork, erase a record, run retention, ask the peers
what they hold of a lost tail of its log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from network.held_tail import ask_held, report
from node.app.api.auth import Opened, admin, auditor
from node.app.api.openapi import operation, ref
from node.app.api.params import AeoId
from node.app.compose import Node
from node.core.canonical import parse_json
from node.core.clock import system_clock
from node.core.errors import InvalidInput, NotFound
from node.host.apikeys import Caller
from node.ledger import erasure
from node.ledger.queries import check_id

__all__ = ["held_report", "router"]

router = APIRouter()


_ROTATE = operation(ref("Rotation"), body="RotationRequest")
_ROTATE["openapi_extra"]["requestBody"]["required"] = False  # no body: a plain rotation


@router.post("/v1/keys/rotate", **_ROTATE)
async def rotate_key(node: Opened, request: Request, caller: Caller = admin) -> dict[str, Any]:
    """Replace this node's signing key: a rotation entry signed with the old key names the
    new one, which signs everything after it. Partners learn it with the entry. With
    ``{"compromised": true}`` (and optionally ``revoked_from``, default the rotation's seq) the
    old key leaked: every node refuses what it signs from ``revoked_from`` on."""
    raw = await request.body()
    data = parse_json(raw) if raw.strip() else {}
    if not isinstance(data, dict) or set(data) - {"compromised", "revoked_from"}:
        raise InvalidInput("an object with compromised and revoked_from only", field="$")
    compromised = data.get("compromised", False)
    revoked_from = data.get("revoked_from")
    if not isinstance(compromised, bool):
        raise InvalidInput("true or false", field="compromised")
    # Absent means "from the rotation's own seq"; null, as any other non-seq, is refused (the
    # schema says a seq).
    if "revoked_from" in data and (
        type(revoked_from) is not int or revoked_from < 0 or not compromised
    ):
        raise InvalidInput("a seq, with compromised true", field="revoked_from")
    entry, key = await node.written(
        lambda: node.home.rotate_key(
            node.ledger, node.settings, compromised=compromised, revoked_from=revoked_from
        )
    )
    if node.peers is not None:
        node.peers.use_key(key)
    node.accessed(caller, "key.rotate", "POST /v1/keys/rotate")
    answer: dict[str, Any] = {
        "seq": entry.header.seq,
        "public_key": key.public_key.hex(),
        "since": entry.header.seq + 1,
    }
    if compromised:
        answer["revoked_from"] = entry.header.seq if revoked_from is None else revoked_from
    return answer


@router.get("/v1/keys", **operation(ref("Keys")))
async def keys(node: Opened, origin: str | None = None, caller: Caller = auditor) -> dict[str, Any]:
    """Every key each origin has signed with, and the seq from which it is in force."""
    wanted = [origin.upper()] if origin else node.store.origins()
    return {
        o: [{"since": since, "public_key": key.hex()} for since, key in node.store.keys(o)]
        for o in wanted
    }


@router.get("/v1/forks", **operation(ref("Forks")))
async def forks(node: Opened, caller: Caller = auditor) -> list[dict[str, Any]]:
    """Fork evidence held here: each open one freezes its origin at this node."""
    return [{**row, "evidence": parse_json(row["evidence"])} for row in node.store.forks()]


@router.post(
    "/v1/forks/{origin}/resolve", **operation(ref("Resolved"), body="Resolution", errors=(404,))
)
async def resolve_fork(
    node: Opened, origin: str, request: Request, caller: Caller = admin
) -> dict[str, Any]:
    """An operator's decision after a fork: unfreeze the origin (the evidence is kept)."""
    data = parse_json(await request.body())
    reason = data.get("resolution") if isinstance(data, dict) else None
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("say what was decided", field="resolution")
    count = await node.written(
        lambda: node.store.resolve_forks(origin.upper(), reason, system_clock())
    )
    if count == 0:
        raise NotFound(f"no open fork evidence against {origin}", field="origin")
    return {"resolved": count}


@router.post(
    "/v1/aeo/{aeo_id}/erase",
    **operation(ref("Erasure"), body="EraseRequest", errors=(404, 409)),
)
async def erase(
    node: Opened, aeo_id: AeoId, request: Request, caller: Caller = admin
) -> dict[str, Any]:
    """Erase an own record here and at every partner: body ``{"reason": "..."}``."""
    wanted = check_id(aeo_id, "aeo_id")
    data = parse_json(await request.body())
    if not isinstance(data, dict) or set(data) != {"reason"}:
        raise InvalidInput('send {"reason": "the legal reason"}', field="reason")
    reason = data["reason"]
    entry, done = await node.written(lambda: erasure.erase(node.ledger, node.store, wanted, reason))
    node.accessed(caller, "erase", "POST /v1/aeo/{aeo_id}/erase", wanted)
    return {
        "seq": entry.header.seq,
        "entries": list(done.entries),
        "partners": list(done.partners),
    }


@router.post("/v1/retention/run", **operation(ref("Appended")))
async def retention(node: Opened, caller: Caller = admin) -> dict[str, Any]:
    """Apply retention now: erase own records past their period, purge what was received
    under agreements that ended."""
    done = await node.written(
        lambda: erasure.run_retention(node.ledger, node.store, system_clock(), node.members())
    )
    return {"appended": [{"seq": e.header.seq, "kind": e.header.kind} for e in done]}


@router.get("/v1/lost-tail", **operation(ref("LostTail")))
async def lost_tail(node: Opened, caller: Caller = admin) -> dict[str, Any]:
    """After a restore: what each peer holds of this node's log beyond what the database
    holds (``network.held_tail``), asked of every peer now; a peer that does not answer is
    named with why, a header no key of this node signed is listed under ``not_signed_here``."""
    node.accessed(caller, "lost-tail", "GET /v1/lost-tail")
    return await held_report(node)


async def held_report(node: Node) -> dict[str, Any]:
    """The lost-tail report of the running node (``GET /v1/lost-tail``, the UI's page)."""
    me = node.config.origin
    head = node.store.head(me)
    size = head.size if head else 0
    keys = [key for _, key in node.store.keys(me)] + [node.home.config().public_key]
    answers: dict[str, list[dict[str, Any]]] = {}
    failed: dict[str, str] = {}
    if node.peers is not None:
        gossip = node.peers.gossip
        answers, failed = await ask_held(gossip.request, gossip.peers.members, me, size)
    return report(me, size, keys, answers, failed)
