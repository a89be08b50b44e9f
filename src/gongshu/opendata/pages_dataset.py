"""The dataset page ``/open/datasets/{entry_id}`` and the forms on it.

It shows what the published version says of the entry, its public fields, the quality score
and the update history of its data, the ledger entry that proves its catalogue record, a
paginated preview, the downloads and copy-ready API calls. A signed-in visitor may file an
objection (数据异议, through the quality service); for a 有条件开放 entry, apply to use it and
follow the application; a reviewer of the provider decides pending applications here too.

The preview reads rows exactly as the row API does — :func:`open_access` then
:func:`read_page` — so withheld fields and grants apply the same. For a conditional entry it
reads with the visitor's own app key, which is what the grant follows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from gongshu.catalog.models import Entry, EntryVersion
from gongshu.catalog.pages_entry import latest_ledger_index
from gongshu.catalog.vocab import OpenType
from gongshu.datastore.models import DatasetVersion
from gongshu.identity import Actor, DeliveryMode, Resource, can
from gongshu.identity.deps import CurrentActor, MaybeActor, UoW, get_platform, verify_csrf
from gongshu.identity.pages import see_other
from gongshu.kernel.uow import UnitOfWork
from gongshu.opendata import applications
from gongshu.opendata.access import (
    OpenAccess,
    OpenEntry,
    OpenField,
    load_open_entry,
    open_access,
)
from gongshu.opendata.downloads import DOWNLOAD_FORMATS, XLSX_MAX_ROWS
from gongshu.opendata.errors import AccessNotGranted, AppKeyRequired, DataNotAvailable
from gongshu.opendata.errors_engagement import ApplicationNotFound
from gongshu.opendata.keys import KeyInfo
from gongshu.opendata.models import AppKey
from gongshu.opendata.openapi import rows_path
from gongshu.opendata.pages_shared import (
    SHOWN_ON_PAGE,
    FormError,
    base_url,
    open_page,
    page_url,
    refusal,
)
from gongshu.opendata.routes import open_runtime
from gongshu.opendata.rows import parse_query, read_page
from gongshu.opendata.schemas_engagement import ApplicationInput, ApplicationRead, ApproveInput
from gongshu.quality import objections
from gongshu.quality.models import QualityReport
from gongshu.quality.objections import EvidenceItem, ObjectionInput
from gongshu.quality.routes_objections import evidence_store

__all__ = ["PREVIEW_SIZE", "Preview", "cell_text", "follows_applications", "router"]

router = APIRouter(include_in_schema=False)

PREVIEW_SIZE = 20
HISTORY_SHOWN = 20
KEYS_TRIED = 5  # a visitor's active keys tried for a conditional entry's preview
Short = Annotated[str, Form(max_length=200)]
Text = Annotated[str, Form(max_length=5000)]


def cell_text(value: Any) -> str:
    """A preview cell as text: blank for null, ISO dates, bytes summarised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, Decimal):
        # Stored money carries the column's scale (1.000000): show the value, not the scale.
        return format(value.normalize(), "f")
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


@dataclass
class Preview:
    """One page of the preview, or why there is none (``no_data``, ``key_required`` …)."""

    fields: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    total: int = 0
    total_exact: bool = True
    next_cursor: str | None = None
    reason: str | None = None
    filtered: bool = False


def _active_keys(uow: UnitOfWork, actor: Actor | None) -> list[AppKey]:
    if actor is None:
        return []
    return list(
        uow.session.scalars(
            sa.select(AppKey)
            .where(AppKey.user_id == actor.user_id, AppKey.revoked_at.is_(None))
            .order_by(AppKey.created_at.desc(), AppKey.id.desc())
            .limit(KEYS_TRIED)
        )
    )


def _key_info(key: AppKey) -> KeyInfo:
    return KeyInfo(
        id=key.id, prefix=key.prefix, user_id=key.user_id, organisation_id=key.organisation_id,
        secret_hash=key.secret_hash, rate_limit_per_minute=key.rate_limit_per_minute,
        daily_quota=key.daily_quota, revoked=False, owner_active=True,
    )  # fmt: skip


def _access(request: Request, uow: UnitOfWork, entry: OpenEntry, keys: list[AppKey]) -> OpenAccess:
    """The access check of the row API: anonymous, or the first of the visitor's keys it
    grants (a conditional entry)."""
    cache = open_runtime(request).entries
    if entry.open_type != OpenType.CONDITIONAL or not keys:
        return open_access(uow, entry_id=entry.id, key=None, mode=DeliveryMode.API, cache=cache)
    refused: AccessNotGranted | None = None
    for key in keys:
        try:
            return open_access(
                uow, entry_id=entry.id, key=_key_info(key), mode=DeliveryMode.API, cache=cache
            )
        except AccessNotGranted as exc:
            refused = exc
    assert refused is not None
    raise refused


def _preview(
    request: Request, uow: UnitOfWork, entry: OpenEntry, keys: list[AppKey], cursor: str | None
) -> Preview:
    try:
        access = _access(request, uow, entry, keys)
        params = [("_size", str(PREVIEW_SIZE))] + ([("_cursor", cursor)] if cursor else [])
        query = parse_query(params, access.fields)
    except DataNotAvailable:
        return Preview(reason="no_data")
    except AppKeyRequired:
        return Preview(reason="key_required")
    except AccessNotGranted:
        return Preview(reason="not_granted")
    page = read_page(open_runtime(request).rows, access, query)
    names = [f.name for f in query.fields]
    return Preview(
        fields=names,
        rows=[[cell_text(row[n]) for n in names] for row in page.data],
        total=page.total,
        total_exact=page.total_exact,
        next_cursor=page.next_cursor,
        filtered=access.filtered,
    )


def _document(uow: UnitOfWork, entry_id: str) -> dict[str, Any]:
    """The published version's document (the entry is known to be open)."""
    doc = uow.session.scalar(
        sa.select(EntryVersion.document)
        .join(
            Entry,
            sa.and_(
                Entry.id == EntryVersion.entry_id, Entry.published_version == EntryVersion.number
            ),
        )
        .where(Entry.id == entry_id)
    )
    return dict(doc or {})


def follows_applications(actor: Actor) -> bool:
    """Whether the actor may have applications of its own to follow."""
    own = Resource("open_application", owner_user_id=actor.user_id)
    return can(actor, "open.application.read", own)


def _applications(
    uow: UnitOfWork, actor: Actor | None, entry_id: str
) -> tuple[list[ApplicationRead], list[ApplicationRead]]:
    """The visitor's own applications for the entry, and those they may decide now."""
    mine: list[ApplicationRead] = []
    to_review: list[ApplicationRead] = []
    if actor is None:
        return mine, to_review
    if not follows_applications(actor):
        return mine, to_review
    own = applications.list_applications(uow, actor=actor, entry_id=entry_id, mine=True, limit=10)
    actor_orgs = frozenset(actor.organisation_ids)
    mine = applications.describe(uow, actor, own.items)
    # A reviewer of some provider: the service's next steps say which applications are theirs.
    if can(actor, "open.application.review", Resource("open_application", None, actor_orgs)):
        pending = applications.list_applications(
            uow, actor=actor, entry_id=entry_id, status="submitted", limit=50
        )
        described = applications.describe(uow, actor, pending.items)
        to_review = [a for a in described if "approve" in a.next_steps]
    return mine, to_review


def _render(
    request: Request,
    actor: Actor | None,
    uow: UnitOfWork,
    entry_id: str,
    *,
    cursor: str | None = None,
    error: FormError | None = None,
    values: dict[str, Any] | None = None,
    done: str | None = None,
) -> HTMLResponse:
    entry = load_open_entry(uow, entry_id)
    doc = _document(uow, entry_id)
    keys = _active_keys(uow, actor)
    conditional = entry.open_type == OpenType.CONDITIONAL
    # Without data yet, the published fields are all there is to describe.
    described = entry.fields or tuple(
        OpenField(f["name"], f["type"], f.get("description") or "", frozenset(f.get("flags") or ()))
        for f in doc.get("fields") or ()
    )
    # Unconditional: personal fields are withheld and not listed. Conditional: the published
    # fields are what one applies for; their data comes only through a grant.
    shown = [f for f in described if conditional or not f.withheld]
    history = list(
        uow.session.scalars(
            sa.select(DatasetVersion)
            .where(DatasetVersion.entry_id == entry_id)
            .order_by(DatasetVersion.number.desc())
            .limit(HISTORY_SHOWN)
        )
    )
    report = uow.session.get(QualityReport, entry.version.id) if entry.version else None
    mine, to_review = _applications(uow, actor, entry_id) if conditional else ([], [])
    base = base_url(request)
    preview = _preview(request, uow, entry, keys, cursor)
    more = [("cursor", preview.next_cursor)] if preview.next_cursor else []
    formats = [f for f in DOWNLOAD_FORMATS if f != "xlsx" or not entry.version
               or entry.version.rows <= XLSX_MAX_ROWS]  # fmt: skip
    return open_page(
        request,
        "open_dataset.html",
        status=error.status if error else 200,
        actor=actor,
        entry=entry,
        doc=doc,
        conditional=conditional,
        fields=shown,
        history=history,
        report=report,
        ledger_index=latest_ledger_index(uow, entry_id),
        preview=preview,
        preview_next=f"{page_url(f'/open/datasets/{entry_id}', more)}#preview" if more else None,
        cursor=cursor,
        formats=formats,
        downloads=f"/api/v1/open/datasets/{entry_id}",
        rows_url=f"{base}{rows_path(entry_id)}?_size=10",
        openapi_url=f"{base}/api/v1/open/datasets/{entry_id}/openapi.json",
        keys=keys,
        mine=mine,
        to_review=to_review,
        error=error,
        values=values or {},
        done=done,
        request_link=page_url("/open/requests/new", [("entry_id", entry_id)]),
    )


@router.get("/open/datasets/{entry_id}", response_class=HTMLResponse)
def dataset_page(
    request: Request,
    entry_id: str,
    actor: MaybeActor,
    uow: UoW,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    done: Annotated[str | None, Query(max_length=60)] = None,
) -> Response:
    """One open dataset: metadata, fields, quality, history, preview, downloads, API."""
    return _render(request, actor, uow, entry_id, cursor=cursor, done=done)


@router.post("/open/datasets/{entry_id}/objection", response_class=HTMLResponse)
def file_objection(
    request: Request,
    entry_id: str,
    actor: CurrentActor,
    uow: UoW,
    csrf_token: Short = "",
    field_name: Short = "",
    claim: Text = "",
    proposed: Text = "",
    evidence_text: Text = "",
    evidence_url: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """提出异议: an objection on the dataset (or one of its fields), with evidence."""
    verify_csrf(request, csrf_token)
    entry = load_open_entry(uow, entry_id)
    values = {"field_name": field_name, "claim": claim, "proposed": proposed,
              "evidence_text": evidence_text, "evidence_url": evidence_url}  # fmt: skip
    try:
        evidence = (
            [EvidenceItem(kind="text", value=evidence_text.strip())]
            if evidence_text.strip()
            else []
        )
        if evidence_url.strip():
            evidence.append(EvidenceItem(kind="url", value=evidence_url.strip()))
        data = ObjectionInput(
            entry_id=entry.id, field_name=field_name or None, claim=claim,
            proposed=proposed or None, evidence=evidence,
        )  # fmt: skip
        filed = objections.raise_objection(
            uow, actor=actor, data=data, store=evidence_store(request)
        )
        uow.commit()
    except SHOWN_ON_PAGE as exc:
        uow.rollback()
        return _render(
            request, actor, uow, entry_id, error=refusal("objection", exc), values=values
        )
    return see_other(f"/open/datasets/{entry_id}?done=objection:{filed.id}#objection")


@router.post("/open/datasets/{entry_id}/apply", response_class=HTMLResponse)
def apply(
    request: Request,
    entry_id: str,
    actor: CurrentActor,
    uow: UoW,
    csrf_token: Short = "",
    purpose: Annotated[str, Form(max_length=1000)] = "",
    scenario: Short = "",
    fields: Annotated[list[str] | None, Form()] = None,
    delivery: Short = "api",
    term_days: Short = "90",
) -> Response:
    """申请使用: apply to use a 有条件开放 dataset; the provider decides within its deadline."""
    verify_csrf(request, csrf_token)
    values = {"purpose": purpose, "scenario": scenario, "fields": fields or [],
              "delivery": delivery, "term_days": term_days}  # fmt: skip
    days = get_platform(request).settings.open_application_working_days
    try:
        data = ApplicationInput.model_validate(
            {"entry_id": entry_id, "purpose": purpose, "scenario": scenario,
             "fields": fields or [], "delivery": delivery, "term_days": term_days.strip() or 0}
        )  # fmt: skip
        applications.apply(uow, actor=actor, data=data, working_days=days)
        uow.commit()
    except SHOWN_ON_PAGE as exc:
        uow.rollback()
        return _render(request, actor, uow, entry_id, error=refusal("apply", exc), values=values)
    return see_other(f"/open/datasets/{entry_id}?done=applied#apply")


@router.post(
    "/open/datasets/{entry_id}/applications/{application_id}/{step}",
    response_class=HTMLResponse,
)
def decide(
    request: Request,
    entry_id: str,
    application_id: str,
    step: str,
    actor: CurrentActor,
    uow: UoW,
    csrf_token: Short = "",
    fields: Annotated[list[str] | None, Form()] = None,
    note: Annotated[str, Form(max_length=1000)] = "",
    reasons: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The provider approves (issuing the grant) or refuses; the applicant withdraws."""
    verify_csrf(request, csrf_token)
    try:
        if step == "approve":
            body = ApproveInput.model_validate({"fields": fields or None, "note": note})
            applications.approve(uow, actor=actor, application_id=application_id, data=body)
        elif step == "refuse":
            applications.refuse(uow, actor=actor, application_id=application_id, reasons=reasons)
        elif step == "withdraw":
            applications.withdraw(uow, actor=actor, application_id=application_id)
        else:
            raise ApplicationNotFound(f"没有此操作 {step} (no step {step!r})")
        uow.commit()
    except SHOWN_ON_PAGE as exc:
        uow.rollback()
        return _render(request, actor, uow, entry_id, error=refusal(f"app:{application_id}", exc))
    return see_other(f"/open/datasets/{entry_id}?done={step}#apply")
