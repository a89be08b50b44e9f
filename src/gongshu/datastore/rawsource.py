"""What opening an upload gives back, whatever its format: a :class:`RawSource`.

Each format's opener (:mod:`textfiles`, :mod:`sheets`, JSON and Parquet in :mod:`sources`)
returns the same shape — a DuckDB SELECT of ``_row`` and text columns ``c0``, ``c1``, … — and
shares the few helpers here: the column names, and running a load while reporting progress.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

__all__ = ["Progress", "RawSource", "run_reporting", "text_columns"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RawSource:
    """An opened upload: a SELECT of ``_row`` and text columns c0…, and what was detected.

    ``sql`` and ``rejects_sql`` may read temporary tables: run them on the connection given
    to ``open_source``.
    """

    sql: str
    headers: tuple[str, ...]
    format: str
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    header_rows: int
    rejects_sql: str | None
    temp_files: tuple[Path, ...]


def text_columns(width: int) -> list[str]:
    """The names of ``width`` source columns: c0, c1, …"""
    return [f"c{index}" for index in range(width)]


def run_reporting(
    con: duckdb.DuckDBPyConnection, sql: str, progress: Progress | None, total: int
) -> None:
    """Run ``sql``, reporting DuckDB's progress as a share of ``total`` meanwhile."""
    if progress is None:
        con.execute(sql)
        return
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.25):
            share = con.query_progress()
            if share >= 0:
                progress(int(share * total / 100), total)

    watcher = threading.Thread(target=watch, name="source-progress", daemon=True)
    watcher.start()
    try:
        con.execute(sql)
    finally:
        done.set()
        watcher.join()
    progress(total, total)
