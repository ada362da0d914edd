"""Everything ``mra ledger verify`` checks: each damage named, every check run, never a crash.

The logs are verified by ``node.ledger.fsck`` (fail closed per log, at its first damaged entry);
this module runs that for each log and then checks what the node answers from besides the
logs, in numbered steps, collecting every damage:

1. SQLite's own check of the file's pages and indexes              -> ``sqlite-corrupt``
   (PostgreSQL: none here; the server checks its pages' checksums)
2. every table, index and trigger is as the migrations created it  -> ``schema-altered``
   (PostgreSQL: the schema version, the append-only triggers enabled
   and their functions as written)
3. every log held (``node.ledger.fsck``, its steps 1-8)                    -> see there
4. no payload without its entry; no row filed under an origin       -> ``orphan-payload``,
   that has neither keys nor entries                                   ``stray-origin``
5. every view held is of an entry held, signed by its origin for    -> ``view-orphan``,
   this node under the key in force at that seq, and files the         ``view-signature``,
   record it shows                                                     ``view-mismatch``
6. every cosignature held verifies under one of its witness's keys, -> ``cosignature-invalid``
   on a checkpoint held
7. the derived tables equal a rebuild of them from the log          -> ``derived-mismatch``
8. the access log's hash chain, every anchor of it that the own     -> ``access-mismatch``,
   log signs, and (SQLite) its index by AEO id against its rows        ``access-gap``,
                                                                       ``access-anchor``,
                                                                       ``access-index``
9. every API key row carries the HMAC this software gave it         -> ``api-key-altered``

A step that meets something it cannot even read names that too (``unreadable``): verification
reports damage, it does not crash on it.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from node.core.access import check_access_chain
from node.core.checkpoint import SignedNote, verify_cosignature
from node.core.errors import IntegrityError, MraError
from node.core.logs import log_name
from node.ledger.access_anchor import check_anchors
from node.ledger.fsck import LogReport, Progress, verify_log
from node.ledger.fsck_parallel import verify_log_parallel
from node.ledger.view_checks import view_damage
from node.store.open import NodeStore
from node.store.postgres import PostgresStore
from node.store.sqlite import ACCESS_MIGRATIONS, ACCESS_OBJECTS, MIGRATIONS, SqliteStore

__all__ = ["Verification", "verify_node", "verify_store"]

MAX_NAMED = 20  # differences named per derived table; the count says how many more


@dataclass(frozen=True, slots=True, kw_only=True)
class Verification:
    """What verification found: the logs that passed, and every damage, in step order."""

    logs: list[LogReport] = field(default_factory=list)
    damages: list[IntegrityError] = field(default_factory=list)
    views: int = 0
    access_rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.damages


def verify_store(
    store: NodeStore,
    *,
    own: str | None = None,
    executor: Executor | None = None,
    progress: Progress | None = None,
    processes: int = 1,
) -> list[LogReport]:
    """``verify_node``, raising the first damage (IntegrityError) if there is any."""
    result = verify_node(store, own=own, executor=executor, progress=progress, processes=processes)
    if result.damages:
        raise result.damages[0]
    return result.logs


Check = Callable[[NodeStore, str | None, Executor | None], Iterable[IntegrityError]]


def verify_node(
    store: NodeStore,
    *,
    own: str | None = None,
    quick: bool = False,
    executor: Executor | None = None,
    progress: Progress | None = None,
    processes: int = 1,
) -> Verification:
    """Run every step of the module docstring over ``store`` (``own``: the node's origin).

    ``quick`` runs SQLite's ``quick_check`` instead of ``integrity_check`` (it skips the
    check that indexes match their tables). Never raises for damage: it is all in the result.
    """
    before, after = before_logs(quick=quick), AFTER_LOGS
    with _side_threads(store) as side:
        # Steps 1-2 and 4-9 read the file on connections of their own, beside the logs' pass.
        early = [_start(side, name, check, store, own, executor) for name, check in before]
        late = [_start(side, name, check, store, own, executor) for name, check in after]
        logs, log_damages = _verify_logs(store, own, executor, progress, processes)
        damages = [damage for found in early for damage in found()]
        damages += log_damages
        damages += [damage for found in late for damage in found()]
    return Verification(
        logs=logs,
        damages=damages,
        views=_counted(store.count_views),
        access_rows=_counted(store.access_size),
    )


def _counted(count: Callable[[], int]) -> int:
    """A count for the report, 0 when the table cannot be read: the checks that read its
    rows (and SQLite's own) have named that damage."""
    try:
        return count()
    except _UNREADABLE:
        return 0


def _verify_logs(
    store: NodeStore,
    own: str | None,
    executor: Executor | None,
    progress: Progress | None,
    processes: int,
) -> tuple[list[LogReport], list[IntegrityError]]:
    """Step 3: every log, each passing or naming its first damage."""
    logs: list[LogReport] = []
    damages: list[IntegrityError] = []
    for origin in store.origins():
        try:
            if processes > 1 and isinstance(store, SqliteStore):  # workers open the file
                logs.append(
                    verify_log_parallel(
                        store, origin, own=origin == own, processes=processes, progress=progress
                    )
                )
            else:
                logs.append(
                    verify_log(
                        store, origin, own=origin == own, executor=executor, progress=progress
                    )
                )
        except IntegrityError as damage:
            # Without its traceback, so the frames (and the cursors they hold open) go now.
            damages.append(damage.with_traceback(None))
        except _UNREADABLE as exc:
            damages.append(IntegrityError("unreadable", f"log {origin}: {exc}"))
    return logs, damages


@contextmanager
def _side_threads(store: NodeStore) -> Iterator[ThreadPoolExecutor | None]:
    """Two threads for the steps besides the logs when ``store`` is a SQLite file: each
    thread reads it on a connection of its own (SQLite releases the GIL while it works, and
    the logs' pass runs in processes of its own), so the integrity check and the rebuild of
    the derived tables no longer wait for the signatures, nor leave a core idle. Otherwise
    (PostgreSQL, an in-memory file): None, every step in turn on the calling thread."""
    if not isinstance(store, SqliteStore) or str(store.path) in ("", ":memory:"):
        yield None
        return
    with ThreadPoolExecutor(2, thread_name_prefix="verify") as threads:
        yield threads


def _start(
    side: ThreadPoolExecutor | None,
    name: str,
    check: Check,
    store: NodeStore,
    own: str | None,
    executor: Executor | None,
) -> Callable[[], list[IntegrityError]]:
    """Start one check (on ``side``, when given); the returned function gives its damages."""
    if side is None:
        found = run_check(name, check, store, own, executor)
        return lambda: found
    return side.submit(run_check, name, check, store, own, executor).result


# Damage can make a row unreadable in ways no parser expects: a check that meets it names it.
_UNREADABLE = (MraError, sqlite3.Error, ValueError, TypeError, KeyError, OSError)


def run_check(
    name: str, check: Check, store: NodeStore, own: str | None, executor: Executor | None
) -> list[IntegrityError]:
    """Every damage one check names; what stops it is named too, never raised."""
    try:
        return list(check(store, own, executor))
    except IntegrityError as damage:
        return [damage.with_traceback(None)]
    except _UNREADABLE as exc:
        return [IntegrityError("unreadable", f"{name}: {exc}")]


def before_logs(*, quick: bool) -> list[tuple[str, Check]]:
    """Steps 1-2: SQLite's own check (``quick_check`` with ``quick``), then the schema."""

    def sqlite_damage(store: NodeStore, *_: object) -> Iterator[IntegrityError]:
        if isinstance(store, PostgresStore):
            return  # the server checks its pages (data checksums, when the cluster has them)
        for problem in store.integrity_problems(quick=quick):
            yield IntegrityError("sqlite-corrupt", problem)

    return [("integrity check", sqlite_damage), ("schema", schema_damage)]


def orphan_damage(store: NodeStore, *_: object) -> Iterator[IntegrityError]:
    """Step 4: payloads without entries, rows of unknown origins."""
    orphan = store.orphan_payload()
    if orphan is not None:
        yield IntegrityError(
            "orphan-payload",
            "a payload is stored without its entry",
            origin=orphan[0],
            seq=orphan[1],
        )
    for table, origin in store.stray_origins():
        yield IntegrityError("stray-origin", f"{table} holds rows of {origin}, an unknown origin")


def access_damage(store: NodeStore, own: str | None, _: object) -> Iterator[IntegrityError]:
    """Step 8: the access log's chain, then its anchors in the own log, then (SQLite) its
    index by AEO id, which audits answer from."""
    check_access_chain(store.access_chain())
    if own is not None:
        check_anchors(store, own)
    if isinstance(store, SqliteStore):
        for problem in store.access_index_problems(limit=MAX_NAMED):
            yield IntegrityError("access-index", f"the access log's index by AEO id: {problem}")


def api_key_damage(store: NodeStore, *_: object) -> Iterator[IntegrityError]:
    """Step 9: API key rows as this software wrote them."""
    for row in store.api_keys():
        if not row["intact"]:
            yield IntegrityError("api-key-altered", f"the row of key {row['key_id']} was changed")


def schema_damage(store: NodeStore, *_: object) -> Iterator[IntegrityError]:
    """Step 2: the tables, indexes and triggers, each as the migrations wrote it (on
    PostgreSQL: the schema version, and the append-only triggers and their functions)."""
    if isinstance(store, PostgresStore):
        for problem in store.schema_problems():
            yield IntegrityError("schema-altered", problem)
        return
    expected = _expected_schema()
    held = store.schema_objects()
    for (kind, name), sql in sorted(expected.items()):
        if (kind, name) not in held:
            yield IntegrityError("schema-altered", f"{kind} {name} missing")
        elif held[(kind, name)] != sql:
            yield IntegrityError("schema-altered", f"{kind} {name} differs from its migration")
    for kind, name in sorted(set(held) - set(expected)):
        yield IntegrityError("schema-altered", f"{kind} {name} was added")


_schema_cache: dict[tuple[str, str], str | None] = {}


def _expected_schema() -> dict[tuple[str, str], str | None]:
    """What ``SqliteStore.schema_objects`` holds when both files are as their migrations
    wrote them."""
    if not _schema_cache:
        _schema_cache.update(_migrated(MIGRATIONS, ""))
        _schema_cache.update(_migrated(ACCESS_MIGRATIONS, ACCESS_OBJECTS))
    return _schema_cache


def _migrated(
    migrations: tuple[tuple[str, ...], ...], prefix: str
) -> dict[tuple[str, str], str | None]:
    conn = sqlite3.connect(":memory:")
    try:
        for migration in migrations:
            for statement in migration:
                conn.execute(statement)
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchall()
    finally:
        conn.close()
    return {(kind, f"{prefix}{name}"): sql for kind, name, sql in rows}


def cosignature_damage(store: NodeStore, *_: object) -> Iterator[IntegrityError]:
    """Step 6: each cosignature line against the checkpoint it cosigns."""
    for origin, size, witness, line in store.all_cosignatures():
        note = store.checkpoint_at(origin, size)
        keys = [key for _, key in store.keys(witness)]
        valid = False
        if note is not None:
            try:
                text = SignedNote.parse(note).text
                cosigned = SignedNote.parse(text + b"\n" + line.encode())
            except MraError:
                cosigned = None
            valid = cosigned is not None and any(
                verify_cosignature(cosigned, log_name(witness), key) is not None for key in keys
            )
        if not valid:
            yield IntegrityError(
                "cosignature-invalid",
                f"{witness}'s cosignature of size {size} does not verify",
                origin=origin,
                seq=size - 1,
            )


def derived_damage(store: NodeStore, own: str | None, _: object) -> Iterator[IntegrityError]:
    """Step 7: rebuild the derived tables from the log into a temporary file, and name each
    row that differs (held but not derived, derived but not held, or both with other
    values)."""
    with tempfile.TemporaryDirectory(prefix="mra-verify-") as scratch:
        # A scratch file: its commit need not wait for the disk.
        rebuilt = SqliteStore.open(Path(scratch) / "derived.db", durable=False)
        try:
            store.derive_into(rebuilt, own)
        finally:
            rebuilt.close()
        for table, differences in store.derived_differences(
            Path(scratch) / "derived.db", limit=MAX_NAMED
        ):
            for key, held, derived in differences:
                if key == "...":
                    yield IntegrityError("derived-mismatch", f"{table}: {held}")
                    continue
                what = (
                    "is not explained by the log"
                    if derived is None
                    else "is missing"
                    if held is None
                    else f"holds {held}, the log gives {derived}"
                )
                yield IntegrityError("derived-mismatch", f"{table} {key} {what}")


AFTER_LOGS: tuple[tuple[str, Check], ...] = (
    ("orphans", orphan_damage),
    ("views", view_damage),
    ("cosignatures", cosignature_damage),
    ("derived tables", derived_damage),
    ("access log", access_damage),
    ("api keys", api_key_damage),
)
