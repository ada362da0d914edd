"""Suite-wide instrumentation for the secrets check (``tests.leaks``): every signing seed and
API key created in this process is remembered, and every log line kept; the check itself runs
after every other test. ``pg_url``: a fresh database on the session's private PostgreSQL
cluster (``tests.pg``), started on first use."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest

from node.core.crypto import SigningKey
from node.host import apikeys
from tests import leaks, pg

_generate = SigningKey.generate.__func__  # type: ignore[attr-defined]
_create_key = apikeys.create_key


def _remembered_generate(cls: type[SigningKey]) -> SigningKey:
    key: SigningKey = _generate(cls)
    leaks.remember(key.seed.hex())
    return key


def _remembered_create_key(*args: Any, **kwargs: Any) -> str:
    key = _create_key(*args, **kwargs)
    leaks.remember(key)
    return key


class _KeepLines(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        leaks.LINES.append(self.format(record))


def pytest_configure(config: pytest.Config) -> None:
    SigningKey.generate = classmethod(_remembered_generate)  # type: ignore[method-assign, assignment]
    apikeys.create_key = _remembered_create_key
    handler = _KeepLines(level=logging.DEBUG)
    logging.getLogger().addHandler(handler)
    logging.getLogger("mra").setLevel(logging.DEBUG)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The secrets check runs last, over the lines every other test produced."""
    last = [i for i in items if i.get_closest_marker("suite_end")]
    items[:] = [i for i in items if not i.get_closest_marker("suite_end")] + last


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pg.Cluster]:
    """The session's private PostgreSQL cluster. Without the server binaries its tests fail
    in CI (``CI`` or ``MRA_REQUIRE_POSTGRES`` set; ``.ci/run`` installs them) and are skipped
    elsewhere."""
    why = pg.unavailable()
    if why is not None:
        if os.environ.get("CI") or os.environ.get("MRA_REQUIRE_POSTGRES"):
            pytest.fail(f"{why}: CI runs the PostgreSQL tests")
        pytest.skip(why)
    cluster = pg.Cluster()
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: pg.Cluster) -> Iterator[str]:
    """The URL of a new database on the private cluster, holding the store's schema (dropped
    after the test)."""
    url = pg_cluster.store_database()
    yield url
    pg_cluster.drop(url)
