"""Input and output shapes of data requests, the open plan, the showcase and applications.

Outputs carry what a page needs besides the row: names, Chinese labels, deadline countdowns,
the steps the caller may take and the links to follow.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "AnswerInput",
    "AnswerKind",
    "ApplicationInput",
    "ApplicationRead",
    "ApproveInput",
    "DataRequestInput",
    "DataRequestRead",
    "DeclineInput",
    "DepartmentProgress",
    "DepartmentRequestStats",
    "DispatchInput",
    "GrantSummary",
    "PlanItemInput",
    "PlanItemRead",
    "PlanItemUpdate",
    "PlanProgress",
    "QuarterProgress",
    "RatingInput",
    "RefuseInput",
    "RequestEventRead",
    "RequestStatistics",
    "ReviewInput",
    "ShowcaseAppRead",
    "ShowcaseInput",
]


class _In(BaseModel):
    """Inputs refuse unknown fields and trim their strings."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _field_names(values: list[str]) -> list[str]:
    """Trimmed, non-empty, each once, in the order given."""
    seen: dict[str, None] = {}
    for value in values:
        name = value.strip()
        if not name or len(name) > 100:
            raise ValueError("a field name has 1 to 100 characters")
        seen.setdefault(name, None)
    return list(seen)


FieldNames = Annotated[list[str], AfterValidator(_field_names)]


# --- data requests ----------------------------------------------------------------------------


class AnswerKind(StrEnum):
    """What a department's public answer says about the data asked for."""

    OPENED = "opened"  # open now, without conditions
    PLANNED = "planned"  # in the open plan
    CONDITIONAL = "conditional"  # open on application (有条件开放)
    REFUSED = "refused"  # not to be opened, with the reason


class DataRequestInput(_In):
    """A data request as filed: what, why, which fields, optionally the related entry."""

    title: str = Field(min_length=2, max_length=200)
    description: str = Field(min_length=1, max_length=5000)
    purpose: str = Field(min_length=1, max_length=1000)
    fields: FieldNames = Field(default_factory=list, max_length=50)
    entry_id: str | None = Field(default=None, min_length=1, max_length=40)


class DispatchInput(_In):
    """The department that answers, and a note for the timeline."""

    department_id: str = Field(min_length=1, max_length=40)
    note: str = Field(default="", max_length=1000)


class DeclineInput(_In):
    """Why the bureau does not take a request up."""

    reason: str = Field(min_length=1, max_length=1000)


class AnswerInput(_In):
    """The public answer; ``entry_id`` names the open entry for opened and conditional."""

    kind: AnswerKind
    text: str = Field(min_length=1, max_length=5000)
    entry_id: str | None = Field(default=None, min_length=1, max_length=40)


class RatingInput(_In):
    """The requester's rating of the answer."""

    rating: int = Field(ge=1, le=5)
    note: str = Field(default="", max_length=1000)


class RequestEventRead(BaseModel):
    """One step on a request's public timeline."""

    step: str
    step_label: str
    actor_label: str
    note: str
    at: datetime


class DataRequestRead(BaseModel):
    """A data request as the portal shows it, with its countdown and next steps."""

    id: str
    title: str
    description: str
    purpose: str
    fields: list[str]
    entry_id: str | None
    entry_name: str | None
    requester: str  # masked
    mine: bool
    department_id: str | None
    department_name: str | None
    status: str
    status_label: str
    dispatched_at: datetime | None
    due_on: date | None
    working_days_left: int | None
    overdue: bool
    answer: str | None
    answer_kind: str | None
    answer_kind_label: str | None
    answered_at: datetime | None
    answered_on_time: bool | None
    rating: int | None
    rating_note: str | None
    created_at: datetime
    updated_at: datetime
    next_steps: list[str]
    links: dict[str, str]
    events: list[RequestEventRead] | None = None


class DepartmentRequestStats(BaseModel):
    """One department's data requests and its three published rates."""

    organisation_id: str
    name: str
    dispatched: int
    pending: int
    overdue: int
    answered: int
    answered_on_time: int
    resolved: int
    rated: int
    response_rate: float | None  # answered on time / dispatched
    resolution_rate: float | None  # opened or planned / answered
    satisfaction_mean: float | None  # mean rating, 1–5
    satisfaction_rate: float | None  # share of ratings ≥ 4


class RequestStatistics(BaseModel):
    """The published figures of 接诉即办, city-wide and per department."""

    today: date
    by_status: dict[str, int]
    total: DepartmentRequestStats
    departments: list[DepartmentRequestStats]
    definitions: dict[str, str]


# --- the open plan ----------------------------------------------------------------------------

OpenTypeIn = Literal["unconditional", "conditional"]


class PlanItemInput(_In):
    """A line of the annual open plan."""

    year: int = Field(ge=2000, le=2100)
    quarter: int = Field(ge=1, le=4)
    entry_id: str = Field(min_length=1, max_length=40)
    open_type: OpenTypeIn
    note: str = Field(default="", max_length=1000)


class PlanItemUpdate(_In):
    """A change to a plan line; what is left out stays."""

    quarter: int | None = Field(default=None, ge=1, le=4)
    open_type: OpenTypeIn | None = None
    note: str | None = Field(default=None, max_length=1000)


class PlanItemRead(BaseModel):
    """A plan line with its entry, department and whether (and when) it was opened."""

    id: str
    year: int
    quarter: int
    quarter_ends_on: date
    entry_id: str
    entry_name: str
    entry_public: bool  # the entry is open now: the page may link to it
    department_id: str
    department_name: str
    open_type: str
    open_type_label: str
    note: str
    opened: bool
    opened_at: datetime | None
    on_time: bool | None  # opened by the end of its quarter
    overdue: bool  # its quarter is over and it is not open
    created_at: datetime


class QuarterProgress(BaseModel):
    """Planned against opened for one quarter, and cumulatively to its end."""

    quarter: int
    ends_on: date
    planned: int
    opened: int
    on_time: int
    overdue: int
    cumulative_planned: int
    cumulative_opened: int  # of the year's lines, opened by this quarter's end


class DepartmentProgress(BaseModel):
    """Planned against opened for one department in the year."""

    organisation_id: str
    name: str
    planned: int
    opened: int
    on_time: int
    overdue: int
    opened_rate: float | None


class PlanProgress(BaseModel):
    """A year's plan in figures, for the charts."""

    year: int
    today: date
    planned: int
    opened: int
    on_time: int
    overdue: int
    opened_rate: float | None
    quarters: list[QuarterProgress]
    departments: list[DepartmentProgress]
    years: list[int]  # the years that have a plan


# --- the showcase -----------------------------------------------------------------------------


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("a link must start with http:// or https://")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]


class ShowcaseInput(_In):
    """An application built on open data."""

    title: str = Field(min_length=2, max_length=200)
    description: str = Field(min_length=1, max_length=5000)
    url: HttpUrl = Field(min_length=8, max_length=500)
    entry_ids: FieldNames = Field(min_length=1, max_length=20)


class ReviewInput(_In):
    """The bureau's note with a review (required to reject)."""

    note: str = Field(default="", max_length=1000)


class ShowcaseAppRead(BaseModel):
    """A showcase application with the open entries it uses."""

    id: str
    title: str
    description: str
    url: str
    entries: list[dict[str, str]]  # [{"id", "name"}], open entries only
    submitter: str  # masked
    mine: bool
    status: str
    status_label: str
    review_note: str | None
    created_at: datetime
    reviewed_at: datetime | None
    next_steps: list[str]


# --- conditional opening ----------------------------------------------------------------------


class ApplicationInput(_In):
    """An application to use a 有条件开放 entry."""

    entry_id: str = Field(min_length=1, max_length=40)
    purpose: str = Field(min_length=2, max_length=1000)
    scenario: str = Field(min_length=2, max_length=200)
    fields: FieldNames = Field(min_length=1, max_length=200)
    delivery: Literal["api", "file"]
    term_days: int = Field(ge=1, le=366)
    organisation_id: str | None = Field(default=None, max_length=40)


class ApproveInput(_In):
    """Approve, optionally narrowing the fields (minimal authorisation)."""

    fields: FieldNames | None = Field(default=None, min_length=1, max_length=200)
    note: str = Field(default="", max_length=1000)


class RefuseInput(_In):
    """The reasons the applicant reads."""

    reasons: str = Field(min_length=2, max_length=2000)


class GrantSummary(BaseModel):
    """The grant an approval issued, as its holder sees it."""

    id: str
    status: str
    fields: list[str]
    delivery_modes: list[str]
    valid_from: datetime
    valid_until: datetime


class ApplicationRead(BaseModel):
    """An application with its entry, provider, countdown, grant and next steps."""

    id: str
    entry_id: str
    entry_name: str | None
    provider_id: str
    provider_name: str | None
    organisation_id: str
    organisation_name: str | None
    applicant: str  # masked for reviewers' lists too: the organisation is what counts
    purpose: str
    scenario: str
    fields: list[str]
    delivery: str
    term_days: int
    status: str
    status_label: str
    due_on: date
    working_days_left: int | None
    overdue: bool
    decided_at: datetime | None
    reasons: str | None
    grant: GrantSummary | None
    created_at: datetime
    next_steps: list[str]
    links: dict[str, str]
