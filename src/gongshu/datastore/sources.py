"""Uploaded files as text columns for ingest: CSV/TSV, XLSX, JSON, NDJSON and Parquet.

``open_source`` looks at a file — format, encoding, delimiter, sheet, header — and returns a
DuckDB SELECT of ``_row`` plus one VARCHAR column per source column (``c0``, ``c1``, …). UTF-8
CSV/TSV is loaded by DuckDB's parallel ``read_csv`` straight into a temporary table (other
encodings are first transcoded to a UTF-8 file under ``workdir``, removed once loaded), and so
are JSON and NDJSON; such a table lives as long as the connection and spills to DuckDB's temp
directory. xlsx sheets are streamed to a Parquet file under ``workdir``; Parquet is read in
place. Rows whose every cell is empty are left out. This module tells the formats apart and
reads JSON, NDJSON and Parquet; :mod:`textfiles` reads CSV/TSV, :mod:`sheets` xlsx, and
:mod:`headers` finds their header rows.

``scan_text`` stops short of the load for CSV/TSV: it detects and returns a :class:`TextScan`
whose ``select`` reads the records in place, in file order but without row numbers — for
ingest's fast path, which types the records straight into the version file and needs row
numbers only when a cell did not convert (then it calls ``load_text``).

``_row`` is the number a person sees when opening the file: the sheet row (xlsx), the 1-based
record (JSON, NDJSON — blank lines are not records), the 1-based row (Parquet). For CSV/TSV it is
the record number as DuckDB's reject log counts it (title, header and blank lines count; a quoted
field's line breaks do not), so it is the line number until the first record with a line break
inside quotes; :mod:`textfiles` says how it is computed. Blank lines between records leave no
trace in DuckDB, so each lowers the ``_row`` of the records after it by one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from pathlib import Path

import duckdb

from gongshu.datastore.duck import quote, sql_string
from gongshu.datastore.rawsource import Progress, RawSource, run_reporting
from gongshu.datastore.sheets import open_sheet
from gongshu.datastore.textfiles import (
    DELIMITERS,
    MAX_LINE,
    TextScan,
    load_text,
    open_text,
    read_text,
    rejected_lines,
    rejects_sql,
    rejects_table,
    row_number_sql,
    scan_file,
)
from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.tabular import file_error

__all__ = [
    "DELIMITERS",
    "FORMATS",
    "MAX_LINE",
    "RawSource",
    "TextScan",
    "load_text",
    "open_source",
    "read_text",
    "rejected_lines",
    "rejects_sql",
    "rejects_table",
    "row_number_sql",
    "scan_text",
]

FORMATS = {
    ".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".tab": "tsv", ".xlsx": "xlsx", ".xlsm": "xlsx",
    ".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson", ".parquet": "parquet",
}  # fmt: skip


def open_source(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    filename: str,
    workdir: Path,
    sheet: str | None = None,
    progress: Progress | None = None,
) -> RawSource:
    """Open an upload for reading as text columns; refuses what cannot be read, saying where."""
    kind, size, magic = _inspect(path, filename)
    if kind in ("csv", "tsv"):
        return open_text(
            con, path, filename=filename, workdir=workdir, kind=kind, size=size, progress=progress
        )
    if kind == "xlsx":
        return open_sheet(path, filename=filename, workdir=workdir, sheet=sheet, progress=progress)
    if kind == "parquet":
        return _open_parquet(con, path, filename=filename, magic=magic)
    return _open_json(con, path, filename=filename, kind=kind)


def scan_text(
    path: Path, *, filename: str, workdir: Path, progress: Progress | None = None
) -> TextScan | None:
    """A CSV/TSV upload detected and ready to be read in place (None for other formats).

    Refuses what ``open_source`` refuses before reading the records; the caller reads the
    records with :meth:`TextScan.select`, checks them with :func:`rejected_lines`, and calls
    :meth:`TextScan.discard` when done. A non-UTF-8 file is transcoded first (``progress``).
    """
    kind, size, _magic = _inspect(path, filename)
    if kind not in ("csv", "tsv"):
        return None
    return scan_file(path, filename, workdir=workdir, kind=kind, size=size, progress=progress)


def _inspect(path: Path, filename: str) -> tuple[str, int, bytes]:
    """(format, size, first bytes), refusing unknown formats, empty files and disguised ones."""
    kind = FORMATS.get(Path(filename).suffix.lower())
    if kind is None:
        suffix = Path(filename).suffix or "(none)"
        known = ", ".join(sorted(set(FORMATS)))
        message = f"不支持的文件格式 {suffix} (unknown format {suffix}; use {known})"
        if suffix.lower() == ".xls":
            message = (
                "旧版 .xls 工作簿，请另存为 .xlsx 或 CSV (an old .xls workbook: save it as .xlsx)"
            )
        raise file_error(filename, message)
    size = path.stat().st_size
    if size == 0:
        raise file_error(filename, "文件是空的 (the file is empty: 0 bytes)")
    with path.open("rb") as file:
        magic = file.read(8)
    if kind in ("csv", "tsv", "json", "ndjson"):
        if magic.startswith(b"PK\x03\x04"):
            message = "是 xlsx 工作簿或 zip 压缩包，不是文本 (a workbook or zip archive, not text)"
            raise file_error(filename, message)
        if magic.startswith(b"PAR1"):
            raise file_error(filename, "是 Parquet 文件，不是文本 (a Parquet file, not text)")
    return kind, size, magic


# --- JSON, NDJSON and Parquet ----------------------------------------------------------------

_MALFORMED = re.compile(r"at byte (\d+) in (?:line|record/value) (\d+): (.*)", re.DOTALL)


def _open_json(
    con: duckdb.DuckDBPyConnection, path: Path, *, filename: str, kind: str
) -> RawSource:
    layout = "array" if kind == "json" else "newline_delimited"
    objects = (
        f"read_json_objects({sql_string(str(path))}, format = '{layout}', "
        f"maximum_object_size = {MAX_LINE})"
    )
    # One pass over the file: records grouped by key list (records share a few shapes).
    summary = f"""
        WITH shapes AS MATERIALIZED (
            SELECT json_keys(json) AS keys, json_type(json) AS kind, min(n) AS first,
                   count(*) AS records
            FROM (SELECT row_number() OVER () AS n, json FROM {objects}) GROUP BY ALL),
        keys AS (
            SELECT key, min(first) AS first, arg_min(position, first) AS position
            FROM (SELECT first, unnest(keys) AS key, generate_subscripts(keys, 1) AS position
                  FROM shapes WHERE kind = 'OBJECT')
            GROUP BY key)
        SELECT (SELECT sum(records) FROM shapes),
               (SELECT arg_min([CAST(first AS VARCHAR), kind], first) FROM shapes
                WHERE kind <> 'OBJECT'),
               (SELECT list(key ORDER BY first, position) FROM keys)"""
    try:
        found = con.execute(summary).fetchone()
    except duckdb.Error as exc:
        raise _jsonfile_error(filename, str(exc)) from None
    records, other, keys = found if found else (0, None, None)
    if other is not None:
        first, shape = int(other[0]), str(other[1]).lower()
        message = (
            f"第 {first} 条记录不是 JSON 对象 (record {first} is not a JSON object but {shape})"
        )
        raise file_error(filename, message, row=first)
    if not records:
        raise file_error(filename, "没有记录 (no records)")
    names = [str(key) for key in keys or []]
    if not names:
        raise file_error(filename, "记录里没有字段 (the records have no keys)")
    _check_names(names, filename=filename)
    declared = ", ".join(f"{sql_string(name)}: 'VARCHAR'" for name in names)
    listed = ", ".join(f"{quote(name)} AS c{index}" for index, name in enumerate(names))
    rows = (
        f"read_json({sql_string(str(path))}, format = '{layout}', records = true, "
        f"maximum_object_size = {MAX_LINE}, columns = {{{declared}}})"
    )
    table = f"gongshu_source_{uuid.uuid4().hex}"
    run_reporting(
        con, f"CREATE TEMP TABLE {quote(table)} AS SELECT {listed} FROM {rows}", None, 100
    )
    return _raw(f"SELECT rowid + 1 AS _row, * FROM {quote(table)}", names, kind)


def _jsonfile_error(filename: str, error: str) -> InvalidInput:
    match = _MALFORMED.search(error)
    if match is None:
        message = f"不是可读的 JSON 文件 (not a readable JSON file: {error.strip()})"
        if "top-level JSON array" in error:
            message = "JSON 文件应为对象数组 [{…}, …] (a JSON file must hold an array of objects)"
        return file_error(filename, message)
    # DuckDB names the record one past the bad one, counting records (not blank lines) from 1.
    record = int(match[2]) - 1
    what = match[3].strip()
    message = f"第 {record} 条记录不是有效的 JSON (record {record} is malformed JSON: {what})"
    return file_error(filename, message, row=record)


def _check_names(names: Sequence[str], *, filename: str) -> None:
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if not name.strip():
            message = f"第 {index + 1} 个字段名是空的 (field {index + 1} has an empty name)"
            raise file_error(filename, message, column=str(index + 1))
        earlier = seen.setdefault(name.casefold(), index)
        if earlier != index:
            message = (
                f"第 {earlier + 1} 个和第 {index + 1} 个字段同名“{name}” "
                f"(fields {earlier + 1} and {index + 1} are both named {name!r})"
            )
            raise file_error(filename, message, column=f"{earlier + 1}, {index + 1}")


def _open_parquet(
    con: duckdb.DuckDBPyConnection, path: Path, *, filename: str, magic: bytes
) -> RawSource:
    if not magic.startswith(b"PAR1"):
        raise file_error(filename, "不是 Parquet 文件 (not a Parquet file)")
    table = f"read_parquet({sql_string(str(path))})"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()
        counted = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    except duckdb.Error as exc:
        message = f"不是可读的 Parquet 文件 (not a readable Parquet file: {exc})"
        raise file_error(filename, message) from None
    if not counted or not counted[0]:
        raise file_error(filename, "没有数据行 (no rows)")
    names = [str(row[0]) for row in described]
    _check_names(names, filename=filename)
    texts = [
        f"{_as_text(quote(name), str(kind))} AS c{index}"
        for index, (name, kind, *_) in enumerate(described)
    ]
    sql = (
        f"SELECT file_row_number + 1 AS _row, {', '.join(texts)} "
        f"FROM read_parquet({sql_string(str(path))}, file_row_number = true)"
    )
    return _raw(sql, names, "parquet")


def _as_text(column: str, kind: str) -> str:
    """A Parquet column as text: nested values as JSON, binary as base64."""
    if kind == "VARCHAR":
        return column
    if kind == "BLOB":
        return f"base64({column})"
    if kind.endswith("]") or kind.startswith(("STRUCT", "MAP", "UNION")):
        return f"CAST(to_json({column}) AS VARCHAR)"
    return f"CAST({column} AS VARCHAR)"


def _raw(sql: str, names: Sequence[str], kind: str) -> RawSource:
    return RawSource(
        sql=sql,
        headers=tuple(names),
        format=kind,
        encoding="utf-8" if kind in ("json", "ndjson") else None,
        delimiter=None,
        sheet=None,
        header_rows=0,  # keys and the schema are not rows
        rejects_sql=None,
        temp_files=(),
    )
