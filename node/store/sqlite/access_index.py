"""The access log's index by AEO id, built behind the log in sorted runs.

An audit asks who read one record (``access_rows(aeo_id=...)``); every read served adds a row.
A B-tree index of the log by AEO id puts each new row at a random place in it, so each row
read and wrote a page of the index: half of a row's cost at 4 million rows (issue 26: 38.8-41.5
against 19.1-19.9 us of CPU per row). Here the rows are indexed in runs instead, as log-
structured stores do: when ``RUN_ROWS`` rows are not yet indexed, they are sorted by AEO id and
written as one run at the end of ``access_index`` (its key starts with the run), pages filled in
order; when the last ``FANOUT`` runs are of one level, they are merged into one run of the next
level, up to ``TOP_LEVEL``. An audit of one record seeks it in each run and scans the rows not
yet indexed, fewer than ``RUN_ROWS``.

Runs are written in the same transaction as the rows that complete them, so the index never
lags a committed row by more than the tail it scans. ``access_runs`` says which seqs each run
covers; verification checks that every run holds exactly the log's rows of its seqs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from node.core.access import Access
from node.store.sqlite import local
from node.store.sqlite.connection import Connection

__all__ = ["FANOUT", "RUN_ROWS", "TOP_LEVEL", "access_rows", "append_access", "index_problems"]

RUN_ROWS = 4096  # rows a level-0 run covers (at least): the most an audit scans unindexed
FANOUT = 16  # runs of one level merged into one of the next
# Runs of this level (65,536 rows and more) are never merged, so no flush writes more than
# FANOUT * RUN_ROWS rows of index (0.15 s); an audit seeks each run once (issue 26).
TOP_LEVEL = 1

_INDEXED_UPTO = "SELECT coalesce(max(last), -1) FROM access_runs"


def append_access(db: Connection, rows: list[Access]) -> None:
    """Append rows to the hash-chained access log and index what they complete, in one
    transaction."""
    with db.transaction():
        local.chain_access(db, rows)
        index_behind(db)


def index_behind(db: Connection) -> None:
    """Index the rows not yet in a run when there are ``RUN_ROWS`` of them, then merge runs;
    inside the caller's transaction."""
    upto = int(db.conn.execute(_INDEXED_UPTO).fetchone()[0])
    size = local.access_size(db)
    if size - 1 - upto < RUN_ROWS:
        return
    runs = _levels(db)
    # The tail is one run whose level fits its size (larger than one level-0 run only after
    # rows were copied in whole), never above the last run's: levels only fall along the log.
    level, span = 0, RUN_ROWS * FANOUT
    while level < (runs[-1][1] if runs else TOP_LEVEL) and size - 1 - upto >= span:
        level, span = level + 1, span * FANOUT
    _write_run(db, level, upto + 1, size - 1, "access_log WHERE seq > ?", [upto])
    while True:
        runs = _levels(db)
        last = runs[-FANOUT:]
        if len(last) < FANOUT or last[0][1] >= TOP_LEVEL or len({lv for _, lv in last}) > 1:
            return
        merged = [run for run, _ in last]
        marks = ", ".join("?" * len(merged))
        first, final = db.conn.execute(
            f"SELECT min(first), max(last) FROM access_runs WHERE run IN ({marks})", merged
        ).fetchone()
        _write_run(db, last[0][1] + 1, first, final, f"access_index WHERE run IN ({marks})", merged)
        db.conn.execute(f"DELETE FROM access_index WHERE run IN ({marks})", merged)
        db.conn.execute(f"DELETE FROM access_runs WHERE run IN ({marks})", merged)


def _levels(db: Connection) -> list[tuple[int, int]]:
    """(run, level) of every run, in the order of the seqs they cover."""
    rows = db.conn.execute("SELECT run, level FROM access_runs ORDER BY first")
    return [(int(run), int(level)) for run, level in rows]


def _write_run(
    db: Connection, level: int, first: int, last: int, source: str, args: Sequence[object]
) -> None:
    """One run of ``level`` covering seqs ``first``..``last``, its entries (AEO id, seq) read
    from ``source`` and written in key order."""
    run = db.conn.execute("SELECT coalesce(max(run), -1) + 1 FROM access_runs").fetchone()[0]
    db.conn.execute(
        f"INSERT INTO access_index (run, aeo_id, seq) SELECT ?, aeo_id, seq FROM {source}"
        " ORDER BY aeo_id, seq",
        [run, *args],
    )
    # The run's row last: until it is written, the rows it covers are still the tail.
    db.conn.execute(
        "INSERT INTO access_runs (run, level, first, last) VALUES (?, ?, ?, ?)",
        (run, level, first, last),
    )


def access_rows(
    db: Connection, *, aeo_id: str | None = None, **filters: Any
) -> list[dict[str, Any]]:
    """``local.access_rows``, the rows of one AEO id found through the runs and the tail."""
    if aeo_id is None:
        return local.access_rows(db, **filters)
    after, before = filters.get("after", -1), filters.get("before")
    bound = "" if before is None else " AND seq < ?"
    seqs = (
        "SELECT seq FROM access_index WHERE run IN (SELECT run FROM access_runs)"
        f" AND aeo_id = ? AND seq > ?{bound}"
        f" UNION ALL SELECT seq FROM access_log WHERE seq > ({_INDEXED_UPTO}) AND aeo_id = ?"
    )
    args: list[object] = [aeo_id, after, *([] if before is None else [before]), aeo_id]
    return local.access_rows(db, aeo_id=aeo_id, seqs_of=(seqs, args), **filters)


def index_problems(conn: sqlite3.Connection, *, limit: int) -> list[str]:
    """How the runs differ from the log, read on ``conn`` in the caller's transaction (one
    snapshot): runs that are not whole numbers, leave a gap or overlap, or whose levels rise
    along the log; rows left unindexed past ``RUN_ROWS``; entries that are not the log's row of
    their seq, rows of a run's seqs it lacks (``limit`` of each at most). None: []."""
    problems: list[str] = []
    odd = conn.execute(
        "SELECT run FROM access_runs WHERE typeof(first) != 'integer' OR typeof(last) !="
        " 'integer' OR typeof(level) != 'integer' OR level NOT BETWEEN 0 AND ? LIMIT ?",
        (TOP_LEVEL, limit),
    ).fetchall()
    if odd:  # the checks below compare numbers
        return [f"run {run} has a first, last or level that is not one" for (run,) in odd]
    expected, above = 0, TOP_LEVEL
    for run, level, first, last in conn.execute(
        "SELECT run, level, first, last FROM access_runs ORDER BY first"
    ):
        if first != expected or last < first:
            problems.append(f"run {run} covers seqs {first}-{last}, expected from {expected}")
        if level > above:
            problems.append(f"run {run} is of level {level}, above the run before it")
        expected, above = max(expected, last + 1), level
    size = int(conn.execute("SELECT coalesce(max(seq), -1) + 1 FROM access_log").fetchone()[0])
    if expected > size:
        problems.append(f"the runs cover seqs up to {expected - 1}, the log ends at {size - 1}")
    elif size - expected >= RUN_ROWS:
        problems.append(f"rows {expected}-{size - 1} are in no run")
    # A matched entry is the log's row of a seq its run covers; runs do not overlap, so no two
    # entries match one row. As many matched as entries and as seqs covered: none is extra
    # and none missing. One pass over the runs in their order, a look-up of the log per entry.
    entries, covered, matched = conn.execute(
        "SELECT (SELECT count(*) FROM access_index),"
        " (SELECT coalesce(sum(last - first + 1), 0) FROM access_runs),"
        " (SELECT count(*) FROM access_runs r JOIN access_index i ON i.run = r.run"
        " AND i.seq BETWEEN r.first AND r.last JOIN access_log l ON l.seq = i.seq"
        " AND l.aeo_id = i.aeo_id)"
    ).fetchone()
    if not problems and entries == covered == matched:
        return []
    extra = conn.execute(
        "SELECT i.run, i.aeo_id, i.seq FROM access_index i WHERE NOT EXISTS (SELECT 1"
        " FROM access_runs r JOIN access_log l ON l.seq = i.seq WHERE r.run = i.run"
        " AND i.seq BETWEEN r.first AND r.last AND l.aeo_id = i.aeo_id) LIMIT ?",
        (limit,),
    ).fetchall()
    problems += [f"run {r} lists {a!r} at seq {s}, which the log does not" for r, a, s in extra]
    missing = conn.execute(
        "SELECT r.run, l.aeo_id, l.seq FROM access_runs r JOIN access_log l"
        " ON l.seq BETWEEN r.first AND r.last WHERE NOT EXISTS (SELECT 1 FROM access_index i"
        " WHERE i.run = r.run AND i.aeo_id = l.aeo_id AND i.seq = l.seq) LIMIT ?",
        (limit,),
    ).fetchall()
    problems += [f"run {r} lacks {a!r} at seq {s}" for r, a, s in missing]
    return problems or [f"{entries} entries, {covered} seqs covered, {matched} entries match"]
