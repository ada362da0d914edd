"""Evidence bundles from a real ledger: built at a checkpoint the quorum cosigned, refused when
forged with a retired key (the test keeps the old private key, as a thief would), and an API
answer edited around a valid bundle refused by ``mra evidence verify``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from network.evidence import build_bundle, verify_answer, verify_bundle
from network.membership import Member, Membership, SignedMembership
from node.app.cli import app
from node.core.checkpoint import SignedNote, cosign_checkpoint, sign_note
from node.core.crypto import SigningKey
from node.core.errors import Conflict, IntegrityError
from node.core.logs import log_name
from node.store.sqlite import SqliteStore
from tests.factories import open_ledger, record

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "evidence-vectors"


def members(keys: dict[str, SigningKey]) -> Membership:
    return Membership(
        network="test",
        version=1,
        members=tuple(
            Member(
                code=code,
                name=f"administration {code}",
                endpoint=f"https://{code.lower()}.test:7441",
                signing_key=key.public_key.hex(),
                sealing_key="11" * 32,
                tls_cert_sha256="22" * 32,
            )
            for code, key in keys.items()
        ),
    )


def cosign(store: SqliteStore, keys: dict[str, SigningKey], second: int) -> None:
    size, note = store.checkpoints("BR")[-1]
    text = SignedNote.parse(note).text
    for code, key in keys.items():
        line = cosign_checkpoint(text, log_name(code), key, second).line()
        store.add_cosignature("BR", size, code, line)


def test_a_leaked_retired_key_cannot_forge_evidence(tmp_path: Path) -> None:
    first = SigningKey.generate()  # BR's first key: the membership names it for ever
    witnesses = {"UY": SigningKey.generate(), "AR": SigningKey.generate()}
    network = members({"BR": first, **witnesses})
    store, ledger = open_ledger(tmp_path / "br.db", "BR", first)
    ledger.publish([record("BR", 1)])
    ledger.rotate_key(SigningKey.generate())
    revoked = record(
        "BR", 1, status={"code": "revoked", "reason": "fraud", "effective": "2026-01-01"}
    )
    ledger.publish([revoked])
    with pytest.raises(Conflict, match="cosignatures of 2 members"):
        build_bundle(store, "BR", 2, membership=network)  # nobody cosigned yet
    cosign(store, witnesses, 1_763_860_000)
    real = verify_bundle(build_bundle(store, "BR", 2, membership=network), network)
    assert real.document["status"]["code"] == "revoked" and real.cosigners == ("AR", "UY")
    assert real.quorum == 2

    # The thief holds BR's retired first key: a log where the AEO is still valid, signed and
    # checkpointed with it, without the rotation, is cosigned by nobody honest.
    forged_store, forger = open_ledger(tmp_path / "forged.db", "BR", first)
    forger.publish([record("BR", 1)])
    forger.publish([record("BR", 2)])
    forger.publish([record("BR", 3)])
    forged = build_bundle(forged_store, "BR", 0)
    with pytest.raises(IntegrityError, match="quorum"):
        verify_bundle(forged, network)
    # Nor do the honest cosignatures of the real log carry over to the forged checkpoint.
    real_size = store.checkpoints("BR")[-1][0]
    forged["cosignatures"] = store.cosignatures("BR", real_size)
    with pytest.raises(IntegrityError, match="cosignature"):
        verify_bundle(forged, network)
    # A checkpoint of the real log re-signed after the rotation with the retired key: the
    # rotation, which the bundle must prove, says the key in force is the new one.
    bundle = build_bundle(store, "BR", 2, membership=network)
    text = SignedNote.parse(bundle["checkpoint"].encode()).text
    bundle["checkpoint"] = (
        text + b"\n" + sign_note(text, log_name("BR"), first).line().encode()
    ).decode()
    with pytest.raises(IntegrityError, match="checkpoint-signature"):
        verify_bundle(bundle, network)
    store.close()
    forged_store.close()


def test_an_edited_answer_is_refused_and_a_true_one_says_what_was_checked(tmp_path: Path) -> None:
    runner = CliRunner()
    membership = ("--membership", str(VECTORS / "membership.json"))
    good = runner.invoke(
        app,
        [
            "evidence",
            "verify",
            str(VECTORS / "valid" / "view-after-rotation.answer.json"),
            *membership,
        ],
    )
    assert good.exit_code == 0, good.output
    assert "input: an API answer" in good.output and "VALID BR#4: the view for AR" in good.output
    assert "not proven: agreements MERCOSUR-AEO" in good.output
    bare = runner.invoke(
        app,
        ["evidence", "verify", str(VECTORS / "valid" / "record-first.bundle.json"), *membership],
    )
    assert bare.exit_code == 0 and "input: a bare bundle" in bare.output

    answer = json.loads(
        (VECTORS / "valid" / "status-change-after-rotation.answer.json").read_text()
    )
    for change in ("status", "name", "other"):
        edited = json.loads(json.dumps(answer))
        if change == "status":
            edited["record"]["status"]["code"] = "revoked"
        elif change == "name":
            edited["record"]["legal_name"] = "Someone Else S.A."
        else:
            edited["record"]["aeo_id"] = "BR000000009"
        file = tmp_path / f"{change}.json"
        file.write_text(json.dumps(edited))
        refused = runner.invoke(app, ["evidence", "verify", str(file), *membership])
        assert refused.exit_code == 1 and "INVALID" in refused.output, refused.output
        assert "VALID BR" not in refused.output
        with pytest.raises(IntegrityError, match="answer-mismatch"):
            verify_answer(
                edited, SignedMembership.from_json((VECTORS / "membership.json").read_text())
            )


def test_the_vectors_are_what_the_script_writes(tmp_path: Path) -> None:
    """docs/evidence-vectors/ is rebuilt byte for byte by scripts/evidence-vectors from the
    node's own code (deterministic keys and salts): the committed vectors are this code's."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "evidence-vectors"
    subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path)], check=True, capture_output=True
    )
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.json"))
    committed = sorted(p.relative_to(VECTORS) for p in VECTORS.rglob("*.json"))
    assert written == committed
    for path in written:
        assert (tmp_path / path).read_bytes() == (VECTORS / path).read_bytes(), path
