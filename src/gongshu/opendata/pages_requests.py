"""Data request pages (开放数据接诉即办): the public list with each department's rates, the
filing form, and one request's page with its timeline, answer and countdown.

The same page carries the forms of whoever may act next — the bureau dispatches or declines,
the department answers, the requester rates — as :func:`requests.next_steps` says; the
service checks every right again. Requesters appear masked, as in the JSON twin.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from gongshu.identity import Actor, Organisation, OrgKind
from gongshu.identity.deps import CurrentActor, MaybeActor, UoW, get_platform, verify_csrf
from gongshu.identity.pages import see_other
from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.uow import UnitOfWork
from gongshu.opendata import requests
from gongshu.opendata.models import RequestStatus
from gongshu.opendata.pages_shared import (
    SHOWN_ON_PAGE,
    FormError,
    list_open,
    open_page,
    page_url,
    refusal,
)
from gongshu.opendata.plan import open_entry
from gongshu.opendata.schemas_engagement import (
    AnswerInput,
    AnswerKind,
    DataRequestInput,
    RatingInput,
)

__all__ = ["STEPS", "router", "split_names"]

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 30
STEPS = ("dispatch", "reject", "answer", "rate")
Short = Annotated[str, Form(max_length=200)]
Text = Annotated[str, Form(max_length=5000)]
STATUSES = ("open", *(s.value for s in RequestStatus))


def split_names(text: str) -> list[str]:
    """Field names from a comma list (either comma), blanks dropped."""
    return [part.strip() for part in text.replace("，", ",").split(",") if part.strip()]


@router.get("/open/requests", response_class=HTMLResponse)
def list_page(
    request: Request,
    actor: MaybeActor,
    uow: UoW,
    status: Annotated[str, Query(max_length=20)] = "",
    department: Annotated[str, Query(max_length=40)] = "",
    mine: bool = False,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Every request with its status and countdown; the rates of each department."""
    if status and status not in STATUSES:
        raise InvalidInput.field(
            "query.status",
            f"状态应为 {'、'.join(STATUSES)} 之一 (use one of {', '.join(STATUSES)})",
        )
    page = requests.list_requests(
        uow, actor=actor, status=[status] if status else (), department_id=department or None,
        mine=mine and actor is not None, cursor=cursor, limit=PAGE_SIZE,
    )  # fmt: skip
    chosen = (("status", status), ("department", department), ("mine", "true" if mine else ""))
    params = [(k, v) for k, v in chosen if v]
    return open_page(
        request,
        "open_requests.html",
        actor=actor,
        rows=requests.describe(uow, actor, page.items),
        stats=requests.statistics(uow),
        status_filter=status,
        mine=mine,
        department=department,
        statuses=STATUSES,
        next_url=page_url("/open/requests", [*params, ("cursor", page.next_cursor)])
        if page.next_cursor
        else None,
        twin=page_url("/api/v1/open/requests", [("status", status)] if status else []),
    )


def _render_new(
    request: Request,
    actor: Actor,
    uow: UnitOfWork,
    *,
    values: dict[str, Any],
    error: FormError | None = None,
) -> HTMLResponse:
    entry = None
    if values.get("entry_id"):
        entry = open_entry(uow, str(values["entry_id"]))
    return open_page(
        request,
        "open_request_new.html",
        status=error.status if error else 200,
        actor=actor,
        values=values,
        entry=entry,
        error=error,
        days=get_platform(request).settings.open_request_dispatch_working_days,
    )


@router.get("/open/requests/new", response_class=HTMLResponse)
def new_page(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    entry_id: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """The filing form (signed in); from a dataset page it names that dataset."""
    return _render_new(request, actor, uow, values={"entry_id": entry_id})


@router.post("/open/requests/new", response_class=HTMLResponse)
def new_submit(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    csrf_token: Short = "",
    title: Short = "",
    description: Text = "",
    purpose: Annotated[str, Form(max_length=1000)] = "",
    fields: Annotated[str, Form(max_length=5000)] = "",
    entry_id: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """File the request; the bureau dispatches it within its working-day deadline."""
    verify_csrf(request, csrf_token)
    values = {"title": title, "description": description, "purpose": purpose,
              "fields": fields, "entry_id": entry_id}  # fmt: skip
    days = get_platform(request).settings.open_request_dispatch_working_days
    try:
        data = DataRequestInput.model_validate(
            {"title": title, "description": description, "purpose": purpose,
             "fields": split_names(fields), "entry_id": entry_id or None}
        )  # fmt: skip
        filed = requests.file_request(uow, actor=actor, data=data, working_days=days)
        uow.commit()
    except SHOWN_ON_PAGE as exc:
        uow.rollback()
        return _render_new(request, actor, uow, values=values, error=refusal("file", exc))
    return see_other(f"/open/requests/{filed.id}?done=filed")


def _departments(uow: UnitOfWork) -> list[tuple[str, str]]:
    rows = uow.session.execute(
        sa.select(Organisation.id, Organisation.name)
        .where(
            Organisation.active,
            Organisation.kind.in_([OrgKind.DEPARTMENT.value, OrgKind.DISTRICT.value]),
        )
        .order_by(Organisation.kind, Organisation.code)
    )
    return [(i, name) for i, name in rows]


def _render_request(
    request: Request,
    actor: Actor | None,
    uow: UnitOfWork,
    request_id: str,
    *,
    error: FormError | None = None,
    values: dict[str, Any] | None = None,
    done: str | None = None,
) -> HTMLResponse:
    r = requests.get_request(uow, request_id=request_id)
    shown = requests.describe(uow, actor, [r], events=requests.list_events(uow, request_id=r.id))[0]
    steps = set(shown.next_steps)
    answerable = []
    if "answer" in steps and r.department_id:
        answerable = list_open(uow, provider_id=r.department_id, order="name", limit=200).items
    return open_page(
        request,
        "open_request.html",
        status=error.status if error else 200,
        actor=actor,
        r=shown,
        steps=steps,
        departments=_departments(uow) if "dispatch" in steps else [],
        answerable=answerable,
        kinds=[k.value for k in AnswerKind],
        error=error,
        values=values or {},
        done=done,
    )


@router.get("/open/requests/{request_id}", response_class=HTMLResponse)
def request_page(
    request: Request,
    request_id: str,
    actor: MaybeActor,
    uow: UoW,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """One request: what is asked, the timeline, the countdown, the answer and its rating."""
    return _render_request(request, actor, uow, request_id, done=done)


@router.post("/open/requests/{request_id}/{step}", response_class=HTMLResponse)
def request_step(
    request: Request,
    request_id: str,
    step: str,
    actor: CurrentActor,
    uow: UoW,
    csrf_token: Short = "",
    department_id: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
    kind: Short = "",
    text: Text = "",
    entry_id: Annotated[str, Form(max_length=40)] = "",
    rating: Short = "",
) -> Response:
    """Dispatch or decline (the bureau), answer (the department), rate (the requester)."""
    verify_csrf(request, csrf_token)
    settings = get_platform(request).settings
    values = {"department_id": department_id, "note": note, "reason": reason, "kind": kind,
              "text": text, "entry_id": entry_id, "rating": rating}  # fmt: skip
    try:
        if step == "dispatch":
            requests.dispatch(
                uow, actor=actor, request_id=request_id, department_id=department_id,
                working_days=settings.open_request_answer_working_days, note=note,
            )  # fmt: skip
        elif step == "reject":
            requests.decline(uow, actor=actor, request_id=request_id, reason=reason)
        elif step == "answer":
            data = AnswerInput.model_validate(
                {"kind": kind, "text": text, "entry_id": entry_id or None}
            )
            requests.answer(uow, actor=actor, request_id=request_id, data=data)
        elif step == "rate":
            score = RatingInput.model_validate({"rating": rating or 0, "note": note})
            requests.rate(uow, actor=actor, request_id=request_id, data=score)
        else:
            raise InvalidInput.field("step", f"没有此步骤 {step} (use one of {', '.join(STEPS)})")
        uow.commit()
    except SHOWN_ON_PAGE as exc:
        uow.rollback()
        return _render_request(
            request, actor, uow, request_id, error=refusal(step, exc), values=values
        )
    return see_other(f"/open/requests/{request_id}?done={step}")
