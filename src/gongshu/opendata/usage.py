"""Usage statistics: calls and rows per key, dataset and day; downloads per dataset and format.

Counting every call with its own write would make each read a writer (and on SQLite queue it
behind the one write lock), so :class:`UsageRecorder` adds counts up in memory and writes them
as upserts at most every ``flush_seconds`` — and whenever someone reads the figures. A key's
calls today, for its daily quota, are the stored count (read once per key and day, and again
after each flush, so other processes' calls are seen) plus what is not written yet. A crash
loses at most the last few seconds of counts; data reads are counted, not audited.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from gongshu.catalog.models import Entry
from gongshu.identity.authz import Actor, Resource, authorize, can
from gongshu.identity.models import Role
from gongshu.kernel.clock import Clock, local_date
from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.uow import UnitOfWork
from gongshu.opendata.access import open_entry_conditions
from gongshu.opendata.models import AppKey, DownloadCount, UsageCount
from gongshu.opendata.schemas import DatasetUsage, KeyUsage, OpenStats, UsageDay

__all__ = ["UsageRecorder", "dataset_usage", "key_usage", "open_stats", "upsert_counts"]

log = logging.getLogger(__name__)

CallKey = tuple[str, str, date]  # key id, entry id, day
DownloadKey = tuple[str, str, date]  # entry id, format, day
MAX_PERIOD_DAYS = 366
_USAGE = cast(sa.Table, UsageCount.__table__)
_DOWNLOADS = cast(sa.Table, DownloadCount.__table__)


def upsert_counts(
    uow: UnitOfWork, table: sa.Table, keys: Sequence[str], rows: list[dict[str, Any]]
) -> None:
    """Add ``rows``' counts to the stored ones (insert or increment), on either database."""
    if not rows:
        return
    dialect = uow.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).values(rows)
    counted = [c for c in rows[0] if c not in keys]
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: table.c[c] + stmt.excluded[c] for c in counted},
    )
    uow.session.execute(stmt)


class UsageRecorder:
    """In-memory counts written in batches; the quota's view of today's calls per key."""

    def __init__(
        self,
        uow: Callable[..., UnitOfWork],
        clock: Clock,
        *,
        flush_seconds: float = 2.0,
    ) -> None:
        self._uow = uow
        self.clock = clock
        self.flush_seconds = flush_seconds
        self._calls: dict[CallKey, list[int]] = {}
        self._downloads: dict[DownloadKey, int] = {}
        self._today: dict[tuple[str, date], int] = {}
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._last_flush = time.monotonic()

    def today(self) -> date:
        """The local (Beijing) date the counts go to."""
        return local_date(self.clock.now())

    def calls_today(self, key_id: str) -> int:
        """Calls the key made today, stored and pending."""
        day = self.today()
        with self._lock:
            known = self._today.get((key_id, day))
        if known is not None:
            return known
        stored = self._stored_calls([key_id], day).get(key_id, 0)
        with self._lock:
            pending = sum(v[0] for (k, _e, d), v in self._calls.items() if k == key_id and d == day)
            self._today[(key_id, day)] = stored + pending
            return stored + pending

    def record_call(self, key_id: str, entry_id: str, rows: int) -> None:
        """Count one call of a key on a dataset, with the rows it served."""
        day = self.today()
        with self._lock:
            counts = self._calls.setdefault((key_id, entry_id, day), [0, 0])
            counts[0] += 1
            counts[1] += rows
            if (key_id, day) in self._today:
                self._today[(key_id, day)] += 1
        self._maybe_flush()

    def record_download(self, entry_id: str, fmt: str) -> None:
        """Count one download of a dataset in a format."""
        key = (entry_id, fmt, self.today())
        with self._lock:
            self._downloads[key] = self._downloads.get(key, 0) + 1
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush(wait=False)

    def flush(self, *, wait: bool = True) -> None:
        """Write what is pending; without ``wait``, skip if another thread is writing."""
        if not self._flushing.acquire(blocking=wait):
            return
        try:
            with self._lock:
                calls, self._calls = self._calls, {}
                downloads, self._downloads = self._downloads, {}
                self._last_flush = time.monotonic()
            if not calls and not downloads:
                return
            try:
                self._write(calls, downloads)
            except Exception:
                log.warning(
                    "usage counts could not be written; kept for the next try", exc_info=True
                )
                self._restore(calls, downloads)
                return
            self._resync({k for k, _e, _d in calls})
        finally:
            self._flushing.release()

    def _write(self, calls: dict[CallKey, list[int]], downloads: dict[DownloadKey, int]) -> None:
        # Sorted, so that two processes upserting the same rows lock them in the same order.
        call_rows = [
            {"key_id": k, "entry_id": e, "day": d, "calls": c[0], "rows": c[1]}
            for (k, e, d), c in sorted(calls.items())
        ]
        download_rows = [
            {"entry_id": e, "format": f, "day": d, "count": n}
            for (e, f, d), n in sorted(downloads.items())
        ]
        with self._uow(writes=True) as uow:
            upsert_counts(uow, _USAGE, ("key_id", "entry_id", "day"), call_rows)
            upsert_counts(uow, _DOWNLOADS, ("entry_id", "format", "day"), download_rows)
            uow.commit()

    def _restore(self, calls: dict[CallKey, list[int]], downloads: dict[DownloadKey, int]) -> None:
        with self._lock:
            for key, (n, rows) in calls.items():
                counts = self._calls.setdefault(key, [0, 0])
                counts[0] += n
                counts[1] += rows
            for dkey, n in downloads.items():
                self._downloads[dkey] = self._downloads.get(dkey, 0) + n

    def _resync(self, key_ids: set[str]) -> None:
        """Re-read today's stored calls of these keys (other processes count too)."""
        if not key_ids:
            return
        day = self.today()
        stored = self._stored_calls(sorted(key_ids), day)
        with self._lock:
            for key_id in key_ids:
                pending = sum(
                    v[0] for (k, _e, d), v in self._calls.items() if k == key_id and d == day
                )
                self._today[(key_id, day)] = stored.get(key_id, 0) + pending
            # Yesterday's figures are no longer consulted.
            for old in [k for k in self._today if k[1] != day]:
                del self._today[old]

    def _stored_calls(self, key_ids: Sequence[str], day: date) -> dict[str, int]:
        with self._uow(writes=False) as uow:
            rows = uow.session.execute(
                sa.select(UsageCount.key_id, sa.func.sum(UsageCount.calls))
                .where(UsageCount.key_id.in_(key_ids), UsageCount.day == day)
                .group_by(UsageCount.key_id)
            )
            return {key_id: int(total or 0) for key_id, total in rows}


# --- reading the figures ---------------------------------------------------------------------


def _period(today: date, since: date | None, until: date | None) -> tuple[date, date]:
    until = until or today
    since = since or until - timedelta(days=29)
    if since > until:
        raise InvalidInput.field("query.since", "不能晚于 until (must not be after until)")
    if (until - since).days >= MAX_PERIOD_DAYS:
        raise InvalidInput.field("query.since", f"最长 {MAX_PERIOD_DAYS} 天 (period too long)")
    return since, until


def key_usage(
    uow: UnitOfWork, *, actor: Actor, since: date | None = None, until: date | None = None
) -> list[KeyUsage]:
    """The actor's keys with their calls and rows per day over the period (default 30 days)."""
    authorize(actor, "open.key.read", Resource("app_key", owner_user_id=actor.user_id))
    today = local_date(uow.clock.now())
    since, until = _period(today, since, until)
    keys = list(
        uow.session.scalars(
            sa.select(AppKey)
            .where(AppKey.user_id == actor.user_id)
            .order_by(AppKey.created_at.desc(), AppKey.id.desc())
        )
    )
    rows = uow.session.execute(
        sa.select(
            UsageCount.key_id,
            UsageCount.day,
            sa.func.sum(UsageCount.calls),
            sa.func.sum(UsageCount.rows),
        )
        .where(
            UsageCount.key_id.in_([k.id for k in keys]),
            UsageCount.day >= since,
            UsageCount.day <= min(until, today),
        )
        .group_by(UsageCount.key_id, UsageCount.day)
        .order_by(UsageCount.day)
    )
    days: dict[str, list[UsageDay]] = {k.id: [] for k in keys}
    for key_id, day, calls, served in rows:
        days[key_id].append(UsageDay(day=day, calls=int(calls or 0), rows=int(served or 0)))
    today_calls = dict(
        uow.session.execute(
            sa.select(UsageCount.key_id, sa.func.sum(UsageCount.calls))
            .where(UsageCount.key_id.in_([k.id for k in keys]), UsageCount.day == today)
            .group_by(UsageCount.key_id)
        ).all()
    )
    return [
        KeyUsage(
            key_id=k.id,
            name=k.name,
            prefix=k.prefix,
            calls=sum(d.calls for d in days[k.id]),
            rows=sum(d.rows for d in days[k.id]),
            daily_quota=k.daily_quota,
            calls_today=int(today_calls.get(k.id) or 0),
            days=days[k.id],
        )
        for k in keys
    ]


def dataset_usage(
    uow: UnitOfWork,
    *,
    actor: Actor,
    since: date | None = None,
    until: date | None = None,
    limit: int = 100,
) -> list[DatasetUsage]:
    """Calls, rows and downloads per dataset, busiest first: all for the bureau, one's own
    entries for a provider."""
    if not can(actor, "open.usage.read"):
        own = actor.organisations_with(Role.DEPT_OFFICER) | actor.organisations_with(
            Role.DISTRICT_OFFICER
        )
        authorize(actor, "open.usage.read", Resource("catalog_entry", None, frozenset(own)))
        providers: set[str] | None = own
    else:
        providers = None
    since, until = _period(local_date(uow.clock.now()), since, until)
    calls = (
        sa.select(
            UsageCount.entry_id.label("entry_id"),
            sa.func.sum(UsageCount.calls).label("calls"),
            sa.func.sum(UsageCount.rows).label("rows"),
            sa.func.count(sa.distinct(UsageCount.key_id)).label("key_count"),
        )
        .where(UsageCount.day >= since, UsageCount.day <= until)
        .group_by(UsageCount.entry_id)
        .subquery()
    )
    downloads = (
        sa.select(
            DownloadCount.entry_id.label("entry_id"),
            sa.func.sum(DownloadCount.count).label("downloads"),
        )
        .where(DownloadCount.day >= since, DownloadCount.day <= until)
        .group_by(DownloadCount.entry_id)
        .subquery()
    )
    stmt = (
        sa.select(
            Entry.id,
            Entry.name,
            sa.func.coalesce(calls.c.calls, 0),
            sa.func.coalesce(calls.c.rows, 0),
            sa.func.coalesce(downloads.c.downloads, 0),
            sa.func.coalesce(calls.c.key_count, 0),
        )
        .outerjoin(calls, calls.c.entry_id == Entry.id)
        .outerjoin(downloads, downloads.c.entry_id == Entry.id)
        .where(sa.or_(calls.c.entry_id.is_not(None), downloads.c.entry_id.is_not(None)))
    )
    if providers is not None:
        stmt = stmt.where(Entry.provider_id.in_(providers))
    busiest = sa.func.coalesce(calls.c.calls, 0) + sa.func.coalesce(downloads.c.downloads, 0)
    stmt = stmt.order_by(busiest.desc(), Entry.id).limit(max(1, min(limit, 500)))
    return [
        DatasetUsage(
            entry_id=entry_id,
            entry_name=name,
            calls=int(n_calls),
            rows=int(n_rows),
            downloads=int(n_downloads),
            keys=int(n_keys),
        )
        for entry_id, name, n_calls, n_rows, n_downloads, n_keys in uow.session.execute(stmt)
    ]


def open_stats(uow: UnitOfWork) -> OpenStats:
    """The portal's public figures: open entries, their departments, downloads and API calls."""
    conditions = open_entry_conditions()
    by_type = dict(
        uow.session.execute(
            sa.select(Entry.open_type, sa.func.count()).where(*conditions).group_by(Entry.open_type)
        ).all()
    )
    departments = uow.session.scalar(
        sa.select(sa.func.count(sa.distinct(Entry.provider_id))).where(*conditions)
    )
    downloads = uow.session.scalar(sa.select(sa.func.sum(DownloadCount.count)))
    calls, served = uow.session.execute(
        sa.select(sa.func.sum(UsageCount.calls), sa.func.sum(UsageCount.rows))
    ).one()
    keys = uow.session.scalar(
        sa.select(sa.func.count()).select_from(AppKey).where(AppKey.revoked_at.is_(None))
    )
    unconditional = int(by_type.get("unconditional", 0))
    conditional = int(by_type.get("conditional", 0))
    now: datetime = uow.clock.now()
    return OpenStats(
        open_entries=unconditional + conditional,
        unconditional_entries=unconditional,
        conditional_entries=conditional,
        departments=int(departments or 0),
        downloads=int(downloads or 0),
        api_calls=int(calls or 0),
        rows_served=int(served or 0),
        app_keys=int(keys or 0),
        as_of=now,
    )
