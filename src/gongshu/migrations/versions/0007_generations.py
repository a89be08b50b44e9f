"""generation counters (caches of derived data check them)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 08:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    generation = op.create_table(
        "generation",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_generation")),
    )
    op.bulk_insert(generation, [{"name": "catalog", "value": 0}])


def downgrade() -> None:
    op.drop_table("generation")
