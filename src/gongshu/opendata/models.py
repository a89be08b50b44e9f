"""Open data tables: app keys and their usage, downloads, conditional-opening applications,
data requests (接诉即办) with their timeline, the annual open plan and the showcase.

A public account is a user with the ``public`` role in a personal organisation of its own
(kind ``public``), so a conditional-opening approval can issue an ordinary :class:`Grant` to it;
its app keys then carry that grant to the row API and downloads.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.kernel.db import Base

__all__ = [
    "AppKey",
    "ApplicationStatus",
    "DataRequest",
    "DataRequestEvent",
    "DownloadCount",
    "OpenApplication",
    "OpenPlanItem",
    "RequestStatus",
    "ShowcaseApp",
    "ShowcaseStatus",
    "UsageCount",
]


class AppKey(Base):
    """A developer's key for the open API: hashed secret, rate limit and daily quota."""

    __tablename__ = "open_app_key"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(100))
    prefix: Mapped[str] = mapped_column(sa.String(16), unique=True)  # shown, and looked up by
    secret_hash: Mapped[str] = mapped_column(sa.String(128))
    rate_limit_per_minute: Mapped[int]
    daily_quota: Mapped[int]
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class UsageCount(Base):
    """Calls and rows served per key, dataset and day (the usage statistics)."""

    __tablename__ = "open_usage"

    key_id: Mapped[str] = mapped_column(
        sa.ForeignKey("open_app_key.id", ondelete="CASCADE"), primary_key=True
    )
    entry_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    calls: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    rows: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class DownloadCount(Base):
    """Downloads per dataset, format and day (anonymous ones included)."""

    __tablename__ = "open_download"

    entry_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    format: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class ApplicationStatus(StrEnum):
    """A conditional-opening application's state."""

    SUBMITTED = "submitted"
    APPROVED = "approved"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


class OpenApplication(Base):
    """An application to use a 有条件开放 entry (purpose, scenario, fields, term)."""

    __tablename__ = "open_application"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    entry_id: Mapped[str] = mapped_column(
        sa.ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True
    )
    applicant_id: Mapped[str] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="CASCADE")
    )
    provider_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="RESTRICT"), index=True
    )
    purpose: Mapped[str] = mapped_column(sa.String(1000))
    scenario: Mapped[str] = mapped_column(sa.String(200))
    fields: Mapped[list[str]] = mapped_column(sa.JSON)
    delivery: Mapped[str] = mapped_column(sa.String(20))  # api or file
    term_days: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    due_on: Mapped[date]
    decided_by_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None]
    reasons: Mapped[str | None] = mapped_column(sa.Text)
    grant_id: Mapped[str | None] = mapped_column(sa.String(40))
    created_at: Mapped[datetime]


class RequestStatus(StrEnum):
    """A data request's state (开放数据接诉即办)."""

    SUBMITTED = "submitted"  # waiting for the bureau to dispatch it
    DISPATCHED = "dispatched"  # with a department, deadline running
    ANSWERED = "answered"  # the public answer is out
    RATED = "rated"  # the requester rated the answer
    REJECTED = "rejected"  # not taken up, with a reason


class DataRequest(Base):
    """Someone asks for data that is not (yet) open; the answer is public."""

    __tablename__ = "open_data_request"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    requester_id: Mapped[str] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text)
    purpose: Mapped[str] = mapped_column(sa.String(1000))
    fields: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    entry_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("catalog_entry.id", ondelete="SET NULL")
    )
    department_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    dispatched_at: Mapped[datetime | None]
    due_on: Mapped[date | None]
    answer: Mapped[str | None] = mapped_column(sa.Text)
    answer_kind: Mapped[str | None] = mapped_column(sa.String(20))  # opened, planned, refused …
    answered_at: Mapped[datetime | None]
    rating: Mapped[int | None]  # 1–5
    rating_note: Mapped[str | None] = mapped_column(sa.String(1000))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class DataRequestEvent(Base):
    """One step of a data request's public timeline."""

    __tablename__ = "open_data_request_event"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(
        sa.ForeignKey("open_data_request.id", ondelete="CASCADE"), index=True
    )
    step: Mapped[str] = mapped_column(sa.String(20))
    actor_label: Mapped[str] = mapped_column(sa.String(200))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    at: Mapped[datetime]


class OpenPlanItem(Base):
    """One line of the annual open plan (年度开放计划): an entry planned for a quarter."""

    __tablename__ = "open_plan_item"
    __table_args__ = (sa.UniqueConstraint("year", "entry_id"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    year: Mapped[int] = mapped_column(index=True)
    quarter: Mapped[int]
    entry_id: Mapped[str] = mapped_column(sa.ForeignKey("catalog_entry.id", ondelete="CASCADE"))
    department_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="RESTRICT"), index=True
    )
    open_type: Mapped[str] = mapped_column(sa.String(20))  # planned open type
    note: Mapped[str] = mapped_column(sa.String(1000), default="")
    opened_at: Mapped[datetime | None]  # filled when the entry is published as open
    created_at: Mapped[datetime]


class ShowcaseStatus(StrEnum):
    """A showcase application's review state."""

    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


class ShowcaseApp(Base):
    """An application built on open data, submitted by a user, reviewed by the bureau."""

    __tablename__ = "open_showcase_app"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    submitter_id: Mapped[str] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text)
    url: Mapped[str] = mapped_column(sa.String(500))
    entry_ids: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    review_note: Mapped[str | None] = mapped_column(sa.String(1000))
    reviewed_by_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
    reviewed_at: Mapped[datetime | None]
