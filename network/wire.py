"""How bytes travel inside the JSON that nodes exchange: standard base64 (RFC 4648 §4)."""

from __future__ import annotations

import base64

from node.errors import InvalidInput

__all__ = ["b64", "unb64"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(value: object, field: str) -> bytes:
    """The bytes of base64 text; raises InvalidInput naming ``field`` for anything else."""
    if not isinstance(value, str):
        raise InvalidInput("base64 text", field=field)
    try:
        data = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise InvalidInput("base64 text", field=field) from exc
    if base64.b64encode(data).decode("ascii") != value:
        # RFC 4648 §3.5: pad bits must be zero, so that one value has one encoding.
        raise InvalidInput("canonical base64 (zero pad bits)", field=field)
    return data
