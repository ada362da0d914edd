"""What a newcomer meets first at the command line (issue 23, point 6): help that lists a
record's fields and the CSV columns, the README's example record, an import that reports every
bad line in one run, a ';'-separated CSV, a line cut short, and a list that says what it left
out. The ``mra`` command as a subprocess on a real home."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from node.core import bulk
from node.core.records import AeoRecord
from node.core.sample import EXAMPLE_RECORD, sample_dicts
from tests.integration.test_cli import home, jsonl, mra

__all__ = ["home"]  # the fixture, shared with test_cli

README = Path(__file__).parents[2] / "README.md"


def test_help_lists_the_fields_and_the_csv_columns(home: Path) -> None:
    publish = mra(home, "aeo", "publish", "--help")
    assert publish.returncode == 0
    text = " ".join(publish.stdout.split())  # as read, whatever the terminal's width
    for field in ("aeo_id*", "identifiers*", "legal_name*", "address*", "city*", "postcode"):
        assert field in text, field
    assert "at most 128" in text and "at most 16" in text
    assert "AEOC|AEOS|AEOF" in text and "valid|suspended|revoked|annulled" in text
    imported = " ".join(mra(home, "aeo", "import", "--help").stdout.split())
    for column in bulk.CSV_COLUMNS:
        wanted = f"{column}*" if column in bulk.REQUIRED_COLUMNS else f"{column},"
        assert wanted in imported or f"{column}." in imported, column
    assert "Exit status" in imported and "3 with --skip-invalid" in imported


def test_the_readme_example_record_is_the_one_published(home: Path, tmp_path: Path) -> None:
    section = README.read_text()[README.read_text().index("### A record") :]
    block = re.search(r"```json\n(.*?)\n```", section, re.S)
    assert block is not None
    example = json.loads(block.group(1))
    assert example == EXAMPLE_RECORD
    path = tmp_path / "record.json"
    path.write_text(json.dumps(example, ensure_ascii=False))
    published = mra(home, "aeo", "publish", str(path))
    assert published.returncode == 0, published.stderr
    shown = json.loads(mra(home, "aeo", "show", "BR000000001").stdout)
    assert shown["record"] == example


def test_import_reports_unreadable_and_refused_lines_in_one_run(home: Path, tmp_path: Path) -> None:
    records = list(sample_dicts("BR", 4))
    lines = jsonl(records).splitlines(keepends=True)
    lines[1] = lines[1].replace('"AEOS"', '"GOLD"').replace('"AEOC"', '"GOLD"')
    lines[1] = lines[1].replace('"AEOF"', '"GOLD"')
    lines[2] = jsonl([next(sample_dicts("AR", 1))])  # a ledger rule: an AR id at BR
    cut = lines[3][:120]
    lines[3] = cut + "\n"  # cut short, as a copy that stopped half-way
    data = tmp_path / "mixed.jsonl"
    data.write_text("".join(lines))
    result = mra(home, "aeo", "import", str(data))
    assert result.returncode == 2
    assert f"{data}:2: certificate:" in result.stderr
    assert f"{data}:3: " in result.stderr and "aeo_id" in result.stderr.split(f"{data}:3: ")[1]
    assert f"{data}:4: not valid JSON: the line ends at column {len(cut)}" in result.stderr
    assert "nothing written: 3 bad line(s)" in result.stderr
    assert "0 entries" in mra(home, "ledger", "info").stdout
    skipped = mra(home, "aeo", "import", str(data), "--skip-invalid")
    assert skipped.returncode == 3, skipped.stderr
    assert "1 appended, 0 unchanged, 3 invalid" in skipped.stdout


def test_a_semicolon_separated_csv_is_read(home: Path, tmp_path: Path) -> None:
    records = list(sample_dicts("BR", 3))
    text = bulk.write_csv(AeoRecord.from_dict(r) for r in records)
    rows = list(csv.reader(io.StringIO(text)))
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(rows)
    data = tmp_path / "planilha.csv"
    data.write_text(out.getvalue(), encoding="utf-8-sig")  # as a spreadsheet saves it
    result = mra(home, "aeo", "import", str(data))
    assert result.returncode == 0, result.stderr
    assert "3 appended" in result.stdout and "separated by ';'" in result.stderr


def test_list_says_how_many_more_there_are(home: Path, tmp_path: Path) -> None:
    data = tmp_path / "registry.jsonl"
    data.write_text(jsonl(list(sample_dicts("BR", 60))))
    assert mra(home, "aeo", "import", str(data)).returncode == 0
    listed = mra(home, "aeo", "list")
    assert "50 of 60 shown, 10 more" in listed.stdout
    everything = mra(home, "aeo", "list", "--limit", "100")
    assert "more" not in everything.stdout
