"""``MRA_DATABASE_URL``: unset keeps the SQLite file, a PostgreSQL URL selects that database
(never shown in a repr: it may hold a password), anything else is refused naming the variable."""

from __future__ import annotations

import pytest

from node.core.errors import InvalidInput
from node.host.settings import Settings


@pytest.mark.parametrize("environ", [{}, {"MRA_DATABASE_URL": ""}])
def test_unset_keeps_the_sqlite_file(environ: dict[str, str]) -> None:
    assert Settings.from_environ(environ).database_url is None


@pytest.mark.parametrize("url", ["postgresql://mra:secret@db/ledger", "postgres:///ledger"])
def test_a_postgresql_url_is_taken_and_kept_out_of_the_repr(url: str) -> None:
    settings = Settings.from_environ({"MRA_DATABASE_URL": url})
    assert settings.database_url == url
    assert "secret" not in repr(settings) and "ledger" not in repr(settings)


@pytest.mark.parametrize("url", ["sqlite:///x.db", "/var/lib/mra/ledger.db", "mysql://db/x"])
def test_any_other_value_is_refused_naming_the_variable(url: str) -> None:
    with pytest.raises(InvalidInput, match="postgresql://") as refused:
        Settings.from_environ({"MRA_DATABASE_URL": url})
    assert refused.value.field == "MRA_DATABASE_URL"


def test_the_owners_url_is_taken_beside_the_runtime_roles_and_kept_out_of_the_repr() -> None:
    settings = Settings.from_environ(
        {
            "MRA_DATABASE_URL": "postgresql://node:n1@db/ledger",
            "MRA_DATABASE_OWNER_URL": "postgresql://owner:o1@db/ledger",
        }
    )
    assert settings.database_owner_url == "postgresql://owner:o1@db/ledger"
    assert "o1" not in repr(settings) and "owner" not in repr(settings)
    with pytest.raises(InvalidInput) as refused:
        Settings.from_environ({"MRA_DATABASE_OWNER_URL": "sqlite:///x.db"})
    assert refused.value.field == "MRA_DATABASE_OWNER_URL"
