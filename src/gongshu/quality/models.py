"""Quality tables: each version's report, the data element registry, and objections.

A :class:`QualityReport` is computed once per dataset version (profile, rule results, scores)
and carries the entry's provider and district so league tables group without joins. The
:class:`DataElement` registry names one authoritative source per element (一数一源一标准).
An :class:`Objection` (数据异议) moves through its steps with a working-day deadline per step;
each step is an :class:`ObjectionEvent`, audited and anchored in the ledger.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.kernel.db import Base

__all__ = ["DataElement", "Objection", "ObjectionEvent", "QualityReport"]


class QualityReport(Base):
    """Profile, rule results and scores of one dataset version."""

    __tablename__ = "quality_report"

    version_id: Mapped[str] = mapped_column(
        sa.ForeignKey("dataset_version.id", ondelete="CASCADE"), primary_key=True
    )
    entry_id: Mapped[str] = mapped_column(
        sa.ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True
    )
    provider_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    district_id: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    rows: Mapped[int] = mapped_column(sa.BigInteger)
    profile: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    results: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    scores: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    overall: Mapped[float | None]
    source_findings: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    assessed_at: Mapped[datetime] = mapped_column(index=True)
    seconds: Mapped[float]


class DataElement(Base):
    """A standard data element with its one authoritative source department."""

    __tablename__ = "data_element"

    code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), index=True)
    type: Mapped[str] = mapped_column(sa.String(20))
    pattern: Mapped[str | None] = mapped_column(sa.String(500))
    code_list: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    description: Mapped[str] = mapped_column(sa.String(1000), default="")
    source_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="RESTRICT"), index=True
    )
    # The catalogue entry holding the authoritative values, keyed by ``source_key``.
    source_entry_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("catalog_entry.id", ondelete="SET NULL")
    )
    source_key: Mapped[str | None] = mapped_column(sa.String(100))
    updated_at: Mapped[datetime]


class Objection(Base):
    """A claim that data is wrong: on an entry, a version, or one record's field."""

    __tablename__ = "objection"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    entry_id: Mapped[str] = mapped_column(
        sa.ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True
    )
    version_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("dataset_version.id", ondelete="SET NULL")
    )
    record_key: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    field_name: Mapped[str | None] = mapped_column(sa.String(100))
    claim: Mapped[str] = mapped_column(sa.Text)
    proposed: Mapped[str | None] = mapped_column(sa.Text)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    channel: Mapped[str] = mapped_column(sa.String(20))  # department, sharing, public
    filer_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="SET NULL"), index=True
    )
    filer_org_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="SET NULL")
    )
    handler_org_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    flagged: Mapped[bool] = mapped_column(default=False, index=True)
    finding: Mapped[str | None] = mapped_column(sa.String(20))  # confirmed, unfounded
    answer: Mapped[str | None] = mapped_column(sa.Text)
    correction: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    due_on: Mapped[date | None] = mapped_column(index=True)
    escalated_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class ObjectionEvent(Base):
    """One step of an objection: who did what, when, and the deadline it set."""

    __tablename__ = "objection_event"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    objection_id: Mapped[str] = mapped_column(
        sa.ForeignKey("objection.id", ondelete="CASCADE"), index=True
    )
    step: Mapped[str] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(20))
    actor_id: Mapped[str | None] = mapped_column(sa.ForeignKey("app_user.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(sa.String(200))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    due_on: Mapped[date | None]
    at: Mapped[datetime]
