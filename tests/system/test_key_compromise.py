"""A ledger key revoked from seq N (issue 24, point 5) on real node processes over TLS: BR
publishes, then rotates its key as compromised with ``revoked_from`` N below its size (a thief
signed entries N.. with the leaked key). AR refuses an entry the old key signs past N, pushed
to it over mutual TLS, with the reason ``revoked-key``; ``mra evidence verify`` refuses the
bundle of a record at seq N, and still accepts one before N."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.core.checkpoint import Checkpoint, sign_checkpoint
from node.core.crypto import SigningKey
from node.core.entries import EntryHeader, EntryKind, Payload, entry_hash, signing_message
from node.core.logs import log_name
from node.host.home import load_signing_key
from tests.system.test_governance import ROOT, Net, publish, running, wait_for

# Two nodes, a dozen gossip rounds: about 20 s on 2 cores.
pytestmark = pytest.mark.long

RECORDS = 4


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    yield from running(Net(tmp_path / "net", ("AR", "BR")))


def as_br(net: Net, target: str) -> httpx.Client:
    """A peer client of ``target`` presenting BR's TLS identity (what BR's node presents)."""
    context = ssl.create_default_context(cadata=(net.dir / target / "tls.crt").read_text())
    context.load_cert_chain(net.dir / "BR" / "tls.crt", net.dir / "BR" / "tls.key")
    return httpx.Client(base_url=net.url(target), verify=context, timeout=10)


def held_size(net: Net, at: str, origin: str) -> int:
    return int(net.health(at)["logs"].get(origin, 0))


def seq_of(net: Net, aeo_id: str) -> int:
    with net.api("BR") as client:
        return int(client.get(f"/v1/aeo/{aeo_id}").json()["seq"])


def forged_push(net: Net, old: SigningKey, seq: int) -> dict[str, Any]:
    """What a thief holding BR's leaked key pushes to AR: an entry of BR at ``seq`` of its own,
    chained to the entry before it as AR holds it, and the checkpoint covering it, both signed
    with the old key."""
    with as_br(net, "AR") as client:
        held = held_size(net, "AR", "BR")  # AR keeps checkpoints at the sizes it was shown
        answer = client.get("/v1/peer/log/BR", params={"start": 0, "size": held})
    assert answer.status_code == 200, answer.text
    page = answer.json()
    before = base64.b64decode(page["entries"][seq - 1]["body"])
    header = EntryHeader(
        origin="BR",
        seq=seq,
        prev=entry_hash(before),
        ts=EntryHeader.from_bytes(before).ts + 1,
        kind=EntryKind.AEO_UPSERT,
        commitment=Payload(salt=b"\x00" * 32, body=b"{}").commitment,
    )
    body = header.to_bytes()
    note = sign_checkpoint(
        Checkpoint(origin=log_name("BR"), size=seq + 1, root=b"\x07" * 32), log_name("BR"), old
    )
    return {
        "origin": "BR",
        "start": seq,
        "entries": [
            {
                "body": base64.b64encode(body).decode(),
                "signature": base64.b64encode(old.sign(signing_message(body))).decode(),
            }
        ],
        "proof": [],
        "checkpoint": note.decode(),
    }


def evidence(net: Net, aeo_id: str, after: int) -> dict[str, Any] | None:
    """BR's answer for ``aeo_id`` with its evidence bundle, once the bundle's checkpoint covers
    seq ``after`` (AR cosigned one past it)."""
    with net.api("BR") as client:
        answer = client.get(f"/v1/aeo/{aeo_id}", params={"evidence": "true"})
    if answer.status_code != 200:
        return None
    found: dict[str, Any] = answer.json()
    rotations = found["evidence"]["rotations"]
    seqs = [EntryHeader.from_bytes(base64.b64decode(w["body"])).seq for w in rotations]
    return found if any(seq >= after for seq in seqs) else None


def verify(net: Net, answer: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    path = net.dir / "answer.json"
    path.write_text(json.dumps(answer))
    membership = str(net.dir / "BR" / "membership.json")
    return subprocess.run(
        [sys.executable, "-m", "node", "evidence", "verify", str(path), "--membership", membership],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_key_revoked_from_seq_n_signs_nothing_past_n_at_peers_nor_in_evidence(net: Net) -> None:
    old = load_signing_key(net.dir / "BR" / "signing.key")
    for number in range(1, RECORDS + 1):
        publish(net, "BR", number)
    size = held_size(net, "BR", "BR")
    wait_for(lambda: held_size(net, "AR", "BR") == size, 30, "AR to hold BR's log")
    ids = [f"BR{n:09d}" for n in range(1, RECORDS + 1)]
    n = seq_of(net, ids[-2])  # the last two records: the thief's, BR says
    assert 0 < n < size - 1

    # 1. BR rotates: compromised, revoked from N, below its size (the rotation is at seq R).
    with net.api("BR") as client:
        rotated = client.post("/v1/keys/rotate", json={"compromised": True, "revoked_from": n})
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["revoked_from"] == n
    r = int(rotated.json()["seq"])
    assert r >= size
    wait_for(lambda: held_size(net, "AR", "BR") > r, 30, "AR to take BR's rotation")

    # 2. An entry the old key signs at N (the thief's own, instead of BR's), offered to AR over
    # mutual TLS with its checkpoint: refused, revoked-key; no fork evidence, nothing stored.
    before = held_size(net, "AR", "BR")
    with as_br(net, "AR") as client:
        refused = client.post("/v1/peer/push", json=forged_push(net, old, n))
    assert refused.status_code == 400 and "revoked-key" in refused.text, refused.text
    assert held_size(net, "AR", "BR") == before
    assert "refused POST /v1/peer/push from BR (revoked-key)" in net.log("AR")
    with net.api("AR") as client:
        assert client.get("/v1/forks").json() == []
        metrics = client.get("/metrics").text
    assert 'peer="BR",reason="revoked-key"' in metrics
    # BR's own new key keeps working: a record published now reaches AR.
    publish(net, "BR", RECORDS + 1)
    wait_for(lambda: held_size(net, "AR", "BR") > before, 30, "AR to take BR's next entry")

    # 3. Evidence relying on the old key past N is refused; before N it still checks.
    thiefs = wait_for(lambda: evidence(net, ids[-2], r), 30, "evidence covering the rotation")
    checked = verify(net, thiefs)
    assert checked.returncode != 0 and "revoked-key" in checked.stdout + checked.stderr
    vouched = wait_for(lambda: evidence(net, ids[0], r), 30, "evidence of BR's first record")
    checked = verify(net, vouched)
    assert checked.returncode == 0 and f"VALID BR#{seq_of(net, ids[0])}" in checked.stdout
