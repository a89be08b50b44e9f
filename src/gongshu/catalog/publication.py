"""The published catalogue: what the public and harvesters see, from frozen versions.

Only published, non-deprecated entries appear, each as its latest published version (never a
working copy under revision). Anonymous callers and public users see only entries whose open
type allows opening; staff see every published entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from gongshu.catalog.dcat import (
    DcatCatalog,
    DcatDataset,
    DcatField,
    catalog_graph,
    dataset_graph,
    serialise,
)
from gongshu.catalog.errors import EntryNotFound
from gongshu.catalog.models import Entry, EntryVersion
from gongshu.catalog.vocab import EntryStatus, OpenType
from gongshu.identity import Actor, can
from gongshu.kernel.uow import UnitOfWork
from gongshu.ledger.models import LedgerEntry

__all__ = ["catalog_document", "dataset_document", "published_versions"]

Format = Literal["ttl", "jsonld", "rdf"]
BUREAU_NAME = "北京市政务服务和数据管理局"


def _published(actor: Actor | None) -> list[Any]:
    conditions: list[Any] = [
        Entry.published_version.is_not(None),
        Entry.status != EntryStatus.DEPRECATED.value,
    ]
    if actor is None or not can(actor, "catalog.read"):
        conditions.append(Entry.open_type != OpenType.NONE.value)
    return conditions


def _latest_versions() -> sa.Select[EntryVersion]:
    """Each entry's latest published version, joined to its entry for filtering."""
    latest = sa.and_(
        Entry.id == EntryVersion.entry_id, Entry.published_version == EntryVersion.number
    )
    return sa.select(EntryVersion).join(Entry, latest)


def published_versions(
    uow: UnitOfWork, *, actor: Actor | None, offset: int = 0, limit: int = 100
) -> tuple[list[EntryVersion], int]:
    """A page of the latest published versions the caller may see, and their total."""
    conditions = _published(actor)
    total = uow.session.scalar(sa.select(sa.func.count()).select_from(Entry).where(*conditions))
    stmt = _latest_versions().where(*conditions).order_by(Entry.seq).offset(offset).limit(limit)
    versions = list(uow.session.scalars(stmt))
    # The published open type decides: a revision under review may not widen it yet.
    if actor is None or not can(actor, "catalog.read"):
        versions = [v for v in versions if v.document.get("open_type") != OpenType.NONE.value]
    return versions, total or 0


def _ledger_indexes(uow: UnitOfWork, entry_ids: list[str]) -> dict[str, int]:
    if not entry_ids:
        return {}
    stmt = (
        sa.select(LedgerEntry.subject_id, sa.func.max(LedgerEntry.index))
        .where(
            LedgerEntry.subject_type == "catalog_entry",
            LedgerEntry.subject_id.in_(entry_ids),
            LedgerEntry.kind == "catalog.publish",
        )
        .group_by(LedgerEntry.subject_id)
    )
    return {subject: int(index) for subject, index in uow.session.execute(stmt)}


def _dataset(
    version: EntryVersion, base_url: str, ledger_index: int | None, first: datetime | None
) -> DcatDataset:
    doc = version.document
    district = doc.get("district") or {}
    return DcatDataset(
        id=doc["id"],
        identifier=doc["resource_code"],
        title=doc["name"],
        description=doc["summary"],
        keywords=tuple(doc.get("keywords") or ()),
        publisher_name=doc["provider"]["name"] or doc["provider"]["id"],
        publisher_id=doc["provider"]["id"],
        theme=doc["theme"],
        update_frequency=doc["update_frequency"],
        format=doc["format"],
        open_type=doc["open_type"],
        share_type=doc["share_type"],
        delivery=tuple(doc.get("delivery") or ()),
        grade=doc["grade"],
        district_name=district.get("name"),
        issued=first,
        modified=version.published_at,
        version=version.number,
        fields=tuple(
            DcatField(name=f["name"], type=f["type"], description=f.get("description") or "")
            for f in doc.get("fields") or ()
        ),
        ledger_url=f"{base_url}/ledger/{ledger_index}" if ledger_index is not None else None,
        related_ids=tuple(doc.get("related") or ()),
    )


def _first_published(uow: UnitOfWork, entry_ids: list[str]) -> dict[str, datetime | None]:
    if not entry_ids:
        return {}
    rows = uow.session.execute(
        sa.select(Entry.id, Entry.first_published_at).where(Entry.id.in_(entry_ids))
    )
    return {entry_id: first for entry_id, first in rows}


def catalog_document(
    uow: UnitOfWork,
    *,
    actor: Actor | None,
    base_url: str,
    fmt: Format,
    page: int = 1,
    page_size: int = 100,
) -> tuple[bytes, str]:
    """One page of the DCAT-AP catalogue, serialised."""
    versions, total = published_versions(
        uow, actor=actor, offset=(page - 1) * page_size, limit=page_size
    )
    ids = [v.entry_id for v in versions]
    ledger = _ledger_indexes(uow, ids)
    first = _first_published(uow, ids)
    datasets = tuple(_dataset(v, base_url, ledger.get(v.entry_id), first.get(v.entry_id))
                     for v in versions)  # fmt: skip
    modified = max((v.published_at for v in versions), default=uow.clock.now())
    catalog = DcatCatalog(
        base_url=base_url,
        title="公共数据资源目录",
        description="城市公共数据资源统一目录（目录上链，可验证）",
        publisher_name=BUREAU_NAME,
        publisher_id="bureau",
        modified=modified,
        datasets=datasets,
        page=page,
        page_size=page_size,
        total=total,
    )
    return serialise(catalog_graph(catalog), fmt)


def dataset_document(
    uow: UnitOfWork, *, actor: Actor | None, base_url: str, entry_id: str, fmt: Format
) -> tuple[bytes, str]:
    """One published entry as a DCAT-AP dataset, if the caller may see it."""
    stmt = _latest_versions().where(Entry.id == entry_id, *_published(actor))
    version = uow.session.scalar(stmt)
    public = actor is None or not can(actor, "catalog.read")
    if version is None or (public and version.document.get("open_type") == OpenType.NONE.value):
        raise EntryNotFound(f"no published entry {entry_id!r}")
    ledger = _ledger_indexes(uow, [entry_id])
    first = _first_published(uow, [entry_id])
    dataset = _dataset(version, base_url, ledger.get(entry_id), first.get(entry_id))
    return serialise(dataset_graph(dataset, base_url=base_url), fmt)
