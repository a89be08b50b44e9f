"""Identity tables: organisations, users, role memberships, API tokens, login throttle, grants."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.kernel.db import Base

__all__ = [
    "ApiToken",
    "DeliveryMode",
    "Grant",
    "GrantStatus",
    "LoginThrottle",
    "Membership",
    "OrgKind",
    "Organisation",
    "ReleasePolicy",
    "Role",
    "User",
]


class OrgKind(StrEnum):
    """Kinds of organisation in the architecture's role table."""

    BUREAU = "bureau"
    DEPARTMENT = "department"
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    REGISTRAR = "registrar"
    AUTHORITY = "authority"
    OPERATOR = "operator"
    PRICE_REGULATOR = "price_regulator"
    AUDIT_OFFICE = "audit_office"
    SECURITY_AGENCY = "security_agency"
    ENTERPRISE = "enterprise"
    PUBLIC = "public"


# Which kinds may sit under which: district → street → community; departments may sit
# under a district (区级部门); everything else hangs at the top.
ALLOWED_PARENTS: dict[OrgKind, frozenset[OrgKind]] = {
    OrgKind.STREET: frozenset({OrgKind.DISTRICT}),
    OrgKind.COMMUNITY: frozenset({OrgKind.STREET}),
    OrgKind.DEPARTMENT: frozenset({OrgKind.DISTRICT}),
    OrgKind.ENTERPRISE: frozenset({OrgKind.DISTRICT}),
}


class Role(StrEnum):
    """What a user does for an organisation."""

    BUREAU_ADMIN = "bureau_admin"
    DEPT_OFFICER = "dept_officer"
    DISTRICT_OFFICER = "district_officer"
    REGISTRAR = "registrar"
    AUTHORITY = "authority"
    OPERATOR = "operator"
    PRICE_REGULATOR = "price_regulator"
    AUDITOR = "auditor"
    SECURITY_OFFICER = "security_officer"
    PUBLIC = "public"


class DeliveryMode(StrEnum):
    """How data reaches a grantee (共享方式, plus the sandbox)."""

    API = "api"
    BATCH = "batch"
    FILE = "file"
    SANDBOX = "sandbox"


class ReleasePolicy(StrEnum):
    """What a sandbox grant may take out of the sandbox (原始数据不出域)."""

    AGGREGATE = "aggregate"  # aggregates over at least k distinct subjects per released row
    DP = "dp"  # differentially private counts, sums, means and histograms, within a budget
    ROWS = "rows"  # row-level results, e.g. a department over its own data


class GrantStatus(StrEnum):
    """A grant's stored status; ``expired`` is also derived from the validity window."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"


class Organisation(Base):
    """A public body, district, street, community, operator, enterprise …"""

    __tablename__ = "organisation"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    name_en: Mapped[str] = mapped_column(sa.String(200), default="")
    kind: Mapped[str] = mapped_column(sa.String(30), index=True)
    parent_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="RESTRICT"), index=True
    )
    division_code: Mapped[str | None] = mapped_column(sa.String(12), index=True)
    uscc: Mapped[str | None] = mapped_column(sa.String(18), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class User(Base):
    """A person who signs in; public users may have no organisation of their own."""

    __tablename__ = "app_user"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(80), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(120))
    email: Mapped[str | None] = mapped_column(sa.String(200))
    password_hash: Mapped[str | None] = mapped_column(sa.String(200))
    active: Mapped[bool] = mapped_column(default=True)
    real_name_verified: Mapped[bool] = mapped_column(default=False)
    # Bumped on password change or deactivation: invalidates every signed session cookie.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime]


class Membership(Base):
    """A role a user holds at an organisation."""

    __tablename__ = "membership"
    __table_args__ = (sa.UniqueConstraint("user_id", "organisation_id", "role"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="RESTRICT"), index=True
    )
    role: Mapped[str] = mapped_column(sa.String(30))
    created_at: Mapped[datetime]


class ApiToken(Base):
    """A bearer token: shown once, stored as a hash, scoped, expiring, revocable."""

    __tablename__ = "api_token"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(100))
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    scopes: Mapped[list[str]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class LoginThrottle(Base):
    """Failed sign-ins per key (username or source address) in the current window."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(sa.String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime]


class Grant(Base):
    """The one access concept: who, what, why, when, how, and with which constraints."""

    __tablename__ = "grant_"
    __table_args__ = (
        sa.Index("ix_grant__subject_entry", "subject_organisation_id", "entry_ref"),
        sa.CheckConstraint("valid_until > valid_from", name="valid_window"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    subject_organisation_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="RESTRICT")
    )
    # A catalogue entry id; a plain reference until the catalogue domain exists.
    entry_ref: Mapped[str] = mapped_column(sa.String(80))
    fields: Mapped[list[str]] = mapped_column(sa.JSON)
    row_filter: Mapped[dict[str, Any] | None]
    purpose: Mapped[str] = mapped_column(sa.String(1000))
    scenario: Mapped[str | None] = mapped_column(sa.String(200))
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime]
    delivery_modes: Mapped[list[str]] = mapped_column(sa.JSON)
    min_group_size: Mapped[int | None]
    dp_epsilon_budget: Mapped[float | None]
    # Sandbox grants: the release policy, its parameters (DP bounds and public domains, rows per
    # subject, differencing action, row cap) and an optional pinned dataset version.
    release_policy: Mapped[str | None] = mapped_column(sa.String(20))
    policy_params: Mapped[dict[str, Any] | None]
    pinned_version_id: Mapped[str | None] = mapped_column(sa.String(40))
    rate_limit_per_minute: Mapped[int | None]
    status: Mapped[str] = mapped_column(sa.String(20), default=GrantStatus.ACTIVE)
    status_reason: Mapped[str] = mapped_column(sa.String(1000), default="")
    issued_by_id: Mapped[str] = mapped_column(sa.ForeignKey("app_user.id", ondelete="RESTRICT"))
    issued_at: Mapped[datetime]
    changed_at: Mapped[datetime]

    def status_at(self, now: datetime) -> GrantStatus:
        """The status that applies now: an active grant past its window is expired."""
        status = GrantStatus(self.status)
        if status is GrantStatus.ACTIVE and now >= self.valid_until:
            return GrantStatus.EXPIRED
        return status
