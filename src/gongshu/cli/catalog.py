"""``gongshu catalog``: import and export spreadsheets, search, review, reindex."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gongshu.catalog import imports, search, service
from gongshu.catalog.sheets import template_xlsx, write_csv, write_xlsx
from gongshu.cli.admin import _actor
from gongshu.cli.main import app, emit, err, handled, state
from gongshu.cli.setup import console_context, platform_for_cli
from gongshu.kernel.errors import InvalidInput

__all__: list[str] = []

catalog_app = typer.Typer(help="Unified catalogue (目录).", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=state.json,
    )


@catalog_app.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    commit: Annotated[
        bool, typer.Option("--commit", help="Store the entries (default: a dry run).")
    ] = False,
    submit: Annotated[bool, typer.Option(help="Submit the new entries for review.")] = False,
    sheet: Annotated[str | None, typer.Option(help="Worksheet name (xlsx).")] = None,
) -> None:
    """Check a spreadsheet of entries; with --commit store all of them or none."""
    with handled():
        platform = platform_for_cli()
        data = path.read_bytes()
        with platform.uow(console_context()) as uow, _progress() as bar:
            actor = _actor(uow)
            task = bar.add_task("storing entries" if commit else "checking entries", total=None)

            def tick(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total or None)

            report = imports.import_entries(
                uow, actor=actor, data=data, filename=path.name, sheet=sheet,
                dry_run=not commit, submit=submit, progress=tick,
            )  # fmt: skip
        result = report.as_dict()
        if not state.json and report.errors:
            emit(result["errors"], columns=["row", "column", "message"], title="问题 (problems)")
            result = {k: v for k, v in result.items() if k not in ("errors", "entry_ids")}
        elif not state.json:
            result = {k: v for k, v in result.items() if k not in ("errors", "entry_ids")}
        emit(result)
        if not report.ok:
            raise typer.Exit(2)


@catalog_app.command("export")
def export_file(
    path: Annotated[Path, typer.Argument(dir_okay=False, help="Target .xlsx or .csv file.")],
    encoding: Annotated[
        str, typer.Option(help="CSV encoding: utf-8-sig or gb18030.")
    ] = "utf-8-sig",
) -> None:
    """Write every entry you may see in the exchange format."""
    with handled():
        if path.suffix.lower() not in (".xlsx", ".csv"):
            raise InvalidInput.field("path", "use a .xlsx or .csv file name")
        platform = platform_for_cli()
        with platform.uow(console_context(), writes=False) as uow:
            rows = list(imports.export_rows(uow, actor=_actor(uow)))
        if path.suffix.lower() == ".xlsx":
            path.write_bytes(write_xlsx(rows, title="公共数据资源目录"))
        else:
            gb = encoding.lower() == "gb18030"
            path.write_bytes(write_csv(rows, encoding="gb18030" if gb else "utf-8-sig"))
        emit({"path": str(path), "entries": len(rows)})


@catalog_app.command("template")
def template(path: Annotated[Path, typer.Argument(dir_okay=False)]) -> None:
    """Write the blank import template (xlsx) with dropdowns and instructions."""
    path.write_bytes(template_xlsx())
    emit({"path": str(path)})


@catalog_app.command("search")
def search_command(
    q: Annotated[str, typer.Argument(help="Chinese full text.")],
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    """Search the catalogue."""
    with handled():
        platform = platform_for_cli()
        with platform.uow(console_context(), writes=False) as uow:
            result = search.search_entries(uow, actor=_actor(uow), q=q, limit=limit, facets=False)
            rows = [
                {"id": h.entry.id, "code": h.entry.resource_code, "name": h.entry.name,
                 "status": h.entry.status, "rank": round(h.rank, 3)}
                for h in result.hits
            ]  # fmt: skip
        emit(rows, columns=["code", "name", "status", "rank", "id"], title=f"{result.total} hits")


@catalog_app.command("queue")
def queue() -> None:
    """Entries waiting for the bureau's review, earliest deadline first."""
    with handled():
        platform = platform_for_cli()
        with platform.uow(console_context(), writes=False) as uow:
            today = service.today(uow)
            rows = [
                {"id": e.id, "name": e.name, "status": e.status, "due": e.review_due,
                 "overdue": e.review_overdue(today)}
                for e in service.review_queue(uow, actor=_actor(uow))
            ]  # fmt: skip
        emit(rows, columns=["name", "status", "due", "overdue", "id"])


@catalog_app.command("publish")
def publish(entry_id: str, note: Annotated[str, typer.Option(help="Review note.")] = "") -> None:
    """Approve a submitted entry and publish it as a new version."""
    with handled():
        platform = platform_for_cli()
        with platform.uow(console_context()) as uow:
            entry = service.approve_entry(
                uow, actor=_actor(uow), entry_id=entry_id, note=note, publish=True
            )
            emit({"id": entry.id, "status": entry.status, "version": entry.published_version})


@catalog_app.command("reindex")
def reindex() -> None:
    """Rebuild the search index (after the city dictionary changed)."""
    with handled():
        platform = platform_for_cli()
        with platform.uow(console_context()) as uow:
            count = search.reindex_all(uow)
            uow.commit()
        emit({"reindexed": count})
