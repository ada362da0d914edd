"""Checks shared by contract parameter validators; errors name ``params.<field>``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from node.core.errors import InvalidInput

__all__ = ["bool_param", "only_known", "subset_param"]


def only_known(params: Mapping[str, Any], known: Iterable[str]) -> None:
    allowed = set(known)
    for name in params:
        if name not in allowed:
            raise InvalidInput("unknown parameter for this contract", field=f"params.{name}")


def subset_param(
    params: Mapping[str, Any], name: str, allowed: Iterable[str], *, required: bool = True
) -> list[str]:
    """A non-empty list drawn from ``allowed``, without repeats."""
    choices = set(allowed)
    value = params.get(name)
    if value is None:
        if required:
            raise InvalidInput("is required", field=f"params.{name}")
        return sorted(choices)
    if not isinstance(value, list) or not value:
        raise InvalidInput("must be a non-empty list", field=f"params.{name}")
    for i, item in enumerate(value):
        if item not in choices:
            raise InvalidInput(
                f"{item!r} is not one of {sorted(choices)}", field=f"params.{name}[{i}]"
            )
    if len(set(value)) != len(value):
        raise InvalidInput("an item is named twice", field=f"params.{name}")
    return list(value)


def bool_param(params: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = params.get(name, default)
    if not isinstance(value, bool):
        raise InvalidInput("must be true or false", field=f"params.{name}")
    return value
