"""Dataset API shapes: settings in, versions, runs and uploads out."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RunRead", "SettingsInput", "SettingsRead", "UploadCreate", "UploadRead", "VersionRead"]


class SettingsInput(BaseModel):
    """How an entry's uploads are read."""

    model_config = ConfigDict(extra="forbid")

    on_error: Literal["reject", "quarantine"] = "quarantine"
    key_fields: list[str] = Field(default_factory=list, max_length=10)
    aliases: dict[str, list[str]] = Field(default_factory=dict)


class SettingsRead(SettingsInput):
    """Saved settings."""

    model_config = ConfigDict(from_attributes=True)

    entry_id: str


class VersionRead(BaseModel):
    """One dataset version (its metadata; rows are read through grants)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    entry_id: str
    number: int
    rows: int
    quarantined_rows: int
    file_hash: str
    file_bytes: int
    columns: list[dict[str, Any]]
    key_fields: list[str]
    source_name: str
    source_format: str
    source_bytes: int
    source_hash: str
    diff: dict[str, Any] | None
    note: str
    created_at: datetime
    created_by_id: str | None


class RunRead(BaseModel):
    """One ingest attempt."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    entry_id: str
    status: str
    phase: str
    source_name: str
    source_bytes: int
    version_id: str | None
    report: dict[str, Any]
    error: str | None
    started_at: datetime
    finished_at: datetime | None


class UploadCreate(BaseModel):
    """Start a resumable upload of ``size`` bytes."""

    model_config = ConfigDict(extra="forbid")

    entry_id: str
    filename: str = Field(min_length=1, max_length=300)
    size: int = Field(gt=0)
    sheet: str | None = Field(default=None, max_length=100)


class UploadRead(BaseModel):
    """Where a resumable upload stands: send the bytes from ``received`` on."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    entry_id: str
    filename: str
    size: int
    received: int
    sheet: str | None
    expires_at: datetime
