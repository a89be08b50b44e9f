"""What runs inside a sandbox worker process: one locked-down DuckDB database per job.

The database is opened before the job arrives (opening one costs several milliseconds), gets the
job's memory and thread limits, one view per :class:`~gongshu.sandbox.worker.ViewSpec`, and is
then locked: only the job's Parquet files may be read, nothing may be written, installed,
attached or reconfigured. Only a single SELECT per statement is run. Rows are fetched in batches
and suppressed by their k columns here, so rows below k never leave the process.

Behind DuckDB's own ``memory_limit`` the process has an address-space rlimit (Linux), so memory
that DuckDB does not account for cannot grow without bound either.
"""

from __future__ import annotations

import re
import resource
import signal
import sys
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from gongshu.sandbox.worker import Job, Statement, StatementResult, ViewSpec, parse_size

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "address_space_limit",
    "first_line",
    "open_database",
    "prepare",
    "releasable",
    "run_job",
    "run_statement",
    "serve",
]

_BATCH = 10_000
# Address space the worker may use beyond its size at start: twice DuckDB's memory limit (what
# DuckDB does not account for: result tuples, pickling) plus a fixed allowance and per-thread
# allocator arenas.
_FIXED_ALLOWANCE = 1 << 30
_PER_THREAD = 256 << 20
_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "temp_directory": "",  # no spilling: a job lives within its memory limit or fails
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "python_enable_replacements": False,
}
_ROW_NUMBER = re.compile(r'(?<!["\w])file_row_number(?!["\w])', re.IGNORECASE)
# An absolute path in an error message: a slash that does not follow a word character.
_PATH = re.compile(r"""(?<![\w.])/[^\s"'`(),;]+""")

Reply = tuple[Any, ...]


class _Failed(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def serve(conn: Connection, scan_cap: int) -> None:
    """The worker's loop: receive a job, answer it, until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server, which stops us
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    con = open_database()
    base = _address_space()  # DuckDB loaded and one database open
    conn.send(("ready",))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        reply = run_job(con, job, scan_cap=scan_cap, base=base)
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
        except Exception as exc:  # an unpicklable value; report it rather than die
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        con.close()
        con = open_database()


def open_database() -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB database, not yet limited or locked."""
    import duckdb

    return duckdb.connect(config=dict(_CONFIG))


def run_job(con: duckdb.DuckDBPyConnection, job: Job, *, scan_cap: int, base: int = 0) -> Reply:
    """Prepare ``con`` for ``job`` and run its statements; the reply the parent unpickles."""
    import duckdb

    paths = [v.path for v in job.views]
    try:
        if base:
            _limit_address_space(address_space_limit(base, job.memory_limit, job.threads))
        prepare(con, job)
        results = [
            run_statement(con, s, max_rows=job.max_rows, scan_cap=scan_cap) for s in job.statements
        ]
    except _Failed as exc:
        return ("failed", exc.reason, exc.message)
    except (duckdb.OutOfMemoryException, MemoryError):
        limit = job.memory_limit
        return (
            "failed",
            "resource_exhausted",
            f"查询超出内存限制 {limit} (the query exceeded the memory limit of {limit})",
        )
    except duckdb.Error as exc:
        line = first_line(str(exc), paths)
        return ("failed", "execution_error", f"查询执行出错 (query failed: {line})")
    except Exception as exc:  # a bug on our side (bad k_columns …): the parent raises it
        return ("error", f"{type(exc).__name__}: {first_line(str(exc), paths)}")
    finally:
        if base:
            _limit_address_space(resource.RLIM_INFINITY)
    return ("ok", results)


def prepare(con: duckdb.DuckDBPyConnection, job: Job) -> None:
    """Set the limits, create the views, then lock the database to the views' files."""
    con.execute(f"SET memory_limit = {_literal(job.memory_limit)}")
    con.execute(f"SET threads = {int(job.threads)}")
    for view in job.views:
        con.execute(_view_sql(view))
    allowed = ", ".join(_literal(v.path) for v in job.views)
    con.execute(f"SET allowed_paths = [{allowed}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def run_statement(
    con: duckdb.DuckDBPyConnection, statement: Statement, *, max_rows: int, scan_cap: int
) -> StatementResult:
    """Run one SELECT, suppress rows by k, apply offset/limit, keep at most ``max_rows``."""
    started = time.perf_counter()
    parsed = con.extract_statements(statement.sql)
    if len(parsed) != 1 or parsed[0].type.name != "SELECT":
        raise _Failed(
            "execution_error",
            "沙箱只运行单条 SELECT 语句 (the sandbox runs a single SELECT statement only)",
        )
    cursor = con.execute(parsed[0])
    names = [d[0] for d in cursor.description or ()]
    kc = statement.k_columns
    if kc > len(names):
        raise ValueError(f"{kc} k columns but the statement has {len(names)} columns")
    width = len(names) - kc
    start = statement.offset
    end = None if statement.limit is None else start + statement.limit
    k = statement.k
    rows: list[tuple[Any, ...]] = []
    released = suppressed = scanned = 0
    truncated = False
    while batch := cursor.fetchmany(_BATCH):
        scanned += len(batch)
        if scanned > scan_cap:
            raise _Failed(
                "output_too_large",
                f"查询结果过大：超过 {scan_cap} 行 (the query returned more than {scan_cap} rows)",
            )
        for row in batch:
            if k is not None and not releasable(row[width:], k):
                suppressed += 1
                continue
            position = released
            released += 1
            if position < start or (end is not None and position >= end):
                continue
            if len(rows) < max_rows:
                rows.append(row[:width] if kc else row)
            else:
                truncated = True
        # Without suppression to count, nothing further can change the answer.
        if k is None and (truncated or (end is not None and released >= end)):
            break
    elapsed = (time.perf_counter() - started) * 1000
    return StatementResult(tuple(names[:width]), rows, suppressed, truncated, elapsed)


def releasable(counts: Sequence[Any], k: int) -> bool:
    """A row goes out only when every k count is 0 or ≥ k, and at least one is ≥ k."""
    seen = False
    for value in counts:
        n = value or 0
        if 0 < n < k:
            return False
        seen = seen or n >= k
    return seen


def first_line(message: str, paths: Sequence[str]) -> str:
    """The first line of a DuckDB error, with file paths taken out."""
    line = next((part.strip() for part in message.splitlines() if part.strip()), "unknown error")
    for path in sorted(paths, key=len, reverse=True):
        line = line.replace(path, "<file>")
    return _PATH.sub("<path>", line)


def address_space_limit(base: int, memory_limit: str, threads: int) -> int:
    """The RLIMIT_AS for a job: the size at start plus room around DuckDB's memory limit."""
    return base + 2 * parse_size(memory_limit) + _FIXED_ALLOWANCE + _PER_THREAD * threads


def _view_sql(view: ViewSpec) -> str:
    options = ", file_row_number = true" if _ROW_NUMBER.search(_view_text(view)) else ""
    where = f" WHERE {view.where_sql}" if view.where_sql else ""
    return (
        f"CREATE VIEW {_identifier(view.name)} AS SELECT {view.select_sql} "
        f"FROM read_parquet({_literal(view.path)}{options}){where}"
    )


def _view_text(view: ViewSpec) -> str:
    return view.select_sql + " " + (view.where_sql or "")


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _address_space() -> int:
    """The process's virtual size in bytes (Linux), or 0 where it cannot be read."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _limit_address_space(limit: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY and (limit == resource.RLIM_INFINITY or limit > hard):
        limit = hard
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
