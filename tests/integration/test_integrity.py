"""What the node answers from is verified as strictly as its log: received views, derived
tables, erasure bookkeeping, the schema, the access log's tail, API key rows, cosignatures and
SQLite's own pages. Each case edits the file as an insider would (dropping the guards, making
the change, putting the guards back) and checks that verification names the damage, without
ever crashing."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import asdict
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from node.app.api import create_app
from node.core.access import ACCESS_FIELDS, ACCESS_GENESIS, Access, access_hash
from node.core.errors import IntegrityError
from node.core.sample import sample_dicts
from node.host import scrub
from node.host.apikeys import check_key, create_key
from node.host.home import NodeHome
from node.ledger import erasure
from node.ledger.verification import verify_node
from node.store.sqlite import API_KEY_MAC_FILE, DERIVED_KEYS, SqliteStore, access_path
from tests.factories import record
from tests.integration.test_erasure import Node, gossip, net
from tests.tampering import Edit, covertly

__all__ = ["net"]  # the fixture, shared with the erasure tests


def damages_of(path: Path, own: str) -> list[IntegrityError]:
    store = SqliteStore.open(path)
    try:
        return verify_node(store, own=own).damages
    finally:
        store.close()


def copy_of(node: Node, tmp_path: Path, name: str) -> Path:
    """A copy of ``node``'s database (and the MAC key beside it) to tamper with."""
    node.store.scrub()
    target = tmp_path / name
    target.mkdir()
    shutil.copy(node.store.path, target / "ledger.db")
    with (
        closing(sqlite3.connect(access_path(node.store.path))) as held,
        closing(sqlite3.connect(access_path(target / "ledger.db"))) as copy,
    ):
        held.backup(copy)  # the access log's file, WAL included
    shutil.copy(node.store.path.parent / API_KEY_MAC_FILE, target / API_KEY_MAC_FILE)
    return target / "ledger.db"


@pytest.fixture
def held(net: dict[str, Node]) -> dict[str, Node]:
    """BR publishes three traders, suspends one and erases another; UY and AR receive views,
    purge the erased one, and every node is verified clean."""
    br = net["BR"]
    traders = [record("BR", n, certificate="AEOS", consent=["AR", "UY"]) for n in (1, 2, 3)]
    br.ledger.publish(traders)
    suspended = traders[0].status.__class__.from_dict(
        {"code": "suspended", "reason": "audit", "effective": "2026-06-01"}
    )
    br.ledger.publish([traders[0].with_status(suspended)])
    gossip(net)
    erasure.erase(br.ledger, br.store, traders[2].aeo_id, "GDPR Art. 17 request")
    gossip(net)
    for node in net.values():
        assert verify_node(node.store, own=node.code).damages == [], node.code
    return net


def test_views_refuse_update_and_delete_outside_a_purge(held: dict[str, Node]) -> None:
    conn = sqlite3.connect(held["UY"].store.path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE views SET body = x'00'")
        with pytest.raises(sqlite3.IntegrityError, match="only by a purge"):
            conn.execute("DELETE FROM views")
        with pytest.raises(sqlite3.IntegrityError, match="only by an erasure or purge"):
            conn.execute("DELETE FROM payloads")
    finally:
        conn.close()


def test_a_rewritten_view_is_named(held: dict[str, Node], tmp_path: Path) -> None:
    path = copy_of(held["UY"], tmp_path, "uy")
    conn = sqlite3.connect(path)
    origin, seq, body = conn.execute(
        "SELECT origin, seq, body FROM views WHERE aeo_id = 'BR000000002'"
    ).fetchone()
    conn.close()
    view = json.loads(body)
    view["status"]["code"] = "revoked"
    forged = json.dumps(view, separators=(",", ":"), sort_keys=True).encode()
    covertly(
        path,
        lambda c: c.execute(
            "UPDATE views SET body = ? WHERE origin = ? AND seq = ?", (forged, origin, seq)
        ),
    )
    found = damages_of(path, "UY")
    assert [(d.damage, d.origin, d.seq) for d in found] == [("view-signature", origin, seq)]


def test_a_view_filed_under_another_record_is_named(held: dict[str, Node], tmp_path: Path) -> None:
    path = copy_of(held["UY"], tmp_path, "uy")
    covertly(
        path,
        lambda c: c.execute("UPDATE views SET aeo_id = 'BR000000001' WHERE aeo_id = 'BR000000002'"),
    )
    assert {d.damage for d in damages_of(path, "UY")} == {"view-mismatch"}


def _one_edit_per_column(path: Path) -> Iterator[tuple[str, str, Edit]]:
    conn = sqlite3.connect(path)
    try:
        for table in DERIVED_KEYS:
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            first = conn.execute(f"SELECT * FROM {table} LIMIT 1").fetchone()
            if first is None:
                continue  # the caller checks which tables are empty
            key = dict(zip(columns, first, strict=True))
            where = " AND ".join(f"{c} = ?" for c in columns)
            for column in columns:
                value = key[column]
                changed = value + 1 if isinstance(value, int) else f"{value}X"

                def edit(
                    c: sqlite3.Connection,
                    table: str = table,
                    column: str = column,
                    changed: object = changed,
                    where: str = where,
                    key: dict = key,  # type: ignore[type-arg]
                ) -> None:
                    c.execute(
                        f"UPDATE {table} SET {column} = ? WHERE {where}", (changed, *key.values())
                    )

                yield table, column, edit

            def delete(
                c: sqlite3.Connection,
                table: str = table,
                where: str = where,
                key: dict = key,  # type: ignore[type-arg]
            ) -> None:
                c.execute(f"DELETE FROM {table} WHERE {where}", tuple(key.values()))

            yield table, "(row deleted)", delete
    finally:
        conn.close()


@pytest.mark.parametrize("code", ["BR", "UY"])
def test_every_edit_of_a_derived_table_is_named(
    held: dict[str, Node], tmp_path: Path, code: str
) -> None:
    pristine = copy_of(held[code], tmp_path, "pristine")
    conn = sqlite3.connect(pristine)
    empty = [t for t in DERIVED_KEYS if not conn.execute(f"SELECT 1 FROM {t}").fetchone()]
    conn.close()
    # BR holds rows of every derived table but the identifiers of views (it holds none); UY
    # (no records of its own) of agreements, erasures and purges (the contract withholds the
    # identifiers from the views it holds).
    expected_empty = {
        "BR": {"view_ids"},
        "UY": {"aeo_current", "aeo_versions", "trader_ids", "view_ids"},
    }
    assert set(empty) == expected_empty[code]
    for t in empty:  # a row where none belongs is damage too
        path = copy_of(held[code], tmp_path, f"insert-{t}")
        covertly(path, lambda c, t=t: _insert_a_row(c, t))  # type: ignore[misc]
        assert any(d.damage == "derived-mismatch" and t in d.detail for d in damages_of(path, code))
    for number, (table, column, edit) in enumerate(_one_edit_per_column(pristine)):
        path = copy_of(held[code], tmp_path, f"edit-{number}")
        covertly(path, edit)
        found = damages_of(path, code)
        assert found, f"{table}.{column}: not named"
        assert {d.damage for d in found} <= {"derived-mismatch", "stray-origin"}, found
        assert any(table in d.detail for d in found), (table, column, found)


def _insert_a_row(conn: sqlite3.Connection, table: str) -> None:
    columns = [row for row in conn.execute(f"PRAGMA table_info({table})")]
    values = [1 if "INT" in c[2] else "BR000000009" for c in columns]
    marks = ",".join("?" * len(values))
    conn.execute(f"INSERT INTO {table} VALUES ({marks})", values)


def test_current_state_pointed_at_an_older_version_is_named(
    held: dict[str, Node], tmp_path: Path
) -> None:
    path = copy_of(held["BR"], tmp_path, "br")
    covertly(
        path,
        lambda c: c.execute(
            "UPDATE aeo_current SET seq = (SELECT min(seq) FROM aeo_versions"
            " WHERE aeo_id = 'BR000000001'), status = 'valid' WHERE aeo_id = 'BR000000001'"
        ),
    )
    found = damages_of(path, "BR")
    assert [d.damage for d in found] == ["derived-mismatch"]
    assert "aeo_current BR000000001" in found[0].detail


def test_a_derived_table_made_without_its_key_holding_a_row_twice_is_named(
    held: dict[str, Node], tmp_path: Path
) -> None:
    """The counts agree (a row twice, in place of another), but the key no longer keeps a
    row from being held twice: the rows themselves are compared, and the one missing named."""
    path = copy_of(held["BR"], tmp_path, "br")

    def remade(c: sqlite3.Connection) -> None:
        rows = c.execute("SELECT * FROM aeo_versions ORDER BY aeo_id, seq").fetchall()
        c.execute("DROP TABLE aeo_versions")
        c.execute("CREATE TABLE aeo_versions (aeo_id TEXT, seq INTEGER, ts INTEGER)")
        c.executemany("INSERT INTO aeo_versions VALUES (?, ?, ?)", [rows[0], *rows[:-1]])

    covertly(path, remade)
    found = damages_of(path, "BR")
    named = [d.detail for d in found if d.damage == "derived-mismatch"]
    assert any(d.startswith("aeo_versions") and "is missing" in d for d in named), found


def test_erasure_bookkeeping_comes_from_the_signed_erasures(
    held: dict[str, Node], tmp_path: Path
) -> None:
    """A payload deleted and an ``erasures`` row edited to excuse it: still named."""
    path = copy_of(held["BR"], tmp_path, "br")
    conn = sqlite3.connect(path)
    (seq,) = conn.execute(
        "SELECT seq FROM aeo_versions WHERE aeo_id = 'BR000000001' ORDER BY seq"
    ).fetchone()
    conn.close()

    def excuse(c: sqlite3.Connection) -> None:
        c.execute("DELETE FROM payloads WHERE origin = 'BR' AND seq = ?", (seq,))
        entries = json.loads(c.execute("SELECT entries FROM erasures").fetchone()[0])
        c.execute("UPDATE erasures SET entries = ?", (json.dumps(sorted([*entries, seq])),))

    covertly(path, excuse)
    found = {(d.damage, d.seq) for d in damages_of(path, "BR")}
    assert ("payload-missing", seq) in found
    assert "derived-mismatch" in {damage for damage, _ in found}, damages_of(path, "BR")


def test_a_malformed_erasures_row_is_named_not_a_crash(
    held: dict[str, Node], tmp_path: Path
) -> None:
    path = copy_of(held["BR"], tmp_path, "br")
    covertly(path, lambda c: c.execute("UPDATE erasures SET entries = '[1, 2'"))
    found = damages_of(path, "BR")
    assert found and all(d.damage == "derived-mismatch" for d in found)


def test_schema_changes_are_named(held: dict[str, Node], tmp_path: Path) -> None:
    cases = {
        "DROP TRIGGER entries_no_update": "trigger entries_no_update missing",
        "DROP INDEX views_by_aeo": "index views_by_aeo missing",
        "CREATE TRIGGER sneaky AFTER INSERT ON entries BEGIN SELECT 1; END": (
            "trigger sneaky was added"
        ),
    }
    for number, (statement, named) in enumerate(cases.items()):
        path = copy_of(held["UY"], tmp_path, f"schema-{number}")
        conn = sqlite3.connect(path)
        conn.execute(statement)
        conn.commit()
        conn.close()
        found = damages_of(path, "UY")
        assert [(d.damage, d.detail) for d in found] == [("schema-altered", named)]


def test_rows_of_an_unknown_origin_and_forged_cosignatures_are_named(
    held: dict[str, Node], tmp_path: Path
) -> None:
    br, uy = held["BR"], held["UY"]
    note = br.store.latest_checkpoint("BR")
    assert note is not None
    size = br.store.size("BR")
    assert br.replicator.receive_cosignatures("BR", size, {"UY": uy.replicator.cosign("BR", note)})
    assert damages_of(copy_of(br, tmp_path, "cosigned"), "BR") == []
    path = copy_of(br, tmp_path, "br")
    conn = sqlite3.connect(path)
    origin, size, witness, line = conn.execute(
        "SELECT origin, size, witness, line FROM cosignatures LIMIT 1"
    ).fetchone()
    conn.close()
    flipped = line[:-5] + ("A" if line[-5] != "A" else "B") + line[-4:]

    def edit(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO delivery_cursors VALUES ('ZZ', 0)")
        c.execute(
            "UPDATE cosignatures SET line = ? WHERE origin = ? AND size = ? AND witness = ?",
            (flipped, origin, size, witness),
        )

    covertly(path, edit)
    found = {(d.damage, d.origin) for d in damages_of(path, "BR")}
    assert found == {("stray-origin", None), ("cosignature-invalid", origin)}


def test_raw_page_flips_never_crash_verification(held: dict[str, Node], tmp_path: Path) -> None:
    """Random bytes flipped anywhere in the file: whatever SQLite itself reports as corrupt is
    named, and verification always returns."""
    pristine = copy_of(held["BR"], tmp_path, "pristine")
    size = pristine.stat().st_size
    rng = random.Random(19)
    reported = 0
    # Until three flips have made files that SQLite calls corrupt and still opens: most flips
    # land in free space or in a value, and which ones do depends on the file's layout.
    for number in range(400):
        if reported >= 3:
            break
        path = copy_of(held["BR"], tmp_path, f"flip-{number}")
        data = bytearray(path.read_bytes())
        at = rng.randrange(100, size)  # past the file header: pages
        data[at] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(data))
        conn = sqlite3.connect(path)
        try:
            corrupt = conn.execute("PRAGMA integrity_check").fetchall() != [("ok",)]
        except (sqlite3.DatabaseError, UnicodeDecodeError):  # a flipped byte in SQLite's report
            corrupt = True
        finally:
            conn.close()
        try:
            store = SqliteStore.open(path)
        except Exception:
            continue
        try:
            found = verify_node(store, own="BR").damages
        finally:
            store.close()
        if corrupt:
            reported += 1
            assert found, f"flip at byte {at}: SQLite reports corruption, verify named none"
    assert reported >= 3, f"{reported} corrupt files opened in {number + 1} flips"


def test_api_key_rows_are_sealed(tmp_path: Path) -> None:
    home = NodeHome(path=tmp_path / "br")
    home.init("BR", "Receita Federal do Brasil")
    store = home.open_store()
    viewer = create_key(store, "viewer", "border system", 0)
    revoked = create_key(store, "admin", "old admin", 0)
    assert store.revoke_api_key(revoked.split("_")[1])
    assert check_key(store, viewer) is not None
    store.close()
    assert damages_of(home.db_path, "BR") == []

    def promote(c: sqlite3.Connection) -> None:
        c.execute("UPDATE api_keys SET role = 'admin' WHERE label = 'border system'")
        c.execute("UPDATE api_keys SET revoked = 0 WHERE label = 'old admin'")
        c.execute(
            "INSERT INTO api_keys (key_id, key_hash, role, label, created_ts)"
            " VALUES ('feedfeedfeed', x'00', 'admin', 'planted', 0)"
        )

    covertly(home.db_path, promote)
    found = sorted(d.detail for d in damages_of(home.db_path, "BR"))
    assert len(found) == 3 and all("was changed" in d for d in found)
    store = home.open_store()
    try:
        assert check_key(store, viewer) is None  # an altered row lets nobody in
        assert check_key(store, revoked) is None
        assert not any(row["intact"] for row in store.api_keys())
    finally:
        store.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[NodeHome, dict[str, str]]]:
    """A node that published, was read and stopped (its access log anchored at shutdown)."""
    home = NodeHome(path=tmp_path / "br")
    home.init("BR", "Receita Federal do Brasil")
    store = home.open_store()
    keys = {role: create_key(store, role, role, 0) for role in ("viewer", "publisher")}
    store.close()
    with TestClient(create_app(home)) as client:
        published = client.post(
            "/v1/aeo",
            json={"records": list(sample_dicts("BR", 3))},
            headers={"Authorization": f"Bearer {keys['publisher']}"},
        )
        assert published.status_code == 200
        for n in (1, 2, 3, 1):
            answer = client.get(
                f"/v1/aeo/BR00000000{n}", headers={"Authorization": f"Bearer {keys['viewer']}"}
            )
            assert answer.status_code == 200
    yield home, keys


def test_the_access_log_tail_is_anchored(served: tuple[NodeHome, dict[str, str]]) -> None:
    home, _ = served
    assert damages_of(home.db_path, "BR") == []
    with closing(sqlite3.connect(access_path(home.db_path))) as access:
        rows = access.execute("SELECT count(*) FROM access_log").fetchone()[0]
    conn = sqlite3.connect(home.db_path)
    anchors = conn.execute(
        "SELECT count(*) FROM entries WHERE origin = 'BR' AND CAST(body AS TEXT)"
        ' LIKE \'%"kind":"access.anchor"%\''
    ).fetchone()[0]
    conn.close()
    assert rows >= 5 and anchors == 1
    shutil.copytree(home.path, home.path.with_name("cut"))
    shutil.copytree(home.path, home.path.with_name("rewritten"))

    # The last two rows cut: the chain alone still fits together.
    cut = home.path.with_name("cut") / "ledger.db"
    covertly(
        access_path(cut), lambda c: c.execute("DELETE FROM access_log WHERE seq >= ?", (rows - 2,))
    )
    assert [d.damage for d in damages_of(cut, "BR")] == ["access-anchor"]

    # Row 1 rewritten and every hash after it re-derived with the published formula.
    rewritten = home.path.with_name("rewritten") / "ledger.db"
    covertly(access_path(rewritten), lambda c: _rewrite_access_row(c, 1, actor="key:someone-else"))
    assert [d.damage for d in damages_of(rewritten, "BR")] == ["access-anchor"]


def _rewrite_access_row(conn: sqlite3.Connection, seq: int, **changes: str) -> None:
    columns = ", ".join(ACCESS_FIELDS)
    rows = conn.execute(f"SELECT seq, {columns} FROM access_log ORDER BY seq").fetchall()
    prev = ACCESS_GENESIS
    for number, *values in rows:
        access = Access(**dict(zip(ACCESS_FIELDS, values, strict=True)))
        if number == seq:
            access = Access(**{**dict(zip(ACCESS_FIELDS, values, strict=True)), **changes})
            sets = ", ".join(f"{k} = ?" for k in changes)
            conn.execute(f"UPDATE access_log SET {sets} WHERE seq = ?", (*changes.values(), seq))
        prev = access_hash(prev, number, access)
        conn.execute("UPDATE access_log SET hash = ? WHERE seq = ?", (prev, number))


def test_a_damaged_payload_is_never_served(served: tuple[NodeHome, dict[str, str]]) -> None:
    home, keys = served

    def flip(c: sqlite3.Connection) -> None:
        (body,) = c.execute(
            "SELECT p.body FROM payloads p JOIN aeo_current a ON a.origin = p.origin"
            " AND a.seq = p.seq WHERE a.aeo_id = 'BR000000002'"
        ).fetchone()
        damaged = body.replace(b'"valid"', b'"VALID"')
        assert damaged != body
        c.execute("UPDATE payloads SET body = ? WHERE body = ?", (damaged, body))

    covertly(home.db_path, flip)
    with TestClient(create_app(home)) as client:
        viewer = {"Authorization": f"Bearer {keys['viewer']}"}
        answer = client.get("/v1/aeo/BR000000002", headers=viewer)
        assert answer.status_code == 500
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert b"VALID" not in answer.content
        batch = client.post("/v1/aeo/query", json={"ids": ["BR000000002"]}, headers=viewer)
        assert batch.status_code == 500 and b"VALID" not in batch.content
        back_then = client.get(
            "/v1/aeo/BR000000002", params={"as_of": "2099-01-01"}, headers=viewer
        )
        assert back_then.status_code == 500 and b"VALID" not in back_then.content
        assert client.get("/v1/aeo/BR000000001", headers=viewer).status_code == 200


def _pass(store: SqliteStore, own: str, state: scrub.ScrubState) -> int:
    """Steps until ``state``'s pass completes."""
    for steps in range(1, 1000):
        if scrub.scrub_step(store, own, state, now=steps):
            return steps
    raise AssertionError("the pass never completed")


def test_a_scrub_pass_checks_everything_in_pieces_and_resumes(
    held: dict[str, Node], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scrub, "RANGE", 2)
    uy = held["UY"]
    state = scrub.ScrubState()
    whole = _pass(uy.store, "UY", state)
    assert state.last_complete == whole and state.last_found == []
    assert whole > 10  # logs of three origins, two entries at a time, then every other step

    # Stopped half-way (the state as scrub.json keeps it), then resumed: the same pieces.
    half = scrub.ScrubState()
    for _ in range(whole // 2):
        assert not scrub.scrub_step(uy.store, "UY", half, now=0)
    resumed = scrub.ScrubState(**json.loads(json.dumps(asdict(half))))
    assert _pass(uy.store, "UY", resumed) == whole - whole // 2

    # Damage is found by the next pass, and kept as known until a pass no longer finds it.
    path = copy_of(uy, tmp_path, "uy")
    covertly(path, lambda c: c.execute("UPDATE views SET received_ts = 1, body = body || ' '"))
    damaged = SqliteStore.open(path)
    try:
        state = scrub.ScrubState()
        _pass(damaged, "UY", state)
    finally:
        damaged.close()
    assert state.last_found and all("view-" in d for d in state.last_found)
    assert state.damages == state.last_found


def test_a_scrub_pass_knows_every_erasure_of_the_own_log_read_once(
    net: dict[str, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scrub reads the own log's erasures once per pass and then only the entries appended
    since: an erasure made before the pass explains its missing payload, and one made during
    the pass is known to the ranges after it (its payload put back is named)."""
    monkeypatch.setattr(scrub, "RANGE", 1)
    br = net["BR"]
    traders = [record("BR", n, consent=["AR", "UY"]) for n in (1, 2, 3, 4)]
    br.ledger.publish(traders)
    payload_of = {
        t.aeo_id: br.store.conn.execute(
            "SELECT p.origin, p.seq, p.salt, p.body FROM payloads p JOIN aeo_current c"
            " ON c.origin = p.origin AND c.seq = p.seq WHERE c.aeo_id = ?",
            (t.aeo_id,),
        ).fetchone()
        for t in traders
    }
    erasure.erase(br.ledger, br.store, traders[0].aeo_id, "GDPR Art. 17 request")
    erased: scrub.Erased = {}
    state = scrub.ScrubState()
    healthy = [scrub.scrub_step(br.store, "BR", state, now=1, erased=erased) for _ in range(200)]
    assert any(healthy) and state.last_found == []  # no payload-missing for the erased one

    later = payload_of[traders[3].aeo_id]
    state = scrub.ScrubState()
    while not (state.origin == "BR" and 0 < state.seq < later[1]):
        scrub.scrub_step(br.store, "BR", state, now=2, erased=erased)
    erasure.erase(br.ledger, br.store, traders[3].aeo_id, "GDPR Art. 17 request")
    covertly(br.store.path, lambda c: c.execute("INSERT INTO payloads VALUES (?, ?, ?, ?)", later))
    while not scrub.scrub_step(br.store, "BR", state, now=3, erased=erased):
        pass
    assert any(
        "erasure-incomplete" in found and f"BR#{later[1]}" in found for found in state.last_found
    ), state.last_found


# Columns whose edit verification does not see, each as README's Verification section states:
# operational tables (not derivable from the log) and a view's receiver-side notes.
OUTSIDE_VERIFICATION = {
    ("events", "*"),
    ("webhooks", "*"),
    ("webhook_attempts", "*"),
    ("delivery_cursors", "next_seq"),
    ("forks", "*"),
    ("views", "agreements"),
    ("views", "received_ts"),
}


def _changed(value: object) -> object:
    if isinstance(value, bytes):
        return bytes([value[0] ^ 1]) + value[1:] if value else b"\x01"
    if isinstance(value, int):
        return value + 1_000_003  # past any seq held, so no key collides
    return f"{value}X" if value is not None else "X"


@pytest.mark.parametrize("code", ["BR", "UY"])
def test_every_column_of_every_table_is_verified_or_stated_outside(
    held: dict[str, Node], tmp_path: Path, code: str
) -> None:
    """One edit of one row, column by column, of every table holding rows: each is named by
    verification, or the column is one README states verification does not cover."""
    # Tree nodes are stored from level 4 up (node.ledger.tree): 16 more entries make one.
    held[code].ledger.publish([record(code, n) for n in range(100, 116)])
    pristine = copy_of(held[code], tmp_path, "pristine")
    plan = []
    for file_of in (Path, access_path):  # the ledger's file, the access log's
        conn = sqlite3.connect(file_of(pristine))
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for table in tables:
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            first = conn.execute(f"SELECT * FROM {table} LIMIT 1").fetchone()
            if first is None:
                continue
            for index, column in enumerate(columns):
                plan.append((file_of, table, columns, first, column, _changed(first[index])))
        conn.close()
    checked = {table for _, table, *_ in plan}
    logs = {"entries", "payloads", "tree_nodes", "checkpoints", "keys", "events"}
    assert logs | ({"views", "purges"} if code == "UY" else {"aeo_current"}) <= checked
    unseen = []
    for number, (file_of, table, columns, first, column, value) in enumerate(plan):
        where = " AND ".join(f"{c} IS ?" for c in columns)
        path = copy_of(held[code], tmp_path, f"{number}")
        covertly(
            file_of(path),
            lambda c, t=table, col=column, v=value, w=where, f=first: c.execute(  # type: ignore[misc]
                f"UPDATE {t} SET {col} = ? WHERE {w}", (v, *f)
            ),
        )
        if not damages_of(path, code):
            unseen.append((table, column))
    stated = {
        (t, c)
        for t, c in unseen
        if (t, c) in OUTSIDE_VERIFICATION or (t, "*") in OUTSIDE_VERIFICATION
    }
    assert set(unseen) == stated, f"edits verification missed: {sorted(set(unseen) - stated)}"
