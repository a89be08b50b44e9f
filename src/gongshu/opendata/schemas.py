"""Pydantic input and output shapes of the open API: accounts, app keys, usage, figures."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = [
    "AccountCreate",
    "AccountRead",
    "AppKeyCreate",
    "AppKeyIssued",
    "AppKeyRead",
    "DatasetUsage",
    "KeyUsage",
    "OpenStats",
    "RealNameInput",
    "UsageDay",
]


class _In(BaseModel):
    """Inputs refuse unknown fields, so a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AccountCreate(_In):
    """A public sign-up: the user and a personal organisation of their own."""

    username: str = Field(min_length=3, max_length=80, pattern=r"^[a-z0-9_.-]+$")
    display_name: str = Field(min_length=1, max_length=120)
    email: str = Field(max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    password: SecretStr

    @field_validator("password")
    @classmethod
    def _strong_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 10:
            raise ValueError("密码至少 10 个字符 (password must be at least 10 characters)")
        return value


class AccountRead(BaseModel):
    """A public account as its holder sees it."""

    id: str
    username: str
    display_name: str
    email: str | None
    real_name_verified: bool
    organisation_id: str | None
    organisation_code: str | None
    created_at: datetime


class RealNameInput(_In):
    """Name and citizen ID for real-name verification; neither is stored."""

    name: str = Field(min_length=2, max_length=40)
    citizen_id: SecretStr


class AppKeyCreate(_In):
    """A new app key; limits are capped by the platform's defaults."""

    name: str = Field(min_length=1, max_length=100)
    organisation_id: str | None = Field(default=None, max_length=40)
    rate_limit_per_minute: int | None = Field(default=None, ge=1)
    daily_quota: int | None = Field(default=None, ge=1)


class AppKeyRead(_Out):
    """An app key's metadata; the secret is never shown again."""

    id: str
    name: str
    prefix: str
    organisation_id: str
    rate_limit_per_minute: int
    daily_quota: int
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class AppKeyIssued(AppKeyRead):
    """The one response that carries the key itself."""

    key: str


class UsageDay(BaseModel):
    """Calls and rows on one day."""

    day: date
    calls: int
    rows: int


class KeyUsage(BaseModel):
    """One key's usage over the period, by day."""

    key_id: str
    name: str
    prefix: str
    calls: int
    rows: int
    daily_quota: int
    calls_today: int
    days: list[UsageDay]


class DatasetUsage(BaseModel):
    """One dataset's API calls, rows served and downloads over the period."""

    entry_id: str
    entry_name: str
    calls: int
    rows: int
    downloads: int
    keys: int


class OpenStats(BaseModel):
    """The portal's live figures (the home page shows them)."""

    open_entries: int
    unconditional_entries: int
    conditional_entries: int
    departments: int
    downloads: int
    api_calls: int
    rows_served: int
    app_keys: int
    as_of: datetime
