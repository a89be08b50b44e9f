"""Clocks: the system clock in production, a settable one in tests. Times are aware UTC."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Protocol

__all__ = ["BEIJING", "Clock", "FixedClock", "SystemClock", "as_utc", "local_date"]

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")


class Clock(Protocol):
    """Anything that says what time it is."""

    def now(self) -> datetime:
        """The current aware UTC time."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        """The current aware UTC time."""
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that stands still until moved; for tests and reproducible demos."""

    current: datetime = field(default_factory=lambda: datetime(2026, 11, 25, 2, 0, tzinfo=UTC))

    def now(self) -> datetime:
        """The time the clock was set to."""
        return self.current

    def set(self, when: datetime) -> None:
        """Move the clock to ``when``."""
        self.current = as_utc(when)

    def advance(self, **delta: float) -> None:
        """Move the clock forward by a ``timedelta(**delta)``."""
        self.current += timedelta(**delta)


def as_utc(value: datetime) -> datetime:
    """Attach UTC to naive values read back from SQLite; convert aware ones."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def local_date(value: datetime) -> date:
    """The calendar date in Beijing, where deadlines are counted."""
    return as_utc(value).astimezone(BEIJING).date()
