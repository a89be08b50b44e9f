"""Serving copies: each open version's rows in DuckDB's own format, queried in-process.

Reading a page straight from the version's Parquet file costs several milliseconds (a whole
compressed page is decoded for a hundred rows), so the row API reads a serving copy instead: the
same rows, plus their Parquet ``file_row_number`` as ``__row``, in a DuckDB database file under
``<lake>/open/serve/<duckdb version>/<file hash>.duckdb``. It is built once per version, on first
use (about half a second per million rows), in scratch space and renamed into place, so a copy
under its final name is always complete; being derived from a content-addressed file it never
changes. Rows keep file order, so ``__row`` pages without sorting. Copies of versions up to
two million rows are stored uncompressed (see :data:`UNCOMPRESSED_ROWS`).

One in-memory DuckDB instance per process attaches the copies read-only; each worker thread
keeps its own cursor on it (DuckDB connections are not shared between threads), so a request
neither connects nor reopens files.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from gongshu.datastore.duck import quote, sql_string
from gongshu.datastore.lake import Lake
from gongshu.opendata.errors import DataNotAvailable
from gongshu.opendata.rows import ROW_COLUMN

__all__ = ["RowStore"]

TABLE = "rows"
# Up to this many rows a copy is stored uncompressed: about four times the disk of a compressed
# one, and five times faster to sort or to fetch scattered rows from (DuckDB then decodes
# nothing). Bigger versions stay compressed, so the copies cannot outgrow the disk.
UNCOMPRESSED_ROWS = 2_000_000


class RowStore:
    """Serving copies of dataset versions and the process's DuckDB instance that reads them."""

    def __init__(self, lake: Lake, *, memory_limit: str, threads: int) -> None:
        self.lake = lake
        self.root = lake.root / "open" / "serve" / duckdb.__version__
        self.memory_limit = memory_limit
        self.threads = threads
        self._db: duckdb.DuckDBPyConnection | None = None
        self._local = threading.local()
        self._tables: dict[str, str] = {}
        self._lock = threading.RLock()
        self._builds: dict[str, threading.Lock] = {}

    def _database(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._db is None:
                # One thread per query: a request's page is far too small to share out, and
                # concurrent requests already keep the cores busy. Late materialisation turns
                # a plain LIMIT into a self-join here, several times slower than a scan.
                self._db = duckdb.connect(
                    config={
                        "memory_limit": self.memory_limit,
                        "threads": 1,
                        "preserve_insertion_order": True,
                        "disabled_optimizers": "late_materialization",
                    }
                )
            return self._db

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the instance (made once per thread)."""
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._database().cursor()
            self._local.cursor = cursor
        return cursor

    def fresh_cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of its own, for a stream that outlives the request's thread."""
        return self._database().cursor()

    def table(self, file_hash: str, rows: int) -> str:
        """The qualified name of the version's serving table, building and attaching it."""
        name = self._tables.get(file_hash)
        if name is not None:
            return name
        path = self.copy_path(file_hash)
        if not path.is_file():
            parquet = self.lake.path_of(file_hash)
            if not parquet.is_file():
                raise DataNotAvailable(
                    "数据文件缺失 (the version's data file is missing)",
                    details={"file_hash": file_hash},
                )
            self._build(file_hash, parquet, path, rows)
        alias = f"v_{file_hash[:24]}"
        with self._lock:
            name = self._tables.get(file_hash)
            if name is None:
                self._database().execute(
                    f"ATTACH IF NOT EXISTS {sql_string(str(path))} AS {quote(alias)} (READ_ONLY)"
                )
                name = f"{quote(alias)}.{quote(TABLE)}"
                self._tables[file_hash] = name
        return name

    def copy_path(self, file_hash: str) -> Path:
        """Where the serving copy of a version file lives."""
        return self.root / f"{file_hash}.duckdb"

    def _build(self, file_hash: str, parquet: Path, target: Path, rows: int) -> None:
        with self._lock:
            lock = self._builds.setdefault(file_hash, threading.Lock())
        with lock:
            if target.is_file():
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            with self.lake.scratch() as work:
                staged = work / "serve.duckdb"
                con = duckdb.connect(
                    str(staged),
                    config={
                        "memory_limit": self.memory_limit,
                        "threads": self.threads,
                        "preserve_insertion_order": True,
                        "temp_directory": str(work / "spill"),
                    },
                )
                try:
                    if rows <= UNCOMPRESSED_ROWS:
                        con.execute("SET force_compression = 'uncompressed'")
                    con.execute(
                        f"CREATE TABLE {quote(TABLE)} AS SELECT * EXCLUDE (file_row_number), "
                        f"file_row_number AS {quote(ROW_COLUMN)} FROM read_parquet("
                        f"{sql_string(str(parquet))}, file_row_number = true)"
                    )
                    con.execute("CHECKPOINT")
                finally:
                    con.close()
                with staged.open("rb") as handle:
                    os.fsync(handle.fileno())
                os.replace(staged, target)

    def fetch(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        """Run a query on this thread's cursor and return every row."""
        return self.cursor().execute(sql, params).fetchall()

    def stream(
        self, sql: str, params: list[Any], *, batch: int = 2048
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Run a query on a cursor of its own and yield its rows in batches."""
        cursor = self.fresh_cursor()
        try:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(batch):
                yield rows
        finally:
            cursor.close()

    def close(self) -> None:
        """Close the instance (cursors made from it stop working)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
                self._tables.clear()
                self._local = threading.local()
