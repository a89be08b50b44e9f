"""The entry page, its lifecycle buttons, the review queue and the history of versions.

The entry's routes take ``/console/catalog/{entry_id}``, so ``pages`` includes this router
after the fixed paths (``new``, ``import``, ``district`` …).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from gongshu.catalog import service
from gongshu.catalog.diff import diff_documents
from gongshu.catalog.models import Entry
from gongshu.catalog.pages_shared import org_names, related_entries, render, see_other, when
from gongshu.catalog.resolve import OrgIndex
from gongshu.catalog.vocab import EntryStatus, ImpactObject
from gongshu.identity import Actor, can
from gongshu.identity.deps import CurrentActor, UoW, verify_csrf
from gongshu.identity.models import User
from gongshu.kernel.errors import Conflict, InvalidInput
from gongshu.kernel.uow import UnitOfWork
from gongshu.ledger.models import LedgerEntry

__all__ = ["NoticeProvider", "entry_notices", "latest_ledger_index", "router"]

router = APIRouter(include_in_schema=False)

_CODED_KEYS = ("kind", "format", "update_frequency", "share_type", "open_type", "theme", "grade")
_REDIRECTS = ("/console/catalog/review",)


def latest_ledger_index(uow: UnitOfWork, entry_id: str) -> int | None:
    """The index of the newest ledger entry recording a change of this catalogue entry."""
    index = uow.session.scalar(
        sa.select(sa.func.max(LedgerEntry.index)).where(
            LedgerEntry.subject_type == "catalog_entry", LedgerEntry.subject_id == entry_id
        )
    )
    return int(index) if index is not None else None


def _flags(uow: UnitOfWork, entry: Entry) -> dict[str, bool]:
    return {
        "review_overdue": entry.review_overdue(service.today(uow)),
        "data_overdue": entry.overdue_since(uow.clock.now()) is not None,
    }


def _render_entry(
    request: Request,
    actor: Actor,
    uow: UnitOfWork,
    entry_id: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    entry = service.get_entry(uow, actor=actor, entry_id=entry_id)
    orgs = OrgIndex.load(uow, [entry.provider_id, entry.district_id or ""])
    edit = can(actor, "catalog.edit", service.resource(entry))
    review = can(actor, "catalog.review")
    state = EntryStatus(entry.status)
    allowed = {
        "edit": edit and state is not EntryStatus.DEPRECATED,
        "submit": edit and state is EntryStatus.DRAFT,
        "approve": review and state is EntryStatus.SUBMITTED,
        "publish": review and state is EntryStatus.REVIEWED,
        "send_back": review and state in (EntryStatus.SUBMITTED, EntryStatus.REVIEWED),
        "deprecate": state is EntryStatus.PUBLISHED
        and (review or can(actor, "catalog.deprecate", service.resource(entry))),
    }
    return render(
        request,
        "catalog_entry.html",
        status=status,
        actor=actor,
        entry=entry,
        error=error,
        flags=_flags(uow, entry),
        allowed=allowed,
        when=when,
        org_names=org_names(request, orgs.by_id.values()),
        related=related_entries(uow, entry.related),
        impact_objects=[o.value for o in ImpactObject],
        ledger_index=latest_ledger_index(uow, entry.id),
        published=entry.published_version is not None and state is not EntryStatus.DEPRECATED,
        notices=entry_notices(request, uow, [entry.id]).get(entry.id, []),
    )


# Other domains (objections …) add short notices to entries through
# ``app.state.entry_notices``: callables (uow, entry ids) → {entry id: [notice text]}.
NoticeProvider = Callable[[UnitOfWork, list[str]], dict[str, list[str]]]


def entry_notices(request: Request, uow: UnitOfWork, entry_ids: list[str]) -> dict[str, list[str]]:
    """Every registered provider's notices for these entries (异议处理中 …)."""
    found: dict[str, list[str]] = {}
    providers: list[NoticeProvider] = getattr(request.app.state, "entry_notices", [])
    for provider in providers:
        for entry_id, notices in provider(uow, entry_ids).items():
            found.setdefault(entry_id, []).extend(notices)
    return found


@router.get("/console/catalog/review", response_class=HTMLResponse)
def review_page(request: Request, actor: CurrentActor, uow: UoW) -> Response:
    """The bureau's review queue, earliest deadline first, overdue rows highlighted."""
    queue = service.review_queue(uow, actor=actor)
    counts = service.status_counts(uow, actor=actor)
    orgs = OrgIndex.load(uow, {e.provider_id for e in queue}) if queue else None
    rows = [{"entry": e, **_flags(uow, e)} for e in queue]
    return render(
        request,
        "catalog_review.html",
        actor=actor,
        rows=rows,
        counts=counts,
        when=when,
        org_names=org_names(request, orgs.by_id.values() if orgs else []),
    )


@router.get("/console/catalog/{entry_id}", response_class=HTMLResponse)
def entry_page(request: Request, entry_id: str, actor: CurrentActor, uow: UoW) -> Response:
    """One entry: every attribute, its data items, grade, lifecycle and the allowed actions."""
    return _render_entry(request, actor, uow, entry_id)


@router.get("/console/catalog/{entry_id}/history", response_class=HTMLResponse)
def history_page(
    request: Request,
    entry_id: str,
    actor: CurrentActor,
    uow: UoW,
    from_: Annotated[int | None, Query(alias="from", ge=1)] = None,
    to: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Published versions, and what changed between any two of them."""
    entry = service.get_entry(uow, actor=actor, entry_id=entry_id)
    versions = service.list_versions(uow, actor=actor, entry_id=entry_id)
    changes = None
    if len(versions) > 1:
        to = to or versions[0].number
        from_ = from_ or max(1, min(to - 1, versions[1].number))
        old = service.get_version(uow, actor=actor, entry_id=entry_id, number=from_)
        new = service.get_version(uow, actor=actor, entry_id=entry_id, number=to)
        changes = diff_documents(old.document, new.document)
    publisher_ids = {v.published_by_id for v in versions if v.published_by_id}
    rows = uow.session.execute(
        sa.select(User.id, User.display_name).where(User.id.in_(publisher_ids))
    )
    publishers = {user_id: name for user_id, name in rows}
    related_ids = {i for v in versions for i in v.document.get("related") or []}
    return render(
        request,
        "catalog_history.html",
        actor=actor,
        entry=entry,
        versions=versions,
        publishers=publishers,
        changes=changes,
        from_n=from_,
        to_n=to,
        when=when,
        coded_keys=_CODED_KEYS,
        entry_names={i: name for i, name, _code in related_entries(uow, sorted(related_ids))},
    )


Text = Annotated[str, Form(max_length=2000)]
Step = Literal["submit", "approve", "return", "publish", "deprecate"]


@router.post("/console/catalog/{entry_id}/{step}")
def lifecycle_step(
    request: Request,
    entry_id: str,
    step: Step,
    actor: CurrentActor,
    uow: UoW,
    csrf_token: Text = "",
    next: Text = "",
    note: Text = "",
    reason: Text = "",
    publish: Text = "0",
) -> Response:
    """One lifecycle step from the entry page or the review queue; a refusal is shown on the
    entry page, success goes back where the form came from."""
    verify_csrf(request, csrf_token)
    try:
        if step == "submit":
            service.submit_entry(uow, actor=actor, entry_id=entry_id)
        elif step == "approve":
            service.approve_entry(
                uow, actor=actor, entry_id=entry_id, note=note, publish=publish == "1"
            )
        elif step == "return":
            service.return_entry(uow, actor=actor, entry_id=entry_id, note=note)
        elif step == "publish":
            service.publish_entry(uow, actor=actor, entry_id=entry_id, note=note)
        else:
            service.deprecate_entry(uow, actor=actor, entry_id=entry_id, reason=reason)
    except (InvalidInput, Conflict) as exc:
        uow.rollback()
        return _render_entry(request, actor, uow, entry_id, error=exc.message, status=exc.status)
    return see_other(next if next in _REDIRECTS else f"/console/catalog/{entry_id}")
