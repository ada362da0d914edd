"""An evidence verifier written from docs/evidence.md and the public specifications alone.

It imports nothing of this project: only the standard library and PyNaCl. Its purpose is to
show that the document is complete: tests run it beside the reference verifier
(network/evidence.py) over every vector and many mutants, and the two must agree.

``verify(data, membership_data)`` returns a short summary or raises ``Refused``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import nacl.exceptions
import nacl.signing


class Refused(Exception):
    pass


def need(condition: object, why: str) -> None:
    if not condition:
        raise Refused(why)


# -- encodings ----------------------------------------------------------------------------------


def strict_json(data: bytes) -> Any:
    need(not data.startswith(b"\xef\xbb\xbf"), "BOM")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("not UTF-8") from None

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        need(len({k for k, _ in items}) == len(items), "duplicate member name")
        return dict(items)

    def number(_: str) -> Any:
        raise Refused("not an integer")

    def integer(text: str) -> int:
        need(text != "-0", "minus zero")
        return int(text)

    try:
        return json.loads(
            text,
            object_pairs_hook=pairs,
            parse_float=number,
            parse_int=integer,
            parse_constant=number,
        )
    except ValueError:
        raise Refused("not JSON") from None


def jcs(value: Any) -> bytes:
    """RFC 8785 for the values bundles hold (no fractional numbers)."""

    def enc(v: Any) -> str:
        if v is None:
            return "null"
        if v is True:
            return "true"
        if v is False:
            return "false"
        if isinstance(v, int):
            need(abs(v) <= 2**53 - 1, "integer out of range")
            return str(v)
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, list):
            return "[" + ",".join(enc(x) for x in v) + "]"
        if isinstance(v, dict):
            keys = sorted(v, key=lambda k: k.encode("utf-16-be"))
            return "{" + ",".join(enc(k) + ":" + enc(v[k]) for k in keys) + "}"
        raise Refused("not a JSON value for JCS")

    return enc(value).encode("utf-8")


def canonical_object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise Refused("not JSON") from None
    need(isinstance(value, dict), "not an object")
    need(jcs(value) == data, "not RFC 8785 bytes")
    return dict(value)


B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}\Z")
HEX64 = re.compile(r"[0-9a-f]{64}\Z")


def b64(value: Any) -> bytes:
    need(isinstance(value, str) and B64.match(value) and len(value) % 4 == 0, "base64")
    raw = base64.b64decode(value)
    need(base64.b64encode(raw).decode() == value, "base64 pad bits")
    return raw


def exact(value: Any, names: set[str]) -> dict[str, Any]:
    need(isinstance(value, dict) and set(value) == names, f"members {sorted(names)}")
    return dict(value)


def ed25519(key: bytes, message: bytes, signature: bytes) -> bool:
    if len(signature) != 64:
        return False
    try:
        nacl.signing.VerifyKey(key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
        return False
    return True


def sha256(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


# -- entries and trees --------------------------------------------------------------------------

KINDS = {
    "aeo.upsert",
    "aeo.status",
    "aeo.erase",
    "aeo.purge",
    "agreement.propose",
    "agreement.approve",
    "agreement.withdraw",
    "key.rotate",
    "access.anchor",
}


def entry_body(body: bytes) -> dict[str, Any]:
    e = canonical_object(body)
    need(set(e) == {"commitment", "kind", "origin", "prev", "seq", "ts", "v"}, "entry members")
    need(e["v"] == 1 and type(e["v"]) is int, "v")
    need(isinstance(e["origin"], str) and re.fullmatch(r"[A-Z]{2}", e["origin"]), "origin")
    need(type(e["seq"]) is int and e["seq"] >= 0, "seq")
    need(type(e["ts"]) is int and e["ts"] >= 0, "ts")
    need(e["kind"] in KINDS, "kind")
    for name in ("prev", "commitment"):
        need(isinstance(e[name], str) and HEX64.match(e[name]), name)
    return e


def entry_signed(body: bytes, signature: bytes, key: bytes) -> bool:
    return ed25519(key, b"mra-ledger/entry-sig/v1\x00" + body, signature)


def opens(entry: dict[str, Any], salt: bytes, body: bytes) -> bool:
    return sha256(b"mra-ledger/payload/v1\x00", salt, body).hex() == entry["commitment"]


def included(leaf: bytes, index: int, size: int, proof: Any, root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    need(isinstance(proof, list), "inclusion is an array")
    need(all(isinstance(h, str) and HEX64.match(h) for h in proof), "lower-case hex")
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, sha256(b"\x00", leaf)
    for p in (bytes.fromhex(h) for h in proof):
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = sha256(b"\x01", p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = sha256(b"\x01", r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def key_id(name: str, kind: int, key: bytes) -> bytes:
    return sha256(name.encode(), b"\n", bytes([kind]), key)[:4]


# -- membership ---------------------------------------------------------------------------------


def rotations_of(
    code: str, first: bytes, wires: Any, extra: set[str]
) -> list[tuple[dict[str, Any], bytes, dict[str, Any]]]:
    """(entry body, new key, wire) per rotation, each checked and signed by the key before."""
    need(isinstance(wires, list), "rotations array")
    out: list[tuple[dict[str, Any], bytes, dict[str, Any]]] = []
    key = first
    for wire in wires:
        w = exact(wire, {"body", "signature", "salt", "payload"} | extra)
        body, signature = b64(w["body"]), b64(w["signature"])
        e = entry_body(body)
        need(e["origin"] == code and e["kind"] == "key.rotate", "a rotation of this member")
        need(not out or e["seq"] > out[-1][0]["seq"], "increasing seq")
        need(len(signature) == 64 and entry_signed(body, signature, key), "rotation signature")
        salt, payload = b64(w["salt"]), b64(w["payload"])
        need(opens(e, salt, payload), "rotation payload")
        doc = canonical_object(payload)
        need(set(doc) == {"key"} and isinstance(doc["key"], str) and HEX64.match(doc["key"]), "key")
        key = bytes.fromhex(doc["key"])
        out.append((e, key, w))
    return out


def membership(data: bytes) -> tuple[dict[str, bytes], dict[str, list[bytes]]]:
    """(code -> first key, code -> rotation bodies the membership carries)."""
    m = json.loads(data)
    doc, signatures = m["document"], m["signatures"]
    message = b"mra-ledger/membership-sig/v1\x00" + jcs(doc)
    first = {x["code"]: bytes.fromhex(x["signing_key"]) for x in doc["members"]}
    known: dict[str, list[bytes]] = {}
    for code, key in first.items():
        chain = rotations_of(code, key, m.get("rotations", {}).get(code, []), set())
        keys = [key, *(k for _, k, _ in chain)]
        signature = bytes.fromhex(signatures[code])
        need(any(ed25519(k, message, signature) for k in keys), f"membership signed by {code}")
        known[code] = [b64(w["body"]) for _, _, w in chain]
    return first, known


# -- the bundle ---------------------------------------------------------------------------------

TOP = {
    "format",
    "origin",
    "seq",
    "entry",
    "checkpoint",
    "inclusion",
    "cosignatures",
    "rotations",
    "cosigner_rotations",
}
DASH = "\u2014"


def verify(data: bytes, membership_data: bytes) -> str:
    first, known = membership(membership_data)
    document = strict_json(data)
    need(isinstance(document, dict), "an object")
    answer = None
    if "format" not in document:
        shown = "view" if "view" in document else "record"
        names = {"origin", "seq", shown, "evidence"} | (
            {"agreements"} if shown == "view" else set()
        )
        answer = exact(document, names)
        if shown == "view":
            agreements = answer["agreements"]
            need(
                isinstance(agreements, list) and all(isinstance(a, str) for a in agreements),
                "agreements",
            )
        document = answer["evidence"]
        need(isinstance(document, dict), "an evidence object")
    b: dict[str, Any] = document

    # 2. members
    need(b.get("format") == "mra-evidence/v2", "format")
    rest = set(b) - TOP
    need(set(b) >= TOP and rest in ({"payload"}, {"view"}), "bundle members")
    origin, seq = b["origin"], b["seq"]
    need(isinstance(origin, str) and origin in first, "origin a member")
    need(type(seq) is int and seq >= 0, "seq")

    # 3. checkpoint
    note = b["checkpoint"]
    need(isinstance(note, str), "checkpoint text")
    layout = r"(mra-ledger/([A-Z]{2})\n(0|[1-9][0-9]{0,19})\n([A-Za-z0-9+/=]+)\n)\n"
    m = re.fullmatch(layout + r"(\u2014 (\S+) (\S+)\n)", note)
    need(m, "checkpoint layout")
    assert m is not None
    text = m.group(1).encode()
    need(m.group(2) == origin and m.group(6) == f"mra-ledger/{origin}", "checkpoint origin")
    size = int(m.group(3))
    root = b64(m.group(4))
    need(len(root) == 32, "root")
    origin_sig = b64(m.group(7))
    need(seq < size, "seq inside the checkpoint")

    # 4. origin rotations
    chain = rotations_of(origin, first[origin], b["rotations"], {"inclusion"})
    need(all(e["seq"] < size - 1 for e, _, _ in chain), "rotations below size - 1")
    for e, _, w in chain:
        leaf = b64(w["body"]) + b64(w["signature"])
        need(included(leaf, e["seq"], size, w["inclusion"], root), "rotation inclusion")
    wanted = [body for body in known.get(origin, []) if entry_body(body)["seq"] < size - 1]
    need(
        [b64(w["body"]) for _, _, w in chain[: len(wanted)]] == wanted,
        "membership rotations listed",
    )

    def key_at(s: int) -> bytes:
        key = first[origin]
        for e, k, _ in chain:
            if e["seq"] + 1 <= s:
                key = k
        return key

    # 5. checkpoint signature
    signer = key_at(size - 1)
    need(len(origin_sig) == 68, "checkpoint signature length")
    need(origin_sig[:4] == key_id(f"mra-ledger/{origin}", 1, signer), "checkpoint key id")
    need(ed25519(signer, text, origin_sig[4:]), "checkpoint signature")

    # 6. the entry
    we = exact(b["entry"], {"body", "signature"})
    body, signature = b64(we["body"]), b64(we["signature"])
    entry = entry_body(body)
    need(entry["origin"] == origin and entry["seq"] == seq, "entry position")
    need(entry["kind"] in ("aeo.upsert", "aeo.status"), "entry kind")
    need(len(signature) == 64 and entry_signed(body, signature, key_at(seq)), "entry signature")
    need(included(body + signature, seq, size, b["inclusion"], root), "entry inclusion")

    # 7. payload or view
    recipient = None
    if "payload" in b:
        p = exact(b["payload"], {"salt", "body"})
        shown_body = b64(p["body"])
        need(opens(entry, b64(p["salt"]), shown_body), "commitment")
    else:
        v = exact(b["view"], {"recipient", "body", "signature"})
        recipient = v["recipient"]
        need(isinstance(recipient, str) and recipient in first and recipient != origin, "recipient")
        shown_body = b64(v["body"])
        message = (
            b"mra-ledger/view-sig/v1\x00"
            + sha256(b"mra-ledger/entry/v1\x00", body)
            + recipient.encode("ascii")
            + b"\x00"
            + shown_body
        )
        keys = {key_at(seq)} | {k for e, k, _ in chain if seq <= e["seq"] + 1 <= size - 1}
        need(any(ed25519(k, message, b64(v["signature"])) for k in keys), "view signature")
    record = canonical_object(shown_body)
    need(str(record.get("aeo_id", "")).startswith(origin), "aeo_id of the origin")

    # 8. cosignatures
    lines, more = b["cosignatures"], b["cosigner_rotations"]
    need(isinstance(lines, dict) and isinstance(more, dict), "objects")
    need(set(more) <= set(lines), "rotations of listed cosigners only")
    for witness, line in lines.items():
        need(witness in first and witness != origin, "cosigner a member other than the origin")
        lm = (
            re.fullmatch(r"\u2014 mra-ledger/([A-Z]{2}) (\S+)\n", line)
            if isinstance(line, str)
            else None
        )
        need(lm and lm.group(1) == witness, "cosignature line")
        assert lm is not None
        raw = b64(lm.group(2))
        need(len(raw) == 76, "cosignature length")
        t = int.from_bytes(raw[4:12], "big")
        if witness in more:
            need(isinstance(more[witness], list) and more[witness], "non-empty")
        wchain = rotations_of(witness, first[witness], more.get(witness, []), set())
        need(all(e["ts"] // 1000 <= t for e, _, _ in wchain), "rotations dated at or before")
        wanted = [x for x in known.get(witness, []) if entry_body(x)["ts"] // 1000 <= t]
        need(
            [b64(w["body"]) for _, _, w in wchain[: len(wanted)]] == wanted, "membership rotations"
        )
        k = wchain[-1][1] if wchain else first[witness]
        message = b"cosignature/v1\ntime " + str(t).encode() + b"\n" + text
        need(raw[:4] == key_id(f"mra-ledger/{witness}", 4, k), "cosignature key id")
        need(ed25519(k, message, raw[12:]), "cosignature")
    q = (len(first) - 1) // 2 + 1
    need(len(lines) >= q, "quorum")

    # 9. the answer around it
    if answer is not None:
        shown = "record" if recipient is None else "view"
        need(shown in answer, "answer shows what is proven")
        need(
            type(answer["seq"]) is int and (answer["origin"], answer["seq"]) == (origin, seq),
            "answer position",
        )
        try:
            same = jcs(answer[shown]) == jcs(record)
        except Refused:
            same = False
        need(same, "answer document")
    return f"{origin}#{seq} at {size}, {sorted(lines)}"
