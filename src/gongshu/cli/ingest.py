"""``gongshu ingest``: load a file as a catalogue entry's next dataset version."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from gongshu.catalog.models import Entry
from gongshu.cli.admin import _actor
from gongshu.cli.main import app, emit, err, handled, state
from gongshu.cli.setup import console_context, platform_for_cli
from gongshu.datastore import service
from gongshu.datastore.errors import VersionRefused
from gongshu.kernel.errors import InvalidInput

__all__: list[str] = []

PHASES = {
    "hashing": "计算文件指纹 hashing",
    "reading": "读取文件 reading",
    "typing": "转换类型 typing",
    "storing": "写入数据湖 storing",
    "comparing": "比对上一版本 comparing",
    "assessing": "质量评估 assessing",
}


def _entry_id(platform: object, ref: str) -> str:
    with platform.uow(writes=False) as uow:  # type: ignore[attr-defined]
        found = uow.session.scalar(
            sa.select(Entry.id).where(sa.or_(Entry.id == ref, Entry.resource_code == ref))
        )
    if found is None:
        raise InvalidInput.field("entry", f"没有编号或资源代码为 {ref!r} 的目录 (no such entry)")
    return str(found)


@app.command("ingest")
def ingest(
    entry: Annotated[str, typer.Argument(help="Entry id or resource code.")],
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    sheet: Annotated[str | None, typer.Option(help="Worksheet name (xlsx).")] = None,
    note: Annotated[str, typer.Option(help="A note kept with the version.")] = "",
) -> None:
    """Load a CSV/TSV, XLSX, JSON, NDJSON or Parquet file as the entry's next version."""
    with handled():
        platform = platform_for_cli()
        store = replace(platform.datastore, uow=lambda: platform.uow(console_context()))
        store.lake.clean_scratch()
        entry_id = _entry_id(platform, entry)
        with platform.uow(console_context()) as uow:
            actor = _actor(uow)
        bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=err,
            disable=state.json,
        )
        with bar:
            task = bar.add_task(PHASES["hashing"], total=None)

            def tell(phase: str, percent: float | None) -> None:
                bar.update(
                    task,
                    description=PHASES.get(phase, phase),
                    total=100 if percent is not None else None,
                    completed=percent or 0,
                )

            try:
                outcome = service.ingest_file(
                    store, actor=actor, entry_id=entry_id, path=path, filename=path.name,
                    sheet=sheet, note=note, progress=tell,
                )  # fmt: skip
            except VersionRefused as refused:
                _print_report(refused.report)
                raise
        _print_report(outcome.report)
        emit({"status": outcome.status, "version": outcome.number,
              "version_id": outcome.version_id, "run_id": outcome.run_id})  # fmt: skip


def _print_report(report: dict[str, object]) -> None:
    if state.json or not report:
        return
    errors = report.get("errors") or []
    if isinstance(errors, list) and errors:
        emit(
            errors[:50],
            columns=["row", "column", "value", "reason"],
            title="问题单元格 (bad cells)",
        )
    keys = ("format", "encoding", "rows_read", "rows_stored", "rows_quarantined",
            "rows_structural", "error_totals")  # fmt: skip
    summary = {k: report.get(k) for k in keys}
    mapping = report.get("mapping")
    if isinstance(mapping, dict):
        summary["unmapped columns"] = mapping.get("unmapped")
        summary["missing fields"] = mapping.get("missing")
    emit(summary)
