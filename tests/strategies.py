"""Hypothesis strategies for valid AEO records, shared by the tests.

``aeo_records(issuer="BR")`` draws records issued by Brazil; ``aeo_records(issuer=None)`` draws
records of any issuer. Text fields draw from all of Unicode except what a record refuses
(controls, format characters such as bidirectional controls and zero-width characters,
noncharacters, line separators, surrogates, text with nothing visible), so round trips meet
quotes, commas, accents and non-Latin scripts.
"""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta

from hypothesis import strategies as st

from node.core.countries import EORI_PREFIXES, ISO_COUNTRIES
from node.core.records import (
    Address,
    AeoRecord,
    Certificate,
    IdScheme,
    Role,
    Status,
    TraderIdentifier,
)
from node.core.status import StatusCode

__all__ = ["addresses", "aeo_records", "identifiers", "statuses", "texts"]

COUNTRIES = sorted(ISO_COUNTRIES)
_LOOSE = r"[A-Za-z0-9]([A-Za-z0-9 ./:-]{0,33}[A-Za-z0-9./:-])?"
_ID_VALUES = {
    IdScheme.EORI: st.tuples(
        st.sampled_from(sorted(EORI_PREFIXES)), st.from_regex(r"[A-Z0-9]{1,15}", fullmatch=True)
    ).map("".join),
    IdScheme.TIN: st.from_regex(_LOOSE, fullmatch=True),
    IdScheme.CTPAT: st.from_regex(r"[A-Z0-9]{1,35}", fullmatch=True),
    IdScheme.OTHER: st.from_regex(_LOOSE, fullmatch=True),
}


def texts(max_size: int = 60) -> st.SearchStrategy[str]:
    """Non-blank text a record accepts (it is trimmed and NFC-normalised on the way in)."""
    chars = st.characters(exclude_categories=("Cc", "Cf", "Cn", "Cs", "Zl", "Zp"))
    return st.text(chars, min_size=1, max_size=max_size).filter(_shows_something)


def _shows_something(text: str) -> bool:
    # A record refuses text with no letter, digit, punctuation or symbol that renders.
    return any(
        unicodedata.category(c)[0] in "LNPS" and c not in "\u115f\u1160\u3164\uffa0\u2800"
        for c in text.strip()
    )


def identifiers() -> st.SearchStrategy[TraderIdentifier]:
    return st.sampled_from(IdScheme).flatmap(
        lambda scheme: _ID_VALUES[scheme].map(
            lambda value: TraderIdentifier(scheme=scheme, value=value)
        )
    )


def addresses() -> st.SearchStrategy[Address]:
    return st.builds(
        Address,
        street=texts(),
        city=texts(40),
        postcode=st.none() | texts(5),  # NFC may triple a length; the limit is 16
        country=st.sampled_from(COUNTRIES),
    )


@st.composite
def statuses(draw: st.DrawFn, authorised: date) -> Status:
    code = draw(st.sampled_from(StatusCode))
    reason = draw(st.none() | texts()) if code is StatusCode.VALID else draw(texts())
    effective = authorised + timedelta(days=draw(st.integers(0, 4000)))
    return Status(code=code, reason=reason, effective=effective)


@st.composite
def aeo_records(draw: st.DrawFn, issuer: str | None = "BR") -> AeoRecord:
    """A valid record issued by ``issuer`` (any ISO country when None)."""
    country = issuer if issuer is not None else draw(st.sampled_from(COUNTRIES))
    authorised = draw(st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 12, 31)))
    expires = draw(st.none() | st.integers(0, 4000).map(lambda d: authorised + timedelta(d)))
    return AeoRecord(
        aeo_id=country + draw(st.from_regex(r"[A-Z0-9]{1,15}", fullmatch=True)),
        identifiers=tuple(
            draw(
                st.lists(
                    identifiers(), min_size=1, max_size=4, unique_by=lambda i: (i.scheme, i.value)
                )
            )
        ),
        legal_name=draw(texts()),
        address=draw(addresses()),
        certificate=draw(st.sampled_from(Certificate)),
        status=draw(statuses(authorised)),
        authorised=authorised,
        expires=expires,
        roles=tuple(draw(st.lists(st.sampled_from(Role), min_size=1, max_size=4, unique=True))),
        consent=tuple(
            draw(
                st.lists(
                    st.sampled_from([c for c in COUNTRIES if c != country]),
                    max_size=5,
                    unique=True,
                )
            )
        ),
    )
