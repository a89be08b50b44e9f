"""Catalogue pages: search, the entry form, the entry, history, review, import, districts.

Pages work without JavaScript: plain forms with a CSRF token, a redirect after each POST.
Each page links its JSON twin under ``/api/v1/catalog``. The services check every right;
the few ``can`` calls here only decide which buttons to show.

This module is what the web adapter mounts: ``router`` gathers the pages of each topic
(``pages_search``, ``pages_form``, ``pages_import``, ``pages_district``, ``pages_entry``),
and ``console_charts`` gives the console the catalogue's charts.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter

from gongshu.catalog import (
    pages_district,
    pages_entry,
    pages_form,
    pages_import,
    pages_search,
    search,
)
from gongshu.identity import Actor, Role, can
from gongshu.identity.pages import CONSOLE_CHARTS, ConsoleChart
from gongshu.kernel.uow import UnitOfWork

__all__ = ["console_charts", "router"]

router = APIRouter(include_in_schema=False)
# Starlette tries routes in order: the fixed paths (``/console/catalog/new``, ``…/import``,
# ``…/import/commit``, ``…/district``, ``…/{entry_id}/edit``) must come before the entry's
# ``/console/catalog/{entry_id}`` and ``/console/catalog/{entry_id}/{step}``.
router.include_router(pages_search.router)
router.include_router(pages_form.router)
router.include_router(pages_import.router)
router.include_router(pages_district.router)
router.include_router(pages_entry.router)


def console_charts(actor: Actor, uow: UnitOfWork) -> list[ConsoleChart]:
    """The catalogue's charts on the console: the city's for the bureau, one's own otherwise."""
    if can(actor, "catalog.review"):
        filters, query = search.SearchFilters(), ""
    else:
        own = sorted(actor.organisations_with(Role.DEPT_OFFICER))
        district = sorted(actor.organisations_with(Role.DISTRICT_OFFICER))
        if own:
            filters, query = search.SearchFilters.of(provider=own), urlencode({"provider": own[0]})
        elif district:
            filters = search.SearchFilters.of(district=district)
            query = urlencode({"district": district[0]})
        else:
            return []
    result = search.search_entries(uow, actor=actor, filters=filters, limit=1)
    charts: list[ConsoleChart] = []
    for chart_id, facet in (("catalog_status", "status"), ("catalog_theme", "theme")):
        title, prefix, link = CONSOLE_CHARTS[chart_id]
        if query:
            link = link.replace("?", f"?{query}&", 1)
        counts = dict(result.facets.get(facet, []))
        if counts:
            charts.append((chart_id, title, prefix, link, counts))
    return charts
