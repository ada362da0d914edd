"""Bulk input of AEO records from JSON Lines or CSV, with a report line per bad input line.

JSON Lines: one record object per line (``AeoRecord.to_dict`` form); blank lines are skipped.

CSV (header on line 1; an empty cell means absent):

    aeo_id, legal_name, certificate, status, status_reason, status_effective, authorised,
    expires, street, city, postcode, address_country,
    identifiers  SCHEME:value pairs separated by ';'   e.g. EORI:BR123;TIN:4455
    roles        separated by ';'                      e.g. importer;exporter
    consent      partner ISO codes separated by ';'    e.g. AR;UY

Line numbers are the file's physical lines, 1-based. Parsing is pure: callers open the file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import orjson

from node.errors import InvalidInput
from node.records import AeoRecord

__all__ = [
    "CSV_COLUMNS",
    "LineResult",
    "parse_csv",
    "parse_jsonl",
    "record_to_csv_row",
    "write_csv",
]

CSV_COLUMNS = (
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
_OPTIONAL_COLUMNS = {"status_reason", "expires", "postcode", "consent"}


@dataclass(frozen=True, slots=True, kw_only=True)
class LineResult:
    """One input line: its record, or the error that names the field at fault."""

    line: int
    record: AeoRecord | None = None
    error: InvalidInput | None = None


def parse_jsonl(lines: Iterable[str]) -> Iterator[LineResult]:
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = orjson.loads(text)
            if not isinstance(data, dict):
                raise InvalidInput("each line must be a JSON object", field="record")
            yield LineResult(line=number, record=AeoRecord.from_dict(data))
        except orjson.JSONDecodeError as exc:
            yield LineResult(line=number, error=InvalidInput(f"not valid JSON: {exc}"))
        except InvalidInput as exc:
            yield LineResult(line=number, error=exc)


def parse_csv(lines: Iterable[str]) -> Iterator[LineResult]:
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        yield LineResult(line=1, error=InvalidInput("empty file: a header line is required"))
        return
    header = [h.strip() for h in header]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    missing = [c for c in CSV_COLUMNS if c not in header and c not in _OPTIONAL_COLUMNS]
    if unknown or missing:
        column = (unknown or missing)[0]
        what = "unknown column" if unknown else "missing column"
        yield LineResult(line=1, error=InvalidInput(what, field=column))
        return
    for row in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield LineResult(
                line=number, error=InvalidInput(f"{len(row)} cells, the header has {len(header)}")
            )
            continue
        cells = {h: (c.strip() or None) for h, c in zip(header, row, strict=True)}
        try:
            yield LineResult(line=number, record=AeoRecord.from_dict(_from_cells(cells)))
        except InvalidInput as exc:
            yield LineResult(line=number, error=exc)


def _split(cell: str | None) -> list[str]:
    return [part.strip() for part in (cell or "").split(";") if part.strip()]


def _from_cells(cells: dict[str, str | None]) -> dict[str, object]:
    identifiers = []
    for i, pair in enumerate(_split(cells.get("identifiers"))):
        scheme, sep, value = pair.partition(":")
        if not sep:
            raise InvalidInput("write identifiers as SCHEME:value", field=f"identifiers[{i}]")
        identifiers.append({"scheme": scheme.strip(), "value": value.strip()})
    return {
        "aeo_id": cells.get("aeo_id"),
        "legal_name": cells.get("legal_name"),
        "certificate": cells.get("certificate"),
        "status": {
            "code": cells.get("status"),
            "reason": cells.get("status_reason"),
            "effective": cells.get("status_effective"),
        },
        "authorised": cells.get("authorised"),
        "expires": cells.get("expires"),
        "address": {
            "street": cells.get("street"),
            "city": cells.get("city"),
            "postcode": cells.get("postcode"),
            "country": cells.get("address_country"),
        },
        "identifiers": identifiers,
        "roles": _split(cells.get("roles")),
        "consent": _split(cells.get("consent")),
    }


def record_to_csv_row(record: AeoRecord) -> list[str]:
    d = record.to_dict()
    status, address = record.status, record.address
    return [
        record.aeo_id,
        record.legal_name,
        record.certificate.value,
        status.code.value,
        status.reason or "",
        status.effective.isoformat(),
        record.authorised.isoformat(),
        record.expires.isoformat() if record.expires else "",
        address.street,
        address.city,
        address.postcode or "",
        address.country,
        ";".join(f"{i.scheme.value}:{i.value}" for i in record.identifiers),
        ";".join(str(r) for r in d["roles"]),  # type: ignore[attr-defined]
        ";".join(record.consent),
    ]


def write_csv(records: Iterable[AeoRecord]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for record in records:
        writer.writerow(record_to_csv_row(record))
    return out.getvalue()
