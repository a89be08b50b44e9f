"""Catalogue spreadsheets: read departments' xlsx/CSV files into rows, write exports and templates.

Reading forgives layout — title rows, two-row headers, decorated and alias headers, full-width
characters, GBK or BOM CSVs — and is strict about content: every unknown value becomes a
``CellError`` naming the row and the column header the user sees. ``input_to_row`` is the
inverse of ``row_to_input``, so an export reads back to the same input.

This module is the catalogue's one door to spreadsheets. Behind it: the domain-free reading in
``gongshu.kernel.tabular`` (streamed xlsx, CSV decoding, header finding), then
``sheet_headers`` (which header names which column), ``sheet_cells`` (cell text ↔ entry input)
and ``sheet_writers`` (exports and the template).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, islice

from gongshu.catalog.sheet_cells import CellError, SheetRow, input_to_row, row_to_input
from gongshu.catalog.sheet_headers import column_of, header_of, map_header, no_header
from gongshu.catalog.sheet_writers import template_xlsx, write_csv, write_xlsx
from gongshu.catalog.vocab import Column
from gongshu.kernel.tabular import (
    HEADER_SCAN,
    cell_text,
    csv_rows,
    decode_csv,
    file_kind,
    open_xlsx,
    sniff_delimiter,
    unguard_formula,
)

__all__ = [
    "CellError",
    "SheetRow",
    "Table",
    "input_to_row",
    "read_table",
    "row_to_input",
    "template_xlsx",
    "write_csv",
    "write_xlsx",
]


@dataclass(frozen=True)
class Table:
    """A read sheet: its data rows, the columns found, headers not understood (warnings)."""

    rows: list[SheetRow]
    columns: list[Column]
    unknown_headers: list[str]
    header_row: int
    sheet: str


def _csv_text(value: object) -> str:
    # write_csv quotes formula-like cells with "'" against CSV injection; undo that here.
    return unguard_formula(cell_text(value))


def _read_records(
    records: Iterator[Sequence[object]],
    convert: Callable[[object], str],
    *,
    filename: str,
    sheet: str,
) -> Table | None:
    """Find the header in the first rows, then stream the rest; None when there is no header."""
    top = list(islice(records, HEADER_SCAN + 1))
    header = header_of([[convert(value) for value in record] for record in top])
    if header is None:
        return None
    mapping, unknown = map_header(header, filename=filename, sheet=sheet)
    first_data = header.index + header.height
    rows: list[SheetRow] = []
    numbered = enumerate(top[first_data:], start=first_data + 1)
    rest = enumerate(records, start=len(top) + 1)
    for number, record in chain(numbered, rest):
        width = len(record)
        cells = {col: convert(record[i]) if i < width else "" for i, col in mapping}
        # Skipped: blank rows (or only 序号 filled), and the header repeated above a new block.
        if any(cells.values()) and column_of(cells.get(Column.NAME, "")) is not Column.NAME:
            rows.append(SheetRow(number, cells))
    return Table(rows, [column for _, column in mapping], unknown, first_data, sheet)


def _read_xlsx(data: bytes, *, filename: str, sheet: str | None) -> Table:
    with open_xlsx(data, filename=filename) as book:
        names = [sheet] if sheet is not None else book.sheets
        for name in names:
            table = _read_records(book.rows(name), cell_text, filename=filename, sheet=name)
            if table is not None:
                return table
        raise no_header(filename, names[0] if names else "")


def _csv_score(top: list[list[str]]) -> tuple[int, bool, int] | None:
    header = header_of([[_csv_text(cell) for cell in record] for record in top])
    return None if header is None else header.score


def _read_csv(data: bytes, *, filename: str) -> Table:
    text = decode_csv(data, filename=filename)
    # The delimiter is whichever one makes the best header.
    delimiter = sniff_delimiter(text, _csv_score, filename=filename)
    if delimiter is None:
        raise no_header(filename, "")
    records = csv_rows(text, delimiter=delimiter, filename=filename)
    table = _read_records(records, _csv_text, filename=filename, sheet="")
    if table is None:  # pragma: no cover - the same rows found a header above
        raise no_header(filename, "")
    return table


def read_table(data: bytes, *, filename: str, sheet: str | None = None) -> Table:
    """Read an uploaded xlsx or CSV catalogue into rows keyed by exchange column."""
    if file_kind(data, filename=filename) == "xlsx":
        return _read_xlsx(data, filename=filename, sheet=sheet)
    return _read_csv(data, filename=filename)
