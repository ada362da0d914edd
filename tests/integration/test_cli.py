"""The ``mra`` command as an operator uses it: a real subprocess on a real node home."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from node.core.canonical import canonical_json
from node.core.sample import sample_dicts

MRA = [sys.executable, "-m", "node"]


def mra(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MRA_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [*MRA, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    node = tmp_path / "br"
    result = mra(node, "init", "BR", "--name", "Receita Federal do Brasil")
    assert result.returncode == 0, result.stderr
    return node


def jsonl(records: list[dict[str, object]]) -> str:
    return "".join(canonical_json(r).decode() + "\n" for r in records)


def test_init_keeps_the_key_private_and_refuses_to_overwrite(home: Path) -> None:
    assert (home / "signing.key").stat().st_mode & 0o777 == 0o600
    again = mra(home, "init", "BR", "--name", "x")
    assert again.returncode == 2 and "already holds a node" in again.stderr


def test_init_refuses_an_unknown_country(tmp_path: Path) -> None:
    result = mra(tmp_path / "x", "init", "XX", "--name", "Nowhere")
    assert result.returncode == 2 and "origin" in result.stderr


def test_import_publish_status_show_verify(home: Path, tmp_path: Path) -> None:
    data = tmp_path / "registry.jsonl"
    data.write_text(jsonl(list(sample_dicts("BR", 20))))
    imported = mra(home, "aeo", "import", str(data))
    assert imported.returncode == 0, imported.stderr
    assert "20 appended" in imported.stdout
    again = mra(home, "aeo", "import", str(data))
    assert "0 appended, 20 unchanged" in again.stdout
    changed = mra(
        home,
        "aeo",
        "status",
        "BR000000003",
        "suspended",
        "--reason",
        "audit",
        "--effective",
        "2026-11-01",
    )
    assert changed.returncode == 0, changed.stderr
    shown = json.loads(mra(home, "aeo", "show", "BR000000003").stdout)
    assert shown["record"]["status"]["code"] == "suspended"
    final = mra(home, "aeo", "status", "BR000000003", "revoked", "--reason", "fraud")
    assert final.returncode == 0
    refused = mra(home, "aeo", "status", "BR000000003", "valid")
    assert refused.returncode == 2 and "status.code" in refused.stderr
    verified = mra(home, "ledger", "verify")
    assert verified.returncode == 0 and "OK BR: 22 entries" in verified.stdout


def test_a_bad_line_writes_nothing_and_is_named(home: Path, tmp_path: Path) -> None:
    records = list(sample_dicts("BR", 5))
    records[2]["certificate"] = "GOLD"
    records[4]["identifiers"] = [{"scheme": "EORI", "value": "not an eori"}]
    data = tmp_path / "bad.jsonl"
    data.write_text(jsonl(records))
    result = mra(home, "aeo", "import", str(data))
    assert result.returncode == 2
    assert f"{data}:3: certificate:" in result.stderr
    assert f"{data}:5: identifiers[0].value:" in result.stderr
    assert "nothing written" in result.stderr
    assert "0 entries" in mra(home, "ledger", "info").stdout
    skipped = mra(home, "aeo", "import", str(data), "--skip-invalid")
    assert skipped.returncode == 3 and "3 appended" in skipped.stdout  # 3: lines skipped


def test_csv_import_names_line_and_column(home: Path, tmp_path: Path) -> None:
    data = tmp_path / "registry.csv"
    data.write_text(
        "aeo_id,legal_name,certificate,status,status_effective,authorised,street,city,"
        "address_country,identifiers,roles\n"
        "BR1,Acme Ltda,AEOS,valid,2020-01-01,2020-01-01,Rua A 1,Santos,BR,EORI:BR1,importer\n"
        "BR2,Beta Ltda,AEOS,valid,2020-02-30,2020-01-01,Rua B 2,Santos,BR,EORI:BR2,exporter\n"
    )
    result = mra(home, "aeo", "import", str(data))
    assert result.returncode == 2
    assert f"{data}:3: status_effective:" in result.stderr  # CSV errors name the column


def test_a_foreign_record_is_refused(home: Path, tmp_path: Path) -> None:
    record = tmp_path / "uy.json"
    record.write_text(json.dumps(next(sample_dicts("UY", 1))))
    result = mra(home, "aeo", "publish", str(record))
    assert result.returncode == 2 and "aeo_id" in result.stderr


def test_verify_names_the_damage_and_exits_non_zero(home: Path, tmp_path: Path) -> None:
    data = tmp_path / "registry.jsonl"
    data.write_text(jsonl(list(sample_dicts("BR", 10))))
    assert mra(home, "aeo", "import", str(data)).returncode == 0
    conn = sqlite3.connect(home / "ledger.db")
    conn.execute("DROP TRIGGER entries_no_update")
    conn.execute("UPDATE entries SET signature = zeroblob(64) WHERE seq = 6")
    conn.commit()
    conn.close()
    result = mra(home, "ledger", "verify")
    assert result.returncode == 1
    assert "BR#6: bad-signature" in result.stderr


def test_rebuild_restores_derived_tables(home: Path, tmp_path: Path) -> None:
    data = tmp_path / "registry.jsonl"
    data.write_text(jsonl(list(sample_dicts("BR", 4))))
    mra(home, "aeo", "import", str(data))
    conn = sqlite3.connect(home / "ledger.db")
    conn.execute("DELETE FROM aeo_current")
    conn.commit()
    conn.close()
    assert mra(home, "aeo", "show", "BR000000002").returncode == 2
    assert "4 record versions" in mra(home, "ledger", "rebuild").stdout
    assert mra(home, "aeo", "show", "BR000000002").returncode == 0


def test_a_key_readable_by_others_is_refused(home: Path, tmp_path: Path) -> None:
    (home / "signing.key").chmod(0o644)
    record = tmp_path / "r.json"
    record.write_text(json.dumps(next(sample_dicts("BR", 1))))
    result = mra(home, "aeo", "publish", str(record))
    assert result.returncode == 2 and "chmod 600" in result.stderr
    assert (home / "signing.key").read_text().split()[-1] not in result.stderr


def test_agreement_commands(home: Path, tmp_path: Path) -> None:
    doc = tmp_path / "mra.json"
    doc.write_text(
        json.dumps(
            {
                "id": "MRA-BR-UY",
                "kind": "bilateral",
                "parties": ["BR", "UY"],
                "contract": "mra-status-only",
                "contract_version": 1,
                "params": {"certificates": ["AEOS"]},
                "valid_from": "2025-01-01",
                "title": "MRA Brazil-Uruguay",
                "legal_ref": "Decision 1/2026",
            }
        )
    )
    proposed = mra(home, "agreement", "propose", str(doc))
    assert proposed.returncode == 0, proposed.stderr
    shown = json.loads(mra(home, "agreement", "show", "MRA-BR-UY").stdout)
    assert shown["state"] == "pending" and shown["approved_by"] == ["BR"]
    assert "1/2" in mra(home, "agreement", "list").stdout
    again = mra(home, "agreement", "approve", "MRA-BR-UY")
    assert again.returncode == 2 and "already approved" in again.stderr
    assert mra(home, "agreement", "withdraw", "MRA-BR-UY").returncode == 0
    assert json.loads(mra(home, "agreement", "show", "MRA-BR-UY").stdout)["state"] == "withdrawn"
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({**json.loads(doc.read_text()), "id": "X2-BAD", "contract": "mra-gold"})
    )
    refused = mra(home, "agreement", "propose", str(bad))
    assert refused.returncode == 2 and "mra-gold@1" in refused.stderr
    assert mra(home, "agreement", "show", "X2-BAD").returncode == 2


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_export_then_import_changes_nothing(home: Path, tmp_path: Path, suffix: str) -> None:
    data = tmp_path / "registry.jsonl"
    data.write_text(jsonl(list(sample_dicts("BR", 30))))
    assert mra(home, "aeo", "import", str(data)).returncode == 0
    suspend = ("aeo", "status", "BR000000007", "suspended", "--reason", "audit")
    assert mra(home, *suspend, "--effective", "2026-11-01").returncode == 0
    exported = tmp_path / f"export.{suffix}"
    result = mra(home, "aeo", "export", str(exported))
    assert result.returncode == 0 and "30 records" in result.stdout, result.stderr
    again = mra(home, "aeo", "import", str(exported))
    assert "0 appended, 30 unchanged, 0 invalid" in again.stdout, again.stdout + again.stderr
    only = tmp_path / f"suspended.{suffix}"
    assert "1 records" in mra(home, "aeo", "export", str(only), "--status", "suspended").stdout
    assert "BR000000007" in only.read_text()
    bad = mra(home, "aeo", "export", str(only), "--status", "asleep")
    assert bad.returncode == 2 and "status" in bad.stderr


def test_erase_then_verify_rebuild_trail_and_retention(home: Path, tmp_path: Path) -> None:
    data = tmp_path / "registry.jsonl"
    records = list(sample_dicts("BR", 3))
    data.write_text(jsonl(records))
    mra(home, "aeo", "import", str(data))
    mra(home, "aeo", "status", "BR000000002", "suspended", "--reason", "audit")
    no_reason = mra(home, "aeo", "erase", "BR000000002")
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    unknown = mra(home, "aeo", "erase", "BR000000099", "--reason", "GDPR")
    assert unknown.returncode == 2 and "BR000000099" in unknown.stderr

    erased = mra(home, "aeo", "erase", "BR000000002", "--reason", "GDPR Art. 17 request")
    assert erased.returncode == 0, erased.stderr
    assert "erased BR000000002: 2 versions" in erased.stdout
    assert mra(home, "aeo", "show", "BR000000002").returncode == 2
    again = mra(home, "aeo", "erase", "BR000000002", "--reason", "again")
    assert again.returncode == 2 and "erased already" in again.stderr
    verified = mra(home, "ledger", "verify")
    assert (
        verified.returncode == 0
        and "OK BR: 5 entries, 3 checkpoints, 3 payloads" in verified.stdout
    )
    # Derived tables rebuilt from the log keep the erasure and the erased versions' places.
    assert mra(home, "ledger", "rebuild").returncode == 0
    trail = json.loads(mra(home, "audit", "trail", "BR000000002").stdout)
    assert [v["erased"] for v in trail["versions"]] == [True, True]
    assert trail["erasures"][0]["reason"] == "GDPR Art. 17 request"
    assert trail["erase_requests"][0]["actor"].startswith("cli:")
    assert records[1]["legal_name"].encode() not in (home / "ledger.db").read_bytes()
    assert "0 erasure or purge entries" in mra(home, "retention", "run").stdout

    # A payload put back behind the node's back is named.
    conn = sqlite3.connect(home / "ledger.db")
    conn.execute("INSERT INTO payloads VALUES ('BR', 1, zeroblob(32), x'7b7d')")
    conn.commit()
    conn.close()
    damaged = mra(home, "ledger", "verify")
    assert damaged.returncode == 1 and "BR#1" in damaged.stderr + damaged.stdout
