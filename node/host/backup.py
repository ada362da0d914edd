"""Online backups of a node's database, and their restore.

    mra backup DEST     DEST/ledger.db, a consistent copy taken while the node runs, then
                        DEST/ledger.access.db, the access log's file copied the same way, and
                        DEST/manifest.json: node, schema version, the own log's size and latest
                        signed checkpoint in the copy, each copy's SHA-256 and size
    mra restore DEST    the manifest and the file checked, the copy verified as
                        ``mra ledger verify`` would, then installed in place of the node's
                        database (kept beside it, renamed), with the node stopped
    mra ledger move-to-postgres
                        the stopped node's SQLite ledger copied whole into the empty
                        PostgreSQL database of MRA_DATABASE_URL (node.store.transfer), the copy
                        verified, the file set aside

Each copy is ``VACUUM INTO`` on a read-only connection: one read transaction on a WAL database,
so writers go on while it runs and the copy is the database as of one commit. (SQLite's backup
API, tried with a read transaction pinned across its steps, kept restarting under the node at
1M records: 10 GB written in two minutes for a copy still at 32 MiB.) A progress handler
fdatasyncs the copy every ``SYNC_BYTES`` as it grows, so the 1 GB are never left for one
writeback at the end, and paces it for ``rate`` (MiB/s). ``mra backup`` also lowers its own
CPU and I/O priority (``lower_priority``): measured at 1M, reads' p99 during a backup then stays
at its level before (README, Backups and restores). The ledger's file is copied before the
access log's: every anchor of the access log that the copied ledger signs is then of rows the
access log's copy holds (verification checks the anchors).
Key files are not in a backup: they are backed up separately, sealed (README, Operations).

A restored home may hold a shorter own log than its peers have seen signed. It cannot fork: the
start guard (``node.host.guard``) refuses appends until a peer has shown its checkpoint of the
own log, and for good when that checkpoint is longer than the restored log. The size of the
database a restore replaces is noted as seen too (``log-seen.json``): its entries were signed
here, so the guard refuses to sign their seqs again even when no peer has them. What the restore
loses is reported from what this home knows: the database it replaces and the largest
checkpoint a peer has shown; how much of the own log each peer holds, once they answer, is in
``/v1/health`` (``own_log_at_peers``), and what exactly (headers, views, when delivered) is
``mra ledger lost-tail`` (``network.held_tail``).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.request import pathname2url

from node.core.clock import Clock, system_clock
from node.core.errors import Conflict, InvalidInput, MraError, NotFound, StorageFailed
from node.host.guard import HomeLock
from node.host.home import NodeHome, write_atomic
from node.ledger.verification import Verification, verify_node
from node.store.postgres import PostgresStore
from node.store.sqlite import ACCESS_MIGRATIONS, MIGRATIONS, SqliteStore, access_path
from node.store.sqlite.access_file import AccessFile
from node.store.transfer import Moved, copy_to_postgres

__all__ = [
    "FORMAT",
    "Manifest",
    "Restored",
    "check_backup",
    "move_to_postgres",
    "restore",
    "take_backup",
]

FORMAT = "mra-ledger backup v2"  # v1: the access log was in ledger.db (schema 10 and before)
DATABASE = "ledger.db"
ACCESS_DATABASE = access_path(DATABASE).name
MANIFEST = "manifest.json"
RESTORING = ".restoring-"  # prefix of the scratch directory a restore migrates a copy in
SYNC_BYTES = 4 << 20  # the copy's unsynced bytes at most


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """What a backup holds, written beside its copy."""

    format: str
    origin: str
    schema_version: int
    log_size: int  # entries of the own log in the copy
    checkpoint: str | None  # the latest signed checkpoint of the own log in the copy
    sha256: str  # of DEST/ledger.db
    bytes: int
    access_sha256: str  # of DEST/ledger.access.db
    access_bytes: int
    taken_at: str  # ISO 8601 UTC

    @classmethod
    def read(cls, path: Path) -> Manifest:
        """Raises InvalidInput naming the file or the field that is wrong."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFound(f"{path} does not exist: not a backup", field="backup") from None
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"{path} is unreadable: {exc}", field="backup") from None
        if isinstance(data, dict) and data.get("format") == "mra-ledger backup v1":
            raise InvalidInput(
                f"{path} is of a backup taken by an earlier version (schema"
                f" {data.get('schema_version')}, {data['format']!r}): restore it with that"
                " version, then start the node with this one, which migrates it",
                field="format",
            )
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InvalidInput(f"{path} is not a manifest of {FORMAT!r}", field="format")
        types = {"origin": str, "schema_version": int, "log_size": int, "sha256": str}
        types |= {"bytes": int, "access_sha256": str, "access_bytes": int, "taken_at": str}
        for name, kind in types.items():
            if not isinstance(data.get(name), kind):
                raise InvalidInput(
                    f"{path}: {name} is missing or not a {kind.__name__}", field=name
                )
        if data.get("checkpoint") is not None and not isinstance(data["checkpoint"], str):
            raise InvalidInput(f"{path}: checkpoint is not text", field="checkpoint")
        return cls(
            format=FORMAT,
            origin=data["origin"],
            schema_version=data["schema_version"],
            log_size=data["log_size"],
            checkpoint=data.get("checkpoint"),
            sha256=data["sha256"],
            bytes=data["bytes"],
            access_sha256=data["access_sha256"],
            access_bytes=data["access_bytes"],
            taken_at=data["taken_at"],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Restored:
    """What a restore installed and what it lost, as far as this home can tell."""

    manifest: Manifest
    kept: Path | None  # the replaced database, renamed
    replaced_size: int | None  # entries of the own log in the replaced database (None: unreadable)
    seen_by_peer: tuple[str, int]  # the largest checkpoint of the own log a peer has shown
    # per own-log entry in the replaced database and not in the copy: (seq, kind, AEO id of
    # its payload or None): what peers hold headers (and views, deliveries) of, if they do
    tail: tuple[tuple[int, str, str | None], ...] = ()

    @property
    def lost(self) -> int:
        """Entries of the own log that were signed but are not in the restored copy."""
        known = max(self.replaced_size or 0, self.seen_by_peer[1])
        return max(0, known - self.manifest.log_size)


def take_backup(
    home: NodeHome,
    dest: Path,
    *,
    clock: Clock = system_clock,
    rate: float | None = None,
) -> Manifest:
    """Copy the node's database and its access log's file into the new directory ``dest``,
    with their manifest; ``rate`` (MiB/s) slows the copies down.

    Raises Conflict when ``dest`` exists and is not empty, NotFound when the home holds no
    node, InvalidInput when ``rate`` is not positive, StorageFailed when the copy cannot be
    made."""
    if rate is not None and not rate > 0:
        raise InvalidInput(f"rate must be a positive number of MiB/s, not {rate}", field="rate")
    origin = home.config().origin
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise Conflict(f"{dest} exists and is not an empty directory", field="dest")
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    for source, name in ((home.db_path, DATABASE), (access_path(home.db_path), ACCESS_DATABASE)):
        partial = dest / f"{name}.partial"
        try:
            _copy_snapshot(source, partial, rate)
            os.replace(partial, dest / name)
            _fsync(dest)
        except (OSError, sqlite3.Error) as exc:
            partial.unlink(missing_ok=True)
            raise StorageFailed(f"cannot copy {source} into {dest}: {exc}") from exc
    copy, access_copy = dest / DATABASE, dest / ACCESS_DATABASE
    size, checkpoint = _own_log(copy, origin)
    manifest = Manifest(
        format=FORMAT,
        origin=origin,
        schema_version=_schema_version(copy),
        log_size=size,
        checkpoint=checkpoint,
        sha256=_sha256(copy),
        bytes=copy.stat().st_size,
        access_sha256=_sha256(access_copy),
        access_bytes=access_copy.stat().st_size,
        taken_at=datetime.fromtimestamp(clock() / 1000, UTC).isoformat(timespec="milliseconds"),
    )
    write_atomic(dest / MANIFEST, json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest


def _copy_snapshot(db_path: Path, partial: Path, rate: float | None) -> None:
    """One snapshot of ``db_path`` written into the new file ``partial``, synced as it grows
    (see the module's docstring)."""
    partial.touch(mode=0o600)
    fd = os.open(partial, os.O_RDONLY)
    began, synced = time.monotonic(), 0

    def written() -> int:
        nonlocal synced
        size = os.fstat(fd).st_size
        if size - synced >= SYNC_BYTES:
            os.fdatasync(fd)
            synced = size
        if rate is not None:
            time.sleep(max(0.0, size / (rate * 2**20) - (time.monotonic() - began)))
        return 0  # go on

    try:
        with contextlib.closing(_read_only(db_path)) as source:
            source.set_progress_handler(written, 20_000)  # SQLite VM steps between two calls
            source.execute("VACUUM INTO ?", (str(partial),))
        os.fsync(fd)
    finally:
        os.close(fd)


def lower_priority() -> None:
    """Make this process yield the CPU and the disk to the node it copies (nice 19; the lowest
    best-effort I/O priority where the kernel offers ioprio_set). Best effort: never fails."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, 19)
    number = {"x86_64": 251, "aarch64": 30}.get(platform.machine())
    if number is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        best_effort_lowest = (2 << 13) | 7  # IOPRIO_CLASS_BE, level 7
        libc.syscall(number, 1, 0, best_effort_lowest)  # IOPRIO_WHO_PROCESS, this process


def check_backup(home: NodeHome, source: Path) -> tuple[Manifest, Verification]:
    """The backup at ``source`` read and checked for ``home``: its manifest, the file against
    it, and the copy verified step by step (damage is in the Verification, never raised).

    Raises InvalidInput when the manifest or the file does not match, or the backup is of
    another node or of a newer schema than this software's."""
    manifest = _manifest_of(home, source)
    with _current_files(home, source) as files:
        return manifest, _verified(home, files)


def _manifest_of(home: NodeHome, source: Path) -> Manifest:
    """The backup's manifest, once the files match it and it is of this node and of a schema
    this software knows. Raises InvalidInput."""
    manifest = Manifest.read(source / MANIFEST)
    origin = home.config().origin
    if manifest.origin != origin:
        raise InvalidInput(
            f"the backup is of node {manifest.origin}, this home is {origin}", field="origin"
        )
    for path, expected, field in (
        (source / DATABASE, manifest.sha256, "sha256"),
        (source / ACCESS_DATABASE, manifest.access_sha256, "access_sha256"),
    ):
        if not path.is_file():
            raise InvalidInput(f"{path} is missing", field="backup")
        if (actual := _sha256(path)) != expected:
            raise InvalidInput(
                f"{path} has SHA-256 {actual}, the manifest says {expected}", field=field
            )
    if manifest.schema_version > len(MIGRATIONS):
        raise InvalidInput(
            f"the backup has schema version {manifest.schema_version}; this software knows"
            f" {len(MIGRATIONS)}",
            field="schema_version",
        )
    return manifest


@contextlib.contextmanager
def _current_files(home: NodeHome, source: Path) -> Iterator[Path]:
    """The directory holding the backup's two files at this software's schemas: ``source``
    itself, or, for a backup whose access file is of an earlier schema (taken before its
    index by AEO id was kept in runs), a copy in the home whose access file is migrated. The
    backup itself is never changed."""
    try:
        schema = _schema_version(source / ACCESS_DATABASE)
    except sqlite3.Error as exc:
        raise InvalidInput(f"{source / ACCESS_DATABASE}: {exc}", field="backup") from exc
    if schema >= len(ACCESS_MIGRATIONS):
        yield source
        return
    with tempfile.TemporaryDirectory(prefix=RESTORING, dir=home.path) as scratch:
        files = Path(scratch)
        try:
            _link_or_copy(source / DATABASE, files / DATABASE)  # only read: no second copy
            shutil.copyfile(source / ACCESS_DATABASE, files / ACCESS_DATABASE)
            AccessFile.open(files / DATABASE, durable=True).close()
        except (OSError, sqlite3.Error) as exc:
            raise StorageFailed(f"cannot migrate a copy of {source}: {exc}") from exc
        yield files


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or one without hard links
        shutil.copyfile(source, target)


def _verified(home: NodeHome, files: Path) -> Verification:
    store = SqliteStore.open_read_only(files / DATABASE, mac_key_of=home.db_path)
    try:
        return verify_node(store, own=home.config().origin)
    finally:
        store.close()


def restore(home: NodeHome, source: Path) -> Restored:
    """Install the backup at ``source`` as the node's database; the node must be stopped.

    Raises Conflict while a node process serves the home, IntegrityError-free backups only:
    InvalidInput when ``check_backup`` refuses it or finds damage (each damage named)."""
    lock = HomeLock.take(home.path)  # Conflict when the node runs
    try:
        for stale in home.path.glob(f"{RESTORING}*"):  # of a restore killed mid-way
            shutil.rmtree(stale, ignore_errors=True)
        manifest = _manifest_of(home, source)
        with _current_files(home, source) as files:
            verification = _verified(home, files)
            if not verification.ok:
                named = "; ".join(str(damage) for damage in verification.damages)
                raise InvalidInput(f"the backup does not verify: {named}", field="backup")
            replaced_size = _replaced_size(home, manifest.origin)
            kept = _set_aside(home)
            for name in (DATABASE, ACCESS_DATABASE):
                staged = home.path / f"{name}.restoring"
                try:
                    shutil.copyfile(files / name, staged)
                    _fsync(staged)
                    os.replace(staged, home.path / name)
                    _fsync(home.path)
                except OSError as exc:
                    raise StorageFailed(f"cannot install {source / name}: {exc}") from exc
        seen = home.log_seen()
        if kept is not None and replaced_size is not None:
            # The replaced database's entries were signed by this node: whether or not a peer
            # saw them, signing those seqs again would be a second history. So its size counts
            # as seen, and the guard refuses appends (no acceptance lifts it) until the database
            # holds them again.
            home.note_log_seen(f"the replaced database {kept.name}", replaced_size)
        tail = _tail(kept, manifest.origin, manifest.log_size) if kept is not None else ()
        return Restored(
            manifest=manifest,
            kept=kept,
            replaced_size=replaced_size,
            seen_by_peer=seen,
            tail=tail,
        )
    finally:
        lock.release()


def move_to_postgres(home: NodeHome, url: str) -> tuple[Moved, Verification, Path]:
    """Move the stopped node's SQLite ledger into the empty PostgreSQL database at ``url``:
    copied whole, then verified there as ``mra ledger verify`` does; the file is then set aside
    (returned), so that a start without ``MRA_DATABASE_URL`` finds no ledger to append to.

    Raises Conflict while a node process serves the home, InvalidInput when the database is
    not empty, StorageFailed when the copy fails or does not verify (the file then stays)."""
    lock = HomeLock.take(home.path)  # Conflict when the node runs
    try:
        moved = copy_to_postgres(home.db_path, url)
        store = PostgresStore.open(url, home.db_path)
        try:
            verification = verify_node(store, own=home.config().origin)
        finally:
            store.close()
        if not verification.ok:
            named = "; ".join(str(damage) for damage in verification.damages)
            raise StorageFailed(f"the copy does not verify, the file stays in use: {named}")
        kept = _set_aside(home, "moved-to-postgres")
        assert kept is not None  # the copy read it
        # Started by mistake without MRA_DATABASE_URL, the node would find an empty file: the
        # guard must know how much of its log was signed, so that it never signs those again.
        own = home.config().origin
        where = (
            f"the PostgreSQL database this ledger moved to (set MRA_DATABASE_URL; was {kept.name})"
        )
        home.note_log_seen(where, moved.logs.get(own, 0))
        return moved, verification, kept
    finally:
        lock.release()


def _set_aside(home: NodeHome, why: str = "before-restore") -> Path | None:
    """Rename the database being replaced, its access log's file (and their WALs) so nothing
    is deleted by a restore: ``ledger.db.<why>-<time>`` (returned, when there was one) and
    beside it its access log's (``access_path``)."""
    held = home.db_path.exists()
    kept = home.db_path.with_name(f"{DATABASE}.{why}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    for old, new in ((home.db_path, kept), (access_path(home.db_path), access_path(kept))):
        for suffix in ("", "-wal", "-shm"):  # a WAL left beside a new file would be read into it
            if Path(f"{old}{suffix}").exists():
                os.replace(f"{old}{suffix}", f"{new}{suffix}")
    return kept if held else None


def _replaced_size(home: NodeHome, origin: str) -> int | None:
    if not home.db_path.exists():
        return None
    try:
        return _own_log(home.db_path, origin)[0]
    except (MraError, OSError, sqlite3.Error):
        return None  # a damaged database is what a restore is for


def _tail(kept: Path, origin: str, start: int) -> tuple[tuple[int, str, str | None], ...]:
    """The own log's entries from ``start`` in the set-aside database ``kept``: seq, kind and
    the AEO id its payload names (None: no payload, or not a record). Empty when unreadable."""
    query = (
        "SELECT e.seq, json_extract(CAST(e.body AS TEXT), '$.kind'),"
        " json_extract(CAST(p.body AS TEXT), '$.aeo_id') FROM entries e"
        " LEFT JOIN payloads p ON p.origin = e.origin AND p.seq = e.seq"
        " WHERE e.origin = ? AND e.seq >= ? ORDER BY e.seq"
    )
    try:
        with contextlib.closing(_read_only(kept)) as db:
            rows = db.execute(query, (origin, start)).fetchall()
    except sqlite3.Error:
        return ()  # a damaged database is what a restore is for
    return tuple(
        (int(seq), str(kind), aeo_id if isinstance(aeo_id, str) else None)
        for seq, kind, aeo_id in rows
    )


def _own_log(path: Path, origin: str) -> tuple[int, str | None]:
    store = SqliteStore.open_read_only(path)
    try:
        head = store.head(origin)
        note = store.latest_checkpoint(origin)
    finally:
        store.close()
    return (head.size if head else 0), (note.decode() if note is not None else None)


def _schema_version(path: Path) -> int:
    with contextlib.closing(
        sqlite3.connect(f"file:{pathname2url(str(path))}?mode=ro", uri=True)
    ) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{pathname2url(str(path.resolve()))}?mode=ro", uri=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
