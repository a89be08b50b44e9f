"""Where the time of one ``GET /api/v1/me`` goes, measured in-process (no network, no load client).

Companion to ``bench/api_me.py``: it times the pieces of the request one after another, each
many times, on a fresh data home (embedded SQLite, demo city, one read token):

* the whole request through the ASGI app (``httpx.ASGITransport``), beside the hello-world app
  and the platform's ``/healthz``;
* the parts: one threadpool hop, the unit of work, ``authenticate_token``, ``memberships_of``,
  minting a CSRF token;
* two checks under 16 concurrent requests: how many new SQLite connections the pool opens, and
  how many answers fail when the token's ``last_used_at`` is due for its once-a-minute update.

    .venv/bin/python bench/me_breakdown.py [--repeat 300]

Numbers are CPU time of this process (all threads) per call, and wall time per call.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Annotated

import anyio.to_thread
import httpx
import sqlalchemy as sa
from benchlib import (
    Interrupted,
    configure_bytecode,
    install_signal_handlers,
    load_average,
    machine_line,
    prepare_home,
    temp_dir,
)
from fastapi import Depends, FastAPI, Request, Response
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

console = Console() if sys.stdout.isatty() else Console(width=120)


class _Collect(logging.Handler):
    """Counts the errors the application logs (first line of the exception, and its SQL)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = Counter[str]()

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        lines = str(exc).splitlines() if exc else [record.getMessage()]
        sql = next((line for line in lines if line.startswith("[SQL:")), "")
        self.seen[f"{type(exc).__name__ if exc else 'log'}: {lines[0]} {sql}".strip()] += 1


# Two variants of the hello-world, to price framework layers the platform uses (no database):
class _MeOut(BaseModel):
    id: str
    username: str
    display_name: str
    via: str
    scopes: list[str] | None
    memberships: list[dict[str, str]]


def _fake_uow() -> Iterator[object]:
    yield object()


def _fake_optional(request: Request, uow: Annotated[object, Depends(_fake_uow)]) -> str:
    return request.headers.get("authorization", "")


def _fake_required(actor: Annotated[str, Depends(_fake_optional)]) -> str:
    return actor


def _fake_me(
    actor: Annotated[str, Depends(_fake_required)], uow: Annotated[object, Depends(_fake_uow)]
) -> _MeOut:
    import hello_app

    return _MeOut(**hello_app.ME)


def _variants() -> dict[str, FastAPI]:
    """``middleware``: hello + one no-op ``@app.middleware("http")`` (a BaseHTTPMiddleware);
    ``shaped``: /api/v1/me with the platform's shape of sync dependencies and a response model.
    """
    import hello_app

    middleware = hello_app.create_app()

    @middleware.middleware("http")
    async def passthrough(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        return await call_next(request)

    shaped = FastAPI()
    shaped.get("/api/v1/me")(_fake_me)
    return {"middleware": middleware, "shaped": shaped}


def _time_sync(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    fn()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - wall) / repeat, (time.process_time() - cpu) / repeat


async def _time_async(fn: Callable[[], Awaitable[object]], repeat: int) -> tuple[float, float]:
    await fn()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        await fn()
    return (time.perf_counter() - wall) / repeat, (time.process_time() - cpu) / repeat


async def _time_app(app: FastAPI, headers: dict[str, str], repeat: int) -> tuple[float, float]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await _time_async(lambda: client.get("/api/v1/me", headers=headers), repeat)


async def _measure(repeat: int, token: str) -> tuple[list[tuple[str, float, float]], list[str]]:
    import hello_app

    from gongshu.bootstrap import build
    from gongshu.identity.models import ApiToken
    from gongshu.identity.service import memberships_of
    from gongshu.identity.tokens import authenticate_token
    from gongshu.kernel.settings import load_settings

    platform = build(load_settings(token_rate_limit_per_minute=1_000_000_000))
    app = platform.app
    headers = {"Authorization": f"Bearer {token}"}
    rows: list[tuple[str, float, float]] = []
    notes: list[str] = []

    def add(label: str, timing: tuple[float, float]) -> None:
        rows.append((label, *timing))

    async with (
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://t",
        ) as client,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=hello_app.create_app()), base_url="http://t"
        ) as hello,
    ):

        async def me() -> None:
            response = await client.get("/api/v1/me", headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"/api/v1/me answered {response.status_code}: {response.text}")

        add("whole request: gongshu GET /api/v1/me", await _time_async(me, repeat))
        add(
            "whole request: gongshu GET /healthz",
            await _time_async(lambda: client.get("/healthz"), repeat),
        )
        add(
            "whole request: hello-world GET /api/v1/me",
            await _time_async(lambda: hello.get("/api/v1/me", headers=headers), repeat),
        )
        variants = _variants()
        for key, label in (
            ("middleware", "hello-world + one no-op @app.middleware('http') (BaseHTTPMiddleware)"),
            (
                "shaped",
                "hello-world shaped like /me: sync generator dep + 2 sync deps + sync route",
            ),
        ):
            add(f"whole request: {label}", await _time_app(variants[key], headers, repeat))
        add(
            "one threadpool hop (anyio.to_thread.run_sync of a no-op)",
            await _time_async(lambda: anyio.to_thread.run_sync(int), repeat),
        )

        def uow_only() -> None:
            with platform.uow():
                pass

        def uow_select() -> None:
            with platform.uow() as uow:
                uow.session.execute(sa.text("SELECT 1"))

        def authenticate() -> None:
            with platform.uow() as uow:
                authenticate_token(uow, token)

        actor_id = ""

        def find_actor() -> None:
            nonlocal actor_id
            with platform.uow() as uow:
                actor_id = authenticate_token(uow, token).user_id

        find_actor()

        def memberships() -> None:
            with platform.uow() as uow:
                memberships_of(uow, actor_id)

        token_id = token.partition("_")[2].partition(".")[0]

        def get_token() -> None:
            with platform.uow() as uow:
                uow.session.get(ApiToken, token_id)

        codec = app.state.session_codec
        add("unit of work: open + close, no statement", _time_sync(uow_only, repeat))
        add("unit of work + SELECT 1", _time_sync(uow_select, repeat))
        add("unit of work + session.get(ApiToken)", _time_sync(get_token, repeat))
        add(
            "unit of work + authenticate_token (2 gets + memberships_of)",
            _time_sync(authenticate, repeat),
        )
        add(
            "unit of work + memberships_of (run again by the /me route)",
            _time_sync(memberships, repeat),
        )
        add(
            "SessionCodec.new_csrf() (minted for every API request)",
            _time_sync(codec.new_csrf, repeat),
        )

        # Pool: 16 requests at once, as wrk -c16 sends them.
        connects = Counter[str]()
        sa.event.listen(platform.engine, "connect", lambda *_: connects.update(["connect"]))
        sa.event.listen(platform.engine, "checkout", lambda *_: connects.update(["checkout"]))
        for _ in range(20):
            await asyncio.gather(*(me() for _ in range(16)))
        notes.append(
            f"pool under 16 concurrent requests (20 bursts): {connects['checkout']} checkouts "
            f"opened {connects['connect']} new SQLite connections "
            f"({platform.engine.pool.status()}; each new connection runs 4 PRAGMAs)"
        )

        # last_used_at: make the once-a-minute touch due, then send 16 requests at once.
        failures = Counter[int]()
        logged = _Collect()
        app_log = logging.getLogger("gongshu")
        app_log.addHandler(logged)
        app_log.propagate = False  # keep the tracebacks off the screen; count them instead
        for _ in range(5):
            with platform.uow() as uow:
                stored = uow.session.get(ApiToken, token_id)
                if stored is not None and stored.last_used_at is not None:
                    stored.last_used_at -= timedelta(minutes=2)
                uow.commit()
            answers = await asyncio.gather(
                *(client.get("/api/v1/me", headers=headers) for _ in range(16)),
                return_exceptions=True,
            )
            for answer in answers:
                status = answer.status_code if isinstance(answer, httpx.Response) else -1
                failures[status] += 1
        app_log.removeHandler(logged)
        app_log.propagate = True
        notes.append(
            "16 concurrent requests when last_used_at is due (5 bursts), answers by status: "
            + ", ".join(f"{status}: {count}" for status, count in sorted(failures.items()))
        )
        notes.extend(f"    logged {count} × {error}" for error, count in logged.seen.most_common(3))
    platform.dispose()
    return rows, notes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=300, help="calls per measurement")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be ≥ 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_signal_handlers()
    console.print(f"[bold]bench/me_breakdown.py[/] · {machine_line()}", highlight=False)
    console.print(f"load average (1/5/15 min) at start: {load_average()}", highlight=False)
    saved = dict(os.environ)
    try:
        with temp_dir("gongshu-bench-breakdown-") as tmp:
            configure_bytecode("cached", tmp / "pycache")
            home = prepare_home(tmp)
            # This process becomes the server: take the data home's settings.
            os.environ.update({k: v for k, v in home.env.items() if k.startswith("GONGSHU_")})
            rows, notes = asyncio.run(_measure(args.repeat, home.token))
    except (KeyboardInterrupt, Interrupted):
        console.print("interrupted: temporary data home removed")
        return 130
    finally:
        os.environ.clear()
        os.environ.update(saved)
    table = Table(title=f"GET /api/v1/me, piece by piece (in-process, mean of {args.repeat} calls)")
    for column in ("what", "wall / call", "CPU / call"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for label, wall, cpu in rows:
        table.add_row(label, f"{wall * 1000:.3f} ms", f"{cpu * 1000:.3f} ms")
    console.print(table)
    for note in notes:
        console.print(f"  {note}", highlight=False)
    console.print(f"load average (1/5/15 min) at end: {load_average()}", highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
