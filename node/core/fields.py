"""Checks of single values that the record's constructors share (pure): each takes a value and
the dotted path of its field, and returns the value normalised (text trimmed and in Unicode NFC,
enum strings as enums, lists as tuples) or raises InvalidInput naming that field. Also the JSON
shape checks ``from_dict`` uses, and the path joining that prefixes a nested field's errors.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar

from node.core.countries import ISO_COUNTRIES
from node.core.errors import InvalidInput

__all__ = [
    "MAX_TEXT",
    "check_country",
    "check_date",
    "check_enum",
    "check_items",
    "check_object",
    "check_text",
    "join_field",
    "parse_date",
    "set_normalised",
    "under_field",
]

MAX_TEXT = 512
# C0 and C1 controls, line and paragraph separators, lone surrogates: none belongs in a name or
# an address, and each would break a CSV cell, a line count or UTF-8 encoding.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# U+FDD0..U+FDEF and the last two code points of each of the 17 planes.
_NONCHARACTERS = (
    "[\ufdd0-\ufdef"
    + "".join(f"{chr(plane << 16 | 0xFFFE)}-{chr(plane << 16 | 0xFFFF)}" for plane in range(17))
    + "]"
)
# Characters that make a name or an address read other than it is (Unicode TR #36, UTS #39,
# CVE-2021-42574 "Trojan Source"): bidirectional controls reorder what follows them, zero-width
# characters and U+FEFF hide inside a word so that two different names look the same, tag
# characters carry invisible text, and noncharacters are not for interchange (Unicode §23.7).
_SPOOFING: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"), "bidirectional controls"),
    (re.compile("[\u180e\u200b-\u200d\u2060]"), "zero-width characters"),
    (re.compile("\ufeff"), "a byte order mark"),
    (re.compile("[\U000e0000-\U000e007f]"), "tag characters"),
    (re.compile(_NONCHARACTERS), "noncharacters"),
)
# Letters that render as nothing (Hangul fillers, the blank Braille pattern): a text made of
# them, of combining marks, format characters and spaces shows no name at all.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_E = TypeVar("_E", bound=StrEnum)
_T = TypeVar("_T")


def check_text(value: object, field: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise InvalidInput("must be a string", field=field)
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise InvalidInput("must not be empty", field=field)
    if len(text) > limit:
        raise InvalidInput(f"longer than {limit} characters", field=field)
    if _FORBIDDEN.search(text):
        raise InvalidInput("must not contain control characters or line breaks", field=field)
    for pattern, what in _SPOOFING:
        found = pattern.search(text)
        if found:
            raise InvalidInput(f"must not contain {what} (U+{ord(found.group()):04X})", field=field)
    if not any(_visible(c) for c in text):
        raise InvalidInput(
            "must contain a visible character, not only combining or invisible ones",
            field=field,
        )
    return text


def _visible(char: str) -> bool:
    """A letter, digit, punctuation mark or symbol that renders as something."""
    return unicodedata.category(char)[0] in "LNPS" and char not in _BLANK_LETTERS


def check_enum(kind: type[_E], value: object, field: str) -> _E:
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    allowed = ", ".join(member.value for member in kind)
    raise InvalidInput(f"{value!r} is not one of {allowed}", field=field)


def check_country(value: object, field: str) -> str:
    if not isinstance(value, str) or value not in ISO_COUNTRIES:
        raise InvalidInput(f"{value!r} is not an ISO 3166-1 alpha-2 country code", field=field)
    return value


def check_date(value: object, field: str) -> date:
    # datetime is a subclass of date; its isoformat() would smuggle a time into the record.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidInput("must be a date", field=field)
    return value


def check_items(value: object, field: str) -> tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise InvalidInput("must be a list", field=field)
    return tuple(value)


def set_normalised(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)  # normalising a frozen dataclass in __post_init__


def check_object(data: object, allowed: tuple[str, ...], optional: set[str], field: str) -> Any:
    """Check ``data`` is an object with only ``allowed`` keys and every required key non-null."""
    if not isinstance(data, Mapping):
        raise InvalidInput("must be an object", field=field or None)
    for name in data:
        if name not in allowed:
            raise InvalidInput("unknown field", field=join_field(field, str(name)))
    for name in allowed:
        if name not in optional and data.get(name) is None:
            raise InvalidInput("is required", field=join_field(field, name))
    return data


def parse_date(value: object, field: str) -> date:
    # Only the plain calendar form: fromisoformat also takes 20240101 and other ISO variants.
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise InvalidInput("must be a date written YYYY-MM-DD", field=field)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{value} is not a calendar date", field=field) from None


def join_field(parent: str, child: str | None) -> str:
    if not child:
        return parent
    return f"{parent}.{child}" if parent and not child.startswith("[") else parent + child


def under_field(field: str, build: Callable[..., _T], **values: Any) -> _T:
    """Run a constructor, prefixing the field of any error with ``field`` (the parent path)."""
    try:
        return build(**values)
    except InvalidInput as exc:
        raise InvalidInput(exc.reason, field=join_field(field, exc.field)) from None
