"""Sandbox figures (issue 6): guarded queries on a 10-million-row table, end to end.

Each query runs through ``sandbox.service.run_query`` on the embedded default — grant check,
views, the guard's parse and rewrite, a worker process, k suppression or OpenDP noise, and the
record with its audit and ledger entry — beside the *same SQL* run directly in DuckDB over the
same Parquet file with the same threads and memory limit (the baseline).

* aggregate policy (k = 10): small and large queries; goal ≤ 1.3× the direct time for queries
  over 100 ms and ≤ 20 ms added for small ones;
* dp policy: the platform's DP release beside the same measurement made with OpenDP directly
  (the exact aggregate from DuckDB, then OpenDP's Laplace mechanism at the same ε).

The table (citizen-style IDs, district, sex, age, income, diagnosis) is generated with DuckDB
and cached under ``$TMPDIR``. It becomes the entry's version by placing the file in the lake
and committing the version row, as ingest does after typing (ingest itself is measured by
``bench/ingest.py``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
from benchlib import (
    Results,
    add_wait_quiet,
    install_signal_handlers,
    machine_line,
    print_results,
    temp_dir,
    timed,
    verdict,
    wait_for_quiet,
)
from pydantic import SecretStr
from rich.console import Console

from gongshu.bootstrap import Platform, build
from gongshu.catalog import service as catalog
from gongshu.catalog.schemas import EntryInput
from gongshu.datastore.models import DatasetVersion
from gongshu.identity import grants as grant_service
from gongshu.identity import service as identity
from gongshu.identity.authz import Actor
from gongshu.identity.models import DeliveryMode, OrgKind, ReleasePolicy, Role
from gongshu.identity.schemas import (
    GrantCreate,
    MembershipIn,
    OrganisationCreate,
    SandboxParams,
    UserCreate,
)
from gongshu.kernel.ids import new_id
from gongshu.kernel.settings import Settings
from gongshu.migrations import upgrade
from gongshu.sandbox import service

console = Console(stderr=True)
VERSION = "1"
DISTRICTS = [f"1101{n:02d}" for n in (1, 2, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19)]
FIELDS = [
    {"name": "公民身份号码", "type": "string", "flags": ["identifier"]},
    {"name": "区划", "type": "string"},
    {"name": "性别", "type": "string", "flags": ["quasi_identifier"]},
    {"name": "年龄", "type": "integer", "flags": ["quasi_identifier"]},
    {"name": "年收入", "type": "decimal", "flags": ["sensitive"]},
    {"name": "诊断", "type": "string", "flags": ["sensitive"]},
]
QUERIES = [
    ("count with a filter", 'SELECT count(*) AS n FROM {t} WHERE 区划 = \'110105\''),
    ("count per district", "SELECT 区划, count(*) AS n FROM {t} GROUP BY 区划"),
    ("mean income per district and sex",
     "SELECT 区划, 性别, avg(年收入) AS income, count(*) AS n FROM {t} GROUP BY 区划, 性别"),
    ("people per district and age band",
     "SELECT 区划, floor(年龄 / 10) AS band, count(*) AS n FROM {t} GROUP BY 区划, band"),
    ("diagnoses per district, income stats",
     "SELECT 区划, 诊断, count(*) AS n, sum(年收入) AS total, stddev(年收入) AS sd "
     "FROM {t} GROUP BY 区划, 诊断"),
    ("birth-place prefix of the ID (string work)",
     "SELECT left(公民身份号码, 4) AS place, count(*) AS n FROM {t} GROUP BY place"),
]  # fmt: skip
# (name, the platform's SQL, the exact aggregate the OpenDP baseline noises, kind)
DP_QUERIES = [
    ("DP counts per district", "SELECT 区划, count(*) AS n FROM {t} GROUP BY 区划",
     "SELECT 区划, 0, count(*) FROM {t} GROUP BY 区划 ORDER BY 区划", "count"),
    ("DP mean income per district", "SELECT 区划, avg(年收入) AS income FROM {t} GROUP BY 区划",
     "SELECT 区划, sum(least(greatest(年收入, 0), 500000)), count(*) FROM {t} "
     "GROUP BY 区划 ORDER BY 区划", "mean"),
]  # fmt: skip


def ensure_table(rows: int, cache: Path) -> Path:
    """The generated table as Parquet (cached between runs)."""
    path = cache / "people.parquet"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    districts = "[" + ", ".join(f"'{d}'" for d in DISTRICTS) + "]"
    diagnoses = (
        "['健康', '健康', '健康', '高血压', '糖尿病', '哮喘', '冠心病', '骨折', '抑郁', '其他']"
    )
    console.print(f"  generating {rows:,} rows …")
    with duckdb.connect() as con:
        con.execute(
            f"""COPY (SELECT
                  {districts}[1 + (i % 16)] || lpad(CAST(i AS VARCHAR), 12, '0') AS 公民身份号码,
                  {districts}[1 + (i % 16)] AS 区划,
                  CASE WHEN i % 2 = 0 THEN '男' ELSE '女' END AS 性别,
                  CAST(i * 31 % 90 AS INTEGER) AS 年龄,
                  CAST((i * 2654435761) % 50000000 / 100.0 AS DECIMAL(18, 2)) AS 年收入,
                  {diagnoses}[1 + (i * 13 % 10)] AS 诊断
                FROM range({rows}) r(i)) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 122880)"""
        )  # fmt: skip
    return path


class World:
    """A platform on the embedded default with one big entry and two sandbox grants."""

    def __init__(self, home: Path, table: Path, threads: int, memory: str) -> None:
        settings = Settings(
            env="production", home=home, password_hash_profile="fast",
            secret_key=SecretStr("bench-secret-key-that-is-long-enough-0000"),
            sandbox_threads=threads, sandbox_memory_limit=memory, sandbox_workers=1,
            sandbox_timeout_seconds=600,
        )  # fmt: skip
        self.platform: Platform = build(settings)
        upgrade(self.platform.engine)
        self.operator, self.aggregate, self.dp, self.code = self._setup(table)

    def _setup(self, table: Path) -> tuple[Actor, str, str, str]:
        platform = self.platform
        with platform.uow() as uow:
            identity.bootstrap_admin(
                uow, bureau=OrganisationCreate(code="bureau", name="市数据局", kind=OrgKind.BUREAU),
                data=UserCreate(username="admin", display_name="管理员",
                                password=SecretStr("bench-password-123")),
                passwords=platform.passwords,
            )  # fmt: skip
        admin = _actor(platform, "admin")
        with platform.uow() as uow:
            identity.create_organisations(uow, actor=admin, items=[
                OrganisationCreate(code="health", name="市卫生健康委", kind=OrgKind.DEPARTMENT),
                OrganisationCreate(code="op", name="运营公司", kind=OrgKind.OPERATOR),
            ])  # fmt: skip
        for username, org, role in (("officer", "health", Role.DEPT_OFFICER),
                                    ("operator", "op", Role.OPERATOR)):  # fmt: skip
            with platform.uow() as uow:
                identity.create_user(
                    uow, actor=admin, passwords=platform.passwords,
                    data=UserCreate(username=username, display_name=username,
                                    password=SecretStr("bench-password-123"),
                                    memberships=[MembershipIn(organisation_code=org, role=role)]),
                )  # fmt: skip
        officer = _actor(platform, "officer")
        with platform.uow() as uow:
            entry = catalog.create_entry(
                uow, actor=officer,
                data=EntryInput.model_validate({
                    "name": "居民健康档案（基准）", "summary": "一千万行的基准数据",
                    "keywords": ["基准"], "provider": "health", "fields": FIELDS,
                    "format": "database", "update_frequency": "monthly",
                    "share_type": "conditional", "share_conditions": "仅限沙箱",
                    "delivery": ["api"], "open_type": "none", "theme": "07",
                    "impact": {"rights": "serious"},
                }),
            )  # fmt: skip
            uow.commit()
            entry_id, code = entry.id, entry.resource_code
        with platform.datastore.lake.scratch() as work:  # the lake takes the file it is given
            shutil.copyfile(table, work / table.name)
            digest, size = platform.datastore.lake.put(work / table.name)
        with duckdb.connect() as con:
            count = con.execute(f"SELECT count(*) FROM read_parquet('{table}')").fetchone()
        with platform.uow() as uow:
            uow.session.add(DatasetVersion(
                id=new_id("ver"), entry_id=entry_id, number=1, file_hash=digest, file_bytes=size,
                rows=count[0] if count else 0, columns=[{"name": f["name"], "type": f["type"],
                "flags": f.get("flags", [])} for f in FIELDS], key_fields=[],
                source_name=table.name, source_hash=digest, source_bytes=size,
                source_format="parquet", created_at=uow.clock.now(),
            ))  # fmt: skip
            year = uow.clock.now() + timedelta(days=365)
            base = {"subject_organisation_code": "op", "entry_ref": entry_id, "fields": ["*"],
                    "purpose": "基准测试", "valid_until": year,
                    "delivery_modes": [DeliveryMode.SANDBOX]}  # fmt: skip
            aggregate = grant_service.create_grant(uow, actor=admin, data=GrantCreate(
                **base, release_policy=ReleasePolicy.AGGREGATE, min_group_size=10,
                policy_params=SandboxParams(domains={"性别": ["男", "女"]}),
            )).id  # fmt: skip
            dp = grant_service.create_grant(uow, actor=admin, data=GrantCreate(
                **base, release_policy=ReleasePolicy.DP, dp_epsilon_budget=1_000.0,
                policy_params=SandboxParams(
                    domains={"区划": list(DISTRICTS)}, bounds={"年收入": (0, 500_000)},
                    epsilon_per_query=1.0,
                ),
            )).id  # fmt: skip
        return _actor(platform, "operator"), aggregate, dp, code

    def run(self, grant: str, sql: str) -> service.QueryResult:
        """One query through the whole sandbox."""
        return service.run_query(
            self.platform.sandbox, actor=self.operator, grant_id=grant, sql=sql
        )


def _actor(platform: Platform, username: str) -> Actor:
    import sqlalchemy as sa

    from gongshu.identity.models import User

    with platform.uow() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == username))
        assert user is not None
        return identity.actor_for_user(uow, user)


def direct(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    """The baseline: the same SQL straight in DuckDB."""
    return con.execute(sql).fetchall()


def opendp_direct(con: duckdb.DuckDBPyConnection, sql: str, kind: str, epsilon: float) -> Any:
    """The same measurement with OpenDP by hand: exact aggregate, then the Laplace mechanism."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    rows = con.execute(sql).fetchall()
    ints = (dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int))
    counts = [int(r[2]) for r in rows]
    if kind == "count":
        return dp.m.make_laplace(*ints, scale=1 / epsilon)(counts)
    # a mean: noisy clamped sum / noisy count with ε split in two, as the platform does
    floats = (dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float))
    sums = dp.m.make_laplace(*floats, scale=500_000 / (epsilon / 2))([float(r[1]) for r in rows])
    noisy = dp.m.make_laplace(*ints, scale=1 / (epsilon / 2))(counts)
    return [s / max(c, 1) for s, c in zip(sums, noisy, strict=True)]


def measure(fn: Any, repeat: int) -> tuple[float, float]:
    """Median and best wall seconds of ``repeat`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        with timed() as t:
            fn()
        times.append(t.wall)
    return statistics.median(times), min(times)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory", default="4GB")
    parser.add_argument("--cache-dir", type=Path)
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    add_wait_quiet(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_signal_handlers()
    command = " ".join([".venv/bin/python bench/sandbox.py", *(argv or sys.argv[1:])])
    console.print(f"[bold]bench/sandbox.py[/] · {machine_line()}", highlight=False)
    started = time.perf_counter()
    cache = args.cache_dir or Path(os.environ.get("TMPDIR", "/tmp")) / (
        f"gongshu-bench-sandbox-v{VERSION}-{args.rows}"
    )
    table = ensure_table(args.rows, cache)
    results = Results()
    with temp_dir("gongshu-bench-sandbox-") as tmp:
        world = World(tmp / "home", table, args.threads, args.memory)
        quoted = f'"{world.code}"'
        con = duckdb.connect(config={"threads": args.threads, "memory_limit": args.memory})
        con.execute("SET enable_progress_bar = false")
        con.execute(f"CREATE VIEW {quoted} AS SELECT * FROM read_parquet('{table}')")
        with timed() as first:
            world.run(world.aggregate, f"SELECT count(*) AS everyone FROM {quoted}")
        results.add(
            "setup", "first query of a version: measuring subjects once (distinct IDs)",
            f"{first.wall * 1000:,.0f} ms", "", "", "", "",
        )  # fmt: skip
        wait_for_quiet(args.wait_quiet)
        for name, template in QUERIES:
            sql = template.format(t=quoted)
            ours, ours_best = measure(lambda sql=sql: world.run(world.aggregate, sql), args.repeat)
            base, base_best = measure(lambda sql=sql: direct(con, sql), args.repeat)
            added = ours - base
            ok = ours <= 1.3 * base if base > 0.1 else added <= 0.020
            goal = "≤ ×1.3" if base > 0.1 else "≤ +20 ms"
            results.raw[name] = {"ours": ours, "ours_best": ours_best, "base": base,
                                 "base_best": base_best}  # fmt: skip
            figure = f"{ours * 1000:,.1f} ms (×{ours / base:.2f}, +{added * 1000:,.1f} ms)"
            results.add(
                "aggregate", name, figure,
                "same SQL in DuckDB", f"{base * 1000:,.1f} ms", goal, verdict(ok),
            )  # fmt: skip
        # A series over one frame: the second query is also checked against the first for
        # differencing — one more scan over the rows where the two filters disagree.
        series = f"SELECT count(*) AS n FROM {quoted}"
        world.run(world.aggregate, series)
        sql = series + " WHERE 年龄 = 42"
        ours, _ = measure(lambda: world.run(world.aggregate, sql), args.repeat)
        base, _ = measure(lambda: direct(con, sql), args.repeat)
        results.raw["differencing"] = {"ours": ours, "base": base}
        results.add(
            "aggregate", "the same count narrowed after a whole-table count (differencing check)",
            f"{ours * 1000:,.1f} ms (+{(ours - base) * 1000:,.1f} ms)", "same SQL in DuckDB",
            f"{base * 1000:,.1f} ms", "report", "",
        )  # fmt: skip
        for name, template, exact, kind in DP_QUERIES:
            sql, plain = template.format(t=quoted), exact.format(t=quoted)
            ours, _ = measure(lambda sql=sql: world.run(world.dp, sql), args.repeat)
            base, _ = measure(
                lambda plain=plain, kind=kind: opendp_direct(con, plain, kind, 1.0), args.repeat
            )
            results.raw[name] = {"ours": ours, "base": base}
            results.add(
                "dp", name + " (ε = 1)", f"{ours * 1000:,.1f} ms (×{ours / base:.2f})",
                "DuckDB + OpenDP Laplace by hand", f"{base * 1000:,.1f} ms", "report", "",
            )  # fmt: skip
        results.notes.append(
            f"{args.rows:,} rows; sandbox worker and baseline both {args.threads} threads, "
            f"memory limit {args.memory}; median of {args.repeat} after one warm-up; in-process "
            "service call (no HTTP); the aggregate grant has k = 10"
        )
        world.platform.dispose()
    print_results(
        results, title="Sandbox", command=command, json_path=args.json, console=console,
        started=started,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
