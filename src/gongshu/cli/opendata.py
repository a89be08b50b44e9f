"""``gongshu open``: the open data portal's scheduled work (for cron): overdue data
requests and housekeeping of derived files."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated

import typer

from gongshu.cli.admin import Today, _actor, deadline_sweep
from gongshu.cli.main import app, emit, handled, state
from gongshu.cli.setup import console_context, platform_for_cli
from gongshu.identity import CONSOLE
from gongshu.opendata import housekeeping
from gongshu.opendata import requests as data_requests
from gongshu.opendata.downloads import DownloadFiles
from gongshu.opendata.serving import RowStore

__all__: list[str] = []

open_app = typer.Typer(help="Open data portal (公共数据开放).", no_args_is_help=True)
app.add_typer(open_app, name="open")


@open_app.command("flag-overdue-requests")
def flag_overdue_requests(today: Today = None) -> None:
    """Put an overdue notice on each data request (接诉即办) past its deadline (safe to rerun)."""
    with handled():
        flagged = deadline_sweep(data_requests.flag_overdue, today)
        emit({"flagged": len(flagged), "request_ids": flagged})


@open_app.command("prune")
def prune_files(
    days: Annotated[
        int, typer.Option(min=1, help="Delete downloads nobody asked for in this many days.")
    ] = 30,
) -> None:
    """Delete serving copies of superseded versions and unused download files (for cron)."""
    with handled():
        platform = platform_for_cli()
        store = platform.datastore
        rows = RowStore(store.lake, memory_limit=store.memory_limit, threads=store.threads)
        downloads = DownloadFiles(store.lake, store.connect)
        with platform.uow(console_context()) as uow:
            actor = _actor(uow) if state.actor else CONSOLE
            done = housekeeping.prune(
                uow, rows=rows, downloads=downloads, unused_for=timedelta(days=days),
                now=uow.clock.now(), actor=actor,
            )  # fmt: skip
            uow.commit()
        emit(asdict(done))
