"""``gongshu ledger``: sign checkpoints, export the log, verify it live or offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gongshu.cli.main import app, emit, err, handled, state
from gongshu.cli.setup import console_context, platform_for_cli
from gongshu.ledger import service as ledger
from gongshu.ledger.verify import Report, export_ledger, verify_database, verify_export

__all__: list[str] = []

ledger_app = typer.Typer(help="Tamper-evident ledger (目录上链).", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")

EXIT_TAMPERED = 9


@ledger_app.command("status")
def status() -> None:
    """Entries in the log and the newest checkpoint."""
    with handled():
        platform = platform_for_cli()
        with platform.uow(console_context(), writes=False) as uow:
            keys = platform.ledger_keys
            latest = ledger.latest_checkpoint(uow)
            emit(
                {
                    "entries": ledger.tree_size(uow, keys=keys),
                    "hash_algorithm": keys.hasher.name,
                    "origin": keys.origin,
                    "latest_checkpoint": latest.size if latest else None,
                }
            )


@ledger_app.command("checkpoint")
def checkpoint() -> None:
    """Sign the current tree head and print the signed note."""
    with handled():
        platform = platform_for_cli()
        with platform.uow(console_context()) as uow:
            row = ledger.make_checkpoint(uow, keys=platform.ledger_keys)
            if state.json:
                emit({"size": row.size, "root": row.root, "note": row.note})
            else:
                typer.echo(row.note, nl=False)


@ledger_app.command("export")
def export(directory: Path) -> None:
    """Write a self-contained directory that `gongshu ledger verify --export` checks offline."""
    with handled():
        platform = platform_for_cli()
        with platform.uow(console_context(), writes=False) as uow:
            count = export_ledger(uow, keys=platform.ledger_keys, directory=directory)
        emit({"directory": str(directory), "entries": count})


def _report(report: Report) -> None:
    emit(
        {
            "ok": report.ok,
            "entries": report.entries,
            "checkpoints": report.checkpoints,
            "first_problem": report.problems[0] if report.problems else None,
        }
    )
    if not report.ok:
        raise typer.Exit(EXIT_TAMPERED)


@ledger_app.command("verify")
def verify(
    export_dir: Annotated[
        Path | None,
        typer.Option("--export", help="Verify this export offline instead of the live database."),
    ] = None,
) -> None:
    """Recompute every hash and check every checkpoint; name the first bad entry."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with handled(), Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("verify", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        if export_dir is not None:
            report = verify_export(export_dir, progress=progress)
        else:
            platform = platform_for_cli()
            with platform.uow(console_context(), writes=False) as uow:
                report = verify_database(uow, keys=platform.ledger_keys, progress=progress)
    _report(report)
