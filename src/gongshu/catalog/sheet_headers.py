"""Catalogue sheet headers: which header text names which exchange column.

Headers forgive layout: decorated ("*目录名称（必填）"), full-width and alias headers all name
their column, and a two-row header is joined by ``gongshu.kernel.tabular.find_header``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from openpyxl.utils import get_column_letter

from gongshu.catalog.vocab import Column
from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.tabular import HEADER_SCAN, Header, file_place, file_problem, find_header

__all__ = ["REQUIRED", "column_of", "header_of", "map_header", "no_header"]

REQUIRED: tuple[Column, ...] = (
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


def column_of(text: str) -> Column | None:
    """The column a header text names, if any."""
    return _HEADERS.get(_header_key(text)) if text else None


def _names_a_catalogue(found: set[Column]) -> bool:
    return Column.NAME in found and len(found) >= 3


def header_of(top: Sequence[Sequence[str]]) -> Header | None:
    """The row (or row pair) among the first ten that names the most known columns."""
    return find_header(top, column_of, accept=_names_a_catalogue)


def map_header(
    header: Header, *, filename: str, sheet: str
) -> tuple[list[tuple[int, Column]], list[str]]:
    """Column positions and unknown headers; refuses duplicate or missing required headers."""
    row = header.index + header.height
    where = file_place(filename, sheet, row)
    positions: dict[Column, list[int]] = {}
    unknown: list[str] = []
    for index, text in enumerate(header.texts):
        column = column_of(text)
        if column is not None:
            positions.setdefault(column, []).append(index)
        elif text and _header_key(text) not in _IGNORED_HEADERS:
            unknown.append(re.sub(r"\s+", " ", text))
    for column, indexes in positions.items():
        if len(indexes) > 1:
            letters = ", ".join(get_column_letter(index + 1) for index in indexes)
            message = f"header {column.value} appears twice (columns {letters})"
            raise InvalidInput(
                f"{where}: {message}",
                details=[file_problem(filename, sheet, row, column.value, message)],
            )
    missing = [column for column in REQUIRED if column not in positions]
    if missing:
        names = ", ".join(missing)
        raise InvalidInput(
            f"{where}: missing required column(s) {names}",
            details=[
                file_problem(filename, sheet, row, column.value, "missing required column")
                for column in missing
            ],
        )
    mapping = sorted(((indexes[0], column) for column, indexes in positions.items()))
    return mapping, unknown


def no_header(filename: str, sheet: str) -> InvalidInput:
    """The error for a sheet without a header row in its first rows."""
    message = (
        f"no header row in the first {HEADER_SCAN} rows; a header names 目录名称 "
        "and at least two other known columns"
    )
    return InvalidInput(
        f"{file_place(filename, sheet)}: {message}",
        details=[file_problem(filename, sheet, None, "", message)],
    )
