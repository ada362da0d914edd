"""Online backups and restores of a node's database (node.host.backup), on real SQLite files:
a backup taken while a writer appends is one consistent, verifiable copy; a restore checks the
manifest, the file and the copy before it installs anything, keeps what it replaces, and says how
many signed entries of the own log it could not bring back; the start guard then refuses to sign
those seqs again."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from node.core.access import Access
from node.core.errors import Conflict, InvalidInput, OwnLogBehind
from node.core.sample import sample_records
from node.host.backup import (
    ACCESS_DATABASE,
    DATABASE,
    MANIFEST,
    Manifest,
    check_backup,
    restore,
    take_backup,
)
from node.host.guard import HomeLock, StartGuard, accept_restore
from node.host.home import NodeHome
from node.store.sqlite import SqliteStore, access_path


def _home(path: Path, origin: str = "BR", records: int = 20) -> NodeHome:
    home = NodeHome(path=path)
    home.init(origin, "test node")
    _publish(home, records)
    return home


def _publish(home: NodeHome, count: int, start: int = 1) -> None:
    store = home.open_store()
    try:
        home.open_ledger(store).publish(sample_records(home.config().origin, count, start=start))
    finally:
        store.close()


def _own_size(path: Path, origin: str = "BR") -> int:
    store = SqliteStore.open_read_only(path)
    try:
        head = store.head(origin)
        return head.size if head else 0
    finally:
        store.close()


def test_a_backup_taken_during_writes_is_one_consistent_verifiable_copy(tmp_path: Path) -> None:
    home = _home(tmp_path / "br", records=50)
    writing = threading.Event()
    stop = threading.Event()

    def writer() -> None:
        store = home.open_store()
        ledger = home.open_ledger(store)
        number = 1000
        try:
            while not stop.is_set():
                ledger.publish(sample_records("BR", 20, start=number))
                number += 20
                writing.set()
        finally:
            store.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(10)
        manifest = take_backup(home, tmp_path / "backup")
    finally:
        stop.set()
        thread.join()
    copy = tmp_path / "backup" / DATABASE
    assert Manifest.read(tmp_path / "backup" / MANIFEST) == manifest
    assert manifest.origin == "BR" and manifest.bytes == copy.stat().st_size
    assert manifest.log_size == _own_size(copy) >= 51  # the key entry and 50 records at least
    assert manifest.checkpoint is not None and manifest.checkpoint.startswith("mra-ledger/BR")
    checked, verification = check_backup(home, tmp_path / "backup")
    assert checked == manifest
    assert verification.ok, verification.damages
    # No key file travels with the database.
    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == sorted(
        [DATABASE, ACCESS_DATABASE, MANIFEST]
    )


def test_restore_installs_the_copy_keeps_the_old_database_and_reports_the_lost_tail(
    tmp_path: Path,
) -> None:
    home = _home(tmp_path / "br", records=10)
    manifest = take_backup(home, tmp_path / "backup")
    _publish(home, 5, start=100)  # signed after the backup: lost by the restore
    home.note_log_seen("UY", manifest.log_size + 5)  # and UY has seen them
    before = _own_size(home.db_path)

    restored = restore(home, tmp_path / "backup")

    assert _own_size(home.db_path) == manifest.log_size == before - 5
    assert restored.replaced_size == before
    assert restored.lost == 5
    assert restored.seen_by_peer == ("UY", before)
    assert restored.kept is not None and _own_size(restored.kept) == before
    # What was lost, read from the kept database: which records to publish again.
    assert [seq for seq, _, _ in restored.tail] == list(range(manifest.log_size, before))
    assert {kind for _, kind, _ in restored.tail} == {"aeo.upsert"}
    lost_ids = [record.aeo_id for record in sample_records("BR", 5, start=100)]
    assert [aeo for _, _, aeo in restored.tail] == lost_ids
    # Appending now would sign again seqs UY holds: refused, however the node is started.
    store = home.open_store()
    try:
        guard = StartGuard(home, store, needs_peer=False)
        assert isinstance(guard.hold(), OwnLogBehind)
        with pytest.raises(OwnLogBehind):
            home.open_ledger(store).publish(sample_records("BR", 1, start=500))
    finally:
        store.close()
    assert _own_size(home.db_path) == manifest.log_size


def test_a_throttled_copy_under_a_writer_finishes_as_one_snapshot(
    tmp_path: Path,
) -> None:
    # At 2 MiB/s the copy lasts long enough for the writer to commit many times meanwhile; the
    # copy still ends, as of one commit, and verifies.
    home = _home(tmp_path / "br", records=3000)
    pages = home.db_path.stat().st_size // 4096
    assert pages > 800  # a copy of about two seconds at 2 MiB/s
    sizes: list[int] = []
    copying = threading.Event()
    stop = threading.Event()

    def writer() -> None:
        store = home.open_store()
        ledger = home.open_ledger(store)
        number = 100_000  # new records, not versions of the first 3000
        try:
            while not stop.is_set():
                ledger.publish(sample_records("BR", 5, start=number))
                number += 5
                if copying.is_set():
                    sizes.append(_own_size(home.db_path))
        finally:
            store.close()

    taken: list[Manifest] = []

    def backup() -> None:
        copying.set()
        taken.append(take_backup(home, tmp_path / "backup", rate=2.0))

    thread = threading.Thread(target=writer)
    thread.start()
    copier = threading.Thread(target=backup)
    try:
        copier.start()
        copier.join(60)
        assert not copier.is_alive(), "the copy did not finish under the writer"
    finally:
        stop.set()
        thread.join()
    assert taken, "the copy failed"
    manifest = taken[0]
    assert len(sizes) >= 2, sizes  # the writer committed while the copy ran
    assert manifest.log_size < sizes[-1]  # the copy is as of its start, not restarted later
    copy = tmp_path / "backup" / DATABASE
    assert manifest.log_size == _own_size(copy)
    checked, verification = check_backup(home, tmp_path / "backup")
    assert checked == manifest
    assert verification.ok, verification.damages
    restored = restore(home, tmp_path / "backup")
    assert _own_size(home.db_path) == manifest.log_size
    assert restored.lost >= sizes[-1] - manifest.log_size > 0
    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == sorted(
        [DATABASE, ACCESS_DATABASE, MANIFEST]
    )


def test_a_backup_rate_that_is_not_positive_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    home = _home(tmp_path / "br")
    with pytest.raises(InvalidInput) as refused:
        take_backup(home, tmp_path / "backup", rate=0)
    assert refused.value.field == "rate"
    assert not (tmp_path / "backup").exists()


def test_a_restore_is_refused_while_the_node_runs(tmp_path: Path) -> None:
    home = _home(tmp_path / "br")
    take_backup(home, tmp_path / "backup")
    lock = HomeLock.take(home.path)
    try:
        with pytest.raises(Conflict):
            restore(home, tmp_path / "backup")
    finally:
        lock.release()


def _corrupt_manifest(backup: Path, **changes: object) -> None:
    data = json.loads((backup / MANIFEST).read_text())
    data.update(changes)
    (backup / MANIFEST).write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"origin": "UY"}, "origin"),
        ({"sha256": "00" * 32}, "sha256"),
        ({"schema_version": 999}, "schema_version"),
        ({"format": "something else"}, "format"),
        ({"format": "mra-ledger backup v1"}, "format"),  # the access log inside ledger.db
        ({"log_size": "ten"}, "log_size"),
        ({"access_sha256": "00" * 32}, "access_sha256"),
        ({"access_bytes": None}, "access_bytes"),
    ],
)
def test_a_backup_that_does_not_match_its_manifest_changes_nothing(
    tmp_path: Path, change: dict[str, object], field: str
) -> None:
    home = _home(tmp_path / "br")
    take_backup(home, tmp_path / "backup")
    _publish(home, 3, start=100)
    before = home.db_path.read_bytes()
    _corrupt_manifest(tmp_path / "backup", **change)
    with pytest.raises(InvalidInput) as refused:
        restore(home, tmp_path / "backup")
    assert refused.value.field == field
    assert home.db_path.read_bytes() == before


def test_a_damaged_copy_is_refused_with_each_damage_named(tmp_path: Path) -> None:
    home = _home(tmp_path / "br")
    take_backup(home, tmp_path / "backup")
    copy = tmp_path / "backup" / DATABASE
    db = sqlite3.connect(copy)
    db.execute("DROP TRIGGER entries_no_update")
    db.execute("UPDATE entries SET signature = zeroblob(64) WHERE origin = 'BR' AND seq = 3")
    db.commit()
    db.close()
    _corrupt_manifest(tmp_path / "backup", sha256=_sha256(copy), bytes=copy.stat().st_size)
    before = home.db_path.read_bytes()
    with pytest.raises(InvalidInput, match="schema-altered") as refused:
        restore(home, tmp_path / "backup")
    assert "BR#3: bad-signature" in str(refused.value), refused.value
    assert home.db_path.read_bytes() == before


def test_a_backup_whose_access_log_was_rewritten_is_refused(tmp_path: Path) -> None:
    """The access log's copy is a file of its own: a row changed in it (its manifest made to
    match) is named, and nothing is installed."""
    home = _home(tmp_path / "br")
    store = home.open_store()
    try:
        store.append_access([Access(ts=1, actor="cli:someone", action="export", channel="x")])
    finally:
        store.close()
    take_backup(home, tmp_path / "backup")
    copy = tmp_path / "backup" / ACCESS_DATABASE
    with closing(sqlite3.connect(copy)) as db:
        assert db.execute("SELECT count(*) FROM access_log").fetchone()[0] >= 1
        db.execute("DROP TRIGGER access_log_no_update")
        db.execute("UPDATE access_log SET actor = 'cli:nobody' WHERE seq = 0")
        db.commit()
    _corrupt_manifest(tmp_path / "backup", access_sha256=_sha256(copy))
    before = home.db_path.read_bytes(), access_path(home.db_path).read_bytes()
    with pytest.raises(InvalidInput) as refused:
        restore(home, tmp_path / "backup")
    named = str(refused.value)
    assert "access-mismatch" in named and "access.access_log_no_update missing" in named, named
    assert (home.db_path.read_bytes(), access_path(home.db_path).read_bytes()) == before


def test_a_backup_taken_before_the_access_index_had_runs_is_restored_from_a_migrated_copy(
    tmp_path: Path,
) -> None:
    """A backup whose access file is of its first schema (the index by AEO id a B-tree, as
    this software wrote it before) is checked and installed from a copy migrated in the home;
    the backup is left as it was, a scratch directory a killed restore left is removed, and
    audits of the restored node find its rows."""
    home = _home(tmp_path / "br")
    store = home.open_store()
    try:
        store.append_access(
            [
                Access(ts=1, actor="key:aa", action="query", channel="x", aeo_id=f"BR{n}")
                for n in (1, 2, 1)
            ]
        )
    finally:
        store.close()
    take_backup(home, tmp_path / "backup")
    copy = tmp_path / "backup" / ACCESS_DATABASE
    with closing(sqlite3.connect(copy)) as db:
        db.execute("DROP TABLE access_index")
        db.execute("DROP TABLE access_runs")
        db.execute("CREATE INDEX access_by_aeo ON access_log (aeo_id, seq)")
        db.execute("PRAGMA user_version=1")
        db.commit()
    _corrupt_manifest(tmp_path / "backup", access_sha256=_sha256(copy))
    taken = copy.read_bytes()
    ledger_taken = (tmp_path / "backup" / "ledger.db").read_bytes()
    (home.path / ".restoring-killed").mkdir()  # what a restore killed mid-way leaves

    restore(home, tmp_path / "backup")

    assert copy.read_bytes() == taken
    assert (tmp_path / "backup" / "ledger.db").read_bytes() == ledger_taken
    assert not list(home.path.glob(".restoring-*"))
    store = home.open_store()
    try:
        assert store.access_file.schema_version == 2
        assert [row["seq"] for row in store.access_rows(aeo_id="BR1")] == [0, 2]
    finally:
        store.close()


def test_a_backup_is_never_written_over_another(tmp_path: Path) -> None:
    home = _home(tmp_path / "br")
    take_backup(home, tmp_path / "backup")
    with pytest.raises(Conflict):
        take_backup(home, tmp_path / "backup")


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _mra(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node", *args], capture_output=True, text=True, check=False
    )


def test_the_cli_backs_up_and_restores_and_says_what_was_lost(tmp_path: Path) -> None:
    home = _home(tmp_path / "br", records=5)
    taken = _mra("backup", str(tmp_path / "backup"), "--home", str(home.path))
    assert taken.returncode == 0, taken.stderr
    said = " ".join(taken.stdout.split())
    assert "backup of BR" in said and "own log 5 entries" in said, said
    _publish(home, 2, start=100)

    done = _mra("restore", str(tmp_path / "backup"), "--home", str(home.path))
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stdout.split())
    assert "own log 5 entries" in said and "before-restore" in said, said
    complaint = " ".join(done.stderr.split())
    assert "LOST 2 entries" in complaint and "seqs 5 to 6" in complaint, complaint
    assert "lost, by kind: aeo.upsert 2" in complaint, complaint
    assert "lost versions of 2 AEO records: BR000000100, BR000000101" in complaint, complaint
    assert _own_size(home.db_path) == 5

    again = _mra("backup", str(tmp_path / "backup"), "--home", str(home.path))
    assert again.returncode == 2 and "is not an empty" in " ".join(again.stderr.split())
    missing = _mra("restore", str(tmp_path / "nothing"), "--home", str(home.path))
    assert missing.returncode == 2 and "not a backup" in " ".join(missing.stderr.split())


def test_a_restore_counts_the_replaced_database_as_seen_so_no_acceptance_forks(
    tmp_path: Path,
) -> None:
    home = _home(tmp_path / "br", records=10)
    manifest = take_backup(home, tmp_path / "backup")
    _publish(home, 4, start=100)  # signed after the backup, and no peer has seen them
    before = _own_size(home.db_path)
    assert home.log_seen() == ("", 0)

    restored = restore(home, tmp_path / "backup")

    assert restored.lost == 4 and restored.seen_by_peer == ("", 0)
    assert restored.kept is not None
    assert home.log_seen() == (f"the replaced database {restored.kept.name}", before)
    store = home.open_store()
    try:
        held = StartGuard(home, store, needs_peer=False).hold()
        assert isinstance(held, OwnLogBehind), held
        assert f"holds a checkpoint of {before} entries" in str(held)
        with pytest.raises(OwnLogBehind):  # an operator cannot accept a known loss away
            accept_restore(home, store, "duty officer", datetime.now(UTC))
        with pytest.raises(OwnLogBehind):
            home.open_ledger(store).publish(sample_records("BR", 1, start=500))
    finally:
        store.close()
    assert not (home.path / "restore-accepted.json").exists()
    assert _own_size(home.db_path) == manifest.log_size
    assert _own_size(restored.kept) == before  # nothing deleted: the lost entries are kept
