"""Working-day calendar administration: seed, import a year, edit a day, read status."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

import sqlalchemy as sa

from gongshu.identity.authz import Actor, authorize
from gongshu.identity.service import audit
from gongshu.kernel.calendar import (
    CalendarDay,
    CalendarYear,
    DayOverride,
    WorkingCalendar,
    YearStatus,
    chinese_calendar_overrides,
    parse_year_file,
)
from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.uow import UnitOfWork

__all__ = ["Deadline", "calendar_status", "deadline", "import_year", "seed_calendar", "set_day"]

SEED_SOURCE = "chinese-calendar"
BUREAU_SOURCE = "bureau"


def _replace_year(
    uow: UnitOfWork, year: int, overrides: list[DayOverride], source: str, note: str
) -> None:
    uow.session.execute(sa.delete(CalendarDay).where(CalendarDay.year == year))
    existing = uow.session.get(CalendarYear, year)
    if existing is None:
        uow.session.add(
            CalendarYear(year=year, source=source, updated_at=uow.clock.now(), note=note)
        )
    else:
        existing.source, existing.updated_at, existing.note = source, uow.clock.now(), note
    uow.session.flush()
    if overrides:
        uow.session.execute(
            sa.insert(CalendarDay),
            [
                {"day": o.day, "year": year, "is_workday": o.is_workday, "name": o.name}
                for o in overrides
            ],
        )


def seed_calendar(uow: UnitOfWork, *, actor: Actor) -> list[int]:
    """Load every year ``chinese-calendar`` knows that the bureau has not set itself."""
    known = {
        y: s for y, s in uow.session.execute(sa.select(CalendarYear.year, CalendarYear.source))
    }
    seeded = []
    for year, overrides in sorted(chinese_calendar_overrides().items()):
        if year in known:
            continue
        _replace_year(uow, year, overrides, SEED_SOURCE, "seeded from chinese-calendar")
        seeded.append(year)
    if seeded:
        audit(
            uow,
            actor,
            "calendar.seed",
            "calendar",
            f"{seeded[0]}-{seeded[-1]}",
            after={"years": seeded},
        )
    uow.commit()
    return seeded


def import_year(
    uow: UnitOfWork, *, actor: Actor, year: int, text: str, filename: str = "<upload>"
) -> YearStatus:
    """Replace a year's schedule with the bureau's file (the State Council notice)."""
    authorize(actor, "calendar.edit")
    if not 2000 <= year <= 2100:
        raise InvalidInput.field("year", "must be between 2000 and 2100")
    overrides = parse_year_file(year, text, filename=filename)
    before = calendar_status(uow, actor=actor, year=year)
    _replace_year(uow, year, overrides, BUREAU_SOURCE, f"imported from {filename}")
    after = WorkingCalendar(uow.session).status(year)
    audit(
        uow,
        actor,
        "calendar.import",
        "calendar",
        str(year),
        before=asdict(before),
        after=asdict(after)
        | {
            "days": [
                {"day": o.day.isoformat(), "is_workday": o.is_workday, "name": o.name}
                for o in overrides
            ]
        },
    )
    uow.commit()
    return after


def set_day(uow: UnitOfWork, *, actor: Actor, override: DayOverride) -> YearStatus:
    """Mark one day as a holiday or a working day; the year becomes bureau-maintained."""
    authorize(actor, "calendar.edit")
    year = override.day.year
    row = uow.session.get(CalendarDay, override.day)
    before = None if row is None else {"is_workday": row.is_workday, "name": row.name}
    if uow.session.get(CalendarYear, year) is None:
        uow.session.add(
            CalendarYear(
                year=year,
                source=BUREAU_SOURCE,
                updated_at=uow.clock.now(),
                note="edited day by day",
            )
        )
        uow.session.flush()
    default = override.day.weekday() < 5
    if row is not None:
        uow.session.delete(row)
        uow.session.flush()
    if override.is_workday != default or override.name:
        uow.session.add(
            CalendarDay(
                day=override.day, year=year, is_workday=override.is_workday, name=override.name
            )
        )
    audit(
        uow,
        actor,
        "calendar.set_day",
        "calendar",
        override.day.isoformat(),
        before=before,
        after={"is_workday": override.is_workday, "name": override.name},
    )
    uow.commit()
    return WorkingCalendar(uow.session).status(year)


def calendar_status(uow: UnitOfWork, *, actor: Actor, year: int) -> YearStatus:
    """Whether a year's schedule is loaded, and from where."""
    authorize(actor, "calendar.read")
    return WorkingCalendar(uow.session).status(year)


@dataclass(frozen=True)
class Deadline:
    """A deadline in working days, with any fallback warnings met while counting."""

    start: date
    working_days: int
    due: date
    warnings: list[str]


def deadline(uow: UnitOfWork, *, actor: Actor, start: date, working_days: int) -> Deadline:
    """The date ``working_days`` working days after ``start``."""
    authorize(actor, "calendar.read")
    cal = WorkingCalendar(uow.session)
    due = cal.add_working_days(start, working_days)
    return Deadline(start, working_days, due, cal.warnings)
