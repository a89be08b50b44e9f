"""The four-level catalogue of a district: duty → data → information system → table."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from gongshu.catalog import search
from gongshu.catalog.models import Entry
from gongshu.catalog.pages_shared import org_names, page_url, render, see_other
from gongshu.identity import Actor, Organisation, OrgKind, Role, authorize
from gongshu.identity import service as identity_service
from gongshu.identity.deps import CurrentActor, UoW
from gongshu.kernel.errors import NotFound
from gongshu.kernel.uow import UnitOfWork

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/console/catalog/district", response_class=HTMLResponse)
def district_choice(
    request: Request, actor: CurrentActor, uow: UoW, org: str | None = None
) -> Response:
    """A district officer goes to their district; others choose one."""
    if org:
        return see_other(f"/console/catalog/district/{org}")
    own = sorted(actor.organisations_with(Role.DISTRICT_OFFICER))
    if own:
        return see_other(f"/console/catalog/district/{own[0]}")
    authorize(actor, "catalog.read")
    return _render_district(request, actor, uow, None)


def _district_choices(request: Request, uow: UnitOfWork) -> list[tuple[str, str]]:
    districts = uow.session.scalars(
        sa.select(Organisation)
        .where(Organisation.kind == OrgKind.DISTRICT)
        .order_by(Organisation.division_code, Organisation.code)
    ).all()
    names = org_names(request, districts)
    return [(d.id, names[d.id]) for d in districts]


def _render_district(
    request: Request,
    actor: Actor,
    uow: UnitOfWork,
    district: Organisation | None,
    cursor: str | None = None,
) -> HTMLResponse:
    tree: dict[str | None, list[Entry]] = {}
    total, next_url = 0, None
    if district is not None:
        result = search.search_entries(
            uow,
            actor=actor,
            filters=search.SearchFilters.of(district=district.id),
            sort="name",
            cursor=cursor,
            limit=100,
            facets=False,
        )
        for hit in result.hits:
            tree.setdefault(hit.entry.duty, []).append(hit.entry)
        total = result.total
        if result.next_cursor:
            next_url = page_url(
                f"/console/catalog/district/{district.id}", [("cursor", result.next_cursor)]
            )
    ordered = sorted(tree.items(), key=lambda item: (item[0] is None, item[0] or ""))
    return render(
        request,
        "catalog_district.html",
        actor=actor,
        district=district,
        district_name=org_names(request, [district])[district.id] if district else "",
        choices=[]
        if actor.organisations_with(Role.DISTRICT_OFFICER)
        else _district_choices(request, uow),
        tree=ordered,
        total=total,
        next_url=next_url,
    )


@router.get("/console/catalog/district/{org_id}", response_class=HTMLResponse)
def district_page(
    request: Request, org_id: str, actor: CurrentActor, uow: UoW, cursor: str | None = None
) -> Response:
    """A district's entries as a tree: duty → data → information system → table."""
    authorize(actor, "catalog.read")
    org = identity_service.get_organisation(uow, actor=actor, organisation_id=org_id)
    if org.kind != OrgKind.DISTRICT:
        raise NotFound(f"{org.name} is not a district")
    return _render_district(request, actor, uow, org, cursor)
