"""Tabular files: xlsx workbooks as Excel, WPS and openpyxl save them, CSV text in the encodings
departments use, and headers found among title rows — read through the kernel's public API."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from datetime import date, datetime, time
from io import BytesIO

import pytest
from openpyxl import Workbook

from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.tabular import (
    CellValue,
    cell_text,
    csv_rows,
    decode_csv,
    file_kind,
    find_header,
    guard_formula,
    join_header,
    open_xlsx,
    sniff_delimiter,
    unguard_formula,
)

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE = "http://schemas.openxmlformats.org/package/2006/relationships"


def excel_xlsx(header: Sequence[str], cells: str, *, date1904: bool = False, row: int = 3) -> bytes:
    """A workbook laid out as Excel and WPS save it (openpyxl cannot): shared strings, rich
    text with phonetic runs, date styles, namespaced row attributes, a missing row."""
    strings = "".join(f"<si><t>{text}</t></si>" for text in header)
    heads = "".join(f'<c r="{chr(65 + i)}1" t="s"><v>{i}</v></c>' for i in range(len(header)))
    rich = (
        "<si><r><rPr><b/></rPr><t>公交</t></r><r><t>线路信息</t></r>"
        '<rPh sb="0" eb="2"><t>コウ</t></rPh></si><si><t>全市_x000D_线路</t></si>'
    )
    flags = ' date1904="1"' if date1904 else ""
    parts = {
        "_rels/.rels": f'<Relationships xmlns="{PACKAGE}"><Relationship Id="rId1" '
        f'Type="{RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook xmlns="{MAIN}" xmlns:r="{RELS}"><workbookPr{flags}/>'
        '<sheets><sheet name="目录" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{PACKAGE}">'
        f'<Relationship Id="rId1" Type="{RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{RELS}/sharedStrings" Target="sharedStrings.xml"/>'
        f'<Relationship Id="rId3" Type="{RELS}/styles" Target="/xl/styles.xml"/>'
        "</Relationships>",
        "xl/styles.xml": f'<styleSheet xmlns="{MAIN}"><numFmts count="1"><numFmt numFmtId="176"'
        ' formatCode="yyyy&quot;年&quot;m&quot;月&quot;d&quot;日&quot;"/></numFmts><cellXfs>'
        '<xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="176"/></cellXfs></styleSheet>',
        "xl/sharedStrings.xml": f'<sst xmlns="{MAIN}">{strings}{rich}</sst>',
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{MAIN}" xmlns:x14ac="urn:x14ac">'
        f'<dimension ref="A1:Q3"/><sheetData><row r="1" x14ac:dyDescent="0.25">{heads}</row>'
        f'<row r="{row}" x14ac:dyDescent="0.25">{cells}</row></sheetData></worksheet>',
    }
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def openpyxl_xlsx(*sheets: tuple[str, Sequence[Sequence[object]]], chart: str = "") -> bytes:
    """A workbook made by openpyxl: the named sheets with their rows, optionally a chart sheet."""
    book = Workbook()
    book.remove(book.worksheets[0])
    for name, rows in sheets:
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
    if chart:
        book.create_chartsheet(chart)
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def rows_of(data: bytes, sheet: str, *, filename: str = "目录.xlsx") -> list[list[CellValue]]:
    """Every row of one sheet."""
    with open_xlsx(data, filename=filename) as book:
        return list(book.rows(sheet))


def names_the_file(error: InvalidInput, filename: str) -> str:
    """The message, once it is checked to name the file in its text and its details."""
    assert error.message.startswith(filename)
    assert error.details[0]["file"] == filename
    return error.message


# --- xlsx ------------------------------------------------------------------------------------


def test_a_workbook_saved_by_excel_reads_as_excel_shows_it() -> None:
    header = ["名称", "摘要", "分类", "发布日期", "更新日期", "代码", "已审核"]
    cells = (
        f'<c r="A3" t="s"><v>{len(header)}</v></c><c r="B3" t="s"><v>{len(header) + 1}</v></c>'
        '<c r="D3"><v>4</v></c><c r="E3" s="1"><v>45717</v></c><c r="F3" s="2"><v>45717.5</v>'
        '</c><c r="G3" t="e"><v>#N/A</v></c><c t="inlineStr"><is><t>是</t></is></c>'
        '<c r="I3" t="b"><v>1</v></c><c r="J3" t="s"/>'
    )

    first, missing, row = rows_of(excel_xlsx(header, cells), "目录")

    assert first == header
    assert missing == []  # row 2 is absent from the XML; row numbers stay true
    assert row == [
        "公交线路信息",  # the phonetic run is not text
        "全市\r线路",  # _x000D_ is OOXML's escape for a carriage return
        None,
        4,
        datetime(2025, 3, 1),
        datetime(2025, 3, 1, 12),
        "#N/A",
        "是",  # an inline string without a cell reference takes the next column
        True,
        None,
    ]
    assert [cell_text(value) for value in row[1:8]] == [
        "全市\n线路", "", "4", "2025-03-01", "2025-03-01 12:00:00", "#N/A", "是",
    ]  # fmt: skip


def test_a_1904_workbook_reads_the_same_dates_and_a_time_alone() -> None:
    cells = '<c r="A3" s="1"><v>44255</v></c><c r="B3" s="2"><v>0.5</v></c><c r="C3"><v>0.5</v></c>'

    *_, row = rows_of(excel_xlsx(["日期"], cells, date1904=True), "目录")

    assert row == [datetime(2025, 3, 1), time(12), 0.5]


def test_sheets_are_listed_in_order_without_chart_sheets() -> None:
    data = openpyxl_xlsx(("说明", [["填表说明"]]), ("目录", [["名称"], ["公交"]]), chart="图表")

    with open_xlsx(data, filename="目录.xlsx") as book:
        assert book.sheets == ["说明", "目录"]
        assert list(book.rows("目录")) == [["名称"], ["公交"]]


def test_merged_ranges_read_as_their_top_left_value_and_empty_cells() -> None:
    book = Workbook()
    sheet = book.worksheets[0]
    sheet.title = "目录"
    sheet.append(["标题", None, None, "页码"])
    sheet.append([None, "名称", None, "摘要"])
    sheet.merge_cells("A1:C1")
    sheet.merge_cells("B2:C2")
    buffer = BytesIO()
    book.save(buffer)

    assert rows_of(buffer.getvalue(), "目录") == [
        ["标题", None, None, "页码"], [None, "名称", None, "摘要"],
    ]  # fmt: skip


def test_an_unknown_sheet_is_refused_with_the_sheets_listed() -> None:
    data = openpyxl_xlsx(("说明", [["填表说明"]]), ("目录", [["名称"]]))

    with pytest.raises(InvalidInput) as caught:
        rows_of(data, "数据")

    message = names_the_file(caught.value, "目录.xlsx")
    assert "no sheet named '数据'; sheets: 说明, 目录" in message
    assert caught.value.details[0]["sheet"] == "数据"


def test_a_truncated_xlsx_is_refused() -> None:
    data = openpyxl_xlsx(("目录", [["名称"], ["公交"]]))

    with pytest.raises(InvalidInput) as caught:
        open_xlsx(data[: len(data) // 2], filename="目录.xlsx")

    assert "not a readable xlsx file" in names_the_file(caught.value, "目录.xlsx")


def test_a_damaged_sheet_is_refused_while_its_rows_stream() -> None:
    data = excel_xlsx(["名称"], '<c r="A3" t="s"><v>99</v></c>')  # no 100th shared string

    with open_xlsx(data, filename="目录.xlsx") as book:
        rows = book.rows("目录")
        assert next(rows) == ["名称"]
        with pytest.raises(InvalidInput) as caught:
            list(rows)

    assert "not a readable xlsx file" in names_the_file(caught.value, "目录.xlsx")


@pytest.mark.parametrize(
    ("row", "cells"),
    [(2_000_000_000, '<c r="A1"><v>1</v></c>'), (3, '<c r="ZZZZ3"><v>1</v></c>')],
)
def test_forged_row_and_column_numbers_are_refused(row: int, cells: str) -> None:
    data = excel_xlsx(["名称"], cells, row=row)
    with open_xlsx(data, filename="forged.xlsx") as book, pytest.raises(InvalidInput) as caught:
        list(book.rows("目录"))
    assert "not a readable xlsx file" in names_the_file(caught.value, "forged.xlsx")


# --- files and CSV ---------------------------------------------------------------------------


def test_file_kind_tells_workbooks_from_text() -> None:
    assert file_kind(openpyxl_xlsx(("目录", [])), filename="whatever.csv") == "xlsx"
    assert file_kind("名称,摘要".encode(), filename="目录.csv") == "csv"
    assert file_kind(b"\x81\xff", filename="目录") == "csv"  # decode_csv judges the text


@pytest.mark.parametrize(
    ("data", "filename", "fragment"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "目录.xls", "old .xls workbook"),
        ("目录名称,摘要".encode(), "目录.xlsx", "not a readable xlsx file"),
    ],
)
def test_old_workbooks_and_false_xlsx_names_are_refused(
    data: bytes, filename: str, fragment: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        file_kind(data, filename=filename)

    assert fragment in names_the_file(caught.value, filename)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (bytes(range(256)) * 8, "not a readable xlsx or CSV file"),
        (b"\x81\xff\x81\xff", "not UTF-8, GB18030 or UTF-16 text"),
    ],
)
def test_binary_and_undecodable_csv_is_refused(data: bytes, fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_csv(data, filename="目录.csv")

    assert fragment in names_the_file(caught.value, "目录.csv")


@pytest.mark.parametrize(
    "data",
    [
        "名称,摘要\n公交,线路".encode("gbk"),
        "\ufeff名称,摘要\n公交,线路".encode(),
        "名称,摘要\n公交,线路".encode("utf-16"),
    ],
)
def test_csv_text_in_the_encodings_departments_use(data: bytes) -> None:
    assert decode_csv(data, filename="目录.csv").lstrip("\ufeff") == "名称,摘要\n公交,线路"


def test_a_quoted_line_break_stays_inside_one_record() -> None:
    text = '名称;摘要\r\n"公交";"第一行\n第二行"\r\n\r\n地铁;站点'

    assert list(csv_rows(text, delimiter=";", filename="目录.csv")) == [
        ["名称", "摘要"], ["公交", "第一行\n第二行"], [], ["地铁", "站点"],
    ]  # fmt: skip


def test_a_malformed_csv_is_refused() -> None:
    text = '名称,摘要\n公交,"' + "线路" * 100_000 + '"\n'  # past csv's field size limit

    with pytest.raises(InvalidInput) as caught:
        list(csv_rows(text, delimiter=",", filename="目录.csv"))

    assert "not a readable CSV file (field larger than field limit" in names_the_file(
        caught.value, "目录.csv"
    )


def test_the_delimiter_is_the_one_the_score_rates_best() -> None:
    text = "目录\n名称\t摘要,说明\t格式\n公交\t线路,站点\t数据库"

    def widest(rows: list[list[str]]) -> int | None:
        width = max(len(row) for row in rows)
        return width if width > 1 else None

    assert sniff_delimiter(text, widest, filename="目录.csv") == "\t"
    assert sniff_delimiter(text, widest, filename="目录.csv", delimiters=(",", ";")) == ","
    assert sniff_delimiter("目录\n名称", widest, filename="目录.csv") is None


# --- cells -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        ("  公交  ", "公交"),
        ("２０２５年ＧＤＰ统计（季度）", "2025年GDP统计（季度）"),  # Chinese punctuation stays
        ("交通　出行", "交通 出行"),
        ("ＣＳＶ", "CSV"),
        ("m²（平方米）", "m²（平方米）"),
        ("第一行\r\n第二行\r第三行", "第一行\n第二行\n第三行"),
        (5, "5"),
        (12345.0, "12345"),
        (3.5, "3.5"),
        (True, "是"),
        (False, "否"),
        (datetime(2025, 3, 1), "2025-03-01"),
        (datetime(2025, 3, 1, 8, 30), "2025-03-01 08:30:00"),
        (date(2025, 3, 1), "2025-03-01"),
        (time(8, 30), "08:30:00"),
    ],
)
def test_cell_text(value: object, text: str) -> None:
    assert cell_text(value) == text


@pytest.mark.parametrize(
    ("text", "guarded"),
    [("=1+1", "'=1+1"), ("+86", "'+86"), ("-户籍", "'-户籍"), ("@a", "'@a"), ("公交", "公交"),
     ("'引号", "'引号")],
)  # fmt: skip
def test_formulas_are_guarded_and_unguarded(text: str, guarded: str) -> None:
    assert guard_formula(text) == guarded
    assert unguard_formula(guarded) == text


# --- headers ---------------------------------------------------------------------------------

KNOWN = {"名称": "name", "摘要": "summary", "格式": "format", "共享属性": "share", "分级": "grade"}


def column_of(text: str) -> str | None:
    """A toy vocabulary of header texts."""
    return KNOWN.get(text.strip())


def at_least_three(found: set[str]) -> bool:
    """A header names three known columns."""
    return len(found) >= 3


def test_a_two_row_header_takes_the_lower_cell_else_the_upper_spanning_down() -> None:
    upper = ["序号", "名称", "共享", "", "分类分级", ""]
    lower = ["", "", "属性", "方式", "分类", "分级", "备注"]

    assert join_header(upper, lower, lambda text: column_of(text) is not None) == [
        "序号", "名称", "共享属性", "方式", "分类", "分级", "备注",
    ]  # fmt: skip


def test_the_header_is_found_below_title_rows() -> None:
    rows = [
        ["资源目录（2025年）"],
        ["填报单位：交通委"],
        ["名称", "摘要", "格式"],
        ["公交", "线路"],
    ]

    header = find_header(rows, column_of, accept=at_least_three)

    assert header is not None
    assert (header.index, header.height, header.texts) == (2, 1, ["名称", "摘要", "格式"])
    assert header.score == (3, True, -2)


def test_a_two_row_header_wins_when_it_names_more_columns() -> None:
    rows = [["名称", "摘要", "格式", "共享", ""], ["", "", "", "属性", "分级"], ["公交"]]

    header = find_header(rows, column_of, accept=at_least_three)

    assert header is not None
    assert (header.index, header.height) == (0, 2)
    assert header.texts == ["名称", "摘要", "格式", "共享属性", "分级"]


def test_no_header_among_the_first_rows() -> None:
    rows = [["标题"]] * 11 + [["名称", "摘要", "格式"]]

    assert find_header(rows, column_of, accept=at_least_three) is None
    assert find_header(rows, column_of, accept=at_least_three, scan=11) is not None
    assert find_header([["名称", "摘要"]], column_of, accept=at_least_three) is None
