"""The ledger figures of the catalogue issue, each beside a plain baseline from the same run.

On the embedded default (a temporary SQLite database migrated with alembic, the platform built
by ``gongshu.bootstrap.build``), with realistic entries (a payload of 8 fields, Chinese text):

* **appends/s** with ``append_many`` + ``uow.commit()`` per batch of 1, 100 and 1,000 entries
  (goal ≥ 5,000/s batched), beside raw hashing of the same canonical bytes (``Hasher.digest``)
  and a raw ``sqlite3`` ``executemany`` of the same entry and node rows in the same batches;
* **proofs at 1M leaves**: a 1,000,000-entry log is built with ``append_many`` (checkpoint
  every 100,000 entries), then ``inclusion`` for random indexes (p50/p99, goal ≤ 5 ms),
  ``consistency`` for a few size pairs and ``root``, beside the same proofs from an in-memory
  ``MerkleTree`` built from the same leaf hashes (the proofs are also compared for equality);
* **full verification** of that log with ``verify_database`` (goal ≤ 60 s), beside a raw read of
  the same rows and raw hashing of the same bodies; ``export_ledger`` + ``verify_export`` too.

    .venv/bin/python bench/ledger.py [--entries 1000000] [--hash sm3|sha256] [--keep DIR]

A benchmark, not a test: it asserts no times. Appending 1M entries takes several minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import random
import shutil
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from benchlib import (
    Interrupted,
    Results,
    add_wait_quiet,
    fmt_rate,
    install_signal_handlers,
    load_average,
    machine_line,
    percentile,
    print_results,
    temp_dir,
    timed,
    verdict,
    wait_for_quiet,
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

from gongshu import migrations
from gongshu.bootstrap import Platform, build
from gongshu.kernel.crypto import HashAlgorithm, Hasher, Sm2Signer
from gongshu.kernel.settings import Settings
from gongshu.kernel.uow import UnitOfWork
from gongshu.ledger import service as ledger
from gongshu.ledger.canonical import _exact as exact_canonical_json
from gongshu.ledger.canonical import _fast as fast_canonical_json
from gongshu.ledger.merkle import (
    LEAF_PREFIX,
    MerkleTree,
    consistency_proof_nodes,
    inclusion_proof_nodes,
    root_nodes,
)
from gongshu.ledger.service import LedgerKeys, Pending, entry_body
from gongshu.ledger.verify import export_ledger, verify_database, verify_export

console = Console() if sys.stdout.isatty() else Console(width=160)

APPEND_BATCHES = (1, 100, 1000)
CHECKPOINT_EVERY = 100_000
GOAL_APPENDS_PER_S = 5_000.0
GOAL_INCLUSION_S = 0.005
GOAL_VERIFY_S = 60.0

# ------------------------------------------------------------------ measuring


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms" if seconds < 0.01 else f"{seconds * 1000:.1f} ms"


def fmt_s(seconds: float) -> str:
    return f"{seconds:.1f} s"


# ------------------------------------------------------------------ entries

_PROJECTS = (
    "拱墅区非物质文化遗产传承补助",
    "运河沿岸社区文化活动季",
    "小河直街历史街区修缮",
    "大关街道老年书画班",
    "桥西历史文化街区讲解员培训",
    "半山国家森林公园生态科普",
)
_APPLICANTS = (
    "杭州运河文化发展有限公司",
    "拱墅区青少年宫",
    "浙江省非遗保护协会",
    "杭州市图书馆拱墅分馆",
    "和睦街道社区服务中心",
    "杭州半山文旅集团",
)
_OFFICERS = ("王晓明", "李娜", "张伟", "陈静", "刘洋", "赵敏")
_STATUSES = ("已受理", "审核中", "已批准", "已拨付", "已退回")
_NOTES = (
    "材料齐全，按规定流程审核。",
    "需补充近三年财务报表及项目实施方案（含预算明细）。",
    "经专家评审会议讨论通过，拟按申请金额的百分之八十拨付。",
    "项目涉及文物保护单位，已征求区文物主管部门意见。",
)
_KINDS = ("grant.submit", "grant.review", "grant.approve", "grant.pay")


def make_items(start: int, count: int, seed: int) -> list[Pending]:
    """``count`` realistic changes; the same ``(start, seed)`` always gives the same items."""
    rng = random.Random(seed * 1_000_003 + start)
    items = []
    for i in range(start, start + count):
        grant = rng.randrange(50_000)
        payload: dict[str, Any] = {
            "申请编号": f"GS-2026-{grant:06d}",
            "项目名称": rng.choice(_PROJECTS),
            "申请单位": rng.choice(_APPLICANTS),
            "金额": round(rng.uniform(2_000, 500_000), 2),
            "状态": rng.choice(_STATUSES),
            "经办人": rng.choice(_OFFICERS),
            "日期": f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}",
            "备注": rng.choice(_NOTES),
        }
        items.append(Pending(_KINDS[i % len(_KINDS)], "grant", f"grant-{grant}", payload))
    return items


# ------------------------------------------------------------------ set-up


def drop_own_environment() -> list[str]:
    """Remove ``GONGSHU_*`` variables so the caller's settings cannot leak in; their names."""
    names = sorted(k for k in os.environ if k.startswith("GONGSHU_"))
    for name in names:
        del os.environ[name]
    return names


def make_platform(home: Path) -> Platform:
    """The embedded default: a fresh SQLite database under ``home``, migrated."""
    settings = Settings(env="test", home=home, password_hash_profile="fast", secret_key="x" * 40)
    platform = build(settings)
    migrations.upgrade(platform.engine)
    return platform


def db_path(platform: Platform) -> Path:
    database = platform.engine.url.database
    if not database:
        raise SystemExit("the platform is not on a SQLite file")
    return Path(database)


def raw_connect(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection with the PRAGMAs the platform's engine sets."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


def append_batches(
    platform: Platform,
    keys: LedgerKeys,
    items: Sequence[Pending],
    batch: int,
    on_batch: Callable[[int], None] | None = None,
) -> float:
    """Append ``items`` in batches (one unit of work + commit each); seconds spent appending."""
    spent = 0.0
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        t = time.perf_counter()
        with platform.uow() as uow:
            ledger.append_many(uow, keys=keys, items=chunk)
            uow.commit()
        spent += time.perf_counter() - t
        if on_batch is not None:
            on_batch(len(chunk))
    return spent


def profile(label: str, run: Callable[[], object], limit: int = 18) -> None:
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
    stats.sort_stats("cumulative").print_stats(r"gongshu/ledger", limit)
    console.rule(f"[bold]cProfile: {label}[/]")
    console.print(out.getvalue(), highlight=False, markup=False)


# ------------------------------------------------------------------ 1. appends/s


def bench_appends(tmp: Path, keys: LedgerKeys, args: argparse.Namespace, results: Results) -> None:
    console.rule("[bold]1. appends/s, batched (embedded SQLite)[/]")
    platform = make_platform(tmp / "appends")
    counts = {1: max(100, args.append_sample // 25), 100: args.append_sample}
    counts[1000] = args.append_sample
    try:
        warm = make_items(0, 100, args.seed)
        append_batches(platform, keys, warm, 10)  # statement caches, page cache
        plan: list[tuple[int, list[Pending]]] = []
        start = len(warm)
        for batch in APPEND_BATCHES:
            plan.append((batch, make_items(start, counts[batch], args.seed)))
            start += counts[batch]
        rates: dict[int, float] = {}
        for batch, items in plan:
            if args.wait_quiet > 0:
                console.print(f"  {wait_for_quiet(args.wait_quiet)}", highlight=False)
            with timed() as t:
                spent = append_batches(platform, keys, items, batch)
            rates[batch] = len(items) / spent
            results.busy.append(f"appends batch {batch} {t.others:.2f}")
            console.print(
                f"  append_many batch {batch:>5}: {len(items):>7,} entries in {spent:.2f} s "
                f"→ {fmt_rate(rates[batch])} (cpu {t.cpu / t.wall:.2f} cores, "
                f"others {t.others:.2f})",
                highlight=False,
            )
        if args.profile:
            extra = make_items(start, 10_000, args.seed)
            profile(
                "append_many, 10 × 1,000 entries",
                lambda: append_batches(platform, keys, extra, 1000),
            )

        # The same rows, as stored, for the baselines.
        path = db_path(platform)
        platform.dispose()
        with contextlib.closing(raw_connect(path)) as conn:
            entry_rows = conn.execute(
                'SELECT "index", at, kind, subject_type, subject_id, body, leaf_hash '
                'FROM ledger_entry ORDER BY "index"'
            ).fetchall()
            node_rows = conn.execute('SELECT level, "index", hash FROM ledger_node').fetchall()
            ddl = [
                sql
                for (sql,) in conn.execute(
                    "SELECT sql FROM sqlite_master WHERE tbl_name IN ('ledger_entry', "
                    "'ledger_node') AND sql IS NOT NULL ORDER BY type DESC"
                )
            ]
        measured_rows = entry_rows[len(warm) :]
        bodies = [bytes(row[5]) for row in measured_rows]

        # Baseline 1: the hash alone, over the same canonical bytes.
        hasher = keys.hasher
        t0 = time.perf_counter()
        for body in bodies:
            hasher.digest(LEAF_PREFIX + body)
        hash_rate = len(bodies) / (time.perf_counter() - t0)
        # Where an append's CPU goes: the canonical bytes, beside the stdlib's JSON encoder.
        items_all = [item for _, items in plan for item in items]
        at = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
        t0 = time.perf_counter()
        for index, item in enumerate(items_all):
            entry_body(index, at, item)
        canonical_rate = len(items_all) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for index, item in enumerate(items_all):
            json.dumps(
                {
                    "index": index,
                    "at": at.isoformat(),
                    "kind": item.kind,
                    "subject": {"type": item.subject_type, "id": item.subject_id},
                    "payload": item.payload,
                },
                ensure_ascii=False,
                sort_keys=True,
                separators=(",", ":"),
            ).encode()
        stdlib_rate = len(items_all) / (time.perf_counter() - t0)
        # The exact RFC 8785 writer alone (what canonical_json falls back to), and how many
        # entries the fast path (the C json encoder, when provably identical) served.
        documents = [
            {
                "index": index,
                "at": at.isoformat(),
                "kind": item.kind,
                "subject": {"type": item.subject_type, "id": item.subject_id},
                "payload": item.payload,
            }
            for index, item in enumerate(items_all)
        ]
        t0 = time.perf_counter()
        for document in documents:
            exact_canonical_json(document)
        exact_rate = len(documents) / (time.perf_counter() - t0)
        fast_share = sum(fast_canonical_json(d) is not None for d in documents) / len(documents)

        # Baseline 2: raw sqlite3 executemany of the same entry and node rows, same batches.
        completes: dict[int, list[tuple[Any, ...]]] = {}
        for level, index, value in node_rows:
            completes.setdefault(((index + 1) << level) - 1, []).append((level, index, value))
        raw_db = raw_connect(tmp / "raw.db")
        raw_rates: dict[int, float] = {}
        with contextlib.closing(raw_db):
            for statement in ddl:
                raw_db.execute(statement)
            insert_entry = (
                'INSERT INTO ledger_entry ("index", at, kind, subject_type, subject_id, body, '
                "leaf_hash) VALUES (?, ?, ?, ?, ?, ?, ?)"
            )
            insert_node = 'INSERT INTO ledger_node (level, "index", hash) VALUES (?, ?, ?)'

            def raw_insert(rows: Sequence[tuple[Any, ...]], batch: int) -> float:
                spent = 0.0
                for start in range(0, len(rows), batch):
                    chunk = rows[start : start + batch]
                    nodes = [n for row in chunk for n in completes.get(row[0], ())]
                    t = time.perf_counter()
                    raw_db.execute("BEGIN IMMEDIATE")
                    raw_db.executemany(insert_entry, chunk)
                    raw_db.executemany(insert_node, nodes)
                    raw_db.execute("COMMIT")
                    spent += time.perf_counter() - t
                return spent

            raw_insert(entry_rows[: len(warm)], 10)
            offset = len(warm)
            for batch, items in plan:
                chunk_rows = entry_rows[offset : offset + len(items)]
                raw_rates[batch] = len(chunk_rows) / raw_insert(chunk_rows, batch)
                offset += len(items)
    finally:
        platform.dispose()

    node_per_entry = len(node_rows) / len(entry_rows)
    console.print(
        f"  baselines: raw {hasher.name} leaf hash {fmt_rate(hash_rate)}; raw sqlite3 "
        + ", ".join(f"batch {b} {fmt_rate(r)}" for b, r in raw_rates.items())
        + f" ({node_per_entry:.2f} node rows per entry, as stored)",
        highlight=False,
    )
    avg_body = statistics.fmean(len(b) for b in bodies)
    results.notes.append(
        f"entries: 8-field payload with Chinese text, {avg_body:.0f} bytes of canonical JSON "
        f"on average; {node_per_entry:.2f} node rows stored per entry"
    )
    for batch in APPEND_BATCHES:
        batched = batch > 1
        results.add(
            "appends",
            f"append_many + commit, batch {batch:,} ({counts[batch]:,} entries)",
            fmt_rate(rates[batch]),
            f"raw sqlite3 executemany, batch {batch:,}, same entry + node rows",
            fmt_rate(raw_rates[batch]),
            "≥ 5,000/s" if batched else "",
            verdict(rates[batch] >= GOAL_APPENDS_PER_S) if batched else "",
        )
    results.add(
        "appends",
        f"  of which canonical JSON (entry_body) alone, {len(items_all):,} entries",
        fmt_rate(canonical_rate),
        "json.dumps(sort_keys, ensure_ascii=False) of the same dict",
        fmt_rate(stdlib_rate),
    )
    results.add(
        "appends",
        f"  canonical JSON: fast path served {fast_share:.1%} of the entries; the exact "
        "writer (the fallback) alone",
        fmt_rate(exact_rate),
    )
    results.add(
        "appends",
        f"  raw {hasher.name} leaf hash of the same bodies",
        "",
        f"Hasher('{hasher.name}').digest(0x00 ‖ body)",
        fmt_rate(hash_rate),
    )
    results.raw["appends"] = {
        "entries_per_s": rates,
        "raw_sqlite_rows_per_s": raw_rates,
        "raw_hash_per_s": hash_rate,
        "canonical_json_per_s": canonical_rate,
        "stdlib_json_per_s": stdlib_rate,
        "exact_canonical_json_per_s": exact_rate,
        "canonical_fast_path_share": fast_share,
        "average_body_bytes": avg_body,
    }


# ------------------------------------------------------------------ 2. build the log


def progress_bar() -> Progress:
    return Progress(
        TextColumn("  {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def build_log(
    platform: Platform, keys: LedgerKeys, args: argparse.Namespace, results: Results
) -> None:
    console.rule(f"[bold]2. building a {args.entries:,}-entry log[/]")
    total = args.entries
    append_s = checkpoint_s = 0.0
    chunk_rates: list[tuple[int, float]] = []
    with timed() as whole, progress_bar() as bar:
        task = bar.add_task("append_many", total=total, rate="")
        done = 0
        while done < total:
            boundary = min(total, (done // CHECKPOINT_EVERY + 1) * CHECKPOINT_EVERY)
            chunk_spent = 0.0
            chunk_start = done
            while done < boundary:
                count = min(args.build_batch, boundary - done)
                items = make_items(done, count, args.seed)
                t = time.perf_counter()
                with platform.uow() as uow:
                    ledger.append_many(uow, keys=keys, items=items)
                    uow.commit()
                chunk_spent += time.perf_counter() - t
                done += count
                rate = (done - chunk_start) / chunk_spent
                bar.update(task, completed=done, rate=f"{rate:,.0f}/s")
            append_s += chunk_spent
            chunk_rates.append((done, (done - chunk_start) / chunk_spent))
            t = time.perf_counter()
            with platform.uow() as uow:
                ledger.make_checkpoint(uow, keys=keys)
            checkpoint_s += time.perf_counter() - t
    rate = total / append_s
    results.busy.append(f"build {whole.others:.2f}")
    console.print(
        f"  {total:,} entries: appending {append_s:.1f} s ({fmt_rate(rate)}), "
        f"{len(chunk_rates)} checkpoints {checkpoint_s:.2f} s, wall {whole.wall:.1f} s "
        f"(cpu {whole.cpu / whole.wall:.2f} cores, others {whole.others:.2f})",
        highlight=False,
    )
    console.print(
        "  per 100,000: " + ", ".join(f"{r:,.0f}" for _, r in chunk_rates) + " entries/s",
        highlight=False,
    )
    results.add(
        "build",
        f"{total:,} entries, batches of {args.build_batch:,} "
        f"(first → last 100k: {chunk_rates[0][1]:,.0f} → {chunk_rates[-1][1]:,.0f}/s)",
        f"{fmt_s(append_s)} · {fmt_rate(rate)}",
        "",
        "",
        "≥ 5,000/s",
        verdict(rate >= GOAL_APPENDS_PER_S),
    )
    results.add(
        "build",
        f"make_checkpoint × {len(chunk_rates)} (root + SM2 note + commit)",
        fmt_ms(checkpoint_s / len(chunk_rates)) + " each",
    )
    results.raw["build"] = {
        "entries": total,
        "batch": args.build_batch,
        "append_seconds": append_s,
        "entries_per_s": rate,
        "checkpoint_seconds": checkpoint_s,
        "rates_per_100k": chunk_rates,
        "wall_seconds": whole.wall,
    }


# ------------------------------------------------------------------ 3. proofs


def bench_proofs(
    platform: Platform,
    keys: LedgerKeys,
    leaves: Sequence[bytes],
    args: argparse.Namespace,
    results: Results,
) -> None:
    size = len(leaves)
    console.rule(f"[bold]3. proofs at {size:,} leaves[/]")
    hasher = keys.hasher
    with timed() as t_tree:
        tree = MerkleTree(hasher)
        for leaf in leaves:
            tree.append_leaf_hash(leaf)
    console.print(
        f"  baseline: in-memory MerkleTree from the {size:,} stored leaf hashes in "
        f"{t_tree.wall:.1f} s",
        highlight=False,
    )
    rng = random.Random(args.seed)
    indexes = [rng.randrange(size) for _ in range(args.proofs)]
    warm = [rng.randrange(size) for _ in range(20)]
    mismatches = 0

    def fresh(run: Callable[[UnitOfWork], list[bytes] | bytes]) -> tuple[float, Any]:
        t = time.perf_counter()
        with platform.uow(writes=False) as uow:
            value = run(uow)
        return time.perf_counter() - t, value

    for index in warm:
        fresh(partial(ledger.inclusion, keys=keys, index=index, size=size))
    if args.wait_quiet > 0:
        console.print(f"  {wait_for_quiet(args.wait_quiet)}", highlight=False)
    db_times: list[float] = []
    with timed() as t_incl:
        for index in indexes:
            spent, proof = fresh(partial(ledger.inclusion, keys=keys, index=index, size=size))
            db_times.append(spent)
            mismatches += proof != tree.inclusion_proof(index, size)
    results.busy.append(f"inclusion proofs {t_incl.others:.2f}")
    shared_times: list[float] = []
    with platform.uow(writes=False) as uow:
        for index in indexes:
            t = time.perf_counter()
            ledger.inclusion(uow, keys=keys, index=index, size=size)
            shared_times.append(time.perf_counter() - t)
    tree_times: list[float] = []
    for index in indexes:
        t = time.perf_counter()
        tree.inclusion_proof(index, size)
        tree_times.append(time.perf_counter() - t)
    reads = statistics.fmean(len(inclusion_proof_nodes(i, size)) for i in indexes)
    p50, p99 = percentile(db_times, 0.5), percentile(db_times, 0.99)
    console.print(
        f"  inclusion × {len(indexes)}: p50 {fmt_ms(p50)}, p99 {fmt_ms(p99)} "
        f"(fresh read unit of work each); {reads:.1f} nodes per proof, one query; "
        f"in-memory p50 {fmt_ms(percentile(tree_times, 0.5))}",
        highlight=False,
    )
    results.add(
        "proofs",
        f"inclusion, {len(indexes)} random indexes, size {size:,}: p50 / p99 "
        f"(own read unit of work; {reads:.1f} nodes each, read in one query)",
        f"{fmt_ms(p50)} / {fmt_ms(p99)}",
        "in-memory MerkleTree.inclusion_proof, p50 / p99",
        f"{fmt_ms(percentile(tree_times, 0.5))} / {fmt_ms(percentile(tree_times, 0.99))}",
        "≤ 5 ms",
        verdict(p99 <= GOAL_INCLUSION_S),
    )
    results.add(
        "proofs",
        "  inclusion inside one open unit of work: p50 / p99",
        f"{fmt_ms(percentile(shared_times, 0.5))} / {fmt_ms(percentile(shared_times, 0.99))}",
    )

    pairs = sorted(
        {
            (1, size),
            (size // 10, size),
            (size // 2, size),
            (size - 1, size),
            (size * 123_457 // 1_000_000, size * 654_321 // 1_000_000),
        }
    )
    pairs = [(a, b) for a, b in pairs if 0 < a < b <= size]
    consistency: dict[str, Any] = {}
    for first, second in pairs:
        db = []
        mem = []
        for _ in range(args.repeat):
            spent, proof = fresh(partial(ledger.consistency, keys=keys, first=first, second=second))
            db.append(spent)
            t = time.perf_counter()
            expected = tree.consistency_proof(first, second)
            mem.append(time.perf_counter() - t)
            mismatches += proof != expected
        n_reads = len(consistency_proof_nodes(first, second))
        consistency[f"{first}->{second}"] = {
            "db": statistics.median(db),
            "tree": statistics.median(mem),
        }
        results.add(
            "proofs",
            f"consistency {first:,} → {second:,} (median of {args.repeat}; {n_reads} nodes)",
            fmt_ms(statistics.median(db)),
            "in-memory MerkleTree.consistency_proof",
            fmt_ms(statistics.median(mem)),
        )
    roots: dict[int, Any] = {}
    for root_size in sorted({size, size - 1} - {0}):
        db = []
        mem = []
        for _ in range(args.repeat):
            spent, value = fresh(partial(ledger.root, keys=keys, size=root_size))
            db.append(spent)
            t = time.perf_counter()
            expected_root = tree.root(root_size)
            mem.append(time.perf_counter() - t)
            mismatches += value != expected_root
        roots[root_size] = {"db": statistics.median(db), "tree": statistics.median(mem)}
        results.add(
            "proofs",
            f"root at size {root_size:,} (median of {args.repeat}; "
            f"{len(root_nodes(root_size))} nodes)",
            fmt_ms(statistics.median(db)),
            "in-memory MerkleTree.root",
            fmt_ms(statistics.median(mem)),
        )
    same = "identical" if mismatches == 0 else f"{mismatches} DIFFERENT"
    console.print(f"  database proofs and roots vs in-memory tree: {same}", highlight=False)
    results.notes.append(
        f"every proof and root from the database was compared with the in-memory tree's: {same}"
    )
    if args.profile:
        with platform.uow(writes=False) as uow:
            profile(
                f"{len(indexes)} inclusion proofs at size {size:,}",
                lambda: [ledger.inclusion(uow, keys=keys, index=i, size=size) for i in indexes],
            )
    results.raw["proofs"] = {
        "size": size,
        "inclusion_fresh_uow_s": db_times,
        "inclusion_shared_uow_s": shared_times,
        "inclusion_tree_s": tree_times,
        "node_reads_per_inclusion": reads,
        "consistency": consistency,
        "root": roots,
        "tree_build_s": t_tree.wall,
        "mismatches": mismatches,
    }


# ------------------------------------------------------------------ 4. verification


def bench_verify(
    platform: Platform,
    keys: LedgerKeys,
    read_s: float,
    bodies: Sequence[bytes],
    tree_build_s: float,
    tmp: Path,
    args: argparse.Namespace,
    results: Results,
) -> None:
    size = len(bodies)
    console.rule(f"[bold]4. full verification of the {size:,}-entry log[/]")
    hasher = keys.hasher
    t0 = time.perf_counter()
    for body in bodies:
        hasher.digest(LEAF_PREFIX + body)
    hash_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for body in bodies:
        json.loads(body)
    parse_s = time.perf_counter() - t0
    floor = read_s + hash_s + tree_build_s

    def with_bar(label: str, run: Callable[[Callable[[int, int], None]], Any]) -> Any:
        with progress_bar() as bar:
            task = bar.add_task(label, total=size, rate="")

            def progress(position: int, _total: int) -> None:
                bar.update(task, completed=position)

            value = run(progress)
            bar.update(task, completed=size)
            return value

    if args.wait_quiet > 0:
        console.print(f"  {wait_for_quiet(args.wait_quiet)}", highlight=False)
    with timed() as t_verify, platform.uow(writes=False) as uow:
        report = with_bar("verify_database", lambda p: verify_database(uow, keys=keys, progress=p))
    console.print(
        f"  verify_database: {t_verify.wall:.1f} s, ok={report.ok}, {report.entries:,} entries, "
        f"{report.checkpoints} checkpoints {report.problems[:1]} "
        f"(cpu {t_verify.cpu / t_verify.wall:.2f} cores, others {t_verify.others:.2f})",
        highlight=False,
    )
    results.busy.append(f"verify_database {t_verify.others:.2f}")
    export = tmp / "export"
    with timed() as t_export, platform.uow(writes=False) as uow:
        exported = export_ledger(uow, keys=keys, directory=export)
    with timed() as t_offline:
        offline = with_bar("verify_export", lambda p: verify_export(export, progress=p))
    export_mb = sum(p.stat().st_size for p in export.rglob("*") if p.is_file()) / 1e6
    console.print(
        f"  export_ledger: {exported:,} entries, {export_mb:,.0f} MB in {t_export.wall:.1f} s; "
        f"verify_export: {t_offline.wall:.1f} s, ok={offline.ok}, "
        f"{offline.checkpoints} checkpoints {offline.problems[:1]}",
        highlight=False,
    )
    results.add(
        "verify",
        f"verify_database, {size:,} entries, {report.checkpoints} checkpoints (ok={report.ok})",
        fmt_s(t_verify.wall),
        f"raw sqlite3 read {fmt_s(read_s)} + raw {hasher.name} {fmt_s(hash_s)} + "
        f"in-memory tree {fmt_s(tree_build_s)}",
        fmt_s(floor),
        "≤ 60 s",
        verdict(t_verify.wall <= GOAL_VERIFY_S and report.ok),
    )
    results.add(
        "verify",
        f"  raw {hasher.name} of the same {size:,} bodies (leaf hashes)",
        "",
        f"Hasher('{hasher.name}').digest(0x00 ‖ body)",
        f"{fmt_s(hash_s)} · {fmt_rate(size / hash_s)}",
    )
    results.add(
        "verify",
        "  json.loads of the same bodies (verify reads each entry's index)",
        "",
        "json.loads(body)",
        fmt_s(parse_s),
    )
    results.add(
        "verify",
        f"export_ledger ({export_mb:,.0f} MB)",
        fmt_s(t_export.wall),
        "raw sqlite3 read of body + leaf_hash",
        fmt_s(read_s),
    )
    results.add(
        "verify",
        f"verify_export (ok={offline.ok})",
        fmt_s(t_offline.wall),
        "raw hash + in-memory tree",
        fmt_s(hash_s + tree_build_s),
        "≤ 60 s",
        verdict(t_offline.wall <= GOAL_VERIFY_S and offline.ok),
    )
    shutil.rmtree(export, ignore_errors=True)
    if args.profile:
        with platform.uow(writes=False) as uow:
            profile("verify_database", lambda: verify_database(uow, keys=keys))
    results.raw["verify"] = {
        "verify_database_s": t_verify.wall,
        "verify_database_ok": report.ok,
        "export_s": t_export.wall,
        "verify_export_s": t_offline.wall,
        "verify_export_ok": offline.ok,
        "raw_read_s": read_s,
        "raw_hash_s": hash_s,
        "json_loads_s": parse_s,
        "tree_build_s": tree_build_s,
    }


# ------------------------------------------------------------------ output


# ------------------------------------------------------------------ main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--entries", type=int, default=1_000_000, help="size of the log built (default 1000000)"
    )
    parser.add_argument(
        "--hash", choices=("sm3", "sha256"), default="sm3", help="the ledger's hash (default sm3)"
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="build the log's data home in DIR (new or empty) and keep it afterwards",
    )
    parser.add_argument(
        "--build-batch",
        type=int,
        default=10_000,
        help="entries per append_many while building the log (default 10000)",
    )
    parser.add_argument(
        "--append-sample",
        type=int,
        default=50_000,
        help="entries appended for batch 100 and 1000 (batch 1: 1/25 of it; default 50000)",
    )
    parser.add_argument(
        "--proofs", type=int, default=200, help="random inclusion proofs (default 200)"
    )
    parser.add_argument(
        "--repeat", type=int, default=20, help="repeats per consistency pair and root (20)"
    )
    parser.add_argument("--seed", type=int, default=20261125, help="payloads and indexes")
    add_wait_quiet(parser)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after each timed step, repeat a sample under cProfile and print the top functions",
    )
    parser.add_argument("--json", type=Path, help="also write the raw numbers to this file")
    args = parser.parse_args(argv)
    if args.entries < 2 or args.build_batch < 1 or args.append_sample < 1000:
        parser.error("need --entries ≥ 2, --build-batch ≥ 1 and --append-sample ≥ 1000")
    if args.proofs < 1 or args.repeat < 1:
        parser.error("--proofs and --repeat must be ≥ 1")
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        parser.error(f"--keep {args.keep}: the directory is not empty")
    return args


def run(args: argparse.Namespace, tmp: Path, results: Results) -> None:
    algorithm: HashAlgorithm = args.hash
    keys = LedgerKeys(Hasher(algorithm), "bench/ledger", (("bench", Sm2Signer.generate()),))
    bench_appends(tmp, keys, args, results)

    home = args.keep.resolve() if args.keep is not None else tmp / "log"
    platform = make_platform(home)
    try:
        build_log(platform, keys, args, results)
        with timed() as t_read, contextlib.closing(raw_connect(db_path(platform))) as conn:
            rows = conn.execute('SELECT body, leaf_hash FROM ledger_entry ORDER BY "index"')
            bodies: list[bytes] = []
            leaves: list[bytes] = []
            for body, leaf in rows:
                bodies.append(body)
                leaves.append(bytes.fromhex(leaf))
        console.print(
            f"  raw sqlite3 read of {len(bodies):,} bodies + leaf hashes: {t_read.wall:.1f} s",
            highlight=False,
        )
        bench_proofs(platform, keys, leaves, args, results)
        del leaves
        bench_verify(
            platform,
            keys,
            t_read.wall,
            bodies,
            results.raw["proofs"]["tree_build_s"],
            tmp,
            args,
            results,
        )
    finally:
        platform.dispose()
    if args.keep is not None:
        results.notes.append(f"the log's database was kept in {home}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_signal_handlers()
    dropped = drop_own_environment()
    command = " ".join([".venv/bin/python bench/ledger.py", *(argv or sys.argv[1:])])
    console.print(f"[bold]bench/ledger.py[/] · {machine_line()}", highlight=False)
    console.print(
        f"SQLite {sqlite3.sqlite_version} · hash {args.hash} · {args.entries:,} entries · "
        f"load average at start: {load_average()}",
        highlight=False,
    )
    if dropped:
        console.print(f"ignoring {', '.join(dropped)} from the environment", highlight=False)
    results = Results()
    results.raw["args"] = {k: str(v) for k, v in vars(args).items()}
    started = time.perf_counter()
    try:
        with temp_dir("gongshu-bench-ledger-") as tmp:
            run(args, tmp, results)
    except (KeyboardInterrupt, Interrupted):
        console.print("interrupted: temporary directories removed", highlight=False)
        if args.keep is not None:
            console.print(f"(the partial log under --keep {args.keep} was left)", highlight=False)
        return 130
    print_results(
        results,
        started=started,
        title="Ledger figures (catalogue issue)",
        command=command,
        json_path=args.json,
        console=console,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
