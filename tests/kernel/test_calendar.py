"""The working-day calendar: seeded from chinese-calendar, editable, weekends-only fallback."""

from __future__ import annotations

from datetime import date

import pytest

from gongshu.bootstrap import Platform
from gongshu.identity import calendar as calendar_service
from gongshu.identity.errors import NotPermitted
from gongshu.identity.service import CONSOLE
from gongshu.kernel.calendar import DayOverride, WorkingCalendar, parse_year_file
from gongshu.kernel.errors import InvalidInput
from tests.factories import build_city


@pytest.fixture
def seeded(platform: Platform) -> Platform:
    with platform.uow() as uow:
        years = calendar_service.seed_calendar(uow, actor=CONSOLE)
    assert years[0] == 2004 and 2026 in years
    return platform


def test_national_day_and_makeup_workdays_2025(seeded: Platform) -> None:
    with seeded.uow() as uow:
        cal = WorkingCalendar(uow.session)
        assert not cal.is_workday(date(2025, 10, 1))  # National Day, a Wednesday
        assert cal.is_workday(date(2025, 9, 28))  # Sunday, made up (调休)
        assert cal.is_workday(date(2025, 10, 11))  # Saturday, made up
        # 2 working days from Tuesday 30 September skip the whole holiday week.
        assert cal.add_working_days(date(2025, 9, 30), 1) == date(2025, 10, 9)
        assert cal.add_working_days(date(2025, 9, 30), 2) == date(2025, 10, 10)
        assert cal.working_days_between(date(2025, 9, 30), date(2025, 10, 10)) == 2
        assert cal.warnings == []


def test_spring_festival_2026_deadline_of_ten_working_days(seeded: Platform) -> None:
    with seeded.uow() as uow:
        cal = WorkingCalendar(uow.session)
        # Filed Friday 13 Feb 2026: 14 Feb (Sat) is a make-up day, 15–23 Feb are off,
        # 28 Feb (Sat) is made up again — the tenth working day is Thursday 5 March.
        assert cal.is_workday(date(2026, 2, 14))
        assert not cal.is_workday(date(2026, 2, 23))
        assert cal.is_workday(date(2026, 2, 28))
        assert cal.add_working_days(date(2026, 2, 13), 10) == date(2026, 3, 5)


def test_a_year_without_schedule_falls_back_to_weekends_with_a_warning(
    seeded: Platform,
) -> None:
    with seeded.uow() as uow:
        cal = WorkingCalendar(uow.session)
        assert not cal.is_workday(date(2027, 1, 2))  # a Saturday
        assert cal.is_workday(date(2027, 1, 1))  # New Year's Day, unknown yet: counted as work
        assert any("2027" in w for w in cal.warnings)
        assert cal.status(2027).warning is not None
        assert cal.status(2026).warning is None


def test_the_bureau_imports_next_years_schedule(seeded: Platform) -> None:
    city = build_city(seeded)
    text = "date,kind,name\n2027-01-01,休,元旦\n2027-02-06,班,春节调休\n2027-02-08,holiday,春节\n"
    with seeded.uow() as uow:
        status = calendar_service.import_year(
            uow, actor=city.admin, year=2027, text=text, filename="2027.csv"
        )
    assert (status.source, status.holidays, status.makeup_workdays) == ("bureau", 2, 1)
    with seeded.uow() as uow:
        cal = WorkingCalendar(uow.session)
        assert not cal.is_workday(date(2027, 1, 1))
        assert cal.is_workday(date(2027, 2, 6))
        assert cal.warnings == []
    with seeded.uow() as uow:
        calendar_service.set_day(
            uow, actor=city.admin, override=DayOverride(date(2027, 1, 1), True, "")
        )
    with seeded.uow() as uow:
        assert WorkingCalendar(uow.session).is_workday(date(2027, 1, 1))


def test_only_the_bureau_edits_the_calendar(seeded: Platform) -> None:
    city = build_city(seeded)
    with seeded.uow() as uow, pytest.raises(NotPermitted):
        calendar_service.import_year(uow, actor=city.officer, year=2027, text="2027-01-01,休\n")


def test_a_bad_schedule_file_names_row_and_column_and_changes_nothing(
    seeded: Platform,
) -> None:
    city = build_city(seeded)
    text = "date,kind\n2026-01-01,休\n2026-13-01,休\n2025-05-01,休\n2026-05-01,maybe\n"
    with seeded.uow() as uow, pytest.raises(InvalidInput) as caught:
        calendar_service.import_year(
            uow, actor=city.admin, year=2026, text=text, filename="2026.csv"
        )
    assert "2026.csv, row 3, column 1" in caught.value.message
    rows = {d["row"] for d in caught.value.details}
    assert rows == {3, 4, 5}
    with seeded.uow() as uow:
        assert calendar_service.calendar_status(uow, actor=city.admin, year=2026).source == (
            "chinese-calendar"
        )


def test_parse_refuses_an_empty_schedule() -> None:
    with pytest.raises(InvalidInput, match="no days"):
        parse_year_file(2027, "date,kind\n")
