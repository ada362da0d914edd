"""``mra backup`` and ``mra restore``: an online copy of the node's database with its manifest,
and its checked installation in a stopped node's home (node.host.backup)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from node.app.cli.common import DEFAULT_HOME, HomeOption, err, out, reported
from node.app.cli.context import home_of
from node.core.errors import InvalidInput
from node.host import backup as backups
from node.host.settings import database_url

__all__ = ["backup", "restore"]


def backup(
    dest: Annotated[Path, typer.Argument(help="A new (or empty) directory for the copy.")],
    home: HomeOption = DEFAULT_HOME,
    rate: Annotated[
        float | None,
        typer.Option(help="Copy at most this many MiB per second (default: as fast as it can)."),
    ] = None,
) -> None:
    """Copy the node's database while it runs (one consistent snapshot; reads and writes go
    on) into DEST, with a manifest. Key files are not copied: back them up separately. The
    copy runs at the lowest CPU and disk priority, so the node's requests go first."""
    with reported():
        _sqlite_only()
        backups.lower_priority()
        manifest = backups.take_backup(home_of(home), dest, rate=rate)
    out.print(
        f"backup of {manifest.origin} in {dest}: own log {manifest.log_size} entries,"
        f" schema {manifest.schema_version}, {manifest.bytes} bytes, sha256 {manifest.sha256}",
        soft_wrap=True,
    )


def restore(
    source: Annotated[Path, typer.Argument(help="A directory written by 'mra backup'.")],
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Install a backup in this (stopped) node's home, after checking its manifest and file and
    verifying it as 'mra ledger verify' does. The replaced database is kept beside it. After a
    restore, appends wait until a peer has shown that nothing signed was lost."""
    with reported():
        _sqlite_only()
        restored = backups.restore(home_of(home), source)
    manifest = restored.manifest
    out.print(
        f"restored {manifest.origin} from {source} (taken {manifest.taken_at}):"
        f" own log {manifest.log_size} entries",
        soft_wrap=True,
    )
    if restored.kept is not None:
        out.print(f"the replaced database is kept as {restored.kept}", soft_wrap=True)
    if restored.lost:
        peer, seen = restored.seen_by_peer
        known = f"; {peer} has seen {seen} signed entries" if peer else ""
        err.print(
            f"[bold yellow]LOST[/] {restored.lost} entries of the own log signed after the"
            f" backup (the replaced database held {restored.replaced_size}{known}): seqs"
            f" {manifest.log_size} to {manifest.log_size + restored.lost - 1}. Appends stay"
            " refused while the database holds fewer entries than were signed (no acceptance"
            " lifts it): no seq is signed twice. What each peer holds of the lost seqs"
            " (headers, views, when delivered): 'mra ledger lost-tail'.",
            soft_wrap=True,
        )
        _print_tail(restored.tail)
    else:
        out.print(
            "appends resume once a peer has shown its checkpoint of this node's log"
            " (or 'mra ledger accept-restore')",
            soft_wrap=True,
        )


def _print_tail(tail: tuple[tuple[int, str, str | None], ...]) -> None:
    """The lost entries by kind, and the AEO records they carried (the first 20 named): what
    to publish again once appends resume; the kept database holds them all."""
    kinds = Counter(kind for _, kind, _ in tail)
    err.print(
        "lost, by kind: " + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())),
        soft_wrap=True,
    )
    records = sorted({aeo for _, _, aeo in tail if aeo is not None})
    if records:
        more = f" and {len(records) - 20} more" if len(records) > 20 else ""
        err.print(
            f"lost versions of {len(records)} AEO records: {', '.join(records[:20])}{more}",
            soft_wrap=True,
        )


def _sqlite_only() -> None:
    """Backups here are of the SQLite file; a PostgreSQL server has its own (README,
    Operations). Raises InvalidInput when ``MRA_DATABASE_URL`` names one."""
    if database_url() is not None:
        raise InvalidInput(
            "this node's ledger is in PostgreSQL: back it up with the server's tools (pg_dump,"
            " or base backups with WAL archiving for point-in-time recovery, PITR), not"
            " 'mra backup'/'mra restore'",
            field="MRA_DATABASE_URL",
        )
