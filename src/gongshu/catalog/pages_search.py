"""The catalogue's search page: full text, facets in the sidebar, charts of the result.

A bad query is explained on the page. The JSON twin is ``/api/v1/catalog/entries``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from gongshu.catalog import search, service
from gongshu.catalog.pages_shared import keeps_catalogue, org_names, page_url, render, when
from gongshu.catalog.resolve import OrgIndex
from gongshu.identity import can
from gongshu.identity.deps import CurrentActor, UoW
from gongshu.identity.pages import CONSOLE_CHARTS
from gongshu.kernel.errors import InvalidInput

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

# Facets in the order the sidebar lists them (the search module's order).
FACET_ORDER = tuple(search.FACETS)
PAGE_SIZE = 20


@router.get("/console/catalog", response_class=HTMLResponse)
def search_page(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    q: str = "",
    sort: str = "relevance",
    cursor: str | None = None,
) -> Response:
    """Browse and search the catalogue with facets; a bad query is explained, not a 500."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("cursor", "lang")]
    selected = {f: request.query_params.getlist(f) for f in FACET_ORDER}
    error = None
    try:
        filters = search.SearchFilters.of(**{f: v for f, v in selected.items() if v})
        result = search.search_entries(
            uow,
            actor=actor,
            q=q.strip() or None,
            filters=filters,
            sort=sort,
            cursor=cursor,
            limit=PAGE_SIZE,
        )
    except InvalidInput as exc:
        error, result, status = exc.message, None, exc.status
    else:
        status = 200
    hits = result.hits if result else []
    facets = result.facets if result else {}
    org_ids = {h.entry.provider_id for h in hits}
    org_ids |= {v for f in ("provider", "district") for v, _ in facets.get(f, [])}
    org_ids |= set(selected["provider"]) | set(selected["district"])
    orgs = OrgIndex.load(uow, org_ids) if org_ids else OrgIndex([])

    def toggled(facet: str, value: str) -> str:
        pair = (facet, value)
        return page_url(
            "/console/catalog",
            [p for p in params if p != pair] if pair in params else [*params, pair],
        )

    facet_rows = [
        (
            facet,
            [
                (value, n, value in selected[facet], toggled(facet, value))
                for value, n in facets.get(facet, [])
            ],
        )
        for facet in FACET_ORDER
    ]
    active = [(f, v, toggled(f, v)) for f in FACET_ORDER for v in selected[f]]
    charts = []
    for chart_id, facet in (("catalog_theme", "theme"), ("catalog_status", "status")):
        counts = dict(facets.get(facet, []))
        if counts:
            title, prefix, _link = CONSOLE_CHARTS[chart_id]
            others = [p for p in params if p[0] != facet]
            link = page_url("/console/catalog", [*others, (facet, "")])
            charts.append((chart_id, title, prefix, link, counts))
    now, today = uow.clock.now(), service.today(uow)
    rows = [
        {
            "entry": h.entry,
            "name_html": h.name_html,
            "summary_html": h.summary_html,
            "review_overdue": h.entry.review_overdue(today),
            "data_overdue": h.entry.overdue_since(now) is not None,
            "updated": when(h.entry.updated_at),
        }
        for h in hits
    ]
    next_url = None
    if result and result.next_cursor:
        next_url = page_url("/console/catalog", [*params, ("cursor", result.next_cursor)])
    keep = [p for p in params if p[0] in ("q", "sort")]
    json_params = [*params, *([("cursor", cursor)] if cursor else [])]
    return render(
        request,
        "catalog_search.html",
        status=status,
        actor=actor,
        q=q,
        sort=sort,
        error=error,
        facets=facet_rows,
        active=active,
        clear_url=page_url("/console/catalog", keep),
        hits=rows,
        total=result.total if result else 0,
        next_url=next_url,
        charts=charts,
        org_names=org_names(request, orgs.by_id.values()),
        json_url=page_url("/api/v1/catalog/entries", json_params),
        can_create=keeps_catalogue(actor),
        can_review=can(actor, "catalog.review"),
    )
