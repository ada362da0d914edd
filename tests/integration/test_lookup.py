"""What an origin answers a partner's identifier lookup (``network.lookup.answer_lookup``), on
real SQLite files with agreements recorded, approved and replicated as in
``test_erasure``: BR issues; UY holds the bilateral ``mra-full`` agreement (AEOS and AEOF, with
consent); AR is in the ``mra-status-only`` plurilateral, with consent required; CL is in none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nacl.public
import pytest

from network.lookup import answer_lookup
from network.sharing import Sharing
from node.core.crypto import SigningKey
from node.core.identifiers import lookup_key
from node.core.records import Status
from node.ledger import agreements, erasure
from node.ledger.writer import Ledger
from node.store.sqlite import SqliteStore
from tests.factories import record
from tests.integration.test_erasure import CLOCK, Node, gossip
from tests.unit.test_contracts import MERCOSUR, agreement

EORI = "BR12345678901"


@pytest.fixture
def net(tmp_path: Path) -> Iterator[dict[str, Node]]:
    nodes = {}
    for code in ("BR", "UY", "AR"):
        store = SqliteStore.open(tmp_path / f"{code}.db")
        key = SigningKey.generate()
        ledger = Ledger(store=store, origin=code, key=key, clock=CLOCK)
        nodes[code] = Node(code, store, ledger, key, nacl.public.PrivateKey.generate())
    for node in nodes.values():
        for other in nodes.values():
            if node.store.public_key(other.code, 0) is None:
                node.store.add_key(other.code, 0, other.key.public_key)
    mercosur = agreement(
        **{
            **MERCOSUR,
            "parties": ["AR", "BR", "UY"],
            "params": {**MERCOSUR["params"], "consent_required": True},
        }
    )
    docs = (agreement(), mercosur)
    for doc in docs:
        agreements.propose(nodes["BR"].ledger, nodes["BR"].store, doc)
    gossip(nodes)
    for code in ("UY", "AR"):
        for doc in docs:
            if code in doc.parties:
                agreements.approve(nodes[code].ledger, nodes[code].store, doc.id)
    gossip(nodes)
    yield nodes
    for node in nodes.values():
        node.store.close()


def _ask(br: Node, partner: str, scheme: str, value: str) -> dict[str, Any]:
    sharing = Sharing(br.store, "BR", br.key, CLOCK.now)
    return answer_lookup(br.store, sharing, "BR", partner, *lookup_key(scheme, value))


def _publish(br: Node, number: int, **changes: object) -> str:
    published = record(number=number, **changes)
    br.ledger.publish([published])
    return published.aeo_id


def _eori(value: str) -> list[dict[str, str]]:
    return [{"scheme": "EORI", "value": value}]


def test_a_status_only_partner_finds_the_trader_and_sees_its_status_only(
    net: dict[str, Node],
) -> None:
    br = net["BR"]
    aeo_id = _publish(br, 1, certificate="AEOS", consent=["AR", "UY"], identifiers=_eori(EORI))
    answer = _ask(br, "AR", "eori", EORI.lower())  # an EORI matches in any case
    assert answer["not_found"] is None
    [found] = answer["found"]
    assert found["aeo_id"] == aeo_id and found["agreements"] == ["MERCOSUR-AEO"]
    assert set(found["view"]) <= {"aeo_id", "certificate", "status", "authorised", "expires"}
    assert found["view"]["status"]["code"] == "valid"
    assert EORI not in str(found)  # the identifier is not in a status-only view
    # UY is also party to the bilateral mra-full agreement: its view has the name too.
    [full] = _ask(br, "UY", "EORI", EORI)["found"]
    assert full["view"]["legal_name"] and set(full["agreements"]) == {"MERCOSUR-AEO", "MRA-BR-UY"}


def test_not_found_is_the_same_answer_whether_or_not_a_hidden_aeo_holds_it(
    net: dict[str, Node],
) -> None:
    br = net["BR"]
    # The trader consented to UY only: AR may not see it.
    _publish(br, 2, certificate="AEOS", consent=["UY"], identifiers=_eori(EORI))
    hidden = _ask(br, "AR", "EORI", EORI)
    nobody = _ask(br, "AR", "EORI", "BR99999999999")
    assert (
        hidden
        == nobody
        == {
            "origin": "BR",
            "scheme": "EORI",
            "found": [],
            "not_found": "none-you-may-see",
        }
    )
    assert _ask(br, "UY", "EORI", EORI)["found"]  # UY may see it


def test_a_partner_with_no_agreement_learns_nothing(net: dict[str, Node]) -> None:
    br = net["BR"]
    _publish(br, 3, certificate="AEOS", consent=["AR", "UY", "CL"], identifiers=_eori(EORI))
    held = _ask(br, "CL", "EORI", EORI)
    assert held == _ask(br, "CL", "EORI", "BR99999999999")
    assert _ask(br, "CL", "TIN", "x") == {**held, "scheme": "TIN"}
    assert held["found"] == [] and held["not_found"] == "nothing-shared"


def test_a_tin_matches_in_its_own_case_only(net: dict[str, Node]) -> None:
    br = net["BR"]
    tin = [{"scheme": "TIN", "value": "ab-12cd"}]
    aeo_id = _publish(br, 4, certificate="AEOS", consent=["AR", "UY"], identifiers=tin)
    assert [f["aeo_id"] for f in _ask(br, "AR", "TIN", "ab-12cd")["found"]] == [aeo_id]
    assert _ask(br, "AR", "TIN", "AB-12CD")["not_found"] == "none-you-may-see"


def test_every_aeo_holding_it_is_named_with_its_current_status(net: dict[str, Node]) -> None:
    br = net["BR"]
    old = record(number=5, certificate="AEOS", consent=["AR"], identifiers=_eori(EORI))
    br.ledger.publish([old])
    revoked = Status.from_dict({"code": "revoked", "reason": "replaced", "effective": "2026-05-02"})
    br.ledger.publish([old.with_status(revoked)])
    new = _publish(br, 6, certificate="AEOC", consent=["AR"], identifiers=_eori(EORI))
    found = _ask(br, "AR", "EORI", EORI)["found"]
    assert [(f["aeo_id"], f["view"]["status"]["code"]) for f in found] == [
        (old.aeo_id, "revoked"),
        (new, "valid"),
    ]
    assert "reason" not in found[0]["view"]["status"]


def test_an_erased_record_is_not_found(net: dict[str, Node]) -> None:
    br = net["BR"]
    aeo_id = _publish(br, 7, certificate="AEOS", consent=["AR"], identifiers=_eori(EORI))
    assert _ask(br, "AR", "EORI", EORI)["found"]
    erasure.erase(br.ledger, br.store, aeo_id, "consent withdrawn")
    assert _ask(br, "AR", "EORI", EORI)["not_found"] == "none-you-may-see"
