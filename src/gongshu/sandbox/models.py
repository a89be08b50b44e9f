"""Sandbox tables: every query's record, each DP grant's spent budget, and shared models.

A :class:`SandboxQuery` is written for every query — released, refused, failed or blocked —
with the SQL, its normalised shape, the hash of what left, and how much privacy budget it
spent, so the bureau can reconstruct who learned what. A :class:`PrivacySpend` row per DP grant
is reserved atomically *before* a query runs, so concurrent queries cannot overspend.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.kernel.db import Base

__all__ = [
    "ModelStatus",
    "PrivacySpend",
    "QueryOutcome",
    "SandboxQuery",
    "SharedModel",
    "SubjectProfile",
]


class QueryOutcome(StrEnum):
    """How a sandbox query ended."""

    RELEASED = "released"  # a result left the sandbox
    REFUSED = "refused"  # the guard or the grant said no; nothing ran
    FAILED = "failed"  # it ran and failed (timeout, memory, output too large)
    BLOCKED = "blocked"  # it ran, but a differencing series withheld the result


class ModelStatus(StrEnum):
    """A shared model's state."""

    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class SandboxQuery(Base):
    """One query: who, under which grant, what SQL, what left and what was withheld."""

    __tablename__ = "sandbox_query"
    __table_args__ = (sa.Index("ix_sandbox_query__grant_frame", "grant_id", "frame_hash"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    actor_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="SET NULL"), index=True
    )
    organisation_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="SET NULL"), index=True
    )
    grant_id: Mapped[str | None] = mapped_column(sa.String(40))
    model_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("sandbox_model.id", ondelete="SET NULL"), index=True
    )
    policy: Mapped[str | None] = mapped_column(sa.String(20))
    sql: Mapped[str] = mapped_column(sa.Text)
    params: Mapped[dict[str, Any] | None]
    tables: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    shape_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    frame_hash: Mapped[str | None] = mapped_column(sa.String(64))
    where_sql: Mapped[str | None] = mapped_column(sa.Text)
    result_hash: Mapped[str | None] = mapped_column(sa.String(64))
    outcome: Mapped[str] = mapped_column(sa.String(20), index=True)
    error_code: Mapped[str | None] = mapped_column(sa.String(60))
    error_message: Mapped[str | None] = mapped_column(sa.String(2000))
    rows_released: Mapped[int] = mapped_column(default=0)
    groups_suppressed: Mapped[int] = mapped_column(default=0)
    epsilon_spent: Mapped[float] = mapped_column(sa.Float, default=0.0)
    # Differencing: flagged for review, with why; a reviewer may clear or confirm it.
    flagged: Mapped[bool] = mapped_column(default=False, index=True)
    flag_reason: Mapped[str | None] = mapped_column(sa.String(1000))
    reviewed_by_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="SET NULL")
    )
    reviewed_at: Mapped[datetime | None]
    review_note: Mapped[str | None] = mapped_column(sa.String(1000))
    elapsed_ms: Mapped[float] = mapped_column(sa.Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(index=True)


class PrivacySpend(Base):
    """How much of a DP grant's privacy budget (ε) is spent, reserved before each query."""

    __tablename__ = "sandbox_privacy_spend"

    grant_id: Mapped[str] = mapped_column(
        sa.ForeignKey("grant_.id", ondelete="CASCADE"), primary_key=True
    )
    spent: Mapped[float] = mapped_column(sa.Float, default=0.0)
    queries: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]


class SubjectProfile(Base):
    """Whether each row of a version is a different data subject, measured once per version.

    When it is, a query over one occurrence of the table counts subjects as rows — as cheap as
    the query itself — instead of counting distinct identifiers, and DP needs no contribution
    bounding pass.
    """

    __tablename__ = "sandbox_subject_profile"

    version_id: Mapped[str] = mapped_column(
        sa.ForeignKey("dataset_version.id", ondelete="CASCADE"), primary_key=True
    )
    subject_sql: Mapped[str] = mapped_column(sa.String(1000))
    unique_rows: Mapped[bool]
    measured_at: Mapped[datetime]


class SharedModel(Base):
    """A department's parameterised query (共享模型): grantees run it and see only its result."""

    __tablename__ = "sandbox_model"
    __table_args__ = (sa.UniqueConstraint("owner_organisation_id", "name"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    owner_organisation_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="RESTRICT"), index=True
    )
    sql: Mapped[str] = mapped_column(sa.Text)
    params: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    entry_ids: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    release_policy: Mapped[str] = mapped_column(sa.String(20))
    min_group_size: Mapped[int | None]
    policy_params: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    status: Mapped[str] = mapped_column(sa.String(20), default=ModelStatus.PUBLISHED)
    created_by_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
