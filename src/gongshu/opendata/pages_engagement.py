"""The annual open plan (年度开放计划) and the showcase (应用展示) pages.

``/open/plan`` draws a year's planned against opened entries per quarter and per department as
server SVG and lists the plan's lines; the bureau adds and removes lines on the same page.
``/open/showcase`` shows the approved applications, takes submissions from signed-in users,
and gives the bureau its review queue.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from gongshu.identity import Actor, can
from gongshu.identity.deps import CurrentActor, MaybeActor, UoW, verify_csrf
from gongshu.identity.pages import see_other
from gongshu.kernel.clock import local_date
from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.uow import UnitOfWork
from gongshu.opendata import plan, showcase
from gongshu.opendata.models import OpenPlanItem
from gongshu.opendata.pages_requests import split_names
from gongshu.opendata.pages_shared import SHOWN_ON_PAGE, FormError, open_page, page_url, refusal
from gongshu.opendata.schemas_engagement import PlanItemInput, ReviewInput, ShowcaseInput

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

PLAN_PAGE = 100
SHOWCASE_PAGE = 24
Short = Annotated[str, Form(max_length=200)]


# --- the open plan ------------------------------------------------------------------------------


def _render_plan(
    request: Request,
    actor: Actor | None,
    uow: UnitOfWork,
    *,
    year: int | None,
    quarter: int | None = None,
    department: str | None = None,
    cursor: str | None = None,
    error: FormError | None = None,
    values: dict[str, Any] | None = None,
) -> HTMLResponse:
    today = local_date(uow.clock.now())
    year = year or today.year
    figures = plan.progress(uow, actor=actor, year=year, today=today)
    page = plan.list_items(
        uow, actor=actor, year=year, quarter=quarter, department_id=department or None,
        cursor=cursor, limit=PLAN_PAGE,
    )  # fmt: skip
    base = [("year", str(year))]
    quarters = [
        (str(q.quarter), f"Q{q.quarter}", q.planned, q.opened,
         page_url("/open/plan", [*base, ("quarter", str(q.quarter))]))
        for q in figures.quarters
    ]  # fmt: skip
    departments = [
        (d.organisation_id, d.name, d.planned, d.opened,
         page_url("/open/plan", [*base, ("department", d.organisation_id)]))
        for d in figures.departments
    ]  # fmt: skip
    chosen = [*base, *([("quarter", str(quarter))] if quarter else []),
              *([("department", department)] if department else [])]  # fmt: skip
    return open_page(
        request,
        "open_plan.html",
        status=error.status if error else 200,
        actor=actor,
        year=year,
        years=sorted({*figures.years, today.year}),
        figures=figures,
        quarter_rows=quarters,
        department_rows=departments,
        lines=plan.describe(uow, page.items, today=today),
        quarter=quarter,
        department=department,
        next_url=page_url("/open/plan", [*chosen, ("cursor", page.next_cursor)])
        if page.next_cursor
        else None,
        may_edit=actor is not None and can(actor, "open.plan.edit"),
        error=error,
        values=values or {},
        twin=page_url("/api/v1/open/plan/progress", base),
    )


@router.get("/open/plan", response_class=HTMLResponse)
def plan_page(
    request: Request,
    actor: MaybeActor,
    uow: UoW,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    quarter: Annotated[int | None, Query(ge=1, le=4)] = None,
    department: Annotated[str | None, Query(max_length=40)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """A year's plan: planned against opened per quarter and department, and its lines."""
    return _render_plan(
        request, actor, uow, year=year, quarter=quarter, department=department, cursor=cursor
    )


@router.post("/open/plan", response_class=HTMLResponse)
def plan_add(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    csrf_token: Short = "",
    year: Short = "",
    quarter: Short = "",
    entry_id: Annotated[str, Form(max_length=40)] = "",
    open_type: Short = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Put an entry in a year's plan (the bureau)."""
    verify_csrf(request, csrf_token)
    values = {"year": year, "quarter": quarter, "entry_id": entry_id, "open_type": open_type,
              "note": note}  # fmt: skip
    try:
        data = PlanItemInput.model_validate(
            {"year": year or 0, "quarter": quarter or 0, "entry_id": entry_id.strip(),
             "open_type": open_type, "note": note}
        )  # fmt: skip
        plan.add_item(uow, actor=actor, data=data)
        uow.commit()
    except SHOWN_ON_PAGE as exc:
        uow.rollback()
        shown = int(year) if year.isdigit() and 2000 <= int(year) <= 2100 else None
        return _render_plan(
            request, actor, uow, year=shown, error=refusal("plan", exc), values=values
        )
    return see_other(f"/open/plan?year={data.year}")


@router.post("/open/plan/{item_id}/remove")
def plan_remove(
    request: Request, item_id: str, actor: CurrentActor, uow: UoW, csrf_token: Short = ""
) -> Response:
    """Take a line out of the plan (the bureau)."""
    verify_csrf(request, csrf_token)
    item = uow.session.get(OpenPlanItem, item_id)
    year = item.year if item is not None else None
    plan.remove_item(uow, actor=actor, item_id=item_id)
    uow.commit()
    return see_other(page_url("/open/plan", [("year", str(year))]))


# --- the showcase -------------------------------------------------------------------------------


def _render_showcase(
    request: Request,
    actor: Actor | None,
    uow: UnitOfWork,
    *,
    entry_id: str | None = None,
    cursor: str | None = None,
    error: FormError | None = None,
    values: dict[str, Any] | None = None,
    done: str | None = None,
) -> HTMLResponse:
    page = showcase.list_apps(
        uow, actor=actor, status="approved", entry_id=entry_id, cursor=cursor,
        limit=SHOWCASE_PAGE,
    )  # fmt: skip
    reviewer = actor is not None and can(actor, "open.showcase.review")
    queue = showcase.list_apps(uow, actor=actor, status="submitted", limit=50) if reviewer else None
    mine = showcase.list_apps(uow, actor=actor, mine=True, limit=20) if actor else None
    params = [("entry_id", entry_id)] if entry_id else []
    return open_page(
        request,
        "open_showcase.html",
        status=error.status if error else 200,
        actor=actor,
        apps=showcase.describe(uow, actor, page.items),
        queue=showcase.describe(uow, actor, queue.items) if queue else [],
        mine=[a for a in showcase.describe(uow, actor, mine.items) if a.status != "approved"]
        if mine
        else [],
        entry_id=entry_id,
        next_url=page_url("/open/showcase", [*params, ("cursor", page.next_cursor)])
        if page.next_cursor
        else None,
        error=error,
        values=values or ({"entry_ids": entry_id} if entry_id else {}),
        done=done,
        twin=page_url("/api/v1/open/showcase", params),
    )


@router.get("/open/showcase", response_class=HTMLResponse)
def showcase_page(
    request: Request,
    actor: MaybeActor,
    uow: UoW,
    entry_id: Annotated[str | None, Query(max_length=40)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """Applications built on open data; the submission form; the bureau's review queue."""
    return _render_showcase(request, actor, uow, entry_id=entry_id, cursor=cursor, done=done)


@router.post("/open/showcase", response_class=HTMLResponse)
def showcase_submit(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    csrf_token: Short = "",
    title: Short = "",
    description: Annotated[str, Form(max_length=5000)] = "",
    url: Annotated[str, Form(max_length=500)] = "",
    entry_ids: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Submit an application for the bureau's review."""
    verify_csrf(request, csrf_token)
    values = {"title": title, "description": description, "url": url, "entry_ids": entry_ids}
    try:
        data = ShowcaseInput.model_validate(
            {"title": title, "description": description, "url": url.strip(),
             "entry_ids": split_names(entry_ids)}
        )  # fmt: skip
        showcase.submit(uow, actor=actor, data=data)
        uow.commit()
    except SHOWN_ON_PAGE as exc:
        uow.rollback()
        return _render_showcase(request, actor, uow, error=refusal("submit", exc), values=values)
    return see_other("/open/showcase?done=submitted")


@router.post("/open/showcase/{app_id}/{step}", response_class=HTMLResponse)
def showcase_review(
    request: Request,
    app_id: str,
    step: str,
    actor: CurrentActor,
    uow: UoW,
    csrf_token: Short = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Approve or reject a submission (the bureau)."""
    verify_csrf(request, csrf_token)
    try:
        body = ReviewInput.model_validate({"note": note})
        if step == "approve":
            showcase.approve(uow, actor=actor, app_id=app_id, note=body.note)
        elif step == "reject":
            showcase.reject(uow, actor=actor, app_id=app_id, note=body.note)
        else:
            raise InvalidInput.field("step", "应为通过或不通过 (use approve or reject)")
        uow.commit()
    except SHOWN_ON_PAGE as exc:
        uow.rollback()
        return _render_showcase(request, actor, uow, error=refusal(f"review:{app_id}", exc))
    return see_other(f"/open/showcase?done={step}")
