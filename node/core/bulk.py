"""Bulk input and output of AEO records as JSON Lines or CSV, with a result per input line.

Parsing is pure: it takes lines of text (a list, or a text stream opened with ``newline=""``)
and never opens a file. Line numbers are the file's physical lines, counted from 1.

JSON Lines: one record per line, as a JSON object in the ``AeoRecord.to_dict`` form (see
``python -m node.core.sample``). Blank lines are skipped.

CSV: the header is line 1 and names the columns, in any order (names are matched without case
or surrounding spaces; an optional column may be left out). An empty cell means absent. Cells
are separated by ',', or by ';' when the header is (what spreadsheet programs write in locales
whose decimal mark is a comma, pt-BR and es among them; ``csv_delimiter``).

    column            required  content
    aeo_id            yes       issuer's ISO code + 1 to 15 upper-case letters/digits, BR0001
    legal_name        yes       the trader's legal name
    certificate       yes       AEOC, AEOS or AEOF
    status            yes       valid, suspended, revoked or annulled
    status_reason     no        why; required unless the status is valid
    status_effective  yes       date the status takes effect, YYYY-MM-DD
    authorised        yes       authorisation date, YYYY-MM-DD
    expires           no        expiry date, YYYY-MM-DD
    street            yes       street address
    city              yes       city
    postcode          no        postal code
    address_country   yes       ISO 3166-1 alpha-2 code of the address
    identifiers       yes       SCHEME:value pairs separated by ';'   EORI:BR123;TIN:4455
                                (schemes: EORI, TIN, CTPAT, OTHER)
    roles             yes       supply-chain roles separated by ';'  importer;exporter
    consent           no        partner ISO codes the trader consents to share with, ';'  AR;UY

Errors on a CSV line name the column (``status_effective``, ``identifiers[1].value``).
A header with an unknown, duplicate or missing required column gives one error per problem,
all on line 1, and no records.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import orjson

from node.core.canonical import canonical_json
from node.core.errors import InvalidInput
from node.core.records import AeoRecord

__all__ = [
    "CSV_COLUMNS",
    "REQUIRED_COLUMNS",
    "LineResult",
    "Report",
    "csv_delimiter",
    "parse_csv",
    "parse_jsonl",
    "record_to_csv_row",
    "write_csv",
    "write_jsonl",
]

CSV_COLUMNS: tuple[str, ...] = (
    "aeo_id",
    "legal_name",
    "certificate",
    "status",
    "status_reason",
    "status_effective",
    "authorised",
    "expires",
    "street",
    "city",
    "postcode",
    "address_country",
    "identifiers",
    "roles",
    "consent",
)
REQUIRED_COLUMNS: frozenset[str] = frozenset(CSV_COLUMNS) - {
    "status_reason",
    "expires",
    "postcode",
    "consent",
}
# A record's nested fields and the CSV columns that hold them, so errors name the column.
_COLUMN_OF = {
    "status.code": "status",
    "status.reason": "status_reason",
    "status.effective": "status_effective",
    "address.street": "street",
    "address.city": "city",
    "address.postcode": "postcode",
    "address.country": "address_country",
}
_BOM = "\ufeff"


@dataclass(frozen=True, slots=True, kw_only=True)
class LineResult:
    """One input line: the record it holds, or the error that names the field at fault."""

    line: int
    record: AeoRecord | None = None
    error: InvalidInput | None = None

    def __post_init__(self) -> None:
        if self.line < 1 or (self.record is None) == (self.error is None):
            raise ValueError("a LineResult has a line >= 1 and either a record or an error")

    def describe(self) -> str:
        """``line N: field: message`` for an error, ``line N: aeo_id`` for a record."""
        if self.error is not None:
            return f"line {self.line}: {self.error}"
        assert self.record is not None  # one of the two is set (__post_init__)
        return f"line {self.line}: {self.record.aeo_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """What a bulk parse found: how many lines held a record, and each problem."""

    valid: int
    invalid: int  # lines with at least one error
    problems: tuple[str, ...]  # "line N: field: message", in line order

    @classmethod
    def of(cls, results: Iterable[LineResult]) -> Report:
        """Summarise parse results (consumes the iterable)."""
        valid, bad_lines, problems = 0, set[int](), list[str]()
        for result in results:
            if result.error is None:
                valid += 1
            else:
                bad_lines.add(result.line)
                problems.append(result.describe())
        return cls(valid=valid, invalid=len(bad_lines), problems=tuple(problems))

    def summary(self) -> str:
        return f"{self.valid} valid, {self.invalid} invalid"


def parse_jsonl(lines: Iterable[str]) -> Iterator[LineResult]:
    """Parse JSON Lines, one result per non-blank line (its record or its error)."""
    for number, text in enumerate(lines, start=1):
        if number == 1:
            text = text.removeprefix(_BOM)
        if not text.strip():
            continue
        # Without its line end: an error at the end of the line is then at its last column,
        # not at "line 2, column 1" of the text handed to the parser.
        text = text.rstrip("\r\n")
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            yield LineResult(line=number, error=_json_error(exc, text))
            continue
        if not isinstance(data, dict):
            error = InvalidInput("each line must hold one JSON object, a record")
            yield LineResult(line=number, error=error)
            continue
        try:
            yield LineResult(line=number, record=AeoRecord.from_dict(data))
        except InvalidInput as exc:
            yield LineResult(line=number, error=exc)


def _json_error(exc: orjson.JSONDecodeError, text: str) -> InvalidInput:
    """What is wrong with a line that is not JSON, at its column (characters, from 1)."""
    column = min(exc.pos, len(text)) + 1
    if exc.pos >= len(text):
        return InvalidInput(
            f"not valid JSON: the line ends at column {len(text)} before the record does"
            " (cut short?)"
        )
    return InvalidInput(f"not valid JSON: {exc.msg} at column {column}")


def csv_delimiter(header: str) -> str:
    """``;`` when the header line names columns separated by ';' and not by ',', else ``,``."""

    def names(delimiter: str) -> list[str]:
        cells = header.removeprefix(_BOM).split(delimiter)
        return [cell.strip().strip('"').strip().lower() for cell in cells]

    by_semicolon = sum(name in CSV_COLUMNS for name in names(";"))
    by_comma = sum(name in CSV_COLUMNS for name in names(","))
    return ";" if by_semicolon >= 2 and by_comma <= 1 else ","


def parse_csv(lines: Iterable[str]) -> Iterator[LineResult]:
    """Parse CSV with a header line, one result per non-blank row (its record or its error).

    A row starts on the line reported; a quoted cell running over several lines is refused (no
    field may hold a line break). Header problems are reported on line 1 and stop the parse.
    """
    rows = iter(lines)
    first = next(rows, None)
    if first is None:
        yield LineResult(line=1, error=InvalidInput("the header line is missing"))
        return
    reader = csv.reader(itertools.chain([first], rows), delimiter=csv_delimiter(first))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        yield LineResult(line=1, error=InvalidInput(f"not valid CSV: {exc}"))
        return
    if header is None or not any(cell.strip() for cell in header):
        yield LineResult(line=1, error=InvalidInput("the header line is missing"))
        return
    columns = [cell.strip().lower() for cell in header]
    columns[0] = columns[0].removeprefix(_BOM)
    header_errors = list(_check_header(columns))
    if header_errors:
        yield from (LineResult(line=1, error=error) for error in header_errors)
        return
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield LineResult(line=start, error=InvalidInput(f"not valid CSV: {exc}"))
            continue
        if not any(cell.strip() for cell in row):
            continue
        try:
            if reader.line_num != start:
                raise InvalidInput(f"a quoted cell runs on to line {reader.line_num}")
            if len(row) != len(columns):
                raise InvalidInput(f"{len(row)} cells, but the header has {len(columns)}")
            cells = {name: cell.strip() or None for name, cell in zip(columns, row, strict=True)}
            yield LineResult(line=start, record=AeoRecord.from_dict(_record_dict(cells)))
        except InvalidInput as exc:
            yield LineResult(line=start, error=_as_column(exc))


def _check_header(columns: list[str]) -> Iterator[InvalidInput]:
    seen: set[str] = set()
    for name in columns:
        if name not in CSV_COLUMNS:
            yield InvalidInput(f"unknown column (known: {', '.join(CSV_COLUMNS)})", field=name)
        elif name in seen:
            yield InvalidInput("duplicate column", field=name)
        seen.add(name)
    for name in CSV_COLUMNS:
        if name in REQUIRED_COLUMNS and name not in seen:
            yield InvalidInput("missing column", field=name)


def _split(cell: str | None) -> list[str]:
    return [part.strip() for part in (cell or "").split(";") if part.strip()]


def _record_dict(cells: dict[str, str | None]) -> dict[str, object]:
    identifiers = []
    for i, pair in enumerate(_split(cells.get("identifiers"))):
        scheme, colon, value = pair.partition(":")
        if not colon:
            raise InvalidInput("write each identifier as SCHEME:value", field=f"identifiers[{i}]")
        identifiers.append({"scheme": scheme.strip(), "value": value.strip()})
    return {
        "aeo_id": cells.get("aeo_id"),
        "identifiers": identifiers,
        "legal_name": cells.get("legal_name"),
        "address": {
            "street": cells.get("street"),
            "city": cells.get("city"),
            "postcode": cells.get("postcode"),
            "country": cells.get("address_country"),
        },
        "certificate": cells.get("certificate"),
        "status": {
            "code": cells.get("status"),
            "reason": cells.get("status_reason"),
            "effective": cells.get("status_effective"),
        },
        "authorised": cells.get("authorised"),
        "expires": cells.get("expires"),
        "roles": _split(cells.get("roles")),
        "consent": _split(cells.get("consent")),
    }


def _as_column(error: InvalidInput) -> InvalidInput:
    """The same error, naming the CSV column rather than the record's nested field."""
    column = _COLUMN_OF.get(error.field or "")
    return error if column is None else type(error)(error.reason, field=column)


def record_to_csv_row(record: AeoRecord) -> list[str]:
    """The record's cells, in ``CSV_COLUMNS`` order (empty for absent values)."""
    status, address = record.status, record.address
    return [
        record.aeo_id,
        record.legal_name,
        record.certificate.value,
        status.code.value,
        status.reason or "",
        status.effective.isoformat(),
        record.authorised.isoformat(),
        "" if record.expires is None else record.expires.isoformat(),
        address.street,
        address.city,
        address.postcode or "",
        address.country,
        ";".join(f"{i.scheme.value}:{i.value}" for i in record.identifiers),
        ";".join(role.value for role in record.roles),
        ";".join(record.consent),
    ]


def write_csv(records: Iterable[AeoRecord]) -> str:
    """CSV text with a header line; ``parse_csv`` reads it back to equal records."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(record_to_csv_row(record) for record in records)
    return out.getvalue()


def write_jsonl(records: Iterable[AeoRecord]) -> str:
    """JSON Lines text, one canonical (RFC 8785) record per line; ``parse_jsonl`` reads it back."""
    return "".join(canonical_json(r.to_dict()).decode() + "\n" for r in records)
