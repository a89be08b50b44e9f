"""The working-day calendar (工作日): weekends off, public holidays off, make-up days (调休) on.

The calendar lives in the database so the bureau can load next year's State Council schedule
the day it is published. Only the exceptions to "Monday–Friday" are stored. A year with no
schedule falls back to weekends-only and says so in :attr:`WorkingCalendar.warnings`.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from gongshu.kernel.db import Base
from gongshu.kernel.errors import InvalidInput

__all__ = [
    "CalendarDay",
    "CalendarYear",
    "DayOverride",
    "WorkingCalendar",
    "YearStatus",
    "chinese_calendar_overrides",
    "parse_year_file",
]

log = logging.getLogger(__name__)

HOLIDAY_NAMES_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争胜利70周年纪念日",
}


class CalendarYear(Base):
    """A year whose schedule is known, and where it came from."""

    __tablename__ = "calendar_year"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(sa.String(40))
    updated_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(sa.String(500), default="")


class CalendarDay(Base):
    """One exception to the weekday rule: a weekday off or a weekend day on."""

    __tablename__ = "calendar_day"

    day: Mapped[date] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(sa.ForeignKey("calendar_year.year", ondelete="CASCADE"))
    is_workday: Mapped[bool]
    name: Mapped[str] = mapped_column(sa.String(100), default="")


@dataclass(frozen=True)
class DayOverride:
    """An entry of a year's schedule as imported or edited."""

    day: date
    is_workday: bool
    name: str = ""


@dataclass(frozen=True)
class YearStatus:
    """Whether a year has a schedule, and the warning shown when it has not."""

    year: int
    source: str | None
    holidays: int
    makeup_workdays: int

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready summary, warning included."""
        return {
            "year": self.year,
            "source": self.source,
            "holidays": self.holidays,
            "makeup_workdays": self.makeup_workdays,
            "warning": self.warning,
        }

    @property
    def known(self) -> bool:
        """True when the bureau or the seed loaded this year's schedule."""
        return self.source is not None

    @property
    def warning(self) -> str | None:
        """The visible warning for a year counted as weekends-only."""
        if self.known:
            return None
        return (
            f"{self.year} 年节假日安排尚未导入，按仅周末休息计算工作日 "
            f"(no holiday schedule for {self.year}: counting weekends only)"
        )


class WorkingCalendar:
    """Answers working-day questions from the database, one year loaded at a time."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._years: dict[int, dict[date, bool] | None] = {}
        self.warnings: list[str] = []

    def _year(self, year: int) -> dict[date, bool] | None:
        if year not in self._years:
            known = self._session.get(CalendarYear, year)
            if known is None:
                self._years[year] = None
                warning = YearStatus(year, None, 0, 0).warning
                assert warning is not None
                log.warning(warning)
                self.warnings.append(warning)
            else:
                rows = self._session.execute(
                    sa.select(CalendarDay.day, CalendarDay.is_workday).where(
                        CalendarDay.year == year
                    )
                )
                self._years[year] = {day: flag for day, flag in rows}
        return self._years[year]

    def is_workday(self, day: date) -> bool:
        """True on a working day."""
        overrides = self._year(day.year)
        if overrides and day in overrides:
            return overrides[day]
        return day.weekday() < 5

    def add_working_days(self, start: date, days: int) -> date:
        """The date ``days`` working days after ``start`` (``start`` itself not counted)."""
        if days < 0:
            raise ValueError("days must not be negative")
        current = start
        remaining = days
        while remaining:
            current += timedelta(days=1)
            if self.is_workday(current):
                remaining -= 1
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative when ``end`` is before ``start``."""
        if end < start:
            return -self.working_days_between(end, start)
        count = 0
        current = start
        while current < end:
            current += timedelta(days=1)
            count += self.is_workday(current)
        return count

    def status(self, year: int) -> YearStatus:
        """What the database knows about ``year``."""
        known = self._session.get(CalendarYear, year)
        counts = self._session.execute(
            sa.select(CalendarDay.is_workday, sa.func.count())
            .where(CalendarDay.year == year)
            .group_by(CalendarDay.is_workday)
        ).all()
        by_flag = {flag: n for flag, n in counts}
        return YearStatus(
            year,
            known.source if known else None,
            by_flag.get(False, 0),
            by_flag.get(True, 0),
        )


def chinese_calendar_overrides() -> dict[int, list[DayOverride]]:
    """The schedules the ``chinese-calendar`` package knows, grouped by year."""
    import chinese_calendar

    years: dict[int, list[DayOverride]] = {}
    for day, name in chinese_calendar.holidays.items():
        if day.weekday() < 5:
            years.setdefault(day.year, []).append(
                DayOverride(day, False, HOLIDAY_NAMES_ZH.get(name, name))
            )
    for day, name in chinese_calendar.workdays.items():
        if day.weekday() >= 5:
            label = f"{HOLIDAY_NAMES_ZH.get(name, name)}调休上班"
            years.setdefault(day.year, []).append(DayOverride(day, True, label))
    for overrides in years.values():
        overrides.sort(key=lambda o: o.day)
    return years


_KIND_WORDS = {
    "holiday": False,
    "off": False,
    "休": False,
    "假": False,
    "节假日": False,
    "workday": True,
    "work": True,
    "班": True,
    "调休上班": True,
    "补班": True,
}


def parse_year_file(year: int, text: str, *, filename: str = "<upload>") -> list[DayOverride]:
    """Parse a year's schedule: CSV with ``date,kind[,name]``; kind is holiday/workday or 休/班."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    overrides: dict[date, DayOverride] = {}
    problems: list[dict[str, object]] = []
    for number, row in enumerate(reader, start=1):
        if not row or not "".join(row).strip():
            continue
        cells = [c.strip() for c in row]
        if number == 1 and cells[0].lower() in {"date", "日期"}:
            continue
        if len(cells) < 2:
            problems.append({"row": number, "column": 2, "message": "missing kind"})
            continue
        try:
            day = date.fromisoformat(cells[0].replace("/", "-"))
        except ValueError:
            problems.append({"row": number, "column": 1, "message": f"not a date: {cells[0]!r}"})
            continue
        if day.year != year:
            problems.append({"row": number, "column": 1, "message": f"{day} is not in {year}"})
            continue
        flag = _KIND_WORDS.get(cells[1].lower())
        if flag is None:
            problems.append({"row": number, "column": 2, "message": f"unknown kind {cells[1]!r}"})
            continue
        if day in overrides:
            problems.append({"row": number, "column": 1, "message": f"{day} listed twice"})
            continue
        overrides[day] = DayOverride(day, flag, cells[2] if len(cells) > 2 else "")
    if problems:
        first = problems[0]
        raise InvalidInput(
            f"{filename}, row {first['row']}, column {first['column']}: {first['message']}",
            details=[{"file": filename, **p} for p in problems],
        )
    if not overrides:
        raise InvalidInput(f"{filename}: no days listed for {year}")
    return sorted(overrides.values(), key=lambda o: o.day)
