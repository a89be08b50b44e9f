"""Open data figures (issue 5): the row API beside Datasette, and CKAN ``package_search``.

1. **Row API on a 1,000,000-row open dataset.** A generated table of bus arrivals (公交车辆到站
   记录: line, stop, district, vehicle, arrival time, passengers, delay, on time) is written once
   as Parquet the way ingest writes it (zstd, row groups of 122,880) and cached under
   ``$TMPDIR``. In a fresh data home (``gongshu init`` + ``gongshu demo``, embedded default) it
   becomes the latest version of an unconditional open entry of the transport commission
   (created by its officer, published by the bureau; the file is placed in the lake and the
   version row committed, as ingest does after typing — ingest is ``bench/ingest.py``'s
   subject). The bureau issues an app key whose rate limit and daily quota are high enough
   not to throttle the load (row calls need a key, even for unconditional entries).

   The same rows, in file order (``rowid`` = Parquet row number + 1), go into a SQLite file
   that Datasette serves immutable (``-i``, with ``--inspect-file`` so its unfiltered count is
   cached, as the platform's is the version's row count). Indexed for the same queries: the
   filter column, and the sort column descending (``order by 载客人数 desc, rowid`` then walks
   the index with no sort step); keyset paging uses the rowid. ``ANALYZE`` is run.

   ``gongshu serve`` (one uvicorn worker) and ``datasette serve`` (one uvicorn process, its
   default three SQL threads) are loaded on loopback by the same ``wrk`` (a Lua script cycles
   through a list of paths), with the same connections, rounds alternating, after a warm-up:

   * the first page (100 rows);
   * a filtered page: ``线路编号__exact=L0042`` (every 1,200th row matches);
   * keyset paging deep into the table: cursors collected by following the next links from the
     first page to the end with ``_size=1000`` on each server, then pages of 100 at every
     cursor in the second half, in the same shuffled order for both;
   * a sort: ``_sort=-载客人数`` (Datasette ``_sort_desc=载客人数``), the first page.

   Datasette is asked for the same work — ``_shape=objects&_size=100&_nocount=1&_nofacet=1&
   _nosuggest=1``: rows as objects and the next cursor, no count (the platform's default total
   is the version's row count or an estimate), no facets — and, for context, with its defaults
   (``_shape=objects&_size=100``: an exact count of filtered rows, facet suggestions). Before
   measuring, each query's page is fetched from both servers and compared row by row.

2. **CKAN ``package_search`` at 100,000 entries.** The catalogue benchmark's generator
   (``bench/catalog.py``: ``catalogue_home``, cached in a directory of this benchmark's own)
   makes the entries — those of them published with an open type are the open ones — and
   this script adds the published metadata version (``catalog_version``) of each, which the
   CKAN packages are read from, set-based. ``gongshu serve`` on that home answers a few
   representative calls under the same ``wrk``: no ``q``; ``q=公交``;
   ``fq=organization:<the transport commission>``; all five facets; and ``status_show`` as the
   floor of the CKAN route.

    .venv/bin/python bench/opendata.py [--rows 1000000] [--entries 100000] [--duration 10]
                                       [--rounds 3] [--connections 16] [--wait-quiet 60]

A benchmark, not a test: it asserts no times.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api_me import Measured, find_wrk, parse_wrk
from benchlib import (
    BIN,
    BYTECODE_MODES,
    CpuMeter,
    DataHome,
    Interrupted,
    LoadResult,
    Results,
    Spawned,
    add_wait_quiet,
    clean_env,
    configure_bytecode,
    free_port,
    install_signal_handlers,
    load_average,
    machine_line,
    platform_server_argv,
    prepare_home,
    print_results,
    spawned,
    temp_dir,
    timed,
    verdict,
    wait_for_quiet,
    wait_until_ok,
)
from rich.console import Console
from rich.markup import escape

import catalog as catalog_bench  # bench/catalog.py: the 100k-entry generator

console = Console() if sys.stdout.isatty() else Console(width=160)

DATA_VERSION = "1"  # bump when the generated table changes
BENCH_LIMIT = 1_000_000_000  # the app key's rate limit and daily quota: never the bottleneck
DATASETTE = str(BIN / "datasette")
DB_NAME = "bus"
TABLE = "arrivals"
ENTRY_NAME = "公交车辆到站记录（基准）"
FIELDS: list[dict[str, str]] = [
    {"name": "线路编号", "type": "string", "description": "线路的编号"},
    {"name": "线路名称", "type": "string", "description": ""},
    {"name": "站点编码", "type": "string", "description": "站点的编码"},
    {"name": "站点名称", "type": "string", "description": ""},
    {"name": "区划", "type": "string", "description": "站点所在区的行政区划代码"},
    {"name": "车辆编号", "type": "string", "description": "车辆的自编号"},
    {"name": "到站时间", "type": "datetime", "description": "车辆到站的时间"},
    {"name": "载客人数", "type": "integer", "description": "到站时车上的乘客数"},
    {"name": "延误秒数", "type": "integer", "description": "相对时刻表的延误，早到为负"},
    {"name": "准点", "type": "boolean", "description": "延误不超过两分钟"},
]
NAMES = [f["name"] for f in FIELDS]
FILTER = ("线路编号", "L0042")
SORT = "载客人数"  # descending
PAGE = 100
CASES = ("first", "filter", "deep", "sort")
WALK_PAGE = 1000
DISTRICTS = [f"1101{n:02d}" for n in (1, 2, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19)]
PLACES = (
    "天安门", "王府井", "国贸", "西单", "中关村", "五道口", "望京", "三元桥", "公主坟", "木樨地",
    "崇文门", "东直门", "西直门", "朝阳门", "复兴门", "建国门", "安贞", "和平里", "北太平庄",
    "马甸", "六里桥", "丽泽", "方庄", "刘家窑", "宋家庄", "大红门", "草桥", "玉泉营", "鲁谷",
    "八角", "苹果园", "四惠", "双井", "劲松", "潘家园", "十里河", "亦庄", "回龙观", "天通苑",
    "良乡",
)  # fmt: skip
LEAN = {"_shape": "objects", "_size": str(PAGE), "_nocount": "1", "_nofacet": "1",
        "_nosuggest": "1"}  # fmt: skip
DEFAULTS = {"_shape": "objects", "_size": str(PAGE)}
FACETS = ["organization", "groups", "tags", "res_format", "license_id"]

# Cycles through the paths in the file given after ``--``: one Lua state per wrk thread.
WRK_SCRIPT = """
local paths = {}
local n = 0
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
end
function request()
  n = n + 1
  return wrk.format("GET", paths[(n - 1) % #paths + 1])
end
"""


def code_fingerprint() -> str:
    """Short hashes of the open API's modules (they change often: say which code was measured)."""
    import hashlib

    folder = Path(__file__).resolve().parent.parent / "src" / "gongshu" / "opendata"
    names = ("routes", "rows", "serving", "access", "keys", "usage", "ckan", "ckan_query",
             "ckan_packages", "routes_ckan")  # fmt: skip
    parts = []
    for name in names:
        path = folder / f"{name}.py"
        if path.exists():
            parts.append(f"{name} {hashlib.sha256(path.read_bytes()).hexdigest()[:8]}")
    return ", ".join(parts)


def quiet(args: argparse.Namespace) -> None:
    """Wait for the machine to go quiet before a measurement, when asked to."""
    if args.wait_quiet > 0:
        console.print(f"  {wait_for_quiet(args.wait_quiet)}", highlight=False)


def cache_root(args: argparse.Namespace) -> Path:
    """Where the generated table and its SQLite copy are kept between runs."""
    if args.cache_dir:
        return Path(args.cache_dir)
    name = f"gongshu-bench-opendata-v{DATA_VERSION}-{args.rows}"
    return Path(tempfile.gettempdir()) / name


# ------------------------------------------------------------------ the table


def _sql_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(f"'{item}'" for item in items) + "]"


def ensure_parquet(rows: int, cache: Path) -> Path:
    """The generated arrivals as Parquet, written as ingest writes (cached)."""
    import duckdb

    path = cache / "arrivals.parquet"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    # Lines and stops step through every value (961 and 4507 are coprime to 1,200 and 6,000),
    # so line L0042 is every 1,200th row; the rest comes from DuckDB's hash of the row number.
    with duckdb.connect() as con:
        con.execute("SET enable_progress_bar = false")
        con.execute(
            f"""COPY (SELECT
                  'L' || lpad(CAST(line AS VARCHAR), 4, '0') AS 线路编号,
                  CAST(line AS VARCHAR) || '路' AS 线路名称,
                  'S' || lpad(CAST(stop AS VARCHAR), 5, '0') AS 站点编码,
                  {_sql_list(PLACES)}[1 + stop % 40]
                    || ['', '东', '西', '南', '北', '路口', '公交场站'][1 + (stop // 40) % 7]
                    || '站' AS 站点名称,
                  {_sql_list(DISTRICTS)}[1 + stop % 16] AS 区划,
                  '京B' || lpad(CAST(10000 + hash(i * 3) % 8000 AS VARCHAR), 5, '0') AS 车辆编号,
                  TIMESTAMP '2026-10-01 05:00:00' + to_seconds(i * 2) AS 到站时间,
                  CAST(hash(i * 3 + 1) % 121 AS BIGINT) AS 载客人数,
                  CASE WHEN i % 53 = 0 THEN NULL ELSE delay END AS 延误秒数,
                  CASE WHEN i % 53 = 0 THEN NULL ELSE delay <= 120 END AS 准点
                FROM (SELECT i, (i * 961) % 1200 + 1 AS line, (i * 4507 + 11) % 6000 AS stop,
                             CAST(hash(i * 3 + 2) % 900 AS BIGINT) - 120 AS delay
                      FROM range({rows}) r(i))
                ORDER BY i)
               TO '{partial}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"""
        )  # fmt: skip
    partial.rename(path)
    return path


def ensure_sqlite(parquet: Path, cache: Path) -> tuple[Path, Path, list[str]]:
    """The same rows in SQLite for Datasette, indexed, with Datasette's inspect file (cached).

    Returns the database, the inspect file and the statements that made the indexes.
    """
    import duckdb

    path, inspect = cache / f"{DB_NAME}.db", cache / f"{DB_NAME}-inspect.json"
    indexes = [
        f'CREATE INDEX idx_line ON {TABLE} ("{FILTER[0]}")',
        f'CREATE INDEX idx_load_desc ON {TABLE} ("{SORT}" DESC)',
    ]
    if path.exists() and inspect.exists():
        return path, inspect, indexes
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    types = {"string": "TEXT", "datetime": "TEXT", "integer": "INTEGER", "boolean": "INTEGER"}
    columns = ", ".join(f'"{f["name"]}" {types[f["type"]]}' for f in FIELDS)
    select = ", ".join(
        f"strftime(\"{n}\", '%Y-%m-%d %H:%M:%S')"
        if t == "datetime"
        else f'CAST("{n}" AS INTEGER)'
        if t == "boolean"
        else f'"{n}"'
        for n, t in ((f["name"], f["type"]) for f in FIELDS)
    )
    marks = ", ".join("?" for _ in range(len(FIELDS) + 1))
    with contextlib.closing(sqlite3.connect(partial)) as lite, duckdb.connect() as duck:
        lite.execute("PRAGMA journal_mode=OFF")
        lite.execute("PRAGMA synchronous=OFF")
        lite.execute(f"CREATE TABLE {TABLE} ({columns})")
        duck.execute("SET enable_progress_bar = false")
        cursor = duck.execute(
            f"SELECT file_row_number + 1, {select} FROM read_parquet('{parquet}', "
            "file_row_number = true) ORDER BY file_row_number"
        )
        quoted = ", ".join(f'"{n}"' for n in NAMES)
        insert = f"INSERT INTO {TABLE} (rowid, {quoted}) VALUES ({marks})"
        while batch := cursor.fetchmany(50_000):
            lite.executemany(insert, batch)
            lite.commit()
        for statement in indexes:
            lite.execute(statement)
        lite.execute("ANALYZE")
        lite.commit()
    partial.rename(path)
    run = subprocess.run(
        [DATASETTE, "inspect", str(path), "--inspect-file", str(inspect)],
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        raise SystemExit(f"datasette inspect failed:\n{run.stdout}\n{run.stderr}")
    return path, inspect, indexes


def query_plans(db: Path) -> dict[str, str]:
    """SQLite's plan for the SQL Datasette runs for each query (no temp B-tree wanted)."""
    names = ", ".join(f'"{n}"' for n in NAMES)
    sqls = {
        "first page": f"select rowid, {names} from {TABLE} order by rowid limit 101",
        "filtered page": f'select rowid, {names} from {TABLE} where "{FILTER[0]}" = :p0 '
        "order by rowid limit 101",
        "deep page": f"select rowid, {names} from {TABLE} where rowid > :p0 order by rowid "
        "limit 101",
        "sorted page": f'select rowid, {names} from {TABLE} order by "{SORT}" desc, rowid '
        "limit 101",
    }
    plans = {}
    with contextlib.closing(sqlite3.connect(f"file:{db}?immutable=1", uri=True)) as conn:
        for label, sql in sqls.items():
            rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", {"p0": "x"}).fetchall()
            plans[label] = "; ".join(str(r[-1]) for r in rows)
    return plans


# ------------------------------------------------------------------ the platform's side


def _actor(platform: Any, username: str) -> Any:
    import sqlalchemy as sa

    from gongshu.identity.models import User
    from gongshu.identity.service import actor_for_user

    with platform.uow(writes=False) as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == username))
        if user is None:
            raise SystemExit(f"the demo has no user {username!r}")
        return actor_for_user(uow, user)


def publish_dataset(home: Path, parquet: Path) -> tuple[str, str, str]:
    """An unconditional open entry whose latest version is the table; (entry id, key, provider)."""
    import duckdb
    import sqlalchemy as sa

    from gongshu.catalog import service as catalog_service
    from gongshu.catalog.schemas import EntryInput
    from gongshu.datastore.models import DatasetVersion
    from gongshu.identity.models import Organisation
    from gongshu.kernel.ids import new_id
    from gongshu.opendata import keys
    from gongshu.opendata.schemas import AppKeyCreate

    platform = catalog_bench.open_platform(home)
    try:
        officer = _actor(platform, "dept_officer")  # the transport commission's officer
        admin = _actor(platform, "bureau_admin")
        with platform.uow(writes=False) as uow:
            provider = uow.session.scalar(
                sa.select(Organisation.name).where(Organisation.id.in_(officer.organisation_ids))
            )
        data = EntryInput.model_validate(
            {
                "name": ENTRY_NAME,
                "summary": "全市公交车辆逐次到站记录，含线路、站点、到站时间、载客人数和延误情况",
                "keywords": ["公交", "到站", "出行", "基准"],
                "provider": provider,
                "fields": [dict(f, element_code=None, flags=[]) for f in FIELDS],
                "format": "database",
                "update_frequency": "daily",
                "share_type": "unconditional",
                "delivery": ["api", "file"],
                "open_type": "unconditional",
                "theme": "04",
                "impact": {"public_interest": "general"},
            }
        )
        with platform.uow() as uow:
            entry_id = catalog_service.create_entry(uow, actor=officer, data=data, submit=True).id
        with platform.uow() as uow:
            catalog_service.approve_entry(uow, actor=admin, entry_id=entry_id, publish=True)
        with platform.datastore.lake.scratch() as work:  # the lake takes the file it is given
            shutil.copyfile(parquet, work / parquet.name)
            digest, size = platform.datastore.lake.put(work / parquet.name)
        with duckdb.connect() as con:
            found = con.execute(f"SELECT count(*) FROM read_parquet('{parquet}')").fetchone()
        with platform.uow() as uow:
            uow.session.add(
                DatasetVersion(
                    id=new_id("ver"), entry_id=entry_id, number=1, file_hash=digest,
                    file_bytes=size, rows=found[0] if found else 0,
                    columns=[{"name": f["name"], "type": f["type"], "flags": []} for f in FIELDS],
                    key_fields=[], source_name=parquet.name, source_hash=digest,
                    source_bytes=size, source_format="parquet", created_at=uow.clock.now(),
                )
            )  # fmt: skip
            uow.commit()
        with platform.uow() as uow:
            _key, raw = keys.create_key(
                uow,
                actor=admin,
                data=AppKeyCreate(
                    name="benchmark", rate_limit_per_minute=BENCH_LIMIT, daily_quota=BENCH_LIMIT
                ),
            )
            uow.commit()
        return entry_id, raw, str(provider)
    finally:
        platform.dispose()


# ------------------------------------------------------------------ HTTP


class Client:
    """One keep-alive connection for the sequential calls (walks, checks)."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.headers = headers
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def get(self, path: str) -> tuple[int, bytes]:
        """One GET: (status, body)."""
        try:
            self.conn.request("GET", path, headers=self.headers)
            response = self.conn.getresponse()
        except (ConnectionError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
            self.conn.request("GET", path, headers=self.headers)
            response = self.conn.getresponse()
        return response.status, response.read()

    def json(self, path: str) -> Any:
        """GET a path that must answer 200 with JSON."""
        status, body = self.get(path)
        if status != 200:
            raise SystemExit(f"GET {path} answered {status}: {body[:600]!r}")
        return json.loads(body)

    def close(self) -> None:
        self.conn.close()


def _query(params: dict[str, str]) -> str:
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


@dataclass
class Server:
    """A started server and what the rows queries look like on it."""

    label: str
    proc: Spawned
    port: int
    headers: dict[str, str]
    path: str  # the table's path on this server
    extra: dict[str, str]  # parameters every call carries

    def url(self, params: dict[str, str]) -> str:
        """The path with the server's own parameters and these (which win)."""
        items = self.extra | params
        return f"{self.path}?{_query(items)}" if items else self.path


def walk(client: Client, first: str, next_path: Callable[[Any], str | None]) -> list[str]:
    """Follow next links from ``first`` to the end; the path of every page after the first."""
    paths: list[str] = []
    path: str | None = first
    with catalog_bench.progress_bar() as bar:
        task = bar.add_task("following next links", total=None, rate="")
        while path is not None:
            path = next_path(client.json(path))
            if path is not None:
                paths.append(path)
            bar.update(task, advance=1, rate=f"{len(paths):,} pages")
    return paths


# ------------------------------------------------------------------ comparing pages


def _norm(name: str, value: Any) -> Any:
    kind = next(f["type"] for f in FIELDS if f["name"] == name)
    if value is None:
        return None
    if kind == "datetime":
        return str(value).replace("T", " ")
    if kind == "boolean":
        return int(value)
    return value


def gongshu_rows(document: Any) -> list[tuple[Any, ...]]:
    """A row API page as comparable tuples."""
    return [tuple(_norm(n, row.get(n)) for n in NAMES) for row in document["data"]]


def datasette_rows(document: Any) -> list[tuple[Any, ...]]:
    """A Datasette ``_shape=objects`` page as comparable tuples."""
    return [tuple(_norm(n, row.get(n)) for n in NAMES) for row in document["rows"]]


# ------------------------------------------------------------------ load


def write_paths(directory: Path, paths: Sequence[str]) -> Path:
    """A new file of request paths for the wrk script."""
    number = len(list(directory.glob("paths-*.txt")))
    out = directory / f"paths-{number:03d}.txt"
    out.write_text("\n".join(paths) + "\n")
    return out


def wrk_paths(
    wrk: str,
    script: Path,
    port: int,
    paths_file: Path,
    headers: dict[str, str],
    *,
    threads: int,
    connections: int,
    seconds: float,
    cpu: int | None,
) -> LoadResult:
    """One wrk run cycling through the paths in ``paths_file`` (whole seconds: wrk's unit)."""
    seconds = max(1, round(seconds))
    # A generous timeout: a slow answer is a slow answer, not a dropped one.
    argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
            "--timeout", "60s", "-s", str(script)]  # fmt: skip
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv += [f"http://127.0.0.1:{port}", "--", str(paths_file)]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=seconds + 120)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return parse_wrk(done.stdout, f"wrk -t{threads} -c{connections} -d{seconds}s (Lua path list)")


@dataclass
class Target:
    """One server asked one kind of query, and its measured rounds."""

    label: str
    server: Server
    paths: list[str]
    paths_file: Path
    body_bytes: int = 0
    rounds: list[Measured] = field(default_factory=list)
    alone_ms: list[float] = field(default_factory=list)  # one call at a time

    def median(self) -> Measured:
        """The round with the median requests/s."""
        ordered = sorted(self.rounds, key=lambda r: r.load.requests_per_second)
        return ordered[(len(ordered) - 1) // 2]


@dataclass
class Load:
    """How every target is loaded: the same wrk and settings for all."""

    wrk: str
    script: Path
    args: argparse.Namespace

    def run(self, target: Target, seconds: float) -> LoadResult:
        return wrk_paths(
            self.wrk, self.script, target.server.port, target.paths_file, target.server.headers,
            threads=self.args.threads, connections=self.args.connections, seconds=seconds,
            cpu=1 if self.args.pin else None,
        )  # fmt: skip

    def rounds(self, targets: Sequence[Target], results: Results, what: str) -> None:
        """``--rounds`` rounds, alternating the order, each after a warm-up."""
        for i in range(self.args.rounds):
            for target in targets if i % 2 == 0 else list(reversed(targets)):
                quiet(self.args)
                if self.args.warmup > 0:
                    self.run(target, self.args.warmup)
                with CpuMeter(target.server.proc.proc.pid) as meter:
                    result = self.run(target, self.args.duration)
                measured = Measured(result, meter.window)
                target.rounds.append(measured)
                window = meter.window
                results.busy.append(f"{what} · {target.label} r{i + 1} {window.others_cores:.2f}")
                console.print(
                    f"  round {i + 1}/{self.args.rounds} · {what} · {target.label}: "
                    f"{result.requests_per_second:,.0f} req/s, p50 {result.p50_ms:.2f} ms, "
                    f"p99 {result.p99_ms:.2f} ms, non-2xx {result.non_2xx}, errors "
                    f"{result.errors} · server CPU {measured.server_cpu_ms_per_request:.2f} "
                    f"ms/request ({window.server / window.seconds:.2f} cores) · client "
                    f"{window.ours / window.seconds:.2f} · other processes "
                    f"{window.others_cores:.2f}",
                    highlight=False,
                )


def one_at_a_time(target: Target, budget: float = 6.0, most: int = 200) -> None:
    """Latency of single calls with nothing else in flight, cycling through the paths."""
    client = Client(target.server.port, target.server.headers)
    try:
        deadline = time.perf_counter() + budget
        for i in range(most):
            path = target.paths[i % len(target.paths)]
            started = time.perf_counter()
            status, body = client.get(path)
            target.alone_ms.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise SystemExit(f"{target.label} {path} answered {status}: {body[:400]!r}")
            if i >= 4 and time.perf_counter() > deadline:
                break
    finally:
        client.close()


def alone(target: Target) -> str:
    """The median latency of calls made one at a time."""
    if not target.alone_ms:
        return "n/a"
    return f"{statistics.median(target.alone_ms):.1f} ms (n={len(target.alone_ms)})"


def figure(target: Target) -> str:
    """``N/s · p50 · p99`` of the median round."""
    mid = target.median().load
    return f"{mid.requests_per_second:,.0f}/s · p50 {mid.p50_ms:.1f} ms · p99 {mid.p99_ms:.1f} ms"


def raw_target(target: Target) -> dict[str, Any]:
    """A target's rounds for the JSON output."""
    return {
        "server": target.server.label,
        "paths": len(target.paths),
        "example": target.paths[0],
        "body_bytes": target.body_bytes,
        "rounds": [r.as_dict() for r in target.rounds],
        "one_at_a_time_ms": target.alone_ms,
    }


# ------------------------------------------------------------------ 1. rows


@dataclass
class Case:
    """One kind of row query: its paths on the platform and on Datasette (lean, defaults)."""

    key: str
    label: str
    gongshu: list[str]
    lean: list[str]
    defaults: list[str]


def build_cases(
    gongshu: Server, lean: Server, defaults: Server, args: argparse.Namespace, rows: int
) -> list[Case]:
    """The queries asked for (all four by default); the deep one follows next links first."""
    cases = [
        Case("first", f"first page ({PAGE} rows)", [gongshu.url({})], [lean.url({})],
             [defaults.url({})]),
        Case("filter", f"filtered page: `{FILTER[0]}__exact={FILTER[1]}` (1 row in 1,200)",
             [gongshu.url({f"{FILTER[0]}__exact": FILTER[1]})],
             [lean.url({f"{FILTER[0]}__exact": FILTER[1]})],
             [defaults.url({f"{FILTER[0]}__exact": FILTER[1]})]),
        Case("sort", f"sorted page: `_sort=-{SORT}` (Datasette `_sort_desc={SORT}`)",
             [gongshu.url({"_sort": f"-{SORT}"})], [lean.url({"_sort_desc": SORT})],
             [defaults.url({"_sort_desc": SORT})]),
    ]  # fmt: skip
    if "deep" not in args.cases:
        return [case for case in cases if case.key in args.cases]
    deep = deep_cursors(gongshu, lean, args, rows)
    cases.insert(2, Case(
        "deep",
        f"keyset paging deep: pages of {PAGE} at {len(deep[0]):,} cursors past row "
        f"{int(rows * args.deep_from):,} (next links followed)",
        [gongshu.url({"_cursor": c}) for c in deep[0]],
        [lean.url({"_next": c}) for c in deep[1]],
        [defaults.url({"_next": c}) for c in deep[1]],
    ))  # fmt: skip
    return [case for case in cases if case.key in args.cases]


def deep_cursors(
    gongshu: Server, lean: Server, args: argparse.Namespace, rows: int
) -> tuple[list[str], list[str]]:
    """Cursors of both servers at the same row positions in the second part of the table."""
    found: list[list[str]] = []
    for server, first, key in (
        (gongshu, {"_size": str(WALK_PAGE), "_fields": FILTER[0]}, "_cursor"),
        (lean, {"_size": str(WALK_PAGE), "_col": FILTER[0]}, "_next"),
    ):
        client = Client(server.port, server.headers)
        try:

            def next_path(
                doc: Any, server: Server = server, key: str = key, first: dict[str, str] = first
            ) -> str | None:
                cursor = doc["meta"]["next_cursor"] if "meta" in doc else doc.get("next")
                if cursor is None:
                    return None
                return server.url(first | {key: str(cursor)})

            with timed() as t:
                paths = walk(client, server.url(first), next_path)
        finally:
            client.close()
        cursors = [urllib.parse.parse_qs(urllib.parse.urlsplit(p).query)[key][0] for p in paths]
        console.print(
            f"  {server.label}: followed {len(cursors):,} next links ({WALK_PAGE} rows a page) in "
            f"{t.wall:.1f} s",
            highlight=False,
        )
        found.append(cursors)
    if len(found[0]) != len(found[1]):
        raise SystemExit(f"the servers page differently: {len(found[0])} / {len(found[1])} pages")
    # cursor k continues after row (k + 1) × WALK_PAGE on both servers
    keep = [k for k in range(len(found[0])) if (k + 1) * WALK_PAGE >= rows * args.deep_from]
    random.Random(args.seed).shuffle(keep)
    return [found[0][k] for k in keep], [found[1][k] for k in keep]


def check_same_rows(cases: Sequence[Case], gongshu: Server, lean: Server) -> list[str]:
    """Fetch each query's first path from both servers and compare the rows; lines to report."""
    lines = []
    g, d = Client(gongshu.port, gongshu.headers), Client(lean.port, lean.headers)
    try:
        for case in cases:
            mine = gongshu_rows(g.json(case.gongshu[0]))
            theirs = datasette_rows(d.json(case.lean[0]))
            if mine != theirs or not mine:
                raise SystemExit(
                    f"{case.label}: the servers answer different rows ({len(mine)} / "
                    f"{len(theirs)}; first {mine[:1]} / {theirs[:1]})"
                )
            lines.append(f"{case.key}: same {len(mine)} rows in the same order")
    finally:
        g.close()
        d.close()
    return lines


def bench_rows(
    args: argparse.Namespace, load: Load, tmp: Path, results: Results, raw: dict[str, Any]
) -> None:
    """Section 1: the row API beside Datasette."""
    console.rule(f"[bold]1. row API on {args.rows:,} rows beside Datasette[/]")
    cache = cache_root(args)
    if args.rebuild:
        shutil.rmtree(cache, ignore_errors=True)
    with timed() as t_data:
        parquet = ensure_parquet(args.rows, cache)
        db, inspect, indexes = ensure_sqlite(parquet, cache)
    console.print(
        f"  table cached in {cache} ({t_data.wall:.1f} s): Parquet "
        f"{parquet.stat().st_size / 1e6:.1f} MB, SQLite {db.stat().st_size / 1e6:.1f} MB",
        highlight=False,
    )
    plans = query_plans(db)
    for label, plan in plans.items():
        console.print(f"  SQLite plan, {label}: {plan}", highlight=False)

    console.print(f"  preparing a fresh data home in {tmp}/var …", highlight=False)
    home = prepare_home(tmp)
    with timed() as t_publish:
        entry_id, key, provider = publish_dataset(home.home, parquet)
    console.print(
        f"  entry {entry_id} ({provider}, unconditional) published with the table as its "
        f"version 1 in {t_publish.wall:.1f} s; app key issued by the bureau with rate limit "
        f"and daily quota {BENCH_LIMIT:,}",
        highlight=False,
    )
    env = home.server_env(GONGSHU_TOKEN_RATE_LIMIT_PER_MINUTE=str(BENCH_LIMIT), **args.server_env)
    if args.server_env:
        results.notes.append(f"the platform's server ran with {args.server_env}")
    server_cpu = 0 if args.pin else None
    g_port, d_port = free_port(), free_port()
    datasette_argv = [DATASETTE, "serve", "-i", str(db), "--inspect-file", str(inspect),
                      "--host", "127.0.0.1", "--port", str(d_port)]  # fmt: skip
    with (
        spawned(platform_server_argv(g_port), env=env, log=tmp / "gongshu.log",
                cpu=server_cpu) as g_proc,
        spawned(datasette_argv, env=clean_env(), log=tmp / "datasette.log",
                cpu=server_cpu) as d_proc,
    ):  # fmt: skip
        wait_until_ok(g_proc, g_port, "/healthz")
        wait_until_ok(d_proc, d_port, "/-/versions.json")
        gongshu = Server("gongshu", g_proc, g_port, {"X-App-Key": key},
                         f"/api/v1/open/datasets/{entry_id}/rows", {})  # fmt: skip
        lean = Server("Datasette, same work", d_proc, d_port, {}, f"/{DB_NAME}/{TABLE}.json", LEAN)
        defaults = Server("Datasette, defaults", d_proc, d_port, {}, lean.path, DEFAULTS)
        client = Client(g_port, gongshu.headers)
        try:
            with timed() as t_first:
                client.json(gongshu.url({}))
            with timed() as t_second:
                client.json(gongshu.url({}))
            with timed() as t_sorted:
                client.json(gongshu.url({"_sort": f"-{SORT}"}))
                sorted_copy = wait_for_sorted_copy(home.home)
        finally:
            client.close()
        console.print(
            f"  first row call of the version: {t_first.wall * 1000:,.0f} ms (builds the "
            f"serving copy), the next: {t_second.wall * 1000:.1f} ms; the first sorted call "
            f"and its copy in that order, built in the background: {t_sorted.wall:.1f} s "
            f"({sorted_copy.stat().st_size / 1e6:,.0f} MB)",
            highlight=False,
        )
        cases = build_cases(gongshu, lean, defaults, args, args.rows)
        same = check_same_rows(cases, gongshu, lean)
        console.print("  checked: " + "; ".join(same), highlight=False)
        if "filter" in args.cases:  # its first call started the filter field's ordered copy
            with timed() as t_filter_copy:
                filter_copy = wait_for_sorted_copy(home.home, "*.asc.duckdb")
            console.print(
                f"  the filter field's copy in its order ({filter_copy.stat().st_size / 1e6:,.0f}"
                f" MB) was ready {t_filter_copy.wall:.1f} s after the rows were checked",
                highlight=False,
            )
        all_targets: list[tuple[Case, list[Target]]] = []
        for case in cases:
            targets = []
            asked = [(gongshu, case.gongshu), (lean, case.lean)]
            if args.datasette_defaults:
                asked.append((defaults, case.defaults))
            for server, paths in asked:
                target = Target(server.label, server, paths, write_paths(tmp, paths))
                one = Client(server.port, server.headers)
                try:
                    status, body = one.get(paths[0])
                finally:
                    one.close()
                if status != 200:
                    raise SystemExit(f"{server.label} {paths[0]} answered {status}: {body[:400]!r}")
                target.body_bytes = len(body)
                targets.append(target)
            console.print(f"  [bold]{escape(case.label)}[/]", highlight=False)
            load.rounds(targets, results, case.key)
            for target in targets:
                quiet(args)
                one_at_a_time(target)
            console.print(
                "  one call at a time, median: "
                + "; ".join(f"{t.label} {alone(t)}" for t in targets),
                highlight=False,
            )
            all_targets.append((case, targets))
        for proc in (g_proc, d_proc):
            if not proc.alive():
                raise SystemExit(f"a server died under load:\n{proc.tail()}")
        if args.profile:
            profile_rows(args, load, all_targets, tmp, raw)
            quiet(args)
            parts = breakdown(home.home, entry_id, key, cases, args.profile_repeat)
            print_breakdown(parts)
            raw["breakdown_ms_wall_cpu"] = parts
    if args.profile:
        quiet(args)
        raw["sql_alternatives_ms_cpu"] = sql_alternatives(parquet, tmp)

    for case, (g, lean_t, *_defaults) in all_targets:
        mine, theirs = (t.median().load.requests_per_second for t in (g, lean_t))
        results.add("rows", case.label, f"{figure(g)} (×{mine / theirs:.2f})",
                    "Datasette, same work", figure(lean_t), "≥ Datasette req/s",
                    verdict(mine >= theirs))  # fmt: skip
    for case, (_g, _lean, *defaults_t) in all_targets:
        for default_t in defaults_t:
            theirs = default_t.median().load.requests_per_second
            results.add("rows (context)", case.label, "",
                        "Datasette, defaults (exact count, facet suggestions)",
                        figure(default_t) if theirs else "no answer within the run")  # fmt: skip
    sizes = "; ".join(
        f"{case.key} " + " / ".join(f"{t.body_bytes:,}" for t in targets) + " B"
        for case, targets in all_targets
    )
    cpu = "; ".join(
        f"{case.key} " + " / ".join(f"{t.median().server_cpu_ms_per_request:.2f}" for t in targets)
        for case, targets in all_targets
    )
    shown = "gongshu / Datasette same work" + (" / defaults" if args.datasette_defaults else "")
    results.notes += [
        f"rows: {args.rows:,} generated bus arrivals; Parquet {parquet.stat().st_size / 1e6:.1f} "
        f"MB (zstd), SQLite {db.stat().st_size / 1e6:.1f} MB; first row call of the version "
        f"{t_first.wall * 1000:,.0f} ms (serving copy built), the next "
        f"{t_second.wall * 1000:.1f} ms",
        f"Datasette's SQLite indexes: {'; '.join(indexes)}; ANALYZE. Plans: "
        + " | ".join(f"{k}: {v}" for k, v in plans.items()),
        "Datasette, same work: ?_shape=objects&_size=100&_nocount=1&_nofacet=1&_nosuggest=1 "
        "(served immutable with --inspect-file)"
        + ("; Datasette, defaults: ?_shape=objects&_size=100" if args.datasette_defaults else ""),
        f"response bytes ({shown}): {sizes}",
        f"server CPU ms per request, median round ({shown}): {cpu}",
        f"one call at a time, median latency ({shown}): "
        + "; ".join(
            f"{case.key} " + " / ".join(alone(t) for t in targets) for case, targets in all_targets
        ),
        "pages compared row by row before measuring: " + "; ".join(same),
    ]
    raw["rows"] = {
        "rows": args.rows,
        "entry_id": entry_id,
        "first_call_ms": t_first.wall * 1000,
        "second_call_ms": t_second.wall * 1000,
        "indexes": indexes,
        "plans": plans,
        "cases": {case.key: [raw_target(t) for t in targets] for case, targets in all_targets},
    }


# ------------------------------------------------------------------ profiling


def profile_rows(
    args: argparse.Namespace,
    load: Load,
    all_targets: Sequence[tuple[Case, list[Target]]],
    tmp: Path,
    raw: dict[str, Any],
) -> None:
    """py-spy on the platform's server during one more load run of each query: the samples
    of threads on a CPU, and those of the thread holding the GIL."""
    spy = shutil.which("py-spy") or str(BIN / "py-spy")
    if not Path(spy).exists():
        console.print("[yellow]--profile: py-spy is not installed (pip install py-spy)[/]")
        return
    out: dict[str, Any] = {}
    for case, targets in all_targets:
        target = targets[0]
        pid = str(target.server.proc.proc.pid)
        seconds = max(5, round(args.duration))
        files = {view: tmp / f"py-spy-{case.key}-{view}.txt" for view in ("cpu", "gil")}
        recorders = [
            subprocess.Popen(
                [spy, "record", "--pid", pid, "--duration", str(seconds), "--rate", "200",
                 "--format", "raw", "--output", str(path), "--nonblocking",
                 *(["--gil"] if view == "gil" else [])],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            for view, path in files.items()
        ]  # fmt: skip
        time.sleep(0.5)
        result = load.run(target, seconds)
        for recorder in recorders:
            recorder.wait(timeout=seconds + 60)
        summary: dict[str, Any] = {"requests_per_second_while_sampled": result.requests_per_second}
        for view, path in files.items():
            if path.exists():
                summary[view] = summarise_stacks(path)
                print_profile(f"{case.label} · {view}", summary[view])
        out[case.key] = summary
    raw["profile"] = out


def breakdown(
    home: Path, entry_id: str, key: str, cases: Sequence[Case], repeat: int
) -> dict[str, dict[str, tuple[float, float]]]:
    """The pieces of one row call in-process, one after another: (wall, CPU) ms per call.

    CPU is this process's, all threads (DuckDB's workers too). The server of the run still
    listens on the same data home but is idle meanwhile.
    """
    import asyncio
    from types import SimpleNamespace

    import httpx

    from gongshu.identity.models import DeliveryMode
    from gongshu.opendata.access import open_access
    from gongshu.opendata.rows import dumps, page_sql, parse_query, read_page
    from gongshu.opendata.runtime import runtime_for

    def clock(fn: Callable[[], object]) -> tuple[float, float]:
        fn()
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(repeat):
            fn()
        return (
            (time.perf_counter() - wall) / repeat * 1000,
            (time.process_time() - cpu) / repeat * 1000,
        )

    async def whole(app: Any, path: str) -> tuple[float, float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            headers = {"X-App-Key": key}
            await client.get(path, headers=headers)
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(repeat):
                answer = await client.get(path, headers=headers)
                if answer.status_code != 200:
                    raise SystemExit(f"in-process {path}: {answer.status_code} {answer.text}")
            return (
                (time.perf_counter() - wall) / repeat * 1000,
                (time.process_time() - cpu) / repeat * 1000,
            )

    def pieces(platform: Any, runtime: Any, path: str) -> dict[str, tuple[float, float]]:
        params = urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query)
        with platform.uow(writes=False) as uow:
            info = runtime.keys.authenticate(uow, key)
            access = open_access(
                uow, entry_id=entry_id, key=info, mode=DeliveryMode.API, cache=runtime.entries
            )
        query = parse_query(params, access.fields)
        sql, sql_params = page_sql(serving_table(runtime.rows, access.version), query, access)
        page = read_page(runtime.rows, access, query)
        meta, links = {"total": page.total, "next_cursor": page.next_cursor}, {"next": None}

        def body() -> bytes:
            # The row module is being tuned: splice DuckDB's JSON rows when it can.
            if hasattr(page, "body"):
                return bytes(page.body(meta, links))
            return bytes(dumps({"data": page.data, "meta": meta, "links": links}))

        def unit() -> None:
            with platform.uow(writes=False):
                pass

        def key_check() -> None:
            with platform.uow(writes=False) as uow:
                runtime.keys.authenticate(uow, key)

        def access_check() -> None:
            with platform.uow(writes=False) as uow:
                open_access(
                    uow, entry_id=entry_id, key=info, mode=DeliveryMode.API, cache=runtime.entries
                )

        return {
            "whole request, in-process (httpx.ASGITransport)": asyncio.run(
                whole(platform.app, path)
            ),
            "unit of work, opened and closed": clock(unit),
            "app key check (cached key) in a unit of work": clock(key_check),
            "open_access (cached entry) in a unit of work": clock(access_check),
            "parse_query": clock(lambda: parse_query(params, access.fields)),
            "DuckDB: the page's SQL, fetchall": clock(lambda: runtime.rows.fetch(sql, sql_params)),
            "read_page (SQL + dicts + cursor + total)": clock(
                lambda: read_page(runtime.rows, access, query)
            ),
            "the JSON body": clock(body),
        }

    platform = catalog_bench.open_platform(home)
    runtime = runtime_for(SimpleNamespace(), platform)
    try:
        return {case.key: pieces(platform, runtime, case.gongshu[0]) for case in cases}
    finally:
        runtime.rows.close()
        platform.dispose()


def sql_alternatives(parquet: Path, tmp: Path, repeat: int = 30) -> dict[str, float]:
    """The sorted and filtered pages' SQL today beside other layouts of the same rows.

    In a scratch DuckDB file built from the version's Parquet the way the serving copy is
    (compressed and uncompressed), one thread, CPU ms per page: what the row API's DuckDB
    step would cost with a keys-only top-N, a sorted key table, or copies clustered by the
    sort or filter column. Evidence for the findings in RESULTS.md, not the platform's code.
    """
    from datetime import datetime

    import duckdb

    from gongshu.opendata.access import OpenAccess, OpenEntry, OpenField, OpenVersion
    from gongshu.opendata.rows import page_sql, parse_query

    fields = tuple(OpenField(f["name"], f["type"], "", frozenset()) for f in FIELDS)
    version = OpenVersion("v", 1, 0, "h", datetime.now())
    entry = OpenEntry("e", "", "", "", "unconditional", "", "", (), datetime.now(), fields,
                      version)  # fmt: skip
    access = OpenAccess(entry, version, fields, None, None, None)
    path = tmp / "alternatives.duckdb"
    sort, line, row = f'"{SORT}"', f'"{FILTER[0]}"', '"__row"'
    order = f"ORDER BY {sort} DESC NULLS LAST, {row}"
    started = time.perf_counter()
    with duckdb.connect(str(path)) as con:
        con.execute("SET enable_progress_bar = false")
        load = (f"SELECT * EXCLUDE (file_row_number), file_row_number AS {row} "
                f"FROM read_parquet('{parquet}', file_row_number = true)")  # fmt: skip
        con.execute(f"CREATE TABLE packed AS {load}")
        con.execute("SET force_compression = 'uncompressed'")
        con.execute(f"CREATE TABLE plain AS {load}")
        con.execute("SET force_compression = 'auto'")
        con.execute(f"CREATE TABLE by_sort AS SELECT * FROM packed {order}")
        con.execute(f"CREATE TABLE sort_keys AS SELECT {sort}, {row} FROM packed {order}")
        con.execute(f"CREATE TABLE by_line AS SELECT * FROM packed ORDER BY {line}, {row}")
        con.execute("CHECKPOINT")
    built = time.perf_counter() - started
    console.rule("[bold]the DuckDB step under other layouts (1 thread, CPU ms per page)[/]")
    console.print(f"  scratch layouts built in {built:.1f} s", highlight=False)

    def current(table: str, params: list[tuple[str, str]]) -> tuple[str, list[Any]]:
        return page_sql(table, parse_query(params, fields), access)

    sorted_sql, _ = current("plain", [("_sort", f"-{SORT}")])
    select = sorted_sql.split(" FROM ")[0]  # the JSON select list the platform writes
    filtered = [(f"{FILTER[0]}__exact", FILTER[1])]
    queries = {
        "sorted page, today's SQL, uncompressed copy": current("plain", [("_sort", f"-{SORT}")]),
        "sorted page, today's SQL, compressed copy": current("packed", [("_sort", f"-{SORT}")]),
        "sorted page: top-N of (sort key, __row) only, then those rows (semi-join)": (
            f"WITH k AS (SELECT {sort}, {row} FROM packed {order} LIMIT 101) "
            f"{select} FROM packed SEMI JOIN k USING ({row}) {order}", []),
        "sorted page: a sorted key table, then those rows (semi-join)": (
            f"WITH k AS (SELECT {row} FROM sort_keys LIMIT 101) "
            f"{select} FROM packed SEMI JOIN k USING ({row}) {order}", []),
        "sorted page: a copy clustered by the sort column (no ORDER BY)": (
            f"{select} FROM by_sort LIMIT 101", []),
        "sorted page mid-way (keyset) on the clustered copy": (
            f"{select} FROM by_sort WHERE ({sort} < 60 OR {sort} IS NULL OR ({sort} = 60 AND "
            f"{row} > 500000)) LIMIT 101", []),
        "filtered page, today's SQL, uncompressed copy": current("plain", filtered),
        "filtered page, today's SQL, compressed copy": current("packed", filtered),
        "filtered page on a copy clustered by the filter column": current("by_line", filtered),
    }  # fmt: skip
    out: dict[str, float] = {}
    with duckdb.connect(config={"threads": 1, "preserve_insertion_order": True}) as inst:
        inst.execute("SET enable_progress_bar = false")
        inst.execute(f"ATTACH '{path}' AS alt (READ_ONLY)")
        inst.execute("USE alt")
        for label, (sql, params) in queries.items():
            for _ in range(2):
                found = inst.execute(sql, params).fetchall()
            cpu = time.process_time()
            for _ in range(repeat):
                inst.execute(sql, params).fetchall()
            out[label] = (time.process_time() - cpu) / repeat * 1000
            console.print(f"    {out[label]:7.2f} ms CPU  {label} ({len(found)} rows)",
                          highlight=False)  # fmt: skip
    path.unlink(missing_ok=True)
    return out


def wait_for_sorted_copy(home: Path, pattern: str = "*.desc.duckdb", most: float = 300.0) -> Path:
    """The ordered copy a first sorted (or filtered) call started building, once in place."""
    deadline = time.monotonic() + most
    while time.monotonic() < deadline:
        found = sorted(home.rglob(pattern))
        if found:
            return found[0]
        time.sleep(0.1)
    raise SystemExit(f"no sorted copy appeared under {home} within {most:.0f} s")


def serving_table(store: Any, version: Any) -> str:
    """The version's serving table (the signature of ``RowStore.table`` is still moving)."""
    try:
        return str(store.table(version.file_hash, version.rows))
    except TypeError:
        return str(store.table(version.file_hash))


def print_breakdown(parts: dict[str, dict[str, tuple[float, float]]]) -> None:
    """The in-process pieces as a table: CPU ms per call (wall in brackets)."""
    from rich.table import Table

    keys = list(parts)
    table = Table(title="one row call in-process: CPU ms per call (wall ms)")
    table.add_column("piece")
    for key in keys:
        table.add_column(key, justify="right")
    for piece in parts[keys[0]]:
        cells = [f"{parts[k][piece][1]:.3f} ({parts[k][piece][0]:.3f})" for k in keys]
        table.add_row(piece, *cells)
    console.print(table)


def summarise_stacks(path: Path) -> dict[str, Any]:
    """Self (by line) and inclusive (by function) shares of py-spy's samples.

    Samples whose leaf is a wait (the event loop's selector, a threadpool worker waiting for
    work, a lock) are counted apart, so the shares are of busy samples.
    """
    self_time: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    stacks: dict[str, int] = {}
    busy = idle = 0
    idle_marks = ("select (selectors.py", "_worker (concurrent", "wait (threading.py",
                  "get (queue.py", "run (uvloop", "_run_once", "worker_thread", "poll (",
                  "acquire", "_wait_for_tstate_lock", "get_nowait", "sleep (")  # fmt: skip
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        try:
            count = int(count_text)
        except ValueError:
            continue
        frames = [f.strip() for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        leaf = frames[-1]
        if any(mark in leaf for mark in idle_marks):
            idle += count
            continue
        busy += count
        self_time[leaf] = self_time.get(leaf, 0) + count
        tail = " ← ".join(reversed(frames[-6:]))
        stacks[tail] = stacks.get(tail, 0) + count
        for name in {re.sub(r":\d+\)$", ")", f) for f in frames}:
            inclusive[name] = inclusive.get(name, 0) + count

    def top(table: dict[str, int], n: int, only: str = "") -> list[tuple[str, float]]:
        items = [(k, v) for k, v in table.items() if only in k]
        items.sort(key=lambda kv: -kv[1])
        return [(k, v / busy) for k, v in items[:n]] if busy else []

    return {
        "busy_samples": busy,
        "idle_samples": idle,
        "self": top(self_time, 25),
        "inclusive_gongshu": top(inclusive, 30, "gongshu/"),
        "inclusive_all": top(inclusive, 40),
        "stacks": top(stacks, 15),
    }


def print_profile(label: str, summary: dict[str, Any]) -> None:
    """The py-spy summary of one query, as text."""
    console.rule(f"[bold]py-spy: {label}[/] ({summary['busy_samples']:,} busy samples, "
                 f"{summary['idle_samples']:,} idle)")  # fmt: skip
    console.print("  self (leaf) share of busy samples:", highlight=False)
    for name, share in summary["self"][:18]:
        console.print(f"    {share:6.1%}  {name[:150]}", highlight=False, markup=False)
    console.print("  inclusive share, gongshu frames:", highlight=False)
    for name, share in summary["inclusive_gongshu"][:22]:
        console.print(f"    {share:6.1%}  {name[:150]}", highlight=False, markup=False)
    console.print("  commonest stacks (leaf first, six frames):", highlight=False)
    for name, share in summary["stacks"][:10]:
        console.print(f"    {share:6.1%}  {name[:400]}", highlight=False, markup=False)


# ------------------------------------------------------------------ 2. package_search


def add_published_versions(home: Path) -> tuple[int, float]:
    """The published metadata version of every generated entry (CKAN packages read them)."""
    import sqlalchemy as sa
    from sqlalchemy.orm import selectinload

    from gongshu.catalog.models import Entry, EntryVersion
    from gongshu.catalog.resolve import OrgIndex
    from gongshu.catalog.service import entry_document
    from gongshu.identity.models import User

    platform = catalog_bench.open_platform(home)
    started = time.perf_counter()
    try:
        with platform.uow(writes=False) as uow:
            has_version = sa.exists().where(
                EntryVersion.entry_id == Entry.id, EntryVersion.number == Entry.published_version
            )
            missing = list(uow.session.scalars(
                sa.select(Entry.id).where(Entry.published_version.is_not(None), ~has_version)
                .order_by(Entry.seq)
            ))  # fmt: skip
            admin_id = uow.session.scalar(sa.select(User.id).where(User.username == "bureau_admin"))
        if not missing:
            return 0, 0.0
        with catalog_bench.progress_bar() as bar:
            task = bar.add_task("published versions", total=len(missing), rate="")
            for first in range(0, len(missing), 2000):
                batch = missing[first : first + 2000]
                with platform.uow() as uow:
                    orgs = OrgIndex.load(uow)
                    entries = uow.session.scalars(
                        sa.select(Entry).where(Entry.id.in_(batch))
                        .options(selectinload(Entry.fields))
                    )  # fmt: skip
                    rows = [
                        {
                            "entry_id": e.id,
                            "number": e.published_version,
                            "document": entry_document(e, orgs),
                            "published_at": e.last_published_at or e.updated_at,
                            "published_by_id": admin_id,
                            "note": "",
                        }
                        for e in entries
                    ]
                    uow.session.connection().execute(sa.insert(EntryVersion), rows)
                    uow.commit()
                bar.update(task, advance=len(batch))
    finally:
        platform.dispose()
    with contextlib.closing(sqlite3.connect(home / "gongshu.db")) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return len(missing), time.perf_counter() - started


def bench_ckan(
    args: argparse.Namespace, load: Load, tmp: Path, results: Results, raw: dict[str, Any]
) -> None:
    """Section 2: CKAN package_search at 100,000 entries."""
    import sqlalchemy as sa

    from gongshu.identity.models import Organisation

    console.rule(f"[bold]2. CKAN package_search at {args.entries:,} entries[/]")
    templates = catalog_bench.load_templates()
    root = Path(tempfile.gettempdir()) / (
        f"gongshu-bench-opendata-catalog-v{catalog_bench.DATA_VERSION}-{args.entries}-"
        f"{args.catalog_seed}"
    )
    spec = argparse.Namespace(entries=args.entries, seed=args.catalog_seed, cache_dir=root,
                              rebuild=args.rebuild)  # fmt: skip
    home: DataHome = catalog_bench.catalogue_home(spec, templates)
    added, seconds = add_published_versions(home.home)
    if added:
        console.print(f"  added {added:,} published versions in {seconds:.1f} s", highlight=False)
    platform = catalog_bench.open_platform(home.home)
    try:
        with platform.uow(writes=False) as uow:
            org = uow.session.scalar(
                sa.select(Organisation.code).where(Organisation.name == "北京市交通委员会")
            )
    finally:
        platform.dispose()
    calls = [
        ("status_show (the route's floor)", "/api/3/action/status_show"),
        ("package_search, no q", "/api/3/action/package_search"),
        ("package_search?q=公交", "/api/3/action/package_search?" + _query({"q": "公交"})),
        (f"package_search?fq=organization:{org} (交通委)",
         "/api/3/action/package_search?" + _query({"fq": f"organization:{org}"})),
        ("package_search, five facets (facet.field=[organization, groups, tags, res_format, "
         "license_id])",
         "/api/3/action/package_search?" + _query({"facet.field": json.dumps(FACETS)})),
    ]  # fmt: skip
    env = home.server_env(GONGSHU_TOKEN_RATE_LIMIT_PER_MINUTE=str(BENCH_LIMIT))
    port = free_port()
    with spawned(platform_server_argv(port), env=env, log=tmp / "gongshu-ckan.log",
                 cpu=0 if args.pin else None) as proc:  # fmt: skip
        wait_until_ok(proc, port, "/healthz")
        server = Server("gongshu", proc, port, {}, "/", {})
        client = Client(port, {})
        targets, counts = [], {}
        try:
            for label, path in calls:
                document = client.json(path)
                result = document["result"]
                counts[label] = result.get("count") if isinstance(result, dict) else None
                target = Target(label, server, [path], write_paths(tmp, [path]))
                target.body_bytes = len(client.get(path)[1])
                targets.append(target)
        finally:
            client.close()
        open_count = counts[calls[1][0]]
        console.print(
            f"  {open_count:,} open entries of {args.entries:,}+ generated; "
            + "; ".join(f"{k}: {v:,}" for k, v in counts.items() if v is not None),
            highlight=False,
        )
        for target in targets:
            console.print(f"  [bold]{escape(target.label)}[/]", highlight=False)
            load.rounds([target], results, "ckan")
            quiet(args)
            one_at_a_time(target, budget=20.0, most=100)
            console.print(f"  one call at a time, median: {alone(target)}", highlight=False)
        if not proc.alive():
            raise SystemExit(f"the server died under load:\n{proc.tail()}")
    for target in targets:
        count = counts[target.label]
        what = target.label + (f" — {count:,} found" if count is not None else "")
        results.add("CKAN", what, f"{figure(target)} · one at a time {alone(target)}", "", "",
                    "report")  # fmt: skip
    results.notes.append(
        f"CKAN: {args.entries:,} generated entries (bench/catalog.py's generator) plus the demo's; "
        f"{open_count:,} of them open (published with an open type) and served as packages; "
        "response bytes: " + "; ".join(f"{t.label}: {t.body_bytes:,}" for t in targets)
    )
    raw["ckan"] = {"counts": counts, "targets": [raw_target(t) for t in targets]}
    if args.profile:
        quiet(args)
        profile_ckan(home.home, calls)


def profile_ckan(home: Path, calls: Sequence[tuple[str, str]]) -> None:
    """Each CKAN call in-process (``call_action`` in a reading unit of work) under cProfile."""
    from gongshu.opendata.ckan import call_action

    platform = catalog_bench.open_platform(home)
    try:
        for label, path in calls:
            split = urllib.parse.urlsplit(path)
            action = split.path.rsplit("/", 1)[-1]
            data = dict(urllib.parse.parse_qsl(split.query))

            def run(action: str = action, data: dict[str, str] = data) -> None:
                with platform.uow(writes=False) as uow:
                    call_action(uow, name=action, data=data, base_url="http://t")

            with timed() as t:
                run()
            catalog_bench.profile(f"{label} in-process ({t.wall * 1000:.0f} ms)", run,
                                  r"gongshu/", limit=14)  # fmt: skip
    finally:
        platform.dispose()


# ------------------------------------------------------------------ main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the open dataset")
    parser.add_argument("--entries", type=int, default=100_000, help="generated catalogue entries")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each load run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each")
    parser.add_argument("--rounds", type=int, default=3, help="load runs per target (median kept)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--pin", action="store_true",
                        help="servers on CPU 0, wrk on CPU 1 (default: no pinning)")  # fmt: skip
    parser.add_argument("--deep-from", type=float, default=0.5,
                        help="deep pages start past this share of the table")  # fmt: skip
    parser.add_argument("--seed", type=int, default=20261126, help="order of the deep cursors")
    parser.add_argument("--catalog-seed", type=int, default=20261125,
                        help="seed of bench/catalog.py's generator")  # fmt: skip
    parser.add_argument("--cache-dir", type=Path, help="where the generated table is kept")
    parser.add_argument("--rebuild", action="store_true", help="generate the cached data again")
    parser.add_argument("--no-rows", action="store_true", help="skip the row API figures")
    parser.add_argument("--no-ckan", action="store_true", help="skip the CKAN figures")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="GONGSHU_NAME=VALUE",
        help="a setting for the platform's row server (repeatable), e.g. GONGSHU_DUCKDB_THREADS=1",
    )
    parser.add_argument(
        "--cases",
        type=lambda text: [c.strip() for c in text.split(",") if c.strip()],
        default=list(CASES),
        help=f"row queries to measure, comma-separated (default: {','.join(CASES)})",
    )
    parser.add_argument(
        "--datasette-defaults",
        action="store_true",
        help="also load Datasette with its defaults (exact count, facet suggestions: slow)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the platform's server during one more run of each row query",
    )
    parser.add_argument(
        "--profile-repeat", type=int, default=200, help="calls per piece in the breakdown"
    )
    parser.add_argument("--bytecode", choices=BYTECODE_MODES, default="cached")
    add_wait_quiet(parser)
    parser.add_argument("--json", type=Path, help="also write the raw numbers to this file")
    args = parser.parse_args(argv)
    if args.rows < 10 * WALK_PAGE or args.entries < 1000:
        parser.error(f"need --rows ≥ {10 * WALK_PAGE} and --entries ≥ 1000")
    if args.duration <= 0 or args.rounds < 1 or args.connections < 1 or args.threads < 1:
        parser.error("--duration, --rounds, --connections and --threads must be positive")
    pairs = [item.partition("=") for item in args.server_env]
    if any(not name.startswith("GONGSHU_") or not sep for name, sep, _ in pairs):
        parser.error("--server-env takes GONGSHU_NAME=VALUE")
    args.server_env = {name: value for name, _, value in pairs}
    if not args.cases or set(args.cases) - set(CASES):
        parser.error(f"--cases takes some of {', '.join(CASES)}")
    if not 0 <= args.deep_from < 1:
        parser.error("--deep-from is a share of the table: 0 ≤ x < 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_signal_handlers()
    dropped = catalog_bench.drop_own_environment()
    command = " ".join([".venv/bin/python bench/opendata.py", *(argv or sys.argv[1:])])
    from importlib.metadata import version

    console.print(f"[bold]bench/opendata.py[/] · {machine_line()}", highlight=False)
    console.print(
        f"Datasette {version('datasette')} · SQLite {sqlite3.sqlite_version} · load average at "
        f"start: {load_average()}",
        highlight=False,
    )
    if dropped:
        console.print(f"ignoring {', '.join(dropped)} from the environment", highlight=False)
    wrk = find_wrk("wrk")
    assert wrk is not None
    results = Results()
    raw: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    started = time.perf_counter()
    fingerprint = code_fingerprint()
    raw["code"] = fingerprint
    try:
        with temp_dir("gongshu-bench-opendata-") as tmp:
            console.print(configure_bytecode(args.bytecode, tmp / "pycache"), highlight=False)
            script = tmp / "paths.lua"
            script.write_text(WRK_SCRIPT)
            load = Load(wrk, script, args)
            console.print(
                f"load client: {wrk} -t{args.threads} -c{args.connections} -d{args.duration:g}s "
                f"--latency (Lua path list), {args.warmup:g} s warm-up, {args.rounds} rounds; "
                + ("servers on CPU 0, wrk on CPU 1" if args.pin else "no pinning"),
                highlight=False,
            )
            if not args.no_rows:
                bench_rows(args, load, tmp, results, raw)
            if not args.no_ckan:
                bench_ckan(args, load, tmp, results, raw)
    except (KeyboardInterrupt, Interrupted):
        console.print("interrupted: servers stopped, temporary directories removed")
        return 130
    results.raw.update(raw)
    results.raw["load_average_end"] = load_average()
    results.notes.insert(0, f"code measured (sha256 of src/gongshu/opendata/…): {fingerprint}")
    results.notes.insert(
        0,
        f"load client: wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s --latency "
        f"after {args.warmup:g} s warm-up, {args.rounds} rounds alternating, median round by "
        "req/s; " + ("servers pinned to CPU 0, wrk to CPU 1" if args.pin else "no pinning"),
    )
    print_results(
        results,
        started=started,
        title="Open data figures (open data issue)",
        command=command,
        json_path=args.json,
        console=console,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
