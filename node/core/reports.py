"""Access rows and record versions as people read them: the fields that changed between two
versions, a nested document flattened to dotted paths, and the access log as CSV or JSON with
ISO 8601 UTC times (milliseconds kept) and each actor named with its label."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from node.core.access import ACCESS_FIELDS

__all__ = [
    "CSV_COLUMNS",
    "actor_labels",
    "field_diff",
    "flatten",
    "iso_ms",
    "labelled",
    "readable_rows",
    "rows_csv",
]


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


# ``time`` and ``actor_label`` are for people; ``ts`` and ``actor`` are what the row's hash covers.
CSV_COLUMNS = (
    "seq",
    "time",
    *ACCESS_FIELDS[: ACCESS_FIELDS.index("actor") + 1],
    "actor_label",
    *ACCESS_FIELDS[ACCESS_FIELDS.index("actor") + 1 :],
    "hash",
)


def iso_ms(ms: int) -> str:
    """Milliseconds since the epoch as ISO 8601 UTC with milliseconds: 2026-12-05T07:01:02.345Z."""
    whole = datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{ms % 1000:03d}Z"


def actor_labels(
    keys: Iterable[Mapping[str, Any]], members: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Each actor's label: ``key:<id>`` from the API keys' labels, ``peer:<code>`` from the
    members' names."""
    labels = {f"key:{k['key_id']}": str(k["label"]) for k in keys if k.get("label")}
    labels.update({f"peer:{code}": name for code, name in (members or {}).items() if name})
    return labels


def labelled(actor: str, labels: Mapping[str, str]) -> str:
    """``key:019a00ccfe9d (UY border system)``; the bare actor when it has no label."""
    label = labels.get(actor)
    return f"{actor} ({label})" if label else actor


def readable_rows(
    rows: Iterable[dict[str, Any]], labels: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Access rows with ``time`` (ISO 8601) and ``actor_label`` added beside ``ts`` and
    ``actor``, which stay as hashed."""
    return [
        {**row, "time": iso_ms(int(row["ts"])), "actor_label": labelled(row["actor"], labels)}
        for row in rows
    ]


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
