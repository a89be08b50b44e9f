"""Conditional opening (有条件开放): apply, review within the deadline, get a grant.

For a 有条件开放 entry a member of the public (for themselves or their enterprise) applies with
purpose, scenario, the fields wanted (a subset of the entry's), delivery (``api`` or ``file``)
and a term in days. The provider department decides within its working-day deadline: an
approval issues an ordinary :class:`Grant` to the applicant's organisation — its own personal
organisation (code ``u-<user id>``) or its enterprise — for the fields (the reviewer may narrow
them), the delivery mode and the term, so the row API and downloads honour it through the one
access check; a refusal gives reasons. Unconditionally open entries need no application.

Each step writes the audit record ``open.application.<step>`` (anchored in the ledger, texts
as digests) in the caller's transaction, the approval together with its ``grant.create``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from gongshu.catalog.models import Entry
from gongshu.catalog.vocab import OpenType
from gongshu.identity import (
    Actor,
    DeliveryMode,
    Organisation,
    OrgKind,
    Resource,
    Role,
    User,
    audit,
    authorize,
    can,
)
from gongshu.identity import deadline as working_deadline
from gongshu.identity.grants import issue_workflow_grant
from gongshu.identity.models import Grant
from gongshu.kernel.calendar import WorkingCalendar
from gongshu.kernel.clock import local_date
from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.ids import new_id
from gongshu.kernel.pagination import Page, decode_cursor, paginate
from gongshu.kernel.uow import UnitOfWork
from gongshu.opendata.errors import DatasetNotFound
from gongshu.opendata.errors_engagement import (
    ApplicationNotFound,
    ApplicationNotNeeded,
    DuplicateApplication,
    NoGrantHolder,
    WrongApplicationStatus,
)
from gongshu.opendata.models import ApplicationStatus, OpenApplication
from gongshu.opendata.plan import open_entry, open_entry_names, organisation_names
from gongshu.opendata.requests import mask_name
from gongshu.opendata.schemas_engagement import (
    ApplicationInput,
    ApplicationRead,
    ApproveInput,
    GrantSummary,
)

__all__ = [
    "STATUS_LABELS",
    "apply",
    "approve",
    "describe",
    "get_application",
    "grant_holder",
    "list_applications",
    "refuse",
    "withdraw",
]

A = ApplicationStatus
STATUS_LABELS = {
    A.SUBMITTED: "审核中 (under review)",
    A.APPROVED: "已批准 (approved)",
    A.REFUSED: "未通过 (refused)",
    A.WITHDRAWN: "已撤回 (withdrawn)",
}


def _digest(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def _doc(app: OpenApplication) -> dict[str, Any]:
    """What the public ledger may hold: references, states and digests of the texts."""
    return {
        "status": app.status,
        "entry_id": app.entry_id,
        "organisation_id": app.organisation_id,
        "provider_id": app.provider_id,
        "fields": list(app.fields),
        "delivery": app.delivery,
        "term_days": app.term_days,
        "due_on": app.due_on.isoformat(),
        "grant_id": app.grant_id,
        "purpose_sha256": _digest(f"{app.purpose}\n{app.scenario}"),
        "reasons_sha256": _digest(app.reasons),
    }


def grant_holder(uow: UnitOfWork, actor: Actor, organisation_id: str | None = None) -> Organisation:
    """The organisation an approval's grant goes to: the applicant's personal organisation,
    or an enterprise the applicant acts for. A shared organisation never qualifies: a grant
    to it would reach everyone in it."""
    seats = sorted({s.organisation_id for s in actor.seats if s.role == Role.PUBLIC})
    orgs = uow.session.scalars(
        sa.select(Organisation).where(Organisation.id.in_(seats), Organisation.active)
    ).all()
    personal = [o for o in orgs if o.kind == OrgKind.PUBLIC and o.code == f"u-{actor.user_id}"]
    enterprises = [o for o in orgs if o.kind == OrgKind.ENTERPRISE]
    holders = personal + enterprises
    if organisation_id is not None:
        chosen = [o for o in holders if o.id == organisation_id]
        if not chosen:
            raise NoGrantHolder(
                "只能为本人账户或所在企业申请 (apply for your own account or your enterprise)",
                details=[{"path": "organisation_id", "message": "not yours to apply for"}],
            )
        return chosen[0]
    if personal:
        return personal[0]
    if len(enterprises) == 1:
        return enterprises[0]
    raise NoGrantHolder(
        "没有可接收授权的个人或企业账户，请注册公众账户或指明企业 "
        "(no personal or enterprise organisation to receive the grant: sign up, or name "
        "the enterprise in organisation_id)",
        details=[{"path": "organisation_id", "message": "no grant holder"}],
    )


def _due(uow: UnitOfWork, actor: Actor, working_days: int) -> date:
    today = local_date(uow.clock.now())
    return working_deadline(uow, actor=actor, start=today, working_days=working_days).due


def apply(
    uow: UnitOfWork, *, actor: Actor, data: ApplicationInput, working_days: int
) -> OpenApplication:
    """Apply for a conditionally open entry; the provider decides within ``working_days``."""
    authorize(
        actor, "open.application.apply", Resource("open_application", owner_user_id=actor.user_id)
    )
    entry = open_entry(uow, data.entry_id)
    if entry.open_type == OpenType.UNCONDITIONAL:
        raise ApplicationNotNeeded(
            "该数据集为无条件开放，无需申请，可直接下载或调用接口 "
            "(this dataset is open without conditions: download it or call its API directly)",
            details={"entry_id": entry.id, "open_type": entry.open_type},
        )
    names = entry.fields
    unknown = [f for f in data.fields if f not in names]
    if unknown:
        raise InvalidInput.field(
            "fields", f"数据集没有这些字段 (no such fields): {', '.join(unknown)}; "
            f"fields: {', '.join(names)}",
        )  # fmt: skip
    holder = grant_holder(uow, actor, data.organisation_id)
    pending = sa.select(OpenApplication.id).where(
        OpenApplication.entry_id == entry.id,
        OpenApplication.organisation_id == holder.id,
        OpenApplication.status == A.SUBMITTED.value,
    )
    if (existing := uow.session.scalar(pending)) is not None:
        raise DuplicateApplication(
            f"已有待审核的申请 {existing} (an application is already under review)",
            details={"application_id": existing},
        )
    now = uow.clock.now()
    app = OpenApplication(
        id=new_id("oap", at_ms=int(now.timestamp() * 1000)), entry_id=entry.id,
        applicant_id=actor.user_id, organisation_id=holder.id, provider_id=entry.provider_id,
        purpose=data.purpose, scenario=data.scenario, fields=list(data.fields),
        delivery=data.delivery, term_days=data.term_days, status=A.SUBMITTED.value,
        due_on=_due(uow, actor, working_days), decided_by_id=None, decided_at=None,
        reasons=None, grant_id=None, created_at=now,
    )  # fmt: skip
    uow.session.add(app)
    uow.session.flush()
    audit(uow, actor, "open.application.apply", "open_application", app.id, after=_doc(app))
    return app


def _orgs(uow: UnitOfWork, app: OpenApplication) -> frozenset[str]:
    district = uow.session.scalar(sa.select(Entry.district_id).where(Entry.id == app.entry_id))
    return frozenset({app.provider_id} | ({district} if district else set()))


def _reading(uow: UnitOfWork, app: OpenApplication) -> Resource:
    orgs = _orgs(uow, app) | {app.organisation_id}
    return Resource("open_application", app.id, orgs, owner_user_id=app.applicant_id)


def _load(
    uow: UnitOfWork, actor: Actor, application_id: str, *, lock: bool = False
) -> OpenApplication:
    stmt = sa.select(OpenApplication).where(OpenApplication.id == application_id)
    app = uow.session.scalar(stmt.with_for_update() if lock else stmt)
    if app is None or not can(actor, "open.application.read", _reading(uow, app)):
        raise ApplicationNotFound(f"no application {application_id!r}")
    return app


def _decide(uow: UnitOfWork, actor: Actor, application_id: str, step: str) -> OpenApplication:
    app = _load(uow, actor, application_id, lock=True)
    authorize(
        actor, "open.application.review", Resource("open_application", app.id, _orgs(uow, app))
    )
    if app.status != A.SUBMITTED:
        raise WrongApplicationStatus(
            f"申请已处理：{STATUS_LABELS[A(app.status)]} (application {app.id} is {app.status}; "
            f"{step} needs submitted)",
            details={"status": app.status, "step": step},
        )  # fmt: skip
    return app


def _close(
    uow: UnitOfWork, actor: Actor, app: OpenApplication, step: str, to: ApplicationStatus
) -> OpenApplication:
    before = {"status": app.status}
    app.status = to.value
    app.decided_by_id, app.decided_at = actor.user_id or None, uow.clock.now()
    uow.session.flush()
    audit(
        uow,
        actor,
        f"open.application.{step}",
        "open_application",
        app.id,
        before=before,
        after=_doc(app),
    )
    return app


def approve(
    uow: UnitOfWork, *, actor: Actor, application_id: str, data: ApproveInput
) -> OpenApplication:
    """Approve: issue the grant (fields, delivery, the term from today) to the applicant's
    organisation, in this transaction."""
    app = _decide(uow, actor, application_id, "approve")
    fields = data.fields or list(app.fields)
    wider = [f for f in fields if f not in app.fields]
    if wider:
        raise InvalidInput.field(
            "fields", f"只能缩小申请的字段范围 (only the fields applied for): {', '.join(wider)}"
        )
    try:
        still = open_entry(uow, app.entry_id).open_type == OpenType.CONDITIONAL
    except DatasetNotFound:
        still = False
    if not still:
        raise WrongApplicationStatus(
            "该数据集已不再是有条件开放，请驳回申请 "
            "(the entry is no longer conditionally open: refuse the application)",
            details={"entry_id": app.entry_id},
        )
    grant = issue_workflow_grant(
        uow, actor=actor, workflow=f"open.application:{app.id}",
        subject_organisation_id=app.organisation_id, entry_ref=app.entry_id, fields=fields,
        delivery_modes=[DeliveryMode(app.delivery)], purpose=app.purpose, scenario=app.scenario,
        valid_until=uow.clock.now() + timedelta(days=app.term_days),
    )  # fmt: skip
    app.grant_id, app.reasons = grant.id, data.note or None
    return _close(uow, actor, app, "approve", A.APPROVED)


def refuse(uow: UnitOfWork, *, actor: Actor, application_id: str, reasons: str) -> OpenApplication:
    """Refuse, with the reasons the applicant reads."""
    app = _decide(uow, actor, application_id, "refuse")
    if len(reasons.strip()) < 2:
        raise InvalidInput.field("reasons", "请说明不予批准的理由 (give the reasons)")
    app.reasons = reasons.strip()
    return _close(uow, actor, app, "refuse", A.REFUSED)


def withdraw(uow: UnitOfWork, *, actor: Actor, application_id: str) -> OpenApplication:
    """The applicant takes back an application still under review."""
    app = _load(uow, actor, application_id, lock=True)
    if app.applicant_id != actor.user_id:
        raise ApplicationNotFound(f"no application {application_id!r} of yours")
    if app.status != A.SUBMITTED:
        raise WrongApplicationStatus(
            f"申请已处理：{STATUS_LABELS[A(app.status)]} (application {app.id} is {app.status})",
            details={"status": app.status, "step": "withdraw"},
        )
    return _close(uow, actor, app, "withdraw", A.WITHDRAWN)


# --- reading ------------------------------------------------------------------------------------


def get_application(uow: UnitOfWork, *, actor: Actor, application_id: str) -> OpenApplication:
    """One application, for its applicant (and organisation), the provider, or oversight."""
    return _load(uow, actor, application_id)


def _visible(actor: Actor) -> ColumnElement[bool] | None:
    """The SQL condition for the applications the actor may read (None: all of them)."""
    if can(actor, "open.application.read"):
        return None
    orgs = sorted(actor.organisation_ids)
    return sa.or_(
        OpenApplication.applicant_id == actor.user_id,
        OpenApplication.organisation_id.in_(orgs),
        OpenApplication.provider_id.in_(orgs),
        Entry.district_id.in_(orgs),
    )


def list_applications(
    uow: UnitOfWork,
    *,
    actor: Actor,
    status: str | None = None,
    entry_id: str | None = None,
    mine: bool = False,
    overdue: bool | None = None,
    cursor: str | None = None,
    limit: int = 50,
    today: date | None = None,
) -> Page[OpenApplication]:
    """Applications the actor may read, newest first: its own, or those to review."""
    authorize(
        actor, "open.application.read", Resource("open_application", owner_user_id=actor.user_id)
    )
    if status is not None and status not in {s.value for s in A}:
        raise InvalidInput.field("query.status", f"unknown status {status!r}")
    today = today or local_date(uow.clock.now())
    stmt = sa.select(OpenApplication).join(Entry, Entry.id == OpenApplication.entry_id)
    if (visible := _visible(actor)) is not None:
        stmt = stmt.where(visible)
    if mine:
        stmt = stmt.where(OpenApplication.applicant_id == actor.user_id)
    if status is not None:
        stmt = stmt.where(OpenApplication.status == status)
    if entry_id:
        stmt = stmt.where(OpenApplication.entry_id == entry_id)
    if overdue is not None:
        late = sa.and_(OpenApplication.status == A.SUBMITTED.value, OpenApplication.due_on < today)
        stmt = stmt.where(late if overdue else sa.not_(late))
    after = decode_cursor(cursor, arity=1)
    if after is not None:
        stmt = stmt.where(OpenApplication.id < str(after[0]))
    stmt = stmt.order_by(OpenApplication.id.desc()).limit(limit + 1)
    return paginate(list(uow.session.scalars(stmt)), limit, lambda a: [a.id])


def _next_steps(uow: UnitOfWork, actor: Actor, app: OpenApplication) -> list[str]:
    if app.status != A.SUBMITTED:
        return []
    steps = []
    review = Resource("open_application", app.id, _orgs(uow, app))
    if can(actor, "open.application.review", review):
        steps += ["approve", "refuse"]
    if actor.user_id == app.applicant_id:
        steps.append("withdraw")
    return steps


def _links(app: OpenApplication, granted: bool) -> dict[str, str]:
    links = {"dataset": f"/open/datasets/{app.entry_id}", "account": "/open/account"}
    if granted and app.delivery == DeliveryMode.API:
        links["rows"] = f"/api/v1/open/datasets/{app.entry_id}/rows"
        links["openapi"] = f"/api/v1/open/datasets/{app.entry_id}/openapi.json"
    if granted and app.delivery == DeliveryMode.FILE:
        links["download"] = f"/api/v1/open/datasets/{app.entry_id}/download.csv"
    return links


def describe(
    uow: UnitOfWork, actor: Actor, apps: Sequence[OpenApplication]
) -> list[ApplicationRead]:
    """Applications with names, countdowns, their grants and next steps, looked up once."""
    now = uow.clock.now()
    today = local_date(now)
    entries = open_entry_names(uow, [a.entry_id for a in apps])
    orgs = organisation_names(uow, [o for a in apps for o in (a.provider_id, a.organisation_id)])
    grant_ids = sorted({a.grant_id for a in apps if a.grant_id})
    grants = {g.id: g for g in uow.session.scalars(sa.select(Grant).where(Grant.id.in_(grant_ids)))}
    people = dict(
        uow.session.execute(
            sa.select(User.id, User.display_name).where(
                User.id.in_(sorted({a.applicant_id for a in apps}))
            )
        ).all()
    )
    cal = WorkingCalendar(uow.session)
    out = []
    for a in apps:
        pending = a.status == A.SUBMITTED
        grant = grants.get(a.grant_id or "")
        summary = (
            GrantSummary(
                id=grant.id, status=grant.status_at(now).value, fields=list(grant.fields),
                delivery_modes=list(grant.delivery_modes), valid_from=grant.valid_from,
                valid_until=grant.valid_until,
            )
            if grant is not None
            else None
        )  # fmt: skip
        out.append(
            ApplicationRead(
                id=a.id, entry_id=a.entry_id, entry_name=entries.get(a.entry_id),
                provider_id=a.provider_id, provider_name=orgs.get(a.provider_id),
                organisation_id=a.organisation_id,
                organisation_name=orgs.get(a.organisation_id),
                applicant=mask_name(people.get(a.applicant_id, "")), purpose=a.purpose,
                scenario=a.scenario, fields=list(a.fields), delivery=a.delivery,
                term_days=a.term_days, status=a.status, status_label=STATUS_LABELS[A(a.status)],
                due_on=a.due_on,
                working_days_left=cal.working_days_between(today, a.due_on) if pending else None,
                overdue=pending and a.due_on < today, decided_at=a.decided_at,
                reasons=a.reasons, grant=summary, created_at=a.created_at,
                next_steps=_next_steps(uow, actor, a),
                links=_links(a, summary is not None and summary.status == "active"),
            )
        )  # fmt: skip
    return out
