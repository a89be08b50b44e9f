"""Catalogue tables: entries (the working copy), their fields, published versions, sequences.

An entry row is the working copy that departments edit and the bureau reviews; each
publication freezes the whole entry into a :class:`EntryVersion` document, which is what the
public surfaces (DCAT, the open-data portal) show. A published entry under revision keeps its
last published version visible while its working copy goes through review again.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gongshu.catalog.vocab import FREQUENCY_INTERVALS, EntryStatus, UpdateFrequency
from gongshu.kernel.db import Base
from gongshu.kernel.generations import watch

__all__ = [
    "CATALOG_GENERATION",
    "CatalogSequence",
    "Entry",
    "EntryField",
    "EntryVersion",
]

# Moves with every committed change to entries, their data items, published versions and,
# through the datastore, their data versions (see gongshu.kernel.generations).
CATALOG_GENERATION = "catalog"


class Entry(Base):
    """A catalogue entry (目录项): a data resource, or an operator's product or service."""

    __tablename__ = "catalog_entry"
    __table_args__ = (
        sa.UniqueConstraint("provider_id", "name", name="uq_catalog_entry_provider_name"),
        sa.Index("ix_catalog_entry_status_due", "status", "review_due"),
        sa.Index("ix_catalog_entry_updated", "updated_at", "id"),
        sa.Index("ix_catalog_entry_district", "district_id"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    # A small integer key: the search index's row id.
    seq: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str] = mapped_column(sa.String(200))
    summary: Mapped[str] = mapped_column(sa.Text)
    keywords: Mapped[list[str]] = mapped_column(sa.JSON)
    provider_id: Mapped[str] = mapped_column(sa.ForeignKey("organisation.id", ondelete="RESTRICT"))
    district_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="RESTRICT")
    )
    format: Mapped[str] = mapped_column(sa.String(20))
    update_frequency: Mapped[str] = mapped_column(sa.String(20))
    share_type: Mapped[str] = mapped_column(sa.String(20), index=True)
    share_conditions: Mapped[str | None] = mapped_column(sa.Text)
    delivery: Mapped[list[str]] = mapped_column(sa.JSON)
    legal_basis: Mapped[str | None] = mapped_column(sa.Text)
    open_type: Mapped[str] = mapped_column(sa.String(20), index=True)
    open_conditions: Mapped[str | None] = mapped_column(sa.Text)
    theme: Mapped[str] = mapped_column(sa.String(2), index=True)
    impact: Mapped[dict[str, Any]]
    computed_grade: Mapped[str] = mapped_column(sa.String(20))
    grade: Mapped[str] = mapped_column(sa.String(20), index=True)
    grade_reason: Mapped[str | None] = mapped_column(sa.Text)
    related: Mapped[list[str]] = mapped_column(sa.JSON)
    duty: Mapped[str | None] = mapped_column(sa.String(200))
    system: Mapped[str | None] = mapped_column(sa.String(200))
    table_name: Mapped[str | None] = mapped_column(sa.String(200))
    resource_code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    status: Mapped[str] = mapped_column(sa.String(20), default=EntryStatus.DRAFT)
    published_version: Mapped[int | None]
    created_by_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="RESTRICT")
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    first_published_at: Mapped[datetime | None]
    last_published_at: Mapped[datetime | None]
    data_updated_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]
    review_due: Mapped[date | None]
    reviewed_by_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="RESTRICT")
    )
    reviewed_at: Mapped[datetime | None]
    review_note: Mapped[str | None] = mapped_column(sa.Text)
    deprecated_reason: Mapped[str | None] = mapped_column(sa.Text)

    fields: Mapped[list[EntryField]] = relationship(
        order_by="EntryField.position",
        cascade="all, delete-orphan",
        lazy="raise",
    )

    def overdue_since(self, now: datetime) -> datetime | None:
        """When the data became overdue for its update frequency, or None if it is not."""
        interval = FREQUENCY_INTERVALS[UpdateFrequency(self.update_frequency)]
        if interval is None or self.data_updated_at is None:
            return None
        due = self.data_updated_at + interval
        return due if now > due else None

    def review_overdue(self, today: date) -> bool:
        """True when the bureau's 2-working-day review is late."""
        return (
            self.status in (EntryStatus.SUBMITTED, EntryStatus.REVIEWED)
            and self.review_due is not None
            and today > self.review_due
        )


class EntryField(Base):
    """A data item (数据项) of an entry, with the flags the sandbox and open data act on."""

    __tablename__ = "catalog_field"
    __table_args__ = (sa.UniqueConstraint("entry_id", "name", name="uq_catalog_field_name"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(sa.ForeignKey("catalog_entry.id", ondelete="CASCADE"))
    position: Mapped[int]
    name: Mapped[str] = mapped_column(sa.String(100))
    type: Mapped[str] = mapped_column(sa.String(20))
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    element_code: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    flags: Mapped[list[str]] = mapped_column(sa.JSON)


class EntryVersion(Base):
    """One published state of an entry, frozen as a document, anchored in the ledger."""

    __tablename__ = "catalog_version"

    entry_id: Mapped[str] = mapped_column(
        sa.ForeignKey("catalog_entry.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    document: Mapped[dict[str, Any]]
    published_at: Mapped[datetime]
    published_by_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="RESTRICT")
    )
    note: Mapped[str] = mapped_column(sa.String(1000), default="")


class CatalogSequence(Base):
    """Counters behind resource codes: one per code prefix, and one numbering providers."""

    __tablename__ = "catalog_sequence"

    key: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger)


watch(CATALOG_GENERATION, [Entry, EntryField, EntryVersion])
