"""Shared plumbing for the benchmark scripts: data homes, server processes, HTTP polling, stats.

Not a test helper and not part of the ``gongshu`` package: the scripts in this folder import it
as a sibling module (``python bench/startup.py`` puts ``bench/`` on ``sys.path``).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def venv_bin() -> Path:
    """The project's ``.venv/bin`` (or the running interpreter's bin when there is none)."""
    candidate = ROOT / ".venv" / "bin"
    return candidate if (candidate / "gongshu").exists() else Path(sys.executable).parent


BIN = venv_bin()
GONGSHU = str(BIN / "gongshu")
UVICORN = str(BIN / "uvicorn")
PYTHON = str(BIN / "python")

# Every GONGSHU_* variable of the caller is dropped, so a developer's own settings (another
# database, a fast hash profile, a low rate limit) cannot leak into a measurement.
_OWN_PREFIX = "GONGSHU_"


BYTECODE_MODES = ("cached", "none")
# Until configure_bytecode() says otherwise, children write no bytecode (and so nothing in src/).
_bytecode: dict[str, str] = {"PYTHONDONTWRITEBYTECODE": "1"}


def configure_bytecode(mode: str, cache_dir: Path) -> str:
    """How the child Pythons treat bytecode; returns one line saying so.

    ``cached``: bytecode is written to and read from ``cache_dir`` (``PYTHONPYCACHEPREFIX``), so
    after the first start every module loads from a ``.pyc``, as on a normal install.
    ``none``: ``PYTHONDONTWRITEBYTECODE=1`` and no prefix: the project's own modules (an editable
    install under ``src/``, which has no ``__pycache__`` then) are compiled from source on every
    start, while site-packages use the ``.pyc`` files pip wrote.
    """
    _bytecode.clear()
    if mode == "cached":
        _bytecode["PYTHONPYCACHEPREFIX"] = str(cache_dir)
        return f"bytecode: cached under {cache_dir} (PYTHONPYCACHEPREFIX), warmed by a first start"
    if mode == "none":
        _bytecode["PYTHONDONTWRITEBYTECODE"] = "1"
        return (
            "bytecode: PYTHONDONTWRITEBYTECODE=1: gongshu's own modules (editable install) are "
            "compiled from source at every start"
        )
    raise ValueError(f"unknown bytecode mode {mode!r}")


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without ``GONGSHU_*`` variables, with the bytecode mode."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_OWN_PREFIX)
        and k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    env.update(_bytecode)
    env.update(extra)
    return env


class Interrupted(Exception):
    """SIGTERM or SIGHUP arrived: unwind so every ``finally`` cleans up."""


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def install_signal_handlers() -> None:
    """Turn SIGTERM/SIGHUP into an exception, and make sure Ctrl-C raises KeyboardInterrupt.

    (A shell starting us in the background without job control leaves SIGINT ignored.)
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_interrupted)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory removed on the way out, whatever happened."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ------------------------------------------------------------------ processes


class Spawned:
    """A child process in its own session, so it and its children can be ended together."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log: Path,
        cwd: Path = ROOT,
        cpu: int | None = None,
    ) -> None:
        self.argv = list(argv)
        self.log = log
        self._log_file: IO[bytes] = log.open("ab")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            self.argv,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if cpu is not None:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(self.proc.pid, {cpu})

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc.poll() is None

    def stop(self, grace: float = 5.0) -> None:
        """SIGINT (uvicorn's graceful stop), then SIGTERM, then SIGKILL, to our process group."""
        try:
            for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 2.0)):
                if self.proc.poll() is not None:
                    break
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(wait)
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        finally:
            self._log_file.close()

    def tail(self, lines: int = 20) -> str:
        """The last lines of the process's output, for error messages."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def spawned(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log: Path,
    cpu: int | None = None,
) -> Iterator[Spawned]:
    """Run ``argv`` for the duration of the block and always end it afterwards."""
    proc = Spawned(argv, env=env, log=log, cpu=cpu)
    try:
        yield proc
    finally:
        proc.stop()


def run_checked(argv: Sequence[str], *, env: Mapping[str, str], what: str) -> str:
    """Run a command to completion and return its stdout; fail loudly with its output."""
    result = subprocess.run(
        list(argv),
        env=dict(env),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(
            f"{what} failed (exit {result.returncode}): {' '.join(argv)}\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    return result.stdout


# ------------------------------------------------------------------ servers


def platform_server_argv(port: int) -> list[str]:
    """Exactly what an operator runs: ``gongshu serve`` (one uvicorn worker, log level info)."""
    return [GONGSHU, "serve", "--port", str(port)]


def hello_server_argv(port: int) -> list[str]:
    """The hello-world baseline under uvicorn with the settings ``gongshu serve`` passes."""
    return [
        UVICORN,
        "hello_app:create_app",
        "--factory",
        "--app-dir",
        str(BENCH),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "info",
        "--no-proxy-headers",
    ]


def http_get(
    port: int, path: str, headers: Mapping[str, str] | None = None, timeout: float = 5.0
) -> tuple[int, bytes] | None:
    """One GET on a fresh connection: (status, body), or None when nothing answers yet."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, response.read()
    except (ConnectionError, OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def wait_until_ok(
    server: Spawned,
    port: int,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    interval: float = 0.005,
    timeout: float = 60.0,
    patient: bool = True,
) -> float:
    """Poll ``path`` every ``interval`` s until it answers 200; seconds since the spawn.

    Not ``patient``: any answer other than 200 ends the benchmark (e.g. a refused token).
    """
    deadline = time.perf_counter() + timeout
    last: tuple[int, bytes] | None = None
    while time.perf_counter() < deadline:
        last = http_get(port, path, headers)
        if last is not None and last[0] == 200:
            return time.perf_counter() - server.started
        if last is not None and not patient:
            raise SystemExit(f"{path} answered {last[0]}: {last[1][:500]!r}")
        if not server.alive():
            raise SystemExit(
                f"server exited (code {server.proc.returncode}) before {path} answered:\n"
                f"{server.tail()}"
            )
        time.sleep(interval)
    raise SystemExit(
        f"{path} did not answer 200 within {timeout} s (last: {last!r}):\n{server.tail()}"
    )


# ------------------------------------------------------------------ data home


@dataclass
class DataHome:
    """A prepared data home: schema migrated, demo city loaded, one read token."""

    home: Path
    token: str
    database: str
    env: dict[str, str] = field(default_factory=dict)
    prepare_seconds: dict[str, float] = field(default_factory=dict)

    def server_env(self, **extra: str) -> dict[str, str]:
        """The environment a server on this home runs with (no fast hash profile)."""
        env = dict(self.env)
        env.update(extra)
        return env


def prepare_home(root: Path, database_url: str | None = None) -> DataHome:
    """``gongshu init``, ``gongshu demo`` (fast hash profile) and a read token, in ``root/var``.

    The fast password-hash profile is set for the demo load only (it hashes a password per
    demo user); the servers measured later run with the default ("strong") profile.
    """
    home = root / "var"
    extra = {"GONGSHU_HOME": str(home)}
    if database_url:
        extra["GONGSHU_DATABASE_URL"] = database_url
    env = clean_env(**extra)
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    run_checked([GONGSHU, "--json", "init"], env=env, what="gongshu init")
    seconds["gongshu init"] = time.perf_counter() - started

    started = time.perf_counter()
    demo_env = dict(env, GONGSHU_PASSWORD_HASH_PROFILE="fast")
    run_checked([GONGSHU, "--json", "demo"], env=demo_env, what="gongshu demo")
    seconds["gongshu demo (fast hash profile)"] = time.perf_counter() - started

    started = time.perf_counter()
    out = run_checked(
        [GONGSHU, "--as", "bureau_admin", "--json", "token", "create", "bench", "--scope", "read"],
        env=env,
        what="gongshu token create",
    )
    seconds["gongshu token create"] = time.perf_counter() - started
    token = _token_from_json(out)
    return DataHome(
        home=home,
        token=token,
        database=database_url or f"sqlite:///{home / 'gongshu.db'} (embedded default)",
        env=env,
        prepare_seconds=seconds,
    )


def _token_from_json(text: str) -> str:
    start = text.find("{")
    if start < 0:
        raise SystemExit(f"token create printed no JSON:\n{text}")
    data: Any = json.loads(text[start:])
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token.startswith("gs_"):
        raise SystemExit(f"no token in the JSON of token create:\n{text}")
    return token


@contextlib.contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A dedicated schema in ``base_url``'s database for the block; the URL that selects it."""
    import sqlalchemy as sa

    schema = f"gongshu_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in base_url else "?"
        try:
            yield f"{base_url}{sep}options=-csearch_path%3D{schema}"
        finally:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()


# ------------------------------------------------------------------ numbers


@dataclass(frozen=True)
class Summary:
    """Median, minimum and maximum of a series."""

    median: float
    minimum: float
    maximum: float
    count: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(statistics.median(values), min(values), max(values), len(values))


def ms(seconds: float) -> str:
    """Seconds as milliseconds with one decimal."""
    return f"{seconds * 1000:.1f} ms"


def ratio(numerator: float, denominator: float) -> str:
    """``numerator / denominator`` as ``×N.NN``."""
    return f"×{numerator / denominator:.2f}" if denominator else "n/a"


def machine_line() -> str:
    """One line about where the numbers came from."""
    import fastapi
    import uvicorn

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{platform.node()} · {platform.machine()} · {cores} cores · "
        f"Python {platform.python_version()} · FastAPI {fastapi.__version__} · "
        f"uvicorn {uvicorn.__version__} · {time.strftime('%Y-%m-%d %H:%M %Z')}"
    )


# ------------------------------------------------------------------ load clients


@dataclass(frozen=True)
class LoadResult:
    """What one load run measured."""

    client: str
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int


def _percentile(sorted_values: Sequence[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def _py_load_worker(
    url: str, headers: dict[str, str], connections: int, seconds: float
) -> tuple[list[float], int, int, int]:
    """One process of the Python load client: ``connections`` keep-alive loops for ``seconds``."""
    import asyncio

    import httpx

    async def run() -> tuple[list[float], int, int, int]:
        latencies: list[float] = []
        non_2xx = errors = 0
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30.0) as client:
            deadline = time.perf_counter() + seconds

            async def loop() -> None:
                nonlocal non_2xx, errors
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    try:
                        response = await client.get(url)
                    except httpx.HTTPError:
                        errors += 1
                        continue
                    latencies.append(time.perf_counter() - started)
                    if not 200 <= response.status_code < 300:
                        non_2xx += 1

            started = time.perf_counter()
            await asyncio.gather(*(loop() for _ in range(connections)))
            elapsed = time.perf_counter() - started
        return latencies, non_2xx, errors, int(elapsed * 1e6)

    return asyncio.run(run())


def python_load(
    url: str, headers: Mapping[str, str], *, connections: int, processes: int, seconds: float
) -> LoadResult:
    """The fallback load client: ``processes`` processes of httpx sharing ``connections``."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    processes = max(1, min(processes, connections))
    shares = [
        connections // processes + (1 if i < connections % processes else 0)
        for i in range(processes)
    ]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        futures = [
            pool.submit(_py_load_worker, url, dict(headers), share, seconds) for share in shares
        ]
        parts = [f.result() for f in futures]
    latencies = sorted(x for part in parts for x in part[0])
    elapsed = max(part[3] for part in parts) / 1e6
    return LoadResult(
        client=f"python httpx ({processes} processes, {connections} connections)",
        requests=len(latencies),
        seconds=elapsed,
        requests_per_second=len(latencies) / elapsed if elapsed else 0.0,
        p50_ms=_percentile(latencies, 0.50) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        non_2xx=sum(part[1] for part in parts),
        errors=sum(part[2] for part in parts),
    )


# ------------------------------------------------------------------ CPU accounting

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process (all its threads) has used; NaN if unknown."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds all cores have been busy since boot (from ``/proc/stat``); NaN if unknown."""
    try:
        line = Path("/proc/stat").read_text().splitlines()[0]
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in line.split()[1:9])
    return (user + nice + system + irq + softirq + steal) / _CLK_TCK


def own_cpu_seconds() -> float:
    """CPU seconds of this process plus its reaped children (e.g. a finished wrk)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass(frozen=True)
class CpuWindow:
    """Where the machine's CPU went while something ran: a server, our side, everyone else."""

    seconds: float
    server: float
    ours: float
    machine: float

    @property
    def others_cores(self) -> float:
        """Average cores kept busy by processes outside this benchmark (other work on the box)."""
        if not self.seconds:
            return float("nan")
        return max(0.0, self.machine - self.server - self.ours) / self.seconds


class CpuMeter:
    """``with CpuMeter(pid) as meter: …`` then ``meter.window``."""

    def __init__(self, server_pid: int) -> None:
        self.pid = server_pid
        self.window = CpuWindow(0.0, 0.0, 0.0, 0.0)

    def __enter__(self) -> CpuMeter:
        self._start = (
            time.perf_counter(),
            process_cpu_seconds(self.pid),
            own_cpu_seconds(),
            machine_busy_seconds(),
        )
        return self

    def __exit__(self, *_exc: object) -> None:
        t, server, ours, machine = self._start
        self.window = CpuWindow(
            time.perf_counter() - t,
            process_cpu_seconds(self.pid) - server,
            own_cpu_seconds() - ours,
            machine_busy_seconds() - machine,
        )


def load_average() -> str:
    """The 1/5/15-minute load averages, for judging how quiet the machine was."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "n/a"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def wait_for_quiet(max_wait: float, threshold: float = 0.3, window: float = 2.0) -> str:
    """Wait up to ``max_wait`` s until other processes keep < ``threshold`` cores busy.

    The machine may be shared (other people's test suites); this only waits, it ends nothing.
    Returns one line saying how it went; measuring goes on either way.
    """
    started = time.perf_counter()
    while True:
        machine, ours, t = machine_busy_seconds(), own_cpu_seconds(), time.perf_counter()
        time.sleep(window)
        elapsed = time.perf_counter() - t
        others = (machine_busy_seconds() - machine - (own_cpu_seconds() - ours)) / elapsed
        waited = time.perf_counter() - started
        if others < threshold:
            return f"quiet after {waited:.0f} s (other processes: {others:.2f} cores)"
        if waited >= max_wait:
            return f"still busy after {waited:.0f} s (others: {others:.2f} cores); measuring anyway"


def add_wait_quiet(parser: argparse.ArgumentParser) -> None:
    """The ``--wait-quiet SECONDS`` option every benchmark shares."""
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each measurement, wait up to this long for other processes to go quiet "
        "(< 0.3 cores busy); 0: do not wait (default)",
    )


# ------------------------------------------------------------------ results


@dataclass
class Row:
    """One line of the results: the platform's figure beside the baseline of the same run."""

    section: str
    what: str
    gongshu: str
    baseline: str = ""
    baseline_value: str = ""
    goal: str = ""
    verdict: str = ""


@dataclass
class Results:
    """Every row of a benchmark run, its notes and the raw numbers."""

    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    busy: list[str] = field(default_factory=list)

    def add(self, *args: str, **kwargs: str) -> None:
        """Append a row."""
        self.rows.append(Row(*args, **kwargs))


def verdict(ok: bool) -> str:
    """How a figure compares with its goal."""
    return "meets" if ok else "misses"


def print_results(
    results: Results,
    *,
    title: str,
    command: str,
    json_path: Path | None,
    console: Console,
    started: float,
) -> None:
    """Print the figures as a Rich table and as Markdown for RESULTS.md; optionally save JSON.

    ``started`` (a ``time.perf_counter()`` reading) adds the run's length and the machine's
    load to the notes, beside the other processes' share of each measured step.
    """
    results.notes.append(
        "cores other processes kept busy (nan: step too short to tell): " + ", ".join(results.busy)
    )
    results.notes.append(
        f"whole run {time.perf_counter() - started:.0f} s; load average at end {load_average()}"
    )
    table = Table(title=f"{title} · baselines from the same run")
    for column, justify in (
        ("", "left"),
        ("measurement", "left"),
        ("gongshu", "right"),
        ("baseline", "left"),
        ("baseline value", "right"),
        ("goal", "right"),
        ("", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    previous = ""
    for row in results.rows:
        if previous and row.section != previous:
            table.add_section()
        previous = row.section
        style = {"meets": "green", "misses": "bold red"}.get(row.verdict, "")
        table.add_row(
            row.section,
            row.what,
            row.gongshu,
            row.baseline,
            row.baseline_value,
            row.goal,
            f"[{style}]{row.verdict}[/]" if style else row.verdict,
        )
    console.print(table)
    for note in results.notes:
        console.print(f"  · {note}", highlight=False)
    lines = [
        "```sh",
        command,
        "```",
        "",
        "| | measurement | gongshu | baseline (same run) | baseline | goal | |",
        "|---|---|---:|---|---:|---:|---|",
    ]
    for row in results.rows:
        lines.append(
            f"| {row.section} | {row.what.strip()} | {row.gongshu} | {row.baseline} | "
            f"{row.baseline_value} | {row.goal} | {row.verdict} |"
        )
    lines.append("")
    lines.extend(f"* {note}" for note in results.notes)
    console.rule("[bold]markdown (paste into bench/RESULTS.md)[/]")
    print("\n".join(lines))
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results.raw, indent=2, default=str, ensure_ascii=False))
        console.print(f"raw numbers written to {json_path}", highlight=False)


# ------------------------------------------------------------------ timing


@dataclass
class Timed:
    """Wall time of one step, our CPU time in it, and the cores everybody else kept busy."""

    wall: float = 0.0
    cpu: float = 0.0
    others: float = float("nan")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def timed() -> Iterator[Timed]:
    """``with timed() as t: …`` then ``t.wall``, ``t.cpu``, ``t.others``."""
    result = Timed()
    wall, cpu, machine = time.perf_counter(), _own_cpu(), machine_busy_seconds()
    try:
        yield result
    finally:
        result.wall = time.perf_counter() - wall
        result.cpu = _own_cpu() - cpu
        if result.wall > 0.5:  # /proc/stat ticks are 10 ms: too coarse for short steps
            result.others = max(0.0, machine_busy_seconds() - machine - result.cpu) / result.wall


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def fmt_rate(per_second: float) -> str:
    """A rate per second with thousands separators."""
    return f"{per_second:,.0f}/s"
