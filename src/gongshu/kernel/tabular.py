"""Tabular files people send: xlsx workbooks and CSV text read as rows of cell values.

xlsx rows are streamed straight from the sheet XML. openpyxl's read-only mode measured ~1,150
rows/s on its own exports: it parses a sheet twice when <dimension> is absent (as in openpyxl's
own output) and builds an object per inline string. Merged ranges are metadata and are never
expanded: a merged range reads as its top-left value followed by empty cells. ``find_header``
relies on exactly that — in a two-row header an empty lower cell means the upper cell spans
down, and a filled lower cell under an empty upper one stands on its own.

Every refusal is an ``InvalidInput`` naming the file, with details of the shape
``{"file", "sheet", "row", "column", "message"}`` (see ``file_problem``).
"""

from __future__ import annotations

import csv
import io
import posixpath
import re
import zipfile
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, TypeVar
from xml.etree.ElementTree import Element, fromstring, iterparse

from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils import column_index_from_string
from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH, from_excel

from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.text import decode_text

EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384

__all__ = [
    "CSV_DELIMITERS",
    "HEADER_SCAN",
    "CellValue",
    "Header",
    "XlsxBook",
    "cell_text",
    "csv_rows",
    "decode_csv",
    "file_error",
    "file_kind",
    "file_place",
    "file_problem",
    "find_header",
    "guard_formula",
    "join_header",
    "open_xlsx",
    "sniff_delimiter",
    "unguard_formula",
    "unreadable",
]

CellValue = str | int | float | bool | datetime | time | None
HEADER_SCAN = 10  # a header starts within the first ten rows
CSV_DELIMITERS = ("\t", ",", ";")

_K = TypeVar("_K", bound=Hashable)


class _Ordered(Protocol):
    def __gt__(self, other: Any, /) -> bool: ...


_S = TypeVar("_S", bound=_Ordered)


# --- errors ----------------------------------------------------------------------------------


def file_place(filename: str, sheet: str = "", row: int | None = None) -> str:
    """Where in a file, as people read it: ``目录.xlsx, sheet '目录', row 4``."""
    sheet_part = f", sheet {sheet!r}" if sheet else ""
    return f"{filename}{sheet_part}{f', row {row}' if row is not None else ''}"


def file_problem(
    filename: str, sheet: str, row: int | None, column: str, message: str
) -> dict[str, Any]:
    """One error detail: the file, sheet ("" = none), row (None = whole file), column, message."""
    return {"file": filename, "sheet": sheet, "row": row, "column": column, "message": message}


def file_error(
    filename: str, message: str, *, sheet: str = "", row: int | None = None, column: str = ""
) -> InvalidInput:
    """The error for a problem at a place in a file (the file, a sheet, a row, a column)."""
    place = file_place(filename, sheet, row) + (f", column {column}" if column else "")
    return InvalidInput(
        f"{place}: {message}", details=[file_problem(filename, sheet, row, column, message)]
    )


def unreadable(filename: str, message: str) -> InvalidInput:
    """The error for a file that cannot be read at all."""
    return file_error(filename, message)


# --- cells -----------------------------------------------------------------------------------

# Full-width digits, letters and the ideographic space fold to ASCII. Full NFKC is kept for
# coded values only: on prose it would also turn （，；： into ASCII and m² into m2.
_FOLD = {code: code - 0xFEE0 for code in range(0xFF10, 0xFF1A)}
_FOLD.update({code: code - 0xFEE0 for code in range(0xFF21, 0xFF3B)})
_FOLD.update({code: code - 0xFEE0 for code in range(0xFF41, 0xFF5B)})
_FOLD[0x3000] = 0x20
_WIDE = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\u3000]")  # scanning beats translate
_MIDNIGHT = time()
_FORMULA_START = ("=", "+", "-", "@")


def cell_text(value: object) -> str:
    """A cell as trimmed text: numbers without ".0", dates as ISO, full-width letters folded."""
    if value is None:
        return ""
    if value.__class__ is str or isinstance(value, str):  # the exact-type test is the fast path
        text = value.translate(_FOLD) if _WIDE.search(value) else value
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        return text.strip()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        if value.time() == _MIDNIGHT:
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()


def guard_formula(text: str) -> str:
    """Text a spreadsheet app will not run as a formula (CSV injection): "=1" → "'=1"."""
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def unguard_formula(text: str) -> str:
    """The inverse of ``guard_formula``: "'=1" → "=1"; other text unchanged."""
    if text.startswith("'") and text[1:2] in _FORMULA_START:
        return text[1:]
    return text


# --- headers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    """A header row (or row pair) found among a sheet's first rows."""

    score: tuple[int, bool, int]  # columns named, a single row, earlier: greater is better
    index: int  # 0-based first header row
    height: int  # 1, or 2 for a two-row header
    texts: list[str]  # one per column; a two-row header already joined


def join_header(
    upper: Sequence[str], lower: Sequence[str], known: Callable[[str], bool]
) -> list[str]:
    """A two-row header as one: the lower cell, else the upper one spanning down."""
    joined: list[str] = []
    spanning = ""  # the upper cell of a horizontal merge, to try "共享" + "属性"
    for index in range(max(len(upper), len(lower))):
        top = upper[index] if index < len(upper) else ""
        bottom = lower[index] if index < len(lower) else ""
        spanning = top or (spanning if bottom else "")
        if not bottom:
            joined.append(top)
        elif not known(bottom) and spanning and known(spanning + bottom):
            joined.append(spanning + bottom)
        else:
            joined.append(bottom)
    return joined


def find_header(
    rows: Sequence[Sequence[str]],
    column_of: Callable[[str], _K | None],
    *,
    accept: Callable[[set[_K]], bool],
    scan: int = HEADER_SCAN,
) -> Header | None:
    """The row or row pair among the first ``scan`` that names the most columns ``accept`` takes."""

    def known(text: str) -> bool:
        return column_of(text) is not None

    best: Header | None = None
    for index in range(min(scan, len(rows))):
        options = [(1, list(rows[index]))]
        if index + 1 < len(rows):
            options.append((2, join_header(rows[index], rows[index + 1], known)))
        for height, texts in options:
            found = {column for text in texts if (column := column_of(text)) is not None}
            if not accept(found):
                continue
            # More columns wins; on a tie a single row beats a pair, an earlier row a later.
            score = (len(found), height == 1, -index)
            if best is None or score > best.score:
                best = Header(score, index, height, texts)
    return best


# --- files -----------------------------------------------------------------------------------


def file_kind(data: bytes, *, filename: str) -> Literal["xlsx", "csv"]:
    """Whether an upload is an xlsx workbook or taken for CSV text; refuses old .xls files."""
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise unreadable(filename, "an old .xls workbook; save it as .xlsx or CSV")
    if filename.lower().endswith((".xlsx", ".xlsm")):
        raise unreadable(filename, "not a readable xlsx file")
    return "csv"


def decode_csv(data: bytes, *, filename: str) -> str:
    """CSV bytes as text (UTF-8 with or without BOM, GB18030, UTF-16); refuses binary files."""
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise unreadable(filename, "not a readable xlsx or CSV file")
    try:
        return decode_text(data, filename=filename)
    except InvalidInput as exc:
        raise unreadable(filename, "not UTF-8, GB18030 or UTF-16 text") from exc


def csv_rows(text: str, *, delimiter: str, filename: str) -> Iterator[list[str]]:
    """CSV text's records, one per spreadsheet row even with line breaks inside cells."""
    try:
        yield from csv.reader(io.StringIO(text), delimiter=delimiter)
    except csv.Error as exc:
        raise unreadable(filename, f"not a readable CSV file ({exc})") from exc


def sniff_delimiter(
    text: str,
    score: Callable[[list[list[str]]], _S | None],
    *,
    filename: str,
    delimiters: Sequence[str] = CSV_DELIMITERS,
    sample: int = HEADER_SCAN + 1,
) -> str | None:
    """The delimiter whose first ``sample`` records ``score`` rates best; None if none rates."""
    best: tuple[_S, str] | None = None
    for delimiter in delimiters:
        top = list(islice(csv_rows(text, delimiter=delimiter, filename=filename), sample))
        rating = score(top)
        if rating is not None and (best is None or rating > best[0]):
            best = (rating, delimiter)
    return None if best is None else best[1]


# --- xlsx ------------------------------------------------------------------------------------

_MAX_UNZIPPED = 1 << 30  # refuse zip bombs before inflating anything
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")  # OOXML's escape for control characters
_CJK_DATE_FORMATS = frozenset(range(27, 37)) | frozenset(range(50, 59))  # zh-CN built-ins
_NOT_XLSX = "not a readable xlsx file"


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _xml(archive: zipfile.ZipFile, part: str) -> Element:
    # ElementTree never fetches external entities and expat >= 2.4 caps entity expansion.
    return fromstring(archive.read(part))  # noqa: S314


def _rels(archive: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """A part's relationships: id → (the type's last word, the target part)."""
    folder, _, name = part.rpartition("/")
    path = f"{folder}/_rels/{name}.rels" if folder else f"_rels/{name}.rels"
    if path not in archive.NameToInfo:
        return {}
    rels: dict[str, tuple[str, str]] = {}
    for element in _xml(archive, path):
        target = element.get("Target", "")
        if element.get("TargetMode") == "External":
            continue
        if target.startswith("/"):
            target = target[1:]
        else:
            target = posixpath.normpath(posixpath.join(folder, target))
        rels[element.get("Id", "")] = (element.get("Type", "").rpartition("/")[2], target)
    return rels


def _unescape(text: str) -> str:
    return _ESCAPED.sub(lambda match: chr(int(match[1], 16)), text) if "_x" in text else text


def _string(element: Element) -> str:
    """A shared or inline string: its <t>, or its runs' <t>s (phonetic <rPh> left out)."""
    if len(element) == 1 and _local(element[0].tag) == "t":  # the usual, unformatted case
        return _unescape(element[0].text or "")
    parts: list[str] = []
    for child in element:
        tag = _local(child.tag)
        if tag == "t":
            parts.append(child.text or "")
        elif tag == "r":
            parts.extend(run.text or "" for run in child if _local(run.tag) == "t")
    return _unescape("".join(parts))


def _date_styles(root: Element) -> frozenset[int]:
    """The cell style indexes whose number format shows a date or time."""
    custom: dict[int, str] = {}
    formats: list[int] = []
    for element in root:
        tag = _local(element.tag)
        if tag == "numFmts":
            custom = {
                int(item.get("numFmtId", "-1")): item.get("formatCode", "") for item in element
            }
        elif tag == "cellXfs":
            formats = [int(item.get("numFmtId", "0")) for item in element]
    return frozenset(
        index
        for index, code in enumerate(formats)
        if (is_date_format(custom[code]) if code in custom else
            code in _CJK_DATE_FORMATS or is_date_format(BUILTIN_FORMATS.get(code)))
    )  # fmt: skip


_COLUMN_INDEX: dict[str, int] = {}


def _column_index(ref: str) -> int:
    letters = ref.rstrip("0123456789")
    index = _COLUMN_INDEX.get(letters)
    if index is None:
        index = _COLUMN_INDEX.setdefault(letters, column_index_from_string(letters) - 1)
    return index


class XlsxBook:
    """An open xlsx workbook (from ``open_xlsx``): its sheet names, each sheet's rows streamed."""

    def __init__(self, archive: zipfile.ZipFile, *, filename: str) -> None:
        self.filename = filename
        self._archive = archive
        self._parts: dict[str, str] = {}  # worksheet name → part
        self._strings: list[str] = []
        self._date_styles: frozenset[int] = frozenset()
        self._epoch = WINDOWS_EPOCH
        if sum(info.file_size for info in archive.infolist()) > _MAX_UNZIPPED:
            raise ValueError("the archive inflates beyond the limit")
        roots = _rels(archive, "")
        book = next(
            (t for kind, t in roots.values() if kind == "officeDocument"), "xl/workbook.xml"
        )
        rels = _rels(archive, book)
        for element in _xml(archive, book).iter():
            tag = _local(element.tag)
            if tag == "workbookPr" and element.get("date1904") in ("1", "true"):
                self._epoch = MAC_EPOCH
            elif tag == "sheet":
                rid = next((v for k, v in element.attrib.items() if _local(k) == "id"), "")
                kind, target = rels.get(rid, ("", ""))
                if kind == "worksheet":  # chart and dialog sheets hold no rows
                    self._parts[element.get("name", "")] = target
        for kind, target in rels.values():
            if kind == "sharedStrings":
                with archive.open(target) as source:
                    for _, element in iterparse(source):  # noqa: S314 (see _xml)
                        if _local(element.tag) == "si":
                            self._strings.append(_string(element))
                            element.clear()
            elif kind == "styles":
                self._date_styles = _date_styles(_xml(archive, target))

    @property
    def sheets(self) -> list[str]:
        """The worksheet names in workbook order (chart sheets left out)."""
        return list(self._parts)

    def rows(self, sheet: str) -> Iterator[list[CellValue]]:
        """A sheet's rows from row 1 as values by column position; a missing row comes as []."""
        part = self._parts.get(sheet)
        if part is None:
            message = f"no sheet named {sheet!r}; sheets: {', '.join(self._parts)}"
            raise InvalidInput(
                f"{self.filename}: {message}",
                details=[file_problem(self.filename, sheet, None, "", message)],
            )
        return self._stream(part)

    def close(self) -> None:
        """Close the archive."""
        self._archive.close()

    def __enter__(self) -> XlsxBook:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _stream(self, part: str) -> Iterator[list[CellValue]]:
        row_tag = cell_tag = ""
        tags = ("", "", "")
        expected = 1
        try:
            with self._archive.open(part) as source:
                for _, element in iterparse(source):  # noqa: S314 (see _xml)
                    tag = element.tag
                    if tag != row_tag:
                        if row_tag or tag[-3:] != "row" or _local(tag) != "row":
                            continue
                        space = tag[:-3]
                        row_tag, cell_tag = tag, f"{space}c"
                        tags = (f"{space}v", f"{space}is", f"{space}t")
                    number = int(element.get("r") or expected)
                    if not expected <= number <= EXCEL_MAX_ROWS:
                        # Excel's own limit; a forged row number must not make us yield
                        # billions of empty rows.
                        raise ValueError(f"row number {number} is out of order or beyond Excel's")
                    for _ in range(expected, number):
                        yield []
                    values: list[CellValue] = []
                    value_of = self._value
                    for cell in element:
                        if cell.tag != cell_tag:
                            continue
                        ref = cell.get("r")
                        index = _column_index(ref) if ref else len(values)
                        if index >= EXCEL_MAX_COLUMNS:
                            raise ValueError(f"cell {ref} is beyond Excel's last column")
                        value = value_of(cell, tags)
                        if index == len(values):
                            values.append(value)
                        elif index > len(values):
                            values.extend([None] * (index - len(values)))
                            values.append(value)
                        else:
                            values[index] = value
                    element.clear()
                    expected = number + 1
                    yield values
        except Exception as exc:  # a damaged sheet part fails only while its rows stream
            raise unreadable(self.filename, _NOT_XLSX) from exc

    def _value(self, cell: Element, tags: tuple[str, str, str]) -> CellValue:
        value_tag, inline_tag, text_tag = tags
        kind = cell.get("t", "n")
        raw: str | None = None
        inline: Element | None = None
        for child in cell:
            if child.tag == value_tag:
                raw = child.text
            elif child.tag == inline_tag:
                inline = child
        if kind == "inlineStr":
            if inline is None:
                return None
            if len(inline) == 1 and inline[0].tag == text_tag:  # plain text, as openpyxl writes
                return _unescape(inline[0].text or "")
            return _string(inline)
        if raw is None:
            return None
        if kind == "s":
            return self._strings[int(raw)]
        if kind == "b":
            return raw == "1"
        if kind != "n":
            return raw  # str (a formula's text), e (#N/A …), d (ISO text)
        try:
            number: float = int(raw)
        except ValueError:
            number = float(raw)
        style = cell.get("s")
        if style and int(style) in self._date_styles:
            try:
                moment: datetime | time = from_excel(number, self._epoch)
            except (OverflowError, ValueError):
                return number
            return moment
        return number


def open_xlsx(data: bytes | Path, *, filename: str) -> XlsxBook:
    """Open an xlsx workbook from its bytes or path; refuses damaged archives and zip bombs."""
    try:
        archive = zipfile.ZipFile(data if isinstance(data, Path) else io.BytesIO(data))
    except Exception as exc:
        raise unreadable(filename, _NOT_XLSX) from exc
    try:
        return XlsxBook(archive, filename=filename)
    except Exception as exc:  # a damaged archive fails in many ways: zip, XML, indexes
        archive.close()
        raise unreadable(filename, _NOT_XLSX) from exc
