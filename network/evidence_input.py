"""What a verifier is given: a file read as strict JSON, and an API answer checked against the
bundle it carries.

A bundle has one byte form (docs/evidence.md, "Encoding"), so the file is read strictly: UTF-8
without a byte order mark, no member name twice in one object, numbers only as integers
(``1.0``, ``1e0``, ``-0``, ``NaN`` are refused). An API answer shows ``origin``, ``seq`` and the
``record`` or ``view``: each must be exactly what its ``evidence`` proves, or it is refused.
``agreements`` (a partner's answer) is the answering node's own statement, which no bundle
covers: it is returned so that the caller can say so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from node.core.canonical import canonical_json
from node.core.errors import IntegrityError, InvalidInput

__all__ = ["ANSWER_MEMBERS", "Given", "read_strict_json", "split_answer"]

ANSWER_MEMBERS = {
    "record": frozenset({"origin", "seq", "record", "evidence"}),
    "view": frozenset({"origin", "seq", "agreements", "view", "evidence"}),
}


def read_strict_json(data: bytes) -> Any:
    """Parse ``data`` as strict JSON; raises InvalidInput naming what is not allowed."""
    if data.startswith(b"\xef\xbb\xbf"):
        raise InvalidInput("a byte order mark is not allowed", field="json")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"not UTF-8: {exc}", field="json") from None

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [name for name, _ in items]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InvalidInput(f"member names given twice: {twice}", field="json")
        return dict(items)

    def no_float(text: str) -> Any:
        raise InvalidInput(f"only integer numbers are allowed, not {text}", field="json")

    def integer(text: str) -> int:
        if text == "-0":  # the same integer as 0: one value, one form
            raise InvalidInput("-0 is written 0", field="json")
        return int(text)

    try:
        return json.loads(
            text,
            object_pairs_hook=pairs,
            parse_float=no_float,
            parse_int=integer,
            parse_constant=no_float,
        )
    except ValueError as exc:  # json.JSONDecodeError; InvalidInput is not a ValueError
        raise InvalidInput(f"not JSON: {exc}", field="json") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Given:
    """What the verifier was given: the bundle, and the answer around it if any."""

    bundle: dict[str, Any]
    answer: dict[str, Any] | None  # None: a bare bundle

    @property
    def agreements(self) -> list[str] | None:
        """The partner answer's agreements, which no bundle proves."""
        return None if self.answer is None else self.answer.get("agreements")


def split_answer(document: object) -> Given:
    """A bare bundle (it has ``format``) or one API answer about one AEO (``origin``, ``seq``,
    ``record`` or ``view``, ``evidence``, and ``agreements`` with a view). Raises InvalidInput
    for anything else (a batch answer, unknown members)."""
    if not isinstance(document, dict):
        raise InvalidInput("a bundle or an answer is a JSON object", field="$")
    if "format" in document:
        return Given(bundle=document, answer=None)
    shown = "view" if "view" in document else "record"
    if set(document) != ANSWER_MEMBERS[shown]:
        raise InvalidInput(
            f"an answer with evidence has exactly {sorted(ANSWER_MEMBERS[shown])}"
            " (give one answer, not a batch)",
            field="$",
        )
    agreements = document["agreements"] if shown == "view" else []
    if not isinstance(agreements, list) or not all(isinstance(a, str) for a in agreements):
        raise InvalidInput("a list of agreement ids", field="agreements")
    bundle = document["evidence"]
    if not isinstance(bundle, dict):
        raise InvalidInput("an evidence bundle", field="evidence")
    return Given(bundle=bundle, answer=document)


def check_answer(
    answer: Mapping[str, Any], origin: str, seq: int, shown: str, document: Mapping[str, Any]
) -> None:
    """Raise IntegrityError ``answer-mismatch`` unless the answer shows exactly what the bundle
    proved: its ``origin``, ``seq``, and as ``record`` or ``view`` the same JSON value."""
    if shown not in answer:
        raise IntegrityError(
            "answer-mismatch", f"the bundle proves a {shown}, the answer shows none"
        )
    if type(answer["seq"]) is not int or (answer["origin"], answer["seq"]) != (origin, seq):
        raise IntegrityError("answer-mismatch", f"the answer is not about {origin}#{seq}")
    try:
        same = canonical_json(answer[shown]) == canonical_json(document)
    except InvalidInput:
        same = False
    if not same:
        raise IntegrityError("answer-mismatch", f"the answer's {shown} is not the one proven")
