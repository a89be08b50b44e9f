"""JSON routes of data requests, the open plan, the showcase and conditional opening, under
``/api/v1/open``: parse, call one service, commit, render.

Reading requests, their statistics, the plan and the approved showcase needs no sign-in.
Deadlines come from the settings (``open_request_*_working_days``,
``open_application_working_days``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel

from gongshu.identity import Actor
from gongshu.identity.deps import CurrentActor, MaybeActor, UoW, get_platform, page_response
from gongshu.kernel.clock import local_date
from gongshu.kernel.settings import Settings
from gongshu.kernel.uow import UnitOfWork
from gongshu.opendata import applications, plan, requests, showcase
from gongshu.opendata.models import DataRequest
from gongshu.opendata.schemas_engagement import (
    AnswerInput,
    ApplicationInput,
    ApplicationRead,
    ApproveInput,
    DataRequestInput,
    DataRequestRead,
    DeclineInput,
    DispatchInput,
    PlanItemInput,
    PlanItemRead,
    PlanItemUpdate,
    PlanProgress,
    RatingInput,
    RefuseInput,
    RequestStatistics,
    ReviewInput,
    ShowcaseAppRead,
    ShowcaseInput,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/open", tags=["open data: engagement"])
Limit = Annotated[int, Query(ge=1, le=200)]


def _settings(request: Request) -> Settings:
    return get_platform(request).settings


def _dump(items: list[BaseModel]) -> list[Any]:
    return [item.model_dump(mode="json") for item in items]


# --- data requests (接诉即办) ---------------------------------------------------------------------


def _request(uow: UnitOfWork, actor: Actor | None, r: DataRequest) -> DataRequestRead:
    events = requests.list_events(uow, request_id=r.id)
    return requests.describe(uow, actor, [r], events=events)[0]


@router.post("/requests", status_code=status.HTTP_201_CREATED)
def file_request(
    data: DataRequestInput, request: Request, actor: CurrentActor, uow: UoW
) -> DataRequestRead:
    """Ask for data that is not (yet) open; the bureau dispatches it within its deadline."""
    days = _settings(request).open_request_dispatch_working_days
    r = requests.file_request(uow, actor=actor, data=data, working_days=days)
    uow.commit()
    return _request(uow, actor, r)


@router.get("/requests")
def list_requests(
    request: Request,
    actor: MaybeActor,
    uow: UoW,
    status: Annotated[list[str] | None, Query()] = None,
    department_id: str | None = None,
    entry_id: str | None = None,
    overdue: bool | None = None,
    mine: bool = False,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """Data requests, newest first; public, requesters masked."""
    page = requests.list_requests(
        uow, actor=actor, status=status or (), department_id=department_id, entry_id=entry_id,
        overdue=overdue, mine=mine, cursor=cursor, limit=limit,
    )  # fmt: skip
    return page_response(request, page, _dump(list(requests.describe(uow, actor, page.items))))


@router.get("/requests/stats")
def request_statistics(uow: UoW) -> RequestStatistics:
    """Response, resolution and satisfaction rates per department; public."""
    return requests.statistics(uow)


@router.get("/requests/{request_id}")
def get_request(request_id: str, actor: MaybeActor, uow: UoW) -> DataRequestRead:
    """One request with its timeline, countdown and the caller's next steps; public."""
    return _request(uow, actor, requests.get_request(uow, request_id=request_id))


@router.post("/requests/{request_id}/dispatch")
def dispatch_request(
    request_id: str, body: DispatchInput, request: Request, actor: CurrentActor, uow: UoW
) -> DataRequestRead:
    """Send the request to a department (or move it to another); its answer clock starts."""
    r = requests.dispatch(
        uow, actor=actor, request_id=request_id, department_id=body.department_id,
        working_days=_settings(request).open_request_answer_working_days, note=body.note,
    )  # fmt: skip
    uow.commit()
    return _request(uow, actor, r)


@router.post("/requests/{request_id}/reject")
def decline_request(
    request_id: str, body: DeclineInput, actor: CurrentActor, uow: UoW
) -> DataRequestRead:
    """Do not take the request up, saying why."""
    r = requests.decline(uow, actor=actor, request_id=request_id, reason=body.reason)
    uow.commit()
    return _request(uow, actor, r)


@router.post("/requests/{request_id}/answer")
def answer_request(
    request_id: str, body: AnswerInput, actor: CurrentActor, uow: UoW
) -> DataRequestRead:
    """The department's public answer."""
    r = requests.answer(uow, actor=actor, request_id=request_id, data=body)
    uow.commit()
    return _request(uow, actor, r)


@router.post("/requests/{request_id}/rate")
def rate_request(
    request_id: str, body: RatingInput, actor: CurrentActor, uow: UoW
) -> DataRequestRead:
    """The requester rates the answer, 1–5."""
    r = requests.rate(uow, actor=actor, request_id=request_id, data=body)
    uow.commit()
    return _request(uow, actor, r)


# --- the open plan ----------------------------------------------------------------------------


@router.get("/plan")
def list_plan(
    request: Request,
    actor: MaybeActor,
    uow: UoW,
    year: int | None = None,
    quarter: Annotated[int | None, Query(ge=1, le=4)] = None,
    department_id: str | None = None,
    cursor: str | None = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    """A year's plan lines (this year unless said), by quarter; public."""
    today = local_date(uow.clock.now())
    page = plan.list_items(
        uow, actor=actor, year=year or today.year, quarter=quarter,
        department_id=department_id, cursor=cursor, limit=limit,
    )  # fmt: skip
    return page_response(request, page, _dump(list(plan.describe(uow, page.items, today=today))))


@router.get("/plan/progress")
def plan_progress(actor: MaybeActor, uow: UoW, year: int | None = None) -> PlanProgress:
    """Planned against opened per quarter and per department (the charts); public."""
    return plan.progress(uow, actor=actor, year=year or local_date(uow.clock.now()).year)


@router.post("/plan", status_code=status.HTTP_201_CREATED)
def add_plan_item(data: PlanItemInput, actor: CurrentActor, uow: UoW) -> PlanItemRead:
    """Put an entry in a year's plan (the bureau)."""
    item = plan.add_item(uow, actor=actor, data=data)
    uow.commit()
    return plan.describe(uow, [item], today=local_date(uow.clock.now()))[0]


@router.patch("/plan/{item_id}")
def update_plan_item(
    item_id: str, data: PlanItemUpdate, actor: CurrentActor, uow: UoW
) -> PlanItemRead:
    """Change a plan line's quarter, open type or note (the bureau)."""
    item = plan.update_item(uow, actor=actor, item_id=item_id, data=data)
    uow.commit()
    return plan.describe(uow, [item], today=local_date(uow.clock.now()))[0]


@router.delete("/plan/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_plan_item(item_id: str, actor: CurrentActor, uow: UoW) -> Response:
    """Take a line out of the plan (the bureau)."""
    plan.remove_item(uow, actor=actor, item_id=item_id)
    uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- the showcase -----------------------------------------------------------------------------


@router.get("/showcase")
def list_showcase(
    request: Request,
    actor: MaybeActor,
    uow: UoW,
    status: str | None = None,
    mine: bool = False,
    entry_id: str | None = None,
    cursor: str | None = None,
    limit: Limit = 24,
) -> dict[str, Any]:
    """Approved applications (public); ``mine`` one's own; other statuses for the bureau."""
    page = showcase.list_apps(
        uow, actor=actor, status=status, mine=mine, entry_id=entry_id, cursor=cursor, limit=limit
    )
    return page_response(request, page, _dump(list(showcase.describe(uow, actor, page.items))))


@router.get("/showcase/{app_id}")
def get_showcase_app(app_id: str, actor: MaybeActor, uow: UoW) -> ShowcaseAppRead:
    """One application: public once approved."""
    app = showcase.get_app(uow, actor=actor, app_id=app_id)
    return showcase.describe(uow, actor, [app])[0]


@router.post("/showcase", status_code=status.HTTP_201_CREATED)
def submit_showcase_app(data: ShowcaseInput, actor: CurrentActor, uow: UoW) -> ShowcaseAppRead:
    """Submit an application built on open data for review."""
    app = showcase.submit(uow, actor=actor, data=data)
    uow.commit()
    return showcase.describe(uow, actor, [app])[0]


@router.post("/showcase/{app_id}/approve")
def approve_showcase_app(
    app_id: str, body: ReviewInput, actor: CurrentActor, uow: UoW
) -> ShowcaseAppRead:
    """Publish it in the showcase (the bureau)."""
    app = showcase.approve(uow, actor=actor, app_id=app_id, note=body.note)
    uow.commit()
    return showcase.describe(uow, actor, [app])[0]


@router.post("/showcase/{app_id}/reject")
def reject_showcase_app(
    app_id: str, body: ReviewInput, actor: CurrentActor, uow: UoW
) -> ShowcaseAppRead:
    """Turn it down with a note (the bureau)."""
    app = showcase.reject(uow, actor=actor, app_id=app_id, note=body.note)
    uow.commit()
    return showcase.describe(uow, actor, [app])[0]


# --- conditional opening ----------------------------------------------------------------------


@router.post("/applications", status_code=status.HTTP_201_CREATED)
def apply(
    data: ApplicationInput, request: Request, actor: CurrentActor, uow: UoW
) -> ApplicationRead:
    """Apply to use a 有条件开放 dataset; the provider decides within its deadline."""
    days = _settings(request).open_application_working_days
    app = applications.apply(uow, actor=actor, data=data, working_days=days)
    uow.commit()
    return applications.describe(uow, actor, [app])[0]


@router.get("/applications")
def list_applications(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    status: str | None = None,
    entry_id: str | None = None,
    mine: bool = False,
    overdue: bool | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """One's applications, or those a provider reviews, newest first."""
    page = applications.list_applications(
        uow, actor=actor, status=status, entry_id=entry_id, mine=mine, overdue=overdue,
        cursor=cursor, limit=limit,
    )  # fmt: skip
    items = _dump(list(applications.describe(uow, actor, page.items)))
    return page_response(request, page, items)


@router.get("/applications/{application_id}")
def get_application(application_id: str, actor: CurrentActor, uow: UoW) -> ApplicationRead:
    """One application with its status, countdown and grant."""
    app = applications.get_application(uow, actor=actor, application_id=application_id)
    return applications.describe(uow, actor, [app])[0]


@router.post("/applications/{application_id}/approve")
def approve_application(
    application_id: str, body: ApproveInput, actor: CurrentActor, uow: UoW
) -> ApplicationRead:
    """Approve and issue the grant to the applicant's organisation (the provider)."""
    app = applications.approve(uow, actor=actor, application_id=application_id, data=body)
    uow.commit()
    return applications.describe(uow, actor, [app])[0]


@router.post("/applications/{application_id}/refuse")
def refuse_application(
    application_id: str, body: RefuseInput, actor: CurrentActor, uow: UoW
) -> ApplicationRead:
    """Refuse with reasons (the provider)."""
    app = applications.refuse(uow, actor=actor, application_id=application_id, reasons=body.reasons)
    uow.commit()
    return applications.describe(uow, actor, [app])[0]


@router.post("/applications/{application_id}/withdraw")
def withdraw_application(application_id: str, actor: CurrentActor, uow: UoW) -> ApplicationRead:
    """Take back an application still under review (the applicant)."""
    app = applications.withdraw(uow, actor=actor, application_id=application_id)
    uow.commit()
    return applications.describe(uow, actor, [app])[0]
