"""Housekeeping of the open API's derived files (for cron): serving copies and downloads.

Serving copies (:mod:`serving`) are kept for the latest data version of each entry, the only
one the open API reads; the others, and every copy made for another DuckDB version, are
deleted. Download files (:mod:`downloads`) are deleted when nobody has asked for them for a
while. Both are derived from the content-addressed version files, so whatever is deleted is
built again, identical, when it is next needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from gongshu.datastore.models import DatasetVersion
from gongshu.identity import CONSOLE, Actor, audit, authorize
from gongshu.kernel.uow import UnitOfWork
from gongshu.opendata.downloads import DownloadFiles
from gongshu.opendata.serving import RowStore

__all__ = ["Pruned", "prune", "served_file_hashes"]


@dataclass(frozen=True)
class Pruned:
    """What a prune deleted."""

    serving_copies: int
    download_files: int
    bytes: int


def served_file_hashes(uow: UnitOfWork) -> set[str]:
    """The file hash of each entry's latest data version."""
    latest = (
        sa.select(DatasetVersion.entry_id, sa.func.max(DatasetVersion.number).label("number"))
        .group_by(DatasetVersion.entry_id)
        .subquery()
    )
    stmt = sa.select(DatasetVersion.file_hash).join(
        latest,
        sa.and_(
            DatasetVersion.entry_id == latest.c.entry_id,
            DatasetVersion.number == latest.c.number,
        ),
    )
    return set(uow.session.scalars(stmt))


def prune(
    uow: UnitOfWork,
    *,
    rows: RowStore,
    downloads: DownloadFiles,
    unused_for: timedelta,
    now: datetime,
    actor: Actor = CONSOLE,
) -> Pruned:
    """Delete serving copies of superseded versions and downloads unused for ``unused_for``."""
    if actor != CONSOLE:
        authorize(actor, "open.housekeeping")
    keep = served_file_hashes(uow)
    sizes: list[int] = []
    copies = rows.prune(keep, sizes)
    files = downloads.prune((now - unused_for).timestamp(), sizes)
    done = Pruned(len(copies), len(files), sum(sizes))
    audit(uow, actor, "open.housekeeping.prune", "open_files", "lake",
          after={"serving_copies": done.serving_copies, "download_files": done.download_files,
                 "bytes": done.bytes, "unused_days": unused_for.days})  # fmt: skip
    return done
