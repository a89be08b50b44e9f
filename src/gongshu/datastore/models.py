"""Dataset tables: each entry's ingest settings, its versions, ingest runs and open uploads.

A :class:`DatasetVersion` row is written in one metadata commit after its Parquet file is
complete, synced and in place under the lake, so a version either exists whole or not at all.
An :class:`IngestRun` records every attempt — running, refused, failed or stored — with its
report, so the page can show progress and the reasons a file was refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.catalog.models import CATALOG_GENERATION
from gongshu.kernel.db import Base
from gongshu.kernel.generations import watch

__all__ = ["DatasetSettings", "DatasetVersion", "IngestRun", "Upload"]


class DatasetSettings(Base):
    """How an entry's uploads are read: error policy, key fields and column aliases."""

    __tablename__ = "dataset_settings"

    entry_id: Mapped[str] = mapped_column(
        sa.ForeignKey("catalog_entry.id", ondelete="CASCADE"), primary_key=True
    )
    # "reject": any bad cell refuses the version; "quarantine": bad rows are set aside.
    on_error: Mapped[str] = mapped_column(sa.String(20), default="quarantine")
    key_fields: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    aliases: Mapped[dict[str, list[str]]] = mapped_column(sa.JSON, default=dict)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    updated_at: Mapped[datetime]
    updated_by_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="SET NULL")
    )


class DatasetVersion(Base):
    """One immutable upload of an entry's data: a content-addressed Parquet file."""

    __tablename__ = "dataset_version"
    __table_args__ = (sa.UniqueConstraint("entry_id", "number"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    entry_id: Mapped[str] = mapped_column(
        sa.ForeignKey("catalog_entry.id", ondelete="RESTRICT"), index=True
    )
    number: Mapped[int]
    file_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    file_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    rows: Mapped[int] = mapped_column(sa.BigInteger)
    quarantined_rows: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    quarantine_hash: Mapped[str | None] = mapped_column(sa.String(64))
    columns: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    key_fields: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    source_name: Mapped[str] = mapped_column(sa.String(300))
    source_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    source_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    source_format: Mapped[str] = mapped_column(sa.String(20))
    diff: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    note: Mapped[str] = mapped_column(sa.String(1000), default="")
    created_at: Mapped[datetime]
    created_by_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="SET NULL")
    )


class IngestRun(Base):
    """One attempt to load a file: its phase while running, then its outcome and report."""

    __tablename__ = "ingest_run"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    entry_id: Mapped[str] = mapped_column(
        sa.ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(
        sa.String(20)
    )  # running, stored, duplicate, refused, failed
    phase: Mapped[str] = mapped_column(sa.String(40), default="")
    source_name: Mapped[str] = mapped_column(sa.String(300))
    source_bytes: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    version_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("dataset_version.id", ondelete="SET NULL")
    )
    report: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    error: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    started_by_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="SET NULL")
    )


class Upload(Base):
    """A resumable upload: chunks are appended to a part file until ``received == size``."""

    __tablename__ = "dataset_upload"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    entry_id: Mapped[str] = mapped_column(
        sa.ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(sa.String(300))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    received: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    sheet: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    created_by_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="CASCADE")
    )


watch(CATALOG_GENERATION, [DatasetVersion])
