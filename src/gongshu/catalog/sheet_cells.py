"""Catalogue cells: a sheet row's text parsed into entry input, and entry input back into text.

Parsing is strict: every unknown value becomes a ``CellError`` naming the row and the column
header the user sees. ``input_to_row`` is the inverse of ``row_to_input``, so an export reads
back to the same input. Coded columns accept each code, its label and common spellings.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from gongshu.catalog.schemas import COLUMN_OF, EntryInput
from gongshu.catalog.vocab import (
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
from gongshu.kernel.tabular import cell_text

__all__ = ["CellError", "SheetRow", "input_to_row", "row_to_input"]


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


def _items_of(text: str) -> list[str]:
    """A 数据项 cell's items: one per line or per ";", keeping a ";" inside a description."""
    if not _PIPE.search(text):  # the simple form: 姓名、性别、出生日期
        return _NAME_SEP.split(text)
    items: list[str] = []
    for line in text.split("\n"):
        pieces = _ITEM_SEP.split(line)  # text, separator, text, separator, …
        current = pieces[0]
        for separator, segment in zip(pieces[1::2], pieces[2::2], strict=True):
            if not _starts_item(segment, current):
                current += separator + segment
            elif segment.strip():
                items.append(current)
                current = segment
        items.append(current)
    return items


def _fields(text: str, problems: list[str]) -> list[dict[str, object]]:
    fields = (_field(item, problems) for item in _items_of(text) if item.strip())
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


# --- input → row ---------------------------------------------------------------------------------

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
    return value if isinstance(value, str) else cell_text(value)


def input_to_row(values: Mapping[str, object]) -> dict[Column, str]:
    """An entry's input (or export) values as exchange cells: codes → labels, items → syntax."""
    row: dict[Column, str] = {}
    for key, value in values.items():
        column = COLUMN_OF.get(key) or _EXTRA_COLUMNS.get(key)
        if column is not None:  # other keys (ids, statuses …) have no column
            row[column] = _render(column, value)
    return row
