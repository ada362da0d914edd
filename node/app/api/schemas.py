"""The JSON Schemas of the API's bodies and answers (``SCHEMAS``): the data of the OpenAPI
document that FastAPI cannot infer (node.app.api.openapi attaches them).

The handlers read raw JSON bodies and return plain dicts (so that bad input is refused by the
records' own rules, with the field named), so FastAPI cannot see their shapes: they are here,
once. A schema here is never stricter than the server: what it refuses, the server refuses too
(``tests/system/test_api_fuzz.py`` fuzzes every operation against the document). Rules the JSON
Schema cannot state (a status cannot take effect before the authorisation; text is trimmed and
NFC-normalised before its length is checked) are in the descriptions, and the server answers 422
naming the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from contracts.agreement import (
    AGREEMENT_ID,
    CONTRACT_NAME,
    MAX_RETENTION_DAYS,
    SHA256_HEX,
    AgreementKind,
)
from node.core.countries import ISO_COUNTRIES
from node.core.records import (
    AEO_ID,
    MAX_CITY,
    MAX_POSTCODE,
    MAX_RECORD_BYTES,
    MAX_TEXT,
    Certificate,
    IdScheme,
)
from node.core.records import Role as SupplyChainRole
from node.core.sample import EXAMPLE_RECORD
from node.core.status import StatusCode
from node.ledger.queries import MAX_BATCH

__all__ = ["JSON", "REF", "SCHEMAS"]

JSON = "application/json"
REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


def _object(
    properties: Mapping[str, Any], *, required: Iterable[str] = (), closed: bool = True
) -> dict[str, Any]:
    """An object schema; ``closed``: the server refuses (or never sends) other members."""
    schema: dict[str, Any] = {"type": "object", "properties": dict(properties)}
    wanted = list(required)
    if wanted:
        schema["required"] = wanted
    if closed:
        schema["additionalProperties"] = False
    return schema


def _nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"anyOf": [dict(schema), {"type": "null"}]}


def _array(items: Mapping[str, Any], **limits: Any) -> dict[str, Any]:
    return {"type": "array", "items": dict(items), **limits}


_SEQ = {"type": "integer", "minimum": 0}
_STRING = {"type": "string"}
_HEX32 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_TIME = {"type": "string", "description": "ISO 8601 UTC time"}
_COUNTRY = {"type": "string", "enum": sorted(ISO_COUNTRIES)}
_AEO_ID = {
    "type": "string",
    "pattern": f"^{AEO_ID.pattern}$",
    "description": "the issuer's ISO 3166-1 code and 1 to 15 upper-case letters or digits",
}
_DATE = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
# The clocks an answer read (node.core.clocks), echoed when the query named them.
_CLOCKS = {
    "in_force_on": {**_DATE, "description": "legal time: the date the status was in force"},
    "as_of": {
        **_TIME,
        "description": "ledger time: the instant read, ISO 8601 UTC with milliseconds",
    },
}


# Text is trimmed and NFC-normalised before its length (512; a city 128, a postcode 16) is
# checked; no control characters or line separators, nor characters that spoof
# (node.core.records): the pattern states those of the Basic Multilingual Plane, the
# description the rest.
def _text(limit: int) -> dict[str, Any]:
    """A text of 1 to ``limit`` characters. No maxLength: the limit holds once the text is
    trimmed and NFC-normalised, and a schema here is never stricter than the server."""
    return {
        "type": "string",
        "minLength": 1,
        "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u061c\\u180e"
        "\\u200b-\\u200f\\u202a-\\u202e\\u2060\\u2066-\\u2069\\ufeff\\ufdd0-\\ufdef"
        "\\ufffe\\uffff]*$",
        "description": f"1 to {limit} characters once trimmed and NFC-normalised, with at least"
        " one visible character (not only combining marks, spaces or invisible ones); no control"
        " characters or line breaks, no bidirectional controls (U+061C, U+200E, U+200F,"
        " U+202A-U+202E, U+2066-U+2069), zero-width characters (U+180E, U+200B-U+200D, U+2060),"
        " U+FEFF, tag characters (U+E0000-U+E007F) or noncharacters; refused with a 422 naming"
        " the field",
    }


_TEXT = _text(MAX_TEXT)
_STATUS_CODE = {"type": "string", "enum": [c.value for c in StatusCode]}
_ADDRESS = _object(
    {
        "street": _TEXT,
        "city": _text(MAX_CITY),
        "postcode": _nullable(_text(MAX_POSTCODE)),
        "country": _COUNTRY,
    },
    required=("street", "city", "country"),
)
_ADDRESS["examples"] = [EXAMPLE_RECORD["address"]]
_IDENTIFIER = _object(
    {
        "scheme": {"type": "string", "enum": [s.value for s in IdScheme]},
        "value": {
            **_TEXT,
            "description": "as the scheme writes it (an EORI starts with its country)",
        },
    },
    required=("scheme", "value"),
)
_RECORD_FIELDS: dict[str, Any] = {
    "aeo_id": _AEO_ID,
    "identifiers": _array(_IDENTIFIER, minItems=1, uniqueItems=True),
    "legal_name": _TEXT,
    "address": _ADDRESS,
    "certificate": {"type": "string", "enum": [c.value for c in Certificate]},
    "status": _ref("Status"),
    "authorised": _DATE,
    "expires": _nullable(_DATE),
    "roles": _array(
        {"type": "string", "enum": [r.value for r in SupplyChainRole]}, minItems=1, uniqueItems=True
    ),
    "consent": _nullable(
        _array({**_COUNTRY, "description": "a partner, never the issuer"}, uniqueItems=True)
    ),
}
_LOOKUP_ANSWER = _object(
    {
        "origin": _COUNTRY,
        "scheme": _STRING,
        "found": _array(
            _object(
                {
                    "aeo_id": _AEO_ID,
                    "origin": _COUNTRY,
                    "seq": _SEQ,
                    "agreements": _array(_STRING),
                    "view": {
                        "type": "object",
                        "description": "the view the origin's agreements grant the asker",
                    },
                },
                required=("aeo_id", "origin", "seq", "agreements", "view"),
            )
        ),
        "not_found": _nullable(
            {
                "type": "string",
                "enum": ["none-you-may-see", "nothing-shared"],
                "description": "why found is empty: no AEO the origin shares with the asker"
                " holds the identifier (it does not say whether another does), or the origin"
                " shares nothing with the asker (it says nothing of its records)",
            }
        ),
    },
    required=("origin", "scheme", "found", "not_found"),
)
_ENTRY = _object({"seq": _SEQ, "kind": _STRING}, required=("seq", "kind"))
_EVIDENCE = _object(
    {
        "format": {"const": "mra-evidence/v2"},
        "origin": _STRING,
        "seq": _SEQ,
        "entry": {"type": "object"},
        "payload": {"type": "object"},
        "view": {"type": "object"},
        "checkpoint": _STRING,
        "cosignatures": {"type": "object"},
        "inclusion": _array(_HEX32),
        "rotations": _array({"type": "object"}),
        "cosigner_rotations": {"type": "object"},
    },
    required=(
        "format",
        "origin",
        "seq",
        "entry",
        "checkpoint",
        "cosignatures",
        "inclusion",
        "rotations",
        "cosigner_rotations",
    ),
)
_B64 = {"type": "string", "contentEncoding": "base64"}
_WIRE_ENTRY = _object(
    {
        "body": {**_B64, "description": "the entry header, as signed"},
        "signature": _B64,
        "salt": {**_B64, "description": "key rotations only"},
        "payload": {**_B64, "description": "key rotations only"},
    },
    required=("body", "signature"),
)
_SEALED = _object(
    {"seq": _SEQ, "sealed": {**_B64, "description": "a view sealed to the partner"}},
    required=("seq", "sealed"),
)
_ACCESS = _object(
    {
        "seq": _SEQ,
        "time": _TIME,
        "actor": _STRING,
        "channel": _STRING,
        "agreements": _array(_STRING),
        # a delivery: the entry, the SHA-256 of the view, the row it repeats (if it does)
        "entry_origin": _STRING,
        "entry_seq": _SEQ,
        "view_hash": _HEX32,
        "repeat_of": _SEQ,
    },
    required=("seq", "time", "actor", "channel"),
)

SCHEMAS: dict[str, dict[str, Any]] = {
    "Problem": _object(
        {
            "type": _STRING,
            "title": _STRING,
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": _STRING,
            "field": {**_STRING, "description": "the request field at fault, as a dotted path"},
            "errors": _array(
                _object(
                    {"loc": _array({"type": ["string", "integer"]}), "msg": _STRING},
                    required=("loc", "msg"),
                )
            ),
        },
        required=("type", "title", "status", "detail"),
    ),
    "Status": _object(
        {
            "code": _STATUS_CODE,
            "reason": {**_nullable(_TEXT), "description": "required unless the code is valid"},
            "effective": {**_DATE, "description": "not before the authorisation"},
        },
        required=("code", "effective"),
    )
    | {
        "examples": [
            {"code": "suspended", "reason": "audit finding 2026/114", "effective": "2026-11-01"}
        ]
    },
    "Record": {
        **_object(
            _RECORD_FIELDS,
            required=(
                "aeo_id",
                "identifiers",
                "legal_name",
                "address",
                "certificate",
                "status",
                "authorised",
                "roles",
            ),
        ),
        "description": f"at most {MAX_RECORD_BYTES:,} bytes as RFC 8785 canonical JSON"
        " (only a record with many identifiers comes near); a larger one is refused with a 422"
        " naming identifiers",
        "examples": [EXAMPLE_RECORD],
    },
    "View": _object(
        {
            **_RECORD_FIELDS,
            "status": _object(
                {"code": _STATUS_CODE, "reason": _nullable(_STRING), "effective": _DATE}
            ),
        },
        required=("aeo_id",),
    ),
    "Answer": {
        "oneOf": [
            _object(
                {
                    "origin": _STRING,
                    "seq": _SEQ,
                    "record": _ref("Record"),
                    "evidence": _EVIDENCE,
                    **_CLOCKS,
                },
                required=("origin", "seq", "record"),
            ),
            _object(
                {
                    "origin": _STRING,
                    "seq": _SEQ,
                    "agreements": _array(_STRING),
                    "view": _ref("View"),
                    "evidence": _EVIDENCE,
                    **_CLOCKS,
                },
                required=("origin", "seq", "agreements", "view"),
            ),
        ],
        "description": "an own record in full, or the view of a partner's record received;"
        " in_force_on and as_of echo the clocks the query read (absent: the latest version)",
    },
    "Results": _object({"results": _array(_ref("Answer"))}, required=("results",)),
    "Lookup": _object(
        {
            **_LOOKUP_ANSWER["properties"],
            "answered_by": {
                **_COUNTRY,
                "description": "the member that answered: the origin, asked directly",
            },
            "detail": {**_STRING, "description": "what the answer means, in words"},
        },
        required=("origin", "answered_by", "scheme", "found", "not_found", "detail"),
    ),
    "Query": _object(
        {
            "ids": _array({**_STRING, "description": "an AEO id"}, maxItems=MAX_BATCH),
            "evidence": {"type": "boolean"},
            "as_of": _nullable(
                {
                    **_STRING,
                    "description": "ledger time: each version as the ledger showed it at this"
                    " instant (ISO 8601 date or date-time; a date means its end)",
                }
            ),
            "in_force_on": _nullable(
                {
                    **_DATE,
                    "description": "legal time: the version whose status was in force on this"
                    " date, as now known, or as known at as_of when both are given",
                }
            ),
        },
        required=("ids",),
        closed=False,
    )
    | {"examples": [{"ids": ["BR000000001", "UY000000042"], "evidence": False}]},
    "Found": _object(
        {
            "found": {"type": "object", "additionalProperties": _ref("Answer")},
            "unknown": _array(_STRING),
        },
        required=("found", "unknown"),
    ),
    "Publish": {
        "anyOf": [
            _ref("Record"),
            _object(
                {"records": _array(_ref("Record"), minItems=1, maxItems=MAX_BATCH)},
                required=("records",),
            ),
        ]
    },
    "Published": _object(
        {"appended": _array(_ENTRY), "unchanged": _array(_AEO_ID)},
        required=("appended", "unchanged"),
    ),
    "Appended": _object({"appended": _array(_ENTRY)}, required=("appended",)),
    "Entry": _ENTRY,
    "Agreements": _array(
        _object(
            {
                "id": _STRING,
                "phase": _STRING,
                "state": _STRING,
                "no_member": _array(_STRING),
                "document": {"type": "object"},
            },
            required=("id", "phase", "state", "no_member", "document"),
        )
    ),
    "AgreementDocument": {
        **_object(
            {
                "id": {"type": "string", "pattern": AGREEMENT_ID.pattern},
                "version": {"type": "integer", "minimum": 1},
                "kind": {"type": "string", "enum": [k.value for k in AgreementKind]},
                "parties": _array(
                    _COUNTRY,
                    uniqueItems=True,
                    minItems=2,
                    description="two for a bilateral agreement, three or more otherwise",
                ),
                "contract": {"type": "string", "pattern": CONTRACT_NAME.pattern},
                "contract_version": {"type": "integer", "minimum": 1},
                "contract_sha256": {"type": "string", "pattern": SHA256_HEX.pattern},
                "params": _nullable(
                    {"type": "object", "description": "as the contract defines them"}
                ),
                "valid_from": _DATE,
                "valid_until": _nullable({**_DATE, "description": "after valid_from"}),
                "title": {"type": "string", "minLength": 1, "maxLength": 512},
                "legal_ref": {"type": "string", "minLength": 1, "maxLength": 512},
                "retention_days": _nullable(
                    {"type": "integer", "minimum": 1, "maximum": MAX_RETENTION_DAYS}
                ),
            },
            required=(
                "id",
                "kind",
                "parties",
                "contract",
                "contract_version",
                "contract_sha256",
                "valid_from",
                "title",
                "legal_ref",
            ),
        ),
        "description": "an agreement document; an amendment keeps the id, with a higher version",
    },
    "Rotation": _object(
        {"seq": _SEQ, "public_key": _HEX32, "since": _SEQ, "revoked_from": _SEQ},
        required=("seq", "public_key", "since"),
    ),
    "RotationRequest": _object({"compromised": {"type": "boolean"}, "revoked_from": _SEQ}),
    "Keys": {
        "type": "object",
        "additionalProperties": _array(
            _object({"since": _SEQ, "public_key": _HEX32}, required=("since", "public_key"))
        ),
    },
    "Forks": _array({"type": "object"}),
    "LostTail": _object(
        {
            "origin": _COUNTRY,
            "held_here": {**_SEQ, "description": "entries of the own log the database holds"},
            "peers": {
                "type": "object",
                "additionalProperties": _STRING,
                "description": "per peer: answered, or why it did not",
            },
            "lost": _array(
                _object(
                    {
                        "seq": _SEQ,
                        "kind": _STRING,
                        "ts": _nullable(_SEQ),
                        "headers": {"type": "object", "description": "per peer holding it"},
                        "views": {"type": "object", "description": "per peer, the view sent"},
                        "documents": _array(_STRING),
                        "not_signed_here": _array(_STRING),
                    },
                    required=("seq", "kind", "ts", "headers", "views", "not_signed_here"),
                    closed=False,
                )
            ),
        },
        required=("origin", "held_here", "peers", "lost"),
    ),
    "Resolution": _object(
        {"resolution": {**_STRING, "minLength": 1}}, required=("resolution",), closed=False
    ),
    "Resolved": _object({"resolved": {"type": "integer", "minimum": 1}}, required=("resolved",)),
    "EraseRequest": _object({"reason": _TEXT}, required=("reason",))
    | {"examples": [{"reason": "LGPD Art. 18 request of 2026-11-20"}]},
    "Erasure": _object(
        {"seq": _SEQ, "entries": _array(_SEQ), "partners": _array(_STRING)},
        required=("seq", "entries", "partners"),
    ),
    "Health": _object(
        {
            "origin": _STRING,
            "name": _STRING,
            "schema": {"type": "integer"},
            "logs": {"type": "object", "additionalProperties": _SEQ},
            "peers": {"type": "object"},
            "lag": {"type": "object", "additionalProperties": _SEQ},
            "frozen": _array(_STRING),
            # why this node refuses to append (a peer holds more of its log), or null
            "appends_refused": _nullable(_STRING),
            # per peer, how many entries of this node's log it reported holding (issue 25)
            "own_log_at_peers": {"type": "object", "additionalProperties": _SEQ},
            # per member whose certificate is known here: when it expires (issue 24)
            "certificates": {
                "type": "object",
                "additionalProperties": _object(
                    {"expires": _STRING, "seconds_left": {"type": "integer"}},
                    required=("expires", "seconds_left"),
                ),
            },
            "warnings": _array(_STRING),
            # how many processes serve the API (mra node run --workers)
            "workers": {"type": "integer", "minimum": 1},
            # continuous verification: when it last completed a pass (ms), what it found
            "verification": _object(
                {
                    "last_complete": _nullable(_SEQ),
                    "damage_total": _SEQ,
                    "first_damage": _nullable(_STRING),
                },
                required=("last_complete", "damage_total", "first_damage"),
            ),
        },
        required=("origin", "name", "schema", "logs", "verification"),
    ),
    "Logs": _array(
        _object(
            {
                "origin": _STRING,
                "size": _SEQ,
                "root": _HEX32,
                "checkpoint_size": _SEQ,
                "cosigners": _array(_STRING),
            },
            required=("origin", "size", "root", "checkpoint_size", "cosigners"),
        )
    ),
    "Trail": _object(
        {
            "aeo_id": _AEO_ID,
            "origin": _STRING,
            "versions": _array(
                {
                    "type": "object",
                    "properties": {
                        "writer": {
                            **_STRING,
                            "description": "who wrote the version: the access log's actor of"
                            " its write (key:<id>, cli:<os user>@<host>[ as NAME]), peer <code>"
                            " for a partner's record, or unknown (written before actors were"
                            " logged)",
                        }
                    },
                },
                minItems=1,
            ),
            "deliveries": _array(_ACCESS),
            "queries": _array(_ACCESS),
            "erasures": _array({"type": "object"}),
            "erase_requests": _array(_ACCESS),
            "purges": _array({"type": "object"}),
        },
        required=(
            "aeo_id",
            "origin",
            "versions",
            "deliveries",
            "queries",
            "erasures",
            "erase_requests",
            "purges",
        ),
    ),
    "AuditPage": _object(
        {
            "rows": _array(
                _object(
                    {
                        "seq": _SEQ,
                        "time": {
                            **_TIME,
                            "description": "ISO 8601 UTC time with milliseconds",
                            "examples": ["2026-12-05T07:01:02.345Z"],
                        },
                        "ts": {"type": "integer", "description": "ms since the epoch (hashed)"},
                        "actor": {**_STRING, "examples": ["key:019a00ccfe9d", "peer:UY"]},
                        "actor_label": {
                            **_STRING,
                            "description": "the actor with its key's label or member's name",
                            "examples": ["key:019a00ccfe9d (UY border system)"],
                        },
                        "action": _STRING,
                        "channel": _STRING,
                        "aeo_id": _nullable(_STRING),
                        "agreements": _STRING,
                        "entry_origin": {
                            **_STRING,
                            "description": "a delivery: the origin of the entry delivered",
                        },
                        "entry_seq": _nullable(
                            {**_SEQ, "description": "a delivery: the entry's seq"}
                        ),
                        "view_hash": {
                            "type": "string",
                            "pattern": "^([0-9a-f]{64})?$",
                            "description": "a delivery: SHA-256 of the view's bytes",
                        },
                        "repeat_of": _nullable(
                            {**_SEQ, "description": "the row that first delivered this view"}
                        ),
                        "hash": _HEX32,
                    },
                    required=(
                        "seq",
                        "time",
                        "ts",
                        "actor",
                        "actor_label",
                        "action",
                        "channel",
                        "hash",
                    ),
                )
            ),
            "next": _nullable(_SEQ),
        },
        required=("rows", "next"),
    ),
    "Event": _object(
        {
            "id": {"type": "integer", "minimum": 1},
            "type": {"const": "aeo.status"},
            "time": _TIME,
            "aeo_id": _AEO_ID,
            "origin": _STRING,
            "seq": _SEQ,
            "status": _STATUS_CODE,
            "previous": _nullable(_STATUS_CODE),
            "effective": _nullable(_DATE),
        },
        required=("id", "type", "time", "aeo_id", "origin", "seq", "status"),
    ),
    "Events": _array(_ref("Event")),
    "ServerSentEvent": _object(
        {
            "id": {"type": "string", "pattern": "^[0-9]+$"},
            "event": {"const": "aeo.status"},
            "data": {
                "type": "string",
                "contentMediaType": JSON,
                "contentSchema": _ref("Event"),
            },
        },
        required=("id", "event", "data"),
    ),
    "WebhookRequest": _object(
        {"url": {**_STRING, "format": "uri", "description": "an http:// or https:// URL"}},
        required=("url",),
        closed=False,
    ),
    "Webhook": _object(
        {"id": _STRING, "url": _STRING, "secret": {**_STRING, "description": "shown once"}},
        required=("id", "url", "secret"),
    ),
    "Webhooks": _array(
        _object(
            {
                "id": _STRING,
                "url": _STRING,
                "created_ts": {"type": "integer"},
                "next_event": {"type": "integer"},
                "attempts": _array({"type": "object"}),
            },
            required=("id", "url", "attempts"),
        )
    ),
    "Removed": _object({"removed": _STRING}, required=("removed",)),
    # -- the peer endpoints (member certificates; network.service) --------------------------
    "PeerFrontier": _object(
        {
            "member": _COUNTRY,
            "membership": {"type": "integer", "description": "version of the membership held"},
            "member_updates": {
                "type": "object",
                "description": "per member that changed its own entry, the revision held",
                "additionalProperties": _SEQ,
            },
            "origins": {
                "type": "object",
                "description": "per origin held here",
                "additionalProperties": _object(
                    {
                        "size": _SEQ,
                        "checkpoint": {**_STRING, "description": "a C2SP signed note"},
                        "checkpoint_size": _SEQ,
                        "cosignatures": {"type": "object", "additionalProperties": _STRING},
                    },
                    required=("size", "checkpoint", "checkpoint_size", "cosignatures"),
                ),
            },
            "forks": _array({**_STRING, "description": "open fork evidence"}),
            "sharing": _array({**_STRING, "description": "agreements sharing with the asker"}),
        },
        required=("member", "membership", "origins", "forks", "sharing"),
    ),
    # Pages hold at most 500 items and about 4 MiB encoded (network.service.PAGE_BYTES).
    "PeerLogPage": _object(
        {
            "origin": _COUNTRY,
            "start": _SEQ,
            "entries": _array(_WIRE_ENTRY),
            "checkpoint": {**_STRING, "description": "the signed note the entries lead to"},
            "proof": _array(_HEX32, description="consistency from start to the checkpoint"),
        },
        required=("origin", "start", "entries", "checkpoint", "proof"),
    ),
    "PeerDeliveries": _object(
        {"start": _SEQ, "next": _SEQ, "items": _array(_SEALED)},
        required=("start", "next", "items"),
    ),
    "PeerPush": _object(
        {
            "origin": _COUNTRY,
            "start": _SEQ,
            "entries": _array(_WIRE_ENTRY),
            "checkpoint": _STRING,
            "proof": _array(_HEX32),
            "deliveries": _array(_SEALED),
        },
        required=("origin", "start", "entries", "checkpoint", "proof"),
    ),
    "PeerPushAnswer": _object(
        {
            "size": {**_SEQ, "description": "the size of the pusher's log held here now"},
            "cosignature": _nullable({**_STRING, "description": "a cosignature line"}),
        },
        required=("size", "cosignature"),
    ),
    "PeerMembership": {
        "type": "object",
        "description": "the signed membership document; ``updates``: per member, its signed"
        " update of its own entry (network.governance)",
    },
    "PeerMemberUpdate": _object(
        {
            "update": {"type": "object", "description": "network.governance.MemberUpdate"},
            "signature": {**_STRING, "description": "by the member's ledger key (hex)"},
        },
        required=("update", "signature"),
    ),
    "PeerMemberUpdateAnswer": _object(
        {"revision": {**_SEQ, "description": "the member's revision in force here now"}},
        required=("revision",),
    ),
    "PeerForks": _array({**_STRING, "description": "open fork evidence"}),
    "PeerHeld": _object(
        {
            "origin": _COUNTRY,
            "start": _SEQ,
            "size": {**_SEQ, "description": "entries of the caller's log held here"},
            "next": {**_SEQ, "description": "where the following page starts"},
            "items": _array(
                _object(
                    {
                        "seq": _SEQ,
                        "kind": _STRING,
                        "ts": {**_SEQ, "description": "the entry's time (ms since the epoch)"},
                        "hash": {**_STRING, "description": "the entry hash (hex)"},
                        "body": {**_STRING, "description": "the signed header (base64)"},
                        "signature": {**_STRING, "description": "its signature (base64)"},
                        "document": {
                            "type": "boolean",
                            "description": "a whole payload (an agreement, an erasure) was"
                            " delivered here",
                        },
                        "view": _object(
                            {
                                "aeo_id": _STRING,
                                "hash": {**_STRING, "description": "SHA-256 of the view (hex)"},
                                "agreements": _array(_STRING),
                                "received_ts": _nullable(_SEQ),
                                "fields": {"type": "object"},
                            },
                            required=("aeo_id", "hash", "agreements", "fields"),
                        ),
                    },
                    required=("seq", "kind", "ts", "hash", "body", "signature", "document"),
                ),
                maxItems=200,
            ),
        },
        required=("origin", "start", "size", "next", "items"),
    ),
    "PeerLookup": _object(
        {
            "scheme": {**_STRING, "description": "EORI, TIN, CTPAT (or C-TPAT) or OTHER"},
            "value": {**_STRING, "description": "EORI and CTPAT values match in any case"},
        },
        required=("scheme", "value"),
        closed=False,
    ),
    "PeerLookupAnswer": _LOOKUP_ANSWER,
    "PeerQuery": _object(
        {"ids": _array(_STRING, maxItems=10_000), "evidence": {"type": "boolean"}},
        required=("ids",),
    ),
    "PeerQueryAnswer": _object(
        {
            "found": {
                "type": "object",
                "additionalProperties": _object(
                    {
                        "origin": _COUNTRY,
                        "seq": _SEQ,
                        "agreements": _array(_STRING),
                        "view": {"type": "object"},
                        "evidence": _EVIDENCE,
                        "evidence_pending": {
                            **_STRING,
                            "description": "why no bundle yet: no checkpoint covering the"
                            " record is cosigned by the quorum (docs/evidence.md)",
                        },
                    },
                    required=("origin", "seq", "agreements", "view"),
                ),
            },
            "unknown": _array(_STRING),
        },
        required=("found", "unknown"),
    ),
}
