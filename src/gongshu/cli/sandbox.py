"""``gongshu sandbox``: guarded queries in the terminal, the grants they run under, the history."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from gongshu.cli.admin import _actor
from gongshu.cli.main import app, emit, handled, out, state
from gongshu.cli.setup import console_context, platform_for_cli
from gongshu.sandbox import history, service

__all__: list[str] = []

sandbox_app = typer.Typer(
    help="The sandbox (数据可用不可见): guarded queries under sandbox grants.", no_args_is_help=True
)
app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.command("query")
def query(
    grant: Annotated[str, typer.Option("--grant", "-g", help="The sandbox grant to query under.")],
    sql: Annotated[str | None, typer.Option(help="The SQL (or --file).")] = None,
    file: Annotated[Path | None, typer.Option(exists=True, dir_okay=False)] = None,
    epsilon: Annotated[float | None, typer.Option(help="DP grants: ε to spend.")] = None,
) -> None:
    """Run SQL under a sandbox grant (--as USER) and print what the policy releases."""
    with handled():
        text = file.read_text(encoding="utf-8") if file else sql
        if not text:
            raise typer.BadParameter("give --sql or --file")
        platform = platform_for_cli()
        with platform.uow(console_context(), writes=False) as uow:
            actor = _actor(uow)
        with Progress(
            SpinnerColumn(), TextColumn("沙箱计算中 (running in the sandbox)"), TimeElapsedColumn(),
            console=out, transient=True, disable=state.json,
        ) as progress:  # fmt: skip
            progress.add_task("query", total=None)
            result = service.run_query(
                platform.sandbox, actor=actor, grant_id=grant, sql=text, epsilon=epsilon
            )
        if state.json:
            emit(result.__dict__)
            return
        rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
        emit(rows, columns=result.columns, title=f"查询 {result.query_id} ({result.policy})")
        summary = {
            "rows": len(result.rows),
            "suppressed_groups": result.suppressed_groups,
            "epsilon_spent": result.epsilon_spent,
            "budget_left": result.budget_left,
            "truncated": result.truncated,
            "flagged": result.flagged,
            "elapsed_ms": result.elapsed_ms,
        }
        emit(summary)


@sandbox_app.command("grants")
def grants() -> None:
    """Your organisation's active sandbox grants (--as USER)."""
    with handled():
        platform = platform_for_cli()
        with platform.uow(console_context(), writes=False) as uow:
            actor = _actor(uow)
            rows = [
                {"id": g.id, "entry": g.entry_ref, "policy": g.release_policy,
                 "k": g.min_group_size, "budget": g.dp_epsilon_budget, "until": g.valid_until}
                for g in history.sandbox_grants(uow, actor=actor)
            ]  # fmt: skip
        emit(rows, columns=["id", "entry", "policy", "k", "budget", "until"], title="沙箱授权")


@sandbox_app.command("history")
def history_(
    grant: Annotated[str | None, typer.Option("--grant", "-g")] = None,
    flagged: Annotated[bool, typer.Option("--flagged", help="Only differencing flags.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """Recorded sandbox queries you may see (--as USER), newest first."""
    with handled():
        platform = platform_for_cli()
        with platform.uow(console_context(), writes=False) as uow:
            actor = _actor(uow)
            page = history.list_queries(
                uow, actor=actor, grant_id=grant, flagged=True if flagged else None, limit=limit
            )
            rows = [
                {"id": q.id, "at": q.created_at, "grant": q.grant_id, "outcome": q.outcome,
                 "error": q.error_code, "rows": q.rows_released,
                 "suppressed": q.groups_suppressed, "epsilon": q.epsilon_spent,
                 "flagged": q.flagged, "sql": q.sql if state.json else q.sql[:50]}
                for q in page.items
            ]  # fmt: skip
        emit(rows, columns=list(rows[0]) if rows else ["id"], title="沙箱查询记录")
