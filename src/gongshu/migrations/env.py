"""Alembic environment: runs against the engine the platform hands over."""

from __future__ import annotations

from alembic import context

import gongshu.catalog.models
import gongshu.identity.models
import gongshu.kernel.audit
import gongshu.kernel.calendar
import gongshu.ledger.models  # noqa: F401  (tables register on import)
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
