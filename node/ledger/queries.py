"""Status queries at a node: its own records in full, and the views of partners' records that
it received under the agreements in force. A record this node holds no view of is answered
exactly like an unknown one, so nothing leaks about what others hold.

Each query reads one of a record's two clocks, or both (node.core.clocks): ``as_of`` (an
instant, ledger time: the version the ledger showed then) and ``in_force_on`` (a date, legal
time: the version whose status was in force that day, as now known or as known at ``as_of``).
With neither, the latest version answers. An answer names the clocks it read. For a partner's
record only the views received are read, so a field a view hides never decides an answer."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from node.core.canonical import embedded, parse_json
from node.core.chain import check_payload
from node.core.checkpoint import Checkpoint, SignedNote
from node.core.clocks import Version, answering, version_of
from node.core.entries import EntryHeader
from node.core.errors import InvalidInput
from node.core.identifiers import match_value, scheme_name
from node.ledger.tree import StoredTree
from node.store.protocols import Log, LogHistory, Records, Views

__all__ = [
    "DAY_PATTERN",
    "ID_PATTERN",
    "MAX_BATCH",
    "SCHEME_PATTERN",
    "Answer",
    "Queries",
    "QueryStore",
    "as_of_instant",
    "as_of_ms",
    "check_id",
    "checked_ids",
    "in_force_date",
    "instant_text",
    "log_states",
]

MAX_BATCH = 10_000
# An AEO id and an identifier scheme as a caller may write them: ASCII letters in any case,
# with ASCII blanks around them. Only ASCII: str.upper() also maps other letters to ASCII
# ("ı" to "I", "ß" to "SS"), which would turn a string that is no AEO id into one. The API
# document states these patterns as they are (JSON Schema and Python read them alike).
_BLANKS = "[ \\t\\n\\r\\f\\v]*"
ID_PATTERN = f"^{_BLANKS}[A-Za-z]{{2}}[A-Za-z0-9]{{1,15}}{_BLANKS}$"
SCHEME_PATTERN = f"^{_BLANKS}[A-Za-z0-9_-]{{2,16}}{_BLANKS}$"
_ID = re.compile(ID_PATTERN)
_SCHEME = re.compile(SCHEME_PATTERN)
DAY_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_DAY = re.compile(DAY_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """One AEO id answered: where it is in its origin's log, and what this node may show."""

    aeo_id: str
    origin: str
    seq: int
    document: dict[str, Any]
    agreements: tuple[str, ...] = ()  # empty: this node's own record, in full
    view: tuple[bytes, bytes] | None = None  # (view bytes, origin's signature) for a partner's
    in_force_on: date | None = None  # the legal date asked for, if one was
    as_of: int | None = None  # the ledger instant asked for (ms), if one was

    def to_dict(self) -> dict[str, Any]:
        if self.view is None:
            shown = {"origin": self.origin, "seq": self.seq, "record": self.document}
        else:
            shown = {
                "origin": self.origin,
                "seq": self.seq,
                "agreements": list(self.agreements),
                "view": self.document,
            }
        if self.in_force_on is not None:
            shown["in_force_on"] = self.in_force_on.isoformat()
        if self.as_of is not None:
            shown["as_of"] = instant_text(self.as_of)
        return shown


class QueryStore(Log, Records, Views, Protocol):
    """The parts of a store queries read: own records, their entries, partners' views."""


class LogStateStore(Log, LogHistory, Protocol):
    """The parts of a store ``log_states`` reads."""


class Queries:
    def __init__(self, store: QueryStore, me: str) -> None:
        self._store = store
        self._me = me

    def one(
        self, aeo_id: str, as_of: int | None = None, in_force_on: date | None = None
    ) -> Answer | None:
        """The record or view held of ``aeo_id``: the latest; or the one the ledger showed at
        ``as_of`` (ms since the epoch: the latest entered at or before it); or the one whose
        status was in force on ``in_force_on`` (as now known, or as known at ``as_of``).
        None when there is none."""
        wanted = check_id(aeo_id, "aeo_id")
        if in_force_on is not None:
            found_then = self._in_force(wanted, in_force_on, as_of)
            return None if found_then is None else replace(found_then, **_asked(as_of, in_force_on))
        if as_of is not None:
            at = self._version_at(wanted, as_of)
            return None if at is None else replace(at, as_of=as_of)
        found = self._store.current_payload(wanted)
        if found is not None and found[0] == self._me:
            return _own(wanted, *found)
        held = self._store.view_of(wanted)
        return None if held is None else _viewed(wanted, *held)

    def latest_one_shown(self, aeo_id: str) -> dict[str, Any] | None:
        """``one(aeo_id)`` with neither clock, as ``Answer.to_dict`` shows it, an own record's
        document embedded as stored (as ``latest_shown`` does for a batch: the same bytes
        once encoded, without a parse), or None. Raises InvalidInput as ``one``."""
        wanted = check_id(aeo_id, "aeo_id")
        found = self._store.current_payload(wanted)
        if found is not None and found[0] == self._me:
            origin, seq, payload = found
            return {"origin": origin, "seq": seq, "record": embedded(payload)}
        held = self._store.view_of(wanted)
        return None if held is None else _viewed(wanted, *held).to_dict()

    def _in_force(self, aeo_id: str, on: date, as_of: int | None) -> Answer | None:
        """The version whose status was in force on ``on`` (node.core.clocks), read from the
        versions this node may show: its own record's, or the views it received."""
        held: list[tuple[str, Version]] = []
        if aeo_id[:2] == self._me:
            for origin, seq, ts, payload in self._store.own_versions(aeo_id):
                if payload is not None:  # an erased version shows nothing
                    held.append((origin, version_of(seq, ts, parse_json(payload))))
        else:
            for row in self._store.views_held(aeo_id):
                if row["ts"] is not None:
                    held.append(
                        (row["origin"], version_of(row["seq"], row["ts"], parse_json(row["body"])))
                    )
        chosen = answering([v for _, v in held], in_force_on=on, as_of=as_of)
        if chosen is None:
            return None
        origin = next(o for o, v in held if v is chosen)
        return self._answer_at(aeo_id, origin, chosen.seq)

    def _version_at(self, aeo_id: str, as_of: int) -> Answer | None:
        found = self._store.version_at(aeo_id, as_of)
        if found is None:
            return None
        return self._answer_at(aeo_id, *found)

    def _answer_at(self, aeo_id: str, origin: str, seq: int) -> Answer | None:
        if origin == self._me:
            entry = self._store.entry(origin, seq)
            if entry is None or entry.payload is None or entry.salt is None:
                return None
            # The cheap check of every payload served (as for the latest version).
            check_payload(EntryHeader.from_bytes(entry.body), entry.salt, entry.payload)
            return _own(aeo_id, origin, seq, entry.payload)
        held = self._store.view_at(origin, seq)
        return None if held is None else _viewed(aeo_id, origin, seq, *held)

    def many(
        self,
        aeo_ids: Sequence[object],
        as_of: int | None = None,
        in_force_on: date | None = None,
    ) -> tuple[dict[str, Answer], list[str]]:
        """Answers for up to MAX_BATCH ids (read as ``one`` reads them), and the ids not held.
        Raises InvalidInput naming ``ids[i]`` for a malformed id, or ``ids`` for a batch over
        the limit."""
        wanted = checked_ids(aeo_ids)
        if as_of is not None or in_force_on is not None:
            answers = {aeo_id: self.one(aeo_id, as_of, in_force_on) for aeo_id in wanted}
            found = {aeo_id: a for aeo_id, a in answers.items() if a is not None}
        else:
            found = {
                aeo_id: _own(aeo_id, *held) if len(held) == 3 else _viewed(aeo_id, *held)
                for aeo_id, held in self._latest(wanted).items()
            }
        return found, [aeo_id for aeo_id in wanted if aeo_id not in found]

    def latest_shown(self, aeo_ids: Sequence[object]) -> tuple[dict[str, Any], list[str]]:
        """``many`` with neither clock, each answer as ``Answer.to_dict`` shows it, ready for
        orjson, and the ids not held. An own record's document is its stored payload as it
        is (``canonical.embedded``): canonical JSON of a record is orjson's own encoding of
        it (node.core.canonical's fast path: a record holds no floats), so the answer's bytes
        are the same as when parsed and encoded again, without either step (issue 26: the
        batch of 10,000 ids). Raises InvalidInput as ``many``."""
        wanted = checked_ids(aeo_ids)
        shown: dict[str, Any] = {}
        for aeo_id, held in self._latest(wanted).items():
            if len(held) == 3:
                origin, seq, payload = held
                shown[aeo_id] = {"origin": origin, "seq": seq, "record": embedded(payload)}
            else:
                shown[aeo_id] = _viewed(aeo_id, *held).to_dict()
        return shown, [aeo_id for aeo_id in wanted if aeo_id not in shown]

    def _latest(
        self, wanted: list[str]
    ) -> dict[str, tuple[str, int, bytes] | tuple[str, int, str, bytes, bytes]]:
        """The latest held of each of ``wanted`` (those held, in their order), in a few
        set-based reads: an own record's (origin, seq, payload), or a partner's view's
        (origin, seq, agreements, body, signature)."""
        own = self._store.current_payloads(wanted)
        views = self._store.views_of([i for i in wanted if own.get(i, ("",))[0] != self._me])
        latest: dict[str, tuple[str, int, bytes] | tuple[str, int, str, bytes, bytes]] = {}
        for aeo_id in wanted:
            held = own.get(aeo_id)
            if held is not None and held[0] == self._me:
                latest[aeo_id] = held
            elif aeo_id in views:
                latest[aeo_id] = views[aeo_id]
        return latest

    def by_identifier(
        self, scheme: str, value: str, as_of: int | None = None, in_force_on: date | None = None
    ) -> list[Answer]:
        """Every record held of the trader with this identifier (own records, and partners'
        views that show identifiers; matched on what is held now), each read as ``one`` reads
        it. EORI and C-TPAT values match in any case (node.core.identifiers)."""
        ids = self._identified(scheme, value)
        answers = (self.one(aeo_id, as_of, in_force_on) for aeo_id in ids)
        return [a for a in answers if a is not None]

    def latest_shown_by_identifier(self, scheme: str, value: str) -> dict[str, dict[str, Any]]:
        """``by_identifier`` with neither clock: each record found, by its AEO id, as
        ``latest_one_shown`` shows it, in the same order. Raises InvalidInput as
        ``by_identifier``."""
        found = ((i, self.latest_one_shown(i)) for i in self._identified(scheme, value))
        return {aeo_id: shown for aeo_id, shown in found if shown is not None}

    def _identified(self, scheme: str, value: str) -> list[str]:
        """The AEO ids held of the trader with this identifier, each once: own records first,
        then partners' views. Raises InvalidInput naming ``scheme`` or ``value``."""
        if not _SCHEME.fullmatch(scheme):
            raise InvalidInput("an identifier scheme such as EORI or TIN", field="scheme")
        scheme = scheme_name(scheme)
        if not value.strip() or len(value) > 64:
            raise InvalidInput("1 to 64 characters", field="value")
        value = match_value(scheme, value)
        ids = [
            *self._store.find_by_identifier(scheme, value),
            *self._store.views_by_identifier(scheme, value),
        ]
        return list(dict.fromkeys(ids))


def _asked(as_of: int | None, in_force_on: date) -> dict[str, Any]:
    return {"as_of": as_of, "in_force_on": in_force_on}


def _own(aeo_id: str, origin: str, seq: int, payload: bytes) -> Answer:
    return Answer(aeo_id=aeo_id, origin=origin, seq=seq, document=parse_json(payload))


def _viewed(
    aeo_id: str, origin: str, seq: int, names: str, body: bytes, signature: bytes
) -> Answer:
    return Answer(
        aeo_id=aeo_id,
        origin=origin,
        seq=seq,
        document=parse_json(body),
        agreements=tuple(names.split(",")) if names else (),
        view=(body, signature),
    )


def checked_ids(aeo_ids: Sequence[object]) -> list[str]:
    """Up to MAX_BATCH AEO ids, normalised, each once. Raises InvalidInput naming ``ids[i]``
    for a malformed id, or ``ids`` for a batch over the limit."""
    if len(aeo_ids) > MAX_BATCH:
        raise InvalidInput(
            f"at most {MAX_BATCH:,} ids per request (got {len(aeo_ids):,})", field="ids"
        )
    return list(dict.fromkeys(check_id(value, f"ids[{i}]") for i, value in enumerate(aeo_ids)))


def as_of_ms(value: object, field: str = "as_of", *, day_end: bool = True) -> int:
    """An ISO 8601 date or date-time (UTC unless it says otherwise) as ms since the epoch;
    a date means its end (its start with ``day_end=False``). Raises InvalidInput naming
    ``field``."""
    if not isinstance(value, str):
        raise InvalidInput("an ISO 8601 date or date-time", field=field)
    try:
        if len(value) == 10:
            moment = datetime.combine(
                date.fromisoformat(value), time.max if day_end else time.min, UTC
            )
        else:
            moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput("an ISO 8601 date or date-time", field=field) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def as_of_instant(value: object, field: str = "as_of") -> int:
    """``as_of_ms`` for a query's ledger instant, refusing one that cannot be echoed back in
    ISO 8601 (outside years 1 to 9999 UTC). Raises InvalidInput naming ``field``."""
    try:
        ms = as_of_ms(value, field)
        instant_text(ms)
    except OverflowError:
        raise InvalidInput("an instant between the years 1 and 9999 UTC", field=field) from None
    return ms


def in_force_date(value: object, field: str = "in_force_on") -> date:
    """A calendar date written ``YYYY-MM-DD`` (legal time has days, not instants). Raises
    InvalidInput naming ``field``."""
    if isinstance(value, str) and _DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidInput("a date written YYYY-MM-DD", field=field)


def instant_text(ms: int) -> str:
    """An instant (ms since the epoch) in ISO 8601 UTC with milliseconds, as answers echo it."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_id(value: object, field: str) -> str:
    """``value`` as an AEO id (trimmed, upper case). Raises InvalidInput naming ``field``."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidInput("an AEO id: country code and up to 15 letters or digits", field=field)
    return value.strip().upper()


def log_states(store: LogStateStore) -> list[dict[str, Any]]:
    """Per origin held: size and Merkle root, and the latest checkpoint with its cosigners;
    two nodes hold the same log of an origin when (size, root) agree."""
    out = []
    for origin in store.origins():
        head = store.head(origin)
        size = head.size if head else 0
        note = store.latest_checkpoint(origin)
        checkpoint = Checkpoint.parse(SignedNote.parse(note).text) if note else None
        out.append(
            {
                "origin": origin,
                "size": size,
                "root": StoredTree(store, origin).root(size).hex(),
                "checkpoint_size": checkpoint.size if checkpoint else 0,
                "cosigners": sorted(store.cosignatures(origin, checkpoint.size))
                if checkpoint
                else [],
            }
        )
    return out
