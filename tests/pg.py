"""A private PostgreSQL cluster for the tests: ``initdb`` into a temporary directory, a server
listening on a Unix socket in that directory only (no TCP port), one fresh database per test
(``Cluster.database``), stopped and removed at the end of the session.

Debian's server binaries (``/usr/lib/postgresql/<version>/bin``) are used; ``initdb`` refuses
to run as root, so as root the cluster runs as the ``postgres`` OS user. The cluster trades
durability for speed (``fsync=off``): the tests check what the store asks of the server
(``synchronous_commit=on``, one transaction per append), not the disk under it.

Without the binaries, ``unavailable()`` says why: the fixture fails the PostgreSQL tests when
``CI`` is set (CI installs them, ``.ci/run``) and skips them otherwise.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from node.store.postgres import PostgresStore

__all__ = ["Cluster", "binaries", "unavailable"]


def binaries() -> Path | None:
    """The newest installed server's bin directory, if any."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    return Path(found[-1]).parent if found else None


def unavailable() -> str | None:
    """Why no private cluster can be started here (None: it can)."""
    if binaries() is None:
        return "PostgreSQL's server binaries are not installed (apt-get install postgresql)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser, so initdb cannot run as another user"
    return None


class Cluster:
    """A running private cluster; ``stop()`` removes it."""

    def __init__(self) -> None:
        bin_dir = binaries()
        assert bin_dir is not None, unavailable()
        self.root = Path(tempfile.mkdtemp(prefix="mra-pg-"))
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        data = self.root / "data"
        self._ctl = [str(bin_dir / "pg_ctl"), "-D", str(data)]
        self._run(
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = (
            f"-k {self.root} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
            " -c max_connections=300 -c shared_buffers=32MB"
        )
        self._run(*self._ctl, "-w", "-s", "-l", str(self.root / "log"), "-o", options, "start")
        self._names = itertools.count()
        self._template: str | None = None

    def _run(self, *command: str) -> None:
        done = subprocess.run([*self._as, *command], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stdout}{done.stderr}")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.root}"

    def database(self, *, template: str = "template1") -> str:
        """The URL of a new database, a copy of ``template`` (default: empty)."""
        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
        return self.url(name)

    def store_database(self) -> str:
        """The URL of a new database holding the store's schema (copied from a template made
        once: a copy takes a fraction of the migrations' time)."""
        if self._template is None:
            self._template = "mra_schema"
            with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {self._template}")
            PostgresStore.open(self.url(self._template)).close()
        return self.database(template=self._template)

    def drop(self, url: str) -> None:
        """Drop the database of ``url`` (made by ``database``), closing its sessions."""
        name = conninfo_to_dict(url)["dbname"]
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        subprocess.run([*self._as, *self._ctl, "-m", "immediate", "-s", "stop"], check=False)
        shutil.rmtree(self.root, ignore_errors=True)
