"""What every catalogue page module uses: rendering, redirects, times, names and links."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import Request

from gongshu.catalog.models import Entry
from gongshu.identity import ACTIONS, Actor, Organisation
from gongshu.identity.pages import render, see_other
from gongshu.kernel.clock import BEIJING
from gongshu.kernel.uow import UnitOfWork

__all__ = [
    "keeps_catalogue",
    "org_names",
    "page_url",
    "related_entries",
    "render",
    "see_other",
    "when",
]


def when(moment: datetime | None) -> str:
    """A moment as Beijing wall-clock time, to the minute."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if moment else "—"


def org_names(request: Request, orgs: Iterable[Organisation]) -> dict[str, str]:
    """Organisation id → name in the page's language (English where one is recorded)."""
    english = getattr(request.state, "language", "zh") == "en"
    return {o.id: (o.name_en if english and o.name_en else o.name) for o in orgs}


def keeps_catalogue(actor: Actor) -> bool:
    """Whether the actor holds a role that keeps catalogue entries (for the buttons shown)."""
    return bool(actor.roles & set(ACTIONS["catalog.edit"].roles))


def page_url(path: str, params: Sequence[tuple[str, str]]) -> str:
    """A path with its query string, if any."""
    return f"{path}?{urlencode(params)}" if params else path


def related_entries(uow: UnitOfWork, ids: Sequence[str]) -> list[tuple[str, str, str]]:
    """(id, name, resource code) of the entries named, in the order given; unknown ids left out."""
    if not ids:
        return []
    rows = uow.session.execute(
        sa.select(Entry.id, Entry.name, Entry.resource_code).where(Entry.id.in_(ids))
    )
    found = {row.id: (row.id, row.name, row.resource_code) for row in rows}
    return [found[i] for i in ids if i in found]
