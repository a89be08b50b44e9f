"""Base data (基础数据): golden registries of persons, enterprises and city components.

Each registry is built from the authoritative source of its key data element — persons by
citizen ID (公民身份号码), enterprises by USCC (统一社会信用代码), city components by component
code (部件标识码): the element's source entry and that entry's latest dataset version. The golden
file holds one row per valid key. Keys are folded first (full-width characters to ASCII,
whitespace removed, upper case); rows whose key is blank or fails its check (check character,
shape) are left out and counted; of the rows sharing a key the file's last one wins, a later
record superseding an earlier one. DuckDB builds it in two scans of the source version; it is
stored in the lake under its content hash and memoised per source version by a small JSON index
under ``<lake>/golden``, so a new version (or a changed key field) builds a new file.

:func:`copies` lists the departmental entries holding the same key element, with what their
latest assessments found against the registry. A reference rule names a registry with
``{"registry": "enterprise", "column": "统一社会信用代码"}`` (see ``elements.reference_files``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from gongshu.catalog import service as catalog
from gongshu.catalog.models import Entry, EntryField
from gongshu.datastore.models import DatasetVersion
from gongshu.datastore.service import Datastore, latest_version
from gongshu.identity import Actor, authorize
from gongshu.kernel.errors import InvalidInput, NotFound
from gongshu.kernel.uow import UnitOfWork
from gongshu.quality.checks import citizen_id_valid_sql, quote_ident, quote_literal, uscc_valid_sql
from gongshu.quality.models import DataElement, QualityReport
from gongshu.quality.profile import parquet_columns
from gongshu.quality.rules import REGISTRIES

__all__ = [
    "COMPONENT_CODE_PATTERN",
    "KINDS",
    "Copy",
    "Golden",
    "Kind",
    "RegistryNotReady",
    "component_code_valid_sql",
    "copies",
    "golden",
    "registries",
]

# GB/T 30428.2 部件标识码: 6-digit division code, 2-digit major and minor class, 6-digit number.
COMPONENT_CODE_PATTERN = r"[1-9][0-9]{5}0[1-9](0[1-9]|[1-9][0-9])[0-9]{6}"
# Bumped when the way a golden file is built changes, so memoised files are rebuilt.
_FORMAT = 1
_INDEX_DIR = "golden"
_FULL = "".join(chr(code) for code in range(0xFF01, 0xFF5F)) + "\u3000"
_HALF = "".join(chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)) + " "


def component_code_valid_sql(expr: str) -> str:
    """True for a 16-digit city component code of the GB/T 30428.2 shape."""
    return f"regexp_full_match({expr}, {quote_literal(COMPONENT_CODE_PATTERN)})"


@dataclass(frozen=True)
class Kind:
    """One registry: the element names its key goes by and the key's validity check."""

    code: str
    label: str
    element_names: tuple[str, ...]
    valid_sql: Callable[[str], str]
    # The default rule kinds that report an invalid key in a copy's assessment.
    invalid_rules: frozenset[str]


KINDS: Mapping[str, Kind] = {
    "person": Kind(
        "person", "人口", ("公民身份号码",), citizen_id_valid_sql, frozenset({"citizen_id"})
    ),
    "enterprise": Kind(
        "enterprise", "法人", ("统一社会信用代码",), uscc_valid_sql, frozenset({"uscc"})
    ),
    "component": Kind(
        "component",
        "城市部件",
        ("部件标识码", "城市部件标识码", "部件编码"),
        component_code_valid_sql,
        frozenset({"regex"}),
    ),
}
assert tuple(KINDS) == REGISTRIES  # the rules accept exactly these registry names


class RegistryNotReady(NotFound):
    """The registry's key element, its authoritative entry or that entry's data is missing."""

    code = "registry_not_ready"


@dataclass(frozen=True)
class Golden:
    """A golden registry file and how it was made from its source version."""

    kind: str
    element_code: str
    key: str
    entry_id: str
    entry_name: str
    version_id: str
    version_number: int
    file_hash: str
    path: Path
    columns: tuple[str, ...]
    rows: int
    duplicates: int
    invalid: int
    blank: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        out = asdict(self)
        out["path"], out["columns"] = str(self.path), list(self.columns)
        return out


@dataclass(frozen=True)
class Copy:
    """A departmental entry holding a registry's key element, and its latest findings.

    ``checks`` are the one-source findings of its latest version against the registry's source
    entry; ``invalid_keys`` and ``unknown_keys`` count the key values failing their check and
    missing from the registry (None when the version has no report, or no rule counts them).
    """

    entry_id: str
    entry_name: str
    provider_id: str
    field: str
    version_id: str | None
    version_number: int | None
    rows: int | None
    checks: list[dict[str, Any]]
    disagreeing: int
    invalid_keys: int | None
    unknown_keys: int | None


def _kind(kind: str) -> Kind:
    spec = KINDS.get(kind)
    if spec is None:
        raise InvalidInput.field(
            "kind", f"未知的基础数据 (unknown registry {kind!r}; known: {', '.join(KINDS)})"
        )
    return spec


def _element(uow: UnitOfWork, spec: Kind, *, with_source: bool) -> DataElement:
    """The registry's key element: by name, preferring one with an authoritative entry."""
    stmt = sa.select(DataElement).where(DataElement.name.in_(spec.element_names))
    if with_source:
        stmt = stmt.where(DataElement.source_entry_id.is_not(None))
    found = uow.session.scalars(
        stmt.order_by(DataElement.source_entry_id.is_(None), DataElement.code).limit(1)
    ).first()
    if found is None:
        wanted = "、".join(spec.element_names)
        needs = "并指定权威目录" if with_source else ""
        raise RegistryNotReady(
            f"基础数据「{spec.label}」未登记数据元「{wanted}」{needs} (no data element named "
            f"{' or '.join(spec.element_names)}{' with an authoritative entry' if needs else ''})",
            details={"kind": spec.code},
        )
    return found


def golden(uow: UnitOfWork, store: Datastore, kind: str) -> Golden:
    """The golden file of a registry, built from its source's latest version (memoised).

    No permission check: assessments call it; people list registries through :func:`registries`.
    """
    spec = _kind(kind)
    element = _element(uow, spec, with_source=True)
    entry = uow.session.get(Entry, element.source_entry_id)
    version = latest_version(uow, entry.id) if entry else None
    if entry is None or version is None:
        raise RegistryNotReady(
            f"基础数据「{spec.label}」的权威目录还没有数据版本 (the authoritative entry of "
            f"element {element.code} has no dataset version)",
            details={"kind": kind, "element_code": element.code},
        )
    key = _key_field(uow, entry, element)
    stored = [str(column["name"]) for column in version.columns]
    if key not in stored:
        raise RegistryNotReady(
            f"「{entry.name}」第 {version.number} 版没有主键字段「{key}」 (version "
            f"{version.number} of entry {entry.id} has no key field {key!r})",
            details={"kind": kind, "entry_id": entry.id, "field": key},
        )
    memo = {"format": _FORMAT, "kind": kind, "element_code": element.code, "key": key}
    index = store.lake.root / _INDEX_DIR / f"{version.id}.{kind}.json"
    made = _recall(store, index, memo) or _build(store, index, memo, version, spec)
    return Golden(
        kind=kind,
        element_code=element.code,
        key=key,
        entry_id=entry.id,
        entry_name=entry.name,
        version_id=version.id,
        version_number=version.number,
        file_hash=str(made["file_hash"]),
        path=store.lake.path_of(str(made["file_hash"])),
        columns=tuple(made["columns"]),
        rows=int(made["rows"]),
        duplicates=int(made["duplicates"]),
        invalid=int(made["invalid"]),
        blank=int(made["blank"]),
    )


def _key_field(uow: UnitOfWork, entry: Entry, element: DataElement) -> str:
    """The source entry's field holding the element, else the element's declared key."""
    name = uow.session.scalar(
        sa.select(EntryField.name)
        .where(EntryField.entry_id == entry.id, EntryField.element_code == element.code)
        .order_by(EntryField.position)
        .limit(1)
    )
    key = name or element.source_key
    if not key:
        raise RegistryNotReady(
            f"「{entry.name}」没有数据元 {element.code} 的字段 (entry {entry.id} has no field "
            f"for element {element.code} and the element names no key)",
            details={"entry_id": entry.id, "element_code": element.code},
        )
    return key


def _recall(store: Datastore, index: Path, memo: Mapping[str, Any]) -> dict[str, Any] | None:
    """The memoised build for this source version, if it is still valid and in the lake."""
    try:
        made: dict[str, Any] = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if any(made.get(name) != value for name, value in memo.items()):
        return None
    return made if store.lake.has(str(made.get("file_hash", ""))) else None


def _build(
    store: Datastore,
    index: Path,
    memo: Mapping[str, Any],
    version: DatasetVersion,
    spec: Kind,
) -> dict[str, Any]:
    """Build the golden file in DuckDB, put it in the lake and write its index."""
    source = str(store.path_of(version))
    key = str(memo["key"])
    folded = (
        f"nullif(upper(regexp_replace(translate(CAST({quote_ident(key)} AS VARCHAR), "
        f"{quote_literal(_FULL)}, {quote_literal(_HALF)}), '\\s+', '', 'g')), '')"
    )
    flagged = (
        f"(SELECT *, coalesce({spec.valid_sql('__key')}, false) AS __valid FROM "
        f"(SELECT *, {folded} AS __key FROM read_parquet({quote_literal(source)}, "
        "file_row_number = true)))"
    )
    with store.lake.scratch() as work, store.connect() as con:
        columns = list(parquet_columns(con, source, [key]))
        counted = con.execute(
            "SELECT count(*) FILTER (WHERE __key IS NULL), "
            "count(*) FILTER (WHERE __key IS NOT NULL AND NOT __valid), "
            "count(*) FILTER (WHERE __valid), count(DISTINCT __key) FILTER (WHERE __valid) "
            f"FROM {flagged}"
        ).fetchone()
        assert counted is not None
        kept = ", ".join(
            f"__key AS {quote_ident(name)}" if name == key else quote_ident(name)
            for name in columns
        )
        target = work / "golden.parquet"
        con.execute(
            f"COPY (SELECT {kept} FROM {flagged} WHERE __valid QUALIFY row_number() OVER "
            "(PARTITION BY __key ORDER BY file_row_number DESC) = 1 ORDER BY __key) "
            f"TO {quote_literal(str(target))} (FORMAT parquet, COMPRESSION zstd)"
        )
        file_hash, _size = store.lake.put(target)
    blank, invalid, valid, distinct = (int(n) for n in counted)
    made = dict(memo) | {
        "version_id": version.id,
        "file_hash": file_hash,
        "columns": columns,
        "rows": distinct,
        "duplicates": valid - distinct,
        "invalid": invalid,
        "blank": blank,
    }
    _write_index(index, made)
    return made


def _write_index(index: Path, made: Mapping[str, Any]) -> None:
    """Write the index whole (temporary file, then rename), so a reader never sees half."""
    index.parent.mkdir(parents=True, exist_ok=True)
    partial = index.with_name(f".{index.name}.{os.getpid()}")
    partial.write_text(json.dumps(made, ensure_ascii=False, sort_keys=True), encoding="utf-8")
    os.replace(partial, index)


def registries(uow: UnitOfWork, store: Datastore, *, actor: Actor) -> list[Golden]:
    """Every registry whose authoritative source has data, built or recalled."""
    authorize(actor, "dataset.read")
    found: list[Golden] = []
    for kind in KINDS:
        try:
            found.append(golden(uow, store, kind))
        except RegistryNotReady:
            continue
    return found


def copies(uow: UnitOfWork, *, actor: Actor, kind: str) -> list[Copy]:
    """The entries (other than the source) the actor may see that hold the registry's key
    element, each with its latest version's findings against the registry."""
    authorize(actor, "dataset.read")
    spec = _kind(kind)
    element = _element(uow, spec, with_source=False)
    source_id = element.source_entry_id
    rows = uow.session.execute(
        sa.select(Entry, EntryField.name)
        .join(EntryField, EntryField.entry_id == Entry.id)
        .where(EntryField.element_code == element.code, Entry.id != (source_id or ""))
        .order_by(Entry.name, Entry.id, EntryField.position)
    ).all()
    holders: dict[str, tuple[Entry, str]] = {}
    for entry, field in rows:
        if entry.id not in holders and catalog.visible(actor, entry):
            holders[entry.id] = (entry, field)
    latest = _latest_reports(uow, list(holders))
    source = uow.session.get(Entry, source_id) if source_id else None
    targets = {source.id, source.resource_code} if source else set()
    out: list[Copy] = []
    for entry_id, (entry, field) in holders.items():
        version, report = latest.get(entry_id, (None, None))
        checks = [
            dict(check)
            for check in ((report.source_findings or {}).get("checks", []) if report else [])
            if check.get("source_entry_id") == source_id
        ]
        results = report.results if report else []
        out.append(
            Copy(
                entry_id=entry.id,
                entry_name=entry.name,
                provider_id=entry.provider_id,
                field=field,
                version_id=version.id if version else None,
                version_number=version.number if version else None,
                rows=version.rows if version else None,
                checks=checks,
                disagreeing=sum(int(check.get("disagreeing", 0)) for check in checks),
                invalid_keys=_failed(results, field, lambda r: r["kind"] in spec.invalid_rules),
                unknown_keys=_failed(results, field, lambda r: _names_registry(r, kind, targets)),
            )
        )
    return out


def _latest_reports(
    uow: UnitOfWork, entry_ids: Sequence[str]
) -> dict[str, tuple[DatasetVersion, QualityReport | None]]:
    """Each entry's newest version with its quality report (None until it is assessed)."""
    if not entry_ids:
        return {}
    newest = (
        sa.select(DatasetVersion.entry_id, sa.func.max(DatasetVersion.number).label("number"))
        .where(DatasetVersion.entry_id.in_(entry_ids))
        .group_by(DatasetVersion.entry_id)
        .subquery("newest")
    )
    rows = uow.session.execute(
        sa.select(DatasetVersion, QualityReport)
        .join(
            newest,
            sa.and_(
                newest.c.entry_id == DatasetVersion.entry_id,
                newest.c.number == DatasetVersion.number,
            ),
        )
        .outerjoin(QualityReport, QualityReport.version_id == DatasetVersion.id)
    ).all()
    return {version.entry_id: (version, report) for version, report in rows}


def _names_registry(result: Mapping[str, Any], kind: str, targets: set[str]) -> bool:
    """True for a reference rule checking against the registry or its source entry."""
    params = result.get("params") or {}
    return result["kind"] == "reference" and (
        params.get("registry") == kind or params.get("entry") in targets
    )


def _failed(
    results: Sequence[Mapping[str, Any]],
    field: str,
    wanted: Callable[[Mapping[str, Any]], bool],
) -> int | None:
    """The failures of the wanted rules on ``field`` (None when no such rule ran)."""
    matching = [r for r in results if list(r.get("fields", [])) == [field] and wanted(r)]
    return sum(int(r.get("failed", 0)) for r in matching) if matching else None
