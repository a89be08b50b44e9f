"""DuckDB connections for the platform's own (trusted) data work, and query progress.

Every connection gets the memory and thread limits from the settings and a spill directory in
the lake's scratch space, so a 10 GB file is streamed within a bounded memory budget.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

__all__ = ["connect", "quote", "run_with_progress", "sql_string"]


def quote(name: str) -> str:
    """A DuckDB identifier, quoted (field names are Chinese and may hold any character)."""
    return '"' + name.replace('"', '""') + '"'


def sql_string(text: str) -> str:
    """A DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


@contextmanager
def connect(*, memory_limit: str, threads: int, spill: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection with the platform's limits, closed afterwards."""
    spill.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        config={
            "memory_limit": memory_limit,
            "threads": threads,
            "temp_directory": str(spill),
            "preserve_insertion_order": True,
        }
    )
    # Progress is measured (for query_progress) but never printed; these are session options.
    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")
    con.execute("SET progress_bar_time = 0")
    try:
        yield con
    finally:
        con.close()


def run_with_progress(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    on_progress: Callable[[float], None] | None = None,
    *,
    interval: float = 0.25,
) -> list[tuple[Any, ...]]:
    """Run ``sql`` and return its rows, reporting DuckDB's own progress (0–100) meanwhile."""
    if on_progress is None:
        return con.execute(sql).fetchall()
    done = threading.Event()

    def watch() -> None:
        while not done.wait(interval):
            value = con.query_progress()
            if value >= 0:
                on_progress(float(value))

    watcher = threading.Thread(target=watch, name="duckdb-progress", daemon=True)
    watcher.start()
    try:
        return con.execute(sql).fetchall()
    finally:
        done.set()
        watcher.join()
        on_progress(100.0)
