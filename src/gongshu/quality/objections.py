"""The objection loop (数据异议): raise, accept and flag, verify, answer, correct, unflag, archive.

Anyone entitled files an objection on a catalogue entry, one of its dataset versions, or one
record's field of a version, with evidence. The entry's provider (its department, or the
district it belongs to) handles it; the bureau may handle any. Each step is one function that
checks the right and the current status (a wrong step is a :class:`WrongObjectionStatus`
naming the status), sets the next step's working-day deadline, and writes an
:class:`ObjectionEvent` and the audit record ``objection.<step>`` — anchored in the ledger by
the audit hook — in the same transaction. Functions only add to the unit of work: the adapter
(route, page, command) commits once.

The ledger is public, so the audit records carry SHA-256 digests of what was claimed (the
claim with its record key), of the evidence and of the answer, never their text: a record key
may be a citizen ID.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import statistics as stats
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO, Literal
from urllib.parse import urlsplit

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.elements import ColumnElement

from gongshu.catalog import service as catalog
from gongshu.catalog.errors import EntryNotFound
from gongshu.catalog.models import Entry
from gongshu.catalog.vocab import EntryStatus, OpenType
from gongshu.datastore.models import DatasetVersion
from gongshu.identity import CONSOLE, Actor, Organisation, Resource, Role, audit, authorize, can
from gongshu.identity import deadline as working_deadline
from gongshu.identity.errors import NotPermitted
from gongshu.kernel.calendar import WorkingCalendar
from gongshu.kernel.clock import local_date
from gongshu.kernel.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from gongshu.kernel.ids import new_id
from gongshu.kernel.pagination import Page, decode_cursor, paginate
from gongshu.kernel.uow import UnitOfWork
from gongshu.quality.models import Objection, ObjectionEvent

__all__ = [
    "ACCEPT_WORKING_DAYS",
    "CLOSED",
    "HANDLING_WORKING_DAYS",
    "MAX_EVIDENCE_BYTES",
    "UNFLAG_WORKING_DAYS",
    "Channel",
    "DepartmentStatistics",
    "EvidenceItem",
    "EvidenceStore",
    "Finding",
    "Names",
    "ObjectionInput",
    "ObjectionNotFound",
    "ObjectionStatistics",
    "ObjectionStatus",
    "RejectReason",
    "WrongObjectionStatus",
    "accept",
    "answer",
    "archive",
    "correct",
    "days_left",
    "entry_for_filing",
    "escalate_overdue",
    "evidence_file",
    "flagged_entries",
    "flagged_records",
    "get_objection",
    "is_overdue",
    "list_events",
    "list_objections",
    "names",
    "next_steps",
    "raise_objection",
    "reject",
    "statistics",
    "unflag",
    "upload_evidence",
    "verify",
    "versions_for_filing",
]


class ObjectionStatus(StrEnum):
    """Where an objection stands; "accepted" is the step that moves it to flagged."""

    RAISED = "raised"
    REJECTED = "rejected"
    FLAGGED = "flagged"
    VERIFIED = "verified"
    ANSWERED = "answered"
    CORRECTED = "corrected"
    UNFLAGGED = "unflagged"
    ARCHIVED = "archived"


S = ObjectionStatus
# The loop is closed once the objection is rejected or its flag is down.
CLOSED = frozenset({S.REJECTED, S.UNFLAGGED, S.ARCHIVED})


class Channel(StrEnum):
    """Who filed: a department, a sharing user (校核申请), or the public."""

    DEPARTMENT = "department"
    SHARING = "sharing"
    PUBLIC = "public"


class Finding(StrEnum):
    """What the source department found."""

    CONFIRMED = "confirmed"
    UNFOUNDED = "unfounded"


class RejectReason(StrEnum):
    """Why an objection is not taken up."""

    NOT_AN_OBJECTION = "not_an_objection"
    DUPLICATE = "duplicate"
    NOT_OUR_DATA = "not_our_data"
    NO_EVIDENCE = "no_evidence"


# Deadlines in working days, each counted from the day of the step before (settings-like).
# Accepting (or rejecting) a new objection: 1 working day.
ACCEPT_WORKING_DAYS = 1
# Verifying, answering and correcting, each: 政务数据共享条例 gives a sharing user's verification
# request (校核申请) 10 working days; other objections get 5.
HANDLING_WORKING_DAYS = {Channel.SHARING: 10, Channel.DEPARTMENT: 5, Channel.PUBLIC: 5}
# Taking the flag down once the data is corrected or found right: 1 working day.
UNFLAG_WORKING_DAYS = 1
MAX_EVIDENCE_BYTES = 10 * 1024 * 1024
_FAR = date(9999, 12, 31)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ObjectionNotFound(NotFound):
    """No such objection, or the actor may not know it exists."""

    code = "objection_not_found"


class WrongObjectionStatus(Conflict):
    """The step does not apply to the objection's current status."""

    code = "objection_wrong_status"


# --- input --------------------------------------------------------------------------------


class EvidenceItem(BaseModel):
    """One piece of evidence: a text, a link, or a stored file named by its SHA-256."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["text", "url", "file"]
    value: str = Field(min_length=1, max_length=2000)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _consistent(self) -> EvidenceItem:
        if self.kind == "file" and self.sha256 is None:
            raise ValueError("sha256: a file needs the sha256 the evidence upload returned")
        if self.kind != "file" and self.sha256 is not None:
            raise ValueError("sha256: only a file has a sha256")
        if self.kind == "url":
            parts = urlsplit(self.value.strip())
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("value: a link must start with http:// or https://")
        return self


class ObjectionInput(BaseModel):
    """An objection as filed: on an entry, one of its versions, or one record's field."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    entry_id: str = Field(min_length=1, max_length=40)
    version_id: str | None = Field(default=None, max_length=40)
    record_key: dict[str, str] | None = Field(default=None, min_length=1, max_length=10)
    field_name: str | None = Field(default=None, min_length=1, max_length=100)
    claim: str = Field(min_length=1, max_length=5000)
    proposed: str | None = Field(default=None, max_length=5000)
    evidence: list[EvidenceItem] = Field(min_length=1, max_length=20)
    channel: Channel | None = None

    @model_validator(mode="after")
    def _record_needs_version(self) -> ObjectionInput:
        if self.record_key is not None and self.version_id is None:
            raise ValueError("version_id: an objection on a record names the version it saw")
        return self


# --- evidence files -----------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceStore:
    """Evidence files under ``<home>/evidence/<sha256>``: small, content-addressed, kept."""

    root: Path

    @classmethod
    def under(cls, home: Path) -> EvidenceStore:
        """The store in a data home."""
        return cls(home / "evidence")

    def path_of(self, sha256: str) -> Path:
        """Where a file with this digest lives."""
        if not _SHA256.match(sha256):
            raise InvalidInput.field("sha256", "not a SHA-256 hex digest")
        return self.root / sha256

    def has(self, sha256: str) -> bool:
        """True when the file was uploaded."""
        return self.path_of(sha256).is_file()

    def put(self, stream: BinaryIO, *, filename: str) -> EvidenceItem:
        """Copy ``stream`` in (at most 10 MB), synced and renamed into place whole."""
        self.root.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        fd, partial = tempfile.mkstemp(prefix=".part-", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(1024 * 1024):
                    size += len(chunk)
                    if size > MAX_EVIDENCE_BYTES:
                        raise PayloadTooLarge(
                            f"{filename}: 证据文件不能超过 10 MB (evidence files are limited "
                            f"to {MAX_EVIDENCE_BYTES} bytes)",
                            details={"file": filename, "limit_bytes": MAX_EVIDENCE_BYTES},
                        )
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if size == 0:
                raise InvalidInput.field("file", f"{filename}: 文件为空 (the file is empty)")
            target = self.root / digest.hexdigest()
            if target.exists():
                os.unlink(partial)
            else:
                os.replace(partial, target)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        name = Path(filename.replace("\\", "/")).name[:200] or "evidence"
        return EvidenceItem(kind="file", value=name, sha256=digest.hexdigest())


def upload_evidence(
    *, actor: Actor, store: EvidenceStore, stream: BinaryIO, filename: str
) -> EvidenceItem:
    """Store an evidence file for an objection the actor is about to file."""
    authorize(actor, "objection.raise", Resource("objection", owner_user_id=actor.user_id))
    return store.put(stream, filename=filename)


# --- helpers ------------------------------------------------------------------------------


def _digest(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _ledger_doc(o: Objection) -> dict[str, Any]:
    """What the ledger may show: references, states and digests, no free text."""
    correction = dict(o.correction or {})
    if "text" in correction:
        correction["text_sha256"] = _digest(correction.pop("text"))
    return {
        "status": o.status,
        "entry_id": o.entry_id,
        "version_id": o.version_id,
        "field_name": o.field_name,
        "channel": o.channel,
        "handler_org_id": o.handler_org_id,
        "flagged": o.flagged,
        "finding": o.finding,
        "due_on": o.due_on.isoformat() if o.due_on else None,
        "escalated": o.escalated_at is not None,
        # One digest over the claim and the record key together: a record key alone (a citizen
        # ID) is few enough values to be recovered from its hash by trying them all.
        "content_sha256": _digest(
            {"claim": o.claim, "record_key": o.record_key, "proposed": o.proposed}
        ),
        "evidence": [
            {"kind": e["kind"], "sha256": e.get("sha256") or _digest(e["value"])}
            for e in o.evidence
        ],
        "answer_sha256": _digest(o.answer),
        "correction": correction or None,
    }


def _district(uow: UnitOfWork, o: Objection) -> str | None:
    return uow.session.scalar(sa.select(Entry.district_id).where(Entry.id == o.entry_id))


def _handling(uow: UnitOfWork, o: Objection) -> Resource:
    orgs = {o.handler_org_id} | ({d} if (d := _district(uow, o)) else set())
    return Resource("objection", o.id, frozenset(orgs))


def _reading(uow: UnitOfWork, o: Objection) -> Resource:
    orgs = set(_handling(uow, o).organisation_ids)
    if o.filer_org_id and o.channel != Channel.PUBLIC:
        # Colleagues follow a department's objection; citizens share one organisation, so not.
        orgs.add(o.filer_org_id)
    return Resource("objection", o.id, frozenset(orgs), owner_user_id=o.filer_id)


def _load(uow: UnitOfWork, actor: Actor, objection_id: str, *, lock: bool = False) -> Objection:
    stmt = sa.select(Objection).where(Objection.id == objection_id)
    o = uow.session.scalar(stmt.with_for_update() if lock else stmt)
    if o is None or not can(actor, "objection.read", _reading(uow, o)):
        raise ObjectionNotFound(f"no objection {objection_id!r}")
    return o


def _due(uow: UnitOfWork, actor: Actor, working_days: int) -> date:
    today = local_date(uow.clock.now())
    return working_deadline(uow, actor=actor, start=today, working_days=working_days).due


def _record(uow: UnitOfWork, actor: Actor, o: Objection, step: str, note: str) -> None:
    uow.session.add(
        ObjectionEvent(
            objection_id=o.id, step=step, status=o.status, actor_id=actor.user_id or None,
            actor_label=actor.label, note=note, due_on=o.due_on, at=uow.clock.now(),
        )
    )  # fmt: skip


def _begin(uow: UnitOfWork, actor: Actor, objection_id: str, step: str) -> Objection:
    """Load and lock the objection; check the right to handle it and that ``step`` applies."""
    o = _load(uow, actor, objection_id, lock=True)
    authorize(actor, "objection.handle", _handling(uow, o))
    check = _NEXT[S(o.status)].get(step)
    if check is None or not check(o):
        wanted = "/".join(s for s, steps in _NEXT.items() if step in steps) or "—"
        extra = " with a confirmed finding" if step == "correct" else ""
        raise WrongObjectionStatus(
            f"异议当前状态为 {o.status}，不能执行此步骤 (objection {o.id} is {o.status}; "
            f"{step} needs {wanted}{extra})",
            details={"status": o.status, "step": step, "allowed": next_steps(actor, o, uow)},
        )
    return o


def _finish(
    uow: UnitOfWork,
    actor: Actor,
    o: Objection,
    step: str,
    to: ObjectionStatus,
    note: str,
    due_days: int | None = None,
) -> Objection:
    """Move to ``to`` with the next deadline; write the event and the audit record."""
    before = {"status": o.status}
    o.status = to.value
    o.updated_at = uow.clock.now()
    o.escalated_at = None  # a new deadline: an earlier escalation is settled
    o.due_on = _due(uow, actor, due_days) if due_days is not None else None
    uow.session.flush()
    _record(uow, actor, o, step, note)
    after = _ledger_doc(o) | {"note_sha256": _digest(note) if note else None}
    audit(uow, actor, f"objection.{step}", "objection", o.id, before=before, after=after)
    return o


def _confirmed(o: Objection) -> bool:
    return o.finding == Finding.CONFIRMED


def _unfounded(o: Objection) -> bool:
    return o.finding == Finding.UNFOUNDED


def _always(_o: Objection) -> bool:
    return True


# The steps each status allows, each with the condition it needs.
_NEXT: dict[ObjectionStatus, dict[str, Callable[[Objection], bool]]] = {
    S.RAISED: {"accept": _always, "reject": _always},
    S.FLAGGED: {"verify": _always},
    S.VERIFIED: {"answer": _always},
    S.ANSWERED: {"correct": _confirmed, "unflag": _unfounded},
    S.CORRECTED: {"unflag": _always},
    S.UNFLAGGED: {"archive": _always},
    S.REJECTED: {"archive": _always},
    S.ARCHIVED: {},
}


def next_steps(actor: Actor, o: Objection, uow: UnitOfWork) -> list[str]:
    """The steps the actor may take on the objection now (for the buttons a page shows)."""
    if not can(actor, "objection.handle", _handling(uow, o)):
        return []
    return [step for step, ok in _NEXT[S(o.status)].items() if ok(o)]


def _text(value: str, path: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput.field(path, what)
    return value


# --- the steps ----------------------------------------------------------------------------


def entry_for_filing(uow: UnitOfWork, *, actor: Actor, entry_id: str) -> Entry:
    """The entry (with its fields) if the actor may object to it: staff any entry they see,
    the public a published open one."""
    if can(actor, "catalog.read"):
        return catalog.get_entry(uow, actor=actor, entry_id=entry_id)
    # The public sees what the portal shows: published entries that are open.
    entry = uow.session.scalar(
        sa.select(Entry).where(Entry.id == entry_id).options(selectinload(Entry.fields))
    )
    if (
        entry is None
        or entry.published_version is None
        or entry.status == EntryStatus.DEPRECATED
        or entry.open_type == OpenType.NONE
    ):
        raise EntryNotFound(f"no catalogue entry {entry_id!r}")
    return entry


def versions_for_filing(uow: UnitOfWork, entry: Entry, limit: int = 20) -> list[DatasetVersion]:
    """The entry's newest dataset versions, to pick the one an objection is about."""
    stmt = (
        sa.select(DatasetVersion)
        .where(DatasetVersion.entry_id == entry.id)
        .order_by(DatasetVersion.number.desc())
        .limit(limit)
    )
    return list(uow.session.scalars(stmt))


def _check_target(uow: UnitOfWork, entry: Entry, data: ObjectionInput) -> DatasetVersion | None:
    columns = [f.name for f in entry.fields]
    version = None
    if data.version_id is not None:
        version = uow.session.get(DatasetVersion, data.version_id)
        if version is None or version.entry_id != entry.id:
            raise InvalidInput.field(
                "version_id", f"entry {entry.id} has no version {data.version_id!r}"
            )
        columns = [str(c["name"]) for c in version.columns]
    if data.field_name is not None and data.field_name not in columns:
        raise InvalidInput.field(
            "field_name", f"no field {data.field_name!r}; fields: {', '.join(columns)}"
        )
    if data.record_key is not None and version is not None:
        unknown = sorted(set(data.record_key) - set(columns))
        if unknown:
            raise InvalidInput.field(
                "record_key", f"no field {unknown[0]!r} in version {version.number}"
            )
        if version.key_fields and set(data.record_key) != set(version.key_fields):
            raise InvalidInput.field(
                "record_key", f"name the record by its key fields: {', '.join(version.key_fields)}"
            )
    return version


def raise_objection(
    uow: UnitOfWork, *, actor: Actor, data: ObjectionInput, store: EvidenceStore
) -> Objection:
    """File an objection with evidence; the handler has 1 working day to accept it."""
    authorize(actor, "objection.raise", Resource("objection", owner_user_id=actor.user_id))
    staff = actor.roles - {Role.PUBLIC}
    channel = data.channel or (Channel.DEPARTMENT if staff else Channel.PUBLIC)
    if (channel == Channel.PUBLIC) == bool(staff):
        raise InvalidInput.field(
            "channel", "the public files as public; staff as department or sharing"
        )
    for number, item in enumerate(data.evidence):
        if item.kind == "file" and not store.has(item.sha256 or ""):
            raise InvalidInput.field(
                f"evidence.{number}.sha256", "no uploaded file has this digest"
            )
    entry = entry_for_filing(uow, actor=actor, entry_id=data.entry_id)
    _check_target(uow, entry, data)
    seats = sorted(actor.memberships, key=lambda m: (m[1] == Role.PUBLIC, m[0]))
    now = uow.clock.now()
    o = Objection(
        id=new_id("obj", at_ms=int(now.timestamp() * 1000)), entry_id=entry.id,
        version_id=data.version_id, record_key=data.record_key, field_name=data.field_name,
        claim=data.claim, proposed=data.proposed or None,
        evidence=[item.model_dump(exclude_none=True) for item in data.evidence],
        channel=channel.value, filer_id=actor.user_id or None,
        filer_org_id=seats[0][0] if seats else None,
        handler_org_id=entry.provider_id, status=S.RAISED.value, flagged=False,
        due_on=_due(uow, actor, ACCEPT_WORKING_DAYS), created_at=now, updated_at=now,
    )  # fmt: skip
    uow.session.add(o)
    uow.session.flush()
    _record(uow, actor, o, "raise", "")
    audit(uow, actor, "objection.raise", "objection", o.id, after=_ledger_doc(o))
    return o


def accept(uow: UnitOfWork, *, actor: Actor, objection_id: str, note: str = "") -> Objection:
    """Take the objection up: the data is flagged 异议处理中 and verification is due."""
    o = _begin(uow, actor, objection_id, "accept")
    o.flagged = True
    days = HANDLING_WORKING_DAYS[Channel(o.channel)]
    return _finish(uow, actor, o, "accept", S.FLAGGED, note.strip(), days)


def reject(
    uow: UnitOfWork, *, actor: Actor, objection_id: str, reason: RejectReason, note: str = ""
) -> Objection:
    """Decline a new objection with the reason the filer will read; the loop closes."""
    o = _begin(uow, actor, objection_id, "reject")
    if reason is RejectReason.DUPLICATE and not note.strip():
        raise InvalidInput.field("note", "name the objection this one duplicates")
    o.closed_at = uow.clock.now()
    text = f"{reason.value}: {note.strip()}" if note.strip() else reason.value
    return _finish(uow, actor, o, "reject", S.REJECTED, text)


def verify(
    uow: UnitOfWork, *, actor: Actor, objection_id: str, finding: Finding, note: str
) -> Objection:
    """The source department records what it found (confirmed or unfounded) and why."""
    o = _begin(uow, actor, objection_id, "verify")
    note = _text(note, "note", "say what was checked and what was found")
    o.finding = finding.value
    days = HANDLING_WORKING_DAYS[Channel(o.channel)]
    return _finish(uow, actor, o, "verify", S.VERIFIED, note, days)


def answer(uow: UnitOfWork, *, actor: Actor, objection_id: str, text: str) -> Objection:
    """Feed the finding back to the filer; a confirmed one is then due for correction."""
    o = _begin(uow, actor, objection_id, "answer")
    o.answer = _text(text, "text", "write the answer the filer will read")
    confirmed = o.finding == Finding.CONFIRMED
    days = HANDLING_WORKING_DAYS[Channel(o.channel)] if confirmed else UNFLAG_WORKING_DAYS
    return _finish(uow, actor, o, "answer", S.ANSWERED, o.answer, days)


def correct(
    uow: UnitOfWork,
    *,
    actor: Actor,
    objection_id: str,
    version_id: str | None = None,
    erratum: str | None = None,
) -> Objection:
    """Record the correction: a newer dataset version of the same entry, or an erratum."""
    o = _begin(uow, actor, objection_id, "correct")
    erratum = (erratum or "").strip() or None
    version_id = (version_id or "").strip() or None
    if (version_id is None) == (erratum is None):
        raise InvalidInput.field("version_id", "give either a new version or an erratum text")
    if version_id is not None:
        version = uow.session.get(DatasetVersion, version_id)
        if version is None or version.entry_id != o.entry_id:
            raise InvalidInput.field(
                "version_id", f"entry {o.entry_id} has no version {version_id!r}"
            )
        seen = uow.session.get(DatasetVersion, o.version_id) if o.version_id else None
        if (seen is not None and version.number <= seen.number) or (
            seen is None and version.created_at < o.created_at
        ):
            raise InvalidInput.field(
                "version_id", f"version {version.number} is not newer than the data objected to"
            )
        o.correction = {"kind": "version", "version_id": version.id, "number": version.number}
        note = f"v{version.number}"
    else:
        o.correction, note = {"kind": "erratum", "text": erratum}, erratum or ""
    return _finish(uow, actor, o, "correct", S.CORRECTED, note, UNFLAG_WORKING_DAYS)


def unflag(uow: UnitOfWork, *, actor: Actor, objection_id: str, note: str = "") -> Objection:
    """Take the 异议处理中 flag down: the data is corrected or found right; the loop closes."""
    o = _begin(uow, actor, objection_id, "unflag")
    o.flagged = False
    o.closed_at = uow.clock.now()
    return _finish(uow, actor, o, "unflag", S.UNFLAGGED, note.strip())


def archive(uow: UnitOfWork, *, actor: Actor, objection_id: str, note: str = "") -> Objection:
    """File a closed objection away."""
    o = _begin(uow, actor, objection_id, "archive")
    return _finish(uow, actor, o, "archive", S.ARCHIVED, note.strip())


def escalate_overdue(
    uow: UnitOfWork, today: date | None = None, *, actor: Actor = CONSOLE
) -> list[str]:
    """Mark open objections past their deadline as escalated to the bureau (idempotent).

    Meant for cron as the local console; a signed-in actor must be able to handle any
    objection (the bureau). Each escalation is an event and an ``objection.escalate`` record.
    """
    if actor != CONSOLE:
        authorize(actor, "objection.handle")
    today = today or local_date(uow.clock.now())
    stmt = (
        sa.select(Objection)
        .where(
            Objection.status.not_in(CLOSED),
            Objection.due_on < today,
            Objection.escalated_at.is_(None),
        )
        .order_by(Objection.due_on, Objection.id)
        .with_for_update()
    )
    now, escalated = uow.clock.now(), []
    for o in uow.session.scalars(stmt):
        assert o.due_on is not None
        o.escalated_at, o.updated_at = now, now
        note = f"逾期未办（截止 {o.due_on.isoformat()}），提请数据管理部门督办"
        _record(uow, actor, o, "escalate", note)
        audit(uow, actor, "objection.escalate", "objection", o.id,
              before={"escalated": False}, after=_ledger_doc(o))  # fmt: skip
        escalated.append(o.id)
    uow.session.flush()
    return escalated


# --- reading ------------------------------------------------------------------------------


def get_objection(uow: UnitOfWork, *, actor: Actor, objection_id: str) -> Objection:
    """One objection, if the actor filed it, handles it, or oversees all."""
    return _load(uow, actor, objection_id)


def list_events(uow: UnitOfWork, *, actor: Actor, objection_id: str) -> list[ObjectionEvent]:
    """An objection's timeline, oldest step first."""
    _load(uow, actor, objection_id)
    stmt = (
        sa.select(ObjectionEvent)
        .where(ObjectionEvent.objection_id == objection_id)
        .order_by(ObjectionEvent.at, ObjectionEvent.id)
    )
    return list(uow.session.scalars(stmt))


def evidence_file(
    uow: UnitOfWork, *, actor: Actor, store: EvidenceStore, objection_id: str, sha256: str
) -> tuple[Path, str]:
    """The stored file of one evidence item and its original name."""
    o = _load(uow, actor, objection_id)
    for item in o.evidence:
        if item.get("sha256") == sha256 and store.has(sha256):
            return store.path_of(sha256), str(item["value"])
    raise ObjectionNotFound(f"objection {objection_id} has no evidence file {sha256!r}")


def _visible(actor: Actor) -> ColumnElement[bool] | None:
    """The SQL condition for the objections the actor may read (None: all of them)."""
    if can(actor, "objection.read"):
        return None
    orgs = sorted(actor.organisation_ids)
    return sa.or_(
        Objection.filer_id == actor.user_id if actor.user_id else sa.false(),
        Objection.handler_org_id.in_(orgs),
        Entry.district_id.in_(orgs),
        sa.and_(Objection.filer_org_id.in_(orgs), Objection.channel != Channel.PUBLIC.value),
    )


def _priority(today: date) -> ColumnElement[int]:
    """0 escalated, 1 overdue, 2 open, 3 closed: the queue's order."""
    open_ = Objection.status.not_in(CLOSED)
    return sa.case(
        (sa.and_(open_, Objection.escalated_at.is_not(None)), 0),
        (sa.and_(open_, Objection.due_on < today), 1),
        (open_, 2),
        else_=3,
    )


def list_objections(
    uow: UnitOfWork,
    *,
    actor: Actor,
    status: Sequence[str] = (),
    entry_id: str | None = None,
    handler_org_id: str | None = None,
    overdue: bool | None = None,
    mine: bool = False,
    cursor: str | None = None,
    limit: int = 50,
    today: date | None = None,
) -> Page[Objection]:
    """Objections the actor may read, escalated and overdue first, then by deadline.

    ``status`` takes statuses and the groups ``open`` and ``closed``; ``overdue`` keeps only
    open ones past their deadline (or, False, the others); ``mine`` only those one filed.
    """
    authorize(actor, "objection.read", Resource("objection", owner_user_id=actor.user_id))
    today = today or local_date(uow.clock.now())
    wanted: set[str] = set()
    for value in status:
        if value == "open":
            wanted |= {s.value for s in S if s not in CLOSED}
        elif value == "closed":
            wanted |= {s.value for s in CLOSED}
        elif value in {s.value for s in S}:
            wanted.add(value)
        else:
            raise InvalidInput.field("query.status", f"unknown status {value!r}")
    priority = _priority(today)
    due = sa.func.coalesce(Objection.due_on, _FAR)
    stmt = sa.select(Objection).join(Entry, Entry.id == Objection.entry_id)
    if (visible := _visible(actor)) is not None:
        stmt = stmt.where(visible)
    if wanted:
        stmt = stmt.where(Objection.status.in_(sorted(wanted)))
    if entry_id:
        stmt = stmt.where(Objection.entry_id == entry_id)
    if handler_org_id:
        stmt = stmt.where(Objection.handler_org_id == handler_org_id)
    if overdue is not None:
        late = sa.and_(Objection.status.not_in(CLOSED), Objection.due_on < today)
        stmt = stmt.where(late if overdue else sa.not_(late))
    if mine:
        stmt = stmt.where(Objection.filer_id == actor.user_id if actor.user_id else sa.false())
    after = decode_cursor(cursor, arity=3)
    if after is not None:
        p, d, i = int(after[0]), date.fromisoformat(str(after[1])), str(after[2])
        stmt = stmt.where(
            sa.or_(
                priority > p,
                sa.and_(priority == p, due > d),
                sa.and_(priority == p, due == d, Objection.id > i),
            )
        )
    stmt = stmt.order_by(priority, due, Objection.id).limit(limit + 1)
    rows = list(uow.session.scalars(stmt))
    return paginate(rows, limit, lambda o: [_rank(o, today), (o.due_on or _FAR).isoformat(), o.id])


def is_overdue(o: Objection, today: date) -> bool:
    """True when an open objection is past its deadline."""
    return o.status not in CLOSED and o.due_on is not None and o.due_on < today


def _rank(o: Objection, today: date) -> int:
    if o.status in CLOSED:
        return 3
    if o.escalated_at is not None:
        return 0
    return 1 if is_overdue(o, today) else 2


def days_left(uow: UnitOfWork, objections: Iterable[Objection], *, today: date) -> dict[str, int]:
    """Working days until each open objection's deadline (negative: that many days late)."""
    cal = WorkingCalendar(uow.session)
    return {
        o.id: cal.working_days_between(today, o.due_on)
        for o in objections
        if o.due_on is not None and o.status not in CLOSED
    }


@dataclass(frozen=True)
class Names:
    """Display names for a page or a response: entries and organisations by id."""

    entries: dict[str, str]
    organisations: dict[str, str]


def names(uow: UnitOfWork, objections: Iterable[Objection]) -> Names:
    """The names of the entries and organisations the objections mention."""
    rows = list(objections)
    entry_ids = {o.entry_id for o in rows}
    org_ids = {o.handler_org_id for o in rows} | {o.filer_org_id for o in rows if o.filer_org_id}
    entries = uow.session.execute(sa.select(Entry.id, Entry.name).where(Entry.id.in_(entry_ids)))
    orgs = uow.session.execute(
        sa.select(Organisation.id, Organisation.name).where(Organisation.id.in_(org_ids))
    )
    return Names({i: n for i, n in entries}, {i: n for i, n in orgs})


def flagged_entries(uow: UnitOfWork, entry_ids: Iterable[str]) -> dict[str, int]:
    """How many flagged objections (异议处理中) each of the given entries has; others left out."""
    ids = sorted(set(entry_ids))
    if not ids:
        return {}
    stmt = (
        sa.select(Objection.entry_id, sa.func.count())
        .where(Objection.flagged.is_(True), Objection.entry_id.in_(ids))
        .group_by(Objection.entry_id)
    )
    return {entry_id: int(n) for entry_id, n in uow.session.execute(stmt)}


def flagged_records(uow: UnitOfWork, version_id: str) -> list[dict[str, Any]]:
    """The record keys of a version under a flagged objection, each once."""
    stmt = (
        sa.select(Objection.record_key)
        .where(
            Objection.version_id == version_id,
            Objection.flagged.is_(True),
            Objection.record_key.is_not(None),
        )
        .order_by(Objection.id)
    )
    seen: dict[str, dict[str, Any]] = {}
    for key in uow.session.scalars(stmt):
        if key:
            seen.setdefault(json.dumps(key, sort_keys=True), key)
    return list(seen.values())


# --- statistics ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentStatistics:
    """One handling department's objections."""

    organisation_id: str
    name: str
    open: int
    overdue: int
    escalated: int
    closed: int
    median_days_to_close: float | None


@dataclass(frozen=True)
class ObjectionStatistics:
    """Open, overdue and closed objections, and how long closing takes, in working days."""

    today: date
    open: int
    overdue: int
    escalated: int
    closed: int
    median_days_to_close: float | None
    by_status: dict[str, int]
    departments: list[DepartmentStatistics]
    warnings: list[str]


def _scope(actor: Actor) -> list[str] | None:
    if can(actor, "objection.read"):
        return None
    orgs = actor.organisations_with(Role.DEPT_OFFICER) | actor.organisations_with(
        Role.DISTRICT_OFFICER
    )
    if not orgs:
        raise NotPermitted(
            "无权查看异议统计 (not permitted: objection statistics are for the bureau, "
            "auditors and handling departments)",
            details={"action": "objection.read"},
        )
    return sorted(orgs)


def statistics(uow: UnitOfWork, *, actor: Actor, today: date | None = None) -> ObjectionStatistics:
    """Counts per handling department and the median working days from filing to close."""
    scope = _scope(actor)
    today = today or local_date(uow.clock.now())
    base = sa.select().select_from(Objection).join(Entry, Entry.id == Objection.entry_id)
    if scope is not None:
        base = base.where(sa.or_(Objection.handler_org_id.in_(scope), Entry.district_id.in_(scope)))
    open_ = Objection.status.not_in(CLOSED)

    def count(condition: ColumnElement[bool]) -> Any:
        return sa.func.sum(sa.case((condition, 1), else_=0))

    per_org = base.add_columns(
        Objection.handler_org_id,
        count(open_),
        count(sa.and_(open_, Objection.due_on < today)),
        count(sa.and_(open_, Objection.escalated_at.is_not(None))),
        count(Objection.status.in_(CLOSED)),
    ).group_by(Objection.handler_org_id)
    counts = {org: tuple(int(v or 0) for v in rest) for org, *rest in uow.session.execute(per_org)}
    by_status = {
        status: int(n)
        for status, n in uow.session.execute(
            base.add_columns(Objection.status, sa.func.count()).group_by(Objection.status)
        )
    }
    closed_rows = uow.session.execute(
        base.add_columns(Objection.handler_org_id, Objection.created_at, Objection.closed_at).where(
            Objection.closed_at.is_not(None)
        )
    ).all()
    cal = WorkingCalendar(uow.session)
    spans = _working_spans(cal, [(local_date(c), local_date(d)) for _o, c, d in closed_rows])
    durations: dict[str, list[int]] = {}
    for (org, _c, _d), span in zip(closed_rows, spans, strict=True):
        durations.setdefault(org, []).append(span)
    org_names = dict(
        uow.session.execute(
            sa.select(Organisation.id, Organisation.name).where(Organisation.id.in_(counts))
        ).all()
    )
    departments = [
        DepartmentStatistics(
            organisation_id=org,
            name=org_names.get(org, org),
            open=open_n,
            overdue=overdue_n,
            escalated=escalated_n,
            closed=closed_n,
            median_days_to_close=_median(durations.get(org, [])),
        )
        for org, (open_n, overdue_n, escalated_n, closed_n) in counts.items()
    ]
    departments.sort(key=lambda d: (-d.overdue, -d.open, d.name))
    return ObjectionStatistics(
        today=today,
        open=sum(c[0] for c in counts.values()),
        overdue=sum(c[1] for c in counts.values()),
        escalated=sum(c[2] for c in counts.values()),
        closed=sum(c[3] for c in counts.values()),
        median_days_to_close=_median(spans),
        by_status=by_status,
        departments=departments,
        warnings=list(cal.warnings),
    )


def _median(values: list[int]) -> float | None:
    return float(stats.median(values)) if values else None


def _working_spans(cal: WorkingCalendar, pairs: list[tuple[date, date]]) -> list[int]:
    """Working days in (start, end] for each pair, via one running count over the whole span."""
    if not pairs:
        return []
    first = min(start for start, _end in pairs)
    last = max(end for _start, end in pairs)
    running, total, day = {}, 0, first
    while day <= last:
        total += day != first and cal.is_workday(day)
        running[day] = total
        day += timedelta(days=1)
    return [max(0, running[end] - running[start]) for start, end in pairs]
