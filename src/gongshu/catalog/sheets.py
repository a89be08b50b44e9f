"""Catalogue spreadsheets: read departments' xlsx/CSV files into rows, write exports and templates.

Reading forgives layout — title rows, two-row headers, decorated and alias headers, full-width
characters, GBK or BOM CSVs — and is strict about content: every unknown value becomes a
``CellError`` naming the row and the column header the user sees. ``input_to_row`` is the
inverse of ``row_to_input``, so an export reads back to the same input.

xlsx rows are streamed straight from the sheet XML, and merged ranges are never expanded: a
merged range reads as its top-left value followed by empty cells. The header finder relies on
exactly that — in a two-row header an empty lower cell means the upper cell spans down, and a
filled lower cell under an empty upper one stands on its own — so merge ranges are not needed.
"""

from __future__ import annotations

import csv
import io
import posixpath
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from itertools import chain, islice
from typing import Any, Literal, TypeVar
from xml.etree.ElementTree import Element, fromstring, iterparse

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH, from_excel
from openpyxl.worksheet.datavalidation import DataValidation
from pydantic import BaseModel, ValidationError

from gongshu.catalog.schemas import COLUMN_OF, EntryInput
from gongshu.catalog.vocab import (
    COLUMNS,
    DELIVERY_LABELS,
    FLAG_LABELS,
    FORMAT_LABELS,
    FREQUENCY_LABELS,
    GRADE_LABELS,
    HARM_LABELS,
    IMPACT_LABELS,
    KIND_LABELS,
    OPEN_LABELS,
    SHARE_LABELS,
    THEMES,
    TYPE_LABELS,
    Column,
    label_lookup,
)
from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.text import decode_text

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
class CellError:
    """A problem in one cell: the row as Excel shows it, the Chinese header ("" = whole row)."""

    row: int
    column: str
    message: str


@dataclass(frozen=True)
class SheetRow:
    """One non-blank data row: its row number and the text of every column found."""

    row: int
    cells: dict[Column, str]


@dataclass(frozen=True)
class Table:
    """A read sheet: its data rows, the columns found, headers not understood (warnings)."""

    rows: list[SheetRow]
    columns: list[Column]
    unknown_headers: list[str]
    header_row: int
    sheet: str


# --- headers ---------------------------------------------------------------------------------

_SCAN = 10  # the header starts within the first ten rows
_REQUIRED: tuple[Column, ...] = (
    Column.NAME, Column.SUMMARY, Column.PROVIDER, Column.FORMAT, Column.FREQUENCY,
    Column.SHARE_TYPE, Column.OPEN_TYPE, Column.THEME,
)  # fmt: skip
_ALIASES: dict[Column, tuple[str, ...]] = {
    Column.NAME: ("信息资源名称", "数据资源名称", "资源名称", "目录名", "数据目录名称",
                  "资源目录名称", "信息资源目录名称"),
    Column.KIND: ("资源类型", "目录类别", "资源类别"),
    Column.SUMMARY: ("资源摘要", "内容摘要", "信息资源摘要", "数据资源摘要", "资源描述", "描述"),
    Column.KEYWORDS: ("关键字", "资源关键词", "标签"),
    Column.PROVIDER: ("提供方", "数据提供单位", "资源提供方", "资源提供单位", "信息资源提供方",
                      "提供部门", "数据提供方", "数据提供部门", "来源部门"),
    Column.DISTRICT: ("所属区县", "所属区域", "区县", "所属行政区"),
    Column.FIELDS: ("信息项", "数据项名称", "信息项名称", "数据项列表", "信息项列表", "字段"),
    Column.FORMAT: ("资源格式", "信息资源格式", "数据资源格式", "格式", "存储格式"),
    Column.FREQUENCY: ("更新周期", "更新频次", "更新频度"),
    Column.SHARE_TYPE: ("共享类型",),
    Column.LEGAL_BASIS: ("不予共享理由", "不共享依据", "不予共享的依据"),
    Column.OPEN_TYPE: ("开放类型",),
    Column.THEME: ("数据分类", "资源分类", "主题分类", "领域分类", "所属领域", "所属主题"),
    Column.IMPACT: ("影响分析", "影响对象及程度"),
    Column.GRADE: ("数据分级", "分级结果", "数据级别", "安全级别", "数据安全级别", "级别"),
    Column.GRADE_REASON: ("定级依据", "分级理由", "分级依据"),
    Column.RELATED: ("相关目录", "关联资源"),
    Column.DUTY: ("对应职责", "权责事项"),
    Column.SYSTEM: ("所属系统", "来源系统", "业务系统", "所属信息系统"),
    Column.TABLE: ("数据库表", "来源库表", "对应库表"),
    Column.RESOURCE_CODE: ("目录代码", "资源编码", "信息资源代码", "目录编码"),
    Column.PUBLISHED_ON: ("发布时间",),
    Column.UPDATED_ON: ("最近更新日期", "更新时间"),
}  # fmt: skip
_IGNORED_HEADERS = frozenset({"序号", "编号", "no", "no."})
_DECORATION = re.compile(r"\(.*?\)|\[.*?\]|【.*?】|〔.*?〕|<.*?>|\s+")


def _header_key(text: str) -> str:
    # "*目录名称", "目录名称（必填）", "目录名称\n(必填)", "目　录名称" all become "目录名称".
    key = _DECORATION.sub("", unicodedata.normalize("NFKC", text))
    return key.strip("*※★:").casefold()


_HEADERS: dict[str, Column] = {_header_key(column.value): column for column in Column}
_HEADERS.update({_header_key(a): column for column, names in _ALIASES.items() for a in names})


def _column_of(text: str) -> Column | None:
    return _HEADERS.get(_header_key(text)) if text else None


def _join(upper: Sequence[str], lower: Sequence[str]) -> list[str]:
    """A two-row header as one: the lower cell, else the upper one spanning down."""
    joined: list[str] = []
    spanning = ""  # the upper cell of a horizontal merge, to try "共享" + "属性"
    for index in range(max(len(upper), len(lower))):
        top = upper[index] if index < len(upper) else ""
        bottom = lower[index] if index < len(lower) else ""
        spanning = top or (spanning if bottom else "")
        if not bottom:
            joined.append(top)
        elif _column_of(bottom) is None and spanning and _column_of(spanning + bottom):
            joined.append(spanning + bottom)
        else:
            joined.append(bottom)
    return joined


@dataclass(frozen=True)
class _Header:
    score: tuple[int, bool, int]
    index: int  # 0-based first header row
    height: int
    texts: list[str]


def _find_header(top: Sequence[Sequence[str]]) -> _Header | None:
    """The row (or row pair) among the first ten that names the most known columns."""
    best: _Header | None = None
    for index in range(min(_SCAN, len(top))):
        options = [(1, list(top[index]))]
        if index + 1 < len(top):
            options.append((2, _join(top[index], top[index + 1])))
        for height, texts in options:
            found = {column for text in texts if (column := _column_of(text))}
            if Column.NAME not in found or len(found) < 3:
                continue
            # More columns wins; on a tie a single row beats a pair, an earlier row a later.
            score = (len(found), height == 1, -index)
            if best is None or score > best.score:
                best = _Header(score, index, height, texts)
    return best


def _problem(
    filename: str, sheet: str, row: int | None, column: str, message: str
) -> dict[str, Any]:
    return {"file": filename, "sheet": sheet, "row": row, "column": column, "message": message}


def _map_header(
    header: _Header, *, filename: str, sheet: str
) -> tuple[list[tuple[int, Column]], list[str]]:
    """Column positions and unknown headers; refuses duplicate or missing required headers."""
    row = header.index + header.height
    where = f"{filename}{f', sheet {sheet!r}' if sheet else ''}, row {row}"
    positions: dict[Column, list[int]] = {}
    unknown: list[str] = []
    for index, text in enumerate(header.texts):
        column = _column_of(text)
        if column is not None:
            positions.setdefault(column, []).append(index)
        elif text and _header_key(text) not in _IGNORED_HEADERS:
            unknown.append(re.sub(r"\s+", " ", text))
    for column, indexes in positions.items():
        if len(indexes) > 1:
            letters = ", ".join(get_column_letter(index + 1) for index in indexes)
            message = f"header {column.value} appears twice (columns {letters})"
            raise InvalidInput(
                f"{where}: {message}", details=[_problem(filename, sheet, row, column, message)]
            )
    missing = [column for column in _REQUIRED if column not in positions]
    if missing:
        names = ", ".join(missing)
        raise InvalidInput(
            f"{where}: missing required column(s) {names}",
            details=[_problem(filename, sheet, row, c, "missing required column") for c in missing],
        )
    mapping = sorted(((indexes[0], column) for column, indexes in positions.items()))
    return mapping, unknown


# --- cells -----------------------------------------------------------------------------------

# Full-width digits, letters and the ideographic space fold to ASCII. Full NFKC is kept for
# coded values only: on prose it would also turn （，；： into ASCII and m² into m2.
_FOLD = {code: code - 0xFEE0 for code in range(0xFF10, 0xFF1A)}
_FOLD.update({code: code - 0xFEE0 for code in range(0xFF21, 0xFF3B)})
_FOLD.update({code: code - 0xFEE0 for code in range(0xFF41, 0xFF5B)})
_FOLD[0x3000] = 0x20
_WIDE = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\u3000]")  # scanning beats translate
_MIDNIGHT = time()


def _text(value: object) -> str:
    """A cell as trimmed text: numbers without ".0", dates as ISO, full-width letters folded."""
    if value is None:
        return ""
    if isinstance(value, str):
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


_FORMULA_START = ("=", "+", "-", "@")


def _csv_text(value: object) -> str:
    # write_csv quotes formula-like cells with "'" against CSV injection; undo that here.
    text = _text(value)
    if text.startswith("'") and text[1:2] in _FORMULA_START and len(text) > 1:
        return text[1:]
    return text


# --- reading ---------------------------------------------------------------------------------


def _unreadable(filename: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"{filename}: {message}", details=[_problem(filename, "", None, "", message)]
    )


def _no_header(filename: str, sheet: str) -> InvalidInput:
    message = (
        f"no header row in the first {_SCAN} rows; a header names 目录名称 "
        "and at least two other known columns"
    )
    where = f"{filename}{f', sheet {sheet!r}' if sheet else ''}"
    return InvalidInput(
        f"{where}: {message}", details=[_problem(filename, sheet, None, "", message)]
    )


def _read_records(
    records: Iterator[Sequence[object]],
    convert: Callable[[object], str],
    *,
    filename: str,
    sheet: str,
) -> Table | None:
    """Find the header in the first rows, then stream the rest; None when there is no header."""
    top = list(islice(records, _SCAN + 1))
    header = _find_header([[convert(value) for value in record] for record in top])
    if header is None:
        return None
    mapping, unknown = _map_header(header, filename=filename, sheet=sheet)
    first_data = header.index + header.height
    rows: list[SheetRow] = []
    numbered = enumerate(top[first_data:], start=first_data + 1)
    rest = enumerate(records, start=len(top) + 1)
    for number, record in chain(numbered, rest):
        width = len(record)
        cells = {col: convert(record[i]) if i < width else "" for i, col in mapping}
        if any(cells.values()):  # blank rows (or only 序号 filled) are skipped
            rows.append(SheetRow(number, cells))
    return Table(rows, [column for _, column in mapping], unknown, first_data, sheet)


# xlsx rows are streamed straight from the sheet XML. openpyxl's read-only mode measured
# ~1,150 rows/s here on its own exports: it parses a sheet twice when <dimension> is absent (as
# in openpyxl's own output) and builds an object per inline string. Merged ranges are metadata;
# their cells other than the top-left one are simply empty.
_MAX_UNZIPPED = 1 << 30  # refuse zip bombs before inflating anything
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")  # OOXML's escape for control characters
_CJK_DATE_FORMATS = frozenset(range(27, 37)) | frozenset(range(50, 59))  # zh-CN built-ins


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


def _string(element: Element) -> str:
    """A shared or inline string: its <t>, or its runs' <t>s (phonetic <rPh> left out)."""
    if len(element) == 1 and _local(element[0].tag) == "t":  # the usual, unformatted case
        text = element[0].text or ""
        return _ESCAPED.sub(lambda match: chr(int(match[1], 16)), text) if "_x" in text else text
    parts: list[str] = []
    for child in element:
        tag = _local(child.tag)
        if tag == "t":
            parts.append(child.text or "")
        elif tag == "r":
            parts.extend(run.text or "" for run in child if _local(run.tag) == "t")
    text = "".join(parts)
    return _ESCAPED.sub(lambda match: chr(int(match[1], 16)), text) if "_x" in text else text


@dataclass(frozen=True)
class _Book:
    archive: zipfile.ZipFile
    sheets: dict[str, str]  # worksheet name → part
    strings: list[str]
    date_styles: frozenset[int]
    epoch: datetime


def _open_book(data: bytes) -> _Book:
    archive = zipfile.ZipFile(io.BytesIO(data))
    if sum(info.file_size for info in archive.infolist()) > _MAX_UNZIPPED:
        raise ValueError("the archive inflates beyond the limit")
    roots = _rels(archive, "")
    book = next((t for kind, t in roots.values() if kind == "officeDocument"), "xl/workbook.xml")
    rels = _rels(archive, book)
    epoch, sheets = WINDOWS_EPOCH, {}
    for element in _xml(archive, book).iter():
        tag = _local(element.tag)
        if tag == "workbookPr" and element.get("date1904") in ("1", "true"):
            epoch = MAC_EPOCH
        elif tag == "sheet":
            rid = next((v for k, v in element.attrib.items() if _local(k) == "id"), "")
            kind, target = rels.get(rid, ("", ""))
            if kind == "worksheet":  # chart and dialog sheets hold no rows
                sheets[element.get("name", "")] = target
    strings: list[str] = []
    styles: frozenset[int] = frozenset()
    for kind, target in rels.values():
        if kind == "sharedStrings":
            with archive.open(target) as source:
                for _, element in iterparse(source):  # noqa: S314 (see _xml)
                    if _local(element.tag) == "si":
                        strings.append(_string(element))
                        element.clear()
        elif kind == "styles":
            styles = _date_styles(_xml(archive, target))
    return _Book(archive, sheets, strings, styles, epoch)


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


def _cell_value(cell: Element, book: _Book, value_tag: str, inline_tag: str) -> object:
    kind = cell.get("t", "n")
    raw: str | None = None
    inline: Element | None = None
    for child in cell:
        if child.tag == value_tag:
            raw = child.text
        elif child.tag == inline_tag:
            inline = child
    if kind == "inlineStr":
        return None if inline is None else _string(inline)
    if raw is None:
        return None
    if kind == "s":
        return book.strings[int(raw)]
    if kind == "b":
        return raw == "1"
    if kind != "n":
        return raw  # str (a formula's text), e (#N/A …), d (ISO text)
    try:
        number: float = int(raw)
    except ValueError:
        number = float(raw)
    style = cell.get("s")
    if style and int(style) in book.date_styles:
        try:
            return from_excel(number, book.epoch)
        except (OverflowError, ValueError):
            return number
    return number


def _sheet_rows(book: _Book, part: str) -> Iterator[list[object]]:
    """Each row's values by column position; missing rows come as empty lists."""
    row_tag = cell_tag = value_tag = inline_tag = ""
    expected = 1
    with book.archive.open(part) as source:
        for _, element in iterparse(source):  # noqa: S314 (see _xml)
            tag = element.tag
            if tag != row_tag:
                if row_tag or tag[-3:] != "row" or _local(tag) != "row":
                    continue
                space = tag[:-3]
                row_tag, cell_tag, value_tag, inline_tag = (
                    tag,
                    f"{space}c",
                    f"{space}v",
                    f"{space}is",
                )
            number = int(element.get("r") or expected)
            for _ in range(expected, number):
                yield []
            values: list[object] = []
            for cell in element:
                if cell.tag != cell_tag:
                    continue
                ref = cell.get("r")
                index = _column_index(ref) if ref else len(values)
                if index >= len(values):
                    values.extend([None] * (index + 1 - len(values)))
                values[index] = _cell_value(cell, book, value_tag, inline_tag)
            element.clear()
            expected = number + 1
            yield values


def _read_xlsx(data: bytes, *, filename: str, sheet: str | None) -> Table:
    try:
        book = _open_book(data)
    except Exception as exc:  # a damaged archive fails in many ways: zip, XML, indexes
        raise _unreadable(filename, "not a readable xlsx file") from exc
    try:
        names = list(book.sheets)
        if sheet is not None and sheet not in book.sheets:
            message = f"no sheet named {sheet!r}; sheets: {', '.join(names)}"
            raise InvalidInput(
                f"{filename}: {message}", details=[_problem(filename, sheet, None, "", message)]
            )
        for name in [sheet] if sheet is not None else names:
            records = _sheet_rows(book, book.sheets[name])
            table = _read_records(records, _text, filename=filename, sheet=name)
            if table is not None:
                return table
        raise _no_header(filename, sheet if sheet is not None else (names[0] if names else ""))
    except InvalidInput:
        raise
    except Exception as exc:  # a damaged sheet part fails only while its rows stream
        raise _unreadable(filename, "not a readable xlsx file") from exc
    finally:
        book.archive.close()


_DELIMITERS = ("\t", ",", ";")


def _read_csv(data: bytes, *, filename: str) -> Table:
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _unreadable(filename, "not a readable xlsx or CSV file")
    try:
        text = decode_text(data, filename=filename)
    except InvalidInput as exc:
        raise _unreadable(filename, "not UTF-8, GB18030 or UTF-16 text") from exc
    try:
        # The delimiter is whichever one makes the best header.
        best: tuple[tuple[int, bool, int], str] | None = None
        for delimiter in _DELIMITERS:
            top = islice(csv.reader(io.StringIO(text), delimiter=delimiter), _SCAN + 1)
            header = _find_header([[_csv_text(cell) for cell in record] for record in top])
            if header is not None and (best is None or header.score > best[0]):
                best = (header.score, delimiter)
        if best is None:
            raise _no_header(filename, "")
        records = csv.reader(io.StringIO(text), delimiter=best[1])
        table = _read_records(records, _csv_text, filename=filename, sheet="")
    except csv.Error as exc:
        raise _unreadable(filename, f"not a readable CSV file ({exc})") from exc
    if table is None:  # pragma: no cover - the same rows found a header above
        raise _no_header(filename, "")
    return table


def read_table(data: bytes, *, filename: str, sheet: str | None = None) -> Table:
    """Read an uploaded xlsx or CSV catalogue into rows keyed by exchange column."""
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(data, filename=filename, sheet=sheet)
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise _unreadable(filename, "an old .xls workbook; save it as .xlsx or CSV")
    if filename.lower().endswith((".xlsx", ".xlsm")):
        raise _unreadable(filename, "not a readable xlsx file")
    return _read_csv(data, filename=filename)


# --- row → input -----------------------------------------------------------------------------


_SPACES = re.compile(r"\s+")


def _norm(token: str) -> str:
    return _SPACES.sub("", unicodedata.normalize("NFKC", token)).casefold()


@dataclass(frozen=True)
class _Vocab:
    """One coded vocabulary: each code's label, and every accepted spelling → code."""

    labels: dict[str, str]
    table: dict[str, str]
    allowed: str

    def code(self, text: str, problems: list[str], *, what: str = "value", where: str = "") -> str:
        """The code ``text`` spells; else "" and a problem listing the allowed values."""
        code = self.table.get(text.casefold()) or self.table.get(_norm(text))
        if code is None:
            problems.append(f"{where}unknown {what} {text!r}; allowed: {self.allowed}")
            return ""
        return code


_Code = TypeVar("_Code", bound=str)


def _vocab(
    labels: Mapping[_Code, str],
    aliases: Mapping[str, tuple[str, ...]] | None = None,
    allowed: str | None = None,
) -> _Vocab:
    names = {str(code): label for code, label in labels.items()}
    table = {_norm(spelling): code for spelling, code in label_lookup(names).items()}
    for code, spellings in (aliases or {}).items():
        table.update({_norm(spelling): code for spelling in spellings})
    return _Vocab(names, table, allowed or ", ".join(names.values()))


_NUMERALS = {1: "一", 2: "二", 3: "三", 4: "四"}
_KIND = _vocab(KIND_LABELS, {"resource": ("资源",), "product": ("产品",), "service": ("服务",)})
_FORMAT = _vocab(FORMAT_LABELS, {
    "database": ("数据库表", "库表", "db"),
    "spreadsheet": ("excel", "xlsx", "xls", "表格"),
    "document": ("文本", "pdf", "word", "doc", "docx", "txt", "ofd"),
    "image": ("图像", "jpg", "png"),
    "media": ("音频", "视频"),
    "geo": ("gis", "shp", "地图", "空间数据"),
    "api": ("接口服务", "服务接口", "api接口"),
})  # fmt: skip
_FREQUENCY = _vocab(FREQUENCY_LABELS, {
    "realtime": ("实时更新",),
    "daily": ("每天", "日", "按日", "日更新", "每日更新"),
    "weekly": ("周", "按周", "每星期"),
    "monthly": ("月", "按月", "每月更新"),
    "quarterly": ("季度", "季", "按季", "按季度", "每季"),
    "semiannual": ("半年", "半年度", "每半年度"),
    "annual": ("年", "年度", "按年", "每年度"),
    "irregular": ("不定时", "按需", "不定期更新"),
})  # fmt: skip
_SHARE = _vocab(SHARE_LABELS, {"unconditional": ("无条件",), "conditional": ("有条件",),
                               "none": ("不共享", "不予")})  # fmt: skip
_OPEN = _vocab(OPEN_LABELS, {"unconditional": ("无条件",), "conditional": ("有条件",),
                             "none": ("不开放", "不予", "非开放")})  # fmt: skip
_DELIVERY = _vocab(DELIVERY_LABELS, {
    "api": ("接口", "api接口", "数据接口", "服务接口", "接口调用"),
    "batch": ("批量", "数据交换", "库表交换", "批量传输"),
    "file": ("文件", "下载", "文件交换"),
    "sandbox": ("数据沙箱", "沙盒"),
})  # fmt: skip
_GRADE = _vocab(GRADE_LABELS, {
    "core": ("核心",),
    "important": ("重要",),
    **{
        f"general-{n}": tuple(
            f"{head}{mid}{numeral}级"
            for head in ("一般", "一般数据") for mid in ("", "第") for numeral in (str(n), cn)
        )
        for n, cn in _NUMERALS.items()
    },
})  # fmt: skip
_THEME = _vocab(
    {code: label for code, (label, _) in THEMES.items()},
    {code: (english,) for code, (_, english) in THEMES.items()},
    ", ".join(f"{code} {label}" for code, (label, _) in THEMES.items()),
)
# 2017 catalogue guide letters: C 字符, N 数值, Y 货币, D 日期, T 日期时间, L 逻辑, I 整型 ….
_TYPE = _vocab(TYPE_LABELS, {
    "string": ("字符", "字符串", "文本型", "备注型", "c", "m", "varchar", "char", "text"),
    "integer": ("整数", "整型", "i", "int"),
    "decimal": ("数值", "数字", "小数", "浮点型", "双精度型", "n", "f", "number", "numeric"),
    "money": ("货币", "y"),
    "date": ("日期", "d"),
    "datetime": ("日期时间", "时间", "时间型", "t", "timestamp"),
    "boolean": ("布尔", "逻辑型", "l", "bool"),
    "binary": ("二进制型", "通用型", "g", "blob"),
})  # fmt: skip
_FLAG = _vocab(FLAG_LABELS, {"identifier": ("个人标识符", "标识符"),
                             "quasi_identifier": ("准标识符",),
                             "sensitive": ("敏感信息", "敏感数据", "敏感字段")})  # fmt: skip
_IMPACT = _vocab(IMPACT_LABELS, {
    "public_interest": ("公共利益", "经济社会"),
    "rights": ("权益", "个人组织权益", "组织和个人权益", "个人和组织权益", "组织、个人权益"),
})  # fmt: skip
_HARM = _vocab(HARM_LABELS, {"none": ("无影响",)})

_LIST_SEP = re.compile(r"[、，,；;/／\n]+")
_WORD_SEP = re.compile(r"[、，,；;\s]+")
_PIPE = re.compile(r"[|｜]")
_ITEM_SEP = re.compile(r"([;；])")
_NAME_SEP = re.compile(r"[\n;；、，,]+")
_FLAG_SEP = re.compile(r"[、，,/／]+")
_PAIR_SEP = re.compile(r"[\n;；,，]+")
_PAIR = re.compile(r"(.+?)[:：=](.*)", re.DOTALL)
_THEME_CODE = re.compile(r"(\d{1,2})[\s\-_.、:]*(.*)|(.*?)\((\d{1,2})\)")

_Parser = Callable[[str, list[str]], object]


def _words(text: str, problems: list[str]) -> list[str]:
    return [word for word in _WORD_SEP.split(text) if word]


def _delivery(text: str, problems: list[str]) -> list[str]:
    parts = (part.strip() for part in _LIST_SEP.split(text))
    codes = (_DELIVERY.code(part, problems) for part in parts if part)
    return list(dict.fromkeys(code for code in codes if code))


def _theme(text: str, problems: list[str]) -> str:
    token = unicodedata.normalize("NFKC", text).strip()
    match = _THEME_CODE.fullmatch(token)
    if match is None:
        return _THEME.code(token, problems)
    code = (match[1] or match[4]).zfill(2)
    label = match[2] if match[1] else match[3]
    if code in THEMES and (not label.strip() or _THEME.table.get(_norm(label)) == code):
        return code
    problems.append(f"unknown value {text!r}; allowed: {_THEME.allowed}")
    return ""


def _starts_item(segment: str, current: str) -> bool:
    """Whether text after a ";" is a new data item, not more of a description ("1:男;2:女")."""
    if len(_PIPE.findall(current)) < 2:
        return True
    parts = _PIPE.split(segment)
    return len(parts) > 1 and _norm(parts[1]) in _TYPE.table


def _field(item: str, problems: list[str]) -> dict[str, object] | None:
    parts = [part.strip() for part in _PIPE.split(item)]
    if len(parts) > 5:
        problems.append(f"data item {item!r} has more than 5 parts: 名称|类型|说明|数据元编码|标记")
        return None
    name, kind, description, code, flags = parts + [""] * (5 - len(parts))
    if not name:
        problems.append(f"data item {item!r} has no name")
        return None
    where = f"data item {name!r}: "
    marks = (
        _FLAG.code(flag, problems, what="flag", where=where)
        for flag in _FLAG_SEP.split(flags)
        if flag.strip()
    )
    return {
        "name": name,
        "type": _TYPE.code(kind, problems, what="type", where=where) if kind else "string",
        "description": description,
        "element_code": unicodedata.normalize("NFKC", code) or None,
        "flags": list(dict.fromkeys(mark for mark in marks if mark)),
    }


def _fields(text: str, problems: list[str]) -> list[dict[str, object]]:
    items: list[str] = []
    if not _PIPE.search(text):  # the simple form: 姓名、性别、出生日期
        items = _NAME_SEP.split(text)
    for line in text.split("\n") if not items else ():
        pieces = _ITEM_SEP.split(line)
        current = pieces[0]
        for separator, segment in zip(pieces[1::2], pieces[2::2], strict=True):
            if not _starts_item(segment, current):
                current += separator + segment
            elif segment.strip():
                items.append(current)
                current = segment
        items.append(current)
    fields = (_field(item, problems) for item in items if item.strip())
    return [item for item in fields if item is not None]


def _impact(text: str, problems: list[str]) -> dict[str, str]:
    assessment: dict[str, str] = {}
    for pair in _PAIR_SEP.split(text):
        if not pair.strip():
            continue
        match = _PAIR.fullmatch(pair.strip())
        if match is None:
            problems.append(f"{pair.strip()!r} is not 影响对象:影响程度, e.g. 国家安全:无")
            continue
        target = _IMPACT.code(match[1].strip(), problems, what="impact object")
        harm = _HARM.code(match[2].strip(), problems, what="harm")
        if target in assessment:
            problems.append(f"{match[1].strip()} is assessed twice")
        if target and harm:
            assessment[target] = harm
    return assessment


def _coded(vocab: _Vocab) -> _Parser:
    return lambda text, problems: vocab.code(text, problems)


_PARSERS: dict[Column, _Parser] = {
    Column.KIND: _coded(_KIND),
    Column.KEYWORDS: _words,
    Column.FIELDS: _fields,
    Column.FORMAT: _coded(_FORMAT),
    Column.FREQUENCY: _coded(_FREQUENCY),
    Column.SHARE_TYPE: _coded(_SHARE),
    Column.DELIVERY: _delivery,
    Column.OPEN_TYPE: _coded(_OPEN),
    Column.THEME: _theme,
    Column.IMPACT: _impact,
    Column.GRADE: _coded(_GRADE),
    Column.RELATED: _words,
}
_KEY_OF: dict[Column, str] = {column: key for key, column in COLUMN_OF.items()}


def _translate(row: int, error: ValidationError) -> list[CellError]:
    """pydantic's errors as cell errors; cross-field ones carry their field as "path: "."""
    errors: list[CellError] = []
    for item in error.errors():
        loc = item["loc"]
        message = "required" if item["type"] == "missing" else str(item["msg"])
        message = message.removeprefix("Value error, ")
        key = str(loc[0]) if loc else ""
        if not key and ": " in message:
            path, rest = message.split(": ", 1)
            if path in COLUMN_OF:
                key, message = path, rest
        if key == "fields" and len(loc) > 1 and isinstance(loc[1], int):
            part = f" ({loc[2]})" if len(loc) > 2 else ""
            message = f"data item {loc[1] + 1}{part}: {message}"
        column = COLUMN_OF.get(key)
        errors.append(CellError(row, column.value if column else "", message))
    return errors


def row_to_input(row: SheetRow) -> tuple[dict[str, object] | None, list[CellError]]:
    """Keyword arguments for ``EntryInput`` from a sheet row, or the row's cell errors."""
    values: dict[str, object] = {}
    errors: list[CellError] = []
    for column, text in row.cells.items():
        key = _KEY_OF.get(column)
        if key is None or not text:
            continue  # 资源代码 and the dates are the platform's, not the department's
        parse = _PARSERS.get(column)
        if parse is None:
            values[key] = text
            continue
        problems: list[str] = []
        value = parse(text, problems)
        if problems:
            errors.extend(CellError(row.row, column.value, message) for message in problems)
        else:
            values[key] = value
    if not any(error.column == Column.KIND for error in errors):
        values = {"kind": "resource", **values}
    try:
        EntryInput.model_validate(values)
    except ValidationError as exc:
        # A column already reported was left out of ``values``; don't call it missing too.
        reported = {error.column for error in errors}
        errors.extend(error for error in _translate(row.row, exc) if error.column not in reported)
    return (None, errors) if errors else (values, [])


# --- writing ---------------------------------------------------------------------------------

_EXTRA_COLUMNS = {"resource_code": Column.RESOURCE_CODE, "published_on": Column.PUBLISHED_ON,
                  "updated_on": Column.UPDATED_ON}  # fmt: skip
_VOCAB_OF = {Column.KIND: _KIND, Column.FORMAT: _FORMAT, Column.FREQUENCY: _FREQUENCY,
             Column.SHARE_TYPE: _SHARE, Column.OPEN_TYPE: _OPEN, Column.THEME: _THEME,
             Column.GRADE: _GRADE}  # fmt: skip


def _items(value: object) -> list[object]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def _label(vocab: _Vocab, code: object) -> str:
    return vocab.labels.get(str(code), str(code))


def _field_text(item: object) -> str:
    """One data item as ``名称|类型|说明|数据元编码|标记``, trailing blanks dropped."""
    if isinstance(item, BaseModel):
        item = item.model_dump()
    data: Mapping[str, Any] = item if isinstance(item, Mapping) else {"name": item}
    # The syntax has no escapes: separators inside a name or description are replaced.
    name = re.sub(r"[|｜;；\n\r]", "/", str(data.get("name") or ""))
    description = re.sub(
        r"[|｜]", "/", re.sub(r"\s*[\r\n]+\s*", " ", data.get("description") or "")
    )
    parts = [
        name,
        _label(_TYPE, data.get("type") or "string"),
        description,
        str(data.get("element_code") or ""),
        "、".join(_label(_FLAG, flag) for flag in data.get("flags") or ()),
    ]
    while len(parts) > 2 and not parts[-1]:
        parts.pop()
    return "|".join(parts)


def _render(column: Column, value: object) -> str:
    if value is None:
        return ""
    if (vocab := _VOCAB_OF.get(column)) is not None:
        return _label(vocab, value)
    if column is Column.DELIVERY:
        return "、".join(_label(_DELIVERY, code) for code in _items(value))
    if column in (Column.KEYWORDS, Column.RELATED):
        return "、".join(str(word) for word in _items(value))
    if column is Column.FIELDS:
        return "\n".join(_field_text(item) for item in _items(value))
    if column is Column.IMPACT and isinstance(value, Mapping):
        order = {str(target): index for index, target in enumerate(IMPACT_LABELS)}
        pairs = sorted(value.items(), key=lambda pair: order.get(str(pair[0]), len(order)))
        return "；".join(
            f"{_label(_IMPACT, target)}:{_label(_HARM, harm)}" for target, harm in pairs
        )
    return value if isinstance(value, str) else _text(value)


def input_to_row(values: Mapping[str, object]) -> dict[Column, str]:
    """An entry's input (or export) values as exchange cells: codes → labels, items → syntax."""
    row: dict[Column, str] = {}
    for key, value in values.items():
        column = COLUMN_OF.get(key) or _EXTRA_COLUMNS.get(key)
        if column is not None:  # other keys (ids, statuses …) have no column
            row[column] = _render(column, value)
    return row


_WIDTHS = {Column.NAME: 30, Column.SUMMARY: 44, Column.FIELDS: 40, Column.PROVIDER: 24,
           Column.KEYWORDS: 20, Column.IMPACT: 40, Column.SHARE_CONDITIONS: 24,
           Column.DELIVERY: 18, Column.LEGAL_BASIS: 24, Column.OPEN_CONDITIONS: 24,
           Column.GRADE_REASON: 24, Column.RELATED: 24, Column.RESOURCE_CODE: 24}  # fmt: skip
_WRAPPED = frozenset({Column.SUMMARY, Column.FIELDS})
_BOLD = Font(bold=True)
_WRAP = Alignment(wrap_text=True, vertical="top")
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # XML cannot hold these


def _xlsx_cell(sheet: Any, column: Column, value: str) -> object:
    if not value:
        return None
    value = _ILLEGAL.sub("", value)
    if column not in _WRAPPED and not value.startswith("="):
        return value
    cell = WriteOnlyCell(sheet, value)
    cell.data_type = "s"  # text that starts with "=" stays text, never a formula
    if column in _WRAPPED:
        cell.alignment = _WRAP
    return cell


def write_xlsx(
    rows: Iterable[Mapping[Column, str]],
    *,
    title: str | None = None,
    columns: Sequence[Column] = COLUMNS,
) -> bytes:
    """Stream rows into an xlsx workbook: optional merged title, bold frozen header."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("目录")
    for index, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = _WIDTHS.get(column, 14)
    if title:
        sheet.merged_cells.add(f"A1:{get_column_letter(len(columns))}1")
    sheet.freeze_panes = f"A{3 if title else 2}"  # set before rows: the pane is in the head
    if title:
        heading = WriteOnlyCell(sheet, _ILLEGAL.sub("", title))
        heading.font = Font(bold=True, size=14)
        sheet.append([heading])
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, column.value)
        cell.font = _BOLD
        header.append(cell)
    sheet.append(header)
    for row in rows:
        sheet.append([_xlsx_cell(sheet, column, row.get(column, "")) for column in columns])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _csv_guard(value: str) -> str:
    # Spreadsheet apps run cells that start with = + - @ (CSV injection); read_table strips "'".
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def write_csv(
    rows: Iterable[Mapping[Column, str]],
    *,
    encoding: Literal["utf-8-sig", "gb18030"] = "utf-8-sig",
    columns: Sequence[Column] = COLUMNS,
) -> bytes:
    """Rows as CSV with a Chinese header, UTF-8 with BOM (Excel-friendly) or GB18030."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([column.value for column in columns])
    for row in rows:
        writer.writerow([_csv_guard(row.get(column, "")) for column in columns])
    return buffer.getvalue().encode(encoding)


# --- template --------------------------------------------------------------------------------

_PLATFORM = (Column.RESOURCE_CODE, Column.PUBLISHED_ON, Column.UPDATED_ON)
_TEMPLATE_COLUMNS = tuple(column for column in COLUMNS if column not in _PLATFORM)
_HELP: dict[Column, str] = {
    Column.NAME: "数据资源的名称，2至200字",
    Column.KIND: "不填即为数据资源",
    Column.SUMMARY: "资源内容的简要说明",
    Column.KEYWORDS: "多个用、或空格分隔",
    Column.PROVIDER: "提供单位的名称、简称或机构代码",
    Column.DISTRICT: "区级资源填写所属区",
    Column.FIELDS: "每行一项：名称|类型|说明|数据元编码|标记，名称后均可省略，类型默认字符型，"
    "多个标记用、分隔；也可只写名称，用、分隔。数据资源至少一项",
    Column.FORMAT: "资源的存储形式",
    Column.FREQUENCY: "数据更新的周期",
    Column.SHARE_TYPE: "政务部门之间能否共享",
    Column.SHARE_CONDITIONS: "有条件共享时必填：使用范围和用途",
    Column.DELIVERY: "共享时必填，多个用、分隔",
    Column.LEGAL_BASIS: "不予共享时必填：法律、法规或决定",
    Column.OPEN_TYPE: "能否向社会开放",
    Column.OPEN_CONDITIONS: "有条件开放时必填",
    Column.THEME: "填代码、名称或“05 医疗卫生”",
    Column.IMPACT: "写法：国家安全:无；经济社会公共利益:一般；组织个人权益:严重",
    Column.GRADE: "不填则按影响评估计算；与计算结果不同时须写定级理由",
    Column.GRADE_REASON: "分级与影响评估结果不同时必填",
    Column.RELATED: "关联目录的资源代码或名称，多个用、分隔",
    Column.DUTY: "对应的职责事项",
    Column.SYSTEM: "数据所在的信息系统",
    Column.TABLE: "数据所在的库表",
    Column.RESOURCE_CODE: "平台生成，导出时附带，导入时忽略",
    Column.PUBLISHED_ON: "平台生成，导出时附带，导入时忽略",
    Column.UPDATED_ON: "平台生成，导出时附带，导入时忽略",
}
_ALLOWED: dict[Column, str] = {
    Column.KIND: "、".join(KIND_LABELS.values()),
    Column.FIELDS: f"类型：{'、'.join(TYPE_LABELS.values())}；"
    f"标记：{'、'.join(FLAG_LABELS.values())}",
    Column.FORMAT: "、".join(FORMAT_LABELS.values()),
    Column.FREQUENCY: "、".join(FREQUENCY_LABELS.values()),
    Column.SHARE_TYPE: "、".join(SHARE_LABELS.values()),
    Column.DELIVERY: "、".join(DELIVERY_LABELS.values()),
    Column.OPEN_TYPE: "、".join(OPEN_LABELS.values()),
    Column.THEME: "、".join(f"{code} {label}" for code, (label, _) in THEMES.items()),
    Column.IMPACT: f"影响对象：{'、'.join(IMPACT_LABELS.values())}；"
    f"影响程度：{'、'.join(HARM_LABELS.values())}",
    Column.GRADE: "、".join(GRADE_LABELS.values()),
}
# Dropdowns hold labels (Excel caps an inline list at 255 characters); 共享方式 takes several
# values, so its list suggests without refusing other input.
_DROPDOWNS: dict[Column, tuple[list[str], bool]] = {
    Column.KIND: (list(KIND_LABELS.values()), True),
    Column.FORMAT: (list(FORMAT_LABELS.values()), True),
    Column.FREQUENCY: (list(FREQUENCY_LABELS.values()), True),
    Column.SHARE_TYPE: (list(SHARE_LABELS.values()), True),
    Column.DELIVERY: (list(DELIVERY_LABELS.values()), False),
    Column.OPEN_TYPE: (list(OPEN_LABELS.values()), True),
    Column.THEME: ([label for label, _ in THEMES.values()], True),
    Column.GRADE: (list(GRADE_LABELS.values()), True),
}
_EXAMPLE: dict[str, object] = {
    "kind": "resource",
    "name": "公共自行车站点信息",
    "summary": "全市公共自行车站点的位置、车桩数量和运营状态。",
    "keywords": ["公共自行车", "站点"],
    "provider": "市交通委员会",
    "fields": [
        {"name": name, "type": kind, "description": note, "element_code": None, "flags": []}
        for name, kind, note in (
            ("站点编号", "string", ""),
            ("站点名称", "string", ""),
            ("车桩数", "integer", "可用车桩数量"),
        )
    ],
    "format": "database",
    "update_frequency": "daily",
    "share_type": "conditional",
    "share_conditions": "仅用于交通运行监测和公共服务",
    "delivery": ["api", "batch"],
    "open_type": "unconditional",
    "theme": "04",
    "impact": {"national_security": "none", "public_interest": "none", "rights": "none"},
}
_REQUIRED_FILL = PatternFill("solid", fgColor="FFF2CC")


def template_xlsx() -> bytes:
    """A blank catalogue workbook: sheet 目录 with dropdowns and an example, sheet 填写说明."""
    book = Workbook()
    sheet = book.create_sheet("目录", 0)
    book.remove(book.worksheets[1])
    example = input_to_row(_EXAMPLE)
    for index, column in enumerate(_TEMPLATE_COLUMNS, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = _WIDTHS.get(column, 14)
        head = sheet.cell(row=1, column=index, value=column.value)
        head.font = _BOLD
        if column in _REQUIRED:
            head.fill = _REQUIRED_FILL
            head.comment = Comment(f"必填。{_HELP[column]}", "公数")
        cell = sheet.cell(row=2, column=index, value=example.get(column) or None)
        if column in _WRAPPED:
            cell.alignment = _WRAP
        if column in _DROPDOWNS:
            values, strict = _DROPDOWNS[column]
            rule = DataValidation(
                type="list",
                formula1=f'"{",".join(values)}"',
                allow_blank=True,
                showErrorMessage=strict,
                showInputMessage=True,
                promptTitle=column.value,
                prompt=_HELP[column][:255],
                errorTitle=column.value,
                error=f"请从列表中选择：{'、'.join(values)}"[:255],
            )
            rule.add(f"{letter}2:{letter}1000")
            sheet.add_data_validation(rule)
    sheet.freeze_panes = "A2"
    guide = book.create_sheet("填写说明")
    guide.append(["列名", "是否必填", "说明", "可选值"])
    for cell in guide[1]:
        cell.font = _BOLD
    for column in COLUMNS:
        required = "必填" if column in _REQUIRED else ""
        guide.append([column.value, required, _HELP[column], _ALLOWED.get(column, "")])
    for letter, width in zip("ABCD", (14, 10, 60, 60), strict=True):
        guide.column_dimensions[letter].width = width
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
