"""The one access check every open data path calls: what may this caller read of this entry?

An entry is open when it is published, not deprecated, and open to the public
(``unconditional`` or ``conditional``) both in its working copy and in its published version —
the stricter of the two applies, so a revision under review can narrow at once but never widen.
Anything else is :class:`DatasetNotFound`, the same answer as for an id that does not exist.

* Unconditional: anyone reads every field except those flagged ``identifier`` or ``sensitive``.
* Conditional: only with an app key whose organisation holds an active grant for the delivery
  mode asked (``api`` for rows, ``file`` for downloads), and only the granted fields, under the
  grant's row filter.

The data is the entry's latest dataset version. What an entry looks like publicly (its fields,
version, row count) changes rarely and is read on every call, so :class:`EntryCache` keeps it
for a few seconds; a newly stored version drops it at once (see :meth:`EntryCache.forget`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gongshu.catalog.models import Entry, EntryVersion
from gongshu.catalog.vocab import EntryStatus, FieldFlag, OpenType
from gongshu.datastore.coerce import duckdb_type
from gongshu.datastore.service import latest_version
from gongshu.identity.authz import Actor
from gongshu.identity.grants import ALL_FIELDS, check_access
from gongshu.identity.models import DeliveryMode, Grant, Organisation, Role
from gongshu.kernel.uow import UnitOfWork
from gongshu.opendata.errors import (
    AccessNotGranted,
    AppKeyRequired,
    DataNotAvailable,
    DatasetNotFound,
)
from gongshu.opendata.keys import KeyInfo

__all__ = [
    "OPEN_TYPES",
    "EntryCache",
    "OpenAccess",
    "OpenEntry",
    "OpenField",
    "OpenVersion",
    "load_open_entry",
    "open_access",
    "open_entry_conditions",
]

OPEN_TYPES = (OpenType.UNCONDITIONAL.value, OpenType.CONDITIONAL.value)
_WITHHELD = frozenset({FieldFlag.IDENTIFIER.value, FieldFlag.SENSITIVE.value})


@dataclass(frozen=True)
class OpenField:
    """A field as the open API knows it: its stored type decides how filters are read."""

    name: str
    type: str
    description: str
    flags: frozenset[str]

    @property
    def withheld(self) -> bool:
        """True for personal fields that an unconditional entry never shows."""
        return bool(self.flags & _WITHHELD)

    @property
    def sql_type(self) -> str:
        """The DuckDB type the version stores the field as."""
        return duckdb_type(self.type)


@dataclass(frozen=True)
class OpenVersion:
    """The dataset version an open entry serves."""

    id: str
    number: int
    rows: int
    file_hash: str
    created_at: datetime


@dataclass(frozen=True)
class OpenEntry:
    """An open entry as its published version shows it, with its latest data version."""

    id: str
    name: str
    summary: str
    resource_code: str
    open_type: str
    provider_id: str
    provider_name: str
    keywords: tuple[str, ...]
    published_at: datetime
    fields: tuple[OpenField, ...]  # published fields that the data version holds
    version: OpenVersion | None


@dataclass(frozen=True)
class OpenAccess:
    """What one caller may read of one entry, and under which grant."""

    entry: OpenEntry
    version: OpenVersion
    fields: tuple[OpenField, ...]
    row_filter: dict[str, Any] | None
    grant_id: str | None
    grant_rate_limit: int | None

    @property
    def filtered(self) -> bool:
        """True when a grant narrows the rows."""
        return bool(self.row_filter)


def open_entry_conditions() -> list[Any]:
    """SQL conditions on :class:`Entry` for the open entries (working copy side)."""
    return [
        Entry.published_version.is_not(None),
        Entry.status != EntryStatus.DEPRECATED.value,
        Entry.open_type.in_(OPEN_TYPES),
    ]


def _stricter(a: str, b: str) -> str:
    return OpenType.CONDITIONAL.value if OpenType.CONDITIONAL.value in (a, b) else a


def load_open_entry(uow: UnitOfWork, entry_id: str) -> OpenEntry:
    """The open entry with this id, or :class:`DatasetNotFound` (also for non-open ones)."""
    found = uow.session.execute(
        sa.select(Entry.open_type, EntryVersion, Organisation.name)
        .join(
            EntryVersion,
            sa.and_(
                EntryVersion.entry_id == Entry.id, EntryVersion.number == Entry.published_version
            ),
        )
        .join(Organisation, Organisation.id == Entry.provider_id)
        .where(Entry.id == entry_id, *open_entry_conditions())
    ).first()
    if found is None or found[1].document.get("open_type") not in OPEN_TYPES:
        raise DatasetNotFound(f"没有开放数据集 {entry_id} (no open dataset {entry_id!r})")
    working_type, published, provider_name = found
    doc = published.document
    data = latest_version(uow, entry_id)
    version = None
    fields: tuple[OpenField, ...] = ()
    if data is not None:
        version = OpenVersion(data.id, data.number, data.rows, data.file_hash, data.created_at)
        stored = {c["name"]: c for c in data.columns}
        fields = tuple(
            OpenField(
                name=f["name"],
                type=stored[f["name"]]["type"],
                description=f.get("description") or "",
                flags=frozenset(f.get("flags") or ()) | frozenset(stored[f["name"]]["flags"]),
            )
            for f in doc.get("fields") or ()
            if f["name"] in stored
        )
    return OpenEntry(
        id=entry_id,
        name=doc["name"],
        summary=doc.get("summary") or "",
        resource_code=doc["resource_code"],
        open_type=_stricter(working_type, doc["open_type"]),
        provider_id=doc["provider"]["id"],
        provider_name=provider_name,
        keywords=tuple(doc.get("keywords") or ()),
        published_at=published.published_at,
        fields=fields,
        version=version,
    )


class EntryCache:
    """Open entries by id for ``ttl_seconds`` (found ones only: a miss is always looked up)."""

    def __init__(self, ttl_seconds: float = 5.0) -> None:
        self.ttl = ttl_seconds
        self._entries: dict[str, tuple[float, OpenEntry]] = {}
        self._lock = threading.Lock()

    def get(self, uow: UnitOfWork, entry_id: str) -> OpenEntry:
        """The open entry, from memory when fresh."""
        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(entry_id)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        entry = load_open_entry(uow, entry_id)
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[entry_id] = (now, entry)
        return entry

    def forget(self, entry_id: str | None = None) -> None:
        """Drop one entry (a new version, a changed entry), or all of them."""
        with self._lock:
            if entry_id is None:
                self._entries.clear()
            else:
                self._entries.pop(entry_id, None)


def open_access(
    uow: UnitOfWork,
    *,
    entry_id: str,
    key: KeyInfo | None,
    mode: DeliveryMode,
    cache: EntryCache | None = None,
) -> OpenAccess:
    """What the caller (anonymous, or an app key) may read of the entry by ``mode``, or why not."""
    entry = cache.get(uow, entry_id) if cache is not None else load_open_entry(uow, entry_id)
    if entry.version is None:
        raise DataNotAvailable(
            f"数据集 {entry.name} 尚无可提供的数据 (the dataset has no data yet)",
            details={"entry_id": entry.id},
        )
    if entry.open_type == OpenType.UNCONDITIONAL.value:
        fields = tuple(f for f in entry.fields if not f.withheld)
        return OpenAccess(entry, entry.version, fields, None, None, None)
    if key is None:
        raise AppKeyRequired(
            "有条件开放数据需要应用密钥和有效授权 (conditionally open data needs an app key "
            "whose organisation holds a grant)",
            details={"entry_id": entry.id, "mode": mode.value},
        )
    return _granted(uow, entry, key, mode)


def _granted(uow: UnitOfWork, entry: OpenEntry, key: KeyInfo, mode: DeliveryMode) -> OpenAccess:
    assert entry.version is not None
    # The key speaks for its organisation only; check_access looks at organisations alone.
    holder = Actor(
        user_id=key.user_id,
        username=f"app-key {key.prefix}",
        display_name=f"app key {key.prefix}",
        memberships=((key.organisation_id, Role.PUBLIC),),
        via="app_key",
    )
    decision = check_access(
        uow,
        actor=holder,
        entry_ref=entry.id,
        fields=[],
        mode=mode,
        organisation_id=key.organisation_id,
    )
    grant = uow.session.get(Grant, decision.grant_id) if decision.allowed else None
    if grant is None:
        raise AccessNotGranted(
            f"无有效授权 (no active grant lets this key's organisation read this data by "
            f"{mode.value}); 请先申请 (apply for access first)",
            details={"entry_id": entry.id, "mode": mode.value, "reason": decision.reason},
        )
    granted: Sequence[str] = grant.fields
    fields = tuple(f for f in entry.fields if ALL_FIELDS in granted or f.name in granted)
    return OpenAccess(
        entry, entry.version, fields, grant.row_filter, grant.id, grant.rate_limit_per_minute
    )
