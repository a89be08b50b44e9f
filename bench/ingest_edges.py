"""Where the ingest trims text: what it costs on clean and on spaced files.

The CSV fast path stores a text column as read unless the file's first records show values
with spaces at their ends; the columns stored as read are then read back in numpy, and one
found to need trimming after all is trimmed by writing the version file again
(``datastore.ingest``, ``datastore.edges``). This weighs that against the form before it,
every text column trimmed in the COPY behind a per-value gate (``gate-all``), on three files
cut from the ingest benchmark's: clean; one text column with a trailing space in 1 % of its
values throughout (the first records show it: trimmed in the COPY); and one such value only,
near the end (missed by the first records: the file is written again).

Each variant runs in its own process (file work only: ``datastore.ingest.read_file``, no
catalogue, no assessment); rounds alternate the two, and the best round counts. By hand,
``--child money-wide`` runs the file work with amounts stored as DECIMAL(38,6), as before
2026-11-27, for the narrow amounts' A/B (``datastore.coerce``).

    .venv/bin/python bench/ingest_edges.py --rows 2000000
    .venv/bin/python bench/ingest_edges.py --child gongshu|gate-all|money-wide data.csv
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
FILES = ("clean", "spaced-throughout", "spaced-late")
VARIANTS = ("gongshu", "gate-all")


def _bench() -> Any:
    sys.path.insert(0, str(HERE.parent))
    return importlib.import_module("ingest")


def make_files(source: Path, rows: int, folder: Path) -> dict[str, Path]:
    """The three files, from the first ``rows`` records of ``source`` (kept as text)."""
    import duckdb

    made = {name: folder / f"{name}.csv" for name in FILES}
    if all(path.exists() for path in made.values()):
        return made
    read = f"(SELECT * FROM read_csv('{source}', all_varchar = true) LIMIT {rows})"
    name = "企业名称"  # a text column the COPY stores as read when it is clean
    spaced = {
        "clean": f'"{name}"',
        "spaced-throughout": f"CASE WHEN hash(rowid) % 100 = 0 THEN \"{name}\" || ' ' "
        f'ELSE "{name}" END',
        "spaced-late": f"CASE WHEN rowid = {rows - rows // 50} THEN \"{name}\" || ' ' "
        f'ELSE "{name}" END',
    }
    with duckdb.connect() as con:
        con.execute(f"CREATE TABLE t AS SELECT * FROM {read}")
        columns = [row[0] for row in con.execute("DESCRIBE t").fetchall()]
        for kind, path in made.items():
            listed = ", ".join(
                f'{spaced[kind]} AS "{c}"' if c == name else f'"{c}"' for c in columns
            )
            con.execute(f"COPY (SELECT {listed} FROM t ORDER BY rowid) TO '{path}' (HEADER)")
    return made


def child(variant: str, path: Path) -> dict[str, Any]:
    """One read_file of ``path`` as the ingest does it (or with every text column gated)."""
    from gongshu.datastore import duck, ingest

    fields = _bench().FIELDS
    plans = [ingest.FieldPlan(name, kind, frozenset(flags)) for name, kind, flags in fields]
    if variant in ("gate-all", "money-wide"):  # what the first records decide, overridden
        texts = {plan.name for plan in plans if plan.type == "string" and variant == "gate-all"}
        wide = variant == "money-wide"  # (for the clean file: no text to trim there)
        ingest._first_records = lambda *_args: (texts, wide)  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with duck.connect(memory_limit="4GB", threads=2, spill=work / "spill") as con:
            started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
            staged = ingest.read_file(
                con, path=path, filename=path.name, workdir=work, fields=plans
            )
            after = resource.getrusage(resource.RUSAGE_SELF)
            seconds = time.perf_counter() - started
            assert staged.version_file is not None
            spaced = con.execute(
                f"SELECT count(*) FROM read_parquet('{staged.version_file}') "
                "WHERE suffix(企业名称, ' ')"
            ).fetchone()
    return {
        "seconds": seconds,
        "cpu": after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime,
        "phases": {k: round(v, 2) for k, v in staged.seconds.items()},
        "left_untrimmed": spaced[0] if spaced else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return 0
    bench = _bench()
    cache = Path(os.environ.get("TMPDIR", "/tmp")) / f"gongshu-bench-ingest-v{bench.VERSION}"
    source, _gb = bench.ensure_data(10_000_000, Path(f"{cache}-10000000"))
    folder = Path(f"{cache}-edges-{args.rows}")
    folder.mkdir(exist_ok=True)
    files = make_files(source, args.rows, folder)
    print(f"bench/ingest_edges.py · {args.rows:,} rows a file · best of {args.repeat} rounds")
    print(f"{'file':<19} {'variant':<9} {'seconds':>8} {'CPU s':>7}  phases (best round)")
    for kind, path in files.items():
        best: dict[str, dict[str, Any]] = {}
        for _ in range(args.repeat):
            for variant in VARIANTS:
                argv = [sys.executable, str(HERE), "--child", variant, str(path)]
                done = subprocess.run(argv, capture_output=True, text=True, check=True)
                result = json.loads(done.stdout.strip().splitlines()[-1])
                assert result["left_untrimmed"] == 0, (kind, variant, result)
                if variant not in best or result["seconds"] < best[variant]["seconds"]:
                    best[variant] = result
        for variant, result in best.items():
            phases = ", ".join(f"{k} {v}" for k, v in result["phases"].items())
            print(
                f"{kind:<19} {variant:<9} {result['seconds']:>8.2f} {result['cpu']:>7.2f}  {phases}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
