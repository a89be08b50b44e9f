"""foundation: identity, grants, audit, calendar

Revision ID: 0001
Revises:
Create Date: 2026-11-25 16:53:53.229498
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import gongshu.kernel.db

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "app_user",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("real_name_verified", sa.Boolean(), nullable=False),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("created_at", gongshu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("username", name=op.f("uq_app_user_username")),
    )
    op.create_table(
        "audit_record",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("at", gongshu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(length=40), nullable=True),
        sa.Column("actor_label", sa.String(length=200), nullable=False),
        sa.Column("actor_roles", sa.JSON(), nullable=False),
        sa.Column("action", sa.String(length=80), nullable=False),
        sa.Column("subject_type", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.String(length=80), nullable=False),
        sa.Column(
            "before", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column("after", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("request_id", sa.String(length=80), nullable=False),
        sa.Column("source_address", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_record")),
    )
    with op.batch_alter_table("audit_record", schema=None) as batch_op:
        batch_op.create_index("ix_audit_record_action", ["action"], unique=False)
        batch_op.create_index("ix_audit_record_actor_id_at", ["actor_id", "at"], unique=False)
        batch_op.create_index("ix_audit_record_at", ["at"], unique=False)
        batch_op.create_index(
            "ix_audit_record_subject", ["subject_type", "subject_id"], unique=False
        )

    op.create_table(
        "calendar_year",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("updated_at", gongshu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_calendar_year")),
    )
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column(
            "window_started_at", gongshu.kernel.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    op.create_table(
        "organisation",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("parent_id", sa.String(length=40), nullable=True),
        sa.Column("division_code", sa.String(length=12), nullable=True),
        sa.Column("uscc", sa.String(length=18), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", gongshu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["organisation.id"],
            name=op.f("fk_organisation_parent_id_organisation"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation")),
        sa.UniqueConstraint("code", name=op.f("uq_organisation_code")),
        sa.UniqueConstraint("uscc", name=op.f("uq_organisation_uscc")),
    )
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organisation_division_code"), ["division_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_organisation_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_organisation_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "api_token",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", gongshu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", gongshu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", gongshu.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", gongshu.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_api_token_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_user_id"), ["user_id"], unique=False)

    op.create_table(
        "calendar_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("is_workday", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["year"],
            ["calendar_year.year"],
            name=op.f("fk_calendar_day_year_calendar_year"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_calendar_day")),
    )
    op.create_table(
        "grant_",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("subject_organisation_id", sa.String(length=40), nullable=False),
        sa.Column("entry_ref", sa.String(length=80), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column(
            "row_filter", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column("purpose", sa.String(length=1000), nullable=False),
        sa.Column("scenario", sa.String(length=200), nullable=True),
        sa.Column("valid_from", gongshu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_until", gongshu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivery_modes", sa.JSON(), nullable=False),
        sa.Column("min_group_size", sa.Integer(), nullable=True),
        sa.Column("dp_epsilon_budget", sa.Double(), nullable=True),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_reason", sa.String(length=1000), nullable=False),
        sa.Column("issued_by_id", sa.String(length=40), nullable=False),
        sa.Column("issued_at", gongshu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("changed_at", gongshu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("valid_until > valid_from", name=op.f("ck_grant__valid_window")),
        sa.ForeignKeyConstraint(
            ["issued_by_id"],
            ["app_user.id"],
            name=op.f("fk_grant__issued_by_id_app_user"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["subject_organisation_id"],
            ["organisation.id"],
            name=op.f("fk_grant__subject_organisation_id_organisation"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grant_")),
    )
    with op.batch_alter_table("grant_", schema=None) as batch_op:
        batch_op.create_index(
            "ix_grant__subject_entry", ["subject_organisation_id", "entry_ref"], unique=False
        )

    op.create_table(
        "membership",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("organisation_id", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=30), nullable=False),
        sa.Column("created_at", gongshu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_membership_organisation_id_organisation"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_membership_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership")),
        sa.UniqueConstraint(
            "user_id",
            "organisation_id",
            "role",
            name=op.f("uq_membership_user_id_organisation_id_role"),
        ),
    )
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_membership_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_membership_user_id"), ["user_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_membership_user_id"))
        batch_op.drop_index(batch_op.f("ix_membership_organisation_id"))

    op.drop_table("membership")
    with op.batch_alter_table("grant_", schema=None) as batch_op:
        batch_op.drop_index("ix_grant__subject_entry")

    op.drop_table("grant_")
    op.drop_table("calendar_day")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_user_id"))

    op.drop_table("api_token")
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisation_parent_id"))
        batch_op.drop_index(batch_op.f("ix_organisation_kind"))
        batch_op.drop_index(batch_op.f("ix_organisation_division_code"))

    op.drop_table("organisation")
    op.drop_table("login_throttle")
    op.drop_table("calendar_year")
    with op.batch_alter_table("audit_record", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_record_subject")
        batch_op.drop_index("ix_audit_record_at")
        batch_op.drop_index("ix_audit_record_actor_id_at")
        batch_op.drop_index("ix_audit_record_action")

    op.drop_table("audit_record")
    op.drop_table("app_user")
