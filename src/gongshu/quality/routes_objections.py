"""HTTP routes of the objection loop under ``/api/v1/objections``: parse, call, commit, render."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from gongshu.identity import Actor
from gongshu.identity.deps import CurrentActor, UoW, get_platform, page_response
from gongshu.kernel.clock import local_date
from gongshu.kernel.uow import UnitOfWork
from gongshu.quality import objections as service
from gongshu.quality.models import Objection, ObjectionEvent
from gongshu.quality.objections import EvidenceItem, EvidenceStore, Finding, RejectReason

__all__ = [
    "AnswerBody",
    "CorrectBody",
    "EventRead",
    "NoteBody",
    "ObjectionRead",
    "RejectBody",
    "VerifyBody",
    "evidence_store",
    "objection_reads",
    "router",
]

router = APIRouter(prefix="/api/v1/objections", tags=["objections"])
Note = Annotated[str, Field(max_length=5000)]


class NoteBody(BaseModel):
    """An optional note with a step (accept, unflag, archive)."""

    model_config = ConfigDict(extra="forbid")
    note: Note = ""


class RejectBody(BaseModel):
    """Why a new objection is not taken up."""

    model_config = ConfigDict(extra="forbid")
    reason: RejectReason
    note: Note = ""


class VerifyBody(BaseModel):
    """The source department's finding and what it checked."""

    model_config = ConfigDict(extra="forbid")
    finding: Finding
    note: Note = Field(min_length=1)


class AnswerBody(BaseModel):
    """The feedback the filer reads."""

    model_config = ConfigDict(extra="forbid")
    text: Note = Field(min_length=1)


class CorrectBody(BaseModel):
    """The correction: a newer dataset version of the entry, or an erratum text."""

    model_config = ConfigDict(extra="forbid")
    version_id: str | None = Field(default=None, max_length=40)
    erratum: Note | None = None


class EventRead(BaseModel):
    """One step of the timeline."""

    step: str
    status: str
    actor_label: str
    note: str
    due_on: date | None
    at: datetime


class ObjectionRead(BaseModel):
    """An objection with names, its deadline countdown and the steps the caller may take."""

    id: str
    entry_id: str
    entry_name: str | None
    version_id: str | None
    record_key: dict[str, Any] | None
    field_name: str | None
    claim: str
    proposed: str | None
    evidence: list[dict[str, Any]]
    channel: str
    filer_id: str | None
    filer_org_id: str | None
    filer_org_name: str | None
    handler_org_id: str
    handler_org_name: str | None
    status: str
    flagged: bool
    finding: str | None
    answer: str | None
    correction: dict[str, Any] | None
    due_on: date | None
    working_days_left: int | None
    overdue: bool
    escalated_at: datetime | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    next_steps: list[str]
    events: list[EventRead] | None = None


def evidence_store(request: Request) -> EvidenceStore:
    """The evidence files of the platform's data home."""
    return EvidenceStore.under(get_platform(request).settings.home)


def objection_reads(
    uow: UnitOfWork,
    actor: Actor,
    rows: list[Objection],
    *,
    events: list[ObjectionEvent] | None = None,
) -> list[ObjectionRead]:
    """Objections as the API shows them, names and countdowns looked up once for all."""
    today = local_date(uow.clock.now())
    names = service.names(uow, rows)
    left = service.days_left(uow, rows, today=today)
    out = []
    for o in rows:
        values = {c.key: getattr(o, c.key) for c in Objection.__table__.columns}
        evidence = [
            item | {"url": f"/api/v1/objections/{o.id}/evidence/{item['sha256']}"}
            if item.get("sha256")
            else item
            for item in o.evidence
        ]
        out.append(
            ObjectionRead.model_validate(
                values
                | {
                    "evidence": evidence,
                    "entry_name": names.entries.get(o.entry_id),
                    "filer_org_name": names.organisations.get(o.filer_org_id or ""),
                    "handler_org_name": names.organisations.get(o.handler_org_id),
                    "working_days_left": left.get(o.id),
                    "overdue": service.is_overdue(o, today),
                    "next_steps": service.next_steps(actor, o, uow),
                    "events": (
                        [EventRead.model_validate(e, from_attributes=True) for e in events]
                        if events is not None
                        else None
                    ),
                }
            )
        )
    return out


def _one(uow: UnitOfWork, actor: Actor, o: Objection) -> ObjectionRead:
    events = service.list_events(uow, actor=actor, objection_id=o.id)
    return objection_reads(uow, actor, [o], events=events)[0]


@router.post("", status_code=status.HTTP_201_CREATED)
def raise_objection(
    data: service.ObjectionInput, request: Request, actor: CurrentActor, uow: UoW
) -> ObjectionRead:
    """File an objection on an entry, a version, or one record's field, with evidence."""
    o = service.raise_objection(uow, actor=actor, data=data, store=evidence_store(request))
    uow.commit()
    return _one(uow, actor, o)


@router.post("/evidence", status_code=status.HTTP_201_CREATED)
def upload_evidence(
    request: Request, actor: CurrentActor, file: Annotated[UploadFile, File()]
) -> EvidenceItem:
    """Store an evidence file (at most 10 MB); cite the returned item when filing."""
    return service.upload_evidence(
        actor=actor,
        store=evidence_store(request),
        stream=file.file,
        filename=file.filename or "evidence",
    )


@router.get("")
def list_objections(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    status: Annotated[list[str] | None, Query()] = None,
    entry_id: str | None = None,
    handler_org_id: str | None = None,
    overdue: bool | None = None,
    mine: bool = False,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Objections one may follow: escalated and overdue first, then by deadline."""
    page = service.list_objections(
        uow, actor=actor, status=status or (), entry_id=entry_id, handler_org_id=handler_org_id,
        overdue=overdue, mine=mine, cursor=cursor, limit=limit,
    )  # fmt: skip
    items = [r.model_dump(mode="json") for r in objection_reads(uow, actor, page.items)]
    return page_response(request, page, items)


@router.get("/statistics")
def statistics(actor: CurrentActor, uow: UoW) -> dict[str, Any]:
    """Open, overdue, escalated and closed objections, and the median working days to close."""
    result = service.statistics(uow, actor=actor)
    return {
        "today": result.today.isoformat(),
        "open": result.open,
        "overdue": result.overdue,
        "escalated": result.escalated,
        "closed": result.closed,
        "median_days_to_close": result.median_days_to_close,
        "by_status": result.by_status,
        "departments": [vars(d) for d in result.departments],
        "warnings": result.warnings,
    }


@router.get("/{objection_id}")
def get_objection(objection_id: str, actor: CurrentActor, uow: UoW) -> ObjectionRead:
    """One objection with its timeline."""
    return _one(uow, actor, service.get_objection(uow, actor=actor, objection_id=objection_id))


@router.get("/{objection_id}/evidence/{sha256}")
def evidence_file(
    objection_id: str, sha256: str, request: Request, actor: CurrentActor, uow: UoW
) -> FileResponse:
    """Download one evidence file of an objection one may read."""
    path, name = service.evidence_file(
        uow, actor=actor, store=evidence_store(request), objection_id=objection_id, sha256=sha256
    )
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=name,
        content_disposition_type="attachment",
    )


@router.post("/{objection_id}/accept")
def accept(objection_id: str, body: NoteBody, actor: CurrentActor, uow: UoW) -> ObjectionRead:
    """Take the objection up; its data shows 异议处理中 until unflagged."""
    o = service.accept(uow, actor=actor, objection_id=objection_id, note=body.note)
    uow.commit()
    return _one(uow, actor, o)


@router.post("/{objection_id}/reject")
def reject(objection_id: str, body: RejectBody, actor: CurrentActor, uow: UoW) -> ObjectionRead:
    """Decline a new objection with a reason."""
    o = service.reject(
        uow, actor=actor, objection_id=objection_id, reason=body.reason, note=body.note
    )
    uow.commit()
    return _one(uow, actor, o)


@router.post("/{objection_id}/verify")
def verify(objection_id: str, body: VerifyBody, actor: CurrentActor, uow: UoW) -> ObjectionRead:
    """Record the source department's finding."""
    o = service.verify(
        uow, actor=actor, objection_id=objection_id, finding=body.finding, note=body.note
    )
    uow.commit()
    return _one(uow, actor, o)


@router.post("/{objection_id}/answer")
def answer(objection_id: str, body: AnswerBody, actor: CurrentActor, uow: UoW) -> ObjectionRead:
    """Feed the finding back to the filer."""
    o = service.answer(uow, actor=actor, objection_id=objection_id, text=body.text)
    uow.commit()
    return _one(uow, actor, o)


@router.post("/{objection_id}/correct")
def correct(objection_id: str, body: CorrectBody, actor: CurrentActor, uow: UoW) -> ObjectionRead:
    """Record the correction: a new version of the entry or an erratum."""
    o = service.correct(
        uow,
        actor=actor,
        objection_id=objection_id,
        version_id=body.version_id,
        erratum=body.erratum,
    )
    uow.commit()
    return _one(uow, actor, o)


@router.post("/{objection_id}/unflag")
def unflag(objection_id: str, body: NoteBody, actor: CurrentActor, uow: UoW) -> ObjectionRead:
    """Take the 异议处理中 flag down."""
    o = service.unflag(uow, actor=actor, objection_id=objection_id, note=body.note)
    uow.commit()
    return _one(uow, actor, o)


@router.post("/{objection_id}/archive")
def archive(objection_id: str, body: NoteBody, actor: CurrentActor, uow: UoW) -> ObjectionRead:
    """File a closed objection away."""
    o = service.archive(uow, actor=actor, objection_id=objection_id, note=body.note)
    uow.commit()
    return _one(uow, actor, o)
