"""A delivery row names what was delivered (issue 23, point 2): the entry, the SHA-256 of the
view, and the row it repeats when the same view goes to the same partner again (a push, then a
pull of the same version). Real nodes of the simulation (real homes, SQLite, the network
service's own peer endpoints); and a schema-8 file whose access rows keep their hashes."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from node.core.access import ACCESS_GENESIS, ACCESS_TAG, Access, check_access_chain
from node.core.canonical import canonical_json
from node.core.crypto import tagged_hash
from node.host.access_log import AccessLog
from node.host.guard import accept_restore
from node.ledger.trail import record_trail
from node.ledger.verification import verify_node
from node.store.sqlite import SqliteStore, access_path
from node.store.sqlite.schema import MIGRATIONS
from sim.network import INTERVAL, Simulation
from sim.runner import _template
from tests.factories import record


def test_a_push_and_a_pull_of_one_version_are_one_delivery_and_a_repeat(tmp_path: Path) -> None:
    template = _template(10)
    shutil.copytree(template.path, tmp_path, dirs_exist_ok=True)
    sim = Simulation(1, tmp_path, template.agreements, size=10)
    try:
        sim.scheduler.run_until(3600)  # past the template's approvals: the agreements in force
        br = sim.nodes["BR"]
        endpoints = br.service.endpoints
        # No gossip yet, so that only the servings below deliver: BR's operator lets it append
        # before a peer has answered (its start guard, node.host.guard).
        now = datetime.fromtimestamp(sim.clock(br.skew_ms)() / 1000, UTC)
        accept_restore(br.home, br.store, "operator of BR", now)
        published = br.ledger.publish([record("BR", 7001, consent=["UY"])])
        seq = published.entries[0].header.seq
        endpoints.deliveries("UY", seq)  # the push's page
        endpoints.deliveries("UY", seq)  # the pull of the same version, later
        endpoints.deliveries("AR", seq)  # another partner: its own delivery
        endpoints.access.flush()
        rows = br.store.access_rows(action="deliver", aeo_id="BR000007001")
        to_uy = [r for r in rows if r["actor"] == "peer:UY"]
        assert len(to_uy) == 2
        first, again = to_uy
        assert (first["entry_origin"], first["entry_seq"]) == ("BR", seq)
        assert first["repeat_of"] is None and again["repeat_of"] == first["seq"]
        assert again["view_hash"] == first["view_hash"]
        once = br.store.access_rows(
            action="deliver", aeo_id="BR000007001", actor="peer:UY", repeats=False
        )
        assert [r["seq"] for r in once] == [first["seq"]]
        assert (
            br.store.access_rows(entry_seq=seq, actor="peer:AR", repeats=False)[0]["repeat_of"]
            is None
        )
        # The hash is the SHA-256 of the view UY is sent, which UY's trail shows on receipt.
        delivered = endpoints.deliveries("UY", seq)  # a third serving, a repeat again
        sealed = [item for item in delivered["items"] if int(item["seq"]) == seq]
        assert sealed
        sim.start_rounds()  # gossip: UY pulls what the page above served
        for _ in range(100):
            sim.scheduler.run_until(sim.scheduler.now + INTERVAL)
            if record_trail(sim.nodes["UY"].store, "BR000007001"):
                break
        endpoints.access.flush()
        uy_trail = record_trail(sim.nodes["UY"].store, "BR000007001")
        assert uy_trail is not None
        assert uy_trail["versions"][0]["view_hash"] == first["view_hash"]
        br_trail = record_trail(br.store, "BR000007001")
        assert br_trail is not None
        shown = [d for d in br_trail["deliveries"] if d["actor"] == "peer:UY"]
        assert shown[0]["entry_seq"] == seq and "repeat_of" not in shown[0]
        assert all(d["repeat_of"] == first["seq"] for d in shown[1:])
        assert verify_node(br.store, own="BR").damages == []
    finally:
        sim.close()


def _old_hash(prev: bytes, seq: int, access: Access) -> bytes:
    """The row hash as schema 8 wrote it: six fields, under the same tag."""
    fields = {
        "ts": access.ts,
        "actor": access.actor,
        "action": access.action,
        "channel": access.channel,
        "aeo_id": access.aeo_id,
        "agreements": access.agreements,
    }
    return tagged_hash(ACCESS_TAG, prev, canonical_json({"seq": seq, **fields}))


def test_rows_written_before_schema_9_keep_their_hashes(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for migration in MIGRATIONS[:8]:
        for statement in migration:
            conn.execute(statement)
    conn.execute("PRAGMA user_version=8")
    old = [
        Access(ts=1_790_000_000_000, actor="key:aa", action="query", channel="x", aeo_id="BR1"),
        Access(ts=1_790_000_000_001, actor="peer:UY", action="deliver", channel="peer deliveries"),
    ]
    prev = ACCESS_GENESIS
    for seq, access in enumerate(old):
        prev = _old_hash(prev, seq, access)
        conn.execute(
            "INSERT INTO access_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, access.ts, access.actor, access.action, access.channel, access.aeo_id, "", prev),
        )
    conn.commit()
    conn.close()
    store = SqliteStore.open(path)  # migrates to schema 9
    try:
        log = AccessLog(store, lambda: 1_790_000_000_002)
        log.delivered("peer:UY", "peer deliveries", "BR1", origin="BR", seq=4, view=b"{}")
        log.delivered("peer:UY", "peer deliveries", "BR1", origin="BR", seq=4, view=b"{}")
        log.flush()
        chain = list(store.access_chain())
        assert [bytes(h) for _, _, h in chain[:2]] == [
            _old_hash(ACCESS_GENESIS, 0, old[0]),
            _old_hash(_old_hash(ACCESS_GENESIS, 0, old[0]), 1, old[1]),
        ]
        assert check_access_chain(chain)[0] == 4
        assert chain[2][1].view_hash == hashlib.sha256(b"{}").hexdigest()
        assert (chain[2][1].repeat_of, chain[3][1].repeat_of) == (None, 2)
    finally:
        store.close()
    # The new fields are covered by the hash: an altered view hash is damage at its row.
    conn = sqlite3.connect(access_path(path))  # the migration moved the log to its own file
    conn.execute("DROP TRIGGER access_log_no_update")
    conn.execute("UPDATE access_log SET view_hash = ? WHERE seq = 2", ("0" * 64,))
    conn.commit()
    conn.close()
    store = SqliteStore.open(path)
    try:
        named = {(d.damage, d.seq) for d in verify_node(store, own="BR").damages}
    finally:
        store.close()
    assert ("access-mismatch", 2) in named
