"""RFC 8785 JSON Canonicalization Scheme: the one function that makes bytes to hash or sign.

The fast path uses orjson, whose string escaping is exactly RFC 8785 §3.2.2.2 (checked by the
tests against the reference implementation); it applies when the value holds only objects with
string keys, arrays, strings, booleans, null and integers within the IEEE 754 exact range. Floats
and keys whose UTF-16 order differs from code-point order take the slower, general path.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import orjson

from node.core.errors import InvalidInput

__all__ = ["canonical_json", "embedded", "is_canonical", "parse_json", "unb64"]

MAX_SAFE_INTEGER = 2**53 - 1
_JSON_TYPES = frozenset({type(None), bool, str, int, float, list, tuple, dict})


def canonical_json(value: object) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value.

    Raises InvalidInput (``field`` is the JSON path) for NaN or infinite numbers, integers
    outside ±(2**53-1), non-string keys, lone surrogates and non-JSON types.
    """
    try:
        if _fast_ok(value):
            try:
                return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
            except TypeError as exc:  # a lone surrogate, or nesting past orjson's 255 levels
                raise InvalidInput(f"not encodable: {exc}", field="$") from exc
        return _encode(value, "$").encode("utf-8")
    except RecursionError as exc:
        raise InvalidInput("nested too deeply to encode", field="$") from exc


def embedded(document: bytes) -> object:
    """A JSON document already encoded (canonical JSON, as a stored payload is), to be put
    into a larger answer as it is: ``orjson.dumps`` of the answer writes its bytes without
    parsing or encoding them again."""
    return orjson.Fragment(document)


def parse_json(data: bytes) -> Any:
    """Parse JSON bytes strictly; raises InvalidInput with orjson's reason."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"not valid JSON: {exc}", field="json") from exc


def is_canonical(data: bytes) -> bool:
    """True when ``data`` is exactly the canonical form of the value it encodes; never raises."""
    try:
        return canonical_json(_as_doubles(parse_json(data))) == data
    except (InvalidInput, OverflowError, RecursionError):
        return False


def _as_doubles(value: Any) -> Any:
    """JSON numbers are doubles: read integers beyond the exact range as the double they name."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else float(value)
    if isinstance(value, list):
        return [_as_doubles(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_doubles(v) for k, v in value.items()}
    return value


def _fast_ok(value: object) -> bool:
    """True when orjson's output equals RFC 8785 for ``value``: objects whose string keys sort
    alike in UTF-16 and code points, arrays, strings, booleans, null and integers in the exact
    range. Anything else (floats, larger integers, other keys or types) is left to ``_encode``,
    which encodes it or names where it is wrong.

    Strings, None and booleans are by far the most common leaves: they are skipped inline
    rather than through a call per value, which keeps this check cheaper than the encoding.
    """
    kind = type(value)
    if kind is dict:
        for key, item in value.items():  # type: ignore[attr-defined]
            # UTF-16 ordering (§3.2.3) differs from code-point ordering only above U+FFFF.
            if type(key) is not str or (not key.isascii() and any(ord(c) > 0xFFFF for c in key)):
                return False
            leaf = type(item)
            if leaf is str or item is None or leaf is bool:
                continue
            if leaf is int:
                if -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                    continue
                return False
            if not _fast_ok(item):
                return False
        return True
    if kind is list or kind is tuple:
        for item in value:  # type: ignore[attr-defined]
            leaf = type(item)
            if leaf is str or item is None or leaf is bool:
                continue
            if not _fast_ok(item):
                return False
        return True
    if kind is str or value is None or kind is bool:
        return True
    if kind is int:
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER  # type: ignore[operator]
    return False


def _int_is_safe(value: int, path: str) -> bool:
    """True inside ±(2**53-1); False for larger integers that are exact doubles (they take the
    number path); raises for the rest, which a double cannot hold (RFC 8785 §3.2.2.3)."""
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return True
    try:
        exact = int(float(value)) == value
    except OverflowError:
        exact = False
    if not exact:
        raise InvalidInput("integer not exactly representable as an IEEE 754 double", field=path)
    return False


def _encode(value: object, path: str) -> str:
    if type(value) not in _JSON_TYPES:
        # Exact types only: a subclass may print itself as something that is not JSON.
        raise InvalidInput(f"{type(value).__name__} is not a JSON type", field=path)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInput("string holds a lone surrogate", field=path) from exc
        return orjson.dumps(value).decode("utf-8")
    if isinstance(value, int):
        return str(value) if _int_is_safe(value, path) else _number(float(value), path)
    if isinstance(value, float):
        return _number(value, path)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v, f"{path}[{i}]") for i, v in enumerate(value)) + "]"
    assert isinstance(value, dict)
    for key in value:
        if not isinstance(key, str):
            raise InvalidInput("object keys must be strings", field=f"{path}.{key!r}")
    keys = sorted(value, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
    return (
        "{"
        + ",".join(_encode(k, path) + ":" + _encode(value[k], f"{path}.{k}") for k in keys)
        + "}"
    )


def _number(value: float, path: str) -> str:
    """ECMAScript Number::toString (RFC 8785 §3.2.2.3) for a finite double."""
    if not math.isfinite(value):
        raise InvalidInput("NaN and Infinity are not JSON numbers", field=path)
    if value == 0:
        return "0"
    if value < 0:
        return "-" + _number(-value, path)
    # repr gives the shortest round-tripping digits; re-lay them out the ECMAScript way.
    mantissa, _, exponent = repr(value).partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    digits = (int_part + frac_part).lstrip("0") or "0"
    # n: position of the decimal point relative to the start of ``digits``
    leading_zeros = len(int_part + frac_part) - len((int_part + frac_part).lstrip("0"))
    n = len(int_part) - leading_zeros + (int(exponent) if exponent else 0)
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{head}e{sign}{abs(e)}"


def unb64(value: object, field: str) -> bytes:
    """The bytes of canonical base64 text (RFC 4648 §4); raises InvalidInput naming ``field``
    for anything else."""
    if not isinstance(value, str):
        raise InvalidInput("base64 text", field=field)
    try:
        data = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise InvalidInput("base64 text", field=field) from exc
    if base64.b64encode(data).decode("ascii") != value:
        # RFC 4648 §3.5: pad bits must be zero, so that one value has one encoding (a signature
        # line with other pad bits would be a second valid form of the same signed note).
        raise InvalidInput("canonical base64 (zero pad bits)", field=field)
    return data
