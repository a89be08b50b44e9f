"""What a query may see: one view per granted entry, named by its resource code.

Each view exposes only the granted fields of the pinned (or latest) version, with the grant's
row filter inside it. For the ``aggregate`` and ``dp`` policies it also carries a hidden
``__subject`` column — the entry's personal-identifier field, else its key, else the file row
number — which the guard counts distinct values of and the user can never name or see.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from gongshu.catalog.models import Entry
from gongshu.catalog.vocab import FieldFlag
from gongshu.datastore import duck
from gongshu.datastore.models import DatasetVersion
from gongshu.datastore.service import Datastore, latest_version
from gongshu.identity.models import Grant
from gongshu.kernel.uow import UnitOfWork
from gongshu.sandbox.errors import GrantNotUsable
from gongshu.sandbox.guard import FieldSpec, TableSpec
from gongshu.sandbox.models import SubjectProfile
from gongshu.sandbox.worker import ViewSpec

__all__ = ["Source", "row_filter_sql", "source_for"]

ALL_FIELDS = "*"


@dataclass(frozen=True)
class Source:
    """One granted table: what the guard checks against and what the worker builds."""

    entry: Entry
    version: DatasetVersion
    spec: TableSpec
    view: ViewSpec
    grant_id: str | None
    min_group_size: int | None
    subject_sql: str | None  # the hidden subject expression (None for the rows policy)
    subject_unique: bool | None  # every row a different subject? None: not measured yet

    def measured(self, unique: bool) -> Source:
        """This source once its subject column has been profiled."""
        spec = replace(self.spec, unique_subjects=unique)
        return replace(self, spec=spec, subject_unique=unique)


def _text(value: Any) -> str:
    # As DuckDB casts the stored value to VARCHAR: booleans are lower case.
    return str(value).lower() if isinstance(value, bool) else str(value)


def row_filter_sql(row_filter: dict[str, Any] | None, present: set[str]) -> str | None:
    """The grant's row filter as a predicate: every listed field IN its values."""
    if not row_filter:
        return None
    parts = []
    for name, values in sorted(row_filter.items()):
        if name not in present:
            # A filter on a field the version lacks matches nothing: deny rather than widen.
            return "FALSE"
        listed = values if isinstance(values, list) else [values]
        if not listed:
            return "FALSE"
        texts = ", ".join(duck.sql_string(_text(v)) for v in listed)
        parts.append(f"CAST({duck.quote(name)} AS VARCHAR) IN ({texts})")
    return " AND ".join(parts)


def _subject(entry: Entry, version: DatasetVersion, present: set[str]) -> str:
    identifiers = [
        f.name for f in entry.fields if FieldFlag.IDENTIFIER in f.flags and f.name in present
    ]
    if identifiers:
        return duck.quote(identifiers[0])
    keys = [k for k in version.key_fields if k in present]
    if len(keys) == 1:
        return duck.quote(keys[0])
    if keys:
        return (
            "concat_ws('|', " + ", ".join(f"CAST({duck.quote(k)} AS VARCHAR)" for k in keys) + ")"
        )
    return "file_row_number"


def _version(uow: UnitOfWork, entry: Entry, pinned: str | None) -> DatasetVersion:
    if pinned:
        version = uow.session.get(DatasetVersion, pinned)
        if version is None or version.entry_id != entry.id:
            raise GrantNotUsable(f"授权指定的数据版本不存在 (pinned version {pinned} is missing)")
        return version
    latest = latest_version(uow, entry.id)
    if latest is None:
        raise GrantNotUsable(
            f"目录 {entry.resource_code} 尚无数据版本 (entry {entry.resource_code} has no data yet)"
        )
    return latest


def source_for(
    uow: UnitOfWork,
    store: Datastore,
    *,
    entry_id: str,
    fields: list[str],
    row_filter: dict[str, Any] | None,
    params: dict[str, Any],
    hidden_subject: bool,
    pinned_version_id: str | None = None,
    grant: Grant | None = None,
) -> Source:
    """The view of one entry's data as a grant (or a model's owner) may see it."""
    entry = uow.session.scalar(
        sa.select(Entry).where(Entry.id == entry_id).options(selectinload(Entry.fields))
    )
    if entry is None:
        raise GrantNotUsable(f"授权的目录不存在 (the granted entry {entry_id} does not exist)")
    version = _version(uow, entry, pinned_version_id)
    present = {c["name"] for c in version.columns}
    wanted = present if ALL_FIELDS in fields else present & set(fields)
    bounds = params.get("bounds", {})
    domains = params.get("domains", {})
    specs = tuple(
        FieldSpec(
            name=f.name,
            type=f.type,
            flags=frozenset(f.flags),
            domain=tuple(domains[f.name]) if f.name in domains else None,
            bounds=(float(bounds[f.name][0]), float(bounds[f.name][1]))
            if f.name in bounds
            else None,
        )
        for f in entry.fields
        if f.name in wanted
    )
    select = [duck.quote(s.name) for s in specs]
    subject = _subject(entry, version, present) if hidden_subject else None
    unique = None
    if subject is not None:
        select.append(f"{subject} AS __subject")
        unique = uow.session.scalar(
            sa.select(SubjectProfile.unique_rows).where(
                SubjectProfile.version_id == version.id, SubjectProfile.subject_sql == subject
            )
        )
    name = entry.resource_code
    view = ViewSpec(
        name=name,
        path=str(store.path_of(version)),
        select_sql=", ".join(select) or "NULL AS __none",
        where_sql=row_filter_sql(row_filter, present),
    )
    return Source(
        entry=entry,
        version=version,
        spec=TableSpec(name=name, fields=specs, unique_subjects=bool(unique)),
        view=view,
        grant_id=grant.id if grant else None,
        min_group_size=grant.min_group_size if grant else None,
        subject_sql=subject,
        subject_unique=unique,
    )
