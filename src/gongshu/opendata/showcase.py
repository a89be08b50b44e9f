"""The showcase (应用展示): applications people built on open data, reviewed by the bureau.

Anyone signed in submits an application (title, description, link, the open entries it
uses); the bureau approves or rejects it with a note. Approved ones are public; a submitter
follows their own; the bureau sees the queue. Each step is audited (``open.showcase.*``,
anchored in the ledger with digests of the texts); the adapter commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from gongshu.identity import Actor, Resource, User, audit, authorize, can
from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.ids import new_id
from gongshu.kernel.pagination import Page, decode_cursor, paginate
from gongshu.kernel.uow import UnitOfWork
from gongshu.opendata.errors_engagement import ShowcaseAppNotFound, WrongShowcaseStatus
from gongshu.opendata.models import ShowcaseApp, ShowcaseStatus
from gongshu.opendata.plan import open_entry_names
from gongshu.opendata.requests import mask_name
from gongshu.opendata.schemas_engagement import ShowcaseAppRead, ShowcaseInput

__all__ = [
    "STATUS_LABELS",
    "approve",
    "describe",
    "get_app",
    "list_apps",
    "reject",
    "submit",
]

S = ShowcaseStatus
STATUS_LABELS = {
    S.SUBMITTED: "待审核 (awaiting review)",
    S.APPROVED: "已发布 (published)",
    S.REJECTED: "未通过 (rejected)",
}


def _digest(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def _doc(app: ShowcaseApp) -> dict[str, Any]:
    return {
        "status": app.status,
        "entry_ids": list(app.entry_ids),
        "content_sha256": _digest(f"{app.title}\n{app.description}\n{app.url}"),
        "review_note_sha256": _digest(app.review_note),
    }


def submit(uow: UnitOfWork, *, actor: Actor, data: ShowcaseInput) -> ShowcaseApp:
    """Submit an application for review; every entry it names must be open."""
    authorize(actor, "open.showcase.submit", Resource("showcase_app", owner_user_id=actor.user_id))
    names = open_entry_names(uow, data.entry_ids)
    unknown = [e for e in data.entry_ids if e not in names]
    if unknown:
        raise InvalidInput.field(
            "entry_ids", f"不是开放数据集 (not open datasets): {', '.join(unknown)}"
        )
    now = uow.clock.now()
    app = ShowcaseApp(
        id=new_id("sca", at_ms=int(now.timestamp() * 1000)), submitter_id=actor.user_id,
        title=data.title, description=data.description, url=data.url,
        entry_ids=list(data.entry_ids), status=S.SUBMITTED.value, review_note=None,
        reviewed_by_id=None, created_at=now, reviewed_at=None,
    )  # fmt: skip
    uow.session.add(app)
    uow.session.flush()
    audit(uow, actor, "open.showcase.submit", "showcase_app", app.id, after=_doc(app))
    return app


def _review(
    uow: UnitOfWork, actor: Actor, app_id: str, to: ShowcaseStatus, note: str
) -> ShowcaseApp:
    authorize(actor, "open.showcase.review")
    stmt = sa.select(ShowcaseApp).where(ShowcaseApp.id == app_id).with_for_update()
    app = uow.session.scalar(stmt)
    if app is None:
        raise ShowcaseAppNotFound(f"no showcase application {app_id!r}")
    if app.status != S.SUBMITTED:
        raise WrongShowcaseStatus(
            f"该应用已审核：{STATUS_LABELS[S(app.status)]} (already reviewed: {app.status})",
            details={"status": app.status},
        )
    before = _doc(app)
    app.status, app.review_note = to.value, note.strip() or None
    app.reviewed_by_id, app.reviewed_at = actor.user_id or None, uow.clock.now()
    uow.session.flush()
    step = "approve" if to is S.APPROVED else "reject"
    audit(
        uow, actor, f"open.showcase.{step}", "showcase_app", app.id, before=before, after=_doc(app)
    )
    return app


def approve(uow: UnitOfWork, *, actor: Actor, app_id: str, note: str = "") -> ShowcaseApp:
    """Publish a submitted application in the showcase."""
    return _review(uow, actor, app_id, S.APPROVED, note)


def reject(uow: UnitOfWork, *, actor: Actor, app_id: str, note: str) -> ShowcaseApp:
    """Turn a submitted application down, saying why (the submitter reads it)."""
    if not note.strip():
        raise InvalidInput.field("note", "说明未通过的原因 (say why)")
    return _review(uow, actor, app_id, S.REJECTED, note)


def _may_see(actor: Actor | None, app: ShowcaseApp) -> bool:
    if app.status == S.APPROVED:
        return True
    if actor is None:
        return False
    return actor.user_id == app.submitter_id or can(actor, "open.showcase.review")


def get_app(uow: UnitOfWork, *, actor: Actor | None, app_id: str) -> ShowcaseApp:
    """One application: public once approved, otherwise its submitter's and the bureau's."""
    app = uow.session.get(ShowcaseApp, app_id)
    if app is None or not _may_see(actor, app):
        raise ShowcaseAppNotFound(f"no showcase application {app_id!r}")
    return app


def list_apps(
    uow: UnitOfWork,
    *,
    actor: Actor | None,
    status: str | None = None,
    mine: bool = False,
    entry_id: str | None = None,
    cursor: str | None = None,
    limit: int = 24,
) -> Page[ShowcaseApp]:
    """Applications, newest first: approved ones for everyone; ``mine`` the caller's own in
    any status; other statuses for the bureau."""
    if status is not None and status not in {s.value for s in S}:
        raise InvalidInput.field("query.status", f"unknown status {status!r}")
    stmt = sa.select(ShowcaseApp)
    if mine:
        user_id = actor.user_id if actor is not None else ""
        stmt = stmt.where(ShowcaseApp.submitter_id == user_id if user_id else sa.false())
    elif actor is None or not can(actor, "open.showcase.review"):
        stmt = stmt.where(ShowcaseApp.status == S.APPROVED.value)
    if status is not None:
        stmt = stmt.where(ShowcaseApp.status == status)
    after = decode_cursor(cursor, arity=1)
    if after is not None:
        stmt = stmt.where(ShowcaseApp.id < str(after[0]))
    if entry_id:
        # The entry list is a JSON array of ids; its text holds each id quoted.
        listed = sa.cast(ShowcaseApp.entry_ids, sa.Text).contains(f'"{entry_id}"', autoescape=True)
        stmt = stmt.where(listed)
    rows = list(uow.session.scalars(stmt.order_by(ShowcaseApp.id.desc()).limit(limit + 1)))
    return paginate(rows, limit, lambda a: [a.id])


def _next_steps(actor: Actor | None, app: ShowcaseApp) -> list[str]:
    if actor is not None and app.status == S.SUBMITTED and can(actor, "open.showcase.review"):
        return ["approve", "reject"]
    return []


def describe(
    uow: UnitOfWork, actor: Actor | None, apps: Sequence[ShowcaseApp]
) -> list[ShowcaseAppRead]:
    """Applications with their open entries' names and masked submitters."""
    entries = open_entry_names(uow, [e for a in apps for e in a.entry_ids])
    people = dict(
        uow.session.execute(
            sa.select(User.id, User.display_name).where(
                User.id.in_(sorted({a.submitter_id for a in apps}))
            )
        ).all()
    )
    return [
        ShowcaseAppRead(
            id=a.id, title=a.title, description=a.description, url=a.url,
            entries=[{"id": e, "name": entries[e]} for e in a.entry_ids if e in entries],
            submitter=mask_name(people.get(a.submitter_id, "")),
            mine=actor is not None and actor.user_id == a.submitter_id,
            status=a.status, status_label=STATUS_LABELS[S(a.status)],
            review_note=a.review_note, created_at=a.created_at, reviewed_at=a.reviewed_at,
            next_steps=_next_steps(actor, a),
        )
        for a in apps
    ]  # fmt: skip
