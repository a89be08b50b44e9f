"""The ``gongshu`` command: init, serve, demo, and admin verbs with ``--json`` output."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gongshu.kernel.errors import GongshuError

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    help="公数 Gongshu — city public data platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
org_app = typer.Typer(help="Organisations (机构).", no_args_is_help=True)
user_app = typer.Typer(help="Users and roles (用户与角色).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (令牌).", no_args_is_help=True)
grant_app = typer.Typer(help="Grants (授权).", no_args_is_help=True)
calendar_app = typer.Typer(help="Working-day calendar (工作日历).", no_args_is_help=True)
audit_app = typer.Typer(help="Audit trail (审计).", no_args_is_help=True)
for sub, name in [
    (org_app, "org"),
    (user_app, "user"),
    (token_app, "token"),
    (grant_app, "grant"),
    (calendar_app, "calendar"),
    (audit_app, "audit"),
]:
    app.add_typer(sub, name=name)

out = Console()
err = Console(stderr=True)


class _State:
    json: bool = False
    actor: str | None = None
    closers: list[Callable[[], None]] = []  # noqa: RUF012 - one CLI run, one state

    def close(self) -> None:
        """Release what the command opened (database pools)."""
        while self.closers:
            self.closers.pop()()


state = _State()


@app.callback()
def _options(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    as_user: Annotated[
        str | None, typer.Option("--as", help="Act as this user (default: $GONGSHU_ACTOR).")
    ] = None,
) -> None:
    state.json = as_json
    state.actor = as_user or os.environ.get("GONGSHU_ACTOR")
    ctx.call_on_close(state.close)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def emit(data: Any, *, columns: list[str] | None = None, title: str | None = None) -> None:
    """Print ``data`` as JSON with ``--json``, else as a table or key/value list."""
    data = _jsonable(data)
    if state.json:
        out.print_json(json.dumps(data, ensure_ascii=False))
        return
    if isinstance(data, dict) and columns is None:
        pairs = Table(title=title, show_header=False)
        pairs.add_column("key", style="bold")
        pairs.add_column("value")
        for key, value in data.items():
            pairs.add_row(str(key), _cell(value))
        out.print(pairs)
        return
    rows = data if isinstance(data, list) else [data]
    if not rows:
        out.print("(none)")
        return
    columns = columns or list(rows[0].keys())
    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for row in rows:
        table.add_row(*[_cell(row.get(c)) for c in columns])
    out.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@contextmanager
def handled() -> Iterator[None]:
    """Turn the error family into one clear line and the error's exit code."""
    try:
        yield
    except GongshuError as exc:
        if state.json:
            err.print_json(json.dumps({"error": _jsonable(exc.to_dict())}, ensure_ascii=False))
        else:
            code = exc.to_dict()["code"]  # a domain error may name a more precise code
            err.print(
                f"[bold red]error[/] {escape(f'[{code}] {exc.message}')}",
                highlight=False,
                soft_wrap=True,
            )
            if isinstance(exc.details, list):
                for d in exc.details[:20]:
                    err.print(f"  - {escape(str(d))}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except ValidationError as exc:
        for e in exc.errors():
            err.print(
                f"[bold red]error[/] {'.'.join(map(str, e['loc']))}: {e['msg']}", highlight=False
            )
        raise typer.Exit(2) from None


def run(action: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``action`` inside the error handler."""
    with handled():
        return action(*args, **kwargs)


def main() -> None:
    """Entry point of the ``gongshu`` script."""
    from gongshu.cli import (  # noqa: F401
        admin,
        catalog,
        ingest,
        ledger,
        objections,
        opendata,
        sandbox,
        setup,
    )

    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


def data_home() -> Path:
    """The data home from the environment (default ./var)."""
    return Path(os.environ.get("GONGSHU_HOME", "var"))
