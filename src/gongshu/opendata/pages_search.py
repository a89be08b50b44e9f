"""The portal's search page ``/open/search``: the catalogue search restricted to open entries.

It calls :func:`gongshu.catalog.search.search_entries` in its public mode (open entries only,
no sign-in) with the facets the public cares about, sort and cursor paging; matches are
highlighted by the search. A bad query is explained on the page. The JSON twin is CKAN's
``package_search``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from gongshu.catalog import search
from gongshu.catalog.resolve import OrgIndex
from gongshu.identity.deps import MaybeActor, UoW
from gongshu.kernel.errors import InvalidInput
from gongshu.opendata.pages_shared import open_page, page_url

__all__ = ["FACET_ORDER", "SORTS", "router"]

router = APIRouter(include_in_schema=False)

# The facets of the public search, in the order the sidebar lists them.
FACET_ORDER = ("theme", "provider", "district", "open_type", "grade", "format", "update_frequency")
SORTS = ("relevance", "modified", "name")
PAGE_SIZE = 20


@router.get("/open/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    actor: MaybeActor,
    uow: UoW,
    q: Annotated[str, Query(max_length=200)] = "",
    sort: Annotated[str, Query(max_length=20)] = "relevance",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Search the open datasets with facets; a bad query is explained, not a 500."""
    params = [
        (k, v)
        for k, v in request.query_params.multi_items()
        if k in ("q", "sort", *FACET_ORDER) and v
    ]
    selected = {f: request.query_params.getlist(f) for f in FACET_ORDER}
    error, result, status = None, None, 200
    try:
        filters = search.SearchFilters.of(**{f: v for f, v in selected.items() if v})
        result = search.search_entries(
            uow, actor=None, public=True, q=q.strip() or None, filters=filters,
            sort=sort if sort in SORTS else "relevance", cursor=cursor, limit=PAGE_SIZE,
        )  # fmt: skip
    except InvalidInput as exc:
        error, status = exc.message, exc.status
    hits = result.hits if result else []
    facets = result.facets if result else {}
    org_ids = {h.entry.provider_id for h in hits}
    org_ids |= {v for f in ("provider", "district") for v, _ in facets.get(f, [])}
    org_ids |= set(selected["provider"]) | set(selected["district"])
    orgs = OrgIndex.load(uow, org_ids) if org_ids else OrgIndex([])
    english = getattr(request.state, "language", "zh") == "en"
    names = {o.id: (o.name_en if english and o.name_en else o.name) for o in orgs.by_id.values()}

    def toggled(facet: str, value: str) -> str:
        pair = (facet, value)
        return page_url("/open/search", [p for p in params if p != pair] if pair in params
                        else [*params, pair])  # fmt: skip

    facet_rows = [
        (facet, [(value, n, value in selected[facet], toggled(facet, value))
                 for value, n in facets.get(facet, [])])
        for facet in FACET_ORDER
    ]  # fmt: skip
    active = [(f, v, toggled(f, v)) for f in FACET_ORDER for v in selected[f]]
    next_url = None
    if result and result.next_cursor:
        next_url = page_url("/open/search", [*params, ("cursor", result.next_cursor)])
    return open_page(
        request,
        "open_search.html",
        status=status,
        actor=actor,
        q=q,
        sort=sort,
        sorts=SORTS,
        error=error,
        facets=facet_rows,
        active=active,
        clear_url=page_url("/open/search", [p for p in params if p[0] in ("q", "sort")]),
        hits=hits,
        total=result.total if result else 0,
        next_url=next_url,
        org_names=names,
        ckan_url=page_url("/api/3/action/package_search", [("q", q)] if q.strip() else []),
    )
