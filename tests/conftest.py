"""Test fixtures: every database test runs on SQLite and, when configured, on PostgreSQL.

``GONGSHU_TEST_DATABASE_URL`` points at a PostgreSQL database; each test run gets its own
schema there, migrated once, with tables emptied between tests. Without it the PostgreSQL
half is skipped with a plain message — unless ``GONGSHU_REQUIRE_ALL=1`` (CI), which turns
every such skip into a failure.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gongshu.bootstrap import Platform, build
from gongshu.kernel.clock import FixedClock
from gongshu.kernel.db import Base, make_engine
from gongshu.kernel.settings import Settings
from gongshu.migrations import upgrade
from tests.factories import City, build_city

PG_ENV = "GONGSHU_TEST_DATABASE_URL"
REQUIRE_ALL = os.environ.get("GONGSHU_REQUIRE_ALL") == "1"
SKIPPED: list[str] = []


def require_or_skip(reason: str) -> None:
    """Skip with ``reason`` locally; fail in CI, where nothing may be skipped."""
    if REQUIRE_ALL:
        pytest.fail(f"GONGSHU_REQUIRE_ALL=1 but {reason}")
    SKIPPED.append(reason)
    pytest.skip(reason)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SKIPPED:
        terminalreporter.section("skipped because something was not available")
        for reason in sorted(set(SKIPPED)):
            count = SKIPPED.count(reason)
            terminalreporter.write_line(f"{count:4d} tests skipped: {reason}")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh schema in the PostgreSQL test database, migrated once for the session."""
    base = os.environ.get(PG_ENV)
    if not base:
        require_or_skip(f"PostgreSQL tests: {PG_ENV} is not set")
    assert base is not None
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    schema = f"gongshu_test_{worker}_{secrets.token_hex(3)}"
    admin = make_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        require_or_skip(f"PostgreSQL tests: cannot reach {PG_ENV}: {exc.orig}")
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _empty_tables(url: str) -> None:
    engine = make_engine(url)
    # The search index is engine-specific, so the models do not declare it.
    tables = [t.name for t in Base.metadata.sorted_tables] + ["catalog_search"]
    names = ", ".join(f'"{name}"' for name in tables)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {names} CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty, migrated database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "gongshu.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_url")
        _empty_tables(url)
        yield url


@pytest.fixture
def clock() -> FixedClock:
    """A clock standing at 2026-11-25 10:00 Beijing time until a test moves it."""
    return FixedClock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Test settings: a temporary data home, fast password hashing."""
    return Settings(
        env="test",
        home=tmp_path / "home",
        database_url=database_url,
        password_hash_profile="fast",
        secret_key="test-secret-key-that-is-long-enough-000",  # type: ignore[arg-type]
    )


@pytest.fixture
def platform(settings: Settings, clock: FixedClock) -> Iterator[Platform]:
    """The platform wired exactly as in production, on a test database."""
    built = build(settings, clock=clock)
    yield built
    built.dispose()


@pytest.fixture
def city(platform: Platform) -> City:
    """The small test city of ``tests.factories``, built through the services."""
    return build_city(platform)


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    """An HTTP client talking to the platform's app in-process."""
    with TestClient(platform.app) as test_client:
        yield test_client
