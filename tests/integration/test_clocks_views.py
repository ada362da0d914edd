"""Both clocks at partners (issue 23, point 4): a partner answers legal-time queries from the
views it received, and only from what they show. BR issues; UY receives full views that do not
show ``authorised`` (mra-full, fields agreed without it); AR receives status-only views, which
show it. Real SQLite files, real signatures and sealed deliveries (tests.integration.test_erasure
does the gossip by hand)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import nacl.public
import pytest

from node.core.crypto import SigningKey
from node.ledger import agreements
from node.ledger.queries import Answer, Queries
from node.ledger.writer import Ledger
from node.store.sqlite import SqliteStore
from tests.factories import record
from tests.integration.test_erasure import CLOCK, Node, gossip
from tests.unit.test_contracts import MERCOSUR, agreement

VALID = {"code": "valid", "reason": None, "effective": "2025-03-01"}
ANNULLED = {"code": "annulled", "reason": "false declarations", "effective": "2026-06-01"}


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[dict[str, Node]]:
    made = {}
    for code in ("BR", "UY", "AR"):
        store = SqliteStore.open(tmp_path / f"{code}.db")
        key = SigningKey.generate()
        ledger = Ledger(store=store, origin=code, key=key, clock=CLOCK)
        made[code] = Node(code, store, ledger, key, nacl.public.PrivateKey.generate())
    for node in made.values():
        for other in made.values():
            if node.store.public_key(other.code, 0) is None:
                node.store.add_key(other.code, 0, other.key.public_key)
    bilateral = agreement()  # BR-UY, mra-full without "authorised"
    status_only = agreement(
        **{**MERCOSUR, "id": "MRA-AR-BR", "kind": "bilateral", "parties": ["AR", "BR"]}
    )
    for doc in (bilateral, status_only):
        agreements.propose(made["BR"].ledger, made["BR"].store, doc)
    gossip(made)
    agreements.approve(made["UY"].ledger, made["UY"].store, bilateral.id)
    agreements.approve(made["AR"].ledger, made["AR"].store, status_only.id)
    gossip(made)
    yield made
    for node in made.values():
        node.store.close()


def annulled_trader(br: Node) -> tuple[str, int]:
    """Authorised 2025-01-10, valid from 2025-03-01, annulled (void from the start) later.
    Returns the AEO id and the ledger time of the annulment."""
    fields = {"certificate": "AEOS", "consent": ["AR", "UY"], "authorised": "2025-01-10"}
    first = record("BR", 7, **fields, status=VALID)
    br.ledger.publish([first])
    [entry] = br.ledger.publish([record("BR", 7, **fields, status=ANNULLED)]).entries
    return first.aeo_id, entry.header.ts


def code_of(answer: Answer | None) -> str | None:
    if answer is None:
        return None
    status: str = answer.document["status"]["code"]
    return status


def test_legal_time_at_a_partner_reads_only_what_its_views_show(nodes: dict[str, Node]) -> None:
    aeo_id, annulled_at = annulled_trader(nodes["BR"])
    gossip(nodes)
    br, uy, ar = (Queries(nodes[c].store, c) for c in ("BR", "UY", "AR"))
    held_at_uy = nodes["UY"].store.views_held(aeo_id)
    assert len(held_at_uy) == 2
    assert all(b'"authorised"' not in row["body"] for row in held_at_uy)
    assert all(b'"authorised"' in row["body"] for row in nodes["AR"].store.views_held(aeo_id))

    february = date(2025, 2, 1)  # authorised, but the valid status dates from March
    # Annulled is void from the start of the authorisation: where the authorisation shows.
    assert code_of(br.one(aeo_id, in_force_on=february)) == "annulled"
    assert code_of(ar.one(aeo_id, in_force_on=february)) == "annulled"
    # UY's views hide "authorised": UY's answer does not depend on it.
    assert uy.one(aeo_id, in_force_on=february) is None
    march = uy.one(aeo_id, in_force_on=date(2025, 3, 1))
    assert code_of(march) == "annulled" and march is not None
    assert march.view is not None and "authorised" not in march.document
    assert march.to_dict()["in_force_on"] == "2025-03-01"
    # Before the annulment was recorded, each partner's ledger showed it valid.
    for partner in (uy, ar):
        then = partner.one(aeo_id, as_of=annulled_at - 1, in_force_on=date(2025, 3, 1))
        assert code_of(then) == "valid"
        assert code_of(partner.one(aeo_id, as_of=annulled_at - 1)) == "valid"
    assert nodes["UY"].store.view_of(aeo_id) is not None
    found, unknown = uy.many([aeo_id], in_force_on=february)
    assert found == {} and unknown == [aeo_id]


def test_a_partner_that_holds_no_view_answers_no_date(nodes: dict[str, Node]) -> None:
    aeo_id, _ = annulled_trader(nodes["BR"])
    gossip(nodes)
    # A record without consent reaches no partner: UY has no view to read.
    other = record("BR", 8, certificate="AEOS", consent=[], authorised="2025-01-10", status=VALID)
    [entry] = nodes["BR"].ledger.publish([other]).entries
    gossip(nodes)
    uy = Queries(nodes["UY"].store, "UY")
    assert uy.one(other.aeo_id, in_force_on=date(2025, 6, 1)) is None
    assert uy.one(other.aeo_id) is None
    assert uy.one(other.aeo_id, as_of=entry.header.ts, in_force_on=date(2025, 6, 1)) is None
    assert uy.one(aeo_id, in_force_on=date(2025, 6, 1)) is not None
