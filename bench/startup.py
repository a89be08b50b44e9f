"""Start-up to first answered request, on the embedded default (SQLite), beside a hello-world.

Prepares a fresh data home in a temporary directory (``gongshu init``, ``gongshu demo``, one read
token), then starts ``gongshu serve`` and the bare FastAPI hello-world (``bench/hello_app.py``
under uvicorn with the same settings) N times each, alternately, and measures the wall time
from spawning the process until ``GET /healthz`` answers 200 and until an authenticated
``GET /api/v1/me`` answers 200 (polling every 5 ms on fresh connections).

    .venv/bin/python bench/startup.py [--runs 5] [--warmup 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib import (
    BYTECODE_MODES,
    PYTHON,
    DataHome,
    Interrupted,
    Summary,
    add_wait_quiet,
    clean_env,
    configure_bytecode,
    free_port,
    hello_server_argv,
    install_signal_handlers,
    load_average,
    machine_busy_seconds,
    machine_line,
    ms,
    own_cpu_seconds,
    platform_server_argv,
    prepare_home,
    process_cpu_seconds,
    ratio,
    run_checked,
    spawned,
    temp_dir,
    wait_for_quiet,
    wait_until_ok,
)
from rich.console import Console
from rich.table import Table

console = Console() if sys.stdout.isatty() else Console(width=120)

# Where the platform's start-up goes: the steps `gongshu serve` takes, timed in one process.
BREAKDOWN = r"""
import json, time
t = time.perf_counter()
marks = {}
def mark(name):
    global t
    now = time.perf_counter()
    marks[name] = now - t
    t = now
import gongshu.cli.main
from gongshu.cli import admin, setup
mark("import the CLI (typer, rich, sqlalchemy, alembic, bootstrap, identity, demo)")
from gongshu.identity.passwords import PasswordHasher
PasswordHasher("strong")
mark("one PasswordHasher('strong'): argon2id dummy hash in __init__")
platform = setup.platform_for_cli()
mark("platform_for_cli(): build() + check_database() in the CLI process")
import uvicorn, uvicorn.config, uvicorn.main
mark("import uvicorn")
from gongshu.bootstrap import create_app
app = create_app()
mark("create_app() in uvicorn: build() again + Platform.app (FastAPI, routes, web, i18n)")
print(json.dumps(marks))
"""


@dataclass
class Series:
    """Start-up times of one server, in seconds from spawn, and CPU used by then."""

    name: str
    health: list[float] = field(default_factory=list)
    me: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    others: list[float] = field(default_factory=list)


def _measure_once(
    series: Series, argv: list[str], env: dict[str, str], token: str, log: Path
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    machine, ours = machine_busy_seconds(), own_cpu_seconds()
    with spawned(argv, env=env, log=log) as server:
        health = wait_until_ok(server, server_port(argv), "/healthz")
        me = wait_until_ok(server, server_port(argv), "/api/v1/me", headers=headers, patient=False)
        cpu = process_cpu_seconds(server.proc.pid)
        busy = machine_busy_seconds() - machine - (own_cpu_seconds() - ours) - cpu
    series.health.append(health)
    series.me.append(me)
    series.cpu.append(cpu)
    series.others.append(max(0.0, busy) / me)


def server_port(argv: list[str]) -> int:
    """The ``--port`` of a server command line."""
    return int(argv[argv.index("--port") + 1])


def _interpreter_baselines(runs: int) -> dict[str, Summary]:
    cases = {
        "python -c pass": "pass",
        "python -c 'import fastapi, uvicorn'": "import fastapi, uvicorn",
    }
    found: dict[str, Summary] = {}
    for label, code in cases.items():
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            run_checked([PYTHON, "-c", code], env=clean_env(), what=label)
            times.append(time.perf_counter() - started)
        found[label] = Summary.of(times)
    return found


def _breakdown(home: DataHome, runs: int) -> dict[str, float]:
    """Median time of each step over ``runs`` fresh processes."""
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        out = run_checked([PYTHON, "-c", BREAKDOWN], env=home.server_env(), what="breakdown")
        data: Any = json.loads(out.strip().splitlines()[-1])
        for key, value in data.items():
            samples.setdefault(str(key), []).append(float(value))
    return {key: Summary.of(values).median for key, values in samples.items()}


def _print_results(
    platform: Series,
    hello: Series,
    baselines: dict[str, Summary],
    breakdown: dict[str, float],
) -> dict[str, Any]:
    table = Table(title="Start-up: spawn → first answered request (wall time)")
    for column in ("server", "until", "median", "min", "max", "runs"):
        table.add_column(column, justify="left" if column in ("server", "until") else "right")
    rows: dict[str, Summary] = {}
    for series, label in ((platform, "gongshu serve"), (hello, "hello-world (uvicorn)")):
        for until, values in (
            ("GET /healthz 200", series.health),
            ("GET /api/v1/me 200 (Bearer)", series.me),
        ):
            summary = Summary.of(values)
            rows[f"{label} · {until}"] = summary
            table.add_row(
                label,
                until,
                ms(summary.median),
                ms(summary.minimum),
                ms(summary.maximum),
                str(summary.count),
            )
    console.print(table)
    others = [*platform.others, *hello.others]
    console.print(
        f"  server CPU (user+sys) used by the first /api/v1/me answer, median: gongshu "
        f"{ms(Summary.of(platform.cpu).median)}, hello {ms(Summary.of(hello.cpu).median)} "
        f"({ratio(Summary.of(platform.cpu).median, Summary.of(hello.cpu).median)}); "
        f"other processes kept {Summary.of(others).median:.2f} cores busy meanwhile "
        f"(median; max {max(others):.2f})",
        highlight=False,
    )

    ratios = Table(title="gongshu serve vs hello-world, medians")
    for column in ("until", "gongshu", "hello", "ratio", "difference"):
        ratios.add_column(column, justify="left" if column == "until" else "right")
    for until, mine, theirs in (
        ("GET /healthz 200", platform.health, hello.health),
        ("GET /api/v1/me 200", platform.me, hello.me),
    ):
        a, b = Summary.of(mine).median, Summary.of(theirs).median
        ratios.add_row(until, ms(a), ms(b), ratio(a, b), ms(a - b))
    first_me = [m - h for m, h in zip(platform.me, platform.health, strict=True)]
    ratios.add_row(
        "first /api/v1/me after /healthz (gongshu)",
        ms(Summary.of(first_me).median),
        ms(Summary.of([m - h for m, h in zip(hello.me, hello.health, strict=True)]).median),
        "",
        "",
    )
    console.print(ratios)

    base = Table(title="Interpreter baselines (same run, for scale)")
    for column in ("command", "median", "min", "max"):
        base.add_column(column, justify="left" if column == "command" else "right")
    for label, summary in baselines.items():
        base.add_row(label, ms(summary.median), ms(summary.minimum), ms(summary.maximum))
    console.print(base)

    if not breakdown:
        return {
            "series": {"gongshu": vars(platform), "hello": vars(hello)},
            "summaries": {k: vars(v) for k, v in rows.items()},
            "baselines": {k: vars(v) for k, v in baselines.items()},
        }
    steps = Table(
        title="Where gongshu serve's start-up goes (its steps timed in one process; median of 3)"
    )
    steps.add_column("step")
    steps.add_column("time", justify="right")
    for label, seconds in breakdown.items():
        steps.add_row(label, ms(seconds))
    steps.add_row("total", ms(sum(breakdown.values())))
    console.print(steps)
    return {
        "series": {
            "gongshu": vars(platform),
            "hello": vars(hello),
        },
        "summaries": {k: vars(v) for k, v in rows.items()},
        "baselines": {k: vars(v) for k, v in baselines.items()},
        "breakdown": breakdown,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="measured starts of each server")
    parser.add_argument(
        "--warmup", type=int, default=1, help="unmeasured starts of each first (page cache)"
    )
    parser.add_argument(
        "--bytecode",
        choices=BYTECODE_MODES,
        default="cached",
        help="cached: .pyc files in a temporary PYTHONPYCACHEPREFIX (default); "
        "none: PYTHONDONTWRITEBYTECODE=1, gongshu's modules compile from source every start",
    )
    add_wait_quiet(parser)
    parser.add_argument("--json", type=Path, help="also write the raw numbers to this file")
    parser.add_argument(
        "--no-breakdown", action="store_true", help="skip the in-process step breakdown"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be ≥ 1 and --warmup ≥ 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_signal_handlers()
    console.print(f"[bold]bench/startup.py[/] · {machine_line()}", highlight=False)
    console.print(f"load average (1/5/15 min) at start: {load_average()}", highlight=False)
    try:
        with temp_dir("gongshu-bench-startup-") as tmp:
            console.print(configure_bytecode(args.bytecode, tmp / "pycache"), highlight=False)
            console.print(f"preparing a fresh data home in {tmp}/var …", highlight=False)
            home = prepare_home(tmp)
            for step, seconds in home.prepare_seconds.items():
                console.print(f"  {step}: {seconds:.2f} s", highlight=False)
            console.print(
                "  (GONGSHU_PASSWORD_HASH_PROFILE=fast is set for `gongshu demo` only, to load "
                "the demo users quickly; the servers measured run with the default 'strong' "
                "profile)"
            )
            platform, hello = Series("gongshu"), Series("hello")
            total = args.warmup + args.runs
            for i in range(total):
                measured = i >= args.warmup
                if args.wait_quiet > 0 and measured:
                    console.print(f"  {wait_for_quiet(args.wait_quiet)}", highlight=False)
                into = (
                    {"gongshu": platform, "hello": hello}
                    if measured
                    else {"gongshu": Series("gongshu warm-up"), "hello": Series("hello warm-up")}
                )
                # Alternate which server goes first so drift hits both alike.
                order = ["gongshu", "hello"] if i % 2 == 0 else ["hello", "gongshu"]
                for name in order:
                    port = free_port()
                    argv = (
                        platform_server_argv(port) if name == "gongshu" else hello_server_argv(port)
                    )
                    log = tmp / f"{name}.log"
                    _measure_once(into[name], argv, home.server_env(), home.token, log)
                label = f"run {i - args.warmup + 1}/{args.runs}" if measured else "warm-up"
                console.print(
                    f"  {label}: gongshu /healthz {ms(into['gongshu'].health[-1])}, "
                    f"/api/v1/me {ms(into['gongshu'].me[-1])} · "
                    f"hello /healthz {ms(into['hello'].health[-1])}, "
                    f"/api/v1/me {ms(into['hello'].me[-1])}",
                    highlight=False,
                )
            baselines = _interpreter_baselines(args.runs)
            breakdown = {} if args.no_breakdown else _breakdown(home, min(3, args.runs))
            raw = _print_results(platform, hello, baselines, breakdown)
            console.print(f"load average (1/5/15 min) at end: {load_average()}", highlight=False)
            if args.json:
                args.json.write_text(json.dumps(raw, indent=2))
    except (KeyboardInterrupt, Interrupted):
        console.print("interrupted: servers stopped, temporary data home removed")
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
