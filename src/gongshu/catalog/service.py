"""Catalogue use cases: write entries, move them through review, publish versions.

Every function takes the unit of work first and the actor explicitly. Each state change
writes its audit record in the same transaction; ``catalog.*`` records are anchored in the
ledger by the audit hook, so no change lands without its ledger entry.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from gongshu.catalog import search
from gongshu.catalog.errors import DuplicateEntry, EntryNotFound, WrongStatus
from gongshu.catalog.models import Entry, EntryField, EntryVersion
from gongshu.catalog.resolve import OrgIndex, Resolved, next_value, resolve, resource_code
from gongshu.catalog.schemas import EntryInput
from gongshu.catalog.vocab import EntryStatus
from gongshu.identity import Actor, Resource, audit, authorize, can, deadline
from gongshu.kernel.clock import local_date
from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.ids import new_id
from gongshu.kernel.uow import UnitOfWork

__all__ = [
    "REVIEW_WORKING_DAYS",
    "add_entry",
    "approve_entry",
    "create_entry",
    "deprecate_entry",
    "entry_document",
    "get_entry",
    "get_version",
    "list_versions",
    "publish_entry",
    "resource",
    "return_entry",
    "review_queue",
    "status_counts",
    "submit_entry",
    "submit_loaded",
    "today",
    "update_entry",
    "visible",
]

# 政务数据共享条例: the bureau reviews and publishes within 2 working days.
REVIEW_WORKING_DAYS = 2


def resource(entry: Entry) -> Resource:
    """The authorisation resource of an entry: owned by its provider (and its district)."""
    owners = {entry.provider_id} | ({entry.district_id} if entry.district_id else set())
    return Resource("catalog_entry", entry.id, frozenset(owners))


def visible(actor: Actor, entry: Entry) -> bool:
    """Staff see every entry that has left draft; drafts only their keepers see."""
    if not can(actor, "catalog.read"):
        return False
    if entry.status != EntryStatus.DRAFT or entry.published_version is not None:
        return True
    return can(actor, "catalog.edit", resource(entry))


# --- writing ---------------------------------------------------------------------------------


def _apply(entry: Entry, resolved: Resolved, now: datetime) -> None:
    data = resolved.data
    entry.kind = data.kind.value
    entry.name = data.name
    entry.summary = data.summary
    entry.keywords = list(data.keywords)
    entry.provider_id = resolved.provider.id
    entry.district_id = resolved.district.id if resolved.district else None
    entry.format = data.format.value
    entry.update_frequency = data.update_frequency.value
    entry.share_type = data.share_type.value
    entry.share_conditions = data.share_conditions
    entry.delivery = sorted(data.delivery)
    entry.legal_basis = data.legal_basis
    entry.open_type = data.open_type.value
    entry.open_conditions = data.open_conditions
    entry.theme = data.theme
    entry.impact = {str(k): str(v) for k, v in data.impact.items()}
    entry.computed_grade = resolved.computed_grade.value
    entry.grade = resolved.grade.value
    entry.grade_reason = (
        data.grade_reason if resolved.grade is not resolved.computed_grade else None
    )
    entry.related = resolved.related_ids
    entry.duty = data.duty
    entry.system = data.system
    entry.table_name = data.table
    entry.updated_at = now
    # Update data items in place by name: replacing the collection would insert the new rows
    # before deleting the old ones and trip the (entry, name) unique constraint.
    existing = {item.name: item for item in entry.fields}
    items: list[EntryField] = []
    for position, item in enumerate(data.fields):
        row = existing.pop(item.name, None) or EntryField(name=item.name)
        row.position = position
        row.type = item.type.value
        row.description = item.description
        row.element_code = item.element_code
        row.flags = sorted(str(flag) for flag in item.flags)
        items.append(row)
    entry.fields = items


def _check_unique(uow: UnitOfWork, provider_id: str, name: str, entry_id: str | None) -> None:
    stmt = sa.select(Entry.id).where(Entry.provider_id == provider_id, Entry.name == name)
    if entry_id:
        stmt = stmt.where(Entry.id != entry_id)
    if uow.session.scalar(stmt) is not None:
        raise DuplicateEntry(f"this provider already has an entry named {name!r}")


def add_entry(
    uow: UnitOfWork,
    *,
    actor: Actor,
    resolved: Resolved,
    orgs: OrgIndex,
    submit: bool = False,
    data_updated_at: datetime | None = None,
    check_unique: bool = True,
) -> Entry:
    """Add one resolved entry to the transaction (no commit): the importer's building block."""
    now = uow.clock.now()
    if check_unique:
        _check_unique(uow, resolved.provider.id, resolved.data.name, None)
    entry = Entry(
        id=new_id("ent", at_ms=int(now.timestamp() * 1000)),
        seq=next_value(uow, "entries"),
        resource_code=resource_code(uow, resolved.data, resolved.provider, resolved.district),
        status=EntryStatus.DRAFT.value,
        published_version=None,
        created_by_id=actor.user_id or None,
        created_at=now,
        data_updated_at=data_updated_at,
    )
    _apply(entry, resolved, now)
    uow.session.add(entry)
    uow.session.flush()
    search.index_entry(uow, entry, provider_name=resolved.provider.name)
    audit(uow, actor, "catalog.create", "catalog_entry", entry.id,
          after=entry_document(entry, orgs))  # fmt: skip
    if submit:
        _submit(uow, actor, entry, orgs)
    return entry


def create_entry(uow: UnitOfWork, *, actor: Actor, data: EntryInput, submit: bool = False) -> Entry:
    """Register a new entry as a draft (or submit it for review at once)."""
    orgs = OrgIndex.load(uow, [data.provider, data.district or ""])
    resolved = resolve(uow, actor=actor, data=data, orgs=orgs)
    entry = add_entry(uow, actor=actor, resolved=resolved, orgs=orgs, submit=submit)
    uow.commit()
    return entry


def _load(uow: UnitOfWork, entry_id: str, *, lock: bool = False) -> Entry:
    stmt = sa.select(Entry).where(Entry.id == entry_id).options(selectinload(Entry.fields))
    if lock:
        stmt = stmt.with_for_update()
    entry = uow.session.scalar(stmt)
    if entry is None:
        raise EntryNotFound(f"no catalogue entry {entry_id!r}")
    return entry


def get_entry(uow: UnitOfWork, *, actor: Actor, entry_id: str) -> Entry:
    """One entry with its fields, if the actor may see it (otherwise: not found)."""
    authorize(actor, "catalog.read")
    entry = _load(uow, entry_id)
    if not visible(actor, entry):
        raise EntryNotFound(f"no catalogue entry {entry_id!r}")
    return entry


def update_entry(uow: UnitOfWork, *, actor: Actor, entry_id: str, data: EntryInput) -> Entry:
    """Edit the working copy; a submitted or published entry goes back to draft."""
    entry = _load(uow, entry_id, lock=True)
    authorize(actor, "catalog.edit", resource(entry))
    if entry.status == EntryStatus.DEPRECATED:
        raise WrongStatus("a deprecated entry cannot be edited")
    orgs = OrgIndex.load(uow, [data.provider, data.district or "", entry.provider_id])
    before = entry_document(entry, orgs)
    resolved = resolve(uow, actor=actor, data=data, orgs=orgs)
    if resolved.provider.id != entry.provider_id:
        raise InvalidInput.field("provider", "an entry's provider cannot change")
    _check_unique(uow, entry.provider_id, data.name, entry.id)
    _apply(entry, resolved, uow.clock.now())
    entry.status = EntryStatus.DRAFT.value
    entry.review_due = None
    uow.session.flush()
    search.index_entry(uow, entry, provider_name=resolved.provider.name)
    audit(uow, actor, "catalog.update", "catalog_entry", entry.id,
          before=before, after=entry_document(entry, orgs))  # fmt: skip
    uow.commit()
    return entry


def _transition(
    uow: UnitOfWork,
    actor: Actor,
    entry: Entry,
    action: str,
    allowed: tuple[EntryStatus, ...],
    to: EntryStatus,
    **extra: Any,
) -> None:
    if entry.status not in allowed:
        names = "/".join(status.value for status in allowed)
        raise WrongStatus(f"entry is {entry.status}; {action} needs {names}")
    before = {"status": entry.status}
    entry.status = to.value
    entry.updated_at = uow.clock.now()
    uow.session.flush()
    audit(uow, actor, f"catalog.{action}", "catalog_entry", entry.id,
          before=before, after={"status": to.value, **extra})  # fmt: skip


def _submit(uow: UnitOfWork, actor: Actor, entry: Entry, orgs: OrgIndex) -> None:
    now = uow.clock.now()
    today = local_date(now)
    due = deadline(uow, actor=actor, start=today, working_days=REVIEW_WORKING_DAYS)
    entry.submitted_at = now
    entry.review_due = due.due
    entry.review_note = None
    _transition(uow, actor, entry, "submit", (EntryStatus.DRAFT,), EntryStatus.SUBMITTED,
                review_due=due.due.isoformat(), document=entry_document(entry, orgs))  # fmt: skip


def submit_loaded(uow: UnitOfWork, *, actor: Actor, entry: Entry, orgs: OrgIndex) -> None:
    """Submit an entry already in the transaction (no commit)."""
    authorize(actor, "catalog.edit", resource(entry))
    _submit(uow, actor, entry, orgs)


def submit_entry(uow: UnitOfWork, *, actor: Actor, entry_id: str) -> Entry:
    """Send a draft to the bureau; the 2-working-day review clock starts."""
    entry = _load(uow, entry_id, lock=True)
    authorize(actor, "catalog.edit", resource(entry))
    _submit(uow, actor, entry, OrgIndex.load(uow, [entry.provider_id, entry.district_id or ""]))
    uow.commit()
    return entry


def return_entry(uow: UnitOfWork, *, actor: Actor, entry_id: str, note: str) -> Entry:
    """The bureau sends an entry back to its provider with what must change."""
    authorize(actor, "catalog.review")
    if not note.strip():
        raise InvalidInput.field("note", "say what must change")
    entry = _load(uow, entry_id, lock=True)
    entry.review_note = note.strip()
    entry.reviewed_by_id = actor.user_id or None
    entry.reviewed_at = uow.clock.now()
    entry.review_due = None
    _transition(uow, actor, entry, "return", (EntryStatus.SUBMITTED, EntryStatus.REVIEWED),
                EntryStatus.DRAFT, note=note.strip())  # fmt: skip
    uow.commit()
    return entry


def approve_entry(
    uow: UnitOfWork, *, actor: Actor, entry_id: str, note: str = "", publish: bool = False
) -> Entry:
    """The bureau approves a submitted entry; with ``publish`` it is published at once."""
    authorize(actor, "catalog.review")
    entry = _load(uow, entry_id, lock=True)
    entry.reviewed_by_id = actor.user_id or None
    entry.reviewed_at = uow.clock.now()
    entry.review_note = note.strip() or None
    _transition(uow, actor, entry, "review", (EntryStatus.SUBMITTED,), EntryStatus.REVIEWED,
                note=note.strip())  # fmt: skip
    if publish:
        _publish(uow, actor, entry, note)
    uow.commit()
    return entry


def _publish(uow: UnitOfWork, actor: Actor, entry: Entry, note: str) -> EntryVersion:
    now = uow.clock.now()
    number = (entry.published_version or 0) + 1
    entry.published_version = number
    entry.first_published_at = entry.first_published_at or now
    entry.last_published_at = now
    entry.review_due = None
    if entry.data_updated_at is None:
        entry.data_updated_at = now
    orgs = OrgIndex.load(uow, [entry.provider_id, entry.district_id or ""])
    document = entry_document(entry, orgs)
    version = EntryVersion(
        entry_id=entry.id,
        number=number,
        document=document,
        published_at=now,
        published_by_id=actor.user_id or None,
        note=note.strip(),
    )
    uow.session.add(version)
    _transition(uow, actor, entry, "publish", (EntryStatus.REVIEWED,), EntryStatus.PUBLISHED,
                version=number, document=document)  # fmt: skip
    return version


def publish_entry(uow: UnitOfWork, *, actor: Actor, entry_id: str, note: str = "") -> EntryVersion:
    """Publish a reviewed entry: a new metadata version, anchored in the ledger."""
    authorize(actor, "catalog.review")
    entry = _load(uow, entry_id, lock=True)
    version = _publish(uow, actor, entry, note)
    uow.commit()
    return version


def deprecate_entry(uow: UnitOfWork, *, actor: Actor, entry_id: str, reason: str) -> Entry:
    """Withdraw a published entry, with the reason users will read."""
    entry = _load(uow, entry_id, lock=True)
    if not (can(actor, "catalog.review") or can(actor, "catalog.deprecate", resource(entry))):
        authorize(actor, "catalog.deprecate", resource(entry))
    if not reason.strip():
        raise InvalidInput.field("reason", "give the reason for deprecation")
    entry.deprecated_reason = reason.strip()
    _transition(uow, actor, entry, "deprecate", (EntryStatus.PUBLISHED,), EntryStatus.DEPRECATED,
                reason=reason.strip())  # fmt: skip
    uow.commit()
    return entry


# --- reading ---------------------------------------------------------------------------------


def list_versions(uow: UnitOfWork, *, actor: Actor, entry_id: str) -> list[EntryVersion]:
    """Every published version of an entry, newest first."""
    get_entry(uow, actor=actor, entry_id=entry_id)
    stmt = (
        sa.select(EntryVersion)
        .where(EntryVersion.entry_id == entry_id)
        .order_by(EntryVersion.number.desc())
    )
    return list(uow.session.scalars(stmt))


def get_version(uow: UnitOfWork, *, actor: Actor, entry_id: str, number: int) -> EntryVersion:
    """One published version."""
    get_entry(uow, actor=actor, entry_id=entry_id)
    version = uow.session.get(EntryVersion, (entry_id, number))
    if version is None:
        raise EntryNotFound(f"entry {entry_id!r} has no version {number}")
    return version


def review_queue(uow: UnitOfWork, *, actor: Actor, limit: int = 200) -> list[Entry]:
    """Entries waiting for the bureau, earliest deadline first."""
    authorize(actor, "catalog.review")
    stmt = (
        sa.select(Entry)
        .where(Entry.status.in_([EntryStatus.SUBMITTED, EntryStatus.REVIEWED]))
        .order_by(Entry.review_due, Entry.submitted_at, Entry.id)
        .limit(limit)
        .options(selectinload(Entry.fields))
    )
    return list(uow.session.scalars(stmt))


def status_counts(uow: UnitOfWork, *, actor: Actor) -> dict[str, int]:
    """How many entries are in each status, plus overdue reviews (for dashboards)."""
    authorize(actor, "catalog.read")
    rows = uow.session.execute(sa.select(Entry.status, sa.func.count()).group_by(Entry.status))
    counts = {status.value: 0 for status in EntryStatus}
    counts.update({status: n for status, n in rows})
    today = local_date(uow.clock.now())
    counts["review_overdue"] = (
        uow.session.scalar(
            sa.select(sa.func.count()).where(
                Entry.status.in_([EntryStatus.SUBMITTED, EntryStatus.REVIEWED]),
                Entry.review_due < today,
            )
        )
        or 0
    )
    return counts


def entry_document(entry: Entry, orgs: OrgIndex) -> dict[str, Any]:
    """The entry as one JSON document: what a version freezes and the ledger commits to."""
    return {
        "id": entry.id,
        "resource_code": entry.resource_code,
        "kind": entry.kind,
        "name": entry.name,
        "summary": entry.summary,
        "keywords": list(entry.keywords),
        "provider": {"id": entry.provider_id, "name": orgs.name_of(entry.provider_id)},
        "district": (
            {"id": entry.district_id, "name": orgs.name_of(entry.district_id)}
            if entry.district_id
            else None
        ),
        "fields": [
            {
                "name": item.name,
                "type": item.type,
                "description": item.description,
                "element_code": item.element_code,
                "flags": list(item.flags),
            }
            for item in entry.fields
        ],
        "format": entry.format,
        "update_frequency": entry.update_frequency,
        "share_type": entry.share_type,
        "share_conditions": entry.share_conditions,
        "delivery": list(entry.delivery),
        "legal_basis": entry.legal_basis,
        "open_type": entry.open_type,
        "open_conditions": entry.open_conditions,
        "theme": entry.theme,
        "impact": dict(entry.impact),
        "grade": entry.grade,
        "computed_grade": entry.computed_grade,
        "grade_reason": entry.grade_reason,
        "related": list(entry.related),
        "duty": entry.duty,
        "system": entry.system,
        "table": entry.table_name,
    }


def today(uow: UnitOfWork) -> date:
    """The local (Beijing) date now."""
    return local_date(uow.clock.now())
