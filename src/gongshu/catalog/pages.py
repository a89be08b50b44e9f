"""Catalogue pages: search, the entry form, the entry, history, review, import, districts.

Pages work without JavaScript: plain forms with a CSRF token, a redirect after each POST.
Each page links its JSON twin under ``/api/v1/catalog``. The services check every right;
the few ``can`` calls here only decide which buttons to show.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from gongshu.catalog import imports, search, service, sheets
from gongshu.catalog.diff import diff_documents
from gongshu.catalog.errors import DuplicateEntry, ImportRejected
from gongshu.catalog.models import Entry
from gongshu.catalog.routes import MAX_IMPORT_BYTES
from gongshu.catalog.schemas import COLUMN_OF, EntryInput, FieldRead
from gongshu.catalog.vocab import (
    DELIVERY_LABELS,
    THEMES,
    Column,
    DataFormat,
    EntryKind,
    EntryStatus,
    FieldFlag,
    FieldType,
    Grade,
    Harm,
    ImpactObject,
    OpenType,
    ShareType,
    UpdateFrequency,
)
from gongshu.identity import ACTIONS, Actor, Organisation, OrgKind, Role, authorize, can
from gongshu.identity import service as identity_service
from gongshu.identity.deps import CurrentActor, UoW, get_platform, verify_csrf
from gongshu.identity.models import User
from gongshu.identity.pages import CONSOLE_CHARTS, ConsoleChart
from gongshu.kernel.clock import BEIJING
from gongshu.kernel.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from gongshu.kernel.uow import UnitOfWork
from gongshu.ledger.models import LedgerEntry

__all__ = ["console_charts", "latest_ledger_index", "router"]

router = APIRouter(include_in_schema=False)

# Facets in the order the sidebar lists them (the search module's order).
FACET_ORDER = tuple(search.FACETS)
PAGE_SIZE = 20
UPLOAD_TTL_SECONDS = 24 * 3600
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_LIST_SEP = re.compile(r"[、，,；;\n]+")
_KEY_OF_COLUMN = {column.value: key for key, column in COLUMN_OF.items()}
_CODED_KEYS = ("kind", "format", "update_frequency", "share_type", "open_type", "theme", "grade")
_REDIRECTS = ("/console/catalog/review",)


# --- shared helpers ---------------------------------------------------------------------------


def _render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    response: HTMLResponse = request.app.state.render(request, name, context, status)
    return response


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _when(moment: datetime | None) -> str:
    """A moment as Beijing wall-clock time, to the minute."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if moment else "—"


def _org_names(request: Request, orgs: Iterable[Organisation]) -> dict[str, str]:
    english = getattr(request.state, "language", "zh") == "en"
    return {o.id: (o.name_en if english and o.name_en else o.name) for o in orgs}


def _keeps_catalogue(actor: Actor) -> bool:
    return bool(actor.roles & set(ACTIONS["catalog.edit"].roles))


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


# --- console charts ----------------------------------------------------------------------------


def console_charts(actor: Actor, uow: UnitOfWork) -> list[ConsoleChart]:
    """The catalogue's charts on the console: the city's for the bureau, one's own otherwise."""
    if can(actor, "catalog.review"):
        filters, query = search.SearchFilters(), ""
    else:
        own = sorted(actor.organisations_with(Role.DEPT_OFFICER))
        district = sorted(actor.organisations_with(Role.DISTRICT_OFFICER))
        if own:
            filters, query = search.SearchFilters.of(provider=own), urlencode({"provider": own[0]})
        elif district:
            filters = search.SearchFilters.of(district=district)
            query = urlencode({"district": district[0]})
        else:
            return []
    result = search.search_entries(uow, actor=actor, filters=filters, limit=1)
    charts: list[ConsoleChart] = []
    for chart_id, facet in (("catalog_status", "status"), ("catalog_theme", "theme")):
        title, prefix, link = CONSOLE_CHARTS[chart_id]
        if query:
            link = link.replace("?", f"?{query}&", 1)
        counts = dict(result.facets.get(facet, []))
        if counts:
            charts.append((chart_id, title, prefix, link, counts))
    return charts


# --- search ------------------------------------------------------------------------------------


def _url(path: str, params: Sequence[tuple[str, str]]) -> str:
    return f"{path}?{urlencode(params)}" if params else path


@router.get("/console/catalog", response_class=HTMLResponse)
def search_page(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    q: str = "",
    sort: str = "relevance",
    cursor: str | None = None,
) -> Response:
    """Browse and search the catalogue with facets; a bad query is explained, not a 500."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("cursor", "lang")]
    selected = {f: request.query_params.getlist(f) for f in FACET_ORDER}
    error = None
    try:
        filters = search.SearchFilters.of(**{f: v for f, v in selected.items() if v})
        result = search.search_entries(
            uow,
            actor=actor,
            q=q.strip() or None,
            filters=filters,
            sort=sort,
            cursor=cursor,
            limit=PAGE_SIZE,
        )
    except InvalidInput as exc:
        error, result, status = exc.message, None, exc.status
    else:
        status = 200
    hits = result.hits if result else []
    facets = result.facets if result else {}
    org_ids = {h.entry.provider_id for h in hits}
    org_ids |= {v for f in ("provider", "district") for v, _ in facets.get(f, [])}
    org_ids |= set(selected["provider"]) | set(selected["district"])
    orgs = service.OrgIndex.load(uow, org_ids) if org_ids else service.OrgIndex([])

    def toggled(facet: str, value: str) -> str:
        pair = (facet, value)
        return _url(
            "/console/catalog",
            [p for p in params if p != pair] if pair in params else [*params, pair],
        )

    facet_rows = [
        (
            facet,
            [
                (value, n, value in selected[facet], toggled(facet, value))
                for value, n in facets.get(facet, [])
            ],
        )
        for facet in FACET_ORDER
    ]
    active = [(f, v, toggled(f, v)) for f in FACET_ORDER for v in selected[f]]
    charts = []
    for chart_id, facet in (("catalog_theme", "theme"), ("catalog_status", "status")):
        counts = dict(facets.get(facet, []))
        if counts:
            title, prefix, _link = CONSOLE_CHARTS[chart_id]
            others = [p for p in params if p[0] != facet]
            link = _url("/console/catalog", [*others, (facet, "")])
            charts.append((chart_id, title, prefix, link, counts))
    now, today = uow.clock.now(), service.today(uow)
    rows = [
        {
            "entry": h.entry,
            "name_html": h.name_html,
            "summary_html": h.summary_html,
            "review_overdue": h.entry.review_overdue(today),
            "data_overdue": h.entry.overdue_since(now) is not None,
            "updated": _when(h.entry.updated_at),
        }
        for h in hits
    ]
    next_url = None
    if result and result.next_cursor:
        next_url = _url("/console/catalog", [*params, ("cursor", result.next_cursor)])
    keep = [p for p in params if p[0] in ("q", "sort")]
    json_params = [*params, *([("cursor", cursor)] if cursor else [])]
    return _render(
        request,
        "catalog_search.html",
        status=status,
        actor=actor,
        q=q,
        sort=sort,
        error=error,
        facets=facet_rows,
        active=active,
        clear_url=_url("/console/catalog", keep),
        hits=rows,
        total=result.total if result else 0,
        next_url=next_url,
        charts=charts,
        org_names=_org_names(request, orgs.by_id.values()),
        json_url=_url("/api/v1/catalog/entries", json_params),
        can_create=_keeps_catalogue(actor),
        can_review=can(actor, "catalog.review"),
    )


# --- the entry form ----------------------------------------------------------------------------


async def _form(request: Request) -> FormData:
    return await request.form()


PostedForm = Annotated[FormData, Depends(_form)]
# The form's text inputs and selects, named as EntryInput names them.
_TEXT_INPUTS = (
    "name", "kind", "summary", "keywords", "provider", "district", "fields", "format",
    "update_frequency", "share_type", "share_conditions", "legal_basis", "open_type",
    "open_conditions", "theme", "grade", "grade_reason", "related", "duty", "system", "table",
)  # fmt: skip
_FORM_KEYS = frozenset({*_TEXT_INPUTS, "delivery", "impact"})


def _posted_values(form: FormData) -> dict[str, Any]:
    """What the user typed, kept as typed, to fill the form again after an error."""
    values: dict[str, Any] = {key: str(form.get(key) or "").strip() for key in _TEXT_INPUTS}
    values["delivery"] = [str(item) for item in form.getlist("delivery")]
    for obj in ImpactObject:
        values[f"impact_{obj.value}"] = str(form.get(f"impact_{obj.value}") or "")
    values["submit"] = bool(form.get("submit"))
    return values


def _cells(values: Mapping[str, Any]) -> dict[Column, str]:
    """The form as one exchange row, so the form and the spreadsheets share one syntax."""
    cells = {COLUMN_OF[key]: values[key] for key in _TEXT_INPUTS if key in COLUMN_OF}
    cells[Column.DELIVERY] = "、".join(values["delivery"])
    cells[Column.IMPACT] = "；".join(
        f"{obj.value}:{values[f'impact_{obj.value}']}"
        for obj in ImpactObject
        if values[f"impact_{obj.value}"]
    )
    return cells


def _entry_values(uow: UnitOfWork, entry: Entry) -> dict[str, Any]:
    """An entry's working copy as form values."""
    fields = [FieldRead.model_validate(item) for item in entry.fields]
    values: dict[str, Any] = {
        "name": entry.name,
        "kind": entry.kind,
        "summary": entry.summary,
        "keywords": "、".join(entry.keywords),
        "provider": entry.provider_id,
        "district": entry.district_id or "",
        "fields": sheets.input_to_row({"fields": fields})[Column.FIELDS],
        "format": entry.format,
        "update_frequency": entry.update_frequency,
        "share_type": entry.share_type,
        "share_conditions": entry.share_conditions or "",
        "legal_basis": entry.legal_basis or "",
        "open_type": entry.open_type,
        "open_conditions": entry.open_conditions or "",
        "theme": entry.theme,
        "grade": entry.grade if entry.grade != entry.computed_grade else "",
        "grade_reason": entry.grade_reason or "",
        "related": "、".join(code for _id, _name, code in _related(uow, entry.related)),
        "duty": entry.duty or "",
        "system": entry.system or "",
        "table": entry.table_name or "",
        "delivery": list(entry.delivery),
        "submit": False,
    }
    for obj in ImpactObject:
        values[f"impact_{obj.value}"] = entry.impact.get(obj.value, "")
    return values


def _related(uow: UnitOfWork, ids: Sequence[str]) -> list[tuple[str, str, str]]:
    if not ids:
        return []
    rows = uow.session.execute(
        sa.select(Entry.id, Entry.name, Entry.resource_code).where(Entry.id.in_(ids))
    )
    found = {row.id: (row.id, row.name, row.resource_code) for row in rows}
    return [found[i] for i in ids if i in found]


def _render_form(
    request: Request,
    actor: Actor,
    uow: UnitOfWork,
    *,
    values: dict[str, Any],
    entry: Entry | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    keepers = {Role.BUREAU_ADMIN, Role.DEPT_OFFICER, Role.DISTRICT_OFFICER, Role.OPERATOR}
    own = sorted({org for org, role in actor.memberships if role in keepers})
    kinds = [OrgKind.DEPARTMENT, OrgKind.DISTRICT, OrgKind.BUREAU, OrgKind.OPERATOR]
    listed = uow.session.scalars(
        sa.select(Organisation)
        .where(sa.or_(Organisation.kind.in_(kinds), Organisation.id.in_(own)))
        .order_by(Organisation.kind, Organisation.code)
    ).all()
    names = _org_names(request, listed)
    reviewer = can(actor, "catalog.review")
    if not values.get("provider") and own and not reviewer:
        values["provider"] = own[0]
    return _render(
        request,
        "catalog_form.html",
        status=status,
        actor=actor,
        form=values,
        errors=errors or {},
        entry_id=entry.id if entry else None,
        action=f"/console/catalog/{entry.id}/edit" if entry else "/console/catalog/new",
        provider_locked=entry is not None,
        provider_label=names.get(entry.provider_id, entry.provider_id) if entry else "",
        provider_choices=None if reviewer else [(o, names.get(o, o)) for o in own],
        provider_suggestions=[(o.id, o.name) for o in listed if o.kind != OrgKind.DISTRICT],
        districts=[(o.id, names[o.id]) for o in listed if o.kind == OrgKind.DISTRICT],
        kinds=[k.value for k in EntryKind],
        formats=[f.value for f in DataFormat],
        frequencies=[f.value for f in UpdateFrequency],
        share_types=[s.value for s in ShareType],
        open_types=[o.value for o in OpenType],
        themes=list(THEMES),
        grades=[g.value for g in Grade],
        deliveries=list(DELIVERY_LABELS),
        impact_objects=[o.value for o in ImpactObject],
        harms=[h.value for h in Harm],
        field_types=[t.value for t in FieldType],
        field_flags=[f.value for f in FieldFlag],
    )


def _parse_entry(values: Mapping[str, Any]) -> EntryInput:
    """The form through the exchange parser; errors are keyed by form field."""
    parsed, problems = sheets.row_to_input(sheets.SheetRow(1, _cells(values)))
    if problems or parsed is None:
        details = [
            {"path": _KEY_OF_COLUMN.get(p.column, "name"), "message": p.message} for p in problems
        ]
        raise InvalidInput(f"{details[0]['path']}: {details[0]['message']}", details=details)
    return EntryInput.model_validate(parsed)


def _field_errors(exc: InvalidInput | Conflict) -> dict[str, str]:
    """Form field → message, from an error's details (paths such as ``provider`` or
    ``body.fields.0.name``); a conflict without details is about the name."""
    errors: dict[str, str] = {}
    details = exc.details if isinstance(exc.details, list) else []
    for detail in details:
        if isinstance(detail, dict):
            path = str(detail.get("path", "")).removeprefix("body.").lstrip(".")
            key = path.split(".")[0]
            errors.setdefault(key if key in _FORM_KEYS else "", str(detail.get("message", "")))
    if not errors:
        errors["name" if isinstance(exc, DuplicateEntry) else ""] = exc.message
    return errors


@router.get("/console/catalog/new", response_class=HTMLResponse)
def new_page(request: Request, actor: CurrentActor, uow: UoW) -> Response:
    """The empty entry form."""
    if not _keeps_catalogue(actor):
        authorize(actor, "catalog.edit")
    values: dict[str, Any] = {"kind": EntryKind.RESOURCE.value, "delivery": []}
    return _render_form(request, actor, uow, values=values)


@router.post("/console/catalog/new", response_class=HTMLResponse)
def new_submit(request: Request, actor: CurrentActor, uow: UoW, form: PostedForm) -> Response:
    """Create the entry (and submit it at once when asked); errors come back on the form."""
    verify_csrf(request, str(form.get("csrf_token") or ""))
    values = _posted_values(form)
    try:
        data = _parse_entry(values)
        entry = service.create_entry(uow, actor=actor, data=data, submit=values["submit"])
    except (InvalidInput, Conflict) as exc:
        uow.rollback()
        return _render_form(
            request, actor, uow, values=values, errors=_field_errors(exc), status=exc.status
        )
    return _see_other(f"/console/catalog/{entry.id}")


def _editable(uow: UnitOfWork, actor: Actor, entry_id: str) -> Entry:
    entry = service.get_entry(uow, actor=actor, entry_id=entry_id)
    authorize(actor, "catalog.edit", service.resource(entry))
    return entry


@router.get("/console/catalog/{entry_id}/edit", response_class=HTMLResponse)
def edit_page(request: Request, entry_id: str, actor: CurrentActor, uow: UoW) -> Response:
    """The entry form, filled with the working copy."""
    entry = _editable(uow, actor, entry_id)
    return _render_form(request, actor, uow, values=_entry_values(uow, entry), entry=entry)


@router.post("/console/catalog/{entry_id}/edit", response_class=HTMLResponse)
def edit_submit(
    request: Request, entry_id: str, actor: CurrentActor, uow: UoW, form: PostedForm
) -> Response:
    """Save the working copy; it returns to draft."""
    verify_csrf(request, str(form.get("csrf_token") or ""))
    values = _posted_values(form)
    try:
        data = _parse_entry(values)
        service.update_entry(uow, actor=actor, entry_id=entry_id, data=data)
    except (InvalidInput, Conflict) as exc:
        uow.rollback()
        entry = _editable(uow, actor, entry_id)
        values["provider"] = entry.provider_id
        return _render_form(
            request,
            actor,
            uow,
            values=values,
            entry=entry,
            errors=_field_errors(exc),
            status=exc.status,
        )
    return _see_other(f"/console/catalog/{entry_id}")


# --- the entry and its lifecycle ----------------------------------------------------------------


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
    orgs = service.OrgIndex.load(uow, [entry.provider_id, entry.district_id or ""])
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
    return _render(
        request,
        "catalog_entry.html",
        status=status,
        actor=actor,
        entry=entry,
        error=error,
        flags=_flags(uow, entry),
        allowed=allowed,
        when=_when,
        org_names=_org_names(request, orgs.by_id.values()),
        related=_related(uow, entry.related),
        impact_objects=[o.value for o in ImpactObject],
        ledger_index=latest_ledger_index(uow, entry.id),
        published=entry.published_version is not None and state is not EntryStatus.DEPRECATED,
    )


@router.get("/console/catalog/review", response_class=HTMLResponse)
def review_page(request: Request, actor: CurrentActor, uow: UoW) -> Response:
    """The bureau's review queue, earliest deadline first, overdue rows highlighted."""
    queue = service.review_queue(uow, actor=actor)
    counts = service.status_counts(uow, actor=actor)
    orgs = service.OrgIndex.load(uow, {e.provider_id for e in queue}) if queue else None
    rows = [{"entry": e, **_flags(uow, e)} for e in queue]
    return _render(
        request,
        "catalog_review.html",
        actor=actor,
        rows=rows,
        counts=counts,
        when=_when,
        org_names=_org_names(request, orgs.by_id.values() if orgs else []),
    )


# --- import ------------------------------------------------------------------------------------


def _uploads(request: Request) -> Path:
    folder = get_platform(request).settings.home / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _keep_upload(folder: Path, data: bytes) -> str:
    """Store an upload under its SHA-256 (and forget day-old ones); return the hash."""
    cutoff = time.time() - UPLOAD_TTL_SECONDS
    for old in folder.iterdir():
        if old.is_file() and old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    digest = hashlib.sha256(data).hexdigest()
    target = folder / digest
    if not target.exists():
        partial = folder / f".{digest}.part"
        partial.write_bytes(data)
        partial.replace(target)
    return digest


def _problems(exc: InvalidInput) -> list[sheets.CellError]:
    details = exc.details if isinstance(exc.details, list) else []
    return [
        sheets.CellError(int(d.get("row") or 0), str(d.get("column") or ""), str(d["message"]))
        for d in details
        if isinstance(d, dict) and "message" in d
    ]


def _render_import(request: Request, actor: Actor, status: int = 200, **context: Any) -> Response:
    defaults: dict[str, Any] = {
        "error": None,
        "report": None,
        "errors": [],
        "error_count": 0,
        "created": None,
        "created_entries": [],
        "submitted": False,
        "upload": "",
        "sheet": "",
        "submit": False,
    }
    return _render(
        request, "catalog_import.html", status=status, actor=actor, **(defaults | context)
    )


@router.get("/console/catalog/import", response_class=HTMLResponse)
def import_page(request: Request, actor: CurrentActor) -> Response:
    """The upload form with the template and export links."""
    if not _keeps_catalogue(actor):
        authorize(actor, "catalog.edit")
    return _render_import(request, actor)


@router.post("/console/catalog/import", response_class=HTMLResponse)
async def import_check(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    file: Annotated[UploadFile, File()],
    sheet: Annotated[str, Form(max_length=100)] = "",
    submit: Annotated[str, Form(max_length=10)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Keep the upload on the server and dry-run it: every problem with its row and column."""
    verify_csrf(request, csrf_token)
    limit = min(MAX_IMPORT_BYTES, get_platform(request).settings.max_upload_bytes)
    data = await file.read(limit + 1)
    filename = Path(file.filename or "upload").name[:200]
    context: dict[str, Any] = {"sheet": sheet.strip(), "submit": bool(submit)}
    if len(data) > limit:
        error = PayloadTooLarge(f"{filename}: larger than {limit} bytes")
        return _render_import(request, actor, status=error.status, error=error.message, **context)

    def check() -> Response:
        try:
            report = imports.import_entries(
                uow,
                actor=actor,
                data=data,
                filename=filename,
                sheet=sheet.strip() or None,
                dry_run=True,
            )
        except InvalidInput as exc:
            problems = _problems(exc)
            return _render_import(
                request,
                actor,
                status=exc.status,
                error=exc.message,
                errors=problems,
                error_count=len(problems),
                **context,
            )
        # Only a clean file is kept for the commit, under its hash; the form carries the hash.
        digest = _keep_upload(_uploads(request), data) if report.ok else ""
        return _render_import(
            request,
            actor,
            status=200 if report.ok else 422,
            report=report,
            upload=digest,
            errors=report.errors,
            error_count=report.error_count,
            **context,
        )

    return await run_in_threadpool(check)


@router.post("/console/catalog/import/commit", response_class=HTMLResponse)
async def import_commit(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    upload: Annotated[str, Form(max_length=64)] = "",
    filename: Annotated[str, Form(max_length=200)] = "upload",
    sheet: Annotated[str, Form(max_length=100)] = "",
    submit: Annotated[str, Form(max_length=10)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Store a checked upload: everything is checked again; all entries or none."""
    verify_csrf(request, csrf_token)
    context: dict[str, Any] = {"sheet": sheet.strip(), "submit": bool(submit)}

    def commit() -> Response:
        path = _uploads(request) / upload if _SHA256.match(upload) else None
        if path is None or not path.is_file():
            message = "上传的文件已过期，请重新上传 (the upload has expired; upload the file again)"
            return _render_import(request, actor, status=422, error=message, **context)
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != upload:
            path.unlink(missing_ok=True)
            message = "上传的文件已损坏，请重新上传 (the stored upload is damaged; upload it again)"
            return _render_import(request, actor, status=422, error=message, **context)
        try:
            report = imports.import_entries(
                uow,
                actor=actor,
                data=data,
                filename=Path(filename).name or "upload",
                sheet=sheet.strip() or None,
                dry_run=False,
                submit=bool(submit),
            )
        except (ImportRejected, InvalidInput) as exc:
            problems = _problems(exc)
            return _render_import(
                request,
                actor,
                status=exc.status,
                error=exc.message,
                errors=problems,
                error_count=len(problems),
                **context,
            )
        path.unlink(missing_ok=True)
        shown = report.entry_ids[:50]
        rows = uow.session.execute(sa.select(Entry.id, Entry.name).where(Entry.id.in_(shown)))
        names = {entry_id: name for entry_id, name in rows}
        return _render_import(
            request,
            actor,
            created=report.created,
            submitted=bool(submit),
            created_entries=[(i, names.get(i, i)) for i in shown],
            **context,
        )

    return await run_in_threadpool(commit)


# --- districts: the four-level catalogue --------------------------------------------------------


@router.get("/console/catalog/district", response_class=HTMLResponse)
def district_choice(
    request: Request, actor: CurrentActor, uow: UoW, org: str | None = None
) -> Response:
    """A district officer goes to their district; others choose one."""
    if org:
        return _see_other(f"/console/catalog/district/{org}")
    own = sorted(actor.organisations_with(Role.DISTRICT_OFFICER))
    if own:
        return _see_other(f"/console/catalog/district/{own[0]}")
    authorize(actor, "catalog.read")
    return _render_district(request, actor, uow, None)


def _district_choices(request: Request, uow: UnitOfWork) -> list[tuple[str, str]]:
    districts = uow.session.scalars(
        sa.select(Organisation)
        .where(Organisation.kind == OrgKind.DISTRICT)
        .order_by(Organisation.division_code, Organisation.code)
    ).all()
    names = _org_names(request, districts)
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
            next_url = _url(
                f"/console/catalog/district/{district.id}", [("cursor", result.next_cursor)]
            )
    ordered = sorted(tree.items(), key=lambda item: (item[0] is None, item[0] or ""))
    return _render(
        request,
        "catalog_district.html",
        actor=actor,
        district=district,
        district_name=_org_names(request, [district])[district.id] if district else "",
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


# --- the entry page and its history (after the fixed paths above) ------------------------------


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
    return _render(
        request,
        "catalog_history.html",
        actor=actor,
        entry=entry,
        versions=versions,
        publishers=publishers,
        changes=changes,
        from_n=from_,
        to_n=to,
        when=_when,
        coded_keys=_CODED_KEYS,
        entry_names={i: name for i, name, _code in _related(uow, sorted(related_ids))},
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
    return _see_other(next if next in _REDIRECTS else f"/console/catalog/{entry_id}")
