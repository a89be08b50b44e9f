"""Catalogue spreadsheets: real xlsx and CSV files in, cell errors and round-tripping files out.

Every file here is built the way departments build theirs — openpyxl workbooks with merged
titles and two-row headers, GBK and BOM CSVs — and read back through the public functions.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from io import BytesIO
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from gongshu.catalog.schemas import EntryInput
from gongshu.catalog.sheets import (
    CellError,
    SheetRow,
    input_to_row,
    read_table,
    row_to_input,
    template_xlsx,
    write_csv,
    write_xlsx,
)
from gongshu.catalog.vocab import COLUMNS, Column
from gongshu.kernel.errors import InvalidInput
from tests.kernel.test_tabular import excel_xlsx

TITLE = "北京市交通委员会政务数据资源目录（2025年）"
HEADER = ["目录名称", "摘要", "提供单位", "数据项", "数据格式", "更新频率", "共享属性",
          "共享条件", "共享方式", "不予共享依据", "开放属性", "开放条件", "分类"]  # fmt: skip
# A valid row in every combination: each conditional column is already filled in.
VALID = {
    "目录名称": "公交线路信息",
    "摘要": "全市公交线路的走向和站点。",
    "提供单位": "市交通委员会",
    "数据项": "线路编号|字符型\n线路名称",
    "数据格式": "数据库",
    "更新频率": "每日",
    "共享属性": "无条件共享",
    "共享条件": "仅用于公交调度",
    "共享方式": "接口服务",
    "不予共享依据": "《北京市公共数据管理办法》第十条",
    "开放属性": "无条件开放",
    "开放条件": "实名注册用户",
    "分类": "交通出行",
}


def line(header: Sequence[str], changes: Mapping[str, object] | None = None) -> list[object]:
    """A data row under ``header``: the valid values, with ``changes``."""
    cells: dict[str, object] = {**VALID, **(changes or {})}
    return [cells.get(name, "") for name in header]


def xlsx(
    rows: Sequence[Sequence[object]],
    *,
    merges: Sequence[str] = (),
    sheet: str = "目录",
    before: Sequence[tuple[str, Sequence[Sequence[object]]]] = (),
) -> bytes:
    """A workbook as Excel users make it: rows appended, then ranges merged."""
    book = Workbook()
    first = book.active
    assert isinstance(first, Worksheet)
    book.remove(first)
    for name, other_rows in before:
        other = book.create_sheet(name)
        for row in other_rows:
            other.append(list(row))
    target = book.create_sheet(sheet)
    for row in rows:
        target.append(list(row))
    for cell_range in merges:
        target.merge_cells(cell_range)
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def convert(changes: dict[str, object]) -> dict[str, object]:
    """The input one valid row becomes with ``changes``; fails on any cell error."""
    cells = {Column(name): str(value) for name, value in {**VALID, **changes}.items()}
    values, errors = row_to_input(SheetRow(7, cells))
    assert errors == []
    assert values is not None
    return values


def fields_of(values: dict[str, object]) -> list[dict[str, Any]]:
    """The data items of converted values."""
    fields = values["fields"]
    assert isinstance(fields, list)
    return fields


def errors_of(changes: dict[str, object]) -> list[CellError]:
    """The cell errors of the valid row with ``changes``, read from a file (data on row 5)."""
    data = xlsx([[TITLE], ["填报单位：市交通委员会"], HEADER, [], line(HEADER, changes)])
    rows = read_table(data, filename="目录.xlsx").rows
    assert [row.row for row in rows] == [5]
    values, errors = row_to_input(rows[0])
    assert values is None
    return errors


# --- round trips -----------------------------------------------------------------------------

ENTRIES: list[dict[str, object]] = [
    {
        "kind": "resource",
        "name": "居民户籍信息（含迁入迁出）",
        "summary": "-户籍登记信息，含“迁入、迁出”记录；m²（平方米）保持原样。\n第二段。",
        "keywords": ["户籍", "人口", "迁移"],
        "provider": "市公安局",
        "district": "朝阳区",
        "fields": [
            {"name": "姓名", "type": "string", "description": "户籍登记姓名",
             "element_code": "DE0001", "flags": ["identifier", "sensitive"]},
            {"name": "性别", "type": "string", "description": "1:男;2:女", "element_code": None,
             "flags": []},
            {"name": "出生日期", "type": "date", "description": "", "element_code": None,
             "flags": ["quasi_identifier"]},
            {"name": "人数", "type": "integer", "description": "", "element_code": "DE0099",
             "flags": []},
        ],
        "format": "database",
        "update_frequency": "daily",
        "share_type": "conditional",
        "share_conditions": "仅用于政务服务身份核验",
        "delivery": ["api", "batch", "sandbox"],
        "open_type": "conditional",
        "open_conditions": "=仅提供统计结果",
        "theme": "12",
        "impact": {"national_security": "none", "public_interest": "general",
                   "rights": "serious"},
        "grade": "important",
        "grade_reason": "汇聚后涉及大量个人信息",
        "related": ["RC-0001", "RC-0002"],
        "duty": "户籍管理",
        "system": "人口信息管理系统",
        "table": "t_person",
    },
    {
        "kind": "product",
        "name": "出行热力指数",
        "summary": "按小时发布的全市出行热力指数。",
        "provider": "数据集团",
        "format": "api",
        "update_frequency": "realtime",
        "share_type": "none",
        "legal_basis": "运营协议约定",
        "open_type": "none",
        "theme": "04",
    },
    {
        "kind": "resource",
        "name": "医疗机构名录",
        "summary": "全市医疗机构名称、地址、等级。",
        "provider": "市卫生健康委员会",
        "fields": [{"name": "机构名称", "type": "string", "description": "",
                    "element_code": None, "flags": []}],
        "format": "spreadsheet",
        "update_frequency": "irregular",
        "share_type": "unconditional",
        "delivery": ["file"],
        "open_type": "unconditional",
        "theme": "05",
        "grade": "general-1",
    },
]  # fmt: skip


@pytest.mark.parametrize("kind", ["xlsx", "utf-8-sig", "gb18030"])
def test_an_export_reads_back_to_the_same_input(kind: str) -> None:
    rows = [input_to_row(entry) for entry in ENTRIES]
    if kind == "xlsx":
        data, name, first = write_xlsx(rows, title=TITLE), "导出.xlsx", 3
    elif kind == "gb18030":
        data, name, first = write_csv(rows, encoding="gb18030"), "导出.csv", 2
    else:
        data, name, first = write_csv(rows, encoding="utf-8-sig"), "导出.csv", 2

    table = read_table(data, filename=name)

    assert table.columns == list(COLUMNS)
    assert table.unknown_headers == []
    assert [row.row for row in table.rows] == [first, first + 1, first + 2]
    assert [row_to_input(row) for row in table.rows] == [(entry, []) for entry in ENTRIES]


def test_input_to_row_takes_validated_models_too() -> None:
    entry = EntryInput.model_validate(ENTRIES[0])

    row = input_to_row(entry.model_dump())  # enums, FieldInput dumps, None for blanks

    assert {column: text for column, text in row.items() if text} == input_to_row(ENTRIES[0])
    assert row[Column.LEGAL_BASIS] == ""


def test_input_to_row_writes_labels_and_the_data_item_syntax() -> None:
    row = input_to_row({**ENTRIES[0], "resource_code": "RC-0003", "id": "ignored"})

    assert row[Column.SHARE_TYPE] == "有条件共享"
    assert row[Column.DELIVERY] == "接口服务、批量交换、沙箱"
    assert row[Column.THEME] == "民政服务"
    assert row[Column.GRADE] == "重要数据"
    assert row[Column.IMPACT] == "国家安全:无；经济社会公共利益:一般；组织个人权益:严重"
    assert row[Column.FIELDS].splitlines() == [
        "姓名|字符型|户籍登记姓名|DE0001|个人标识、敏感",
        "性别|字符型|1:男;2:女",
        "出生日期|日期型|||准标识",
        "人数|整数型||DE0099",
    ]
    assert row[Column.RESOURCE_CODE] == "RC-0003"
    assert "id" not in {column.name for column in row}


def test_an_export_has_a_merged_title_a_bold_frozen_header_and_wrapped_text() -> None:
    data = write_xlsx([input_to_row(ENTRIES[0])], title=TITLE)

    sheet = load_workbook(BytesIO(data))["目录"]
    assert [str(merged) for merged in sheet.merged_cells.ranges] == ["A1:Z1"]
    assert sheet["A1"].value == TITLE
    assert sheet.freeze_panes == "A3"
    assert sheet["A2"].value == "目录名称" and sheet["A2"].font.b
    assert sheet["C3"].alignment.wrap_text  # 摘要
    assert sheet.column_dimensions["C"].width > sheet.column_dimensions["B"].width
    formula_like = sheet.cell(row=3, column=COLUMNS.index(Column.OPEN_CONDITIONS) + 1)
    assert (formula_like.value, formula_like.data_type) == ("=仅提供统计结果", "s")


def test_a_csv_export_defuses_formulas() -> None:
    text = write_csv([input_to_row(ENTRIES[0])]).decode("utf-8-sig")

    assert ",'=仅提供统计结果," in text
    assert ",\"'-户籍登记信息" in text


# --- layouts ---------------------------------------------------------------------------------


def test_a_gbk_csv_with_tabs_and_alias_headers() -> None:
    header = ["序号", "信息资源名称", "资源摘要", "提供方", "信息项", "资源格式", "更新周期",
              "共享类型", "共享方式", "开放类型", "资源分类"]  # fmt: skip
    rows = [
        "北京市交通委员会数据资源目录",
        "\t".join(header),
        "1\t公交线路信息\t全市公交线路\t市交通委员会\t线路编号、线路名称\t数据库\t每日\t"
        "无条件共享\t接口服务\t无条件开放\t04",
        "2\t地铁站点信息\t地铁站点位置\t市交通委员会\t站点名称\tCSV\t每月\t无条件共享\t"
        "文件下载\t不予开放\t交通出行",
    ]
    data = "\r\n".join(rows).encode("gbk")

    table = read_table(data, filename="目录.csv")

    assert table.header_row == 2 and table.sheet == ""
    assert [row.row for row in table.rows] == [3, 4]
    assert table.rows[1].cells[Column.NAME] == "地铁站点信息"
    first, errors = row_to_input(table.rows[0])
    assert errors == []
    assert first is not None
    assert first["fields"] == [
        {"name": name, "type": "string", "description": "", "element_code": None, "flags": []}
        for name in ("线路编号", "线路名称")
    ]
    assert (first["theme"], first["open_type"]) == ("04", "unconditional")


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_a_utf8_bom_csv_with_quoted_line_breaks(delimiter: str) -> None:
    def quoted(cells: Sequence[object]) -> str:
        return delimiter.join('"' + str(cell).replace('"', '""') + '"' for cell in cells)

    changes = {"数据项": "线路编号|字符型\n线路名称|字符型|含“支线”"}
    text = "\n".join([quoted(HEADER), quoted(line(HEADER, changes)), "", quoted(line(HEADER))])
    data = ("\ufeff" + text).encode("utf-8")

    table = read_table(data, filename="目录.csv")

    # A record with a line break in a cell is still one spreadsheet row.
    assert [row.row for row in table.rows] == [2, 4]
    values, errors = row_to_input(table.rows[0])
    assert errors == [] and values is not None
    assert [field["description"] for field in fields_of(values)] == ["", "含“支线”"]


@pytest.mark.parametrize(
    "children", [["共享属性", "共享条件", "共享方式"], ["属性", "条件", "方式"]]
)
def test_a_merged_title_and_a_two_row_header_with_merged_parents(children: list[str]) -> None:
    upper = ["序号", "目录名称", "摘要", "提供单位", "数据项", "数据格式", "更新频率", "共享", "",
             "", "开放属性", "分类分级", "", "备注"]  # fmt: skip
    lower = ["", "", "", "", "", "", "", *children, "", "分类", "分级", ""]
    row = ["1", "公交线路信息", "全市公交线路", "市交通委员会", "线路编号", "数据库", "每日",
           "有条件共享", "仅用于公交调度", "接口服务", "无条件开放", "交通出行", "一般3级",
           "无"]  # fmt: skip
    vertical = [f"{letter}3:{letter}4" for letter in "ABCDEFGKN"]
    data = xlsx(
        [[TITLE], ["填报单位：市交通委员会　　填报日期：2025年3月"], upper, lower, row, [], row],
        merges=["A1:N1", "A2:N2", "H3:J3", "L3:M3", *vertical],
    )

    table = read_table(data, filename="目录.xlsx")

    assert table.header_row == 4
    assert [found.row for found in table.rows] == [5, 7]
    assert table.unknown_headers == ["备注"]
    assert Column.SHARE_CONDITIONS in table.columns and Column.GRADE in table.columns
    values, errors = row_to_input(table.rows[0])
    assert errors == [] and values is not None
    assert values["share_type"] == "conditional"
    assert values["share_conditions"] == "仅用于公交调度"
    assert values["delivery"] == ["api"]
    assert (values["theme"], values["grade"]) == ("04", "general-3")


def test_decorated_headers_are_recognised() -> None:
    header = ["*信息资源名称", "资源摘要（必填）", "提供方\n(必填)", "数据项名称", "资源格式*",
              "更新　频率", "【必填】共享属性", "共享方式（可多选）", " 开放属性 ", "主题分类",
              "", ""]  # fmt: skip
    row = ["公交线路信息", "全市公交线路", "市交通委员会", "线路编号", "数据库", "每日",
           "无条件共享", "接口服务", "无条件开放", "交通出行", "", "多余的值"]  # fmt: skip

    table = read_table(xlsx([header, row]), filename="目录.xlsx")

    assert table.columns == [Column.NAME, Column.SUMMARY, Column.PROVIDER, Column.FIELDS,
                             Column.FORMAT, Column.FREQUENCY, Column.SHARE_TYPE,
                             Column.DELIVERY, Column.OPEN_TYPE, Column.THEME]  # fmt: skip
    assert table.unknown_headers == []
    assert row_to_input(table.rows[0])[1] == []


def test_full_width_characters_numbers_dates_and_line_breaks() -> None:
    header = [*HEADER, "关键词", "资源代码", "发布日期", "更新日期", "定级理由"]
    changes: dict[str, object] = {
        "目录名称": "２０２５年ＧＤＰ统计（季度）",
        "摘要": "第一行\r\n第二行",
        "数据项": "姓名、性别、出生日期",
        "数据格式": "ＣＳＶ",
        "分类": 5,
        "关键词": "交通　出行，公交",
        "资源代码": 12345.0,
        "发布日期": datetime(2025, 3, 1),
        "更新日期": datetime(2025, 3, 1, 8, 30),
        "定级理由": 3.5,
    }

    table = read_table(xlsx([header, line(header, changes)]), filename="目录.xlsx")

    cells = table.rows[0].cells
    assert cells[Column.NAME] == "2025年GDP统计（季度）"  # letters fold, Chinese punctuation stays
    assert cells[Column.SUMMARY] == "第一行\n第二行"
    assert cells[Column.FORMAT] == "CSV"
    assert (cells[Column.THEME], cells[Column.RESOURCE_CODE]) == ("5", "12345")
    assert (cells[Column.PUBLISHED_ON], cells[Column.UPDATED_ON]) == (
        "2025-03-01",
        "2025-03-01 08:30:00",
    )
    assert cells[Column.GRADE_REASON] == "3.5"
    values, errors = row_to_input(table.rows[0])
    assert errors == [] and values is not None
    assert (values["theme"], values["format"]) == ("05", "csv")
    assert values["keywords"] == ["交通", "出行", "公交"]
    assert [field["name"] for field in fields_of(values)] == ["姓名", "性别", "出生日期"]


def test_blank_rows_are_skipped_and_row_numbers_stay_true() -> None:
    numbered: list[object] = ["序号", *HEADER]
    rows: list[list[object]] = [
        [TITLE], numbered, ["1", *line(HEADER)], [], [None, ""], ["2"], ["3", *line(HEADER)],
        ["", *line(HEADER), "", "", ""], [], numbered, ["4", *line(HEADER)],
    ]  # fmt: skip

    table = read_table(xlsx(rows, merges=["A1:N1"]), filename="目录.xlsx")

    # Row 6 holds only a 序号 and row 10 repeats the header: neither is an entry.
    assert [row.row for row in table.rows] == [3, 7, 8, 11]


def test_a_workbook_saved_by_excel() -> None:
    header = [*HEADER, "发布日期", "更新日期", "资源代码", "备注"]
    strings = {text: f'<c t="inlineStr"><is><t>{text}</t></is></c>' for text in VALID.values()}
    cells = (
        f'<c r="A3" t="s"><v>{len(header)}</v></c><c r="B3" t="s"><v>{len(header) + 1}</v></c>'
        + "".join(strings[VALID[name]] for name in HEADER[2:-1])
        + '<c r="M3"><v>4</v></c><c r="N3" s="1"><v>45717</v></c><c r="O3" s="2"><v>45717.5</v>'
        '</c><c r="P3" t="e"><v>#N/A</v></c><c r="Q3" t="b"><v>1</v></c>'
    )

    table = read_table(excel_xlsx(header, cells), filename="目录.xlsx")

    (row,) = table.rows
    assert row.row == 3
    assert row.cells[Column.NAME] == "公交线路信息"  # the phonetic run is not text
    assert row.cells[Column.SUMMARY] == "全市\n线路"
    assert row.cells[Column.THEME] == "4"
    assert row.cells[Column.PUBLISHED_ON] == "2025-03-01"
    assert row.cells[Column.UPDATED_ON] == "2025-03-01 12:00:00"
    assert row.cells[Column.RESOURCE_CODE] == "#N/A"
    assert table.unknown_headers == ["备注"]
    values, errors = row_to_input(row)
    assert errors == [] and values is not None and values["theme"] == "04"


def test_the_header_may_be_on_a_later_sheet() -> None:
    data = xlsx([HEADER, line(HEADER)], sheet="目录", before=[("说明", [["本表由各单位填写"]])])

    assert read_table(data, filename="目录.xlsx").sheet == "目录"
    assert read_table(data, filename="目录.xlsx", sheet="目录").rows[0].row == 2


# --- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "cell", "key", "expected"),
    [
        ("目录类型", "数据产品", "kind", "product"),
        ("目录类型", "service", "kind", "service"),
        ("目录类型", "", "kind", "resource"),
        ("数据格式", "电子表格", "format", "spreadsheet"),
        ("数据格式", "Excel", "format", "spreadsheet"),
        ("数据格式", "json", "format", "json"),
        ("更新频率", "每季度", "update_frequency", "quarterly"),
        ("更新频率", "月", "update_frequency", "monthly"),
        ("更新频率", "REALTIME", "update_frequency", "realtime"),
        ("共享属性", "有条件", "share_type", "conditional"),
        ("共享属性", "unconditional", "share_type", "unconditional"),
        ("开放属性", "不予开放", "open_type", "none"),
        ("开放属性", "conditional", "open_type", "conditional"),
        ("分类", "05", "theme", "05"),
        ("分类", "5", "theme", "05"),
        ("分类", "医疗卫生", "theme", "05"),
        ("分类", "05 医疗卫生", "theme", "05"),
        ("分类", "05-医疗卫生", "theme", "05"),
        ("分类", "医疗卫生（05）", "theme", "05"),
        ("分级", "一般数据3级", "grade", "general-3"),
        ("分级", "一般3级", "grade", "general-3"),
        ("分级", "一般数据第三级", "grade", "general-3"),
        ("分级", "重要数据", "grade", "important"),
        ("分级", "核心", "grade", "core"),
        ("分级", "general-2", "grade", "general-2"),
        ("共享方式", "接口服务、批量交换", "delivery", ["api", "batch"]),
        ("共享方式", "API/文件下载", "delivery", ["api", "file"]),
        ("共享方式", "接口；沙箱;接口", "delivery", ["api", "sandbox"]),
        ("共享方式", "批量交换\n接口", "delivery", ["batch", "api"]),
        ("关键词", "公交、线路 站点，出行;地铁", "keywords",
         ["公交", "线路", "站点", "出行", "地铁"]),
        ("关联目录", "RC-1, RC-2；RC-3", "related", ["RC-1", "RC-2", "RC-3"]),
        ("影响评估", "国家安全：无；经济社会公共利益:一般；组织个人权益：严重", "impact",
         {"national_security": "none", "public_interest": "general", "rights": "serious"}),
        ("影响评估", "rights:especially_serious", "impact", {"rights": "especially_serious"}),
    ],
)  # fmt: skip
def test_coded_cells_accept_labels_and_codes(
    column: str, cell: str, key: str, expected: object
) -> None:
    values = convert({column: cell})

    assert values[key] == expected


def test_a_blank_grade_is_left_to_the_impact_assessment() -> None:
    assert "grade" not in convert({"分级": ""})


def test_data_items_in_the_full_syntax() -> None:
    cell = ("姓名|字符型|户籍登记姓名|DE0001|个人标识、敏感\n"
            "性别|C|1:男;2:女\n"
            "出生日期|日期型；年龄|整数型\n"
            "电话||联系电话||准标识,敏感")  # fmt: skip

    fields = convert({"数据项": cell})["fields"]

    assert fields == [
        {"name": "姓名", "type": "string", "description": "户籍登记姓名",
         "element_code": "DE0001", "flags": ["identifier", "sensitive"]},
        {"name": "性别", "type": "string", "description": "1:男;2:女", "element_code": None,
         "flags": []},
        {"name": "出生日期", "type": "date", "description": "", "element_code": None,
         "flags": []},
        {"name": "年龄", "type": "integer", "description": "", "element_code": None, "flags": []},
        {"name": "电话", "type": "string", "description": "联系电话", "element_code": None,
         "flags": ["quasi_identifier", "sensitive"]},
    ]  # fmt: skip


# --- cell errors -----------------------------------------------------------------------------


def test_an_unknown_share_type_names_row_and_column() -> None:
    assert errors_of({"共享属性": "部分共享"}) == [
        CellError(
            5, "共享属性", "unknown value '部分共享'; allowed: 无条件共享, 有条件共享, 不予共享"
        )
    ]


@pytest.mark.parametrize(
    ("changes", "column", "message"),
    [
        ({"共享属性": "不予共享", "不予共享依据": ""}, "不予共享依据",
         "不予共享 must cite the law, regulation or decision"),
        ({"共享属性": "有条件共享", "共享条件": ""}, "共享条件",
         "有条件共享 must state its scope and purpose"),
        ({"开放属性": "有条件开放", "开放条件": ""}, "开放条件",
         "有条件开放 must state its conditions"),
        ({"共享方式": ""}, "共享方式", "shared data needs at least one delivery method"),
        ({"数据项": ""}, "数据项", "a data resource lists at least one data item"),
        ({"数据项": "姓名\n姓名"}, "数据项", "data item '姓名' appears twice"),
    ],
)  # fmt: skip
def test_cross_column_rules_name_the_missing_column(
    changes: dict[str, object], column: str, message: str
) -> None:
    assert errors_of(changes) == [CellError(5, column, message)]


@pytest.mark.parametrize(
    ("changes", "column", "fragment"),
    [
        ({"目录名称": ""}, "目录名称", "required"),
        ({"目录名称": "甲"}, "目录名称", "at least 2 characters"),
        ({"数据格式": "纸质"}, "数据格式", "unknown value '纸质'; allowed: 数据库, 电子表格"),
        ({"更新频率": "偶尔"}, "更新频率", "allowed: 实时, 每日"),
        ({"开放属性": "公开"}, "开放属性", "allowed: 无条件开放, 有条件开放, 不予开放"),
        ({"分类": "99"}, "分类", "allowed: 01 综合政务, 02 经济发展"),
        ({"分类": "05 交通出行"}, "分类", "unknown value '05 交通出行'"),
        ({"共享方式": "接口、邮寄"}, "共享方式", "unknown value '邮寄'; allowed: 接口服务"),
        ({"数据项": "姓名|文字型"}, "数据项",
         "data item '姓名': unknown type '文字型'; allowed: 字符型"),
        ({"数据项": "姓名|字符型|||隐私"}, "数据项", "data item '姓名': unknown flag '隐私'"),
        ({"数据项": "|字符型"}, "数据项", "has no name"),
        ({"数据项": "a|b|c|d|e|f"}, "数据项", "more than 5 parts"),
    ],
)  # fmt: skip
def test_each_bad_cell_names_its_column(
    changes: dict[str, object], column: str, fragment: str
) -> None:
    errors = errors_of(changes)

    assert [(error.row, error.column) for error in errors] == [(5, column)]
    assert fragment in errors[0].message


def test_impact_and_grade_errors() -> None:
    header = [*HEADER, "影响评估", "分级"]
    row = line(header, {"影响评估": "国家安全:巨大；公共秩序:无；权益", "分级": "三等"})
    (found,) = read_table(xlsx([header, row]), filename="目录.xlsx").rows

    values, errors = row_to_input(found)

    assert values is None
    assert [(error.row, error.column) for error in errors] == [(2, "影响评估")] * 3 + [(2, "分级")]
    assert "unknown harm '巨大'; allowed: 特别严重, 严重, 一般, 无" in errors[0].message
    assert "unknown impact object '公共秩序'" in errors[1].message
    assert "'权益' is not 影响对象:影响程度" in errors[2].message
    assert "unknown value '三等'; allowed: 核心数据, 重要数据" in errors[3].message


# --- file errors -----------------------------------------------------------------------------


def refused(data: bytes, filename: str, **kwargs: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        read_table(data, filename=filename, **kwargs)
    assert caught.value.message.startswith(filename)
    assert caught.value.details[0]["file"] == filename
    return caught.value


def test_a_csv_without_a_header_is_refused() -> None:
    data = "标题\n说明\n".encode()

    assert "no header row in the first 10 rows" in refused(data, "目录.csv").message


def test_a_missing_required_header_is_refused() -> None:
    header = [name for name in HEADER if name not in ("摘要", "分类")]
    data = xlsx([[TITLE], header, line(header)])

    error = refused(data, "目录.xlsx")

    assert "sheet '目录', row 2: missing required column(s) 摘要, 分类" in error.message
    assert [(item["row"], item["column"]) for item in error.details] == [(2, "摘要"), (2, "分类")]


def test_a_header_appearing_twice_is_refused() -> None:
    header = [*HEADER, "资源名称"]

    error = refused(xlsx([header, line(header)]), "目录.xlsx")

    assert "header 目录名称 appears twice (columns A, N)" in error.message
    assert error.details[0]["column"] == "目录名称"


def test_no_header_in_the_first_ten_rows_is_refused() -> None:
    data = xlsx([[TITLE]] + [[]] * 10 + [HEADER, line(HEADER)])

    assert "no header row in the first 10 rows" in refused(data, "目录.xlsx").message


# --- template --------------------------------------------------------------------------------


def test_the_template_has_dropdowns_an_example_and_a_guide() -> None:
    data = template_xlsx()

    book = load_workbook(BytesIO(data))
    assert book.sheetnames == ["目录", "填写说明"]
    sheet = book["目录"]
    headers = [cell.value for cell in sheet[1]]
    assert headers[0] == "目录名称" and "资源代码" not in headers
    required = [cell.value for cell in sheet[1] if cell.fill.fgColor.rgb == "00FFF2CC"]
    assert required == ["目录名称", "摘要", "提供单位", "数据格式", "更新频率", "共享属性",
                        "开放属性", "分类"]  # fmt: skip
    assert all(cell.comment is not None for cell in sheet[1] if cell.value in required)
    lists = {
        headers[next(iter(rule.sqref.ranges)).min_col - 1]: rule.formula1
        for rule in sheet.data_validations.dataValidation
    }
    assert set(lists) == {"目录类型", "数据格式", "更新频率", "共享属性", "共享方式", "开放属性",
                          "分类", "分级"}  # fmt: skip
    assert lists["共享属性"] == '"无条件共享,有条件共享,不予共享"'
    assert all(len(formula) <= 257 for formula in lists.values())
    guide = [
        [str(cell.value or "") for cell in row] for row in book["填写说明"].iter_rows(min_row=2)
    ]
    assert [row[0] for row in guide] == [column.value for column in COLUMNS]
    assert guide[0][1] == "必填"
    assert "无条件共享、有条件共享、不予共享" in next(r[3] for r in guide if r[0] == "共享属性")
    (example,) = read_table(data, filename="模板.xlsx").rows
    assert row_to_input(example)[1] == []


# --- speed -----------------------------------------------------------------------------------


def test_ten_thousand_rows_read_and_convert(capsys: pytest.CaptureFixture[str]) -> None:
    data = write_xlsx([input_to_row(ENTRIES[0])] * 10_000)  # every column filled, 4 data items

    started, cpu = time.perf_counter(), time.process_time()
    table = read_table(data, filename="大目录.xlsx")
    converted = [row_to_input(row) for row in table.rows]
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu

    assert len(converted) == 10_000 and all(values for values, _ in converted)
    with capsys.disabled():  # wall time suffers on a shared machine; CPU time shows the code
        print(
            f"\n10,000-row xlsx, read_table + row_to_input: {10_000 / elapsed:,.0f} rows/s "
            f"({10_000 / cpu:,.0f} rows/s of CPU time)"
        )
