"""A pool of worker processes that run sandbox jobs in DuckDB, far from the server's memory.

Each worker is a separate OS process started with the ``spawn`` start method (the server is
threaded, and forking a threaded process copies locks in unknown states). Workers are started on
the first :meth:`WorkerPool.run`, then reused: a job costs a pipe round trip plus a fresh DuckDB
database, which the worker opens ahead of time while it waits. The parent waits for the answer
with the job's wall-clock timeout and SIGKILLs a worker that overruns; a worker that is killed
or dies (out of memory, crash) is replaced. What runs inside a worker is in
:mod:`gongshu.sandbox.worker_child`.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import pickle
import threading
from dataclasses import dataclass
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any

from gongshu.kernel.errors import Unavailable
from gongshu.sandbox.errors import QueryFailed

__all__ = ["Job", "Statement", "StatementResult", "ViewSpec", "WorkerPool", "parse_size"]

# How long a freshly spawned worker may take to import DuckDB and report ready.
_START_SECONDS = 60.0
# A worker is replaced after this many jobs, so allocator fragmentation cannot pile up.
_JOBS_PER_WORKER = 500

_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_size(text: str) -> int:
    """Bytes in a DuckDB size such as ``1GB`` (10⁹) or ``512MiB`` (2²⁹); ValueError if malformed."""
    body = text.strip().lower()
    unit = body.lstrip("0123456789. ").strip()
    number = body[: len(body) - len(unit)].strip()
    try:
        value = float(number) * _UNITS[unit]
    except (KeyError, ValueError):
        raise ValueError(f"not a memory size: {text!r}") from None
    if not math.isfinite(value) or value < 1:
        raise ValueError(f"not a memory size: {text!r}")
    return int(value)


@dataclass(frozen=True)
class ViewSpec:
    """One view the job's statements read: a Parquet file, a select list and a row filter.

    ``select_sql`` and ``where_sql`` may use ``file_row_number`` (unquoted) for the row's
    position in the file; the worker then reads the file with ``file_row_number=true``.
    """

    name: str
    path: str
    select_sql: str
    where_sql: str | None

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ValueError(f"view {self.name!r} needs an absolute path")


@dataclass(frozen=True)
class Statement:
    """One SELECT to run; ``k`` suppresses rows by the trailing ``k_columns`` columns."""

    sql: str
    k: int | None = None
    k_columns: int = 0
    limit: int | None = None
    offset: int = 0

    def __post_init__(self) -> None:
        if self.k is not None and (self.k < 1 or self.k_columns < 1):
            raise ValueError("k needs k >= 1 and at least one k column")
        if self.k_columns < 0 or self.offset < 0 or (self.limit is not None and self.limit < 0):
            raise ValueError("k_columns, offset and limit must not be negative")


@dataclass(frozen=True)
class Job:
    """Views plus statements, run in one fresh DuckDB database under the given limits."""

    views: tuple[ViewSpec, ...]
    statements: tuple[Statement, ...]
    timeout_seconds: float
    max_rows: int
    memory_limit: str = "1GB"
    threads: int = 1

    def __post_init__(self) -> None:
        parse_size(self.memory_limit)
        if not self.timeout_seconds > 0 or self.max_rows < 0 or self.threads < 1:
            raise ValueError("timeout_seconds > 0, max_rows >= 0 and threads >= 1 are required")


@dataclass(frozen=True)
class StatementResult:
    """What one statement released: rows that passed suppression, within the limits."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    suppressed: int
    truncated: bool
    elapsed_ms: float


class _Worker:
    """One worker process and the parent's end of its pipe; used by one thread at a time."""

    def __init__(self, ctx: SpawnContext, generation: int, scan_cap: int) -> None:
        from gongshu.sandbox.worker_child import serve  # the child imports this module

        self.generation = generation
        self.usable = True
        self.ready = False
        self.jobs = 0
        self.conn, child_conn = ctx.Pipe(duplex=True)
        self.process: SpawnProcess = ctx.Process(
            target=serve, args=(child_conn, scan_cap), name="gongshu-sandbox-worker", daemon=True
        )
        try:
            self.process.start()
        except BaseException:
            self.conn.close()
            raise
        finally:
            # Only the child may hold its end open, so its death reads as EOF here.
            child_conn.close()

    def wait_ready(self) -> bool:
        """Whether the worker is alive and has reported ready (waiting for that if needed)."""
        if not self.ready:
            try:
                if self.conn.poll(_START_SECONDS) and self.conn.recv() == ("ready",):
                    self.ready = True
            except (EOFError, OSError):
                pass
        if not (self.ready and self.process.is_alive()):
            self.usable = False
        return self.usable

    def execute(self, job: Job) -> list[StatementResult]:
        """Send ``job`` and wait for its answer within the job's timeout."""
        try:
            self.conn.send(job)
            answered = self.conn.poll(job.timeout_seconds)
        except OSError:
            answered = True  # a broken pipe: the worker is gone, recv() below says so
        if not answered:
            self.usable = False
            self.stop()
            seconds = f"{job.timeout_seconds:g}"
            raise QueryFailed(
                "query_timeout",
                f"查询超时：运行超过 {seconds} 秒，已终止 (the query ran longer than {seconds} s)",
                details={"timeout_seconds": job.timeout_seconds},
            )
        try:
            reply = self.conn.recv()
        except (EOFError, OSError, pickle.UnpicklingError):
            self.usable = False
            raise QueryFailed(
                "resource_exhausted",
                "查询耗尽了工作进程的资源，进程已终止 (the query exhausted the worker's resources)",
            ) from None
        self.jobs += 1
        if self.jobs >= _JOBS_PER_WORKER:
            self.usable = False
        if reply[0] == "ok":
            results: list[StatementResult] = reply[1]
            return results
        if reply[0] == "failed":
            if reply[1] == "resource_exhausted":
                self.usable = False  # start the next job in a process with a clean heap
            raise QueryFailed(reply[1], reply[2])
        raise RuntimeError(f"sandbox worker error: {reply[1]}")

    def stop(self) -> None:
        """SIGKILL the process (it holds no state worth saving) and reap it."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=10)
        self.conn.close()


class WorkerPool:
    """Worker processes shared by all threads; ``run`` blocks until one is free."""

    def __init__(self, size: int = 2, *, scan_cap: int = 5_000_000) -> None:
        if size < 1 or scan_cap < 1:
            raise ValueError("size and scan_cap must be at least 1")
        self._size = size
        self._scan_cap = scan_cap
        self._ctx = multiprocessing.get_context("spawn")
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._live = 0  # workers of the current generation, idle or busy or starting
        self._generation = 0  # close() moves on; older workers are stopped when handed back

    def run(self, job: Job) -> list[StatementResult]:
        """Run ``job`` in a worker; one result per statement, or QueryFailed."""
        worker = self._acquire()
        try:
            return worker.execute(job)
        finally:
            self._release(worker)

    def close(self) -> None:
        """Stop every worker; busy ones stop when their job ends. A later run starts afresh."""
        with self._cond:
            self._generation += 1
            idle, self._idle = self._idle, []
            self._live = 0
            self._cond.notify_all()
        for worker in idle:
            worker.stop()

    def _acquire(self) -> _Worker:
        for _ in range(self._size + 2):
            worker = self._take()
            if worker.wait_ready():
                return worker
            self._release(worker)  # died while idle or failed to start: replace it, try again
        raise Unavailable("沙箱工作进程无法启动 (the sandbox worker processes could not start)")

    def _take(self) -> _Worker:
        while True:
            self._refill()
            with self._cond:
                while not self._idle and self._live >= self._size:
                    self._cond.wait()
                if self._idle:
                    return self._idle.pop(0)  # the longest idle: its next database is open

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            current = worker.generation == self._generation
            if current and worker.usable:
                self._idle.append(worker)
                self._cond.notify()
                return
            if current:
                self._live -= 1
        worker.stop()
        if current:
            # Start the replacement now, so it is warm by the next job. If it cannot start, the
            # next run tries again and reports that; the job's own outcome stands.
            with contextlib.suppress(Exception):
                self._refill()

    def _refill(self) -> None:
        """Start workers until the pool has ``size`` of them (all of them on first use)."""
        with self._cond:
            generation = self._generation
            missing = self._size - self._live
            self._live += missing
        started: list[_Worker] = []
        try:
            for _ in range(missing):
                started.append(_Worker(self._ctx, generation, self._scan_cap))
        finally:
            with self._cond:
                stale = [w for w in started if w.generation != self._generation]
                if generation == self._generation:
                    self._live -= missing - len(started)
                self._idle.extend(w for w in started if w not in stale)
                self._cond.notify_all()
            for worker in stale:
                worker.stop()
