"""A platform with the demo city loaded, on SQLite (from the migrated template) or on the
PostgreSQL test database (emptied first), for module-scoped demo fixtures."""

from __future__ import annotations

import shutil

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from gongshu.bootstrap import Platform, build
from gongshu.kernel.clock import FixedClock
from gongshu.kernel.db import Base, make_engine
from gongshu.kernel.settings import Settings


def _empty(url: str) -> None:
    engine = make_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(sa.text(f'TRUNCATE {names}, "catalog_search" CASCADE'))
    engine.dispose()


def demo_platform(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, name: str
) -> Platform:
    """A fresh platform on the database ``request.param`` names, the demo city loaded; the
    caller disposes of it."""
    from gongshu.demo.load import load_demo

    home = tmp_path_factory.mktemp(name)
    if request.param == "sqlite":
        shutil.copyfile(request.getfixturevalue("sqlite_template"), home / "gongshu.db")
        url = f"sqlite:///{home / 'gongshu.db'}"
    else:
        url = request.getfixturevalue("pg_url")
        _empty(url)
    platform = build(
        Settings(env="test", home=home / "home", database_url=url, password_hash_profile="fast",
                 secret_key=SecretStr("test-secret-key-that-is-long-enough-000")),
        clock=FixedClock(),
    )  # fmt: skip
    try:
        load_demo(platform.uow, passwords=platform.passwords, datastore=platform.datastore)
    except BaseException:
        platform.dispose()
        raise
    return platform
