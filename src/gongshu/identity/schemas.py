"""Pydantic input and output shapes of the identity domain (``XCreate`` / ``XRead``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from gongshu.identity.models import DeliveryMode, Grant, OrgKind, ReleasePolicy, Role

__all__ = [
    "AccessCheck",
    "AccessDecision",
    "AuditQuery",
    "AuditRead",
    "GrantCreate",
    "GrantRead",
    "GrantStatusChange",
    "MeRead",
    "MembershipIn",
    "MembershipRead",
    "OrganisationCreate",
    "OrganisationRead",
    "TokenCreate",
    "TokenIssued",
    "TokenRead",
    "UserCreate",
    "UserRead",
]

Scope = Literal["read", "write"]
RowFilterValue = str | int | float | bool


class _In(BaseModel):
    """Inputs refuse unknown fields, so a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class OrganisationCreate(_In):
    """A new organisation; ``parent_code`` places streets under districts and so on."""

    code: str = Field(min_length=2, max_length=40, pattern=r"^[0-9A-Za-z_.-]+$")
    name: str = Field(min_length=2, max_length=200)
    name_en: str = Field(default="", max_length=200)
    kind: OrgKind
    parent_code: str | None = None
    division_code: str | None = Field(default=None, pattern=r"^\d{6}(\d{3}(\d{3})?)?$")
    uscc: str | None = Field(default=None, min_length=18, max_length=18)


class OrganisationRead(_Out):
    """An organisation as shown to users."""

    id: str
    code: str
    name: str
    name_en: str
    kind: str
    parent_id: str | None
    division_code: str | None
    uscc: str | None
    active: bool


class MembershipIn(_In):
    """A role at an organisation, named by the organisation's code."""

    organisation_code: str
    role: Role


class MembershipRead(BaseModel):
    """A role a user holds."""

    organisation_id: str
    organisation_code: str
    organisation_name: str
    role: Role


class UserCreate(_In):
    """A new user with the roles they will hold."""

    username: str = Field(min_length=3, max_length=80, pattern=r"^[a-z0-9_.-]+$")
    display_name: str = Field(min_length=1, max_length=120)
    email: str | None = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")
    password: SecretStr | None = None
    memberships: list[MembershipIn] = Field(default_factory=list)

    @field_validator("password")
    @classmethod
    def _strong_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 10:
            raise ValueError("password must be at least 10 characters")
        return value


class UserRead(BaseModel):
    """A user as shown to administrators."""

    id: str
    username: str
    display_name: str
    email: str | None
    active: bool
    real_name_verified: bool
    memberships: list[MembershipRead]


class MeRead(BaseModel):
    """Who the caller is."""

    id: str
    username: str
    display_name: str
    via: str
    scopes: list[str] | None
    memberships: list[MembershipRead]


class TokenCreate(_In):
    """Ask for a new API token."""

    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(default_factory=lambda: list[Scope](["read"]), min_length=1)
    expires_in_days: int = Field(default=90, ge=1, le=365)


class TokenRead(_Out):
    """A token's metadata; the secret is never shown again."""

    id: str
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenIssued(TokenRead):
    """The one response that carries the secret."""

    token: str


class SandboxParams(_In):
    """Parameters of a sandbox grant's release policy."""

    # DP: clamp range per numeric field, public value list per grouping field.
    bounds: dict[str, tuple[float, float]] = Field(default_factory=dict)
    domains: dict[str, list[RowFilterValue]] = Field(default_factory=dict)
    max_contributions: int = Field(default=1, ge=1, le=1000)
    epsilon_per_query: float = Field(default=0.5, gt=0, le=10)
    # What a differencing series (near-identical aggregates a few subjects apart) leads to.
    differencing: Literal["flag", "block"] = "flag"
    max_rows: int = Field(default=10_000, ge=1, le=100_000)

    @field_validator("bounds")
    @classmethod
    def _ordered(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for name, (low, high) in value.items():
            if not low < high:
                raise ValueError(f"bounds of {name!r}: lower must be below upper")
        return value


class GrantCreate(_In):
    """Issue a grant."""

    subject_organisation_code: str
    entry_ref: str = Field(min_length=1, max_length=80)
    fields: list[str] = Field(min_length=1)
    row_filter: dict[str, list[RowFilterValue]] | None = None
    purpose: str = Field(min_length=2, max_length=1000)
    scenario: str | None = Field(default=None, max_length=200)
    valid_from: datetime | None = None
    valid_until: datetime
    delivery_modes: list[DeliveryMode] = Field(min_length=1)
    min_group_size: int | None = Field(default=None, ge=2)
    dp_epsilon_budget: float | None = Field(default=None, gt=0)
    rate_limit_per_minute: int | None = Field(default=None, ge=1)
    release_policy: ReleasePolicy | None = None
    policy_params: SandboxParams | None = None
    pinned_version_id: str | None = Field(default=None, max_length=40)

    @field_validator("valid_from", "valid_until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a time zone, e.g. 2027-01-01T00:00:00+08:00")
        return value


class GrantRead(_Out):
    """A grant as shown to those who may see it."""

    id: str
    subject_organisation_id: str
    entry_ref: str
    fields: list[str]
    row_filter: dict[str, Any] | None
    purpose: str
    scenario: str | None
    valid_from: datetime
    valid_until: datetime
    delivery_modes: list[str]
    min_group_size: int | None
    dp_epsilon_budget: float | None
    rate_limit_per_minute: int | None
    release_policy: str | None = None
    policy_params: dict[str, Any] | None = None
    pinned_version_id: str | None = None
    status: str
    effective_status: str = ""
    status_reason: str
    issued_by_id: str
    issued_at: datetime

    @classmethod
    def of(cls, grant: Grant, now: datetime) -> GrantRead:
        """The grant as shown at ``now``, with its effective status."""
        read = cls.model_validate(grant)
        read.effective_status = grant.status_at(now).value
        return read


class GrantStatusChange(_In):
    """Revoke, suspend or reinstate, always with a reason."""

    reason: str = Field(min_length=2, max_length=1000)


class AccessCheck(_In):
    """May this organisation get these fields of this entry this way now?"""

    entry_ref: str
    fields: list[str] = Field(min_length=1)
    mode: DeliveryMode
    organisation_id: str | None = None


class AccessDecision(BaseModel):
    """The answer, with the grant that allows it and its constraints."""

    allowed: bool
    reason: str
    grant_id: str | None = None
    row_filter: dict[str, Any] | None = None
    min_group_size: int | None = None
    dp_epsilon_budget: float | None = None
    rate_limit_per_minute: int | None = None


class AuditQuery(_In):
    """Filters for the audit search."""

    actor: str | None = None
    action: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditRead(_Out):
    """One audit record."""

    id: str
    at: datetime
    actor_id: str | None
    actor_label: str
    actor_roles: list[str]
    action: str
    subject_type: str
    subject_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str
    source_address: str
