"""A leaked key (issue 24, point 5) on real SQLite files and homes. Ledger key: the member
rotates with ``revoked_from``; a replica refuses what the old key signs from there on,
verification names entries already held past it (``revoked-key``), evidence relying on the key
is refused, and the key signs no member update. TLS key: peers drop the old certificate at once."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import nacl.public
import pytest
from fastapi.testclient import TestClient

from network.bootstrap import MemberSpec, init_network
from network.evidence import build_bundle, verify_bundle
from network.governance import MemberUpdate, SignedUpdate, check_update, sign_update
from network.member_updates import (
    MemberUpdates,
    in_force,
    keys_in,
    load_updates,
    renew,
    revoked_in,
)
from network.membership import SignedMembership, sign_membership
from network.onboarding import install, own_rotations
from network.peers import Peers
from network.replicator import Replicator
from network.tls import trusted_pems
from node.app.api import create_app
from node.core.canonical import canonical_json
from node.core.checkpoint import Checkpoint, sign_checkpoint
from node.core.crypto import SigningKey
from node.core.entries import EntryHeader, EntryKind, Payload, signing_message
from node.core.errors import IntegrityError, InvalidInput, PeerMisbehaved
from node.core.logs import log_name
from node.core.sample import sample_dicts, sample_records
from node.host.apikeys import create_key
from node.host.home import NodeHome, load_signing_key
from node.ledger.fsck import verify_log
from node.ledger.replica import accept
from node.ledger.verification import verify_store
from node.store.protocols import StoredEntry
from node.store.sqlite import SqliteStore
from tests.factories import open_ledger, record
from tests.integration.test_cli import mra
from tests.integration.test_evidence import cosign, members


def public(entry: StoredEntry) -> StoredEntry:
    """As gossip sends it: payloads in clear for key rotations only."""
    if EntryHeader.from_bytes(entry.body).kind is EntryKind.KEY_ROTATE:
        return entry
    return StoredEntry(
        origin=entry.origin,
        seq=entry.seq,
        body=entry.body,
        signature=entry.signature,
        salt=None,
        payload=None,
    )


def replica_of(path: Path, key: SigningKey) -> SqliteStore:
    store = SqliteStore.open(path)
    store.add_key("BR", 0, key.public_key)
    return store


def forged_next(store: SqliteStore, key: SigningKey) -> StoredEntry:
    """What a thief holding ``key`` signs as BR's next entry, chained to the log held."""
    head = store.head("BR")
    assert head is not None
    header = EntryHeader(
        origin="BR",
        seq=head.size,
        prev=head.last_hash,
        ts=head.last_ts + 1,
        kind=EntryKind.AEO_UPSERT,
        commitment=Payload(salt=b"\x00" * 32, body=b"{}").commitment,
    )
    body = header.to_bytes()
    return StoredEntry(
        origin="BR",
        seq=head.size,
        body=body,
        signature=key.sign(signing_message(body)),
        salt=None,
        payload=None,
    )


def test_after_a_compromise_rotation_a_replica_refuses_the_old_key(tmp_path: Path) -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    source, ledger = open_ledger(tmp_path / "br.db", "BR", old)
    ledger.publish(sample_records("BR", 3))
    rotation = ledger.rotate_key(new, compromised=True)  # revoked from its own seq, 3
    ledger.publish(sample_records("BR", 1, start=10))
    replica = replica_of(tmp_path / "uy.db", old)
    assert accept(replica, "BR", [public(e) for e in source.entries("BR")]) == 5
    assert rotation.header.seq == 3
    [report] = verify_store(replica)  # the rotation itself is the old key's last act
    assert report.size == 5

    stolen = forged_next(replica, old)
    with pytest.raises(PeerMisbehaved, match="revoked-key") as caught:
        accept(replica, "BR", [stolen])
    assert "BR#5" in str(caught.value)
    assert replica.head("BR").size == 5  # type: ignore[union-attr]
    # The member's own log verifies, and so does the replica's.
    assert verify_store(source, own="BR")[0].size == 5


def test_entries_held_past_revoked_from_are_named_and_a_new_replica_refuses_them(
    tmp_path: Path,
) -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    source, ledger = open_ledger(tmp_path / "br.db", "BR", old)
    ledger.publish(sample_records("BR", 4))  # seqs 0..3; the member disowns 2 and 3
    held = replica_of(tmp_path / "uy.db", old)
    assert accept(held, "BR", [public(e) for e in source.entries("BR")]) == 4
    with pytest.raises(InvalidInput) as refused:
        ledger.rotate_key(new, revoked_from=5)  # past the rotation's own seq, 4
    assert refused.value.field == "revoked_from"
    ledger.rotate_key(new, compromised=True, revoked_from=2)
    ledger.publish(sample_records("BR", 1, start=10))

    # A replica that held them already takes the rotation (signed before the revocation was
    # known) and verification names the first entry the old key signed past revoked_from.
    assert accept(held, "BR", [public(e) for e in source.entries("BR", 4)]) == 2
    with pytest.raises(IntegrityError) as caught:
        verify_store(held)
    assert (caught.value.damage, caught.value.origin, caught.value.seq) == ("revoked-key", "BR", 2)
    with pytest.raises(IntegrityError, match="revoked-key"):
        verify_log(source, "BR", own=True)  # the member's own copy says the same

    # A replica that learns the log now takes what the member vouches for, nothing past it.
    fresh = replica_of(tmp_path / "ar.db", old)
    entries = [public(e) for e in source.entries("BR")]
    with pytest.raises(PeerMisbehaved, match="BR#2: revoked-key"):
        accept(fresh, "BR", entries)
    assert fresh.head("BR") is None
    assert accept(fresh, "BR", entries[:2]) == 2
    with pytest.raises(PeerMisbehaved, match="revoked-key"):
        accept(fresh, "BR", entries[2:])
    assert fresh.head("BR").size == 2  # type: ignore[union-attr]


def test_evidence_relying_on_a_revoked_key_is_refused(tmp_path: Path) -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    witnesses = {"UY": SigningKey.generate(), "AR": SigningKey.generate()}
    network = members({"BR": old, **witnesses})
    store, ledger = open_ledger(tmp_path / "br.db", "BR", old)
    ledger.publish([record("BR", 1)])
    ledger.publish([record("BR", 2)])  # seq 1, the member will disown it
    cosign(store, witnesses, 1_763_860_000)  # a checkpoint of size 2, before the compromise
    before = build_bundle(store, "BR", 1, membership=network)
    assert verify_bundle(before, network).seq == 1  # nobody knows of the leak yet
    ledger.rotate_key(new, compromised=True, revoked_from=1)
    ledger.publish([record("BR", 3)])
    cosign(store, witnesses, 1_763_860_100)

    # A bundle at the newest checkpoint proves the compromise rotation: #0 still checks, #3
    # (the new key) too, and #1 relies on the old key past its revocation.
    assert verify_bundle(build_bundle(store, "BR", 0, membership=network), network).seq == 0
    assert verify_bundle(build_bundle(store, "BR", 3, membership=network), network).seq == 3
    with pytest.raises(IntegrityError, match="revoked-key"):
        verify_bundle(build_bundle(store, "BR", 1, membership=network), network)

    # The bundle made before the leak was known leaves the rotation out (its checkpoint is
    # older); a membership document that carries the rotation refuses it still.
    carried = SignedMembership(membership=network, rotations={"BR": own_rotations(store, "BR")})
    with pytest.raises(IntegrityError, match="revoked-key"):
        verify_bundle(before, carried)
    assert verify_bundle(build_bundle(store, "BR", 0, membership=network), carried).seq == 0
    store.close()


def test_mra_key_rotate_compromised(tmp_path: Path) -> None:
    home = tmp_path / "br"
    assert mra(home, "init", "BR", "--name", "Receita Federal do Brasil").returncode == 0
    lines = tmp_path / "records.jsonl"
    lines.write_text("".join(canonical_json(d).decode() + "\n" for d in sample_dicts("BR", 2)))
    imported = mra(home, "aeo", "import", str(lines))
    assert imported.returncode == 0, imported.stderr
    bad = mra(home, "key", "rotate", "--compromised", "--revoked-from", "9")
    assert bad.returncode != 0 and "revoked_from" in bad.stdout + bad.stderr
    done = mra(home, "key", "rotate", "--compromised", "--revoked-from", "1")
    assert done.returncode == 0, done.stderr
    assert "revoked from seq 1" in done.stdout
    verified = mra(home, "ledger", "verify")
    assert verified.returncode != 0
    assert "revoked-key" in verified.stdout + verified.stderr


# -- TLS: mra network renew --compromised ------------------------------------------------------

NOW = datetime.now(UTC)


@pytest.fixture
def net(tmp_path: Path) -> Path:
    specs = [
        MemberSpec(code="BR", name="Receita Federal", endpoint="https://127.0.0.1:7441"),
        MemberSpec(code="UY", name="Aduanas", endpoint="https://127.0.0.1:7442"),
    ]
    init_network(tmp_path / "net", "Test network", specs, now=NOW)
    return tmp_path / "net"


def test_a_compromised_certificate_is_refused_by_peers_at_once(net: Path) -> None:
    br_home, uy_home = NodeHome(path=net / "BR"), NodeHome(path=net / "UY")
    br_store, uy_store = SqliteStore.open(br_home.db_path), SqliteStore.open(uy_home.db_path)
    try:
        old_pem = (net / "BR" / "tls.crt").read_text()
        signed = renew(br_home, br_store, now=NOW, compromised=True)
        assert signed.update.to_dict()["compromised"] is True
        base = SignedMembership.from_json((net / "UY" / "membership.json").read_text()).membership
        peers = Peers("UY", base)
        updates = MemberUpdates(home=uy_home, store=uy_store, peers=peers, tls=None, base=base)
        assert peers.member_with(signed.update.previous_tls_cert_sha256) == "BR"  # until then
        assert updates.take([signed], "BR") == []
        # Held: the old certificate is trusted neither by pin nor in the handshake.
        assert peers.pins["BR"] == {signed.update.tls_cert_sha256}
        assert peers.member_with(signed.update.previous_tls_cert_sha256) is None
        trusted = trusted_pems(peers.membership, updates.held)
        assert signed.update.tls_cert in trusted and old_pem not in trusted
        # BR presents the new certificate at once, though UY has not acknowledged it.
        br_base = SignedMembership.from_json((net / "BR" / "membership.json").read_text())
        br_peers = Peers("BR", br_base.membership)
        mine = MemberUpdates(
            home=br_home, store=br_store, peers=br_peers, tls=None, base=br_base.membership
        )
        assert mine.switch_when_held(int(NOW.timestamp() * 1000))
        assert (net / "BR" / "tls.crt").read_text() == signed.update.tls_cert
    finally:
        br_store.close()
        uy_store.close()


def test_an_ordinary_renewal_keeps_its_signed_bytes_and_the_old_certificate(net: Path) -> None:
    home = NodeHome(path=net / "BR")
    store = SqliteStore.open(home.db_path)
    try:
        signed = renew(home, store, now=NOW)
        assert "compromised" not in signed.update.to_dict()
        assert signed.update.trusted_previous == signed.update.previous_tls_cert_sha256
        again = SignedUpdate.from_dict(json.loads(json.dumps(signed.to_dict())))
        assert again == signed
    finally:
        store.close()


def test_a_revoked_ledger_key_signs_no_member_update(net: Path) -> None:
    home = NodeHome(path=net / "BR")
    store = SqliteStore.open(home.db_path)
    try:
        old = load_signing_key(home.key_path)
        ledger = home.open_ledger(store)
        home.rotate_key(ledger, compromised=True)
        membership, _ = in_force(home, store)
        signed = renew(home, store, now=NOW)  # signed by the new key: accepted
        assert signed.update.revision == 1
        forged = sign_update(replace(signed.update, revision=2), old)
        with pytest.raises(IntegrityError, match="not signed by BR"):
            check_update(membership, forged, keys_in(store))
        assert old.public_key not in list(keys_in(store)("BR"))
        # With the revocations held, the refusal names the leaked key.
        with pytest.raises(IntegrityError, match=r"\(revision 2\) is made with BR's ledger key"):
            check_update(membership, forged, keys_in(store), revoked_in(store))
    finally:
        store.close()


def test_a_peer_refuses_a_membership_change_or_update_signed_with_a_revoked_key(
    net: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 24, point 5 with point 2: at UY, which holds BR's compromise rotation, a version
    or an update that BR's leaked key signed is refused like any other rule break, saying
    why, and changes nothing."""
    br_home, uy_home = NodeHome(path=net / "BR"), NodeHome(path=net / "UY")
    br_store, uy_store = SqliteStore.open(br_home.db_path), SqliteStore.open(uy_home.db_path)
    try:
        old = load_signing_key(br_home.key_path)
        ledger = br_home.open_ledger(br_store)
        ledger.publish(sample_records("BR", 3))
        br_home.rotate_key(ledger, compromised=True)  # revoked from its own seq, 3
        accept(uy_store, "BR", [public(e) for e in br_store.entries("BR")])
        installed_before = (net / "UY" / "membership.json").read_text()
        v1 = SignedMembership.from_json(installed_before).membership
        renamed = tuple(replace(m, name="Stolen") if m.code == "BR" else m for m in v1.members)
        v2 = replace(v1, version=2, members=renamed)
        uy_key = load_signing_key(uy_home.key_path)
        by_thief = SignedMembership(
            membership=v2,
            signatures={"BR": sign_membership(v2, old), "UY": sign_membership(v2, uy_key)},
        )
        with pytest.raises(IntegrityError, match="BR's ledger key revoked from seq 3") as caught:
            install(uy_home, uy_store, by_thief)
        assert caught.value.damage == "membership-rule"
        assert (net / "UY" / "membership.json").read_text() == installed_before
        # Signed with BR's new key, the same version installs.
        by_br = by_thief.signed_by("BR", load_signing_key(br_home.key_path), [])
        assert install(uy_home, uy_store, by_br).version == 2

        # A member update signed with the leaked key, offered by gossip: refused and logged.
        base = SignedMembership.from_json((net / "UY" / "membership.json").read_text())
        peers = Peers("UY", base.membership)
        updates = MemberUpdates(
            home=uy_home, store=uy_store, peers=peers, tls=None, base=base.membership
        )
        mine = peers.membership.member("BR")
        assert mine is not None
        stolen = sign_update(
            MemberUpdate(
                network=v1.network,
                code="BR",
                revision=1,
                endpoint="https://thief.example:443",
                tls_cert=mine.tls_cert,
                tls_cert_sha256=mine.tls_cert_sha256,
                previous_tls_cert_sha256=mine.tls_cert_sha256,
            ),
            old,
        )
        with caplog.at_level("WARNING", logger="mra.network"):
            [reason] = updates.take([stolen], "AR")
        assert "is made with BR's ledger key revoked from seq 3" in reason
        assert "member update from AR refused" in caplog.text
        assert peers.membership.member("BR") == mine and updates.held == {}
    finally:
        br_store.close()
        uy_store.close()


def test_a_checkpoint_signed_past_the_revocation_is_refused_and_freezes_nothing(
    tmp_path: Path,
) -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    source, ledger = open_ledger(tmp_path / "br.db", "BR", old)
    ledger.publish(sample_records("BR", 4))
    replica = replica_of(tmp_path / "uy.db", old)
    accept(replica, "BR", [public(e) for e in source.entries("BR")])
    ledger.rotate_key(new, compromised=True, revoked_from=2)
    accept(replica, "BR", [public(e) for e in source.entries("BR", 4)])
    replicator = Replicator(
        replica, "UY", SigningKey.generate(), nacl.public.PrivateKey.generate(), lambda: 0
    )
    # The thief's checkpoint of size 3 (signed at #2, past revoked_from) contradicts the log:
    # without the revocation it would be fork evidence and freeze BR here.
    stolen = Checkpoint(origin=log_name("BR"), size=3, root=b"\x07" * 32)
    note = sign_checkpoint(stolen, log_name("BR"), old)
    with pytest.raises(PeerMisbehaved, match="revoked-key"):
        replicator.check_checkpoint("BR", note, "AR")
    assert "BR" not in replica.frozen_origins()
    # The checkpoint written with the rotation (signed at #4, the rotation) is the old key's
    # last act: it verifies.
    written = source.checkpoint_at("BR", 5)
    assert written is not None and replica.checkpoint_at("BR", 5) is None
    assert isinstance(replicator.check_checkpoint("BR", written, "AR"), Checkpoint)
    source.close()


def test_post_keys_rotate_with_a_compromise(tmp_path: Path) -> None:
    home = NodeHome(path=tmp_path / "br")
    home.init("BR", "Receita Federal do Brasil")
    store = SqliteStore.open(home.db_path)
    admin = create_key(store, "admin", "test admin", 0)
    store.close()
    auth = {"Authorization": f"Bearer {admin}"}
    with TestClient(create_app(home)) as http:
        records = list(sample_dicts("BR", 3))
        assert http.post("/v1/aeo", json={"records": records}, headers=auth).status_code < 300
        for body, field in (
            ({"compromised": "yes"}, "compromised"),
            ({"revoked_from": 1}, "revoked_from"),
            ({"compromised": True, "revoked_from": 9}, "revoked_from"),
            ({"compromised": True, "why": "x"}, "$"),
        ):
            refused = http.post("/v1/keys/rotate", json=body, headers=auth)
            assert refused.status_code == 422 and refused.json()["field"] == field, body
        keys = http.get("/v1/keys", headers=auth).json()["BR"]
        assert len(keys) == 1  # nothing was rotated by the refused requests
        done = http.post(
            "/v1/keys/rotate", json={"compromised": True, "revoked_from": 2}, headers=auth
        ).json()
        assert (done["seq"], done["since"], done["revoked_from"]) == (3, 4, 2)
        plain = http.post("/v1/keys/rotate", headers=auth).json()  # no body: as before
        assert "revoked_from" not in plain and plain["seq"] == 4


def test_mra_network_renew_compromised(net: Path) -> None:
    done = mra(net / "BR", "network", "renew", "--compromised")
    assert done.returncode == 0, done.stderr
    assert "compromised: peers refuse the old certificate" in done.stdout
    held = load_updates(NodeHome(path=net / "BR"))["BR"]
    assert held.update.compromised and held.update.trusted_previous is None
