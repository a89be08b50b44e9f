"""Console pages of the objection loop: the queue, statistics, one objection, the filing form.

Plain forms with a CSRF token and a redirect after each POST; each page links its JSON twin
under ``/api/v1/objections``. The service checks every right; ``next_steps`` only decides
which forms to show.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from gongshu.catalog.pages_shared import when
from gongshu.catalog.resolve import invalid_from_validation
from gongshu.identity import Actor, Role, can
from gongshu.identity.deps import CurrentActor, UoW, verify_csrf
from gongshu.identity.pages import render, see_other
from gongshu.kernel.clock import local_date
from gongshu.kernel.errors import Conflict, InvalidInput, PayloadTooLarge
from gongshu.kernel.uow import UnitOfWork
from gongshu.quality import objections as service
from gongshu.quality.objections import EvidenceItem, Finding, ObjectionInput, RejectReason
from gongshu.quality.routes_objections import evidence_store

__all__ = ["entry_notices", "parse_record_key", "router"]

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Form(max_length=5000)]
Short = Annotated[str, Form(max_length=200)]
Step = Literal["accept", "reject", "verify", "answer", "correct", "unflag", "archive"]
PAGE_SIZE = 50


def parse_record_key(text: str) -> dict[str, str] | None:
    """``字段=值`` lines (or ``字段：值``) into a record key; blank text is no key."""
    key: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.replace("：", "=").replace(":", "=").partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InvalidInput.field(
                "record_key", f"line {number}: write 字段=值 (field=value), got {line.strip()!r}"
            )
        key[name.strip()] = value.strip()
    return key or None


def _handles(actor: Actor) -> bool:
    return bool(actor.roles & {Role.BUREAU_ADMIN, Role.DEPT_OFFICER, Role.DISTRICT_OFFICER})


# --- the queue and statistics ---------------------------------------------------------------


@router.get("/console/objections", response_class=HTMLResponse)
def queue_page(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    scope: Literal["", "mine"] = "",
    status: Annotated[str, Query(max_length=20)] = "open",
    overdue: bool = False,
    handler: Annotated[str | None, Query(max_length=40)] = None,
    cursor: str | None = None,
) -> Response:
    """The queue: escalated and overdue first, then by deadline, with working days left."""
    mine = scope == "mine" or not (_handles(actor) or can(actor, "objection.read"))
    page = service.list_objections(
        uow, actor=actor, status=[status] if status else (), overdue=True if overdue else None,
        handler_org_id=handler or None, mine=mine, cursor=cursor, limit=PAGE_SIZE,
    )  # fmt: skip
    today = local_date(uow.clock.now())
    params = [
        (k, v) for k, v in (("scope", scope), ("status", status), ("handler", handler or "")) if v
    ] + ([("overdue", "true")] if overdue else [])
    next_url = (
        f"/console/objections?{urlencode([*params, ('cursor', page.next_cursor)])}"
        if page.next_cursor
        else None
    )
    twin = [("mine", "true")] if mine else []
    twin += [("status", status)] if status else []
    twin += [("overdue", "true")] if overdue else []
    twin += [("handler_org_id", handler)] if handler else []
    return render(
        request,
        "objections.html",
        actor=actor,
        view="queue",
        rows=page.items,
        names=service.names(uow, page.items),
        left=service.days_left(uow, page.items, today=today),
        overdue_ids={o.id for o in page.items if service.is_overdue(o, today)},
        mine=mine,
        can_see_others=_handles(actor) or can(actor, "objection.read"),
        status_filter=status,
        overdue=overdue,
        handler=handler or "",
        next_url=next_url,
        twin=f"/api/v1/objections?{urlencode(twin)}" if twin else "/api/v1/objections",
        when=when,
        statuses=[s.value for s in service.ObjectionStatus],
    )


@router.get("/console/objections/statistics", response_class=HTMLResponse)
def statistics_page(request: Request, actor: CurrentActor, uow: UoW) -> Response:
    """Open, overdue and closed objections per handling department, drawn as SVG bars."""
    result = service.statistics(uow, actor=actor)
    top = max([d.open + d.closed for d in result.departments] or [0])
    return render(
        request,
        "objections.html",
        actor=actor,
        view="statistics",
        stats=result,
        top=top,
        twin="/api/v1/objections/statistics",
    )


# --- filing ---------------------------------------------------------------------------------


def _render_new(
    request: Request,
    actor: Actor,
    uow: UnitOfWork,
    entry_id: str,
    *,
    values: dict[str, Any],
    error: InvalidInput | Conflict | None = None,
    status: int = 200,
) -> Response:
    entry = service.entry_for_filing(uow, actor=actor, entry_id=entry_id)
    errors = {}
    if error is not None and isinstance(error.details, list):
        errors = {str(d.get("path", "")).removeprefix("body."): d["message"] for d in error.details}
    return render(
        request,
        "objection.html",
        status=status,
        actor=actor,
        objection=None,
        entry=entry,
        versions=service.versions_for_filing(uow, entry),
        staff=bool(actor.roles - {Role.PUBLIC}),
        values=values,
        error=error.message if error else None,
        field_errors=errors,
        max_mb=service.MAX_EVIDENCE_BYTES // (1024 * 1024),
    )


@router.get("/console/objections/new", response_class=HTMLResponse)
def new_page(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    entry_id: Annotated[str, Query(max_length=40)],
    version_id: Annotated[str, Query(max_length=40)] = "",
    field_name: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """The 提出异议 form, reached from a catalogue entry (optionally a version and a field)."""
    values = {"version_id": version_id, "field_name": field_name, "channel": "department"}
    return _render_new(request, actor, uow, entry_id, values=values)


@router.post("/console/objections/new")
def new_submit(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    entry_id: Annotated[str, Form(max_length=40)],
    csrf_token: Short = "",
    version_id: Short = "",
    field_name: Short = "",
    record_key: Text = "",
    claim: Text = "",
    proposed: Text = "",
    channel: Short = "",
    evidence_text: Text = "",
    evidence_url: Annotated[str, Form(max_length=2000)] = "",
    evidence_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """File the objection; an uploaded file is stored first and cited by its SHA-256."""
    verify_csrf(request, csrf_token)
    values = {
        "version_id": version_id, "field_name": field_name, "record_key": record_key,
        "claim": claim, "proposed": proposed, "channel": channel,
        "evidence_text": evidence_text, "evidence_url": evidence_url,
    }  # fmt: skip
    try:
        evidence = []
        if evidence_text.strip():
            evidence.append(EvidenceItem(kind="text", value=evidence_text.strip()))
        if evidence_url.strip():
            evidence.append(EvidenceItem(kind="url", value=evidence_url.strip()))
        if evidence_file is not None and evidence_file.filename:
            evidence.append(
                service.upload_evidence(
                    actor=actor, store=evidence_store(request), stream=evidence_file.file,
                    filename=evidence_file.filename,
                )
            )  # fmt: skip
        staff = bool(actor.roles - {Role.PUBLIC})
        data = ObjectionInput(
            entry_id=entry_id, version_id=version_id or None, field_name=field_name or None,
            record_key=parse_record_key(record_key), claim=claim, proposed=proposed or None,
            evidence=evidence, channel=(channel or None) if staff else None,
        )  # fmt: skip
        o = service.raise_objection(uow, actor=actor, data=data, store=evidence_store(request))
        uow.commit()
    except ValidationError as exc:
        return _render_new(request, actor, uow, entry_id, values=values,
                           error=invalid_from_validation(exc), status=422)  # fmt: skip
    except (InvalidInput, Conflict, PayloadTooLarge) as exc:
        uow.rollback()
        error = exc if isinstance(exc, InvalidInput | Conflict) else InvalidInput(exc.message)
        return _render_new(request, actor, uow, entry_id, values=values, error=error,
                           status=exc.status)  # fmt: skip
    return see_other(f"/console/objections/{o.id}")


# --- one objection --------------------------------------------------------------------------


def _render_objection(
    request: Request,
    actor: Actor,
    uow: UnitOfWork,
    objection_id: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    o = service.get_objection(uow, actor=actor, objection_id=objection_id)
    today = local_date(uow.clock.now())
    steps = service.next_steps(actor, o, uow)
    versions = []
    if "correct" in steps:
        entry = service.entry_for_filing(uow, actor=actor, entry_id=o.entry_id)
        versions = service.versions_for_filing(uow, entry)
    return render(
        request,
        "objection.html",
        status=status,
        actor=actor,
        objection=o,
        events=service.list_events(uow, actor=actor, objection_id=o.id),
        names=service.names(uow, [o]),
        left=service.days_left(uow, [o], today=today).get(o.id),
        overdue=service.is_overdue(o, today),
        steps=steps,
        versions=versions,
        reasons=[r.value for r in RejectReason],
        findings=[f.value for f in Finding],
        error=error,
        when=when,
    )


@router.get("/console/objections/{objection_id}", response_class=HTMLResponse)
def objection_page(request: Request, objection_id: str, actor: CurrentActor, uow: UoW) -> Response:
    """One objection: what is claimed, the evidence, the timeline and the next step's form."""
    return _render_objection(request, actor, uow, objection_id)


@router.post("/console/objections/{objection_id}/{step}")
def objection_step(
    request: Request,
    objection_id: str,
    step: Step,
    actor: CurrentActor,
    uow: UoW,
    csrf_token: Short = "",
    note: Text = "",
    reason: Short = "",
    finding: Short = "",
    text: Text = "",
    version_id: Short = "",
    erratum: Text = "",
) -> Response:
    """One step from the objection's page; a refusal is shown on the page with the form."""
    verify_csrf(request, csrf_token)
    try:
        if step == "accept":
            service.accept(uow, actor=actor, objection_id=objection_id, note=note)
        elif step == "reject":
            service.reject(uow, actor=actor, objection_id=objection_id,
                           reason=_choice(RejectReason, reason, "reason"), note=note)  # fmt: skip
        elif step == "verify":
            service.verify(uow, actor=actor, objection_id=objection_id,
                           finding=_choice(Finding, finding, "finding"), note=note)  # fmt: skip
        elif step == "answer":
            service.answer(uow, actor=actor, objection_id=objection_id, text=text)
        elif step == "correct":
            service.correct(uow, actor=actor, objection_id=objection_id,
                            version_id=version_id or None, erratum=erratum or None)  # fmt: skip
        elif step == "unflag":
            service.unflag(uow, actor=actor, objection_id=objection_id, note=note)
        else:
            service.archive(uow, actor=actor, objection_id=objection_id, note=note)
        uow.commit()
    except (InvalidInput, Conflict) as exc:
        uow.rollback()
        return _render_objection(request, actor, uow, objection_id, error=exc.message,
                                 status=exc.status)  # fmt: skip
    return see_other(f"/console/objections/{objection_id}")


def _choice(kind: Any, value: str, path: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise InvalidInput.field(path, f"choose one of {choices}") from None


def entry_notices(uow: UnitOfWork, entry_ids: list[str]) -> dict[str, list[str]]:
    """ "异议处理中" for entries with a flagged objection (the catalogue pages show it)."""
    return {entry_id: ["异议处理中"] for entry_id in service.flagged_entries(uow, entry_ids)}
