"""CSV and TSV uploads: detected from a sample, then read in place or loaded by DuckDB.

A sample of the UTF-8 file (an upload in another encoding is first transcoded to a copy under
the workdir, see :mod:`encodings`) gives the delimiter and the header; a line longer than
``MAX_LINE`` refuses the file, as DuckDB would drop it without a trace. :func:`load_text`
loads the records with DuckDB's parallel ``read_csv`` into a temporary table, and
:meth:`TextScan.select` reads them in place. Malformed records are left out and logged by
DuckDB, then located by row and column (``rejects_sql``); more than ``MAX_REJECTED`` refuse the
file, as the delimiter or the format is then likely wrong.

``_row`` is the record number as DuckDB's reject log counts it. ``read_csv`` has no line
numbers, and ``row_number() OVER ()`` over it runs on a single thread (measured 2× the time of
the plain read); the load keeps file order, so the table's rowid is the record's ordinal, and
the records DuckDB rejected, known once loaded, are added back in (``row_number_sql``).
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import duckdb

from gongshu.datastore.duck import quote, run_with_progress, sql_string
from gongshu.datastore.encodings import CHUNK, SAMPLE, detect_encoding, transcode
from gongshu.datastore.headers import clean_cell, detect_header, only_header
from gongshu.datastore.rawsource import Progress, RawSource, run_reporting, text_columns
from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.tabular import HEADER_SCAN, file_error

__all__ = [
    "DELIMITERS",
    "MAX_LINE",
    "MAX_REJECTED",
    "REJECTS_LIMIT",
    "TextScan",
    "load_text",
    "open_text",
    "read_text",
    "rejected_lines",
    "rejects_sql",
    "rejects_table",
    "row_number_sql",
    "scan_file",
]

DELIMITERS = (",", "\t", ";", "|")
MAX_LINE = 16 << 20  # a longer CSV line refuses the file; a longer JSON record is malformed
MAX_REJECTED = 4096  # more malformed records than this: the file is refused
REJECTS_LIMIT = 10_000  # rows DuckDB logs (a record can have more than one)

_REJECT_REASONS = {
    "MISSING COLUMNS": "列数少于表头 (fewer columns than the header)",
    "TOO MANY COLUMNS": "列数多于表头 (more columns than the header)",
    "UNQUOTED VALUE": "引号使用不当 (bad quoting)",
    "LINE SIZE OVER MAXIMUM": f"记录过长 (a record longer than {MAX_LINE >> 20} MiB)",
    "INVALID ENCODING": "不是有效的 UTF-8 文本 (not valid UTF-8 text)",
}


@dataclass(frozen=True)
class TextScan:
    """A CSV/TSV upload, detected and not yet read: how to read its records in place.

    ``path`` is the UTF-8 file DuckDB reads — the upload, or its transcoded copy under the
    workdir (``transcoded``), which :meth:`discard` removes.
    """

    path: Path
    filename: str
    kind: str
    encoding: str
    delimiter: str
    headers: tuple[str, ...]
    header_rows: int
    skip: int
    transcoded: bool

    def source(self, sql: str, rejects_sql: str | None) -> RawSource:
        """What was read, as ingest reports it: ``sql`` selects the records (empty when they
        were read in place), ``rejects_sql`` the malformed ones."""
        return RawSource(
            sql=sql,
            headers=self.headers,
            format=self.kind,
            encoding=self.encoding,
            delimiter=self.delimiter,
            sheet=None,
            header_rows=self.header_rows,
            rejects_sql=rejects_sql,
            temp_files=(),
        )

    def select(self, tag: str) -> str:
        """A SELECT of the text columns c0… of every well-formed record, in file order.

        Malformed records are left out and logged to the table ``rejects_table(tag)``; a
        ``tag`` is used for one read only (each read appends to its log).
        """
        columns = text_columns(len(self.headers))
        options = ", ".join(
            [
                sql_string(str(self.path)),
                "header = false",
                f"skip = {self.skip}",
                "auto_detect = false",
                "all_varchar = true",
                f"delim = {sql_string(self.delimiter)}",
                "quote = '\"'",
                "escape = '\"'",
                "columns = {" + ", ".join(f"{sql_string(c)}: 'VARCHAR'" for c in columns) + "}",
                f"max_line_size = {MAX_LINE + 2}",  # DuckDB counts the line break in
                f"buffer_size = {2 * MAX_LINE}",  # DuckDB's default, 16 × that, is per thread
                "store_rejects = true",
                f"rejects_table = {sql_string(rejects_table(tag))}",
                f"rejects_scan = {sql_string(f'gongshu_scans_{tag}')}",
                f"rejects_limit = {REJECTS_LIMIT}",
            ]
        )
        return f"SELECT {', '.join(columns)} FROM read_csv({options})"

    def discard(self) -> None:
        """Remove the transcoded copy, if any (the upload itself is never touched)."""
        if self.transcoded:
            self.path.unlink(missing_ok=True)


def rejects_table(tag: str) -> str:
    """The name of the table a :meth:`TextScan.select` read logs malformed records to."""
    return f"gongshu_rejects_{tag}"


def open_text(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    filename: str,
    workdir: Path,
    kind: str,
    size: int,
    progress: Progress | None,
) -> RawSource:
    """A CSV/TSV upload detected and loaded (:func:`load_text`), transcoded first if need be."""
    scan = scan_file(path, filename, workdir=workdir, kind=kind, size=size, progress=progress)
    try:
        return load_text(con, scan, progress=_second_half(progress, scan, size))
    finally:
        scan.discard()  # loaded into DuckDB: a transcoded copy is not needed


def _second_half(progress: Progress | None, scan: TextScan, size: int) -> Progress | None:
    """Loading a transcoded file is the second half of the work (transcoding the first)."""
    if progress is None or not scan.transcoded:
        return progress
    return lambda done, total: progress(size + done * size // max(total, 1), 2 * size)


def scan_file(
    path: Path,
    filename: str,
    *,
    workdir: Path,
    kind: str,
    size: int,
    progress: Progress | None,
) -> TextScan:
    """A CSV/TSV upload detected, its records not yet read; transcoded first if not UTF-8."""
    encoding, codec, start = detect_encoding(path, size, filename=filename)
    if codec in ("utf-8", "utf-8-sig"):
        return _detect_text(path, filename=filename, kind=kind, encoding=encoding)
    halves = None if progress is None else (lambda done, total: progress(done, 2 * total))
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / f"source-{uuid.uuid4().hex}.csv"
    try:
        transcode(path, source, codec, start, size, filename=filename, progress=halves)
        return _detect_text(
            source, filename=filename, kind=kind, encoding=encoding, transcoded=True
        )
    except BaseException:
        source.unlink(missing_ok=True)
        raise


def _detect_text(
    source: Path, *, filename: str, kind: str, encoding: str, transcoded: bool = False
) -> TextScan:
    """Find the delimiter and the header in a sample of the UTF-8 file ``source``."""
    text, complete = _sample(source, filename=filename)
    _check_lines(source, filename=filename)
    delimiter = "\t" if kind == "tsv" else _sniff(text, complete)
    records = _records(text, delimiter, complete)
    top = [[clean_cell(cell) for cell in record] for record in records[: HEADER_SCAN + 1]]
    index, height, names = detect_header(top, filename=filename)
    skip = index + height
    if complete and not any(any(cell.strip() for cell in record) for record in records[skip:]):
        raise only_header(filename)
    return TextScan(
        path=source, filename=filename, kind=kind, encoding=encoding, delimiter=delimiter,
        headers=tuple(names), header_rows=height, skip=skip, transcoded=transcoded,
    )  # fmt: skip


def read_text(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    *,
    filename: str,
    progress: Callable[[float], None] | None = None,
) -> list[tuple[Any, ...]]:
    """Run ``sql`` (a statement reading a :class:`TextScan`), naming the file if DuckDB fails;
    ``progress`` hears DuckDB's progress (0–100) meanwhile."""
    try:
        return run_with_progress(con, sql, progress)
    except duckdb.Error as exc:
        message = f"不是可读的 CSV 文件 (not a readable CSV file: {str(exc).splitlines()[0]})"
        raise file_error(filename, message) from None


def rejected_lines(con: duckdb.DuckDBPyConnection, scan: TextScan, tag: str) -> list[int]:
    """DuckDB's record numbers of the malformed records one read left out, in order; refuses
    the file when there are so many that the delimiter or format is likely wrong."""
    logged = con.execute(f"SELECT line FROM {quote(rejects_table(tag))}").fetchall()
    rejected = sorted({int(line) for (line,) in logged})
    if len(rejected) > MAX_REJECTED or len(logged) >= REJECTS_LIMIT:
        message = (
            f"超过 {MAX_REJECTED} 条记录结构有误，分隔符或格式可能不对 (more than {MAX_REJECTED} "
            "malformed records: is it CSV, with this delimiter?)"
        )
        raise file_error(scan.filename, message)
    return rejected


def rejects_sql(scan: TextScan, tag: str) -> str:
    """The located structural errors of one read: SELECT row, column, value, reason."""
    return _rejects_sql(rejects_table(tag), scan.headers)


def load_text(
    con: duckdb.DuckDBPyConnection, scan: TextScan, *, progress: Progress | None = None
) -> RawSource:
    """Load the whole UTF-8 file with DuckDB's ``read_csv`` into a temporary table.

    A parallel, order-keeping load: the table's rowid is then the record's ordinal and numbers
    rows in parallel, where row_number() OVER () over read_csv runs on one thread.
    """
    tag = uuid.uuid4().hex
    table = f"gongshu_source_{tag}"
    create = f"CREATE TEMP TABLE {quote(table)} AS {scan.select(tag)}"
    try:
        run_reporting(con, create, progress, 100)
    except duckdb.Error as exc:
        message = f"不是可读的 CSV 文件 (not a readable CSV file: {str(exc).splitlines()[0]})"
        raise file_error(scan.filename, message) from None
    try:
        rejected = rejected_lines(con, scan, tag)
    except InvalidInput:
        con.execute(f"DROP TABLE {quote(table)}")
        raise
    listed = ", ".join(text_columns(len(scan.headers)))
    sql = (
        f"SELECT {row_number_sql(scan.skip, rejected)} AS _row, {listed} FROM {quote(table)} "
        f"WHERE coalesce({listed}) IS NOT NULL"
    )
    return scan.source(sql, rejects_sql(scan, tag) if rejected else None)


def row_number_sql(skip: int, rejected: Sequence[int]) -> str:
    """``_row`` from the table's rowid: the record number, past the records DuckDB rejected.

    The j-th rejected record (DuckDB's record number r_j, 1-based j) moves every record with
    rowid >= r_j - skip - j one number further; a balanced CASE tree counts those thresholds.
    """
    thresholds = [line - skip - j for j, line in enumerate(rejected, start=1)]

    def passed(low: int, high: int) -> str:  # how many thresholds[low:high] are <= rowid, + low
        if low == high:
            return str(low)
        middle = (low + high) // 2
        below, above = passed(low, middle), passed(middle + 1, high)
        return f"CASE WHEN rowid < {thresholds[middle]} THEN {below} ELSE {above} END"

    shift = f" + {passed(0, len(thresholds))}" if thresholds else ""
    return f"rowid + {skip + 1}{shift}"


def _rejects_sql(errors: str, names: Sequence[str]) -> str:
    headers = ", ".join(f"('c{i}', {sql_string(name)})" for i, name in enumerate(names))
    reasons = " ".join(
        f"WHEN {sql_string(kind)} THEN {sql_string(text)}" for kind, text in _REJECT_REASONS.items()
    )
    return (
        'SELECT e.line AS "row", coalesce(h.header, \'\') AS "column", '
        'left(e.csv_line, 1000) AS "value", '
        f"concat(CASE CAST(e.error_type AS VARCHAR) {reasons} ELSE CAST(e.error_type AS VARCHAR) "
        "END, ': ', e.error_message) AS reason "
        f"FROM {quote(errors)} AS e LEFT JOIN (VALUES {headers}) AS h(name, header) "
        "ON e.column_name = h.name"
    )


def _sample(source: Path, *, filename: str) -> tuple[str, bool]:
    """The file's first records as text, and whether that is the whole file."""
    with source.open("rb") as file:
        data = file.read(SAMPLE)
        # A header wider than the sample: read on to the first line break, up to MAX_LINE.
        while b"\n" not in data and b"\r" not in data and len(data) < MAX_LINE:
            more = file.read(SAMPLE)
            if not more:
                break
            data += more
        complete = not file.read(1)
    if not complete and b"\n" not in data and b"\r" not in data:
        message = (
            f"第 1 行超过 {MAX_LINE >> 20} MiB，没有换行 "
            f"(line 1 is longer than {MAX_LINE >> 20} MiB: no line break)"
        )
        raise file_error(filename, message, row=1)
    return codecs.getincrementaldecoder("utf-8-sig")("replace").decode(data, complete), complete


def _check_lines(source: Path, *, filename: str) -> None:
    """Refuse a line longer than MAX_LINE: DuckDB drops one longer than its buffer unlogged.

    Only the first and the last line break of each window of MAX_LINE bytes are looked for,
    by small reads at each end of it, so a file of well-formed lines costs next to nothing.
    Only a run of windows without a line break can hold a long line. (Not a memory map: the
    kernel maps whole large folios of the page cache on each touch, and a 1.6 GB file showed
    1.4 GB of resident memory for it.)
    """
    size = min(CHUNK, MAX_LINE)
    with source.open("rb") as file:
        fd = file.fileno()
        length = os.fstat(fd).st_size
        if not length:
            return
        start = _long_line(fd, length, size)
        if start is None:
            return
        line, cr = 1, False  # cr: the piece before ended with CR
        for at in range(0, start, size):
            piece = os.pread(fd, min(size, start - at), at)
            crlf = piece.count(b"\r\n") + (cr and piece.startswith(b"\n"))
            line += piece.count(b"\n") + piece.count(b"\r") - crlf
            cr = piece.endswith(b"\r")
    message = (
        f"第 {line} 行超过 {MAX_LINE >> 20} MiB "
        f"(line {line} is longer than {MAX_LINE >> 20} MiB, from byte offset {start})"
    )
    raise file_error(filename, message, row=line)


_PROBE = 1 << 16  # bytes read at a time when looking for a window's first or last line break


def _line_break(fd: int, start: int, end: int, *, last: bool) -> int:
    """The offset of the first (``last``: the last) line break, LF or CR, in [start, end), or
    -1; read in small pieces from that end."""
    at = end if last else start
    while (at > start) if last else (at < end):
        low, high = (max(start, at - _PROBE), at) if last else (at, min(end, at + _PROBE))
        piece = os.pread(fd, high - low, low)
        if last:
            found = max(piece.rfind(b"\n"), piece.rfind(b"\r"))
        else:
            found = min((i for i in (piece.find(b"\n"), piece.find(b"\r")) if i >= 0), default=-1)
        if found >= 0:
            return low + found
        at = low if last else high
    return -1


def _long_line(fd: int, length: int, size: int) -> int | None:
    """The offset where a line longer than MAX_LINE starts, if any (windows of ``size``)."""
    last = -1  # offset of the last line break so far
    for offset in range(0, length, size):
        end = min(offset + size, length)
        first = _line_break(fd, offset, end, last=False)
        if (first if first >= 0 else end) - last - 1 > MAX_LINE:
            return last + 1
        if first >= 0:
            last = _line_break(fd, first, end, last=True)
    return None


def _records(text: str, delimiter: str, complete: bool) -> list[list[str]]:
    """The sample's records (up to 200); the last one dropped when the sample is cut short."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"')
    records: list[list[str]] = []
    try:
        records.extend(islice(reader, 201 if complete else 202))
    except csv.Error:  # a field beyond the csv module's limit: sniff on what came before
        return records
    return records if complete else records[:-1]


def _sniff(text: str, complete: bool) -> str:
    """The delimiter that splits the sample's records into the most consistent columns."""
    best: tuple[tuple[bool, float, int], str] | None = None
    for delimiter in DELIMITERS:
        widths = [len(r) for r in _records(text, delimiter, complete) if any(r)]
        if not widths:
            continue
        mode = max(set(widths), key=lambda width: (widths.count(width), width))
        score = (mode > 1, widths.count(mode) / len(widths), mode)
        if best is None or score > best[0]:
            best = (score, delimiter)
    return best[1] if best is not None and best[0][0] else ","
