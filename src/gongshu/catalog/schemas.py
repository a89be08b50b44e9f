"""Pydantic input and output shapes of the catalogue (``EntryInput`` / ``EntryRead`` …)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gongshu.catalog.vocab import (
    THEMES,
    Column,
    DataFormat,
    EntryKind,
    FieldFlag,
    FieldType,
    Grade,
    Harm,
    ImpactObject,
    OpenType,
    ShareType,
    UpdateFrequency,
)

__all__ = [
    "COLUMN_OF",
    "EntryInput",
    "EntryRead",
    "EntrySummary",
    "FieldInput",
    "FieldRead",
    "Reason",
    "ReviewDecision",
    "VersionRead",
]

Delivery = str  # one of identity.DeliveryMode's values; checked below


class _In(BaseModel):
    """Inputs refuse unknown fields, so a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FieldInput(_In):
    """One data item (数据项) of an entry."""

    name: str = Field(min_length=1, max_length=100)
    type: FieldType = FieldType.STRING
    description: str = Field(default="", max_length=500)
    element_code: str | None = Field(default=None, max_length=40)
    flags: list[FieldFlag] = Field(default_factory=list)


_DELIVERIES = ("api", "batch", "file", "sandbox")


class EntryInput(_In):
    """A catalogue entry as a department writes it; the service resolves names to records.

    ``provider`` and ``district`` accept an organisation's id, code, full or short name.
    ``grade`` is left empty to take the grade the impact assessment implies; a different
    grade needs ``grade_reason``.
    """

    kind: EntryKind = EntryKind.RESOURCE
    name: str = Field(min_length=2, max_length=200)
    summary: str = Field(min_length=1, max_length=4000)
    keywords: list[str] = Field(default_factory=list, max_length=30)
    provider: str = Field(min_length=1, max_length=200)
    district: str | None = Field(default=None, max_length=200)
    fields: list[FieldInput] = Field(default_factory=list, max_length=500)
    format: DataFormat
    update_frequency: UpdateFrequency
    share_type: ShareType
    share_conditions: str | None = Field(default=None, max_length=2000)
    delivery: list[Delivery] = Field(default_factory=list)
    legal_basis: str | None = Field(default=None, max_length=2000)
    open_type: OpenType
    open_conditions: str | None = Field(default=None, max_length=2000)
    theme: str
    impact: dict[ImpactObject, Harm] = Field(default_factory=dict)
    grade: Grade | None = None
    grade_reason: str | None = Field(default=None, max_length=2000)
    related: list[str] = Field(default_factory=list, max_length=50)
    duty: str | None = Field(default=None, max_length=200)
    system: str | None = Field(default=None, max_length=200)
    table: str | None = Field(default=None, max_length=200)

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str]) -> list[str]:
        cleaned = [word.strip() for word in value if word.strip()]
        if any(len(word) > 40 for word in cleaned):
            raise ValueError("each keyword is at most 40 characters")
        return list(dict.fromkeys(cleaned))

    @field_validator("delivery")
    @classmethod
    def _delivery(cls, value: list[str]) -> list[str]:
        unknown = [item for item in value if item not in _DELIVERIES]
        if unknown:
            raise ValueError(
                f"unknown delivery {unknown[0]!r}; use one of {', '.join(_DELIVERIES)}"
            )
        return list(dict.fromkeys(value))

    @field_validator("theme")
    @classmethod
    def _theme(cls, value: str) -> str:
        if value not in THEMES:
            raise ValueError(f"unknown theme {value!r}")
        return value

    @field_validator("share_conditions", "legal_basis", "open_conditions", "grade_reason",
                     "district", "duty", "system", "table")  # fmt: skip
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[tuple[str, str]] = []
        if self.share_type is ShareType.NONE and not self.legal_basis:
            problems.append(("legal_basis", "不予共享 must cite the law, regulation or decision"))
        if self.share_type is ShareType.CONDITIONAL and not self.share_conditions:
            problems.append(("share_conditions", "有条件共享 must state its scope and purpose"))
        if self.share_type is not ShareType.NONE and not self.delivery:
            problems.append(("delivery", "shared data needs at least one delivery method"))
        if self.open_type is OpenType.CONDITIONAL and not self.open_conditions:
            problems.append(("open_conditions", "有条件开放 must state its conditions"))
        if self.kind is EntryKind.RESOURCE and not self.fields:
            problems.append(("fields", "a data resource lists at least one data item"))
        names = [item.name for item in self.fields]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            problems.append(("fields", f"data item {duplicates[0]!r} appears twice"))
        if problems:
            path, message = problems[0]
            raise ValueError(f"{path}: {message}")
        return self


# The exchange column each input field is read from, so import errors name the column.
COLUMN_OF: dict[str, Column] = {
    "kind": Column.KIND,
    "name": Column.NAME,
    "summary": Column.SUMMARY,
    "keywords": Column.KEYWORDS,
    "provider": Column.PROVIDER,
    "district": Column.DISTRICT,
    "fields": Column.FIELDS,
    "format": Column.FORMAT,
    "update_frequency": Column.FREQUENCY,
    "share_type": Column.SHARE_TYPE,
    "share_conditions": Column.SHARE_CONDITIONS,
    "delivery": Column.DELIVERY,
    "legal_basis": Column.LEGAL_BASIS,
    "open_type": Column.OPEN_TYPE,
    "open_conditions": Column.OPEN_CONDITIONS,
    "theme": Column.THEME,
    "impact": Column.IMPACT,
    "grade": Column.GRADE,
    "grade_reason": Column.GRADE_REASON,
    "related": Column.RELATED,
    "duty": Column.DUTY,
    "system": Column.SYSTEM,
    "table": Column.TABLE,
}


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class FieldRead(_Out):
    """A data item as shown."""

    name: str
    type: str
    description: str
    element_code: str | None
    flags: list[str]


class EntryRead(_Out):
    """An entry's working copy with its lifecycle state."""

    id: str
    resource_code: str
    kind: str
    name: str
    summary: str
    keywords: list[str]
    provider_id: str
    provider_name: str | None = None
    district_id: str | None
    district_name: str | None = None
    fields: list[FieldRead]
    format: str
    update_frequency: str
    share_type: str
    share_conditions: str | None
    delivery: list[str]
    legal_basis: str | None
    open_type: str
    open_conditions: str | None
    theme: str
    impact: dict[str, str]
    computed_grade: str
    grade: str
    grade_reason: str | None
    related: list[str]
    duty: str | None
    system: str | None
    table_name: str | None
    status: str
    published_version: int | None
    created_at: datetime
    updated_at: datetime
    first_published_at: datetime | None
    last_published_at: datetime | None
    data_updated_at: datetime | None
    submitted_at: datetime | None
    review_due: date | None
    review_overdue: bool = False
    data_overdue_since: datetime | None = None
    review_note: str | None
    deprecated_reason: str | None


class EntrySummary(_Out):
    """A search hit: the entry's headline attributes and highlighted text."""

    id: str
    resource_code: str
    name: str
    name_html: str
    summary_html: str
    provider_id: str
    provider_name: str | None
    theme: str
    grade: str
    share_type: str
    open_type: str
    format: str
    update_frequency: str
    status: str
    published_version: int | None
    updated_at: datetime
    rank: float


class VersionRead(_Out):
    """One published version."""

    entry_id: str
    number: int
    published_at: datetime
    published_by_id: str | None
    note: str
    document: dict[str, Any]


class ReviewDecision(_In):
    """The bureau's decision note (and whether to publish at once)."""

    note: str = Field(default="", max_length=2000)
    publish: bool = False


class Reason(_In):
    """A reason or note that must be given."""

    note: str = Field(min_length=1, max_length=2000)
