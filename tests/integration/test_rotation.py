"""Key rotation on real SQLite files: a signed entry names the next key; entries signed with
the old key stay verifiable, replicas follow the rotation, and a crash mid-rotation is settled."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.core.checkpoint import open_checkpoint
from node.core.crypto import SigningKey
from node.core.entries import EntryKind, signing_message
from node.core.errors import Conflict, IntegrityError, InvalidInput, PeerMisbehaved
from node.core.logs import log_name
from node.core.sample import sample_records
from node.host.home import NodeHome, load_signing_key, write_signing_key
from node.ledger.replica import accept
from node.ledger.verification import verify_store
from node.ledger.writer import Ledger
from node.store.protocols import StoredEntry
from node.store.sqlite import SqliteStore
from tests.factories import TickingClock, open_ledger


def rotated(tmp_path: Path) -> tuple[SqliteStore, SigningKey, SigningKey]:
    """BR's log: 3 records, a rotation at seq 3, 3 more records under the new key."""
    old, new = SigningKey.generate(), SigningKey.generate()
    store, ledger = open_ledger(tmp_path / "br.db", "BR", key=old)
    ledger.publish(sample_records("BR", 3))
    rotation = ledger.rotate_key(new)
    assert (rotation.header.seq, rotation.header.kind) == (3, EntryKind.KEY_ROTATE)
    ledger.publish(sample_records("BR", 3, start=10))
    return store, old, new


def test_entries_before_a_rotation_verify_with_the_old_key_and_after_with_the_new(
    tmp_path: Path,
) -> None:
    store, old, new = rotated(tmp_path)
    assert store.keys("BR") == [(0, old.public_key), (4, new.public_key)]
    for entry in store.entries("BR"):
        signer = old if entry.seq <= 3 else new
        assert signer.public_key.verify(signing_message(entry.body), entry.signature)
    # The checkpoint that ends with the rotation is the old key's; the next is the new one's.
    assert open_checkpoint(store.checkpoint_at("BR", 4) or b"", log_name("BR"), old.public_key)
    assert open_checkpoint(store.checkpoint_at("BR", 7) or b"", log_name("BR"), new.public_key)
    with pytest.raises(IntegrityError):
        open_checkpoint(store.checkpoint_at("BR", 7) or b"", log_name("BR"), old.public_key)
    [report] = verify_store(store, own="BR")
    assert report.size == 7


def test_the_retired_key_can_no_longer_append(tmp_path: Path) -> None:
    store, old, _ = rotated(tmp_path)
    with pytest.raises(InvalidInput, match="current signing key"):
        Ledger(store=store, origin="BR", key=old, clock=TickingClock())


def test_a_ledger_whose_key_was_rotated_elsewhere_refuses_to_sign(tmp_path: Path) -> None:
    key = SigningKey.generate()
    store, ledger = open_ledger(tmp_path / "br.db", "BR", key=key)
    other = SqliteStore.open(tmp_path / "br.db")
    Ledger(store=other, origin="BR", key=key, clock=TickingClock()).rotate_key(
        SigningKey.generate()
    )
    with pytest.raises(Conflict, match="rotated"):
        ledger.publish(sample_records("BR", 1))
    assert store.head("BR").size == 1  # type: ignore[union-attr]


def test_a_replica_follows_the_rotation(tmp_path: Path) -> None:
    source, old, new = rotated(tmp_path)
    replica = SqliteStore.open(tmp_path / "uy.db")
    replica.add_key("BR", 0, old.public_key)
    entries = [_public(e) for e in source.entries("BR")]
    assert accept(replica, "BR", entries[:2]) == 2
    assert accept(replica, "BR", entries[2:]) == 5  # across the rotation, in one batch
    assert replica.keys("BR") == [(0, old.public_key), (4, new.public_key)]
    [report] = verify_store(replica)
    assert report.size == 7


def test_a_rotation_without_its_payload_is_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    source, old, _ = rotated(tmp_path)
    replica = SqliteStore.open(tmp_path / "uy.db")
    replica.add_key("BR", 0, old.public_key)
    entries = [_public(e) for e in source.entries("BR")]
    stripped = StoredEntry(**{**_fields(entries[3]), "salt": None, "payload": None})
    with pytest.raises(PeerMisbehaved, match="rotation-without-key"):
        accept(replica, "BR", [*entries[:3], stripped, *entries[4:]])
    assert replica.head("BR") is None
    assert replica.keys("BR") == [(0, old.public_key)]


def test_a_key_change_without_a_rotation_entry_is_reported_as_damage(tmp_path: Path) -> None:
    store, ledger = open_ledger(tmp_path / "uy.db", "UY")
    ledger.publish(sample_records("UY", 4))
    store.add_key("UY", 2, SigningKey.generate().public_key)
    with pytest.raises(IntegrityError) as caught:
        verify_store(store, own="UY")
    assert (caught.value.damage, caught.value.seq) == ("unexplained-key", 1)


def test_a_home_rotates_its_key_file_and_config(tmp_path: Path) -> None:
    home = NodeHome(path=tmp_path / "br")
    home.init("BR", "Receita Federal do Brasil")
    store = home.open_store()
    ledger = home.open_ledger(store)
    ledger.publish(sample_records("BR", 2))
    entry, key = home.rotate_key(ledger)
    assert load_signing_key(home.key_path) == key
    assert home.config().public_key == key.public_key
    assert not home.next_key_path.exists()
    assert (home.key_path.stat().st_mode & 0o777) == 0o600
    ledger.publish(sample_records("BR", 1, start=5))
    store.close()
    store = home.open_store()
    home.open_ledger(store).publish(sample_records("BR", 1, start=9))
    [report] = verify_store(store, own="BR")
    assert report.size == 5 and entry.header.seq == 2


def test_a_rotation_that_crashed_before_its_entry_is_dropped(tmp_path: Path) -> None:
    home = NodeHome(path=tmp_path / "br")
    config = home.init("BR", "Receita Federal do Brasil")
    write_signing_key(home.next_key_path, SigningKey.generate())  # then the crash
    store = home.open_store()
    ledger = home.open_ledger(store)
    assert not home.next_key_path.exists()
    assert load_signing_key(home.key_path).public_key == config.public_key
    ledger.publish(sample_records("BR", 1))


def test_a_rotation_that_crashed_after_its_entry_is_completed(tmp_path: Path) -> None:
    home = NodeHome(path=tmp_path / "br")
    home.init("BR", "Receita Federal do Brasil")
    store = home.open_store()
    running = home.open_ledger(store)
    new = SigningKey.generate()
    write_signing_key(home.next_key_path, new)  # what rotate_key does first,
    running.rotate_key(new)  # then the entry is durable; then the crash
    ledger = home.open_ledger(store)
    assert load_signing_key(home.key_path) == new
    assert home.config().public_key == new.public_key
    ledger.publish(sample_records("BR", 1))
    verify_store(store, own="BR")


def _fields(entry: StoredEntry) -> dict[str, object]:
    return {
        "origin": entry.origin,
        "seq": entry.seq,
        "body": entry.body,
        "signature": entry.signature,
        "salt": entry.salt,
        "payload": entry.payload,
    }


def _public(entry: StoredEntry) -> StoredEntry:
    """The entry as a partner receives it: only a key rotation's payload is in clear."""
    if b'"kind":"key.rotate"' in entry.body:
        return entry
    return StoredEntry(**{**_fields(entry), "salt": None, "payload": None})
