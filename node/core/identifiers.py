"""How a trader identifier that someone asks for is matched against the identifiers records
hold (the case rule), in one place.

Records hold EORI and C-TPAT values in upper case only (``node.core.records`` refuses others),
and both schemes are case-free by definition (an EORI is a country code and upper-case letters
or digits; a C-TPAT account number likewise): a value asked for in any case is matched upper
case. TIN and OTHER values are written as the issuing country writes them, where case may be
significant: they are matched exactly as given (blanks around them trimmed). ``C-TPAT`` is
accepted as the name of the CTPAT scheme.
"""

from __future__ import annotations

from node.core.errors import InvalidInput
from node.core.records import IdScheme

__all__ = ["CASE_FREE", "lookup_key", "match_value", "scheme_name"]

CASE_FREE = frozenset({IdScheme.EORI, IdScheme.CTPAT})
_ALIASES = {"C-TPAT": IdScheme.CTPAT.value}
MAX_VALUE = 64


def scheme_name(text: str) -> str:
    """A scheme as written by a caller, as records name it (trimmed, upper case, aliases)."""
    name = text.strip().upper()
    return _ALIASES.get(name, name)


def match_value(scheme: str, value: str) -> str:
    """``value`` (trimmed) as it is matched for ``scheme`` (a name from ``scheme_name``):
    upper case for a case-free scheme, as given otherwise."""
    value = value.strip()
    return value.upper() if scheme in CASE_FREE else value


def lookup_key(scheme: object, value: object) -> tuple[str, str]:
    """(scheme, value) to look up, for a scheme records know. Raises InvalidInput naming
    ``scheme`` (not one of EORI, TIN, CTPAT or C-TPAT, OTHER) or ``value`` (empty, or longer
    than 64 characters)."""
    known = ", ".join(s.value for s in IdScheme)
    if not isinstance(scheme, str) or scheme_name(scheme) not in {s.value for s in IdScheme}:
        raise InvalidInput(f"one of {known} (or C-TPAT)", field="scheme")
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_VALUE:
        raise InvalidInput(f"1 to {MAX_VALUE} characters", field="value")
    name = scheme_name(scheme)
    return name, match_value(name, value)
