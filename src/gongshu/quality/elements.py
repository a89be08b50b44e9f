"""Data elements and the one-source rule (一数一源一标准).

The bureau keeps a registry of data elements: code, name, type, format (a pattern), code list,
and the one department that is the authoritative source — optionally with the catalogue entry
holding its authoritative values and that entry's key field. From it the platform:

* gives every field that names an element the element's checks (type, pattern, code list);
* reports entries that claim an element although their provider is not its source
  (:func:`foreign_claims`);
* compares a version's values of an element with the authoritative entry's latest version for
  the same key and reports disagreements (:func:`source_checks` / :func:`run_source_checks`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import selectinload

from gongshu.catalog.models import Entry, EntryField
from gongshu.datastore.duck import quote, sql_string
from gongshu.datastore.models import DatasetVersion
from gongshu.datastore.service import Datastore, latest_version
from gongshu.identity import Actor, Organisation, audit, authorize
from gongshu.kernel.errors import InvalidInput, NotFound
from gongshu.kernel.text import mask_value
from gongshu.kernel.uow import UnitOfWork
from gongshu.quality import basedata
from gongshu.quality.models import DataElement
from gongshu.quality.rules import ElementSpec, Rule, RuleKind

__all__ = [
    "ElementInput",
    "SourceCheck",
    "foreign_claims",
    "list_elements",
    "reference_files",
    "run_source_checks",
    "save_element",
    "source_checks",
    "specs_for",
]

SAMPLES = 10


class ElementInput(BaseModel):
    """A data element as the bureau registers it."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=100)
    type: str = Field(default="string", max_length=20)
    pattern: str | None = Field(default=None, max_length=500)
    code_list: list[str] = Field(default_factory=list, max_length=10_000)
    description: str = Field(default="", max_length=1000)
    source: str = Field(min_length=1, description="the source organisation's id or code")
    source_entry_id: str | None = None
    source_key: str | None = Field(default=None, max_length=100)


def specs_for(uow: UnitOfWork, codes: Iterable[str | None]) -> dict[str, ElementSpec]:
    """The registered elements among ``codes``, as the rules take them."""
    wanted = sorted({c for c in codes if c})
    if not wanted:
        return {}
    rows = uow.session.scalars(sa.select(DataElement).where(DataElement.code.in_(wanted)))
    return {
        e.code: ElementSpec(
            code=e.code,
            name=e.name,
            type=e.type,
            pattern=e.pattern,
            code_list=tuple(e.code_list or ()),
        )
        for e in rows
    }


def list_elements(uow: UnitOfWork, *, actor: Actor) -> list[DataElement]:
    """Every registered element, by code."""
    authorize(actor, "dataset.read")
    return list(uow.session.scalars(sa.select(DataElement).order_by(DataElement.code)))


def save_element(uow: UnitOfWork, *, actor: Actor, data: ElementInput) -> DataElement:
    """Register or change a data element (bureau only)."""
    authorize(actor, "element.edit")
    source = uow.session.scalar(
        sa.select(Organisation).where(
            sa.or_(Organisation.id == data.source, Organisation.code == data.source)
        )
    )
    if source is None:
        raise InvalidInput.field(
            "source", f"没有编号或代码为 {data.source!r} 的单位 (no such organisation)"
        )
    if data.pattern:
        try:
            duckdb.sql(f"SELECT regexp_matches('', {sql_string(data.pattern)})").fetchall()
        except duckdb.Error as error:
            raise InvalidInput.field(
                "pattern", f"正则表达式无效 (invalid pattern): {error}"
            ) from error
    if data.source_entry_id:
        entry = uow.session.get(Entry, data.source_entry_id, options=[selectinload(Entry.fields)])
        if entry is None:
            raise InvalidInput.field("source_entry_id", "没有这个目录 (no such entry)")
        names = {f.name for f in entry.fields}
        if data.source_key and data.source_key not in names:
            raise InvalidInput.field("source_key", f"“{data.source_key}”不是该目录的数据项")
    element = uow.session.get(DataElement, data.code)
    before = _doc(element) if element else None
    if element is None:
        element = DataElement(code=data.code)
        uow.session.add(element)
    element.name, element.type, element.pattern = data.name, data.type, data.pattern
    element.code_list, element.description = list(data.code_list), data.description
    element.source_id = source.id
    element.source_entry_id, element.source_key = data.source_entry_id, data.source_key
    element.updated_at = uow.clock.now()
    audit(
        uow, actor, "element.saved", "data_element", data.code, before=before, after=_doc(element)
    )
    return element


def _doc(element: DataElement) -> dict[str, Any]:
    return {
        "code": element.code,
        "name": element.name,
        "type": element.type,
        "pattern": element.pattern,
        "code_list_size": len(element.code_list or []),
        "source_id": element.source_id,
        "source_entry_id": element.source_entry_id,
        "source_key": element.source_key,
    }


def get_element(uow: UnitOfWork, code: str) -> DataElement:
    """One element by code."""
    element = uow.session.get(DataElement, code)
    if element is None:
        raise NotFound(f"no data element {code!r}")
    return element


def foreign_claims(uow: UnitOfWork, *, actor: Actor) -> list[dict[str, Any]]:
    """Fields that claim an element although their entry's provider is not its source."""
    authorize(actor, "dataset.read")
    rows = uow.session.execute(
        sa.select(
            Entry.id, Entry.name, Entry.provider_id, EntryField.name, DataElement.code,
            DataElement.name, DataElement.source_id,
        )
        .join(EntryField, EntryField.entry_id == Entry.id)
        .join(DataElement, DataElement.code == EntryField.element_code)
        .where(Entry.provider_id != DataElement.source_id)
        .order_by(DataElement.code, Entry.name)
    ).all()  # fmt: skip
    return [
        {
            "entry_id": entry_id, "entry_name": entry_name, "provider_id": provider_id,
            "field": field_name, "element_code": code, "element_name": element_name,
            "source_id": source_id,
        }
        for entry_id, entry_name, provider_id, field_name, code, element_name, source_id in rows
    ]  # fmt: skip


def reference_files(uow: UnitOfWork, store: Datastore, rules: Sequence[Rule]) -> dict[str, str]:
    """For each reference rule, the file it checks against: the latest version of the entry it
    points to, or the golden file of the base-data registry it names."""
    found: dict[str, str] = {}
    for rule in rules:
        if rule.kind != RuleKind.REFERENCE:
            continue
        if "registry" in rule.params:
            kind, column = str(rule.params["registry"]), str(rule.params["column"])
            try:
                registry = basedata.golden(uow, store, kind)
            except basedata.RegistryNotReady as error:
                raise InvalidInput.field(
                    f"rules.{rule.id}", f"被引用的基础数据 {kind!r} 不可用 ({error.message})"
                ) from error
            if column not in registry.columns:
                raise InvalidInput.field(
                    f"rules.{rule.id}",
                    f"基础数据 {kind!r} 没有字段「{column}」 (the registry has no column "
                    f"{column!r}; columns: {', '.join(registry.columns)})",
                )
            found[rule.id] = str(registry.path)
            continue
        target = str(rule.params.get("entry", ""))
        entry_id = uow.session.scalar(
            sa.select(Entry.id).where(sa.or_(Entry.id == target, Entry.resource_code == target))
        )
        version = latest_version(uow, entry_id) if entry_id else None
        if version is None:
            raise InvalidInput.field(
                f"rules.{rule.id}",
                f"被引用的目录 {target!r} 还没有数据版本 (no version to check against)",
            )
        found[rule.id] = str(store.path_of(version))
    return found


@dataclass(frozen=True)
class SourceCheck:
    """Compare ``field`` with the authoritative ``source_field``, matching ``key`` rows."""

    element_code: str
    field: str
    key: str
    source_path: str
    source_key: str
    source_field: str
    source_entry_id: str


def source_checks(
    uow: UnitOfWork, store: Datastore, *, entry: Entry, version: DatasetVersion
) -> list[SourceCheck]:
    """The comparisons this version calls for (elements with an authoritative entry elsewhere)."""
    by_code = {f.element_code: f.name for f in entry.fields if f.element_code}
    if not by_code:
        return []
    stored = {c["name"] for c in version.columns}
    checks: list[SourceCheck] = []
    for element in uow.session.scalars(
        sa.select(DataElement).where(
            DataElement.code.in_(sorted(by_code)),
            DataElement.source_entry_id.is_not(None),
            DataElement.source_entry_id != entry.id,
        )
    ):
        source = uow.session.get(
            Entry, element.source_entry_id, options=[selectinload(Entry.fields)]
        )
        latest = latest_version(uow, source.id) if source else None
        if source is None or latest is None or not element.source_key:
            continue
        key_element = next(
            (f.element_code for f in source.fields if f.name == element.source_key), None
        )
        local_key = by_code.get(key_element) if key_element else None
        local_key = local_key or (element.source_key if element.source_key in stored else None)
        source_field = next((f.name for f in source.fields if f.element_code == element.code), None)
        field = by_code[element.code]
        if not local_key or not source_field or field not in stored or local_key == field:
            continue
        checks.append(
            SourceCheck(
                element_code=element.code,
                field=field,
                key=local_key,
                source_path=str(store.path_of(latest)),
                source_key=element.source_key,
                source_field=source_field,
                source_entry_id=source.id,
            )
        )
    return checks


def run_source_checks(
    con: duckdb.DuckDBPyConnection, path: str, checks: Sequence[SourceCheck]
) -> dict[str, Any]:
    """Matched keys and disagreeing values per check, with a few masked examples."""
    out: list[dict[str, Any]] = []
    for check in checks:
        mine = f"read_parquet({sql_string(path)})"
        theirs = f"read_parquet({sql_string(check.source_path)})"
        joined = (
            f"FROM {mine} AS m JOIN (SELECT {quote(check.source_key)} AS k, "
            f"any_value({quote(check.source_field)}) AS v FROM {theirs} GROUP BY 1) AS s "
            f"ON CAST(m.{quote(check.key)} AS VARCHAR) = CAST(s.k AS VARCHAR)"
        )
        differs = f"CAST(m.{quote(check.field)} AS VARCHAR) IS DISTINCT FROM CAST(s.v AS VARCHAR)"
        counted = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE {differs}) {joined}"
        ).fetchone()
        assert counted is not None
        examples = con.execute(
            f"SELECT m.{quote(check.key)}, m.{quote(check.field)}, s.v {joined} "
            f"WHERE {differs} LIMIT {SAMPLES}"
        ).fetchall()
        out.append(
            {
                "element_code": check.element_code,
                "field": check.field,
                "key": check.key,
                "source_entry_id": check.source_entry_id,
                "matched": int(counted[0]),
                "disagreeing": int(counted[1]),
                "examples": [
                    {"key": mask_value(k), "value": str(v), "source_value": str(sv)}
                    for k, v, sv in examples
                ],
            }
        )
    return {"checks": out}
