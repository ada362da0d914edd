"""Bulk JSON Lines and CSV: good files, bad lines reported by line and field, CSV header errors,
and round trips through both formats."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.core.bulk import (
    CSV_COLUMNS,
    REQUIRED_COLUMNS,
    LineResult,
    Report,
    parse_csv,
    parse_jsonl,
    record_to_csv_row,
    write_csv,
    write_jsonl,
)
from node.core.errors import InvalidInput
from node.core.records import AeoRecord
from node.core.sample import sample_dicts, sample_records
from tests.strategies import aeo_records

HEADER = ",".join(CSV_COLUMNS)
ROW = (
    "BR000000001,Atlântica Delta Ltda,AEOS,valid,,2020-03-01,2020-03-01,,"
    '"Avenida Rio 100, sala 2",Santos,11010,BR,EORI:BR12345678901;TIN:12.345.678/0001-90,'
    "importer;carrier,AR;UY"
)


def outcome(results: list[LineResult]) -> list[tuple[int, str | None]]:
    """(line, aeo_id) for records and (line, field) for errors."""
    return [
        (r.line, r.record.aeo_id if r.record else r.error.field if r.error else None)
        for r in results
    ]


def csv_lines(*rows: str, header: str = HEADER) -> list[str]:
    return [header, *rows]


# -- JSON Lines ------------------------------------------------------------------------------


def test_jsonl_good_file() -> None:
    records = sample_records("BR", 5)
    results = list(parse_jsonl(write_jsonl(records).splitlines()))
    assert [r.line for r in results] == [1, 2, 3, 4, 5]
    assert [r.record for r in results] == records
    assert all(r.error is None for r in results)


def test_jsonl_bad_lines_report_line_and_field() -> None:
    good = write_jsonl(sample_records("BR", 3)).splitlines()
    lines = [
        good[0],  # 1
        "",  # 2: blank, skipped
        '{"aeo_id": "BR1", ',  # 3: not JSON
        "[1, 2]",  # 4: not an object
        good[1].replace('"certificate":"', '"certificate":"X'),  # 5
        "   ",  # 6: blank, skipped
        good[2].replace('"country":"BR"', '"country":"ZZ"'),  # 7
        good[2].replace('"roles":[', '"roles":["pilot",'),  # 8
        good[2].replace('"aeo_id"', '"extra":1,"aeo_id"'),  # 9
    ]
    assert outcome(list(parse_jsonl(lines))) == [
        (1, "BR000000001"),
        (3, None),
        (4, None),
        (5, "certificate"),
        (7, "address.country"),
        (8, "roles[0]"),
        (9, "extra"),
    ]


def test_jsonl_error_messages() -> None:
    [not_json, not_object] = parse_jsonl(["{oops}", '"BR1"'])
    assert not_json.error is not None and "not valid JSON" in not_json.error.reason
    assert not_object.error is not None and "JSON object" in not_object.error.reason


def test_jsonl_reads_a_stream_with_a_bom() -> None:
    text = "\ufeff" + write_jsonl(sample_records("BR", 2))
    results = list(parse_jsonl(io.StringIO(text)))
    assert [r.record.aeo_id for r in results if r.record] == ["BR000000001", "BR000000002"]


# -- CSV -------------------------------------------------------------------------------------


def test_csv_good_file() -> None:
    [result] = parse_csv(csv_lines(ROW))
    assert result.line == 2
    record = result.record
    assert record is not None
    assert record.address.street == "Avenida Rio 100, sala 2"
    assert record.expires is None and record.status.reason is None
    assert [i.value for i in record.identifiers] == ["BR12345678901", "12.345.678/0001-90"]
    assert record.consent == ("AR", "UY")
    assert [r.value for r in record.roles] == ["carrier", "importer"]


def test_csv_optional_columns_may_be_left_out_and_order_is_free() -> None:
    columns = [c for c in CSV_COLUMNS if c in REQUIRED_COLUMNS][::-1]
    full = dict(zip(CSV_COLUMNS, next(iter(_rows(ROW))), strict=True))
    row = ",".join(f'"{full[c]}"' for c in columns)
    [result] = parse_csv([" , ".join(c.upper() for c in columns), row])
    assert result.record is not None
    assert result.record.consent == () and result.record.address.postcode is None


def _rows(*rows: str) -> list[list[str]]:
    import csv

    return list(csv.reader(rows))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(HEADER + ",colour", [(1, "colour")], id="unknown-column"),
        pytest.param(HEADER.replace("city,", ""), [(1, "city")], id="missing-column"),
        pytest.param(HEADER + ",roles", [(1, "roles")], id="duplicate-column"),
        pytest.param(
            HEADER.replace("aeo_id", "id").replace(",roles", ",role"),
            [(1, "id"), (1, "role"), (1, "aeo_id"), (1, "roles")],
            id="several-problems",
        ),
        pytest.param("", [(1, None)], id="empty-header"),
    ],
)
def test_csv_header_errors_are_on_line_1_and_stop_the_parse(
    header: str, expected: list[tuple[int, str | None]]
) -> None:
    results = list(parse_csv([header, ROW, ROW]))
    assert outcome(results) == expected
    assert all(r.record is None for r in results)


def test_csv_empty_file() -> None:
    [result] = parse_csv([])
    assert result.line == 1 and result.error is not None


def test_csv_bad_lines_report_line_and_column() -> None:
    def cell(column: str, value: str) -> str:
        cells = _rows(ROW)[0]
        cells[CSV_COLUMNS.index(column)] = value
        return ",".join(f'"{c}"' for c in cells)

    lines = csv_lines(
        ROW,  # 2
        "",  # 3: blank, skipped
        cell("status", "suspended"),  # 4: no reason
        cell("status_effective", "2019-12-31"),  # 5: before the authorisation
        cell("address_country", "Brasil"),  # 6
        cell("identifiers", "EORI:BR1;TIN"),  # 7: no colon in the second pair
        cell("identifiers", "EORI:BR1;TIN:1;2"),  # 8: a ';' in a value splits it
        cell("roles", "importer;importer"),  # 9
        ROW + ",extra",  # 10: too many cells
        *ROW.replace("Atlântica Delta Ltda", '"Two\nLines"').split("\n"),  # 11-12: one cell
        cell("postcode", "1" * 17),  # 13
        cell("expires", "2020-02-30"),  # 14
        cell("aeo_id", "br0001"),  # 15
        ",,,,,,,,,,,,,,",  # 16: only empty cells, skipped
        ROW,  # 17
    )
    assert outcome(list(parse_csv(lines))) == [
        (2, "BR000000001"),
        (4, "status_reason"),
        (5, "status_effective"),
        (6, "address_country"),
        (7, "identifiers[1]"),
        (8, "identifiers[2]"),
        (9, "roles[1]"),
        (10, None),
        (11, None),
        (13, "postcode"),
        (14, "expires"),
        (15, "aeo_id"),
        (17, "BR000000001"),
    ]


def test_csv_row_numbers_follow_physical_lines_in_a_stream() -> None:
    text = HEADER + "\n" + ROW.replace("Atlântica Delta Ltda", '"Two\nLines"') + "\n" + ROW + "\n"
    results = list(parse_csv(io.StringIO(text, newline="")))
    assert outcome(results) == [(2, None), (4, "BR000000001")]
    assert results[0].error is not None and "line 3" in results[0].error.reason


def test_csv_header_with_bom() -> None:
    [result] = parse_csv(["\ufeff" + HEADER, ROW])
    assert result.record is not None


# -- report ----------------------------------------------------------------------------------


def test_report_counts_and_lines() -> None:
    lines = csv_lines(ROW, ROW.replace("Atlântica Delta Ltda", " "), ROW, ROW + ",x")
    report = Report.of(parse_csv(lines))
    assert report == Report(
        valid=2,
        invalid=2,
        problems=(
            "line 3: legal_name: is required",
            "line 5: 16 cells, but the header has 15",
        ),
    )
    assert report.summary() == "2 valid, 2 invalid"


def test_report_counts_lines_not_problems() -> None:
    report = Report.of(parse_csv(["colour,size"]))
    assert report.invalid == 1 and report.valid == 0
    assert len(report.problems) == len(REQUIRED_COLUMNS) + 2


@pytest.mark.parametrize(
    "values",
    [{}, {"record": None, "error": None}],
    ids=["neither", "explicit-none"],
)
def test_line_result_holds_a_record_or_an_error(values: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LineResult(line=1, **values)


def test_line_result_refuses_both_and_line_zero() -> None:
    record = sample_records("BR", 1)[0]
    with pytest.raises(ValueError):
        LineResult(line=1, record=record, error=InvalidInput("x"))
    with pytest.raises(ValueError):
        LineResult(line=0, record=record)


# -- round trips -----------------------------------------------------------------------------

RECORD_LISTS = st.lists(aeo_records(issuer="BR"), max_size=5)


@settings(max_examples=60, deadline=None)
@given(RECORD_LISTS)
def test_csv_round_trip(records: list[AeoRecord]) -> None:
    text = write_csv(records)
    for lines in (text.splitlines(), io.StringIO(text, newline="")):
        results = list(parse_csv(lines))
        assert [r.error for r in results] == [None] * len(records)
        assert [r.record for r in results] == records
        assert [r.line for r in results] == list(range(2, len(records) + 2))


@settings(max_examples=60, deadline=None)
@given(RECORD_LISTS)
def test_jsonl_round_trip(records: list[AeoRecord]) -> None:
    text = write_jsonl(records)
    assert text.count("\n") == len(records)
    results = list(parse_jsonl(io.StringIO(text)))
    assert [r.record for r in results] == records


@given(aeo_records(issuer=None))
def test_csv_row_has_one_cell_per_column(record: AeoRecord) -> None:
    row = record_to_csv_row(record)
    assert len(row) == len(CSV_COLUMNS)
    assert row[CSV_COLUMNS.index("aeo_id")] == record.aeo_id


def test_sample_records_look_like_their_issuing_country() -> None:
    """Demo data (issue 23, point 6): a Brazilian trader is in a Brazilian city with a
    Brazilian company form and postcode, a Chilean one in Chile, and so on."""
    expected = {
        "BR": ({"São Paulo", "Santos", "Rio de Janeiro", "Curitiba", "Itajaí", "Porto Alegre",
                "Manaus"}, ("Ltda", "S.A."), r"\d{5}-\d{3}"),
        "CL": ({"Santiago", "Valparaíso", "San Antonio", "Antofagasta", "Iquique", "Concepción"},
               ("SpA", "S.A.", "Ltda."), r"\d{7}"),
        "AR": ({"Buenos Aires", "Rosario", "Córdoba", "Mendoza", "Bahía Blanca", "Zárate"},
               ("S.A.", "S.R.L.", "S.A.S."), r"\d{4}"),
    }  # fmt: skip
    for origin, (cities, forms, postcode) in expected.items():
        for data in sample_dicts(origin, 200):
            address = data["address"]
            assert isinstance(address, dict) and address["country"] == origin
            assert address["city"] in cities, (origin, address)
            assert re.fullmatch(postcode, address["postcode"]), (origin, address)
            assert str(data["legal_name"]).endswith(forms), (origin, data["legal_name"])
            AeoRecord.from_dict(data)
