"""Database plumbing: engines for SQLite and PostgreSQL, the declarative base, column types."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase

from gongshu.kernel.clock import as_utc
from gongshu.kernel.errors import DatabaseUnavailable

__all__ = ["Base", "JSONType", "UTCDateTime", "check_connection", "make_engine"]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes on both databases (SQLite hands back naive values)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    """Every table of every domain hangs off this metadata."""

    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSONType,
    }


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine tuned per dialect: SQLite in WAL mode with foreign keys on."""
    if url.startswith("sqlite"):
        # Sized to the web server's thread pool so busy moments reuse connections instead
        # of opening new ones (each runs the PRAGMAs below).
        options: dict[str, Any] = {"pool_size": 20, "max_overflow": 20, **kwargs}
        engine = sa.create_engine(url, connect_args={"timeout": 30}, **options)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Autocommit off in pysqlite would hide BEGIN; we issue it ourselves below.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # 64 MiB of page cache per connection (grown only as used): large ledgers and
            # search indexes insert into B-trees far bigger than the 2 MiB default.
            cur.execute("PRAGMA cache_size=-65536")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Writers take the write lock up front (BEGIN IMMEDIATE) and wait for it under
            # busy_timeout; a reader that later tried to write would instead be refused at
            # once whenever another connection had committed since it started reading.
            mode = conn.get_execution_options().get(_BEGIN_OPTION, "")
            conn.exec_driver_sql(f"BEGIN {mode}".strip())

        return engine
    # No pre-ping (a round trip per checkout); recycling bounds the life of idle connections.
    return sa.create_engine(
        url, pool_recycle=1800, **{"pool_size": 10, "max_overflow": 20, **kwargs}
    )


_BEGIN_OPTION = "gongshu_sqlite_begin"


def writer_engine(engine: Engine) -> Engine:
    """The engine for transactions that will write: BEGIN IMMEDIATE on SQLite."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
    return engine


def check_connection(engine: Engine) -> None:
    """Fail with one clear error when the database cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        where = engine.url.render_as_string(hide_password=True)
        raise DatabaseUnavailable(f"cannot reach the database at {where}: {reason}") from exc
