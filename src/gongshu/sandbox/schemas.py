"""Sandbox request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gongshu.identity.models import ReleasePolicy
from gongshu.identity.schemas import SandboxParams

__all__ = [
    "ModelCreate",
    "ModelRead",
    "ModelRun",
    "ModelWithdraw",
    "ParamIn",
    "QueryCreate",
    "QueryRead",
    "QueryReview",
    "ResultRead",
]

# Long enough for real analysis, short enough that parsing stays cheap; the guard says which.
MAX_SQL = 20_000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class QueryCreate(_In):
    """Run a query under a grant."""

    grant_id: str = Field(min_length=1, max_length=40)
    # Any length the body limit lets through reaches the guard, which refuses what is too long
    # with a precise code — and the refusal is recorded like any other.
    sql: str
    epsilon: float | None = Field(default=None, gt=0, le=10)


class ResultRead(BaseModel):
    """What left the sandbox."""

    query_id: str
    policy: str
    columns: list[str]
    rows: list[list[Any]]
    suppressed_groups: int
    epsilon_spent: float
    truncated: bool
    flagged: bool
    elapsed_ms: float
    budget_left: float | None


class QueryRead(BaseModel):
    """A recorded query, as its organisation and overseers see it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    actor_id: str | None
    organisation_id: str | None
    grant_id: str | None
    model_id: str | None
    policy: str | None
    sql: str
    tables: list[str]
    shape_hash: str | None
    result_hash: str | None
    outcome: str
    error_code: str | None
    error_message: str | None
    rows_released: int
    groups_suppressed: int
    epsilon_spent: float
    flagged: bool
    flag_reason: str | None
    reviewed_at: datetime | None
    review_note: str | None
    elapsed_ms: float
    created_at: datetime


class QueryReview(_In):
    """A reviewer's decision on a flagged query."""

    decision: Literal["cleared", "confirmed"]
    note: str = Field(min_length=2, max_length=1000)
    suspend_grant: bool = False


class ParamIn(_In):
    """A shared model's parameter."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")
    type: Literal["string", "integer", "decimal", "date"]
    label: str = Field(default="", max_length=100)
    choices: list[str | int | float] | None = None
    minimum: float | None = None
    maximum: float | None = None


class ModelCreate(_In):
    """Publish a shared model (共享模型)."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{1,99}$")
    title: str = Field(min_length=2, max_length=200)
    description: str = Field(default="", max_length=5000)
    owner_organisation_code: str | None = None
    sql: str = Field(min_length=1, max_length=MAX_SQL)
    params: list[ParamIn] = Field(default_factory=list, max_length=20)
    release_policy: ReleasePolicy = ReleasePolicy.AGGREGATE
    min_group_size: int | None = Field(default=None, ge=2)
    policy_params: SandboxParams | None = None


class ModelRead(BaseModel):
    """A shared model as grantees see it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    title: str
    description: str
    owner_organisation_id: str
    params: list[dict[str, Any]]
    release_policy: str
    min_group_size: int | None
    status: str
    created_at: datetime


class ModelWithdraw(_In):
    """Why a model is withdrawn."""

    reason: str = Field(min_length=2, max_length=1000)


class ModelRun(_In):
    """Run a shared model under one's grant on it."""

    grant_id: str = Field(min_length=1, max_length=40)
    params: dict[str, str | int | float] = Field(default_factory=dict)
    epsilon: float | None = Field(default=None, gt=0, le=10)
