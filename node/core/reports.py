"""Access rows and record versions as people read them: the fields that changed between two
versions, a nested document flattened to dotted paths, and the access log as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from node.core.access import ACCESS_FIELDS

__all__ = ["CSV_COLUMNS", "field_diff", "flatten", "rows_csv"]


def field_diff(old: dict[str, Any] | None, new: dict[str, Any]) -> list[dict[str, Any]]:
    """The fields that differ between two versions of a record, by dotted path: a list of
    ``{"field", "from", "to"}`` (``from`` is absent for the first version's fields)."""
    before, after = flatten(old or {}), flatten(new)
    changed = []
    for path in sorted(before.keys() | after.keys()):
        if before.get(path, _ABSENT) != after.get(path, _ABSENT):
            change: dict[str, Any] = {"field": path, "to": after.get(path)}
            if path in before:
                change["from"] = before[path]
            changed.append(change)
    return changed


_ABSENT = object()


def flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested document as ``{dotted.path: value}``."""
    out: dict[str, Any] = {}
    for name, item in value.items():
        path = f"{prefix}{name}"
        if isinstance(item, dict) and item:
            out.update(flatten(item, path + "."))
        else:
            out[path] = item
    return out


CSV_COLUMNS = ("seq", *ACCESS_FIELDS, "hash")


def rows_csv(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Access rows as CSV text, a header line first."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        yield buffer.getvalue()
