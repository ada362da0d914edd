"""RFC 8785 canonical JSON: the RFC's examples, the reference implementation as an oracle."""

from __future__ import annotations

import math
import struct

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from node.core.canonical import canonical_json, is_canonical, parse_json
from node.core.errors import InvalidInput

# RFC 8785 Appendix B: IEEE 754 values and their ECMAScript serialisation.
NUMBERS = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "text"), NUMBERS, ids=[t for _, t in NUMBERS])
def test_rfc8785_number_serialisation(bits: str, text: str) -> None:
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    assert canonical_json(value) == text.encode()


def test_rfc8785_sorting_example() -> None:
    # RFC 8785 §3.2.3: keys sort by UTF-16 code units.
    data = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    values = [v for v in parse_json(canonical_json(data)).values()]
    assert values == [
        "Carriage Return",
        "One",
        "Control",
        "Latin Small Letter O With Diaeresis",
        "Euro Sign",
        "Emoji: Grinning Face",
        "Hebrew Letter Dalet With Dagesh",
    ]


def test_large_integers_that_are_doubles_serialise_as_numbers() -> None:
    assert canonical_json(2**53) == b"9007199254740992"
    assert canonical_json(10**21) == b"1e+21"


def test_string_escaping() -> None:
    assert canonical_json('\u0000\b\t\n\f\r"\\\u001f\u007f\u2028é/') == (
        '"\\u0000\\b\\t\\n\\f\\r\\"\\\\\\u001f\u007f\u2028é/"'.encode()
    )


text = st.text(st.characters(blacklist_categories=("Cs",)))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=500)
@given(json_values)
def test_equals_the_reference_implementation(value: object) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)
    assert is_canonical(canonical_json(value))


@settings(max_examples=300)
@given(json_values.filter(lambda v: not _has_float(v)))
def test_round_trip(value: object) -> None:
    assert parse_json(canonical_json(value)) == value


def _has_float(value: object) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    return False


class _Loud(int):
    def __str__(self) -> str:
        return "oops"


class _Shout(str):
    pass


def _nested(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(math.nan, id="nan"),
        pytest.param(math.inf, id="infinity"),
        pytest.param(2**53 + 1, id="int-not-a-double"),
        pytest.param(10**400, id="int-beyond-double-range"),
        pytest.param({1: "x"}, id="non-string-key"),
        pytest.param({"a": {2, 3}}, id="set"),
        pytest.param(b"bytes", id="bytes"),
        pytest.param("\ud800", id="lone-surrogate"),
        pytest.param({"a": _Loud(1), "f": 0.5}, id="int-subclass"),
        pytest.param({"a": _Shout("x"), "f": 0.5}, id="str-subclass"),
        pytest.param(_nested(2000), id="nested-past-the-recursion-limit"),
        pytest.param(_nested(300), id="nested-past-orjson-depth"),
    ],
)
def test_non_json_values_are_refused(value: object) -> None:
    with pytest.raises(InvalidInput):
        canonical_json(value)


@pytest.mark.parametrize(
    "data",
    [
        b'{"b":1,"a":2}',
        b'{"a": 1}',
        b'{"a":1,"a":1}',
        b"1.0",
        b"1E2",
        b'"\\u00e9"',
        b"nope",
        b"1" + b"0" * 400,
    ],
)
def test_is_canonical_refuses_other_spellings(data: bytes) -> None:
    assert is_canonical(data) is False


def test_is_canonical_refuses_nesting_too_deep_to_check() -> None:
    assert not is_canonical(b"[" * 1000 + b"]" * 1000)
