"""Instructions, not seconds: what the ingest's typing COPY costs, counted with callgrind.

This machine's speed drifts by a third over minutes (other tenants), so two forms of the same
SQL expression that differ by 2 % cannot be told apart by timing them. Valgrind's callgrind
counts the instructions a run executes, the same from run to run within about 0.5 %. Each
variant runs in its own process under callgrind, single-threaded, on the first ``--rows`` rows
of the ingest benchmark's file; a process that only imports gives the count to subtract.

Variants (the ingest's own statement, built by ``datastore.ingest``, unless said otherwise):

* ``gongshu``: as the ingest types the file: text fields stored as read, then the file read
  back to find the columns with a value to trim (``datastore.edges``; the benchmark's file
  has none, so nothing is written again);
* ``edges-in-sql``: text fields trimmed in the COPY behind the per-value edge gate
  (``coerce._edged``), as the ingest did until 2026-11-27;
* ``money-wide``: amounts typed and stored as DECIMAL(38,6) even when every one fits the
  narrow DECIMAL(18,6) (``datastore.coerce``), as the ingest did until 2026-11-27;
* ``raw``: DuckDB's own ``read_csv`` → Parquet, types detected (the benchmark's baseline;
  its sniffing is a fixed cost, large beside a small file, as is ours of detecting the file).

    .venv/bin/python bench/ingest_instructions.py --rows 100000
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
VARIANTS = ("gongshu", "edges-in-sql", "money-wide", "raw")


def child(variant: str, csv: Path) -> None:
    """One COPY of ``csv`` (or none: ``imports``), single-threaded."""
    import duckdb

    from gongshu.datastore import coerce, duck, edges, ingest
    from gongshu.datastore.mapping import map_columns
    from gongshu.datastore.sources import scan_text

    if variant == "imports":
        return
    con = duckdb.connect(config={"threads": 1})
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "out.parquet"
        if variant == "raw":
            con.execute(f"COPY (SELECT * FROM read_csv('{csv}')) TO '{target}' (FORMAT parquet)")
            return
        fields = _bench().FIELDS
        plans = [ingest.FieldPlan(name, kind, frozenset(flags)) for name, kind, flags in fields]
        scan = scan_text(csv, filename=csv.name, workdir=Path(tmp))
        assert scan is not None, "not a text file"
        mapping = map_columns(scan.headers, [plan.name for plan in plans], filename=csv.name)
        select = ingest._typed_sql(
            scan.select("bench"), len(scan.headers), plans, mapping, narrow=variant != "money-wide"
        )
        if variant == "edges-in-sql":
            for plan in plans:
                if plan.type == "string":
                    column = duck.quote(f"c{mapping.sources[plan.name]}")
                    typed = coerce.coerce_sql(column, plan.type)[0]
                    named = f" AS {duck.quote(plan.name)}"
                    assert column + named in select, "the COPY no longer reads text as is"
                    select = select.replace(column + named, typed + named)
        con.execute(ingest._copy(select, target))
        if variant != "edges-in-sql":  # and the read-back that finds the columns to trim
            texts = [plan.name for plan in plans if plan.type == "string"]
            assert not edges.edged_columns(target, texts, threads=1), "the file has text to trim"


def _bench() -> Any:
    """bench/ingest.py (its file, its field list), as a module."""
    sys.path.insert(0, str(HERE.parent))
    return importlib.import_module("ingest")


def counted(variant: str, csv: Path) -> int:
    """Instructions callgrind counts for one child process."""
    argv = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, str(HERE), "--child", variant, str(csv),
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{variant} failed:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000, help="first rows of the file")
    parser.add_argument("--source", type=Path, help="the benchmark's CSV (generated if absent)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("child_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, Path(args.child_args[0]))
        return 0
    bench = _bench()
    source = args.source
    if source is None:
        cache = Path(os.environ.get("TMPDIR", "/tmp")) / f"gongshu-bench-ingest-v{bench.VERSION}"
        source, _gb = bench.ensure_data(10_000_000, Path(f"{cache}-10000000"))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "head.csv"
        with source.open("rb") as whole, csv.open("wb") as head:
            for _ in range(args.rows + 1):
                head.write(whole.readline())
        base = counted("imports", csv)
        print(f"bench/ingest_instructions.py · {args.rows:,} rows · callgrind, one thread")
        print(f"{'variant':<20} {'instructions':>15} {'per row':>9} {'beyond gongshu':>15}")
        own = {variant: counted(variant, csv) - base for variant in VARIANTS}
        for variant, count in own.items():
            beyond = (count - own["gongshu"]) / args.rows
            shown = f"{beyond:>+15,.0f}" if variant not in ("gongshu", "raw") else f"{'—':>15}"
            print(f"{variant:<20} {count:>15,} {count / args.rows:>9,.0f} {shown}")
    print(
        f"({time.perf_counter() - started:.0f} s; beyond gongshu: instructions a row more than "
        "the ingest's own)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
