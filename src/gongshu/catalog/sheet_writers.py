"""Catalogue spreadsheets out: xlsx and CSV exports, and the blank template departments fill in.

Cells are written as text, never as formulas: xlsx cells that start with "=" are typed as
strings, and CSV cells that start with = + - @ get a leading "'" that ``read_table`` removes.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from gongshu.catalog.sheet_cells import input_to_row
from gongshu.catalog.sheet_headers import REQUIRED
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
)
from gongshu.kernel.tabular import guard_formula

__all__ = ["template_xlsx", "write_csv", "write_xlsx"]

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
        sheet.merged_cells.add(f"A1:{get_column_letter(max(len(columns), 1))}1")
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
        # Spreadsheet apps run cells that start with = + - @ (CSV injection); read_table strips "'".
        writer.writerow([guard_formula(row.get(column, "")) for column in columns])
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
        if column in REQUIRED:
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
        required = "必填" if column in REQUIRED else ""
        guide.append([column.value, required, _HELP[column], _ALLOWED.get(column, "")])
    for letter, width in zip("ABCD", (14, 10, 60, 60), strict=True):
        guide.column_dimensions[letter].width = width
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
