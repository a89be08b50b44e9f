"""Data requests (开放数据接诉即办): ask, dispatch, answer in public, rate; late ones flagged.

A signed-in member of the public asks for data (what, why, which fields, optionally the
related open entry). The bureau dispatches it to a department within its working-day deadline
(or declines it with a reason); the department answers publicly within its own deadline —
opened, planned, conditional or refused — and the requester rates the answer 1–5. Each step
is one function that checks the right and the status, writes a :class:`DataRequestEvent` on
the public timeline and the audit record ``open.request.<step>`` (anchored in the ledger) in
the same transaction; the adapter commits once.

Everything here is public except who asked: requesters appear masked, and the ledger (public
too) gets digests of the texts, never the texts. Response, resolution and satisfaction rates
are published per department (:func:`statistics`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from gongshu.identity import (
    CONSOLE,
    Actor,
    Organisation,
    OrgKind,
    Resource,
    User,
    audit,
    authorize,
    can,
)
from gongshu.identity import deadline as working_deadline
from gongshu.kernel.calendar import WorkingCalendar
from gongshu.kernel.clock import local_date
from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.ids import new_id
from gongshu.kernel.pagination import Page, decode_cursor, paginate
from gongshu.kernel.uow import UnitOfWork
from gongshu.opendata.errors_engagement import DataRequestNotFound, WrongRequestStatus
from gongshu.opendata.models import DataRequest, DataRequestEvent, RequestStatus
from gongshu.opendata.plan import open_entry, open_entry_names, organisation_names
from gongshu.opendata.schemas_engagement import (
    AnswerInput,
    AnswerKind,
    DataRequestInput,
    DataRequestRead,
    DepartmentRequestStats,
    RatingInput,
    RequestEventRead,
    RequestStatistics,
)

__all__ = [
    "ANSWER_LABELS",
    "OPEN_STATUSES",
    "STATUS_LABELS",
    "STEP_LABELS",
    "answer",
    "decline",
    "describe",
    "dispatch",
    "file_request",
    "flag_overdue",
    "get_request",
    "list_events",
    "list_requests",
    "mask_name",
    "next_steps",
    "rate",
    "statistics",
]

R = RequestStatus
# Still waiting on the platform: the bureau (submitted) or a department (dispatched).
OPEN_STATUSES = frozenset({R.SUBMITTED.value, R.DISPATCHED.value})
STATUS_LABELS = {
    R.SUBMITTED: "待分派 (awaiting dispatch)",
    R.DISPATCHED: "办理中 (with a department)",
    R.ANSWERED: "已答复 (answered)",
    R.RATED: "已评价 (rated)",
    R.REJECTED: "不予受理 (declined)",
}
ANSWER_LABELS = {
    AnswerKind.OPENED: "已开放 (opened)",
    AnswerKind.PLANNED: "已列入开放计划 (planned)",
    AnswerKind.CONDITIONAL: "有条件开放 (open on application)",
    AnswerKind.REFUSED: "暂不开放 (not to be opened)",
}
STEP_LABELS = {
    "submit": "提交需求 (filed)",
    "dispatch": "分派办理 (dispatched)",
    "redispatch": "改派 (re-dispatched)",
    "reject": "不予受理 (declined)",
    "answer": "答复 (answered)",
    "rate": "评价 (rated)",
    "overdue": "逾期提醒 (overdue)",
}
# The open types an answer's entry must have.
_ANSWER_OPEN_TYPE = {AnswerKind.OPENED: "unconditional", AnswerKind.CONDITIONAL: "conditional"}
_DEPARTMENT_KINDS = (OrgKind.DEPARTMENT.value, OrgKind.DISTRICT.value)


# --- helpers ------------------------------------------------------------------------------------


def mask_name(name: str) -> str:
    """A person's name as the public sees it: the first character, then stars."""
    name = name.strip()
    return (name[:1] + "*" * min(max(len(name) - 1, 1), 2)) if name else "*"


def _digest(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def _ledger_doc(r: DataRequest) -> dict[str, Any]:
    """What the public ledger may hold: references, states, dates and digests of the texts."""
    return {
        "status": r.status,
        "entry_id": r.entry_id,
        "department_id": r.department_id,
        "due_on": r.due_on.isoformat() if r.due_on else None,
        "answer_kind": r.answer_kind,
        "rating": r.rating,
        "content_sha256": _digest(f"{r.title}\n{r.description}\n{r.purpose}"),
        "answer_sha256": _digest(r.answer),
    }


def _load(uow: UnitOfWork, request_id: str, *, lock: bool = False) -> DataRequest:
    stmt = sa.select(DataRequest).where(DataRequest.id == request_id)
    r = uow.session.scalar(stmt.with_for_update() if lock else stmt)
    if r is None:
        raise DataRequestNotFound(f"no data request {request_id!r}")
    return r


def _zh(label: str) -> str:
    return label.split(" (")[0]


def _check_status(r: DataRequest, step: str, allowed: Iterable[RequestStatus]) -> None:
    wanted = {s.value for s in allowed}
    if r.status not in wanted:
        raise WrongRequestStatus(
            f"需求当前状态为{_zh(STATUS_LABELS[R(r.status)])}，不能{_zh(STEP_LABELS[step])} "
            f"(request {r.id} is {r.status}; {step} needs {'/'.join(sorted(wanted))})",
            details={"status": r.status, "step": step},
        )


def _due(uow: UnitOfWork, actor: Actor, working_days: int) -> date:
    today = local_date(uow.clock.now())
    return working_deadline(uow, actor=actor, start=today, working_days=working_days).due


def _staff_label(actor: Actor, org_id: str | None = None) -> str:
    """A public label for staff: the organisation's name, never the officer's."""
    seats = [s for s in actor.seats if s.organisation_id == org_id] or list(actor.seats)
    return seats[0].organisation_name if seats else "数据管理部门 (the bureau)"


def _step(
    uow: UnitOfWork, actor: Actor, r: DataRequest, step: str, label: str, note: str = ""
) -> DataRequest:
    """Write the timeline event and the audit record of a step."""
    r.updated_at = uow.clock.now()
    uow.session.flush()
    uow.session.add(
        DataRequestEvent(request_id=r.id, step=step, actor_label=label, note=note, at=r.updated_at)
    )
    after = _ledger_doc(r) | {"note_sha256": _digest(note) if note else None}
    audit(uow, actor, f"open.request.{step}", "data_request", r.id, after=after)
    return r


def _resource(r: DataRequest) -> Resource:
    orgs = frozenset({r.department_id}) if r.department_id else frozenset()
    return Resource("data_request", r.id, orgs, owner_user_id=r.requester_id)


# --- the steps ----------------------------------------------------------------------------------


def file_request(
    uow: UnitOfWork, *, actor: Actor, data: DataRequestInput, working_days: int
) -> DataRequest:
    """File a request; the bureau has ``working_days`` to dispatch it."""
    authorize(actor, "open.request.file", Resource("data_request", owner_user_id=actor.user_id))
    if data.entry_id is not None:
        open_entry(uow, data.entry_id)  # only what the public can see may be named
    now = uow.clock.now()
    r = DataRequest(
        id=new_id("drq", at_ms=int(now.timestamp() * 1000)), requester_id=actor.user_id,
        title=data.title, description=data.description, purpose=data.purpose,
        fields=data.fields, entry_id=data.entry_id, department_id=None,
        status=R.SUBMITTED.value, dispatched_at=None, due_on=_due(uow, actor, working_days),
        answer=None, answer_kind=None, answered_at=None, rating=None, rating_note=None,
        created_at=now, updated_at=now,
    )  # fmt: skip
    uow.session.add(r)
    return _step(uow, actor, r, "submit", mask_name(actor.display_name))


def dispatch(
    uow: UnitOfWork,
    *,
    actor: Actor,
    request_id: str,
    department_id: str,
    working_days: int,
    note: str = "",
) -> DataRequest:
    """Send the request to a department (or move it to another); its answer is due in
    ``working_days`` working days from today."""
    authorize(actor, "open.request.dispatch")
    r = _load(uow, request_id, lock=True)
    _check_status(r, "dispatch", (R.SUBMITTED, R.DISPATCHED))
    department = uow.session.get(Organisation, department_id)
    if department is None or not department.active or department.kind not in _DEPARTMENT_KINDS:
        raise InvalidInput.field(
            "department_id", "须为在用的部门或区 (must be an active department or district)"
        )
    if department.id == r.department_id:
        raise InvalidInput.field(
            "department_id", f"已由{department.name}办理 (already with {department.name})"
        )
    step = "redispatch" if r.status == R.DISPATCHED else "dispatch"
    r.department_id, r.status = department.id, R.DISPATCHED.value
    r.dispatched_at = uow.clock.now()
    r.due_on = _due(uow, actor, working_days)
    text = (
        f"交{department.name}办理，{working_days} 个工作日内答复（截止 {r.due_on.isoformat()}）"
        + (f"；{note.strip()}" if note.strip() else "")
    )
    return _step(uow, actor, r, step, _staff_label(actor), text)


def decline(uow: UnitOfWork, *, actor: Actor, request_id: str, reason: str) -> DataRequest:
    """Do not take a new request up (not a data request, a duplicate …), saying why."""
    authorize(actor, "open.request.dispatch")
    r = _load(uow, request_id, lock=True)
    _check_status(r, "reject", (R.SUBMITTED,))
    reason = reason.strip()
    if not reason:
        raise InvalidInput.field("reason", "说明不予受理的原因 (say why)")
    r.status, r.due_on, r.answer = R.REJECTED.value, None, reason
    return _step(uow, actor, r, "reject", _staff_label(actor), reason)


def answer(uow: UnitOfWork, *, actor: Actor, request_id: str, data: AnswerInput) -> DataRequest:
    """The department's public answer; opened and conditional answers name the open entry."""
    r = _load(uow, request_id, lock=True)
    authorize(actor, "open.request.answer", _resource(r))
    _check_status(r, "answer", (R.DISPATCHED,))
    wanted = _ANSWER_OPEN_TYPE.get(data.kind)
    if wanted is not None and data.entry_id is None:
        raise InvalidInput.field("entry_id", "name the open entry the requester can use now")
    if data.entry_id is not None:
        entry = open_entry(uow, data.entry_id)
        if wanted is not None and entry.open_type != wanted:
            raise InvalidInput.field(
                "entry_id", f"the entry is {entry.open_type}, not {wanted}: answer accordingly"
            )
        r.entry_id = entry.id
    r.status, r.answer, r.answer_kind = R.ANSWERED.value, data.text, data.kind.value
    r.answered_at = uow.clock.now()
    label = _staff_label(actor, r.department_id)
    return _step(uow, actor, r, "answer", label, ANSWER_LABELS[data.kind])


def rate(uow: UnitOfWork, *, actor: Actor, request_id: str, data: RatingInput) -> DataRequest:
    """The requester rates the answer, once."""
    r = _load(uow, request_id, lock=True)
    authorize(
        actor, "open.request.rate", Resource("data_request", r.id, owner_user_id=r.requester_id)
    )
    _check_status(r, "rate", (R.ANSWERED,))
    r.status, r.rating, r.rating_note = R.RATED.value, data.rating, data.note or None
    return _step(uow, actor, r, "rate", mask_name(actor.display_name), f"{data.rating} / 5")


def flag_overdue(
    uow: UnitOfWork, today: date | None = None, *, actor: Actor = CONSOLE
) -> list[str]:
    """Put an overdue notice on the timeline of each request past its deadline (once per
    deadline). For cron as the local console, or the bureau."""
    if actor != CONSOLE:
        authorize(actor, "open.request.dispatch")
    today = today or local_date(uow.clock.now())
    # Each step moves updated_at, so a notice at or after it belongs to the current deadline.
    flagged = sa.select(DataRequestEvent.id).where(
        DataRequestEvent.request_id == DataRequest.id,
        DataRequestEvent.step == "overdue",
        DataRequestEvent.at >= DataRequest.updated_at,
    )
    stmt = (
        sa.select(DataRequest)
        .where(
            DataRequest.status.in_(sorted(OPEN_STATUSES)),
            DataRequest.due_on < today,
            ~flagged.exists(),
        )
        .order_by(DataRequest.due_on, DataRequest.id)
        .with_for_update()
    )
    now, done = uow.clock.now(), []
    for r in uow.session.scalars(stmt):
        assert r.due_on is not None
        who = "数据管理部门" if r.status == R.SUBMITTED else "承办部门"
        note = f"已超过办理期限 {r.due_on.isoformat()}（{who}）"
        uow.session.add(
            DataRequestEvent(
                request_id=r.id, step="overdue", actor_label="系统 (system)", note=note, at=now
            )
        )
        audit(uow, actor, "open.request.overdue", "data_request", r.id, after=_ledger_doc(r))
        done.append(r.id)
    uow.session.flush()
    return done


# --- reading ------------------------------------------------------------------------------------


def get_request(uow: UnitOfWork, *, request_id: str) -> DataRequest:
    """One request; requests are public."""
    return _load(uow, request_id)


def list_events(uow: UnitOfWork, *, request_id: str) -> list[DataRequestEvent]:
    """A request's public timeline, oldest first."""
    _load(uow, request_id)
    stmt = (
        sa.select(DataRequestEvent)
        .where(DataRequestEvent.request_id == request_id)
        .order_by(DataRequestEvent.at, DataRequestEvent.id)
    )
    return list(uow.session.scalars(stmt))


def _late(today: date) -> ColumnElement[bool]:
    return sa.and_(DataRequest.status.in_(sorted(OPEN_STATUSES)), DataRequest.due_on < today)


def list_requests(
    uow: UnitOfWork,
    *,
    actor: Actor | None,
    status: Sequence[str] = (),
    department_id: str | None = None,
    entry_id: str | None = None,
    overdue: bool | None = None,
    mine: bool = False,
    cursor: str | None = None,
    limit: int = 50,
    today: date | None = None,
) -> Page[DataRequest]:
    """Requests, newest first; public. ``status`` takes statuses and the group ``open``;
    ``mine`` keeps the caller's own (signed in)."""
    today = today or local_date(uow.clock.now())
    wanted: set[str] = set()
    for value in status:
        if value == "open":
            wanted |= OPEN_STATUSES
        elif value in {s.value for s in R}:
            wanted.add(value)
        else:
            raise InvalidInput.field("query.status", f"unknown status {value!r}")
    stmt = sa.select(DataRequest)
    if wanted:
        stmt = stmt.where(DataRequest.status.in_(sorted(wanted)))
    if department_id:
        stmt = stmt.where(DataRequest.department_id == department_id)
    if entry_id:
        stmt = stmt.where(DataRequest.entry_id == entry_id)
    if overdue is not None:
        stmt = stmt.where(_late(today) if overdue else sa.not_(_late(today)))
    if mine:
        user_id = actor.user_id if actor is not None else ""
        stmt = stmt.where(DataRequest.requester_id == user_id if user_id else sa.false())
    after = decode_cursor(cursor, arity=1)
    if after is not None:
        stmt = stmt.where(DataRequest.id < str(after[0]))
    rows = list(uow.session.scalars(stmt.order_by(DataRequest.id.desc()).limit(limit + 1)))
    return paginate(rows, limit, lambda r: [r.id])


def next_steps(actor: Actor | None, r: DataRequest) -> list[str]:
    """The steps the caller may take now (the buttons a page shows)."""
    if actor is None:
        return []
    steps = []
    if r.status in OPEN_STATUSES and can(actor, "open.request.dispatch"):
        steps.append("dispatch")
    if r.status == R.SUBMITTED and can(actor, "open.request.dispatch"):
        steps.append("reject")
    if r.status == R.DISPATCHED and can(actor, "open.request.answer", _resource(r)):
        steps.append("answer")
    if r.status == R.ANSWERED and actor.user_id == r.requester_id:
        steps.append("rate")
    return steps


def _links(r: DataRequest, entry_public: bool) -> dict[str, str]:
    links = {"page": f"/open/requests/{r.id}", "api": f"/api/v1/open/requests/{r.id}"}
    if r.entry_id and entry_public:
        links["dataset"] = f"/open/datasets/{r.entry_id}"
        if r.answer_kind == AnswerKind.CONDITIONAL:
            links["apply"] = "/api/v1/open/applications"
    return links


def describe(
    uow: UnitOfWork,
    actor: Actor | None,
    rows: Sequence[DataRequest],
    *,
    events: Sequence[DataRequestEvent] | None = None,
) -> list[DataRequestRead]:
    """Requests as the portal shows them: names, countdowns and next steps, looked up once."""
    today = local_date(uow.clock.now())
    entries = open_entry_names(uow, [r.entry_id for r in rows if r.entry_id])
    orgs = organisation_names(uow, [r.department_id for r in rows])
    people = dict(
        uow.session.execute(
            sa.select(User.id, User.display_name).where(
                User.id.in_(sorted({r.requester_id for r in rows}))
            )
        ).all()
    )
    cal = WorkingCalendar(uow.session)
    timeline = (
        [
            RequestEventRead(step=e.step, step_label=STEP_LABELS.get(e.step, e.step),
                             actor_label=e.actor_label, note=e.note, at=e.at)
            for e in events
        ]
        if events is not None
        else None
    )  # fmt: skip
    out = []
    for r in rows:
        pending = r.status in OPEN_STATUSES and r.due_on is not None
        left = cal.working_days_between(today, r.due_on) if pending and r.due_on else None
        visible = r.entry_id is not None and r.entry_id in entries
        on_time = local_date(r.answered_at) <= r.due_on if r.answered_at and r.due_on else None
        kind = AnswerKind(r.answer_kind) if r.answer_kind else None
        out.append(
            DataRequestRead(
                id=r.id, title=r.title, description=r.description, purpose=r.purpose,
                fields=list(r.fields), entry_id=r.entry_id if visible else None,
                entry_name=entries.get(r.entry_id or ""),
                requester=mask_name(people.get(r.requester_id, "")),
                mine=actor is not None and actor.user_id == r.requester_id,
                department_id=r.department_id,
                department_name=orgs.get(r.department_id or ""),
                status=r.status, status_label=STATUS_LABELS[R(r.status)],
                dispatched_at=r.dispatched_at, due_on=r.due_on, working_days_left=left,
                overdue=bool(pending and r.due_on is not None and r.due_on < today),
                answer=r.answer, answer_kind=r.answer_kind,
                answer_kind_label=ANSWER_LABELS[kind] if kind else None,
                answered_at=r.answered_at, answered_on_time=on_time, rating=r.rating,
                rating_note=r.rating_note, created_at=r.created_at, updated_at=r.updated_at,
                next_steps=next_steps(actor, r), links=_links(r, visible), events=timeline,
            )
        )  # fmt: skip
    return out


# --- statistics ---------------------------------------------------------------------------------

DEFINITIONS = {
    "response_rate": "按期答复数 / 已分派数 (answered by the deadline / dispatched)",
    "resolution_rate": "已开放或列入计划数 / 已答复数 (opened or planned / answered)",
    "satisfaction_mean": "评价平均分，1–5 (mean rating, 1–5)",
    "satisfaction_rate": "4 分及以上的评价占比 (share of ratings of 4 or 5)",
}


def _local_day(uow: UnitOfWork, column: Any) -> ColumnElement[Any]:
    """The Beijing calendar day of a stored UTC time, in SQL (deadlines are Beijing days)."""
    if uow.session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.func.timezone("Asia/Shanghai", column), sa.Date)
    return sa.func.date(column, "+8 hours")  # SQLite keeps UTC as text; Beijing has no DST


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def _figures(org_id: str, name: str, values: Sequence[Any]) -> DepartmentRequestStats:
    dispatched, pending, overdue, answered, on_time, resolved, rated, total, satisfied = (
        int(v or 0) for v in values
    )
    return DepartmentRequestStats(
        organisation_id=org_id, name=name, dispatched=dispatched, pending=pending,
        overdue=overdue, answered=answered, answered_on_time=on_time, resolved=resolved,
        rated=rated,
        response_rate=round(on_time / dispatched, 4) if dispatched else None,
        resolution_rate=round(resolved / answered, 4) if answered else None,
        satisfaction_mean=round(total / rated, 2) if rated else None,
        satisfaction_rate=round(satisfied / rated, 4) if rated else None,
    )  # fmt: skip


def statistics(uow: UnitOfWork, *, today: date | None = None) -> RequestStatistics:
    """Response, resolution and satisfaction per department and city-wide; public."""
    today = today or local_date(uow.clock.now())
    answered = DataRequest.answered_at.is_not(None)
    measures = (
        sa.func.count(),
        _count(DataRequest.status == R.DISPATCHED.value),
        _count(sa.and_(DataRequest.status == R.DISPATCHED.value, DataRequest.due_on < today)),
        _count(answered),
        _count(sa.and_(answered, _local_day(uow, DataRequest.answered_at) <= DataRequest.due_on)),
        _count(DataRequest.answer_kind.in_([AnswerKind.OPENED.value, AnswerKind.PLANNED.value])),
        sa.func.count(DataRequest.rating),
        sa.func.coalesce(sa.func.sum(DataRequest.rating), 0),
        _count(DataRequest.rating >= 4),
    )
    dispatched = DataRequest.dispatched_at.is_not(None)
    per_org = uow.session.execute(
        sa.select(DataRequest.department_id, *measures)
        .where(dispatched)
        .group_by(DataRequest.department_id)
    ).all()
    names = organisation_names(uow, [row[0] for row in per_org])
    departments = [
        _figures(str(row[0]), names.get(str(row[0]), str(row[0])), row[1:])
        for row in per_org
        if row[0] is not None
    ]
    departments.sort(key=lambda d: (-d.dispatched, d.name))
    total_row = uow.session.execute(sa.select(*measures).where(dispatched)).one()
    by_status = {s.value: 0 for s in R}
    by_status.update(
        {
            status: int(n)
            for status, n in uow.session.execute(
                sa.select(DataRequest.status, sa.func.count()).group_by(DataRequest.status)
            )
        }
    )
    return RequestStatistics(
        today=today,
        by_status=by_status,
        total=_figures("", "全市 (city-wide)", total_row),
        departments=departments,
        definitions=DEFINITIONS,
    )
