"""Ingest figures (aggregation and quality issue): a 10-million-row CSV, end to end.

Measured, each in its own process so that its peak memory is its own:

* ``raw``: DuckDB ``COPY (SELECT * FROM read_csv(f)) TO 'x.parquet'`` — the baseline;
* ``gongshu``: ``datastore.service.ingest_file`` on the embedded default — detect, map, type
  every cell with located errors, write the content-addressed version, then the quality
  assessment it triggers (profile + default and declared rules + scores);
* ``gongshu-gb18030``: the same file encoded in GB18030 (transcoded on the way in);
* ``pandera``: the same rules written for pandera on polars (read + validate).

Raw, ours and ours on GB18030 run in turn for ``--repeat`` rounds (3) and each figure is its
best round: the machine's speed drifts over minutes, and this keeps each ratio to the same
conditions. The times compared are each child's timed work (raw's COPY; ours from the upload
to the stored assessment), not interpreter start or creating the entry.

The generated file has 12 columns with citizen IDs and USCCs (0.1 % of each corrupted), names,
dates, money, districts, phone numbers; it is cached under ``$TMPDIR`` between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchlib import (
    PYTHON,
    Results,
    add_wait_quiet,
    clean_env,
    install_signal_handlers,
    load_average,
    machine_busy_seconds,
    machine_line,
    prepare_home,
    print_results,
    temp_dir,
    verdict,
    wait_for_quiet,
)
from rich.console import Console

console = Console(stderr=True)
HERE = Path(__file__).resolve()
VERSION = "1"
DISTRICTS = [
    "东城区",
    "西城区",
    "朝阳区",
    "海淀区",
    "丰台区",
    "石景山区",
    "门头沟区",
    "房山区",
    "通州区",
    "顺义区",
    "昌平区",
    "大兴区",
    "怀柔区",
    "平谷区",
    "密云区",
    "延庆区",
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
FIELDS = [
    ("公民身份号码", "string", ["identifier"]),
    ("姓名", "string", ["sensitive"]),
    ("性别", "string", []),
    ("出生日期", "date", []),
    ("统一社会信用代码", "string", []),
    ("企业名称", "string", []),
    ("注册资本", "money", []),
    ("成立日期", "date", []),
    ("所属区", "string", ["quasi_identifier"]),
    ("联系电话", "string", ["sensitive"]),
    ("是否有效", "boolean", []),
    ("更新时间", "datetime", []),
]
RULES: list[dict[str, Any]] = [
    {"kind": "code_list", "fields": ["性别"], "params": {"values": ["男", "女"]}},
    {"kind": "code_list", "fields": ["所属区"], "params": {"values": DISTRICTS}},
    {"kind": "range", "fields": ["注册资本"], "params": {"min": 0, "max": 100000000}},
    {"kind": "regex", "fields": ["联系电话"], "params": {"pattern": "^1[3-9][0-9]{9}$"}},
    {"kind": "date", "fields": ["成立日期"], "params": {"max": "today"}},
    {"kind": "cross_field", "fields": ["出生日期", "成立日期"], "params": {"op": "<="}},
    {"kind": "unique", "fields": ["公民身份号码"], "params": {}},
]
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


# ------------------------------------------------------------------ the data


def _generate_sql(rows: int, target: Path) -> str:
    districts = "[" + ", ".join(f"'{d}'" for d in DISTRICTS) + "]"
    return f"""
    COPY (
      WITH base AS (
        SELECT i,
          DATE '1950-01-01' + CAST(hash(i, 1) % 25000 AS INTEGER) AS birth,
          '110105' || strftime(DATE '1950-01-01' + CAST(hash(i, 1) % 25000 AS INTEGER), '%Y%m%d')
            || lpad(CAST(i % 1000 AS VARCHAR), 3, '0') AS id17,
          lpad(CAST(hash(i, 2) % 100000000 AS VARCHAR), 8, '0') AS org8
        FROM range({rows}) t(i)
      ), ids AS (
        SELECT *,
          id17 || substr('10X98765432', CAST(list_sum(list_transform(range(17),
            k -> (ascii(substr(id17, k + 1, 1)) - 48) * {ID_WEIGHTS}[k + 1])) % 11 AS INTEGER) + 1,
            1) AS cid,
          org8 || CASE 11 - list_sum(list_transform(range(8),
              k -> (ascii(substr(org8, k + 1, 1)) - 48) * {ORG_WEIGHTS}[k + 1])) % 11
            WHEN 10 THEN 'X' WHEN 11 THEN '0'
            ELSE CAST(11 - list_sum(list_transform(range(8),
              k -> (ascii(substr(org8, k + 1, 1)) - 48) * {ORG_WEIGHTS}[k + 1])) % 11 AS VARCHAR)
            END AS org9
        FROM base
      ), codes AS (
        SELECT *, '91110105' || org9 AS u17 FROM ids
      ), coded AS (
        SELECT *,
          u17 || substr('{USCC_ALPHABET}', CAST((31 - list_sum(list_transform(range(17),
            k -> (strpos('{USCC_ALPHABET}', substr(u17, k + 1, 1)) - 1)
                 * {USCC_WEIGHTS}[k + 1])) % 31) % 31 AS INTEGER) + 1, 1) AS uscc
        FROM codes
      )
      SELECT
        CASE WHEN i % 1000 = 7 THEN substr(cid, 1, 17) || CASE WHEN right(cid, 1) = '1'
             THEN '2' ELSE '1' END ELSE cid END AS 公民身份号码,
        substr('{SURNAMES}', CAST(hash(i, 3) % {len(SURNAMES)} AS INTEGER) + 1, 1)
          || substr('{GIVEN}', CAST(hash(i, 4) % {len(GIVEN)} AS INTEGER) + 1, 1)
          || CASE WHEN i % 3 = 0 THEN substr('{GIVEN}', CAST(hash(i, 5) % {len(GIVEN)} AS INTEGER)
             + 1, 1) ELSE '' END AS 姓名,
        CASE WHEN CAST(substr(id17, 17, 1) AS INTEGER) % 2 = 1 THEN '男' ELSE '女' END AS 性别,
        strftime(birth, '%Y-%m-%d') AS 出生日期,
        CASE WHEN i % 1000 = 11 THEN substr(uscc, 1, 17) || CASE WHEN right(uscc, 1) = 'A'
             THEN 'B' ELSE 'A' END ELSE uscc END AS 统一社会信用代码,
        '北京' || substr('{GIVEN}', CAST(hash(i, 6) % {len(GIVEN)} AS INTEGER) + 1, 1)
          || substr('{GIVEN}', CAST(hash(i, 7) % {len(GIVEN)} AS INTEGER) + 1, 1) || '科技有限公司'
          AS 企业名称,
        CAST(round((hash(i, 8) % 100000000) / 100.0, 2) AS VARCHAR) AS 注册资本,
        strftime(birth + CAST(7000 + hash(i, 9) % 9000 AS INTEGER), '%Y-%m-%d') AS 成立日期,
        {districts}[CAST(hash(i, 10) % 16 AS INTEGER) + 1] AS 所属区,
        '1' || CAST(3 + hash(i, 11) % 7 AS VARCHAR)
          || lpad(CAST(hash(i, 12) % 1000000000 AS VARCHAR), 9, '0') AS 联系电话,
        CASE WHEN hash(i, 13) % 10 = 0 THEN '否' ELSE '是' END AS 是否有效,
        strftime(TIMESTAMP '2025-01-01 08:00:00'
          + to_seconds(CAST(hash(i, 14) % 30000000 AS BIGINT)), '%Y-%m-%d %H:%M:%S') AS 更新时间
      FROM coded ORDER BY i
    ) TO '{target}' (FORMAT csv, HEADER true)
    """


def ensure_data(rows: int, cache: Path) -> tuple[Path, Path]:
    """The UTF-8 and GB18030 files, generated once and cached."""
    cache.mkdir(parents=True, exist_ok=True)
    utf8, gbk = cache / "data.csv", cache / "data-gb18030.csv"
    if not utf8.exists():
        console.print(f"  generating {rows:,} rows …", highlight=False)
        started = time.perf_counter()
        partial = cache / "data.csv.part"
        # In a child process: DuckDB's memory would otherwise stay with this one, and every
        # measured child forked from it would start with that as its peak.
        argv = [PYTHON, str(HERE), "--child", "generate", str(rows), str(partial)]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        partial.replace(utf8)
        console.print(f"  generated in {time.perf_counter() - started:.1f} s", highlight=False)
    if not gbk.exists():
        started = time.perf_counter()
        partial = cache / "data-gb18030.csv.part"
        with (
            utf8.open("r", encoding="utf-8", newline="") as src,
            partial.open("w", encoding="gb18030", newline="") as dst,
        ):
            while chunk := src.read(8 * 1_048_576):
                dst.write(chunk)
        partial.replace(gbk)
        console.print(f"  GB18030 copy in {time.perf_counter() - started:.1f} s", highlight=False)
    return utf8, gbk


# ------------------------------------------------------------------ the children


def child_generate(rows: int, target: Path) -> dict[str, Any]:
    """Write the generated CSV."""
    import duckdb

    duckdb.connect().execute(_generate_sql(rows, target))
    return {"rows": rows}


def child_raw(path: Path, out: Path, threads: int) -> dict[str, Any]:
    """Raw DuckDB: CSV → Parquet, types detected by DuckDB."""
    import duckdb

    con = duckdb.connect(config={"threads": threads})
    started = time.perf_counter()
    con.execute(f"COPY (SELECT * FROM read_csv('{path}')) TO '{out}' (FORMAT parquet)")
    return {"seconds": time.perf_counter() - started}


def child_gongshu(home: Path, path: Path) -> dict[str, Any]:
    """The platform's ingest of ``path`` into a fresh entry, then its quality assessment."""
    import sqlalchemy as sa

    from gongshu.bootstrap import build
    from gongshu.catalog import service as catalog
    from gongshu.catalog.schemas import EntryInput
    from gongshu.datastore import service as datastore
    from gongshu.identity import Role
    from gongshu.identity.models import Membership, User
    from gongshu.identity.service import actor_for_user
    from gongshu.kernel.settings import Settings
    from gongshu.quality import service as quality
    from gongshu.quality.models import QualityReport

    platform = build(Settings(home=home))
    with platform.uow() as uow:
        user, org_id = uow.session.execute(
            sa.select(User, Membership.organisation_id)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.role == Role.DEPT_OFFICER.value)
            .limit(1)
        ).one()
        actor = actor_for_user(uow, user, via="console")
        entry = catalog.create_entry(
            uow,
            actor=actor,
            data=EntryInput.model_validate(
                {
                    "name": f"企业法人与联系人信息（基准 {time.time_ns()}）",
                    "summary": "生成的一千万行基准数据", "keywords": ["基准"],
                    "provider": org_id,
                    "fields": [{"name": n, "type": t, "flags": f} for n, t, f in FIELDS],
                    "format": "csv", "update_frequency": "monthly", "share_type": "unconditional",
                    "delivery": ["file"], "open_type": "none", "theme": "02",
                    "impact": {"rights": "serious"},
                }
            ),
        )  # fmt: skip
        entry_id = entry.id
        uow.commit()
    with platform.uow() as uow:
        quality.update_rules(uow, actor=actor, entry_id=entry_id, rules=RULES)
        uow.commit()
    started = time.perf_counter()
    outcome = datastore.ingest_file(
        platform.datastore, actor=actor, entry_id=entry_id, path=path, filename=path.name
    )
    seconds = time.perf_counter() - started
    with platform.uow() as uow:
        report = uow.session.get(QualityReport, outcome.version_id)
        assert report is not None, "the version was not assessed"
        assessed = report.seconds
        failed = {r["kind"] + ":" + ",".join(r["fields"]): r["failed"] for r in report.results}
        overall = report.overall
    return {
        "seconds": seconds,
        "phases": outcome.report.get("seconds", {}),
        "assessment_seconds": assessed,
        "rows_stored": outcome.report["rows_stored"],
        "rows_quarantined": outcome.report["rows_quarantined"],
        "encoding": outcome.report.get("encoding"),
        "rules": len(failed),
        "failed": failed,
        "overall": overall,
    }


def child_pandera(path: Path) -> dict[str, Any]:
    """The same rules in pandera (polars backend): read, then validate every check."""
    import pandera.polars as pa
    import polars as pl

    started = time.perf_counter()
    frame = pl.read_csv(path, infer_schema_length=0)  # everything as text, as ingest reads it
    read = time.perf_counter() - started
    id_weights, uscc_weights = ID_WEIGHTS, USCC_WEIGHTS

    def citizen_ok(data: pa.PolarsData) -> pl.LazyFrame:
        col = pl.col(data.key)
        total = sum(col.str.slice(k, 1).cast(pl.Int64, strict=False) * w
                    for k, w in enumerate(id_weights))  # fmt: skip
        check = pl.lit("10X98765432").str.slice(total % 11, 1)
        return data.lazyframe.select(col.str.slice(17, 1).str.to_uppercase() == check)

    def uscc_ok(data: pa.PolarsData) -> pl.LazyFrame:
        col = pl.col(data.key)
        values = [col.str.slice(k, 1).replace_strict(list(USCC_ALPHABET),
                  list(range(31)), default=None) for k in range(17)]  # fmt: skip
        total = sum(v * w for v, w in zip(values, uscc_weights, strict=True))
        check = pl.lit(USCC_ALPHABET).str.slice((31 - total % 31) % 31, 1)
        return data.lazyframe.select(col.str.slice(17, 1) == check)

    text = {name: pa.Column(str, nullable=False) for name, _type, _flags in FIELDS}
    text["公民身份号码"] = pa.Column(str, [pa.Check(citizen_ok)], nullable=False, unique=True)
    text["统一社会信用代码"] = pa.Column(str, [pa.Check(uscc_ok)], nullable=False)
    text["性别"] = pa.Column(str, pa.Check.isin(["男", "女"]), nullable=False)
    text["所属区"] = pa.Column(str, pa.Check.isin(DISTRICTS), nullable=False)
    text["联系电话"] = pa.Column(str, pa.Check.str_matches(r"^1[3-9][0-9]{9}$"), nullable=False)
    schema = pa.DataFrameSchema(text)
    typed = frame.with_columns(
        pl.col("注册资本").cast(pl.Float64, strict=False),
        pl.col("出生日期").str.to_date(strict=False),
        pl.col("成立日期").str.to_date(strict=False),
    )
    numbers = pa.DataFrameSchema(
        {
            "注册资本": pa.Column(float, pa.Check.in_range(0, 100_000_000)),
            "成立日期": pa.Column(pl.Date),
            "出生日期": pa.Column(pl.Date),
        }
    )
    errors = 0
    started_checks = time.perf_counter()
    for validated, data in ((schema, frame), (numbers, typed)):
        try:
            validated.validate(data, lazy=True)
        except pa.errors.SchemaErrors as found:
            errors += len(found.failure_cases)
    return {
        "seconds": time.perf_counter() - started,
        "read_seconds": read,
        "check_seconds": time.perf_counter() - started_checks,
        "failure_cases": errors,
    }


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the shortest timed work; its peak memory is the highest of all rounds."""
    best = dict(min(runs, key=lambda run: float(run["seconds"])))
    best["peak_mb"] = max(float(run["peak_mb"]) for run in runs)
    return best


def run_child(kind: str, *args: str, env: dict[str, str]) -> dict[str, Any]:
    """Run one measured step in a child process; its result plus wall time and peak memory."""
    argv = [PYTHON, str(HERE), "--child", kind, *args]
    started, busy = time.perf_counter(), machine_busy_seconds()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    out = process.stdout.read()
    err = process.stderr.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{kind} failed ({process.returncode}):\n{err.decode()[-3000:]}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    cpu = usage.ru_utime + usage.ru_stime
    result.update(
        wall=wall,
        cpu=cpu,
        peak_mb=usage.ru_maxrss / 1024,
        others=max(0.0, machine_busy_seconds() - busy - cpu) / wall,
    )
    return result


# ------------------------------------------------------------------ the run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows (default 10,000,000)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--cache-dir", type=Path, help="where the generated files are kept")
    parser.add_argument("--no-pandera", action="store_true", help="skip the pandera comparison")
    parser.add_argument("--no-gb18030", action="store_true", help="skip the GB18030 run")
    parser.add_argument("--json", type=Path, help="also write the raw numbers to this file")
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of raw and ours in turn (best taken)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("child_args", nargs="*", help=argparse.SUPPRESS)
    add_wait_quiet(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        handlers = {
            "raw": lambda a: child_raw(Path(a[0]), Path(a[1]), int(a[2])),
            "gongshu": lambda a: child_gongshu(Path(a[0]), Path(a[1])),
            "pandera": lambda a: child_pandera(Path(a[0])),
            "generate": lambda a: child_generate(int(a[0]), Path(a[1])),
        }
        print(json.dumps(handlers[args.child](args.child_args), default=str))
        return 0
    install_signal_handlers()
    command = " ".join([".venv/bin/python bench/ingest.py", *(argv or sys.argv[1:])])
    console.print(f"[bold]bench/ingest.py[/] · {machine_line()}", highlight=False)
    started = time.perf_counter()
    cache = args.cache_dir or Path(os.environ.get("TMPDIR", "/tmp")) / (
        f"gongshu-bench-ingest-v{VERSION}-{args.rows}"
    )
    utf8, gbk = ensure_data(args.rows, cache)
    size_mb = utf8.stat().st_size / 1e6
    console.print(f"  {args.rows:,} rows, {size_mb:,.0f} MB (UTF-8) · {load_average()}")
    results = Results()
    env = clean_env(GONGSHU_DUCKDB_THREADS=str(args.threads))
    with temp_dir("gongshu-bench-ingest-") as tmp:
        home = prepare_home(tmp).home
        wait_for_quiet(args.wait_quiet)
        ours_env = env | {"GONGSHU_HOME": str(home)}
        # Rounds of raw, ours and ours on GB18030 in turn; each figure is its best round. The
        # machine's speed drifts by a quarter over minutes (other tenants): interleaving and
        # taking the best keeps the ratios to the same conditions.
        rounds: dict[str, list[dict[str, Any]]] = {"raw": [], "gongshu": [], "gongshu_gb18030": []}
        for round_number in range(1, args.repeat + 1):
            console.print(f"  round {round_number} of {args.repeat} · {load_average()}")
            rounds["raw"].append(
                run_child("raw", str(utf8), str(tmp / "raw.parquet"), str(args.threads), env=env)
            )
            rounds["gongshu"].append(run_child("gongshu", str(home), str(utf8), env=ours_env))
            if not args.no_gb18030:
                rounds["gongshu_gb18030"].append(
                    run_child("gongshu", str(home), str(gbk), env=ours_env)
                )
        raw, ours = _best(rounds["raw"]), _best(rounds["gongshu"])
        results.raw.update(raw=raw, gongshu=ours, rounds=rounds)
        # The timed work in each child: raw's COPY; ours from the upload to the stored
        # assessment. Interpreter start and (ours) creating the entry are outside both.
        took, base = ours["seconds"], raw["seconds"]
        results.add(
            "ingest", f"{args.rows:,}-row CSV ({size_mb:,.0f} MB, UTF-8): ingest + profile + "
            f"{ours['rules']} rules, end to end",
            f"{took:.1f} s · {args.rows / took:,.0f} rows/s",
            "raw DuckDB read_csv → Parquet", f"{base:.1f} s",
            "≤ 2× raw", verdict(took <= 2 * base),
        )  # fmt: skip
        results.add(
            "ingest", "ratio to raw DuckDB", f"×{took / base:.2f}", "", "", "≤ ×2",
            verdict(took <= 2 * base),
        )  # fmt: skip
        results.add(
            "ingest", "peak memory (child process RSS)", f"{ours['peak_mb']:,.0f} MB",
            "raw DuckDB", f"{raw['peak_mb']:,.0f} MB", "≤ 2,048 MB",
            verdict(ours["peak_mb"] <= 2048),
        )  # fmt: skip
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in ours["phases"].items())
        results.add(
            "ingest", "of which", f"{phases}, assessment {ours['assessment_seconds']:.1f} s"
        )
        spread = ", ".join(
            f"{kind} " + " / ".join(f"{r['seconds']:.1f}" for r in runs)
            for kind, runs in rounds.items()
            if runs
        )
        results.add("ingest", f"every round (s; best taken): {spread}", "")
        # Each round's raw and ours ran a minute apart: their ratio sees the same machine,
        # which the ratio of the two bests need not (the goal is judged on the bests).
        paired = [
            mine["seconds"] / theirs["seconds"]
            for theirs, mine in zip(rounds["raw"], rounds["gongshu"], strict=True)
        ]
        results.add(
            "ingest", "ratio within each round (ours / raw of the same round)",
            " / ".join(f"×{ratio:.2f}" for ratio in paired)
            + f" (median ×{statistics.median(paired):.2f})",
        )  # fmt: skip
        results.add(
            "ingest", "whole child process (start, imports, entry set-up)",
            f"{ours['wall']:.1f} s", "raw DuckDB", f"{raw['wall']:.1f} s",
        )  # fmt: skip
        if not args.no_gb18030:
            gb = _best(rounds["gongshu_gb18030"])
            results.raw["gongshu_gb18030"] = gb
            results.add(
                "ingest", "the same file in GB18030, end to end", f"{gb['seconds']:.1f} s "
                f"(×{gb['seconds'] / base:.2f} raw)", "raw DuckDB (UTF-8)",
                f"{base:.1f} s", "≤ 3× raw", verdict(gb["seconds"] <= 3 * base),
            )  # fmt: skip
        if not args.no_pandera:
            pandera = run_child("pandera", str(utf8), env=env)
            results.raw["pandera"] = pandera
            results.add(
                "rules", "the same rules in pandera (polars): read + validate",
                f"gongshu takes ×{took / pandera['seconds']:.2f} pandera's time",
                "pandera on polars", f"{pandera['seconds']:.1f} s · {pandera['peak_mb']:,.0f} MB",
            )  # fmt: skip
        results.busy.append(
            ", ".join(
                f"{k} {v['others']:.2f}"
                for k, v in results.raw.items()
                if isinstance(v, dict) and "others" in v
            )
        )
    print_results(
        results, started=started, title="Ingest figures (aggregation and quality issue)",
        command=command, json_path=args.json, console=console,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
