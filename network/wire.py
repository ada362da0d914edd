"""How bytes travel inside the JSON that nodes exchange: standard base64 (RFC 4648 §4), and
how many bytes of JSON they take there (what pages of gossip are bounded by)."""

from __future__ import annotations

import base64

from node.core.canonical import unb64

__all__ = ["b64", "encoded_size", "unb64"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def encoded_size(*parts: bytes | None) -> int:
    """Bytes that ``parts`` take in a JSON message: their base64 text, quoted, with a name and
    separators (an upper bound, counted without encoding anything)."""
    return sum(4 * ((len(p) + 2) // 3) + 16 for p in parts if p is not None)
