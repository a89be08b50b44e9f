"""Bulk import and export of catalogue entries in the spreadsheets departments exchange.

An import is checked whole before anything is written: every row is parsed, validated and
resolved against the city (providers, rights, duplicates, related entries), and every problem
is reported with its row, column and reason. Only a clean file is stored, in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, time

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import selectinload

from gongshu.catalog import service
from gongshu.catalog.errors import ImportRejected
from gongshu.catalog.models import Entry
from gongshu.catalog.resolve import OrgIndex, Resolved, invalid_from_validation, resolve
from gongshu.catalog.schemas import COLUMN_OF, EntryInput
from gongshu.catalog.sheets import CellError, SheetRow, input_to_row, read_table, row_to_input
from gongshu.catalog.vocab import Column
from gongshu.identity import ACTIONS, Actor, authorize
from gongshu.identity.errors import NotPermitted
from gongshu.kernel.clock import BEIJING
from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.uow import UnitOfWork

__all__ = ["ImportReport", "export_rows", "import_entries"]

Progress = Callable[[int, int], None]
MAX_REPORTED_ERRORS = 1000


@dataclass
class ImportReport:
    """What an import found (dry run) or did (commit)."""

    filename: str
    sheet: str
    rows: int
    dry_run: bool
    created: int = 0
    errors: list[CellError] = field(default_factory=list)
    error_count: int = 0
    warnings: list[str] = field(default_factory=list)
    entry_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file has no errors."""
        return self.error_count == 0

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form for the API and the CLI's --json."""
        return {
            "filename": self.filename,
            "sheet": self.sheet,
            "rows": self.rows,
            "dry_run": self.dry_run,
            "created": self.created,
            "ok": self.ok,
            "error_count": self.error_count,
            "errors": [
                {"row": e.row, "column": e.column, "message": e.message} for e in self.errors
            ],
            "warnings": self.warnings,
            "entry_ids": self.entry_ids,
        }


def _updated_on(value: str) -> datetime | None:
    if not value:
        return None
    try:
        day = datetime.fromisoformat(value[:10]).date()
    except ValueError:
        return None
    return datetime.combine(day, time(12), BEIJING)


@dataclass
class _Row:
    sheet_row: SheetRow
    data: EntryInput
    resolved: Resolved | None = None


def _column(path: str) -> str:
    return COLUMN_OF.get(path.split(".")[0], Column.NAME).value


def import_entries(
    uow: UnitOfWork,
    *,
    actor: Actor,
    data: bytes,
    filename: str,
    sheet: str | None = None,
    dry_run: bool = True,
    submit: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Check a spreadsheet of entries and, unless ``dry_run``, store all of them or none."""
    if not actor.roles & set(ACTIONS["catalog.edit"].roles):
        authorize(actor, "catalog.edit")
    table = read_table(data, filename=filename, sheet=sheet)
    report = ImportReport(filename, table.sheet, len(table.rows), dry_run)
    report.warnings = [
        f"未识别的列 (unknown column) {h!r} was ignored" for h in table.unknown_headers
    ]
    errors: list[CellError] = []
    parsed: list[_Row] = []
    for sheet_row in table.rows:
        values, row_errors = row_to_input(sheet_row)
        errors.extend(row_errors)
        if values is not None:
            try:
                parsed.append(_Row(sheet_row, EntryInput.model_validate(values)))
            except ValidationError as exc:
                for detail in invalid_from_validation(exc, "").details or []:
                    path = str(detail["path"]).lstrip(".")
                    errors.append(CellError(sheet_row.row, _column(path), detail["message"]))
    orgs = OrgIndex.load(uow)
    names_in_file = _check_names(uow, parsed, orgs, errors)
    for item in parsed:
        # Related entries named in the same file resolve to themselves at commit time.
        refs = [ref for ref in item.data.related if ref not in names_in_file]
        try:
            item.resolved = resolve(
                uow,
                actor=actor,
                data=item.data.model_copy(update={"related": refs}),
                orgs=orgs,
            )
        except NotPermitted:
            message = f"无权为 {item.data.provider} 编目 (no right to keep its entries)"
            errors.append(CellError(item.sheet_row.row, Column.PROVIDER.value, message))
        except InvalidInput as exc:
            for detail in exc.details or [{"path": "name", "message": str(exc)}]:
                errors.append(CellError(item.sheet_row.row, _column(str(detail["path"])),
                                        str(detail["message"])))  # fmt: skip
        if progress:
            progress(len(parsed), 0)
    errors.sort(key=lambda e: (e.row, e.column))
    report.error_count = len(errors)
    report.errors = errors[:MAX_REPORTED_ERRORS]
    if dry_run:
        return report
    if errors:
        raise ImportRejected(
            f"{filename}: {len(errors)} error(s), nothing was stored; first: row "
            f"{errors[0].row}, {errors[0].column or '-'}: {errors[0].message}",
            details=report.as_dict()["errors"],
        )
    _store(uow, actor, parsed, orgs, names_in_file, submit, report, progress)
    uow.commit()
    return report


def _check_names(
    uow: UnitOfWork, parsed: list[_Row], orgs: OrgIndex, errors: list[CellError]
) -> set[str]:
    """Duplicate names within the file or against the catalogue, per provider."""
    seen: dict[tuple[str, str], int] = {}
    for item in parsed:
        provider = orgs.find(item.data.provider)
        key = (provider.id if provider else item.data.provider, item.data.name)
        if key in seen:
            message = f"重复的目录名称 (duplicate name; first on row {seen[key]})"
            errors.append(CellError(item.sheet_row.row, Column.NAME.value, message))
        else:
            seen[key] = item.sheet_row.row
    existing: set[tuple[str, str]] = set()
    provider_ids = {key[0] for key in seen}
    for chunk in _chunks(sorted(provider_ids), 500):
        rows = uow.session.execute(
            sa.select(Entry.provider_id, Entry.name).where(Entry.provider_id.in_(chunk))
        )
        existing.update((p, n) for p, n in rows)
    for key, row in seen.items():
        if key in existing:
            message = "目录已存在 (this provider already has an entry of this name)"
            errors.append(CellError(row, Column.NAME.value, message))
    names = {item.data.name for item in parsed}
    for item in parsed:
        for ref in item.data.related:
            if ref == item.data.name:
                errors.append(CellError(item.sheet_row.row, Column.RELATED.value,
                                        "an entry cannot relate to itself"))  # fmt: skip
    return names


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _store(
    uow: UnitOfWork,
    actor: Actor,
    parsed: list[_Row],
    orgs: OrgIndex,
    names_in_file: set[str],
    submit: bool,
    report: ImportReport,
    progress: Progress | None,
) -> None:
    by_name: dict[str, list[Entry]] = {}
    stored: list[tuple[_Row, Entry]] = []
    total = len(parsed)
    for done, item in enumerate(parsed, start=1):
        assert item.resolved is not None
        entry = service.add_entry(
            uow,
            actor=actor,
            resolved=item.resolved,
            orgs=orgs,
            data_updated_at=_updated_on(item.sheet_row.cells.get(Column.UPDATED_ON, "")),
            check_unique=False,
        )
        by_name.setdefault(entry.name, []).append(entry)
        stored.append((item, entry))
        if progress:
            progress(done, total)
    for item, entry in stored:
        local = []
        for ref in item.data.related:
            if ref in names_in_file:
                same = [e for e in by_name[ref] if e.provider_id == entry.provider_id]
                local.append((same or by_name[ref])[0].id)
        if local:
            entry.related = list(dict.fromkeys([*entry.related, *local]))
        if submit:
            service.submit_loaded(uow, actor=actor, entry=entry, orgs=orgs)
    report.entry_ids = [entry.id for _, entry in stored]
    report.created = len(stored)


def export_rows(
    uow: UnitOfWork, *, actor: Actor, entry_ids: Iterable[str] | None = None
) -> Iterable[dict[Column, str]]:
    """Entries the actor may see as exchange rows (Chinese labels), streamed in batches."""
    authorize(actor, "catalog.read")
    orgs = OrgIndex.load(uow)
    wanted = list(entry_ids) if entry_ids is not None else None
    last = -1
    while True:
        stmt = (
            sa.select(Entry)
            .where(Entry.seq > last)
            .order_by(Entry.seq)
            .limit(500)
            .options(selectinload(Entry.fields))
        )
        if wanted is not None:
            stmt = stmt.where(Entry.id.in_(wanted))
        batch = list(uow.session.scalars(stmt))
        if not batch:
            return
        names = _names_of_related(uow, batch)
        for entry in batch:
            if service.visible(actor, entry):
                yield _row_of(entry, orgs, names)
        last = batch[-1].seq


def _names_of_related(uow: UnitOfWork, batch: list[Entry]) -> dict[str, str]:
    ids = {ref for entry in batch for ref in entry.related}
    if not ids:
        return {}
    rows = uow.session.execute(sa.select(Entry.id, Entry.name).where(Entry.id.in_(ids)))
    return {entry_id: name for entry_id, name in rows}


def _row_of(entry: Entry, orgs: OrgIndex, names: dict[str, str]) -> dict[Column, str]:
    values: dict[str, object] = {
        "kind": entry.kind,
        "name": entry.name,
        "summary": entry.summary,
        "keywords": entry.keywords,
        "provider": orgs.name_of(entry.provider_id) or entry.provider_id,
        "district": orgs.name_of(entry.district_id),
        "fields": [
            {
                "name": f.name,
                "type": f.type,
                "description": f.description,
                "element_code": f.element_code,
                "flags": f.flags,
            }
            for f in entry.fields
        ],
        "format": entry.format,
        "update_frequency": entry.update_frequency,
        "share_type": entry.share_type,
        "share_conditions": entry.share_conditions,
        "delivery": entry.delivery,
        "legal_basis": entry.legal_basis,
        "open_type": entry.open_type,
        "open_conditions": entry.open_conditions,
        "theme": entry.theme,
        "impact": entry.impact,
        "grade": entry.grade if entry.grade != entry.computed_grade else None,
        "grade_reason": entry.grade_reason,
        "related": [names.get(ref, ref) for ref in entry.related],
        "duty": entry.duty,
        "system": entry.system,
        "table": entry.table_name,
    }
    row = input_to_row(values)
    row[Column.RESOURCE_CODE] = entry.resource_code
    row[Column.PUBLISHED_ON] = (
        entry.first_published_at.astimezone(BEIJING).date().isoformat()
        if entry.first_published_at
        else ""
    )
    row[Column.UPDATED_ON] = (
        entry.data_updated_at.astimezone(BEIJING).date().isoformat()
        if entry.data_updated_at
        else ""
    )
    return row
