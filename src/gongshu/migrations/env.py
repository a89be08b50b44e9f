"""Alembic environment: runs against the engine the platform hands over."""

from __future__ import annotations

from alembic import context

from gongshu.kernel.db import Base
from gongshu.migrations import managed

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=managed,
    )
    context.run_migrations()
