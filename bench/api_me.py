"""API requests per second for an authenticated ``GET /api/v1/me``, beside a bare hello-world.

Prepares a fresh data home (embedded SQLite, demo city, one read token), starts ``gongshu serve``
(one uvicorn worker) and the hello-world of ``bench/hello_app.py`` under uvicorn with the same
settings, and loads each on loopback with ``wrk`` (or, when wrk cannot be had, a Python client of
several httpx processes). Rounds alternate between the servers; each load run follows an
unmeasured warm-up. With ``GONGSHU_BENCH_DATABASE_URL`` set (a PostgreSQL database), the
platform is measured a second time on a schema created for the run and dropped afterwards.

    .venv/bin/python bench/api_me.py [--duration 10] [--rounds 3] [--connections 16]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchlib import (
    BYTECODE_MODES,
    CpuMeter,
    CpuWindow,
    DataHome,
    Interrupted,
    LoadResult,
    Spawned,
    add_wait_quiet,
    configure_bytecode,
    free_port,
    hello_server_argv,
    http_get,
    install_signal_handlers,
    load_average,
    machine_line,
    platform_server_argv,
    postgres_schema,
    prepare_home,
    python_load,
    spawned,
    temp_dir,
    wait_for_quiet,
    wait_until_ok,
)
from rich.console import Console
from rich.table import Table

console = Console() if sys.stdout.isatty() else Console(width=120)

PG_ENV = "GONGSHU_BENCH_DATABASE_URL"
PATH = "/api/v1/me"
# The platform limits each token to 600 requests a minute (per worker) by default; a load test
# would otherwise measure 429 answers. The servers here run with this instead:
BENCH_RATE_LIMIT = "1000000000"


# ------------------------------------------------------------------ wrk


def find_wrk(wanted: str) -> str | None:
    """The wrk binary, installing Debian's package when missing and allowed; None: use Python."""
    if wanted == "python":
        return None
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        console.print(
            "[yellow]wrk is missing: installing Debian's package with `apt-get install -y wrk` "
            "(running as root)…[/]"
        )
        _quiet(["apt-get", "install", "-y", "-q", "wrk"])
        if not shutil.which("wrk"):  # the package lists may be missing or stale
            _quiet(["apt-get", "update", "-q"])
            _quiet(["apt-get", "install", "-y", "-q", "wrk"])
        found = shutil.which("wrk")
        if found:
            console.print(f"[yellow]installed {found}[/]")
            return found
    if wanted == "wrk":
        raise SystemExit("wrk is not installed and could not be installed (try --client python)")
    console.print("[yellow]wrk cannot be had here: falling back to the Python httpx client[/]")
    return None


def _quiet(argv: list[str]) -> None:
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unreadable wrk duration {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str, client: str) -> LoadResult:
    """The numbers of one ``wrk --latency`` run."""

    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output)
        if match is None:
            raise SystemExit(f"wrk output without {pattern!r}:\n{output}")
        return match

    done = find(r"(\d+) requests in ([\d.]+\w+),")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return LoadResult(
        client=client,
        requests=int(done.group(1)),
        seconds=_duration_ms(done.group(2)) / 1000,
        requests_per_second=float(find(r"Requests/sec:\s+([\d.]+)").group(1)),
        p50_ms=_duration_ms(find(r"\n\s+50%\s+(\S+)").group(1)),
        p99_ms=_duration_ms(find(r"\n\s+99%\s+(\S+)").group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=sum(int(g) for g in sockets.groups()) if sockets else 0,
    )


def wrk_load(
    wrk: str,
    url: str,
    headers: dict[str, str],
    *,
    threads: int,
    connections: int,
    seconds: float,
    cpu: int | None,
) -> LoadResult:
    """One wrk run against ``url``."""
    argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(url)
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=seconds + 60)
    if result.returncode != 0:
        raise SystemExit(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return parse_wrk(result.stdout, f"wrk -t{threads} -c{connections} -d{seconds:g}s")


# ------------------------------------------------------------------ targets


@dataclass(frozen=True)
class Measured:
    """One measured load run and where the CPU went meanwhile."""

    load: LoadResult
    cpu: CpuWindow

    @property
    def server_cpu_ms_per_request(self) -> float:
        return self.cpu.server / self.load.requests * 1000 if self.load.requests else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self.load),
            "server_cpu_seconds": self.cpu.server,
            "server_cpu_ms_per_request": self.server_cpu_ms_per_request,
            "server_cores": self.cpu.server / self.cpu.seconds,
            "client_cores": self.cpu.ours / self.cpu.seconds,
            "other_cores": self.cpu.others_cores,
        }


@dataclass
class Target:
    """One server under load and what it measured, round by round."""

    label: str
    port: int
    pid: int
    headers: dict[str, str]
    log: Path
    rounds: list[Measured] = field(default_factory=list)
    body_bytes: int = 0

    def errors_logged(self) -> Counter[str]:
        """Exception lines and failing SQL in the server's log, counted."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return Counter()
        pattern = re.compile(r"^(?:[\w.]+(?:Error|Exception): .*|\[SQL: .*\])$")
        return Counter(line for line in text.splitlines() if pattern.match(line))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    def median(self) -> Measured:
        """The round with the median requests/s."""
        ordered = sorted(self.rounds, key=lambda r: r.load.requests_per_second)
        return ordered[(len(ordered) - 1) // 2]


@contextmanager
def serving(
    label: str, argv: list[str], env: dict[str, str], token: str, log: Path, cpu: int | None
) -> Iterator[Target]:
    """A started server that answers ``GET /api/v1/me`` with 200."""
    headers = {"Authorization": f"Bearer {token}"}
    port = int(argv[argv.index("--port") + 1])
    with spawned(argv, env=env, log=log, cpu=cpu) as server:
        wait_until_ok(server, port, "/healthz")
        wait_until_ok(server, port, PATH, headers=headers, patient=False)
        answer = http_get(port, PATH, headers)
        body = len(answer[1]) if answer else 0
        target = Target(label, port, server.proc.pid, headers, log, body_bytes=body)
        yield target
        _check_alive(server)


def _check_alive(server: Spawned) -> None:
    if not server.alive():
        raise SystemExit(f"server died under load:\n{server.tail()}")


# ------------------------------------------------------------------ main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each load run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each")
    parser.add_argument("--rounds", type=int, default=3, help="load runs per server (median kept)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--client", choices=("auto", "wrk", "python"), default="auto", help="load client"
    )
    parser.add_argument(
        "--py-processes", type=int, default=2, help="processes of the Python fallback client"
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="pin each server to CPU 0 and the load client to CPU 1 (default: no pinning)",
    )
    parser.add_argument("--bytecode", choices=BYTECODE_MODES, default="cached")
    parser.add_argument(
        "--no-postgres", action="store_true", help=f"skip PostgreSQL even when {PG_ENV} is set"
    )
    add_wait_quiet(parser)
    parser.add_argument("--json", type=Path, help="also write the raw numbers to this file")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.rounds < 1 or args.connections < 1 or args.threads < 1:
        parser.error("--duration, --rounds, --connections and --threads must be positive")
    if args.threads > args.connections:
        parser.error("--threads cannot exceed --connections (wrk refuses)")
    return args


Loader = Callable[["Target", float], LoadResult]


def _loader(args: argparse.Namespace, wrk: str | None) -> Loader:
    client_cpu = 1 if args.pin else None

    def load(target: Target, seconds: float) -> LoadResult:
        if wrk:
            return wrk_load(
                wrk,
                target.url,
                target.headers,
                threads=args.threads,
                connections=args.connections,
                seconds=seconds,
                cpu=client_cpu,
            )
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})
        try:
            return python_load(
                target.url,
                target.headers,
                connections=args.connections,
                processes=args.py_processes,
                seconds=seconds,
            )
        finally:
            if client_cpu is not None:
                os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))

    return load


def _run_rounds(
    targets: list[Target],
    rounds: int,
    warmup: float,
    duration: float,
    load: Loader,
    wait_quiet: float = 0.0,
) -> None:
    for i in range(rounds):
        order = targets if i % 2 == 0 else list(reversed(targets))
        for target in order:
            if wait_quiet > 0:
                console.print(f"  {wait_for_quiet(wait_quiet)}", highlight=False)
            if warmup > 0:
                load(target, warmup)
            with CpuMeter(target.pid) as meter:
                result = load(target, duration)
            measured = Measured(result, meter.window)
            target.rounds.append(measured)
            console.print(
                f"  round {i + 1}/{rounds} · {target.label}: "
                f"{result.requests_per_second:,.0f} req/s, p50 {result.p50_ms:.2f} ms, "
                f"p99 {result.p99_ms:.2f} ms, non-2xx {result.non_2xx}, errors {result.errors} · "
                f"server CPU {measured.server_cpu_ms_per_request:.3f} ms/request · cores busy: "
                f"server {meter.window.server / meter.window.seconds:.2f}, "
                f"client {meter.window.ours / meter.window.seconds:.2f}, "
                f"other processes {meter.window.others_cores:.2f}",
                highlight=False,
            )


def _report(targets: list[Target], baseline: Target) -> None:
    table = Table(title=f"GET {PATH} under load (median round by requests/s)")
    for column in (
        "server",
        "req/s",
        "p50",
        "p99",
        "req/s vs hello",
        "server CPU / request",
        "CPU vs hello",
        "rounds (req/s)",
        "non-2xx",
        "body",
    ):
        table.add_column(column, justify="left" if column == "server" else "right")
    base = baseline.median()
    base_rps = base.load.requests_per_second
    base_cpu = base.server_cpu_ms_per_request
    for target in targets:
        mid = target.median()
        rps = mid.load.requests_per_second
        cpu = mid.server_cpu_ms_per_request
        table.add_row(
            target.label,
            f"{rps:,.0f}",
            f"{mid.load.p50_ms:.2f} ms",
            f"{mid.load.p99_ms:.2f} ms",
            "1" if target is baseline else f"{rps / base_rps:.3f} (÷{base_rps / rps:.1f})",
            f"{cpu:.3f} ms",
            "1" if target is baseline else f"×{cpu / base_cpu:.1f}",
            ", ".join(f"{r.load.requests_per_second:,.0f}" for r in target.rounds),
            str(sum(r.load.non_2xx + r.load.errors for r in target.rounds)),
            f"{target.body_bytes} B",
        )
    console.print(table)
    spread = {
        t.label: statistics.pstdev([r.load.requests_per_second for r in t.rounds])
        / statistics.mean([r.load.requests_per_second for r in t.rounds])
        for t in targets
        if len(t.rounds) > 1
    }
    if spread:
        console.print(
            "  spread between rounds (stdev/mean): "
            + ", ".join(f"{k} {v:.1%}" for k, v in spread.items()),
            highlight=False,
        )
    others = [r.cpu.others_cores for t in targets for r in t.rounds]
    console.print(
        f"  other processes on the machine kept {statistics.median(others):.2f} cores busy "
        f"(median over runs; max {max(others):.2f}) — numbers are only comparable when this is ~0",
        highlight=False,
    )
    for target in targets:
        failed = sum(r.load.non_2xx + r.load.errors for r in target.rounds)
        if not failed:
            continue
        console.print(
            f"[red]{target.label}: {failed} answers were not 2xx or failed; its server log says:[/]"
        )
        for line, count in target.errors_logged().most_common(6):
            console.print(f"    {count:5d} × {line[:160]}", highlight=False, markup=False)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_signal_handlers()
    console.print(f"[bold]bench/api_me.py[/] · {machine_line()}", highlight=False)
    wrk = find_wrk(args.client)
    load = _loader(args, wrk)
    server_cpu = 0 if args.pin else None
    console.print(
        f"load client: {'wrk (' + wrk + ')' if wrk else 'Python httpx processes'}; "
        + (
            "servers pinned to CPU 0, client to CPU 1"
            if args.pin
            else f"no pinning: on {os.cpu_count()} cores the load client competes with the server"
        ),
        highlight=False,
    )
    console.print(
        f"servers run with GONGSHU_TOKEN_RATE_LIMIT_PER_MINUTE={BENCH_RATE_LIMIT} "
        "(the default 600/min per token would turn the load into 429 answers)",
        highlight=False,
    )
    console.print(f"load average (1/5/15 min) at start: {load_average()}", highlight=False)
    pg_base = None if args.no_postgres else os.environ.get(PG_ENV)
    raw: dict[str, Any] = {"client": "wrk" if wrk else "python", "pin": args.pin}
    try:
        with ExitStack() as stack:
            tmp = stack.enter_context(temp_dir("gongshu-bench-api-"))
            console.print(configure_bytecode(args.bytecode, tmp / "pycache"), highlight=False)
            console.print(f"preparing a fresh data home in {tmp}/var …", highlight=False)
            home = prepare_home(tmp)
            console.print(
                "  (GONGSHU_PASSWORD_HASH_PROFILE=fast for `gongshu demo` only, to load the "
                "demo users quickly; the servers run with the default profile)",
                highlight=False,
            )
            env = home.server_env(GONGSHU_TOKEN_RATE_LIMIT_PER_MINUTE=BENCH_RATE_LIMIT)
            sqlite = stack.enter_context(
                serving(
                    "gongshu · SQLite (embedded)",
                    platform_server_argv(free_port()),
                    env,
                    home.token,
                    tmp / "gongshu.log",
                    server_cpu,
                )
            )
            hello = stack.enter_context(
                serving(
                    "hello-world",
                    hello_server_argv(free_port()),
                    env,
                    home.token,
                    tmp / "hello.log",
                    server_cpu,
                )
            )
            targets = [sqlite, hello]
            _run_rounds(targets, args.rounds, args.warmup, args.duration, load, args.wait_quiet)
            if pg_base:
                targets.append(_postgres(stack, pg_base, tmp, args, load, server_cpu))
            else:
                console.print(f"PostgreSQL: skipped ({PG_ENV} is not set)", highlight=False)
            _report(targets, hello)
            raw["targets"] = {t.label: [r.as_dict() for r in t.rounds] for t in targets}
            raw["load_average_end"] = load_average()
            console.print(f"load average (1/5/15 min) at end: {load_average()}", highlight=False)
            if args.json:
                args.json.write_text(json.dumps(raw, indent=2))
    except (KeyboardInterrupt, Interrupted):
        console.print("interrupted: servers stopped, temporary data home and schema removed")
        return 130
    return 0


def _postgres(
    stack: ExitStack,
    base_url: str,
    tmp: Path,
    args: argparse.Namespace,
    load: Loader,
    server_cpu: int | None,
) -> Target:
    """The same measurement with the platform on PostgreSQL (optional; after the SQLite rounds)."""
    url = stack.enter_context(postgres_schema(base_url))
    schema = url.rsplit("%3D", 1)[-1]
    console.print(
        f"PostgreSQL (optional, {PG_ENV}): schema {schema} created for this run …",
        highlight=False,
    )
    home: DataHome = prepare_home(tmp / "pg", url)
    env = home.server_env(GONGSHU_TOKEN_RATE_LIMIT_PER_MINUTE=BENCH_RATE_LIMIT)
    target = stack.enter_context(
        serving(
            "gongshu · PostgreSQL (optional)",
            platform_server_argv(free_port()),
            env,
            home.token,
            tmp / "gongshu-pg.log",
            server_cpu,
        )
    )
    _run_rounds([target], args.rounds, args.warmup, args.duration, load, args.wait_quiet)
    return target


if __name__ == "__main__":
    raise SystemExit(main())
