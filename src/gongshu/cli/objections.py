"""``gongshu objections``: escalate overdue objections (for cron) and list them."""

from __future__ import annotations

from typing import Annotated

import typer

from gongshu.cli.admin import Today, _actor, deadline_sweep
from gongshu.cli.main import app, emit, handled, state
from gongshu.cli.setup import console_context, platform_for_cli
from gongshu.kernel.clock import local_date
from gongshu.quality import objections as service

__all__: list[str] = []

objections_app = typer.Typer(help="Data objections (数据异议).", no_args_is_help=True)
app.add_typer(objections_app, name="objections")

LIST_COLUMNS = ["id", "status", "entry", "handler", "due_on", "overdue", "escalated", "claim"]


@objections_app.command("escalate")
def escalate(today: Today = None) -> None:
    """Mark open objections past their deadline as escalated to the bureau (safe to rerun)."""
    with handled():
        escalated = deadline_sweep(service.escalate_overdue, today)
        emit({"escalated": len(escalated), "objection_ids": escalated})


@objections_app.command("list")
def list_objections(
    status: Annotated[
        list[str] | None, typer.Option(help="A status, or open / closed (repeatable).")
    ] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue ones.")] = False,
    mine: Annotated[bool, typer.Option("--mine", help="Only those you filed.")] = False,
    entry: Annotated[str | None, typer.Option(help="Only objections on this entry id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    cursor: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Objections you may follow (--as USER), escalated and overdue first."""
    with handled():
        platform = platform_for_cli()
        with platform.uow(console_context(), writes=False) as uow:
            actor = _actor(uow)
            page = service.list_objections(
                uow, actor=actor, status=status or (), entry_id=entry,
                overdue=True if overdue else None, mine=mine, cursor=cursor, limit=limit,
            )  # fmt: skip
            today = local_date(uow.clock.now())
            names = service.names(uow, page.items)
            rows = [
                {
                    "id": o.id,
                    "status": o.status,
                    "entry": names.entries.get(o.entry_id, o.entry_id),
                    "handler": names.organisations.get(o.handler_org_id, o.handler_org_id),
                    "due_on": o.due_on,
                    "overdue": service.is_overdue(o, today),
                    "escalated": o.escalated_at is not None,
                    "claim": o.claim if state.json else o.claim[:40],
                }
                for o in page.items
            ]
        if state.json:
            emit({"data": rows, "next_cursor": page.next_cursor})
            return
        emit(rows, columns=LIST_COLUMNS, title="数据异议 (objections)")
        if page.next_cursor:
            emit({"next_cursor": page.next_cursor})
