"""League tables: quality per department or district, from each entry's newest report."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from statistics import fmean
from typing import Literal

import sqlalchemy as sa

from gongshu.catalog.models import Entry
from gongshu.identity import Actor, Organisation, authorize
from gongshu.kernel.uow import UnitOfWork
from gongshu.quality.service import latest_reports

__all__ = ["DIMENSIONS", "LeagueRow", "league"]

DIMENSIONS = ("completeness", "validity", "uniqueness", "consistency", "timeliness")


@dataclass
class LeagueRow:
    """One department's or district's standing."""

    organisation_id: str
    name: str
    entries: int = 0
    rows: int = 0
    overall: float | None = None
    dimensions: dict[str, float | None] = field(default_factory=dict)
    worst_entry_id: str | None = None
    worst_entry_name: str | None = None
    worst_overall: float | None = None


def league(
    uow: UnitOfWork, *, actor: Actor, by: Literal["provider", "district"] = "provider"
) -> list[LeagueRow]:
    """Rows ordered best first (organisations without any assessed entry are left out)."""
    authorize(actor, "quality.league")
    latest = latest_reports(uow)
    owner = latest.c.provider_id if by == "provider" else latest.c.district_id
    rows = uow.session.execute(
        sa.select(owner, latest.c.entry_id, Entry.name, latest.c.rows, latest.c.overall,
                  latest.c.scores)
        .join(Entry, Entry.id == latest.c.entry_id)
        .where(owner.is_not(None))
    ).all()  # fmt: skip
    names = dict(uow.session.execute(sa.select(Organisation.id, Organisation.name)).all())
    grouped: dict[str, list[tuple[str, str, int, float | None, dict[str, object]]]] = defaultdict(
        list
    )
    for org_id, entry_id, entry_name, count, overall, scores in rows:
        grouped[org_id].append((entry_id, entry_name, count, overall, scores or {}))
    table: list[LeagueRow] = []
    for org_id, items in grouped.items():
        row = LeagueRow(org_id, names.get(org_id, org_id), entries=len(items))
        row.rows = sum(item[2] for item in items)
        scored = [item for item in items if item[3] is not None]
        if scored:
            row.overall = round(fmean(float(item[3] or 0) for item in scored), 1)
            worst = min(scored, key=lambda item: float(item[3] or 0))
            row.worst_entry_id, row.worst_entry_name = worst[0], worst[1]
            row.worst_overall = worst[3]
        for dimension in DIMENSIONS:
            values: list[float] = []
            for item in items:
                dims = item[4].get("dimensions")
                value = dims.get(dimension) if isinstance(dims, dict) else None
                if isinstance(value, int | float):
                    values.append(float(value))
            row.dimensions[dimension] = round(fmean(values), 1) if values else None
        table.append(row)
    table.sort(key=lambda r: (-(r.overall if r.overall is not None else -1.0), r.name))
    return table
