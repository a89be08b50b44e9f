"""The annual open plan (年度开放计划) and what "open" means for the engagement side.

The bureau keeps the plan: per year, entries planned for a quarter with the open type they
will have. Whether a line is opened is read from the catalogue, never stored by hand: a line
is opened when its entry is published, not deprecated and open with the planned type (a line
planned as conditional is also met by an unconditional opening); ``opened_at`` is when the
published versions started meeting it. Progress is counted per quarter and per department.

Entries whose open type is 不予开放 never appear in public reads: the plan refuses them, and a
line whose entry later became 不予开放 is left out of what the public sees.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from gongshu.catalog.models import Entry, EntryVersion
from gongshu.catalog.vocab import OPEN_LABELS, EntryStatus, OpenType
from gongshu.identity import Actor, Organisation, audit, authorize, can
from gongshu.kernel.clock import local_date
from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.ids import new_id
from gongshu.kernel.pagination import Page, decode_cursor, paginate
from gongshu.kernel.uow import UnitOfWork
from gongshu.opendata.access import OPEN_TYPES, open_entry_conditions
from gongshu.opendata.errors import DatasetNotFound
from gongshu.opendata.errors_engagement import DuplicatePlanItem, PlanItemNotFound
from gongshu.opendata.models import OpenPlanItem
from gongshu.opendata.schemas_engagement import (
    DepartmentProgress,
    PlanItemInput,
    PlanItemRead,
    PlanItemUpdate,
    PlanProgress,
    QuarterProgress,
)

__all__ = [
    "PublicEntry",
    "add_item",
    "describe",
    "is_open",
    "list_items",
    "open_entry",
    "open_entry_names",
    "organisation_names",
    "progress",
    "quarter_end",
    "remove_item",
    "stricter",
    "update_item",
]

_PUBLISHED_TYPE = EntryVersion.document["open_type"].as_string()
_PUBLISHED_NAME = EntryVersion.document["name"].as_string()


# --- what is open -----------------------------------------------------------------------------


def _published_version() -> ColumnElement[bool]:
    return sa.and_(
        EntryVersion.entry_id == Entry.id, EntryVersion.number == Entry.published_version
    )


def is_open() -> ColumnElement[bool]:
    """The SQL condition of an open entry, as the open API has it: published, not deprecated,
    open in its working copy and in its published version."""
    # Its own alias: the outer query may join the published version too.
    version = aliased(EntryVersion)
    published_open = (
        sa.select(version.entry_id)
        .where(
            version.entry_id == Entry.id,
            version.number == Entry.published_version,
            version.document["open_type"].as_string().in_(OPEN_TYPES),
        )
        .correlate(Entry)
        .exists()
    )
    return sa.and_(*open_entry_conditions(), published_open)


def stricter(working: str, published: str) -> str:
    """The open type that applies: a revision under review may narrow at once, never widen."""
    conditional = OpenType.CONDITIONAL.value
    return conditional if conditional in (working, published) else working


@dataclass(frozen=True)
class PublicEntry:
    """An open entry as its published version shows it, with the open type that applies."""

    id: str
    name: str
    provider_id: str
    district_id: str | None
    open_type: str
    fields: tuple[str, ...]


def open_entry(uow: UnitOfWork, entry_id: str) -> PublicEntry:
    """The open entry with this id; anything else is the same 404 as a missing id."""
    found = uow.session.execute(
        sa.select(Entry.open_type, Entry.district_id, EntryVersion.document)
        .join(EntryVersion, _published_version())
        .where(Entry.id == entry_id, is_open())
    ).first()
    if found is None:
        raise DatasetNotFound(
            f"没有开放数据集 {entry_id} (no open dataset {entry_id!r})",
            details={"entry_id": entry_id},
        )
    working, district_id, doc = found
    return PublicEntry(
        id=entry_id,
        name=str(doc["name"]),
        provider_id=str(doc["provider"]["id"]),
        district_id=district_id,
        open_type=stricter(working, str(doc["open_type"])),
        fields=tuple(str(f["name"]) for f in doc.get("fields") or ()),
    )


def open_entry_names(uow: UnitOfWork, entry_ids: Iterable[str]) -> dict[str, str]:
    """Published names of those of the given entries that are open now (others left out)."""
    ids = sorted(set(entry_ids))
    if not ids:
        return {}
    stmt = (
        sa.select(Entry.id, _PUBLISHED_NAME)
        .join(EntryVersion, _published_version())
        .where(Entry.id.in_(ids), is_open())
    )
    return {i: str(n) for i, n in uow.session.execute(stmt)}


def organisation_names(uow: UnitOfWork, org_ids: Iterable[str | None]) -> dict[str, str]:
    """Organisation names by id."""
    ids = sorted({i for i in org_ids if i})
    if not ids:
        return {}
    stmt = sa.select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))
    return {i: n for i, n in uow.session.execute(stmt)}


# --- keeping the plan -------------------------------------------------------------------------


def _doc(item: OpenPlanItem) -> dict[str, object]:
    return {
        "year": item.year,
        "quarter": item.quarter,
        "entry_id": item.entry_id,
        "department_id": item.department_id,
        "open_type": item.open_type,
        "note": item.note,
    }


def _plannable(uow: UnitOfWork, entry_id: str) -> Entry:
    entry = uow.session.get(Entry, entry_id)
    if entry is None:
        raise InvalidInput.field("entry_id", f"no catalogue entry {entry_id!r}")
    if entry.status == EntryStatus.DEPRECATED:
        raise InvalidInput.field("entry_id", "该目录已废止 (the entry is deprecated)")
    if entry.open_type == OpenType.NONE:
        raise InvalidInput.field(
            "entry_id",
            "该目录的开放属性为不予开放，须先在目录中调整 "
            "(the entry's open type is none: change it in the catalogue first)",
        )
    return entry


def add_item(uow: UnitOfWork, *, actor: Actor, data: PlanItemInput) -> OpenPlanItem:
    """Put an entry in a year's plan, for a quarter and with the open type it will have."""
    authorize(actor, "open.plan.edit")
    entry = _plannable(uow, data.entry_id)
    clash = sa.select(OpenPlanItem.id).where(
        OpenPlanItem.year == data.year, OpenPlanItem.entry_id == entry.id
    )
    if uow.session.scalar(clash) is not None:
        raise DuplicatePlanItem(
            f"该目录已在 {data.year} 年开放计划中 (the entry is already in the {data.year} plan)",
            details={"year": data.year, "entry_id": entry.id},
        )
    item = OpenPlanItem(
        id=new_id("opl"), year=data.year, quarter=data.quarter, entry_id=entry.id,
        department_id=entry.provider_id, open_type=data.open_type, note=data.note,
        opened_at=None, created_at=uow.clock.now(),
    )  # fmt: skip
    uow.session.add(item)
    uow.session.flush()
    audit(uow, actor, "open.plan.add", "open_plan_item", item.id, after=_doc(item))
    return item


def _item(uow: UnitOfWork, item_id: str) -> OpenPlanItem:
    item = uow.session.get(OpenPlanItem, item_id)
    if item is None:
        raise PlanItemNotFound(f"no open plan item {item_id!r}")
    return item


def update_item(
    uow: UnitOfWork, *, actor: Actor, item_id: str, data: PlanItemUpdate
) -> OpenPlanItem:
    """Move a line to another quarter, change its planned open type or its note."""
    authorize(actor, "open.plan.edit")
    item = _item(uow, item_id)
    before = _doc(item)
    if data.quarter is not None:
        item.quarter = data.quarter
    if data.open_type is not None:
        item.open_type = data.open_type
    if data.note is not None:
        item.note = data.note
    uow.session.flush()
    audit(
        uow, actor, "open.plan.update", "open_plan_item", item.id, before=before, after=_doc(item)
    )
    return item


def remove_item(uow: UnitOfWork, *, actor: Actor, item_id: str) -> None:
    """Take a line out of the plan."""
    authorize(actor, "open.plan.edit")
    item = _item(uow, item_id)
    before = _doc(item)
    uow.session.delete(item)
    uow.session.flush()
    audit(uow, actor, "open.plan.remove", "open_plan_item", item_id, before=before)


# --- reading ----------------------------------------------------------------------------------


def quarter_end(year: int, quarter: int) -> date:
    """The last day of a quarter."""
    if quarter == 4:
        return date(year, 12, 31)
    return date(year, 3 * quarter + 1, 1) - timedelta(days=1)


def _meets(planned: str, actual: str) -> bool:
    """Does an entry open as ``actual`` fulfil a line planned as ``planned``?"""
    if actual == OpenType.UNCONDITIONAL:
        return planned in OPEN_TYPES
    return actual == OpenType.CONDITIONAL and planned == OpenType.CONDITIONAL


@dataclass(frozen=True)
class _EntryState:
    name: str
    open_now: bool
    open_type: str
    versions: list[tuple[datetime, str]]  # (published_at, open type), oldest first
    last_published_at: datetime | None


def _states(uow: UnitOfWork, entry_ids: Sequence[str]) -> dict[str, _EntryState]:
    ids = sorted(set(entry_ids))
    if not ids:
        return {}
    entries = uow.session.execute(
        sa.select(
            Entry.id, Entry.name, Entry.open_type, Entry.last_published_at,
            sa.case((is_open(), True), else_=False),
        ).where(Entry.id.in_(ids))
    ).all()  # fmt: skip
    history: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    rows = uow.session.execute(
        sa.select(EntryVersion.entry_id, EntryVersion.published_at, _PUBLISHED_TYPE)
        .where(EntryVersion.entry_id.in_(ids))
        .order_by(EntryVersion.entry_id, EntryVersion.number)
    )
    for entry_id, published_at, kind in rows:
        history[entry_id].append((published_at, str(kind)))
    return {
        i: _EntryState(name, bool(now), kind, history.get(i, []), last)
        for i, name, kind, last, now in entries
    }


def _opened_at(planned: str, state: _EntryState) -> datetime | None:
    """When the entry began meeting the line, if it meets it now."""
    published = state.versions[-1][1] if state.versions else state.open_type
    if not state.open_now or not _meets(planned, stricter(state.open_type, published)):
        return None
    start = None  # the first version of the last unbroken run that meets the line
    for published_at, kind in state.versions:
        start = (start or published_at) if _meets(planned, kind) else None
    return start or state.last_published_at


def describe(uow: UnitOfWork, items: Sequence[OpenPlanItem], *, today: date) -> list[PlanItemRead]:
    """Plan lines with names and their opening state, looked up once for all."""
    states = _states(uow, [i.entry_id for i in items])
    orgs = organisation_names(uow, [i.department_id for i in items])
    out = []
    for item in items:
        state = states[item.entry_id]
        opened_at = _opened_at(item.open_type, state)
        ends = quarter_end(item.year, item.quarter)
        out.append(
            PlanItemRead(
                id=item.id, year=item.year, quarter=item.quarter, quarter_ends_on=ends,
                entry_id=item.entry_id, entry_name=state.name, entry_public=state.open_now,
                department_id=item.department_id,
                department_name=orgs.get(item.department_id, item.department_id),
                open_type=item.open_type, open_type_label=OPEN_LABELS[OpenType(item.open_type)],
                note=item.note, opened=opened_at is not None, opened_at=opened_at,
                on_time=None if opened_at is None else local_date(opened_at) <= ends,
                overdue=opened_at is None and ends < today, created_at=item.created_at,
            )
        )  # fmt: skip
    return out


def _shown(actor: Actor | None) -> ColumnElement[bool] | None:
    """Lines the public may see: not those whose entry became 不予开放 (the bureau sees all)."""
    if actor is not None and can(actor, "open.plan.edit"):
        return None
    hidden = sa.select(Entry.id).where(Entry.open_type == OpenType.NONE.value)
    return OpenPlanItem.entry_id.not_in(hidden)


def list_items(
    uow: UnitOfWork,
    *,
    actor: Actor | None,
    year: int,
    quarter: int | None = None,
    department_id: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[OpenPlanItem]:
    """A year's plan lines by quarter; public."""
    stmt = sa.select(OpenPlanItem).where(OpenPlanItem.year == year)
    if (shown := _shown(actor)) is not None:
        stmt = stmt.where(shown)
    if quarter is not None:
        stmt = stmt.where(OpenPlanItem.quarter == quarter)
    if department_id:
        stmt = stmt.where(OpenPlanItem.department_id == department_id)
    after = decode_cursor(cursor, arity=2)
    if after is not None:
        q, i = int(after[0]), str(after[1])
        stmt = stmt.where(
            sa.or_(
                OpenPlanItem.quarter > q, sa.and_(OpenPlanItem.quarter == q, OpenPlanItem.id > i)
            )
        )
    stmt = stmt.order_by(OpenPlanItem.quarter, OpenPlanItem.id).limit(limit + 1)
    rows = list(uow.session.scalars(stmt))
    return paginate(rows, limit, lambda item: [item.quarter, item.id])


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def progress(
    uow: UnitOfWork, *, actor: Actor | None, year: int, today: date | None = None
) -> PlanProgress:
    """Planned against opened for a year: per quarter (with running totals) and department."""
    today = today or local_date(uow.clock.now())
    stmt = sa.select(OpenPlanItem).where(OpenPlanItem.year == year)
    if (shown := _shown(actor)) is not None:
        stmt = stmt.where(shown)
    # A year's plan is bounded by the catalogue; its lines are counted in one pass.
    lines = describe(uow, list(uow.session.scalars(stmt)), today=today)
    quarters = []
    for q in range(1, 5):
        ends = quarter_end(year, q)
        mine = [line for line in lines if line.quarter == q]
        quarters.append(
            QuarterProgress(
                quarter=q, ends_on=ends, planned=len(mine),
                opened=sum(line.opened for line in mine),
                on_time=sum(bool(line.on_time) for line in mine),
                overdue=sum(line.overdue for line in mine),
                cumulative_planned=sum(line.quarter <= q for line in lines),
                cumulative_opened=sum(
                    line.opened_at is not None and local_date(line.opened_at) <= ends
                    for line in lines
                ),
            )
        )  # fmt: skip
    by_org: dict[str, list[PlanItemRead]] = defaultdict(list)
    for line in lines:
        by_org[line.department_id].append(line)
    departments = [
        DepartmentProgress(
            organisation_id=org, name=group[0].department_name, planned=len(group),
            opened=sum(line.opened for line in group),
            on_time=sum(bool(line.on_time) for line in group),
            overdue=sum(line.overdue for line in group),
            opened_rate=_rate(sum(line.opened for line in group), len(group)),
        )
        for org, group in by_org.items()
    ]  # fmt: skip
    departments.sort(key=lambda d: (-d.planned, d.name))
    opened = sum(line.opened for line in lines)
    years = sorted(uow.session.scalars(sa.select(OpenPlanItem.year).distinct()))
    return PlanProgress(
        year=year, today=today, planned=len(lines), opened=opened,
        on_time=sum(bool(line.on_time) for line in lines),
        overdue=sum(line.overdue for line in lines), opened_rate=_rate(opened, len(lines)),
        quarters=quarters, departments=departments, years=years,
    )  # fmt: skip
