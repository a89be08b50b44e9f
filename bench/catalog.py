"""The catalogue figures of the catalogue issue, each beside a plain baseline from the same run.

On the embedded default (SQLite + local files, a data home made by ``gongshu init`` and
``gongshu demo``):

1. **Search at 100,000 entries.** The entries are generated from the demo catalogue's ~320
   rows (``gongshu.demo.catalog.demo_catalog``) × districts, streets, years and periods, with
   varied summaries, keywords and data items, statuses mostly ``published``, and inserted
   set-based (SQLAlchemy Core ``executemany`` into ``catalog_entry`` / ``catalog_field``, the
   FTS5 index filled with ``gongshu.catalog.search._write`` from the analyzer's
   ``index_terms``). No audit or ledger records and no published versions are written for
   them: search reads neither. The built data home is cached between runs (``--rebuild``).

   Over 200+ varied Chinese queries (department and district names, data terms, two-word,
   one- and two-character, Traditional, Latin/digits, queries that match nothing), each
   measured ``--repeat`` times after a warm-up:

   * ``GET /api/v1/catalog/entries?q=…&limit=20`` with a read token against ``gongshu serve``
     (one worker) on loopback, one request at a time (goal p50 ≤ 20 ms, p99 ≤ 100 ms);
   * ``search_entries`` in-process (a fresh reading unit of work per call), with facets as the
     route asks for them and with ``facets=False``;
   * the baseline: a plain ``LIKE`` scan in raw ``sqlite3`` on the same database file
     (``name LIKE ? OR summary LIKE ?`` per word, the same visibility rule, a page of 20 by
     ``updated_at`` plus a ``count(*)``).

2. **xlsx import.** A 10,000-row workbook written with ``sheets.write_xlsx`` for providers the
   demo has, imported into a fresh demo home with ``import_entries`` in-process (dry run, then
   commit) and with ``gongshu --as bureau_admin catalog import FILE [--commit]``; the baseline
   is openpyxl reading the same file in read-only mode plus a raw ``sqlite3`` ``executemany``
   of the same cells into a scratch table.

    .venv/bin/python bench/catalog.py [--entries 100000] [--repeat 3] [--rebuild] [--profile]
        [--compare-src DIR]   # a second server running another copy of the code, same queries

Before/after figures of a change come from one run with ``--compare-src`` (a copy of ``src/``
as it was): both servers answer each query in turn, so both see the same machine.

A benchmark, not a test: it asserts no times. The first run builds the 100k home (a few
minutes); later runs reuse it from the temporary directory.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import http.client
import io
import json
import os
import pstats
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchlib import (
    GONGSHU,
    CpuMeter,
    DataHome,
    Interrupted,
    Results,
    add_wait_quiet,
    clean_env,
    fmt_rate,
    free_port,
    install_signal_handlers,
    load_average,
    machine_line,
    percentile,
    platform_server_argv,
    prepare_home,
    print_results,
    process_cpu_seconds,
    spawned,
    temp_dir,
    timed,
    verdict,
    wait_for_quiet,
    wait_until_ok,
)
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

console = Console() if sys.stdout.isatty() else Console(width=160)

# Bump when the generated data or the way it is stored changes: cached homes of another
# version are not reused.
DATA_VERSION = "3"
GOAL_P50_S = 0.020
GOAL_P99_S = 0.100
PAGE = 20
BENCH_RATE_LIMIT = "1000000000"  # the default 600/min per token would answer 429

# ------------------------------------------------------------------ measuring


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 0.01 else f"{seconds * 1000:.1f} ms"


def quiet(args: argparse.Namespace) -> None:
    """Wait for the machine to go quiet before a measurement, when asked to."""
    if args.wait_quiet > 0:
        console.print(f"  {wait_for_quiet(args.wait_quiet)}", highlight=False)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("  {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def profile(label: str, run: Callable[[], object], pattern: str, limit: int = 22) -> None:
    """Run ``run`` under cProfile and print where the time went."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        run()
    finally:
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(pattern, limit)
    console.rule(f"[bold]cProfile: {label}[/]")
    console.print(out.getvalue(), highlight=False, markup=False)


# ------------------------------------------------------------------ entries

_YEARS = tuple(range(2010, 2026))
_PERIODS = ("", "第一季度", "第二季度", "第三季度", "第四季度", "上半年", "下半年", "年度汇总")
_EXTRA_SENTENCES = (
    "数据经汇聚、清洗和质量校核后发布，字段口径与上年度保持一致。",
    "历史数据可追溯至{since}年，按{period}形成数据快照。",
    "数据来源于{provider}业务系统，经市大数据平台共享交换。",
    "涉及个人信息的数据项已按规定脱敏处理，仅保留统计所需字段。",
    "统计口径依据国家标准和本市地方标准，详见数据字典。",
    "如需扩大共享范围，请通过共享申请流程说明使用场景。",
    "{place}的数据按街道（乡镇）汇总，支持按行政区划代码筛选。",
    "本批次共{count}个数据项，新增字段在数据字典中单独标注。",
    "对外接口支持按时间范围分页查询，单次返回不超过1000条。",
    "数据质量问题可通过12345热线或平台纠错入口反馈。",
)
_EXTRA_FIELDS = (
    ("统计年度", "integer", "数据所属年度"),
    ("数据来源", "string", "来源业务系统"),
    ("行政区划代码", "string", "GB/T 2260 行政区划代码"),
    ("更新时间", "datetime", "记录最后更新时间"),
    ("备注", "string", ""),
    ("经办机构", "string", "办理该业务的机构"),
    ("数据状态", "string", "有效、失效或待核实"),
    ("采集日期", "date", "数据采集日期"),
)
# Share of statuses among generated entries (the rest is published).
_STATUSES = (("draft", 0.03), ("submitted", 0.04), ("reviewed", 0.02), ("deprecated", 0.04),
             ("revising", 0.01))  # fmt: skip


@dataclass(frozen=True)
class Template:
    """One demo row, parsed to ``EntryInput`` values, with where its variants may be placed."""

    values: dict[str, Any]
    district: str | None  # a district template: its district (already in the name)
    places: tuple[str, ...]  # districts (municipal template) or streets (district template)


def load_templates() -> list[Template]:
    """The demo catalogue's rows as input values (``gongshu.demo.catalog.demo_catalog``)."""
    try:
        from gongshu.demo.catalog import demo_catalog
    except ImportError as exc:  # pragma: no cover - the demo catalogue is part of the issue
        raise SystemExit(f"gongshu.demo.catalog is missing: {exc}") from exc
    from gongshu.catalog.schemas import EntryInput
    from gongshu.catalog.sheets import SheetRow, row_to_input
    from gongshu.demo.citydata import build_city

    city = build_city()
    districts = tuple(d.name for d in city.districts)
    streets: dict[str, list[str]] = {}
    for street in city.streets:
        streets.setdefault(street.district_name, []).append(street.name)
    templates: list[Template] = []
    for number, cells in enumerate(demo_catalog(city), start=2):
        values, errors = row_to_input(SheetRow(number, cells))
        if values is None:
            raise SystemExit(f"demo catalogue row {number} does not import: {errors[:3]}")
        values = EntryInput.model_validate(values).model_dump(mode="json")
        values["related"] = []  # names of the demo's own entries; variants stand alone
        district = values.get("district")
        places = tuple(streets.get(district, ())) if district else districts
        templates.append(Template(values, district, places))
    return templates


def fingerprint(templates: Sequence[Template]) -> str:
    """A short digest of the demo rows the entries are generated from (the cache's key)."""
    text = json.dumps([t.values for t in templates], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Variants:
    """Deterministic variants of the templates: "朝阳区2021年公交站点基础信息" and so on."""

    def __init__(self, templates: Sequence[Template], seed: int) -> None:
        self.templates = templates
        self.seed = seed
        self._rngs = [random.Random(seed * 7919 + i) for i in range(len(templates))]
        self._used: set[tuple[str, str]] = set()

    def make(self, i: int) -> dict[str, Any]:
        """Values of the ``i``-th generated entry (an ``EntryInput`` dict plus ``status``)."""
        template = self.templates[i % len(self.templates)]
        rng = self._rngs[i % len(self.templates)]
        base = template.values
        for attempt in range(1000):
            place = rng.choice(("", *template.places)) if template.places else ""
            year = rng.choice(_YEARS)
            period = rng.choice(_PERIODS)
            name = self._name(base["name"], template.district, place, year, period, rng)
            if attempt >= 100:  # a small template ran out of combinations
                name = f"{name}（第{attempt - 99}批）"
            if (base["provider"], name) not in self._used and len(name) <= 200:
                self._used.add((base["provider"], name))
                break
        else:
            raise SystemExit(f"no unique name left for {base['name']!r}")
        values = dict(base, name=name)
        where = place or template.district or "全市"
        if place and not template.district:
            values["district"] = place
        head = f"{where}{year}年{period}"
        fields = [dict(item) for item in base["fields"]]
        names = {item["name"] for item in fields}
        for extra_name, extra_type, description in rng.sample(_EXTRA_FIELDS, rng.randint(0, 3)):
            if extra_name not in names and template.values["kind"] == "resource":
                fields.append({"name": extra_name, "type": extra_type, "description": description,
                               "element_code": None, "flags": []})  # fmt: skip
        if len(fields) > 3 and rng.random() < 0.2:
            fields.pop(rng.randrange(1, len(fields)))
        values["fields"] = fields
        extras = [
            sentence.format(
                since=year - rng.randint(2, 8),
                period=period or "年度",
                provider=base["provider"],
                place=where,
                count=len(fields),
            )
            for sentence in rng.sample(_EXTRA_SENTENCES, rng.randint(0, 2))
        ]
        values["summary"] = "".join([f"{head}：", base["summary"], *extras])[:4000]
        keywords = list(base["keywords"])
        if place and rng.random() < 0.6:
            keywords.append(place)
        if rng.random() < 0.4:
            keywords.append(f"{year}年")
        values["keywords"] = list(dict.fromkeys(keywords))[:30]
        roll = rng.random()
        values["status"] = "published"
        for status, share in _STATUSES:
            if roll < share:
                values["status"] = status
                break
            roll -= share
        return values

    @staticmethod
    def _name(
        base: str, district: str | None, place: str, year: int, period: str, rng: random.Random
    ) -> str:
        if district and place:  # a street of the district template's district
            if base.startswith(district):
                base = district + place + base[len(district) :]
            else:
                base = place + base
            place = ""
        style = rng.randrange(3)
        if style == 0:
            return f"{place}{year}年{base}"
        if style == 1:
            return f"{place}{base}（{year}年{period}）" if period else f"{place}{base}（{year}年）"
        return f"{year}年{period}{place}{base}"


# ------------------------------------------------------------------ building the 100k home


@dataclass(frozen=True)
class Org:
    """What the generator needs of an organisation (plain values, no ORM session)."""

    id: str
    name: str
    kind: str
    division_code: str | None


def drop_own_environment() -> list[str]:
    """Remove ``GONGSHU_*`` variables so the caller's settings cannot leak in; their names."""
    names = sorted(k for k in os.environ if k.startswith("GONGSHU_"))
    for name in names:
        del os.environ[name]
    return names


def open_platform(home: Path) -> Any:
    """The platform on an existing data home, as ``gongshu`` builds it (default settings)."""
    from gongshu.bootstrap import build
    from gongshu.kernel.settings import Settings

    return build(Settings(home=home))


def home_from_cache(root: Path) -> DataHome | None:
    """The cached, complete data home under ``root``, or None."""
    marker = root / "ready.json"
    if not marker.exists():
        return None
    data = json.loads(marker.read_text())
    home = root / "var"
    env = clean_env(GONGSHU_HOME=str(home))
    return DataHome(
        home=home,
        token=data["token"],
        database=f"sqlite:///{home / 'gongshu.db'} (embedded default)",
        env=env,
        prepare_seconds=data.get("seconds", {}),
    )


def cache_is_current(home: DataHome, root: Path, templates: Sequence[Template]) -> str | None:
    """Why the cached home cannot be used (demo rows changed, schema moved on, token refused)."""
    from gongshu import migrations
    from gongshu.identity import tokens

    built_from = json.loads((root / "ready.json").read_text()).get("templates")
    if built_from != fingerprint(templates):
        return "the demo catalogue it was generated from has changed"
    platform = open_platform(home.home)
    try:
        current = migrations.current_revision(platform.engine)
        head = migrations.head_revision(platform.engine)
        if current != head:
            return f"its schema is at {current}, the code at {head}"
        try:
            with platform.uow(writes=False) as uow:
                tokens.authenticate_token(uow, home.token)
        except Exception as exc:  # any refusal means: build again
            return f"its token is refused ({exc})"
        return None
    finally:
        platform.dispose()


def build_home(root: Path, args: argparse.Namespace, templates: Sequence[Template]) -> DataHome:
    """``gongshu init`` + ``demo`` + a read token, then ``args.entries`` generated entries."""
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    console.print(f"  building the data home in {partial} …", highlight=False)
    with timed() as t_prepare:
        home = prepare_home(partial)
    seconds = dict(home.prepare_seconds)
    console.print("  " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()), highlight=False)
    platform = open_platform(home.home)
    try:
        with timed() as t_insert:
            stats = insert_entries(platform, args.entries, templates, args.seed)
    finally:
        platform.dispose()
    seconds["generate + insert + index"] = t_insert.wall
    console.print(
        f"  {args.entries:,} entries, {stats['fields']:,} data items and their index terms "
        f"in {t_insert.wall:.1f} s (of which index terms {stats['terms_s']:.1f} s, "
        f"{stats['terms_per_entry']:.0f} terms an entry); prepare {t_prepare.wall:.1f} s",
        highlight=False,
    )
    with contextlib.closing(sqlite3.connect(home.home / "gongshu.db")) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size_mb = (home.home / "gongshu.db").stat().st_size / 1e6
    marker = {
        "version": DATA_VERSION,
        "templates": fingerprint(templates),
        "token": home.token,
        "entries": args.entries,
        "seconds": seconds,
        "stats": stats,
        "db_mb": size_mb,
        "built": time.strftime("%Y-%m-%d %H:%M %Z"),
    }
    (partial / "ready.json").write_text(json.dumps(marker, indent=2))
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)
    cached = home_from_cache(root)
    assert cached is not None
    return cached


def insert_entries(
    platform: Any, count: int, templates: Sequence[Template], seed: int, batch: int = 2000
) -> dict[str, Any]:
    """Generate ``count`` entries and store them set-based, with their search index rows."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    from gongshu.catalog import search
    from gongshu.catalog.models import CatalogSequence, Entry, EntryField
    from gongshu.catalog.textsearch import Analyzer
    from gongshu.catalog.vocab import Grade, Harm, ImpactObject, grade_for
    from gongshu.identity.models import Organisation, User
    from gongshu.kernel.ids import new_id

    with platform.uow(writes=False) as uow:
        columns = (Organisation.id, Organisation.code, Organisation.name, Organisation.kind,
                   Organisation.division_code)  # fmt: skip
        orgs: dict[str, Org] = {}
        for org_id, code, name, kind, division in uow.session.execute(sa.select(*columns)):
            org = Org(org_id, name, str(kind), division)
            for ref in (org_id, code, name):
                orgs.setdefault(ref, org)
        all_names = sorted({org.name for org in orgs.values()})
        admin_id = uow.session.scalar(sa.select(User.id).where(User.username == "bureau_admin"))
        rows = uow.session.execute(sa.select(CatalogSequence.key, CatalogSequence.value))
        counters: dict[str, int] = {key: value for key, value in rows}
        max_seq = uow.session.scalar(sa.select(sa.func.max(Entry.seq))) or 0
    # The same dictionary reindex_all uses (every organisation's name), in an analyzer of its
    # own, so this process's search.analyzer() stays as fresh as the server's.
    analyzer = Analyzer(all_names)
    counters["entries"] = max(counters.get("entries", 0), max_seq)
    touched: set[str] = {"entries"}

    def take(key: str) -> int:
        counters[key] = counters.get(key, 0) + 1
        touched.add(key)
        return counters[key]

    variants = Variants(templates, seed)
    now = datetime.now(UTC).replace(microsecond=0)
    start = datetime(2019, 1, 1, 1, tzinfo=UTC)
    span = (now - timedelta(days=30) - start).total_seconds()
    entry_table = Entry.__table__
    field_table = EntryField.__table__
    n_fields = 0
    n_terms = 0
    terms_s = 0.0
    with progress_bar() as bar:
        task = bar.add_task("generating and inserting entries", total=count, rate="")
        started = time.perf_counter()
        for first in range(0, count, batch):
            entries: list[dict[str, Any]] = []
            fields: list[dict[str, Any]] = []
            index_rows: list[tuple[int, list[str], list[str]]] = []
            for i in range(first, min(count, first + batch)):
                values = variants.make(i)
                rng = random.Random(seed * 1_000_003 + i)
                provider = orgs.get(values["provider"])
                if provider is None:
                    raise SystemExit(f"the demo has no provider {values['provider']!r}")
                district = orgs.get(values.get("district") or "")
                if district is None and provider.kind == "district":
                    district = provider
                created = start + timedelta(seconds=span * i / count + rng.uniform(0, 3600))
                updated = min(now, created + timedelta(days=rng.choice((0, 1, 3, 30, 200))))
                status = values["status"]
                published = status in ("published", "deprecated", "revising")
                impact = {ImpactObject(k): Harm(v) for k, v in values["impact"].items()}
                computed = grade_for(impact)
                grade = Grade(values["grade"]) if values.get("grade") else computed
                cls = "3" if values["kind"] == "resource" else "5"
                provider_key = f"provider:{provider.id}"
                number = counters.get(provider_key) or take("providers")
                if provider_key not in counters:
                    counters[provider_key] = number
                    touched.add(provider_key)
                detail = (district.division_code or "")[-2:] if district else "00"
                prefix = f"{cls}{values['theme']}{number:03d}{detail or '99'}"
                entry_id = new_id("ent", at_ms=int(created.timestamp() * 1000))
                seq = take("entries")
                submitted = status in ("submitted", "reviewed")
                first_published = created + timedelta(days=rng.randint(1, 10))
                entries.append(
                    {
                        "id": entry_id,
                        "seq": seq,
                        "kind": values["kind"],
                        "name": values["name"],
                        "summary": values["summary"],
                        "keywords": values["keywords"],
                        "provider_id": provider.id,
                        "district_id": district.id if district else None,
                        "format": values["format"],
                        "update_frequency": values["update_frequency"],
                        "share_type": values["share_type"],
                        "share_conditions": values["share_conditions"],
                        "delivery": sorted(values["delivery"]),
                        "legal_basis": values["legal_basis"],
                        "open_type": values["open_type"],
                        "open_conditions": values["open_conditions"],
                        "theme": values["theme"],
                        "impact": {str(k): str(v) for k, v in impact.items()},
                        "computed_grade": computed.value,
                        "grade": grade.value,
                        "grade_reason": values["grade_reason"] if grade is not computed else None,
                        "related": [],
                        "duty": values["duty"],
                        "system": values["system"],
                        "table_name": values["table"],
                        "resource_code": f"{prefix}/{take('code:' + prefix):06d}",
                        "status": "draft" if status == "revising" else status,
                        "published_version": rng.randint(1, 3) if published else None,
                        "created_by_id": admin_id,
                        "created_at": created,
                        "updated_at": max(updated, first_published) if published else updated,
                        "first_published_at": first_published if published else None,
                        "last_published_at": max(updated, first_published) if published else None,
                        "data_updated_at": updated - timedelta(days=rng.randint(0, 20)),
                        "submitted_at": updated if submitted else None,
                        "review_due": (updated + timedelta(days=3)).date() if submitted else None,
                        "reviewed_by_id": admin_id if status == "reviewed" or published else None,
                        "reviewed_at": updated if status == "reviewed" else None,
                        "review_note": None,
                        "deprecated_reason": "已整合至新的目录，请改用新目录"
                        if status == "deprecated"
                        else None,
                    }
                )
                for position, item in enumerate(values["fields"]):
                    fields.append(
                        {
                            "entry_id": entry_id,
                            "position": position,
                            "name": item["name"],
                            "type": item["type"],
                            "description": item["description"],
                            "element_code": item["element_code"],
                            "flags": sorted(item["flags"]),
                        }
                    )
                # What search._terms indexes: the name, and summary + keywords + provider's
                # name + data item names.
                t = time.perf_counter()
                body = " ".join(
                    [values["summary"], " ".join(values["keywords"]), provider.name]
                    + [item["name"] for item in values["fields"]]
                )
                name_terms = analyzer.index_terms(values["name"])
                body_terms = analyzer.index_terms(body)
                terms_s += time.perf_counter() - t
                n_terms += len(name_terms) + len(body_terms)
                index_rows.append((seq, name_terms, body_terms))
            with platform.uow() as uow:
                connection = uow.session.connection()
                connection.execute(entry_table.insert(), entries)
                connection.execute(field_table.insert(), fields)
                search._write(uow, index_rows)
                uow.commit()
            n_fields += len(fields)
            done = min(count, first + batch)
            rate = done / (time.perf_counter() - started)
            bar.update(task, completed=done, rate=f"{rate:,.0f} entries/s")
    with platform.uow() as uow:
        stmt = sqlite_dialect.insert(CatalogSequence).values(
            [{"key": key, "value": counters[key]} for key in sorted(touched)]
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[CatalogSequence.key], set_={"value": stmt.excluded.value}
        )
        uow.session.execute(stmt)
        uow.commit()
    return {
        "fields": n_fields,
        "terms_s": terms_s,
        "terms_per_entry": n_terms / count,
        "templates": len(templates),
    }


def catalogue_home(args: argparse.Namespace, templates: Sequence[Template]) -> DataHome:
    """The cached 100k home, built when missing, outdated or ``--rebuild`` is given."""
    root = args.cache_dir or Path(tempfile.gettempdir()) / (
        f"gongshu-bench-catalog-v{DATA_VERSION}-{args.entries}-{args.seed}"
    )
    home = None if args.rebuild else home_from_cache(root)
    if home is not None:
        problem = cache_is_current(home, root, templates)
        if problem is None:
            console.print(f"  reusing the data home cached in {root} (--rebuild to build it "
                          "again)", highlight=False)  # fmt: skip
            return home
        console.print(f"  the cached data home in {root} is outdated: {problem}", highlight=False)
    return build_home(root, args, templates)


# ------------------------------------------------------------------ queries

_DATA_TERMS = (
    "公交", "营业执照", "空气质量", "不动产登记", "医保", "社会保险", "养老服务", "户籍", "学校",
    "医院", "停车场", "地铁", "出租汽车", "危险化学品", "食品安全", "企业信用", "行政处罚",
    "住房公积金", "低保", "残疾人", "垃圾分类", "水质", "降水", "气温", "预警", "招标投标",
    "专利", "文物", "景区", "体育场馆", "就业", "疫苗", "传染病", "婚姻登记", "消防", "安全生产",
    "建筑工地", "物业", "老旧小区", "充电桩", "共享单车", "交通事故", "驾驶证", "机动车",
    "网格化", "接诉即办", "公共信用", "税务登记", "统一社会信用代码", "公民身份号码", "经纬度",
    "人口", "出生", "死亡", "林地", "河湖", "地下水", "供热", "燃气", "电力",
)  # fmt: skip
_TWO_WORDS = (
    "朝阳区 公交", "营业执照 变更", "养老 驿站", "空气质量 监测", "海淀区 学校", "医保 定点",
    "企业 信用", "公交 站点", "社区 卫生", "不动产 抵押", "食品 抽检", "停车 收费", "危化品 运输",
    "2021 公交站点", "交通 违法", "学生 体质", "住房 保障", "垃圾 清运", "河道 水位",
    "婴幼儿 照护", "建设工程 许可", "行政 许可", "政务 服务", "网约车 平台", "老年人 助餐",
    "中小学 招生", "大气 污染", "文化 场馆", "地铁 客流", "旅游 景区",
)  # fmt: skip
_SHORT = (
    "站", "车", "医", "税", "水", "电", "路", "房", "树", "桥", "医保", "社保", "学校", "人口",
    "企业", "地铁", "养老", "天气", "专利", "河",
)  # fmt: skip
_TRADITIONAL = (
    "交通運輸", "營業執照", "醫療保險", "空氣質量", "不動產登記", "公車站點", "養老服務", "學校",
    "環境監測", "氣象預報", "衛生健康", "車輛", "戶籍", "體育場館",
)  # fmt: skip
_LATIN = (
    "PM2.5", "PM10", "API", "12345", "AQI", "GDP", "CPI", "2021年", "2023 空气质量", "JSON",
    "LOD3", "ICD", "110105", "GB/T 2261", "DE00001", "12345 诉求", "5G 基站", "api 接口",
)  # fmt: skip
_NOTHING = (
    "量子计算机", "火星基地", "区块链钱包", "元宇宙", "核聚变", "xyzzy", "深海探测", "南极科考",
    "外星人", "彩票中奖", "恐龙化石", "qwertyuiop",
)  # fmt: skip


def make_queries(templates: Sequence[Template], seed: int) -> list[tuple[str, str]]:
    """At least 200 deterministic, varied queries: (category, text)."""
    from gongshu.demo.citydata import build_city

    city = build_city()
    rng = random.Random(seed)
    queries: list[tuple[str, str]] = []
    queries += [("department short name", d.short_name) for d in city.departments]
    queries += [("department name", d.name) for d in rng.sample(city.departments, 12)]
    queries += [("district", d.name) for d in city.districts]
    queries += [("street", s.name) for s in rng.sample(city.streets, 8)]
    queries += [("data term", term) for term in _DATA_TERMS]
    queries += [("two words", q) for q in _TWO_WORDS]
    queries += [("one/two characters", q) for q in _SHORT]
    queries += [("Traditional", q) for q in _TRADITIONAL]
    queries += [("Latin/digits", q) for q in _LATIN]
    queries += [("matches nothing", q) for q in _NOTHING]
    names = rng.sample([t.values["name"] for t in templates], 20)
    queries += [("entry name", name) for name in names]
    districts = [d.name for d in city.districts]
    queries += [
        ("district + year + name", f"{rng.choice(districts)}{rng.choice(_YEARS)}年{name}")
        for name in rng.sample([t.values["name"] for t in templates if not t.district], 10)
    ]
    return list(dict.fromkeys(queries))


# ------------------------------------------------------------------ 1. search


@dataclass
class Series:
    """Latencies of one way of searching, with result totals per query."""

    times: dict[str, list[float]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)

    def add(self, query: str, seconds: float, total: int) -> None:
        self.times.setdefault(query, []).append(seconds)
        self.totals[query] = total

    def all(self, queries: Sequence[str] | None = None) -> list[float]:
        wanted = self.times if queries is None else queries
        return [t for q in wanted for t in self.times[q]]

    def stats(self, queries: Sequence[str] | None = None) -> dict[str, float]:
        values = self.all(queries)
        totals = [self.totals[q] for q in (queries or list(self.totals))]
        return {
            "p50": percentile(values, 0.50),
            "p90": percentile(values, 0.90),
            "p99": percentile(values, 0.99),
            "max": max(values),
            "mean": statistics.fmean(values),
            "n": len(values),
            "mean_total": statistics.fmean(totals),
            "zero": sum(1 for t in totals if t == 0),
        }


def rounds(queries: Sequence[str], repeat: int, seed: int) -> Iterator[str]:
    """Every query ``repeat`` times, each round in its own shuffled order."""
    rng = random.Random(seed)
    for _ in range(repeat):
        order = list(queries)
        rng.shuffle(order)
        yield from order


class HttpSearch:
    """One keep-alive connection to the server, as a client making one request at a time."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.statuses: Counter[int] = Counter()

    def _get(self, path: str) -> tuple[float, http.client.HTTPResponse, bytes]:
        started = time.perf_counter()
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        body = response.read()
        return time.perf_counter() - started, response, body

    def search(self, query: str) -> tuple[float, int]:
        """Seconds for one search request, and the total it reports (-1: not 200)."""
        path = f"/api/v1/catalog/entries?q={urllib.parse.quote(query)}&limit={PAGE}"
        try:
            seconds, response, body = self._get(path)
        except (ConnectionError, http.client.HTTPException):
            self.conn.close()  # reconnect once: the server may have closed an idle connection
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            seconds, response, body = self._get(path)
        self.statuses[response.status] += 1
        if response.status != 200:
            return seconds, -1
        return seconds, int(json.loads(body)["meta"]["total"])

    def close(self) -> None:
        self.conn.close()


def search_actor(platform: Any, token: str) -> Any:
    """The actor the read token authenticates as: the same rights as the HTTP requests."""
    from gongshu.identity import tokens

    with platform.uow(writes=False) as uow:
        return tokens.authenticate_token(uow, token)


def in_process(platform: Any, actor: Any, facets: bool) -> Callable[[str], tuple[float, int]]:
    """``search_entries`` called directly, in a fresh reading unit of work as a request has."""
    from gongshu.catalog.search import search_entries

    def once(query: str) -> tuple[float, int]:
        started = time.perf_counter()
        with platform.uow(writes=False) as uow:
            result = search_entries(uow, actor=actor, q=query, limit=PAGE, facets=facets)
        return time.perf_counter() - started, result.total

    return once


def like_visibility(actor: Any) -> tuple[str, list[str]]:
    """search._visibility as plain SQL (the read token cannot review, so drafts are hidden)."""
    from gongshu.identity import can

    if can(actor, "catalog.review"):
        return "1", []
    ids = sorted(actor.organisation_ids)
    marks = ", ".join("?" for _ in ids) or "NULL"
    clause = (
        f"(status != 'draft' OR published_version IS NOT NULL OR provider_id IN ({marks}) "
        f"OR district_id IN ({marks}))"
    )
    return clause, ids + ids


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def like_scan(conn: sqlite3.Connection, actor: Any) -> Callable[[str], tuple[float, int]]:
    """The baseline: a plain LIKE scan per word in raw sqlite3, a page of 20 plus a count."""
    visibility, visibility_params = like_visibility(actor)

    def once(query: str) -> tuple[float, int]:
        words = query.split()
        where = " AND ".join(
            "(name LIKE ? ESCAPE '\\' OR summary LIKE ? ESCAPE '\\')" for _ in words
        )
        params: list[str] = [p for w in words for p in (_like(w), _like(w))]
        condition = f"{where} AND {visibility}"
        started = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute(
            f"SELECT id, name, summary FROM catalog_entry WHERE {condition} "
            f"ORDER BY updated_at DESC, id DESC LIMIT {PAGE + 1}",
            params + visibility_params,
        ).fetchall()
        (total,) = conn.execute(
            f"SELECT count(*) FROM catalog_entry WHERE {condition}",
            params + visibility_params,
        ).fetchone()
        conn.execute("COMMIT")
        return time.perf_counter() - started, int(total)

    return once


def measure(
    ways: dict[str, Callable[[str], tuple[float, int]]],
    queries: Sequence[str],
    args: argparse.Namespace,
) -> dict[str, Series]:
    """Every query ``--repeat`` times, in a new shuffled order each round.

    For each query the ways of searching run back to back (who goes first rotates), so all of
    them see the same machine.
    """
    series = {way: Series() for way in ways}
    order = list(rounds(queries, args.repeat, args.seed))
    with progress_bar() as bar:
        task = bar.add_task("searching", total=len(order), rate="")
        turns = list(ways.items())
        for done, query in enumerate(order, start=1):
            shift = done % len(turns)  # who goes first changes from query to query
            for way, once in turns[shift:] + turns[:shift]:
                series[way].add(query, *once(query))
            if done % 20 == 0:
                bar.update(task, completed=done)
    return series


def compare_server(
    home: DataHome, src: Path, tmp: Path, servers: contextlib.ExitStack
) -> tuple[Any, HttpSearch]:
    """A second ``gongshu serve`` on the same data home running the package in ``src``."""
    env = home.server_env(GONGSHU_TOKEN_RATE_LIMIT_PER_MINUTE=BENCH_RATE_LIMIT,
                          PYTHONPATH=str(src.resolve()))  # fmt: skip
    where = subprocess.run(
        [sys.executable, "-c", "import gongshu; print(gongshu.__file__)"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if not where.startswith(str(src.resolve())):
        raise SystemExit(f"--compare-src {src}: gongshu is imported from {where} instead")
    console.print(f"  compared server: gongshu from {where}", highlight=False)
    port = free_port()
    server = servers.enter_context(
        spawned(platform_server_argv(port), env=env, log=tmp / "serve-compare.log")
    )
    wait_until_ok(server, port, "/healthz", timeout=120)
    return server, HttpSearch(port, home.token)


# Buckets of the number of entries a query finds: search takes a different path past 1,000
# (gongshu.catalog.search.ONE_PASS_MAX), and its cost grows with the matches.
SIZES = ((0, 0, "none"), (1, 1000, "1–1,000"), (1001, 5000, "1,001–5,000"),
         (5001, 10**9, "over 5,000"))  # fmt: skip


def by_size(texts: Sequence[str], series: dict[str, Series]) -> dict[str, Any]:
    """Latency by how many entries the query found (HTTP's total), printed as a table."""
    ways = [w for w in ("http", "http_compare", "inprocess", "no_facets", "like") if w in series]
    table = Table(title="search latency by entries found (p50 / p99)")
    for column in ("entries found", "n", *ways):
        table.add_column(column, justify="left" if column == "entries found" else "right")
    out: dict[str, Any] = {}
    for low, high, label in SIZES:
        members = [q for q in texts if low <= series["http"].totals[q] <= high]
        if not members:
            continue
        stats = {way: series[way].stats(members) for way in ways}
        out[label] = stats
        table.add_row(
            label,
            str(len(members)),
            *(f"{fmt_ms(s['p50'])} / {fmt_ms(s['p99'])}" for s in stats.values()),
        )
    console.print(table)
    return out


def bench_search(
    home: DataHome,
    queries: list[tuple[str, str]],
    args: argparse.Namespace,
    tmp: Path,
    results: Results,
) -> None:
    from gongshu.catalog.search import analyzer, search_entries
    from gongshu.kernel.errors import InvalidInput

    texts = [q for _, q in queries]
    refused = []
    for text in texts:
        try:
            analyzer().parse_query(text)
        except InvalidInput as exc:
            refused.append(f"{text!r}: {exc}")
    if refused:
        raise SystemExit("queries the analyzer refuses:\n" + "\n".join(refused))
    by_category: dict[str, list[str]] = {}
    for category, text in queries:
        by_category.setdefault(category, []).append(text)

    n = f"{len(texts)} queries × {args.repeat}"
    console.rule(f"[bold]1. search: HTTP, in-process and the LIKE baseline ({n})[/]")
    port = free_port()
    log = tmp / "serve.log"
    env = home.server_env(GONGSHU_TOKEN_RATE_LIMIT_PER_MINUTE=BENCH_RATE_LIMIT)
    platform = open_platform(home.home)
    conn = sqlite3.connect(f"file:{home.home / 'gongshu.db'}?mode=ro", uri=True,
                           isolation_level=None)  # fmt: skip
    compare: HttpSearch | None = None
    other: Any = None  # the compared server
    compare_cpu = 0.0
    try:
        actor = search_actor(platform, home.token)
        with contextlib.ExitStack() as servers:
            server = servers.enter_context(spawned(platform_server_argv(port), env=env, log=log))
            up = wait_until_ok(server, port, "/healthz", timeout=120)
            client = HttpSearch(port, home.token)
            ways = {
                "http": client.search,
                "inprocess": in_process(platform, actor, True),
                "no_facets": in_process(platform, actor, False),
                "like": like_scan(conn, actor),
            }
            if args.compare_src:
                other, compare = compare_server(home, args.compare_src, tmp, servers)
                ways["http_compare"] = compare.search
            try:
                # Warm-up: every query once over HTTP (the server's caches and the OS page
                # cache), a few in-process and through sqlite3 (statement and page caches).
                with timed() as t_warm:
                    for query in texts:
                        client.search(query)
                        if compare:
                            compare.search(query)
                    for query in texts[:: max(1, len(texts) // 20)]:
                        for way in ("inprocess", "like"):
                            ways[way](query)
                for who, proc in ((client, server), (compare, other)):
                    if who and set(who.statuses) != {200}:
                        raise SystemExit(f"the warm-up got {dict(who.statuses)}:\n{proc.tail()}")
                quiet(args)
                compare_cpu = -process_cpu_seconds(other.proc.pid) if compare else 0.0
                with CpuMeter(server.proc.pid) as meter:
                    series = measure(ways, texts, args)
                compare_cpu += process_cpu_seconds(other.proc.pid) if compare else 0.0
            finally:
                client.close()
                if compare:
                    compare.close()
        info: dict[str, Any] = {
            "start_s": up,
            "warmup_s": t_warm.wall,
            "statuses": dict(client.statuses),
            "server_cpu_per_request_s": meter.window.server / len(series["http"].all()),
            # The second server is part of this benchmark, not other work on the machine.
            "others_cores": max(
                0.0, meter.window.others_cores - compare_cpu / (meter.window.seconds or 1.0)
            ),
        }
        console.print(
            f"  server up in {up:.1f} s; warm-up {t_warm.wall:.0f} s; HTTP statuses "
            f"{info['statuses']}; server CPU {fmt_ms(info['server_cpu_per_request_s'])} a "
            f"request; other processes {info['others_cores']:.2f} cores while measuring",
            highlight=False,
        )
        results.busy.append(f"search {info['others_cores']:.2f}")
        if set(client.statuses) != {200}:
            errors = [ln for ln in log.read_text(errors="replace").splitlines() if "Error" in ln]
            console.print(f"  [red]server errors:[/] {errors[-5:]}", highlight=False)
        if args.profile:
            inproc = series["inprocess"]
            slowest = sorted(texts, key=lambda q: -statistics.median(inproc.times[q]))[:20]
            console.print(f"  profiling the 20 slowest in-process queries: {slowest}")

            def run() -> None:
                for query in slowest:
                    with platform.uow(writes=False) as uow:
                        search_entries(uow, actor=actor, q=query, limit=PAGE)

            profile("search_entries, 20 slowest queries, facets on", run, r"gongshu/catalog")
    finally:
        conn.close()
        platform.dispose()
    http_series, facets = series["http"], series["inprocess"]
    no_facets, like = series["no_facets"], series["like"]

    h, f, nf, lk = http_series.stats(), facets.stats(), no_facets.stats(), like.stats()

    def quad(s: dict[str, float]) -> str:
        return " / ".join(fmt_ms(s[k]) for k in ("p50", "p90", "p99", "max"))

    results.add(
        "search",
        f"HTTP `GET /api/v1/catalog/entries?q=…` ({n}), p50 / p90 / p99 / max",
        quad(h),
        "plain LIKE scan, raw sqlite3, page of 20 + count",
        quad(lk),
        "p50 ≤ 20 ms, p99 ≤ 100 ms",
        verdict(h["p50"] <= GOAL_P50_S and h["p99"] <= GOAL_P99_S),
    )
    if compare:
        c = series["http_compare"].stats()
        results.add(
            "search",
            f"HTTP, the code in {args.compare_src} (same run, query by query beside the "
            "first), p50 / p90 / p99 / max",
            quad(c),
            "this code over that code (p50 · p99 · mean)",
            " · ".join(f"×{h[k] / c[k]:.2f}" for k in ("p50", "p99", "mean")),
        )
        mismatch = [q for q in texts if series["http_compare"].totals[q] != http_series.totals[q]]
        if mismatch:
            results.notes.append(
                f"{len(mismatch)} queries found a different total on the compared code: "
                f"{mismatch[:5]}"
            )
    results.add(
        "search",
        "speed-up over the LIKE scan (p50 · p99 · mean)",
        " · ".join(f"×{lk[k] / h[k]:.1f}" for k in ("p50", "p99", "mean")),
        "(HTTP vs LIKE)",
    )
    results.add(
        "search",
        "in-process `search_entries`, facets on (as the route), p50 / p90 / p99 / max",
        quad(f),
        "in-process vs LIKE (p50 · p99)",
        f"×{lk['p50'] / f['p50']:.1f} · ×{lk['p99'] / f['p99']:.1f}",
    )
    results.add(
        "search",
        "in-process `search_entries`, `facets=False`",
        quad(nf),
        "facet cost (p50 · mean)",
        f"{fmt_ms(f['p50'] - nf['p50'])} · {fmt_ms(f['mean'] - nf['mean'])} "
        f"({(f['mean'] - nf['mean']) / f['mean']:.0%} of the mean)",
    )
    results.add(
        "search",
        "HTTP overhead over in-process (p50 · mean)",
        f"{fmt_ms(h['p50'] - f['p50'])} · {fmt_ms(h['mean'] - f['mean'])}",
        "server CPU per request",
        fmt_ms(info["server_cpu_per_request_s"]),
    )
    results.add(
        "search",
        "mean total per query · queries that found nothing",
        f"{h['mean_total']:,.0f} · {h['zero']:.0f}",
        "LIKE",
        f"{lk['mean_total']:,.0f} · {lk['zero']:.0f}",
    )
    mismatch = [q for q in texts if facets.totals[q] != http_series.totals[q]]
    if mismatch:
        results.notes.append(
            f"{len(mismatch)} queries found a different total in-process than over HTTP "
            f"(the analyzer's dictionary differs by process): {mismatch[:5]}"
        )

    table = Table(title="search latency by query category (p50 / p99) and mean totals")
    headers = ("category", "n", "HTTP", "in-process", "no facets", "LIKE", "total", "LIKE total")
    for column in headers:
        table.add_column(column, justify="left" if column == "category" else "right")
    per_category: dict[str, Any] = {}
    for category, members in by_category.items():
        hs, fs, ns, ls = (s.stats(members) for s in (http_series, facets, no_facets, like))
        per_category[category] = {"http": hs, "inprocess": fs, "no_facets": ns, "like": ls}
        table.add_row(
            category,
            str(len(members)),
            f"{fmt_ms(hs['p50'])} / {fmt_ms(hs['p99'])}",
            f"{fmt_ms(fs['p50'])} / {fmt_ms(fs['p99'])}",
            f"{fmt_ms(ns['p50'])} / {fmt_ms(ns['p99'])}",
            f"{fmt_ms(ls['p50'])} / {fmt_ms(ls['p99'])}",
            f"{hs['mean_total']:,.0f}",
            f"{ls['mean_total']:,.0f}",
        )
    console.print(table)
    per_size = by_size(texts, series)
    slow = sorted(texts, key=lambda q: -statistics.median(http_series.times[q]))[:10]
    console.print(
        "  slowest over HTTP (median ms, total): "
        + "; ".join(
            f"{q} {statistics.median(http_series.times[q]) * 1000:.0f} ({http_series.totals[q]:,})"
            for q in slow
        ),
        highlight=False,
    )
    results.raw["search"] = {
        "queries": queries,
        "http": h,
        "inprocess": f,
        "no_facets": nf,
        "like": lk,
        "server": info,
        "per_category": per_category,
        "per_size": per_size,
        "compare_src": str(args.compare_src) if compare else None,
        "http_compare": series["http_compare"].stats() if compare else None,
        "per_query": {
            q: {
                "http_ms": [t * 1000 for t in http_series.times[q]],
                "http_compare_ms": (
                    [t * 1000 for t in series["http_compare"].times[q]] if compare else None
                ),
                "inprocess_ms": [t * 1000 for t in facets.times[q]],
                "no_facets_ms": [t * 1000 for t in no_facets.times[q]],
                "like_ms": [t * 1000 for t in like.times[q]],
                "total": http_series.totals[q],
                "like_total": like.totals[q],
            }
            for q in texts
        },
    }


# ------------------------------------------------------------------ 2. xlsx import


def import_rows(templates: Sequence[Template], count: int, seed: int) -> list[dict[Any, str]]:
    """``count`` exchange rows (Chinese labels) for the demo's providers."""
    from gongshu.catalog.sheets import input_to_row

    variants = Variants(templates, seed + 17)
    rows = []
    for i in range(count):
        values = variants.make(i)
        values.pop("status")
        rows.append(input_to_row(values))
    return rows


def bench_import(
    templates: Sequence[Template], args: argparse.Namespace, tmp: Path, results: Results
) -> None:
    from gongshu.catalog.imports import import_entries
    from gongshu.catalog.sheets import write_xlsx
    from gongshu.catalog.vocab import COLUMNS

    n = args.import_rows
    console.rule(f"[bold]2. xlsx import of {n:,} entries[/]")
    with timed() as t_write:
        data = write_xlsx(import_rows(templates, n, args.seed), title="公共数据资源目录")
    path = tmp / "catalogue-import.xlsx"
    path.write_bytes(data)
    console.print(
        f"  write_xlsx: {len(data) / 1e6:.1f} MB in {t_write.wall:.1f} s", highlight=False
    )
    raw: dict[str, Any] = {"rows": n, "xlsx_mb": len(data) / 1e6, "write_xlsx_s": t_write.wall}

    # In-process: dry run (parse + validate + resolve), then commit (all of that again + store).
    home = prepare_home(tmp / "import-inprocess")
    platform = open_platform(home.home)
    try:
        import sqlalchemy as sa

        from gongshu.identity.models import User
        from gongshu.identity.service import actor_for_user

        with platform.uow(writes=False) as uow:
            user = uow.session.scalar(sa.select(User).where(User.username == "bureau_admin"))
            actor = actor_for_user(uow, user, via="console")
        quiet(args)
        with timed() as t_dry, platform.uow() as uow:
            report = import_entries(uow, actor=actor, data=data, filename=path.name)
        if not report.ok:
            raise SystemExit(f"the generated file does not import: {report.errors[:5]}")
        console.print(
            f"  import_entries dry run: {t_dry.wall:.1f} s → {fmt_rate(n / t_dry.wall)} "
            f"(others {t_dry.others:.2f})",
            highlight=False,
        )
        quiet(args)
        with timed() as t_commit, platform.uow() as uow:
            report = import_entries(uow, actor=actor, data=data, filename=path.name, dry_run=False)
        console.print(
            f"  import_entries commit: {t_commit.wall:.1f} s → {fmt_rate(n / t_commit.wall)}, "
            f"{report.created:,} created (others {t_commit.others:.2f})",
            highlight=False,
        )
        results.busy.append(f"import dry run {t_dry.others:.2f}, commit {t_commit.others:.2f}")
        if args.profile:
            profile_import(platform, actor, data, templates, args)
    finally:
        platform.dispose()
    raw |= {"inprocess_dry_s": t_dry.wall, "inprocess_commit_s": t_commit.wall}

    # Through the CLI, on another fresh demo home: what an operator runs.
    cli: dict[str, float] = {}
    if not args.no_cli_import:
        home = prepare_home(tmp / "import-cli")
        for label, extra in (("dry run", []), ("commit", ["--commit"])):
            quiet(args)
            argv = [GONGSHU, "--as", "bureau_admin", "--json", "catalog", "import", str(path)]
            with timed() as t_cli:
                done = subprocess.run(
                    argv + extra, env=home.env, capture_output=True, text=True, check=False
                )
            if done.returncode != 0:
                raise SystemExit(f"{' '.join(argv + extra)} failed:\n{done.stdout[-2000:]}"
                                 f"\n{done.stderr[-2000:]}")  # fmt: skip
            cli[label] = t_cli.wall
            console.print(f"  gongshu catalog import {' '.join(extra) or '(dry run)'}: "
                          f"{t_cli.wall:.1f} s → {fmt_rate(n / t_cli.wall)}",
                          highlight=False)  # fmt: skip
        raw |= {"cli_dry_s": cli["dry run"], "cli_commit_s": cli["commit"]}

    # Baseline: openpyxl read-only + raw sqlite3 executemany of the same cells.
    import openpyxl

    quiet(args)
    with timed() as t_read:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        cells = [tuple("" if v is None else str(v) for v in row)
                 for row in sheet.iter_rows(min_row=3, values_only=True)]  # fmt: skip
        book.close()
    width = len(COLUMNS)
    scratch = sqlite3.connect(tmp / "scratch.db", isolation_level=None)
    with contextlib.closing(scratch):
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL"):
            scratch.execute(f"PRAGMA {pragma}")
        columns = ", ".join(f"c{i} TEXT" for i in range(width))
        scratch.execute(f"CREATE TABLE scratch (id INTEGER PRIMARY KEY, {columns})")
        marks = ", ".join("?" for _ in range(width))
        with timed() as t_insert:
            scratch.execute("BEGIN IMMEDIATE")
            scratch.executemany(
                f"INSERT INTO scratch ({', '.join(f'c{i}' for i in range(width))}) "
                f"VALUES ({marks})",
                [row[:width] + ("",) * (width - len(row)) for row in cells],
            )
            scratch.execute("COMMIT")
    if len(cells) != n:
        raise SystemExit(f"openpyxl read {len(cells)} rows, expected {n}")
    console.print(
        f"  baseline: openpyxl read-only {t_read.wall:.2f} s, raw sqlite3 executemany "
        f"{t_insert.wall:.2f} s",
        highlight=False,
    )
    raw |= {"openpyxl_s": t_read.wall, "sqlite_executemany_s": t_insert.wall}
    base_s = t_read.wall + t_insert.wall
    results.add(
        "import",
        f"`import_entries` in-process, dry run (parse + validate + resolve), {n:,} rows",
        f"{t_dry.wall:.1f} s · {fmt_rate(n / t_dry.wall)}",
        "openpyxl read-only, same file",
        f"{t_read.wall:.2f} s · {fmt_rate(n / t_read.wall)}",
    )
    store_s = t_commit.wall - t_dry.wall
    results.add(
        "import",
        "`import_entries` in-process, commit (checks again + stores + indexes + audits)",
        f"{t_commit.wall:.1f} s · {fmt_rate(n / t_commit.wall)}",
        "openpyxl + raw sqlite3 executemany of the cells",
        f"{base_s:.2f} s · {fmt_rate(n / base_s)}",
    )
    results.add(
        "import",
        "  of which storing (commit − dry run)",
        f"{store_s:.1f} s · {fmt_rate(n / store_s)}",
        "raw sqlite3 executemany alone",
        f"{t_insert.wall:.2f} s · {fmt_rate(n / t_insert.wall)}",
    )
    if cli:
        results.add(
            "import",
            "`gongshu --as bureau_admin catalog import FILE` (dry run · `--commit`)",
            f"{cli['dry run']:.1f} s · {cli['commit']:.1f} s "
            f"({fmt_rate(n / cli['commit'])} committed)",
        )
    results.raw["import"] = raw


def profile_import(
    platform: Any, actor: Any, data: bytes, templates: Sequence[Template], args: argparse.Namespace
) -> None:
    """Profile the dry run of the whole file, and the commit of 1,000 more rows."""
    from gongshu.catalog.imports import import_entries
    from gongshu.catalog.sheets import write_xlsx
    from gongshu.catalog.vocab import Column

    def dry() -> None:
        with platform.uow() as uow:
            import_entries(uow, actor=actor, data=data, filename="profile.xlsx")

    profile(f"import_entries dry run, {args.import_rows:,} rows", dry, r"gongshu/")
    rows = import_rows(templates, 1000, args.seed + 1)
    for row in rows:  # names the measured import has not stored
        row[Column.NAME] += "（抽样）"
    more = write_xlsx(rows)

    def commit() -> None:
        with platform.uow() as uow:
            import_entries(uow, actor=actor, data=more, filename="profile.xlsx", dry_run=False)

    profile("import_entries commit, 1,000 more rows", commit, r"gongshu/")


# ------------------------------------------------------------------ output


# ------------------------------------------------------------------ main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--entries", type=int, default=100_000, help="generated entries (default 100000)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="measured runs of each query (default 3)"
    )
    parser.add_argument(
        "--import-rows", type=int, default=10_000, help="rows of the xlsx (default 10000)"
    )
    parser.add_argument("--seed", type=int, default=20261125, help="generated data and orders")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="where the built 100k data home is kept (default: a directory under $TMPDIR "
        "named by the data version, entry count and seed)",
    )
    parser.add_argument("--rebuild", action="store_true", help="build the 100k home again")
    parser.add_argument("--no-search", action="store_true", help="skip the search figures")
    parser.add_argument("--no-import", action="store_true", help="skip the import figures")
    parser.add_argument(
        "--no-cli-import",
        action="store_true",
        help="time import_entries in-process only, not `gongshu catalog import` as well",
    )
    add_wait_quiet(parser)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the 20 slowest searches and the import (dry run, commit) under cProfile",
    )
    parser.add_argument(
        "--compare-src",
        type=Path,
        help="also serve the gongshu package found in this src directory (a copy of another "
        "version of the code) on the same data and time it over HTTP query by query beside "
        "the current code, so that both see the same machine",
    )
    parser.add_argument("--json", type=Path, help="also write the raw numbers to this file")
    args = parser.parse_args(argv)
    if args.entries < 1000 or args.repeat < 1 or args.import_rows < 100:
        parser.error("need --entries ≥ 1000, --repeat ≥ 1 and --import-rows ≥ 100")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_signal_handlers()
    dropped = drop_own_environment()
    command = " ".join([".venv/bin/python bench/catalog.py", *(argv or sys.argv[1:])])
    console.print(f"[bold]bench/catalog.py[/] · {machine_line()}", highlight=False)
    console.print(
        f"SQLite {sqlite3.sqlite_version} · {args.entries:,} entries · load average at start: "
        f"{load_average()}",
        highlight=False,
    )
    if dropped:
        console.print(f"ignoring {', '.join(dropped)} from the environment", highlight=False)
    results = Results()
    results.raw["args"] = {k: str(v) for k, v in vars(args).items()}
    started = time.perf_counter()
    try:
        templates = load_templates()
        with temp_dir("gongshu-bench-catalog-") as tmp:
            if not args.no_search:
                console.rule(f"[bold]the {args.entries:,}-entry data home[/]")
                home = catalogue_home(args, templates)
                queries = make_queries(templates, args.seed)
                console.print(
                    f"  {len(queries)} queries in {len(set(c for c, _ in queries))} "
                    f"categories; database {(home.home / 'gongshu.db').stat().st_size / 1e6:,.0f}"
                    " MB",
                    highlight=False,
                )
                bench_search(home, queries, args, tmp, results)
            if not args.no_import:
                bench_import(templates, args, tmp, results)
    except (KeyboardInterrupt, Interrupted):
        console.print("interrupted: temporary directories removed", highlight=False)
        return 130
    print_results(
        results,
        started=started,
        title="Catalogue figures (catalogue issue)",
        command=command,
        json_path=args.json,
        console=console,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
