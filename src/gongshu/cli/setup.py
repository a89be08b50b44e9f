"""Set-up commands: ``init``, ``demo``, ``serve`` and ``up`` (all three, for the README)."""

from __future__ import annotations

import getpass
import os
import secrets
import socket
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gongshu.bootstrap import Platform, build
from gongshu.cli.main import app, emit, err, handled, out, state
from gongshu.identity import calendar as calendar_service
from gongshu.identity.service import CONSOLE
from gongshu.kernel.crypto import load_or_create_signer, load_or_create_symmetric_key
from gongshu.kernel.uow import RequestContext

if TYPE_CHECKING:
    from gongshu.demo.load import DemoSummary

__all__ = ["console_context", "platform_for_cli"]


def console_context() -> RequestContext:
    """Where console commands come from, for the audit trail."""
    return RequestContext(
        request_id=f"cli_{secrets.token_hex(6)}",
        source_address=f"cli:{getpass.getuser()}@{socket.gethostname()}",
    )


def platform_for_cli() -> Platform:
    """Build the platform and make sure its database answers."""
    platform = build()
    state.closers.append(platform.dispose)
    platform.check_database()
    return platform


def _init(platform: Platform) -> dict[str, object]:
    from gongshu.migrations import current_revision, head_revision, upgrade

    before = current_revision(platform.engine)
    upgrade(platform.engine)
    with platform.uow(console_context()) as uow:
        seeded = calendar_service.seed_calendar(uow, actor=CONSOLE)
    settings = platform.settings
    signer = load_or_create_signer(settings.keys_dir, settings.signature_algorithm)
    load_or_create_symmetric_key(settings.keys_dir, settings.encryption_algorithm)
    return {
        "home": str(settings.home.resolve()),
        "database": platform.engine.url.render_as_string(hide_password=True),
        "schema_from": before,
        "schema_to": head_revision(platform.engine),
        "calendar_years_seeded": f"{seeded[0]}–{seeded[-1]}" if seeded else "none (up to date)",
        "signing_key": f"{signer.algorithm} {signer.public_key_bytes().hex()[:16]}…",
    }


@app.command()
def init() -> None:
    """Create or upgrade the schema, seed the working-day calendar, create keys."""
    with handled():
        platform = platform_for_cli()
        emit(_init(platform))


def _load_demo(platform: Platform) -> DemoSummary | None:
    from gongshu.demo.load import demo_loaded, load_demo

    with platform.uow() as uow:
        if demo_loaded(uow):
            return None
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=state.json) as bar:
        tasks: dict[str, object] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"演示城市 demo · {stage}", total=total)
            bar.update(tasks[stage], completed=done)  # type: ignore[arg-type]

        return load_demo(
            lambda: platform.uow(console_context()),
            passwords=platform.passwords,
            progress=report,
            datastore=replace(platform.datastore, uow=lambda: platform.uow(console_context())),
        )


def _print_personas(summary: DemoSummary | None, platform: Platform) -> None:
    from gongshu.demo.citydata import DEMO_PASSWORD, build_city

    personas = (
        summary.personas
        if summary
        else [
            (p.role, p.username, DEMO_PASSWORD, p.organisation_name) for p in build_city().personas
        ]
    )
    table = Table(title=f"登录 Sign in at {platform.settings.public_url}/login")
    for column in ("role", "username", "password"):
        table.add_column(column, no_wrap=True)
    table.add_column("organisation", overflow="fold")
    for row in personas:
        table.add_row(*row)
    out.print(table)


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Seed of the generated city.")] = 2025,
) -> None:
    """Load the demo city (once; a second run leaves it as it is)."""
    with handled():
        from gongshu.migrations import upgrade

        platform = platform_for_cli()
        upgrade(platform.engine)
        summary = _load_demo(platform)
        if state.json:
            emit(
                {
                    "loaded": summary is not None,
                    "personas": [
                        dict(zip(("role", "username", "password", "organisation"), p, strict=True))
                        for p in summary.personas
                    ]
                    if summary
                    else [],
                }
            )
            return
        if summary is None:
            out.print("demo city already loaded")
        _print_personas(summary, platform)


def _serve(platform: Platform, host: str | None, port: int | None, workers: int) -> None:
    import uvicorn

    bind_host = host or platform.settings.host
    bind_port = port or platform.settings.port
    out.print(f"Gongshu 公数 serving at http://{bind_host}:{bind_port}", highlight=False)
    options: dict[str, Any] = {
        "host": bind_host,
        "port": bind_port,
        "log_level": "info",
        "proxy_headers": False,
    }
    if workers == 1:
        # One process: serve the platform already built and checked here.
        uvicorn.run(platform.app, **options)
        return
    # Several processes: each worker builds its own platform from the same environment.
    os.environ["GONGSHU_HOST"], os.environ["GONGSHU_PORT"] = bind_host, str(bind_port)
    uvicorn.run("gongshu.bootstrap:create_app", factory=True, workers=workers, **options)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the platform over HTTP."""
    with handled():
        platform = platform_for_cli()
    _serve(platform, host, port, workers)


@app.command()
def up(
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
) -> None:
    """Initialise, load the demo city if empty, print the sign-ins, and serve."""
    with handled():
        platform = platform_for_cli()
        emit(_init(platform), title="init")
        summary = _load_demo(platform)
        _print_personas(summary, platform)
    _serve(platform, None, port, 1)
