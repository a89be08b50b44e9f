"""xlsx workbooks as text columns: one sheet streamed to a Parquet file under the workdir.

A workbook is a zip archive: it is checked for zip bombs before anything is inflated. The
sheet's rows are then read once, in order — the header found among the first rows, the data
rows written in batches of ``BATCH_ROWS`` as text, numbered as the sheet numbers them, and any
cell to the right of the last header logged to a second Parquet file as a reject.
"""

from __future__ import annotations

import uuid
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, islice
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter

from gongshu.datastore.duck import sql_string
from gongshu.datastore.headers import clean_cell, detect_header, only_header
from gongshu.datastore.rawsource import Progress, RawSource, text_columns
from gongshu.kernel.tabular import HEADER_SCAN, cell_text, file_error, open_xlsx

__all__ = ["BATCH_ROWS", "XLSX_MAX_RATIO", "XLSX_MAX_UNZIPPED", "open_sheet"]

XLSX_MAX_UNZIPPED = 1 << 30  # the limit open_xlsx enforces, checked first to say why
XLSX_MAX_RATIO = 200  # sheet XML compresses 5-50×; a zip bomb 1000× and more
BATCH_ROWS = 50_000


def open_sheet(
    path: Path, *, filename: str, workdir: Path, sheet: str | None, progress: Progress | None
) -> RawSource:
    """One sheet of an xlsx upload (the first unless ``sheet`` names one) as text columns."""
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
            index, height, names = detect_header(
                [[clean_cell(cell_text(value)) for value in row] for row in top],
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
        raise only_header(filename, name)
    listed = ", ".join(text_columns(len(names)))
    rejects_sql = None
    if rejected:
        rejects_sql = (
            f'SELECT "row", "column", "value", reason FROM read_parquet({sql_string(str(rejects))})'
        )
    return RawSource(
        sql=f"SELECT _row, {listed} FROM read_parquet({sql_string(str(target))})",
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
    columns = text_columns(width)
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
