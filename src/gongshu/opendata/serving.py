"""Serving copies: each open version's rows in DuckDB's own format, queried in-process.

Reading a page straight from the version's Parquet file costs several milliseconds (a whole
compressed page is decoded for a hundred rows), so the row API reads a serving copy instead: the
same rows, plus their Parquet ``file_row_number`` as ``__row``, in a DuckDB database file under
``<lake>/open/serve/<duckdb version>/<file hash>.duckdb``. It is built once per version, on first
use (about half a second per million rows), in scratch space and renamed into place, so a copy
under its final name is always complete; being derived from a content-addressed file it never
changes. Rows keep file order, so ``__row`` pages without sorting. Copies of versions up to
two million rows are stored uncompressed (see :data:`UNCOMPRESSED_ROWS`).

**Sorted copies.** Sorting a million rows for every sorted page costs tens of milliseconds, so
the first sorted request for a field and direction starts building a second copy in the
background: the same rows stored in that order, numbered by ``__pos``
(``<file hash>.<field digest>.<asc|desc>.duckdb``). Until it is ready sorted pages are sorted
per request (picking the page's keys first, then its rows); afterwards a sorted page is a
range of ``__pos``, as cheap as an unsorted one, and filters on it keep the order because a
scan on one thread returns rows in stored order. The ascending copy also serves unsorted pages
filtered by ``field = value``: there the matching rows lie together, in file order. Versions
over :data:`SORTED_COPY_ROWS` rows are always sorted per request.

One in-memory DuckDB instance per process attaches the copies read-only; each worker thread
keeps its own cursor on it (DuckDB connections are not shared between threads), so a request
neither connects nor reopens files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from gongshu.datastore.duck import quote, sql_string
from gongshu.datastore.lake import Lake
from gongshu.opendata.errors import DataNotAvailable
from gongshu.opendata.rows import POSITION_COLUMN, ROW_COLUMN, order_sql

__all__ = ["SORTED_COPY_ROWS", "RowStore"]

log = logging.getLogger(__name__)

TABLE = "rows"
# Up to this many rows a copy is stored uncompressed: about four times the disk of a compressed
# one, and five times faster to sort or to fetch scattered rows from (DuckDB then decodes
# nothing). Bigger versions stay compressed, so the copies cannot outgrow the disk.
UNCOMPRESSED_ROWS = 2_000_000
# Up to this many rows a version gets sorted copies (one per field and direction asked for).
SORTED_COPY_ROWS = 50_000_000


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
        self._sorting: set[str] = set()

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
            self._build(path, self._source(file_hash), rows, "")
        return self._attach(file_hash, path)

    def sorted_table(
        self, file_hash: str, rows: int, column: str, *, descending: bool, wait: bool = False
    ) -> str | None:
        """The version's copy in ``column``'s order, or None while it is being built.

        The first call starts the build on a thread of its own (or builds it at once when
        ``wait``); versions over :data:`SORTED_COPY_ROWS` rows get none.
        """
        if rows > SORTED_COPY_ROWS:
            return None
        path = self.sorted_path(file_hash, column, descending=descending)
        key = path.name
        name = self._tables.get(key)
        if name is not None:
            return name
        if path.is_file():
            return self._attach(key, path)
        order = order_sql(column, descending=descending)
        if wait:
            self._build(path, self._source(file_hash), rows, order)
            return self._attach(key, path)
        with self._lock:
            if key in self._sorting:
                return None
            self._sorting.add(key)

        def build() -> None:
            try:
                self._build(path, self._source(file_hash), rows, order)
            except Exception:  # the request path goes on sorting per request
                log.exception("building the sorted copy %s failed", path.name)
            finally:
                with self._lock:
                    self._sorting.discard(key)

        threading.Thread(target=build, name=f"sort-{key}", daemon=True).start()
        return None

    def prune(self, keep: set[str], sizes: list[int]) -> list[Path]:
        """Delete the copies of version files not in ``keep`` (and every copy made for another
        DuckDB version), adding their sizes to ``sizes``; a process that has one attached
        reads on until it closes it."""
        removed: list[Path] = []
        for folder in sorted(self.root.parent.glob("*")):
            for path in sorted(folder.glob("*.duckdb")):
                if folder != self.root or path.name.split(".")[0] not in keep:
                    sizes.append(path.stat().st_size)
                    path.unlink(missing_ok=True)
                    removed.append(path)
            if folder != self.root and not any(folder.iterdir()):
                folder.rmdir()
        return removed

    def copy_path(self, file_hash: str) -> Path:
        """Where the serving copy of a version file lives."""
        return self.root / f"{file_hash}.duckdb"

    def sorted_path(self, file_hash: str, column: str, *, descending: bool) -> Path:
        """Where the copy of a version file in one field's order lives."""
        digest = hashlib.sha256(column.encode()).hexdigest()[:16]
        return self.root / f"{file_hash}.{digest}.{'desc' if descending else 'asc'}.duckdb"

    def _source(self, file_hash: str) -> Path:
        parquet = self.lake.path_of(file_hash)
        if not parquet.is_file():
            raise DataNotAvailable(
                "数据文件缺失 (the version's data file is missing)",
                details={"file_hash": file_hash},
            )
        return parquet

    def _attach(self, key: str, path: Path) -> str:
        alias = f"v_{hashlib.sha256(key.encode()).hexdigest()[:24]}"
        with self._lock:
            name = self._tables.get(key)
            if name is None:
                self._database().execute(
                    f"ATTACH IF NOT EXISTS {sql_string(str(path))} AS {quote(alias)} (READ_ONLY)"
                )
                name = f"{quote(alias)}.{quote(TABLE)}"
                self._tables[key] = name
        return name

    def _build(self, target: Path, parquet: Path, rows: int, order: str) -> None:
        """Write a copy of the version file to ``target`` (in ``order``, numbered, if given)."""
        with self._lock:
            lock = self._builds.setdefault(target.name, threading.Lock())
        with lock:
            if target.is_file():
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            source = (
                f"SELECT * EXCLUDE (file_row_number), file_row_number AS {quote(ROW_COLUMN)} "
                f"FROM read_parquet({sql_string(str(parquet))}, file_row_number = true)"
            )
            if order:
                source = (
                    f"SELECT *, row_number() OVER (ORDER BY {order}) - 1 "
                    f"AS {quote(POSITION_COLUMN)} FROM ({source}) ORDER BY {quote(POSITION_COLUMN)}"
                )
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
                    con.execute(f"CREATE TABLE {quote(TABLE)} AS {source}")
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
