"""The entry form: a new entry, and the working copy of one being edited.

The form goes through the same parser as the exchange spreadsheets, so both accept one
syntax; errors come back on the form with what the user typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from gongshu.catalog import service, sheets
from gongshu.catalog.errors import DuplicateEntry
from gongshu.catalog.models import Entry
from gongshu.catalog.pages_shared import (
    keeps_catalogue,
    org_names,
    related_entries,
    render,
    see_other,
)
from gongshu.catalog.schemas import COLUMN_OF, EntryInput, FieldRead
from gongshu.catalog.vocab import (
    DELIVERY_LABELS,
    THEMES,
    Column,
    DataFormat,
    EntryKind,
    FieldFlag,
    FieldType,
    Grade,
    Harm,
    ImpactObject,
    OpenType,
    ShareType,
    UpdateFrequency,
)
from gongshu.identity import Actor, Organisation, OrgKind, Role, authorize, can
from gongshu.identity.deps import CurrentActor, UoW, verify_csrf
from gongshu.kernel.errors import Conflict, InvalidInput
from gongshu.kernel.uow import UnitOfWork

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_KEY_OF_COLUMN = {column.value: key for key, column in COLUMN_OF.items()}


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
        "related": "、".join(code for _id, _name, code in related_entries(uow, entry.related)),
        "duty": entry.duty or "",
        "system": entry.system or "",
        "table": entry.table_name or "",
        "delivery": list(entry.delivery),
        "submit": False,
    }
    for obj in ImpactObject:
        values[f"impact_{obj.value}"] = entry.impact.get(obj.value, "")
    return values


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
    names = org_names(request, listed)
    reviewer = can(actor, "catalog.review")
    if not values.get("provider") and own and not reviewer:
        values["provider"] = own[0]
    return render(
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
    if not keeps_catalogue(actor):
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
    return see_other(f"/console/catalog/{entry.id}")


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
    return see_other(f"/console/catalog/{entry_id}")
