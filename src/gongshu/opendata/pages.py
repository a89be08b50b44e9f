"""The public open data site (公共数据开放平台) under ``/open``: home, search, theme, department
and district lists, and the developers' guide; the dataset, request, plan, showcase and account
pages live in the ``pages_*`` siblings, whose routers this module's :data:`router` includes.

No page needs a sign-in to read. Forms post with the CSRF token and redirect; charts are SVG
drawn on the server; every page has its JSON twin under ``/api/v1/open`` or ``/api/3``.
Entries whose open type is 不予开放 never appear: lists read open entries only, and a page of
one answers 404 exactly as for an id that does not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from gongshu.catalog.vocab import THEMES
from gongshu.identity import Organisation
from gongshu.identity.deps import MaybeActor, UoW
from gongshu.kernel.errors import NotFound
from gongshu.opendata import (
    pages_account,
    pages_dataset,
    pages_engagement,
    pages_requests,
    pages_search,
    usage,
)
from gongshu.opendata.pages_shared import (
    ORDERS,
    department_counts,
    district_by_code,
    district_counts,
    list_open,
    open_page,
    page_url,
    theme_counts,
)
from gongshu.opendata.routes import open_runtime
from gongshu.opendata.rows import DEFAULT_SIZE, FORMATS, MAX_SIZE, OPERATORS

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

HIGHLIGHTS = 6
LIST_SIZE = 24
Cursor = Annotated[str | None, Query(max_length=200)]


@router.get("/open", response_class=HTMLResponse)
def home(request: Request, actor: MaybeActor, uow: UoW) -> Response:
    """Live figures, the newest and most downloaded datasets, themes, departments, districts."""
    open_runtime(request).usage.flush(wait=False)
    themes = theme_counts(uow)
    return open_page(
        request,
        "open_home.html",
        actor=actor,
        stats=usage.open_stats(uow),
        themes=[(code, themes[code]) for code in THEMES if code in themes],
        newest=list_open(uow, order="newest", limit=HIGHLIGHTS).items,
        popular=list_open(uow, order="downloads", limit=HIGHLIGHTS).items,
        departments=department_counts(uow)[:24],
        districts=district_counts(uow),
    )


def _order(order: str) -> str:
    return order if order in ORDERS else "newest"


def _list_page(
    request: Request,
    actor: MaybeActor,
    uow: UoW,
    *,
    kind: str,
    title: str,
    path: str,
    order: str,
    cursor: str | None,
    twin: str,
    **filters: str,
) -> Response:
    order = _order(order)
    page = list_open(uow, order=order, cursor=cursor, limit=LIST_SIZE, **filters)
    params = [("order", order)]
    return open_page(
        request,
        "open_list.html",
        actor=actor,
        kind=kind,
        title=title,
        base=path,
        order=order,
        orders=ORDERS,
        items=page.items,
        next_url=page_url(path, [*params, ("cursor", page.next_cursor)])
        if page.next_cursor
        else None,
        twin=twin,
    )


@router.get("/open/themes/{code}", response_class=HTMLResponse)
def theme_page(
    request: Request,
    code: str,
    actor: MaybeActor,
    uow: UoW,
    order: str = "newest",
    cursor: Cursor = None,
) -> Response:
    """The open datasets of one theme (分类)."""
    if code not in THEMES:
        raise NotFound(f"没有主题 {code} (no theme {code!r})")
    return _list_page(
        request, actor, uow, kind="theme", title=code, path=f"/open/themes/{code}",
        order=order, cursor=cursor, theme=code,
        twin=f"/api/3/action/group_show?id={code}",
    )  # fmt: skip


@router.get("/open/departments/{org_id}", response_class=HTMLResponse)
def department_page(
    request: Request,
    org_id: str,
    actor: MaybeActor,
    uow: UoW,
    order: str = "newest",
    cursor: Cursor = None,
) -> Response:
    """The open datasets one department (or district, or operator) provides."""
    org = uow.session.get(Organisation, org_id)
    if org is None:
        raise NotFound(f"没有机构 {org_id} (no organisation {org_id!r})")
    return _list_page(
        request, actor, uow, kind="department", title=org.name,
        path=f"/open/departments/{org.id}", order=order, cursor=cursor, provider_id=org.id,
        twin=f"/api/3/action/organization_show?id={org.id}",
    )  # fmt: skip


@router.get("/open/districts/{code}", response_class=HTMLResponse)
def district_page(
    request: Request,
    code: str,
    actor: MaybeActor,
    uow: UoW,
    order: str = "newest",
    cursor: Cursor = None,
) -> Response:
    """The open datasets of one district's catalogue (四级目录)."""
    district = district_by_code(uow, code)
    return _list_page(
        request, actor, uow, kind="district", title=district.name,
        path=f"/open/districts/{code}", order=order, cursor=cursor, district_id=district.id,
        twin=f"/api/3/action/organization_show?id={district.id}",
    )  # fmt: skip


@router.get("/open/developers", response_class=HTMLResponse)
def developers_page(request: Request, actor: MaybeActor) -> Response:
    """How to call the open API: app keys, the row API's query language, downloads, CKAN."""
    return open_page(
        request,
        "open_developers.html",
        actor=actor,
        operators=OPERATORS,
        formats=FORMATS,
        default_size=DEFAULT_SIZE,
        max_size=MAX_SIZE,
    )


router.include_router(pages_search.router)
router.include_router(pages_dataset.router)
router.include_router(pages_requests.router)
router.include_router(pages_engagement.router)
router.include_router(pages_account.router)
