"""The access trail of ``MemoryStore`` (node.store.memory): the rows and their hash chain in a
list, as ``node.store.sqlite.local`` keeps them in the ``access_log`` table (a delivery that
repeats an earlier one names it in ``repeat_of``)."""

from __future__ import annotations

from dataclasses import astuple, replace
from typing import Any

from node.core.access import ACCESS_FIELDS, ACCESS_GENESIS, Access, access_hash

__all__ = ["MemoryAccessTrail"]


class MemoryAccessTrail:
    """``AccessTrail`` (node.store.protocols) over a list of (row, hash)."""

    def __init__(self) -> None:
        self._access: list[tuple[Access, bytes]] = []

    def append_access(self, rows: list[Access]) -> None:
        prev = self._access[-1][1] if self._access else ACCESS_GENESIS
        for access in rows:
            if access.entry_seq is not None and access.view_hash:
                key = (access.actor, access.entry_origin, access.entry_seq, access.view_hash)
                earlier = (
                    seq
                    for seq, (held, _) in enumerate(self._access)
                    if held.repeat_of is None
                    and (held.actor, held.entry_origin, held.entry_seq, held.view_hash) == key
                )
                access = replace(access, repeat_of=next(earlier, None))
            prev = access_hash(prev, len(self._access), access)
            self._access.append((access, prev))

    def access_size(self) -> int:
        return len(self._access)

    def access_hash(self, seq: int) -> bytes | None:
        return self._access[seq][1] if 0 <= seq < len(self._access) else None

    def access_rows(
        self,
        *,
        since: int | None = None,
        until: int | None = None,
        actor: str | None = None,
        aeo_id: str | None = None,
        action: str | None = None,
        entry_seq: int | None = None,
        repeats: bool = True,
        after: int = -1,
        before: int | None = None,
        newest_first: bool = False,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        found = []
        for seq, (access, hash_) in enumerate(self._access):
            if before is not None and seq >= before:
                continue
            if seq <= after or (since is not None and access.ts < since):
                continue
            if until is not None and access.ts >= until:
                continue
            wanted = (
                (actor, access.actor),
                (aeo_id, access.aeo_id),
                (action, access.action),
                (entry_seq, access.entry_seq),
            )
            if any(value is not None and value != held for value, held in wanted):
                continue
            if not repeats and access.repeat_of is not None:
                continue
            row = dict(zip(ACCESS_FIELDS, astuple(access), strict=True))
            found.append({"seq": seq, **row, "hash": hash_.hex()})
        return (found[::-1] if newest_first else found)[:limit]
