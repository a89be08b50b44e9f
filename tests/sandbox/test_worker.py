"""The sandbox worker pool: real worker processes running DuckDB over real Parquet files."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from gongshu.sandbox import worker_child
from gongshu.sandbox.errors import QueryFailed
from gongshu.sandbox.worker import Job, Statement, StatementResult, ViewSpec, WorkerPool, parse_size

ROWS = 300_000
SCAN_CAP = 50_000
PEOPLE = "3A0100301/000012"  # a resource code: the view name users double-quote

# Five groups whose trailing k counts exercise every case of the release rule for k = 5.
K_CASES = """
    SELECT g, n, k1, k2 FROM (VALUES
        ('a', 1, 5, 0), ('b', 2, 0, 0), ('c', 3, 2, 7), ('d', 4, 7, 7), ('e', 5, 0, 9)
    ) t(g, n, k1, k2) ORDER BY g
"""
# Ten groups 0..9; the odd ones have 2 subjects (below k = 5), the even ones 6.
ALTERNATING = "SELECT i AS grp, CASE WHEN i % 2 = 0 THEN 6 ELSE 2 END AS __k1 FROM range(10) t(i)"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A people file: ids, a district with one tiny group, money, dates and a secret column."""
    path = tmp_path_factory.mktemp("lake") / "people.parquet"
    duckdb.sql(
        f"""COPY (
            SELECT i AS id,
                   CASE WHEN i < 3 THEN 'tiny' ELSE 'd' || (i % 4) END AS district,
                   CAST(i % 1000 AS DECIMAL(12, 2)) AS income,
                   DATE '1960-01-01' + CAST(i % 20000 AS INTEGER) AS born,
                   TIMESTAMP '2024-01-01 08:00:00' + to_seconds(i) AS seen,
                   'secret-' || i AS secret
            FROM range({ROWS}) t(i)
        ) TO '{path}' (FORMAT parquet)"""
    )
    return path


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    shared = WorkerPool(2, scan_cap=SCAN_CAP)
    yield shared
    shared.close()


def people(data: Path) -> ViewSpec:
    """The granted view: no secret column, rows with id < 200,000 only, a hidden subject."""
    return ViewSpec(
        name=PEOPLE,
        path=str(data),
        select_sql='"id", "district", "income", "born", "seen", "id" AS __subject',
        where_sql='"id" < 200000',
    )


def everything(data: Path) -> ViewSpec:
    """The whole file, for the resource tests."""
    return ViewSpec(name="v", path=str(data), select_sql="*", where_sql=None)


def job(
    *statements: Statement,
    views: tuple[ViewSpec, ...] = (),
    timeout_seconds: float = 20.0,
    max_rows: int = 100,
    memory_limit: str = "1GB",
    threads: int = 1,
) -> Job:
    return Job(views, statements, timeout_seconds, max_rows, memory_limit, threads)


def one(pool: WorkerPool, statement: Statement, **options: Any) -> StatementResult:
    [result] = pool.run(job(statement, **options))
    return result


def refused_statement(pool: WorkerPool, statement: Statement, **options: Any) -> QueryFailed:
    with pytest.raises(QueryFailed) as caught:
        pool.run(job(statement, **options))
    return caught.value


def refused(pool: WorkerPool, sql: str, **options: Any) -> QueryFailed:
    return refused_statement(pool, Statement(sql), **options)


# --- views -------------------------------------------------------------------------------------


def test_a_view_exposes_only_its_select_list_and_rows(pool: WorkerPool, data: Path) -> None:
    view = (people(data),)
    first = one(pool, Statement(f'SELECT * FROM "{PEOPLE}" ORDER BY id LIMIT 2'), views=view)
    assert first.columns == ("id", "district", "income", "born", "seen", "__subject")
    assert first.rows[1] == (
        1,
        "tiny",
        Decimal("1.00"),
        date(1960, 1, 2),
        datetime(2024, 1, 1, 8, 0, 1),
        1,
    )
    counted = one(pool, Statement(f'SELECT count(*), max(id) FROM "{PEOPLE}"'), views=view)
    assert counted.rows == [(200_000, 199_999)]

    hidden = refused(pool, f'SELECT secret FROM "{PEOPLE}"', views=view)
    assert hidden.reason == "execution_error"
    assert "secret" in hidden.message and str(data.parent) not in hidden.message


def test_a_view_may_use_the_file_row_number(pool: WorkerPool, data: Path) -> None:
    view = ViewSpec("rows", str(data), '"district", file_row_number AS __subject', None)
    result = one(pool, Statement("SELECT max(__subject) FROM rows"), views=(view,))
    assert result.rows == [(ROWS - 1,)]


def test_several_statements_share_one_job(pool: WorkerPool, data: Path) -> None:
    results = pool.run(
        job(
            Statement(f"SELECT count(*) FROM \"{PEOPLE}\" WHERE district = 'tiny'"),
            Statement("SELECT 40 + 2 AS answer"),
            views=(people(data),),
        )
    )
    assert [r.rows for r in results] == [[(3,)], [(42,)]]
    assert results[1].columns == ("answer",)


# --- suppression, paging, caps -----------------------------------------------------------------


def test_k_suppression_releases_only_rows_whose_counts_are_zero_or_at_least_k(
    pool: WorkerPool,
) -> None:
    result = one(pool, Statement(K_CASES, k=5, k_columns=2))
    assert result.columns == ("g", "n")
    assert result.rows == [("a", 1), ("d", 4), ("e", 5)]
    assert result.suppressed == 2
    assert not result.truncated


def test_a_tiny_group_over_a_view_is_suppressed(pool: WorkerPool, data: Path) -> None:
    sql = (
        f'SELECT district, count(*) AS people, count(DISTINCT __subject) AS __k1 FROM "{PEOPLE}" '
        "GROUP BY district ORDER BY district"
    )
    result = one(pool, Statement(sql, k=5, k_columns=1), views=(people(data),))
    assert [row[0] for row in result.rows] == ["d0", "d1", "d2", "d3"]
    assert sum(row[1] for row in result.rows) == 200_000 - 3
    assert result.suppressed == 1


def test_limit_and_offset_apply_after_suppression(pool: WorkerPool) -> None:
    result = one(pool, Statement(ALTERNATING, k=5, k_columns=1, limit=2, offset=1))
    assert result.rows == [(2,), (4,)]
    assert result.suppressed == 5  # counted over the whole result, not only the page
    assert not result.truncated


def test_more_released_rows_than_max_rows_are_truncated(pool: WorkerPool) -> None:
    capped = one(pool, Statement(ALTERNATING, k=5, k_columns=1), max_rows=3)
    assert capped.rows == [(0,), (2,), (4,)]
    assert capped.truncated and capped.suppressed == 5

    exact = one(pool, Statement(ALTERNATING, k=5, k_columns=1), max_rows=5)
    assert len(exact.rows) == 5 and not exact.truncated

    limited = one(pool, Statement(ALTERNATING, k_columns=1, limit=3), max_rows=3)
    assert limited.rows == [(0,), (1,), (2,)]  # no k: nothing suppressed, k column dropped
    assert not limited.truncated and limited.suppressed == 0


def test_rows_past_the_scan_cap_stop_the_query(pool: WorkerPool, data: Path) -> None:
    view = (people(data),)
    # With suppression every row must be scanned (to count what was suppressed): too many.
    sql = f'SELECT id, 1 AS __k1 FROM "{PEOPLE}"'
    failed = refused_statement(pool, Statement(sql, k=1, k_columns=1), views=view)
    assert failed.reason == "output_too_large"
    assert str(SCAN_CAP) in failed.message
    # So must the rows an offset skips.
    paged = Statement(f'SELECT id FROM "{PEOPLE}"', offset=SCAN_CAP + 10, limit=1)
    assert refused_statement(pool, paged, views=view).reason == "output_too_large"
    # Without suppression the worker stops reading once max_rows is exceeded.
    rows = one(pool, Statement(f'SELECT id FROM "{PEOPLE}"'), views=view, max_rows=5)
    assert len(rows.rows) == 5 and rows.truncated


# --- limits ------------------------------------------------------------------------------------


def test_a_runaway_query_is_killed_at_the_timeout(pool: WorkerPool, data: Path) -> None:
    runaway = "SELECT count(*) FROM v a, v b, v c"
    failed = refused(pool, runaway, views=(everything(data),), timeout_seconds=1.0)
    assert failed.reason == "query_timeout"
    assert "查询超时" in failed.message and "longer than 1 s" in failed.message
    assert one(pool, Statement("SELECT 1 AS still_here")).rows == [(1,)]


def test_the_memory_limit_gives_resource_exhausted(pool: WorkerPool, data: Path) -> None:
    hungry = "SELECT count(DISTINCT secret || r) FROM v, range(20) t(r)"
    failed = refused(pool, hungry, views=(everything(data),), memory_limit="64MB")
    assert failed.reason == "resource_exhausted"
    assert "64MB" in failed.message
    assert one(pool, Statement("SELECT 2 AS still_here")).rows == [(2,)]


def test_duckdb_works_within_the_address_space_rlimit(pool: WorkerPool, data: Path) -> None:
    # 1.5 million distinct strings with two threads: real work under the rlimit of a 1GB job.
    sql = "SELECT count(DISTINCT secret || r) FROM v, range(5) t(r)"
    result = one(pool, Statement(sql), views=(everything(data),), memory_limit="1GB", threads=2)
    assert result.rows == [(ROWS * 5,)]


def test_sizes_and_the_rlimit_follow_the_memory_limit() -> None:
    assert parse_size("1GB") == 10**9
    assert parse_size("512 MiB") == 512 * 2**20
    assert parse_size("1.5gb") == 1_500_000_000
    for bad in ("", "GB", "12 parsecs", "-1GB", "0MB"):
        with pytest.raises(ValueError):
            parse_size(bad)
    with pytest.raises(ValueError):
        Job(views=(), statements=(), timeout_seconds=1, max_rows=1, memory_limit="lots")
    small = worker_child.address_space_limit(100 << 20, "64MB", 1)
    large = worker_child.address_space_limit(100 << 20, "2GB", 1)
    assert large - small == 2 * (2 * 10**9 - 64 * 10**6)
    assert small > (100 << 20) + 2 * 64 * 10**6


def test_statements_are_checked_before_they_reach_a_worker() -> None:
    with pytest.raises(ValueError):
        Statement("SELECT 1", k=5)  # k without k columns would suppress nothing
    with pytest.raises(ValueError):
        Statement("SELECT 1", offset=-1)
    with pytest.raises(ValueError):
        ViewSpec("v", "relative/file.parquet", "*", None)


# --- escapes -----------------------------------------------------------------------------------

ESCAPES = [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM glob('/etc/*')",
    "COPY (SELECT 1) TO '{tmp}/copied.csv'",
    "SET enable_external_access = true",
    "SET memory_limit = '100GB'",
    "PRAGMA threads = 8",
    "INSTALL httpfs",
    "LOAD httpfs",
    "ATTACH '{tmp}/x.db'",
    "EXPORT DATABASE '{tmp}/export'",
    "SELECT 1; COPY (SELECT 1) TO '{tmp}/second.csv'",
    "CREATE TABLE t AS SELECT 1",
]


@pytest.mark.parametrize("sql", ESCAPES)
def test_escapes_fail_inside_the_worker(pool: WorkerPool, data: Path, sql: str) -> None:
    tmp = data.parent
    failed = refused(pool, sql.format(tmp=tmp), views=(everything(data),))
    assert failed.reason == "execution_error"
    assert "/etc" not in failed.message and str(tmp) not in failed.message
    assert sorted(p.name for p in tmp.iterdir()) == ["people.parquet"]


def test_the_locked_database_itself_refuses_escapes(data: Path, tmp_path: Path) -> None:
    # The same lock, met directly: these never reach DuckDB in the worker, which runs SELECT only.
    con = worker_child.open_database()
    try:
        worker_child.prepare(con, job(views=(people(data),)))
        assert con.execute(f'SELECT count(*) FROM "{PEOPLE}"').fetchall() == [(200_000,)]
        for sql in (
            f"COPY (SELECT 1) TO '{tmp_path}/x.csv'",
            "SET enable_external_access = true",
            "SET lock_configuration = false",
            "RESET memory_limit",
            "INSTALL httpfs",
            "LOAD httpfs",
            f"ATTACH '{tmp_path}/x.db'",
            "SELECT * FROM read_csv('/etc/passwd')",
        ):
            with pytest.raises(duckdb.Error):
                con.execute(sql)
        assert list(tmp_path.iterdir()) == []
    finally:
        con.close()


def test_error_messages_keep_the_first_line_without_paths() -> None:
    message = 'IO Error: No files found that match "/srv/lake/a b/x.parquet"\nLINE 1: SELECT 1 / 2'
    assert worker_child.first_line(message, ["/srv/lake/a b/x.parquet"]) == (
        'IO Error: No files found that match "<file>"'
    )
    assert worker_child.first_line("Permission Error: /etc/passwd denied", []) == (
        "Permission Error: <path> denied"
    )
    assert worker_child.first_line("Conversion Error: '12/05/2020' and 6/3", []) == (
        "Conversion Error: '12/05/2020' and 6/3"
    )


# --- concurrency and lifecycle -----------------------------------------------------------------


def test_parallel_runs_from_threads_all_complete(pool: WorkerPool, data: Path) -> None:
    answers: dict[int, list[StatementResult]] = {}
    errors: list[BaseException] = []

    def ask(i: int) -> None:
        try:
            sql = f'SELECT count(*), min(id) FROM "{PEOPLE}" WHERE id % 8 = {i}'
            answers[i] = pool.run(job(Statement(sql), views=(people(data),)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert {i: r[0].rows for i, r in answers.items()} == {i: [(25_000, i)] for i in range(8)}


def _address_space_rlimit(pid: int) -> str:
    with open(f"/proc/{pid}/limits", encoding="ascii") as limits:
        line = next(x for x in limits if x.startswith("Max address space"))
    return line.split()[3]


def test_a_worker_that_dies_is_reported_and_replaced(data: Path) -> None:
    before = {p.pid for p in multiprocessing.active_children()}
    single = WorkerPool(1)
    try:
        assert single.run(job(Statement("SELECT 1")))[0].rows == [(1,)]
        [worker] = [p.pid for p in multiprocessing.active_children() if p.pid not in before]
        assert worker is not None
        outcome: list[BaseException] = []

        def runaway() -> None:
            try:
                single.run(
                    job(Statement("SELECT count(*) FROM v a, v b"), views=(everything(data),))
                )
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=runaway)
        thread.start()
        time.sleep(0.5)
        if sys.platform.startswith("linux"):
            assert _address_space_rlimit(worker) != "unlimited"  # the second wall is up
        os.kill(worker, signal.SIGKILL)  # what the kernel's OOM killer would do
        thread.join(timeout=30)
        assert [getattr(e, "reason", e) for e in outcome] == ["resource_exhausted"]
        assert single.run(job(Statement("SELECT 3")))[0].rows == [(3,)]

        single.close()
        single.close()
        assert single.run(job(Statement("SELECT 4")))[0].rows == [(4,)]  # started afresh
    finally:
        single.close()
    time.sleep(0.2)
    assert {p.pid for p in multiprocessing.active_children()} <= before
