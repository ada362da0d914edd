"""How bytes travel inside the JSON that nodes exchange: standard base64 (RFC 4648 §4)."""

from __future__ import annotations

import base64

from node.canonical import unb64

__all__ = ["b64", "unb64"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
