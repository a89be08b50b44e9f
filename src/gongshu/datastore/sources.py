"""Uploaded files as text columns for ingest: CSV/TSV, XLSX, JSON, NDJSON and Parquet.

``open_source`` looks at a file — format, encoding, delimiter, sheet, header — and returns a
DuckDB SELECT of ``_row`` plus one VARCHAR column per source column (``c0``, ``c1``, …). UTF-8
CSV/TSV is loaded by DuckDB's parallel ``read_csv`` straight into a temporary table (other
encodings are first transcoded to a UTF-8 file under ``workdir``, removed once loaded), and so
are JSON and NDJSON; such a table lives as long as the connection and spills to DuckDB's temp
directory. xlsx sheets are streamed to a Parquet file under ``workdir``; Parquet is read in
place. Rows whose every cell is empty are left out.

``scan_text`` stops short of the load for CSV/TSV: it detects and returns a :class:`TextScan`
whose ``select`` reads the records in place, in file order but without row numbers — for
ingest's fast path, which types the records straight into the version file and needs row
numbers only when a cell did not convert (then it calls ``load_text``).

``_row`` is the number a person sees when opening the file: the sheet row (xlsx), the 1-based
record (JSON, NDJSON — blank lines are not records), the 1-based row (Parquet). For CSV/TSV it is
the record number as DuckDB's reject log counts it (title, header and blank lines count; a quoted
field's line breaks do not), so it is the line number until the first record with a line break
inside quotes. ``read_csv`` has no line numbers, and ``row_number() OVER ()`` over it runs on a
single thread (measured 2× the time of the plain read); the load keeps file order, so the
table's rowid is the record's ordinal, and the records DuckDB rejected (``rejects_sql``), known
once loaded, are added back in. Blank lines between records leave no trace in DuckDB, so each
lowers the ``_row`` of the records after it by one.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter

from gongshu.datastore.duck import run_with_progress
from gongshu.datastore.encodings import CHUNK, SAMPLE, detect_encoding, transcode
from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.tabular import (
    HEADER_SCAN,
    cell_text,
    file_error,
    join_header,
    open_xlsx,
)

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
DELIMITERS = (",", "\t", ";", "|")
MAX_LINE = 16 << 20  # a longer CSV line refuses the file; a longer JSON record is malformed
XLSX_MAX_UNZIPPED = 1 << 30  # the limit open_xlsx enforces, checked first to say why
XLSX_MAX_RATIO = 200  # sheet XML compresses 5-50×; a zip bomb 1000× and more
BATCH_ROWS = 50_000
MAX_REJECTED = 4096  # more malformed records than this: the file is refused
REJECTS_LIMIT = 10_000  # rows DuckDB logs (a record can have more than one)

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
        scan = _scan_text(path, filename, workdir=workdir, kind=kind, size=size, progress=progress)
        try:
            return load_text(con, scan, progress=_second_half(progress, scan, size))
        finally:
            scan.discard()  # loaded into DuckDB: a transcoded copy is not needed
    if kind == "xlsx":
        return _open_xlsx(path, filename=filename, workdir=workdir, sheet=sheet, progress=progress)
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
    return _scan_text(path, filename, workdir=workdir, kind=kind, size=size, progress=progress)


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


# --- shared ----------------------------------------------------------------------------------


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _columns(width: int) -> list[str]:
    return [f"c{index}" for index in range(width)]


_NOT_A_NAME = re.compile(r"[\d\s.,:/%+\-年月日时分秒]*")  # numbers, dates and times
_BREAK = re.compile(r"\s*\n\s*")
_WIDE_CHAR = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]")
_SPACE_RUN = re.compile(r"\s+")
_WIDE_GAP = re.compile(r"(?<=[\u2e80-\u9fff\uf900-\ufaff])\s+(?=[\u2e80-\u9fff\uf900-\ufaff])")


def _clean(text: str) -> str:
    """Header text: trimmed, full-width folded, a wrapped header's lines joined."""
    text = cell_text(text.replace("\u00a0", " "))
    if "\n" in text:
        parts = _BREAK.split(text)
        text = parts[0]
        for part in parts[1:]:
            wide = _WIDE_CHAR.match(text[-1:]) or _WIDE_CHAR.match(part[:1])
            text += part if wide else f" {part}"
    # "姓　名" (spaced out to line up in a form) is 姓名; "Phone  number" keeps one space.
    return _SPACE_RUN.sub(" ", _WIDE_GAP.sub("", text))


def _name_of(text: str) -> str | None:
    """A cell that could be a column name: text, not a number or a date."""
    return text if text and not _NOT_A_NAME.fullmatch(text) else None


def _joined(upper: Sequence[str], lower: Sequence[str]) -> list[str]:
    """A two-row header as one: the lower cell, else the merged cell above spanning down.

    Repeated lower names ("收入" under both "2023年" and "2024年") take the merged cell above
    them as a prefix: "2023年收入", "2024年收入".
    """
    repeated = {text for text in lower if text and list(lower).count(text) > 1}
    return join_header(upper, lower, lambda text: text not in repeated)


def _stacked(upper: Sequence[str], lower: Sequence[str]) -> bool:
    """Whether two rows look like one header of merged cells (not a header and a data row).

    The lower row holds only names, sits under empty (horizontally merged) cells of the upper
    row, and either leaves some upper cell alone (merged down) or the upper row is mostly empty.
    """
    width = max(len(upper), len(lower))
    cells = [
        (upper[i] if i < len(upper) else "", lower[i] if i < len(lower) else "")
        for i in range(width)
    ]
    if any(low and _name_of(low) is None for _, low in cells):
        return False
    across = any(low and not up for up, low in cells)
    down = any(up and not low for up, low in cells)
    filled = sum(1 for up, _ in cells if up)
    return across and (down or 2 * filled <= width)


def _find_header(top: Sequence[Sequence[str]]) -> tuple[int, int, list[str]] | None:
    """The row or stacked row pair among the first that names the most columns.

    On a tie a single row beats a pair and an earlier row a later one, so a title row above a
    header, or text data below it, does not win. (``tabular.find_header`` suits known
    vocabularies; with any text a name, its joins would take a data row for a second row.)
    """
    best: tuple[tuple[int, bool, int], int, int, list[str]] | None = None
    for index in range(min(HEADER_SCAN, len(top))):
        options = [(1, list(top[index]))]
        if index + 1 < len(top) and _stacked(top[index], top[index + 1]):
            options.append((2, _joined(top[index], top[index + 1])))
        for height, names in options:
            named = sum(1 for name in names if _name_of(name) is not None)
            score = (named, height == 1, -index)
            if named and (best is None or score > best[0]):
                best = (score, index, height, names)
    return None if best is None else best[1:]


def _header(
    top: Sequence[Sequence[str]], *, filename: str, sheet: str = ""
) -> tuple[int, int, list[str]]:
    """(first header row, header height, column names), refusing empty and repeated names."""
    found = _find_header(top)
    if found is None:
        message = (
            f"前 {HEADER_SCAN} 行没有表头 (no header row in the first {HEADER_SCAN} rows: "
            "a header names the columns with text)"
        )
        raise file_error(filename, message, sheet=sheet)
    index, height, names = found
    while names and not names[-1]:
        names.pop()
    row = index + height
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        column = get_column_letter(position + 1)
        if not name:
            message = f"第 {column} 列没有表头 (column {column} has no header)"
            raise file_error(filename, message, sheet=sheet, row=row, column=column)
        earlier = seen.setdefault(name.casefold(), position)
        if earlier != position:
            first = get_column_letter(earlier + 1)
            message = (
                f"第 {first} 列和第 {column} 列的表头都是“{name}” "
                f"(columns {first} and {column} are both headed {name!r})"
            )
            raise file_error(filename, message, sheet=sheet, row=row, column=f"{first}, {column}")
    return index, height, names


def _only_header(filename: str, sheet: str = "") -> InvalidInput:
    return file_error(filename, "只有表头，没有数据行 (a header but no data rows)", sheet=sheet)


# --- CSV and TSV -----------------------------------------------------------------------------

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
        columns = _columns(len(self.headers))
        options = ", ".join(
            [
                _literal(str(self.path)),
                "header = false",
                f"skip = {self.skip}",
                "auto_detect = false",
                "all_varchar = true",
                f"delim = {_literal(self.delimiter)}",
                "quote = '\"'",
                "escape = '\"'",
                "columns = {" + ", ".join(f"{_literal(c)}: 'VARCHAR'" for c in columns) + "}",
                f"max_line_size = {MAX_LINE + 2}",  # DuckDB counts the line break in
                f"buffer_size = {2 * MAX_LINE}",  # DuckDB's default, 16 × that, is per thread
                "store_rejects = true",
                f"rejects_table = {_literal(rejects_table(tag))}",
                f"rejects_scan = {_literal(f'gongshu_scans_{tag}')}",
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


def _second_half(progress: Progress | None, scan: TextScan, size: int) -> Progress | None:
    """Loading a transcoded file is the second half of the work (transcoding the first)."""
    if progress is None or not scan.transcoded:
        return progress
    return lambda done, total: progress(size + done * size // max(total, 1), 2 * size)


def _scan_text(
    path: Path,
    filename: str,
    *,
    workdir: Path,
    kind: str,
    size: int,
    progress: Progress | None,
) -> TextScan:
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
    top = [[_clean(cell) for cell in record] for record in records[: HEADER_SCAN + 1]]
    index, height, names = _header(top, filename=filename)
    skip = index + height
    if complete and not any(any(cell.strip() for cell in record) for record in records[skip:]):
        raise _only_header(filename)
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
    logged = con.execute(f"SELECT line FROM {_ident(rejects_table(tag))}").fetchall()
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
    create = f"CREATE TEMP TABLE {_ident(table)} AS {scan.select(tag)}"
    try:
        _run(con, create, progress, 100)
    except duckdb.Error as exc:
        message = f"不是可读的 CSV 文件 (not a readable CSV file: {str(exc).splitlines()[0]})"
        raise file_error(scan.filename, message) from None
    try:
        rejected = rejected_lines(con, scan, tag)
    except InvalidInput:
        con.execute(f"DROP TABLE {_ident(table)}")
        raise
    listed = ", ".join(_columns(len(scan.headers)))
    sql = (
        f"SELECT {row_number_sql(scan.skip, rejected)} AS _row, {listed} FROM {_ident(table)} "
        f"WHERE coalesce({listed}) IS NOT NULL"
    )
    return scan.source(sql, rejects_sql(scan, tag) if rejected else None)


def _run(con: duckdb.DuckDBPyConnection, sql: str, progress: Progress | None, total: int) -> None:
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
    headers = ", ".join(f"('c{i}', {_literal(name)})" for i, name in enumerate(names))
    reasons = " ".join(
        f"WHEN {_literal(kind)} THEN {_literal(text)}" for kind, text in _REJECT_REASONS.items()
    )
    return (
        'SELECT e.line AS "row", coalesce(h.header, \'\') AS "column", '
        'left(e.csv_line, 1000) AS "value", '
        f"concat(CASE CAST(e.error_type AS VARCHAR) {reasons} ELSE CAST(e.error_type AS VARCHAR) "
        "END, ': ', e.error_message) AS reason "
        f"FROM {_ident(errors)} AS e LEFT JOIN (VALUES {headers}) AS h(name, header) "
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

    Only the first and last line break of each chunk are looked for, so the pass costs little
    more than reading the file: a chunk is no longer than a line may be, so only a run of
    chunks without a line break can hold a long line.
    """
    size = min(CHUNK, MAX_LINE)
    last = -1  # offset of the last line break so far
    offset = 0
    start: int | None = None  # where a long line starts
    with source.open("rb") as file:
        while start is None and (chunk := file.read(size)):
            first = chunk.find(b"\n")
            if first < 0:
                first = chunk.find(b"\r")  # old Mac line ends
            if offset + (first if first >= 0 else len(chunk)) - last - 1 > MAX_LINE:
                start = last + 1
            elif first >= 0:
                last = offset + max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
            offset += len(chunk)
        if start is None:
            return
        file.seek(0)
        line = 1
        for at in range(0, start, size):
            line += file.read(min(size, start - at)).count(b"\n")
    message = (
        f"第 {line} 行超过 {MAX_LINE >> 20} MiB "
        f"(line {line} is longer than {MAX_LINE >> 20} MiB, from byte offset {start})"
    )
    raise file_error(filename, message, row=line)


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


# --- xlsx ------------------------------------------------------------------------------------


def _open_xlsx(
    path: Path, *, filename: str, workdir: Path, sheet: str | None, progress: Progress | None
) -> RawSource:
    _guard_zip(path, filename=filename)
    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / f"sheet-{uuid.uuid4().hex}.parquet"
    rejects = workdir / f"rejects-{uuid.uuid4().hex}.parquet"
    try:
        with open_xlsx(path, filename=filename) as book:
            if not book.sheets:
                raise file_error(filename, "工作簿里没有工作表 (the workbook has no worksheet)")
            name = book.sheets[0] if sheet is None else sheet
            rows = book.rows(name)  # an unknown name is refused, listing the sheets
            top = list(islice(rows, HEADER_SCAN + 1))
            index, height, names = _header(
                [[_clean(cell_text(value)) for value in row] for row in top],
                filename=filename,
                sheet=name,
            )
            first = index + height
            numbered = chain(enumerate(top[first:], first + 1), enumerate(rows, len(top) + 1))
            written, rejected = _write_sheet(numbered, names, target, rejects, progress=progress)
    except BaseException:
        target.unlink(missing_ok=True)
        rejects.unlink(missing_ok=True)
        raise
    if not written:
        target.unlink(missing_ok=True)
        rejects.unlink(missing_ok=True)
        raise _only_header(filename, name)
    listed = ", ".join(_columns(len(names)))
    rejects_sql = None
    if rejected:
        rejects_sql = (
            f'SELECT "row", "column", "value", reason FROM read_parquet({_literal(str(rejects))})'
        )
    return RawSource(
        sql=f"SELECT _row, {listed} FROM read_parquet({_literal(str(target))})",
        headers=tuple(names),
        format="xlsx",
        encoding=None,
        delimiter=None,
        sheet=name,
        header_rows=height,
        rejects_sql=rejects_sql,
        temp_files=(target, rejects) if rejected else (target,),
    )


def _guard_zip(path: Path, *, filename: str) -> None:
    """Refuse what is not a zip archive, and zip bombs, before inflating anything."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise file_error(
            filename, "不是 xlsx 工作簿：不是 zip 压缩包 (not an xlsx workbook: not a zip archive)"
        ) from None
    with archive:
        infos = archive.infolist()
    total = sum(info.file_size for info in infos)
    if total > XLSX_MAX_UNZIPPED:
        limit = XLSX_MAX_UNZIPPED >> 20
        message = (
            f"解压后 {total >> 20} MiB，超过 {limit} MiB 上限，疑似 zip 炸弹 "
            f"(inflates to {total >> 20} MiB, beyond the {limit} MiB limit: a zip bomb?)"
        )
        raise file_error(filename, message)
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > (1 << 20) and ratio > XLSX_MAX_RATIO:
            message = (
                f"{info.filename} 的压缩比 {ratio:.0f}:1 超过 {XLSX_MAX_RATIO}:1，疑似 zip 炸弹 "
                f"({info.filename} compresses {ratio:.0f}:1, beyond {XLSX_MAX_RATIO}:1: "
                "a zip bomb?)"
            )
            raise file_error(filename, message)


def _write_sheet(
    rows: Iterable[tuple[int, list[Any]]],
    names: Sequence[str],
    target: Path,
    rejects: Path,
    *,
    progress: Progress | None,
) -> tuple[int, int]:
    """Write data rows as text to ``target`` in batches; cells past the header to ``rejects``."""
    width = len(names)
    columns = _columns(width)
    schema = pa.schema([("_row", pa.int64()), *((c, pa.string()) for c in columns)])
    reject_schema = pa.schema(
        [("row", pa.int64()), ("column", pa.string()), ("value", pa.string()),
         ("reason", pa.string())]
    )  # fmt: skip
    written = rejected = 0
    reject_writer: pq.ParquetWriter | None = None
    try:
        with pq.ParquetWriter(target, schema) as writer:
            for batch, extra in _batches(rows, width):
                if batch[0]:
                    writer.write_table(pa.table(batch, schema=schema))
                    written += len(batch[0])
                    if progress is not None:
                        progress(written, 0)  # the total is not known before the end
                if extra[0]:
                    if reject_writer is None:
                        reject_writer = pq.ParquetWriter(rejects, reject_schema)
                    reject_writer.write_table(pa.table(extra, schema=reject_schema))
                    rejected += len(extra[0])
    finally:
        if reject_writer is not None:
            reject_writer.close()
    return written, rejected


def _batches(
    rows: Iterable[tuple[int, list[Any]]], width: int
) -> Iterator[tuple[list[list[Any]], list[list[Any]]]]:
    """Column lists of up to BATCH_ROWS non-empty rows, and the cells beyond the header."""
    data: list[list[Any]] = [[] for _ in range(width + 1)]
    extra: list[list[Any]] = [[], [], [], []]
    beyond = "表头以外的单元格有内容 (a cell to the right of the last header)"
    for number, values in rows:
        texts = [cell_text(value) for value in values]
        for position in range(width, len(texts)):
            if texts[position]:
                extra[0].append(number)
                extra[1].append(get_column_letter(position + 1))
                extra[2].append(texts[position])
                extra[3].append(beyond)
        if not any(texts[:width]):
            continue
        data[0].append(number)
        for position in range(width):
            text = texts[position] if position < len(texts) else ""
            data[position + 1].append(text or None)
        if len(data[0]) >= BATCH_ROWS:
            yield data, extra
            data = [[] for _ in range(width + 1)]
            extra = [[], [], [], []]
    yield data, extra


# --- JSON, NDJSON and Parquet ----------------------------------------------------------------

_MALFORMED = re.compile(r"at byte (\d+) in (?:line|record/value) (\d+): (.*)", re.DOTALL)


def _open_json(
    con: duckdb.DuckDBPyConnection, path: Path, *, filename: str, kind: str
) -> RawSource:
    layout = "array" if kind == "json" else "newline_delimited"
    objects = (
        f"read_json_objects({_literal(str(path))}, format = '{layout}', "
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
    declared = ", ".join(f"{_literal(name)}: 'VARCHAR'" for name in names)
    listed = ", ".join(f"{_ident(name)} AS c{index}" for index, name in enumerate(names))
    rows = (
        f"read_json({_literal(str(path))}, format = '{layout}', records = true, "
        f"maximum_object_size = {MAX_LINE}, columns = {{{declared}}})"
    )
    table = f"gongshu_source_{uuid.uuid4().hex}"
    _run(con, f"CREATE TEMP TABLE {_ident(table)} AS SELECT {listed} FROM {rows}", None, 100)
    return _raw(f"SELECT rowid + 1 AS _row, * FROM {_ident(table)}", names, kind)


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
    table = f"read_parquet({_literal(str(path))})"
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
        f"{_as_text(_ident(name), str(kind))} AS c{index}"
        for index, (name, kind, *_) in enumerate(described)
    ]
    sql = (
        f"SELECT file_row_number + 1 AS _row, {', '.join(texts)} "
        f"FROM read_parquet({_literal(str(path))}, file_row_number = true)"
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
