"""Uploaded files read as text columns: real CSV/TSV, xlsx, JSON, NDJSON and Parquet files in the
encodings and layouts departments send, and every kind of file that must be refused."""

from __future__ import annotations

import codecs
import os
import shutil
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from openpyxl import Workbook

from gongshu.datastore import encodings, sheets, textfiles
from gongshu.datastore.sources import RawSource, open_source
from gongshu.kernel.errors import InvalidInput


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(config={"preserve_insertion_order": True})
    yield connection
    connection.close()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def upload(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    name: str,
    content: bytes,
    **options: Any,
) -> RawSource:
    """Write ``content`` as an upload named ``name`` and open it."""
    path = tmp_path / "upload.bin"
    path.write_bytes(content)
    return open_source(con, path, filename=name, workdir=tmp_path / "work", **options)


def rows(con: duckdb.DuckDBPyConnection, raw: RawSource) -> list[tuple[Any, ...]]:
    return con.execute(f"SELECT * FROM ({raw.sql}) ORDER BY _row").fetchall()


def refused(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, name: str, content: bytes, **options: Any
) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        upload(con, tmp_path, name, content, **options)
    return caught.value


# --- CSV and TSV -----------------------------------------------------------------------------


def test_utf8_csv_numbers_rows_from_the_line_after_the_header(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, workdir: Path
) -> None:
    raw = upload(con, tmp_path, "企业.csv", "名称,代码\n甲公司,001\n乙公司,002\n".encode())
    assert (raw.format, raw.encoding, raw.delimiter, raw.header_rows) == ("csv", "utf-8", ",", 1)
    assert raw.headers == ("名称", "代码")
    assert rows(con, raw) == [(2, "甲公司", "001"), (3, "乙公司", "002")]
    assert raw.temp_files == ()  # UTF-8 is read in place
    assert list(workdir.iterdir()) == []


def test_bom_is_not_part_of_the_first_header(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    raw = upload(con, tmp_path, "a.csv", codecs.BOM_UTF8 + "编号,金额\n1,2.5\n".encode())
    assert raw.encoding == "utf-8-sig"
    assert raw.headers == ("编号", "金额")
    assert rows(con, raw) == [(2, "1", "2.5")]


def test_gb18030_is_transcoded_through_a_temp_file_in_workdir(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, workdir: Path
) -> None:
    text = "统一社会信用代码,单位名称,地址\n91330100MA2XXXXX1X,杭州甲公司,拱墅区\n"
    raw = upload(con, tmp_path, "单位.csv", text.encode("gb18030"))
    assert raw.encoding == "gb18030"
    assert raw.headers == ("统一社会信用代码", "单位名称", "地址")
    assert rows(con, raw) == [(2, "91330100MA2XXXXX1X", "杭州甲公司", "拱墅区")]
    assert raw.temp_files == () and list(workdir.iterdir()) == []  # loaded, then removed


@pytest.fixture(params=["iconv", "python"])
def transcoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """GB18030 through the system's iconv, or Python's codec (as where there is no iconv)."""
    if request.param == "python":
        monkeypatch.setattr(encodings, "_ICONV_NAMES", {})
    else:
        assert shutil.which("iconv"), "iconv is part of every Debian system (libc-bin)"
    return str(request.param)


def test_transcoding_is_exact_across_chunk_boundaries(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    transcoder: str,
) -> None:
    monkeypatch.setattr(encodings, "CHUNK", 7)  # splits two- and four-byte characters
    text = "名称,说明\n" + "".join(f"第{i}号,𠀀中文 {i}\n" for i in range(50))
    seen: list[tuple[int, int]] = []
    raw = upload(con, tmp_path, "a.csv", text.encode("gb18030"), progress=lambda *p: seen.append(p))
    assert rows(con, raw) == [(i + 2, f"第{i}号", f"𠀀中文 {i}") for i in range(50)]
    size = len(text.encode("gb18030"))
    # Transcoding reports the first half (Python: each chunk), loading the second.
    assert seen[-1] == (2 * size, 2 * size)
    assert transcoder == "iconv" or seen[0] == (7, 2 * size)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_parts_are_joined_in_the_kernel_and_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, transcoder: str
) -> None:
    monkeypatch.setattr(encodings, "PARALLEL_TRANSCODE_BYTES", 1 << 10)
    monkeypatch.setattr(encodings, "_cores", lambda: 3)
    text = "名称,说明\n" + "".join(f"第{i}号,𠀀中文 {i}\n" for i in range(2000))
    source, target = tmp_path / "a.csv", tmp_path / "a.utf8.csv"
    source.write_bytes(text.encode("gb18030"))
    assert len(encodings._parts(source, 0, source.stat().st_size)) == 3
    if hasattr(os, "copy_file_range"):  # the joined file must not be opened to append
        monkeypatch.setattr(encodings.shutil, "copyfileobj", _no_copy_through_python)
    encodings.transcode(
        source, target, "gb18030", 0, source.stat().st_size, filename="a.csv", progress=None
    )
    assert target.read_text(encoding="utf-8") == text


def _no_copy_through_python(*_args: Any) -> None:
    raise AssertionError("the parts were copied through Python, not by copy_file_range")


def test_a_byte_that_does_not_decode_is_named_by_line_and_offset(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    transcoder: str,
) -> None:
    monkeypatch.setattr(encodings, "CHUNK", 5)
    head = ("名称,数量\n" + "".join(f"苹果{i},{i}\n" for i in range(200))).encode("gb18030")
    error = refused(con, tmp_path, "a.csv", head + b"\xff\xff,2\n")
    assert "line 202" in error.message and f"byte offset {len(head)}" in error.message
    assert error.details[0]["row"] == 202 and error.details[0]["file"] == "a.csv"
    assert list(workdir.iterdir()) == []  # the half-written temp file is gone


def test_utf16_with_bom_and_tabs(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    text = "姓名\t年龄\n张三\t30\n"
    raw = upload(con, tmp_path, "人员.csv", codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    assert (raw.encoding, raw.delimiter) == ("utf-16", "\t")
    assert raw.headers == ("姓名", "年龄")
    assert rows(con, raw) == [(2, "张三", "30")]


def test_utf16_big_endian_without_bom(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    raw = upload(con, tmp_path, "a.csv", "name,n\nx,1\n".encode("utf-16-be"))
    assert raw.encoding == "utf-16"
    assert rows(con, raw) == [(2, "x", "1")]


def test_utf8_is_told_from_gb18030_even_when_samples_start_mid_character(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(encodings, "SAMPLE", 64)  # windows fall inside three-byte characters
    text = "名称,说明\n" + "".join(f"行{i},中文内容中文内容{i}\n" for i in range(400))
    raw = upload(con, tmp_path, "a.csv", text.encode())
    assert raw.encoding == "utf-8"
    assert len(rows(con, raw)) == 400


@pytest.mark.parametrize(
    ("name", "text", "delimiter", "first"),
    [
        ("a.csv", "名称;金额;备注\n甲;1,5;x, y\n乙;2,5;z\n", ";", (2, "甲", "1,5", "x, y")),
        ("a.csv", "名称|金额\n甲|1;2\n乙|3\n", "|", (2, "甲", "1;2")),
        ("a.csv", "名称\t金额\n甲\t1,5\n", "\t", (2, "甲", "1,5")),
        ("a.csv", "名称\n甲\n", ",", (2, "甲")),  # one column
        ("a.tsv", "名称,金额\t备注\n甲,1\tx\n", "\t", (2, "甲,1", "x")),  # TSV by its name
    ],
)
def test_delimiter_is_sniffed_or_taken_from_the_extension(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    name: str,
    text: str,
    delimiter: str,
    first: tuple[Any, ...],
) -> None:
    raw = upload(con, tmp_path, name, text.encode())
    assert raw.delimiter == delimiter
    assert raw.format == ("tsv" if name.endswith(".tsv") else "csv")
    assert rows(con, raw)[0] == first


def test_quoted_fields_keep_delimiters_and_line_breaks(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    text = '名称,地址,电话\n甲,"杭州市,拱墅区\n湖墅南路 1 号",0571\n乙,"说 ""好""",0572\n'
    raw = upload(con, tmp_path, "a.csv", text.encode())
    # _row counts records: 乙 is on line 4 of the file but is record 3.
    assert rows(con, raw) == [
        (2, "甲", "杭州市,拱墅区\n湖墅南路 1 号", "0571"),
        (3, "乙", '说 "好"', "0572"),
    ]


def test_title_rows_and_blank_lines_above_the_header_are_skipped(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    text = "2024 年企业名录\n\n名称,人数\n甲,10\n,\n乙,20\n"
    raw = upload(con, tmp_path, "a.csv", text.encode())
    assert raw.headers == ("名称", "人数") and raw.header_rows == 1
    # The empty record on line 5 is no row; 乙 keeps its own line number.
    assert rows(con, raw) == [(4, "甲", "10"), (6, "乙", "20")]


def test_two_row_header_joins_repeated_lower_names_with_the_merged_cell(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    text = "地区,2023年,,2024年,\n,收入,支出,收入,支出\n上城区,1,2,3,4\n"
    raw = upload(con, tmp_path, "a.csv", text.encode())
    assert raw.header_rows == 2
    assert raw.headers == ("地区", "2023年收入", "2023年支出", "2024年收入", "2024年支出")
    assert rows(con, raw) == [(3, "上城区", "1", "2", "3", "4")]


def test_header_text_is_cleaned(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    text = '"联系\n电话"," Phone\nnumber ",姓\u3000名,ＩＤ\u00a0号\n1,2,3,4\n'
    raw = upload(con, tmp_path, "a.csv", text.encode())
    assert raw.headers == ("联系电话", "Phone number", "姓名", "ID 号")


def test_ragged_rows_and_bad_quoting_are_structural_rejects(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    text = '名称,人数,备注\n甲,1,a\n乙,2\n丙,3,c,多余\n丁,"4"x,d\n戊,5,e\n'
    raw = upload(con, tmp_path, "a.csv", text.encode())
    # 戊 keeps its own line number past the three rejected records.
    assert rows(con, raw) == [(2, "甲", "1", "a"), (6, "戊", "5", "e")]
    assert raw.rejects_sql is not None
    rejects = con.execute(f"{raw.rejects_sql} ORDER BY 1").fetchall()
    assert [(row, column, value) for row, column, value, _ in rejects] == [
        (3, "备注", "乙,2"),
        (4, "", "丙,3,c,多余"),
        (5, "人数", '丁,"4"x,d'),
    ]
    reasons = [reason for *_, reason in rejects]
    assert reasons[0].startswith("列数少于表头 (fewer columns than the header)")
    assert reasons[1].startswith("列数多于表头")
    assert reasons[2].startswith("引号使用不当")


@pytest.mark.parametrize(("before", "end"), [(1, "\n"), (3000, "\n"), (3000, "\r\n"), (3000, "\r")])
def test_a_line_longer_than_the_limit_is_refused_naming_it(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    before: int,
    end: str,
) -> None:
    # DuckDB would drop such a line without a trace; 40 MiB stands in for 2 GB.
    monkeypatch.setattr(textfiles, "MAX_LINE", 1 << 20)
    head = f"名称,值{end}" + "".join(f"甲{i},{i}{end}" for i in range(before))
    long = "x" * (40 << 20)
    error = refused(con, tmp_path, "a.csv", f"{head}{long},2{end}乙,3{end}".encode())
    line = before + 2
    assert (
        f"line {line} is longer than 1 MiB, from byte offset {len(head.encode())}" in error.message
    )
    assert error.details[0]["row"] == line


def test_a_long_last_line_without_a_line_break_is_refused(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(textfiles, "MAX_LINE", 1 << 20)
    error = refused(con, tmp_path, "a.csv", ("名称,值\n甲,1\n" + "y" * (3 << 20)).encode())
    assert "line 3 is longer than 1 MiB" in error.message


@pytest.mark.parametrize("end", ["\n", "\r\n"])
def test_lines_up_to_the_limit_are_read(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    end: str,
) -> None:
    # The long line is exactly MAX_LINE bytes without its line break, and crosses windows.
    monkeypatch.setattr(textfiles, "MAX_LINE", 1 << 20)
    monkeypatch.setattr(textfiles, "CHUNK", 1 << 16)
    long = "x" * ((1 << 20) - 2)
    raw = upload(con, tmp_path, "a.csv", f"名称,值{end}甲,1{end}{long},2{end}乙,3".encode())
    assert [(row, len(name)) for row, name, _ in rows(con, raw)] == [(2, 1), (3, len(long)), (4, 1)]


def test_a_file_that_is_one_endless_line_is_refused_naming_line_1(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(textfiles, "MAX_LINE", 2 << 20)  # stands in for a 2 GB single line
    error = refused(con, tmp_path, "a.csv", b"a," * (3 << 20))
    assert "line 1 is longer than 2 MiB" in error.message
    assert error.details[0]["row"] == 1


def test_invalid_utf8_later_in_the_file_is_a_structural_reject(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    good = "名称,值\n" + "".join(f"甲乙丙{i},{i}\n" for i in range(30))
    raw = upload(con, tmp_path, "a.csv", good.encode() + b"x,\xff\xfe\n")
    assert raw.encoding == "utf-8"
    assert len(rows(con, raw)) == 30
    assert raw.rejects_sql is not None
    assert con.execute(f"SELECT count(*) FROM ({raw.sql})").fetchone() == (30,)
    (reject,) = con.execute(raw.rejects_sql).fetchall()
    assert reject[0] == 32 and reject[3].startswith("不是有效的 UTF-8 文本")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.csv", b"", "the file is empty"),
        ("a.csv", "名称,值\n".encode(), "a header but no data rows"),
        ("a.csv", "名称,值\n\n".encode(), "a header but no data rows"),
        ("a.csv", b"\x00\x01\x02binary\x00\xff", "not a text file"),
        ("a.csv", b"1,2\n3,4\n", "no header row in the first 10 rows"),
        ("a.csv", "名称,".encode() + b"\x81\x30\xff\n", "not UTF-8, GB18030 or UTF-16 text"),
        ("a.doc", b"x", "unknown format .doc"),
        ("a", b"x", "unknown format (none)"),
        ("a.xls", b"\xd0\xcf\x11\xe0", "an old .xls workbook"),
        ("a.csv", b"PK\x03\x04rest", "not text"),
    ],
)
def test_unreadable_files_are_refused_naming_the_file(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    error = refused(con, tmp_path, name, content)
    assert expected in error.message
    assert error.message.startswith(name)
    assert error.details[0]["file"] == name


def test_many_rejects_keep_every_row_number(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    lines = [f"{i},值{i}" if i % 7 else f"{i}" for i in range(1, 3000)]  # every 7th is short
    raw = upload(con, tmp_path, "a.csv", ("序号,值\n" + "\n".join(lines) + "\n").encode())
    found = rows(con, raw)
    assert len(found) == 3000 - 1 - 428
    assert all(row == int(number) + 1 for row, number, _ in found)
    assert raw.rejects_sql is not None
    rejected = [row for row, *_ in con.execute(f"{raw.rejects_sql} ORDER BY 1").fetchall()]
    assert rejected == [i + 1 for i in range(7, 3000, 7)]


def test_too_many_malformed_records_refuse_the_file(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(textfiles, "MAX_REJECTED", 10)
    text = "名称,值\n甲,1\n" + "".join(f"{i}\n" for i in range(11))  # 11 short records
    error = refused(con, tmp_path, "a.csv", text.encode())
    assert "more than 10 malformed records" in error.message


def test_duplicate_headers_name_both_columns(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    error = refused(con, tmp_path, "a.csv", "名称,代码,备注,名称\n1,2,3,4\n".encode())
    assert "columns A and D are both headed '名称'" in error.message
    assert error.details[0]["row"] == 1 and error.details[0]["column"] == "A, D"


def test_an_empty_header_cell_is_named(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    error = refused(con, tmp_path, "a.csv", "名称,,备注\n1,2,3\n".encode())
    assert "column B has no header" in error.message
    assert error.details[0]["column"] == "B"


def test_trailing_delimiters_are_no_extra_column(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    raw = upload(con, tmp_path, "a.csv", "名称,值,\n甲,1,\n".encode())
    assert raw.headers == ("名称", "值")
    assert rows(con, raw) == [(2, "甲", "1")]


# --- xlsx ------------------------------------------------------------------------------------


def workbook(*sheets: tuple[str, list[list[Any]]], merges: tuple[str, ...] = ()) -> Workbook:
    book = Workbook()
    book.remove(book.worksheets[0])
    for name, sheet_rows in sheets:
        sheet = book.create_sheet(name)
        for row in sheet_rows:
            sheet.append(row)
        for cells in merges:
            sheet.merge_cells(cells)
    return book


def save(book: Workbook, path: Path) -> bytes:
    book.save(path)
    return path.read_bytes()


def test_xlsx_with_a_merged_two_row_header_and_a_title(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    book = workbook(
        ("说明", [["本工作簿由某局导出"]]),
        (
            "名录",
            [
                ["2024 年企业名录"],
                ["序号", "名称", "联系方式", None, "成立日期"],
                [None, None, "电话", "邮箱", None],
                [1, "甲公司", "0571-1", "a@x.cn", datetime(2024, 1, 2)],
                [],
                [2, "  乙公司\u3000", "１２３", None, 45292],
            ],
        ),
        merges=("A2:A3", "B2:B3", "C2:D2", "E2:E3"),
    )
    book["名录"]["E4"].number_format = "yyyy-mm-dd"
    raw = upload(con, tmp_path, "名录.xlsx", save(book, tmp_path / "b.xlsx"), sheet="名录")
    assert (raw.format, raw.sheet, raw.header_rows) == ("xlsx", "名录", 2)
    assert raw.headers == ("序号", "名称", "电话", "邮箱", "成立日期")
    assert rows(con, raw) == [
        (4, "1", "甲公司", "0571-1", "a@x.cn", "2024-01-02"),  # date-styled → ISO
        (6, "2", "乙公司", "123", None, "45292"),  # a plain number stays the serial
    ]
    assert raw.rejects_sql is None
    assert all(path.suffix == ".parquet" for path in raw.temp_files)


def test_xlsx_first_sheet_by_default_and_batches_with_progress(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sheets, "BATCH_ROWS", 2)
    book = workbook(("一", [["名称", "值"], *[[f"n{i}", i] for i in range(5)]]), ("二", [["x"]]))
    seen: list[tuple[int, int]] = []
    raw = upload(
        con, tmp_path, "a.xlsx", save(book, tmp_path / "b.xlsx"), progress=lambda *p: seen.append(p)
    )
    assert raw.sheet == "一"
    assert [row[0] for row in rows(con, raw)] == [2, 3, 4, 5, 6]
    assert seen == [(2, 0), (4, 0), (5, 0)]


def test_xlsx_cells_beyond_the_header_are_rejects(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    book = workbook(("表", [["名称", "值"], ["甲", 1, "多余"], ["乙", 2]]))
    raw = upload(con, tmp_path, "a.xlsx", save(book, tmp_path / "b.xlsx"))
    assert rows(con, raw) == [(2, "甲", "1"), (3, "乙", "2")]
    assert raw.rejects_sql is not None
    (reject,) = con.execute(raw.rejects_sql).fetchall()
    assert reject[:3] == (2, "C", "多余")
    assert len(raw.temp_files) == 2


def test_xlsx_without_that_sheet_lists_the_sheets(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, workdir: Path
) -> None:
    book = workbook(("一", [["名称"], ["x"]]), ("二", [["名称"], ["y"]]))
    error = refused(con, tmp_path, "a.xlsx", save(book, tmp_path / "b.xlsx"), sheet="三")
    assert "no sheet named '三'; sheets: 一, 二" in error.message
    assert list(workdir.iterdir()) == []


def test_xlsx_with_only_a_header_is_refused(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, workdir: Path
) -> None:
    book = workbook(("表", [["名称", "值"], [None, None]]))
    error = refused(con, tmp_path, "a.xlsx", save(book, tmp_path / "b.xlsx"))
    assert "a header but no data rows" in error.message and error.details[0]["sheet"] == "表"
    assert list(workdir.iterdir()) == []


def zip_bomb(path: Path) -> bytes:
    """A workbook-shaped zip whose sheet inflates 1000-fold."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\x00" * (20 << 20))
    return path.read_bytes()


def test_a_zip_bomb_disguised_as_xlsx_is_refused(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    error = refused(con, tmp_path, "a.xlsx", zip_bomb(tmp_path / "bomb.zip"))
    assert "xl/worksheets/sheet1.xml compresses" in error.message and "zip bomb" in error.message


def test_an_xlsx_inflating_beyond_the_limit_is_refused(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sheets, "XLSX_MAX_UNZIPPED", 1 << 20)
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", os.urandom(3 << 20))  # does not compress
    error = refused(con, tmp_path, "a.xlsx", path.read_bytes())
    assert "inflates to 3 MiB, beyond the 1 MiB limit" in error.message


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"not a zip at all", "not a zip archive"), (b"PK\x03\x04broken", "not a zip archive")],
)
def test_xlsx_that_is_not_a_zip_is_refused(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, content: bytes, expected: str
) -> None:
    assert expected in refused(con, tmp_path, "a.xlsx", content).message


# --- JSON, NDJSON, Parquet -------------------------------------------------------------------


def test_json_array_values_become_text_and_nested_values_json(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    text = (
        '[{"名称": "甲", "人数": 10, "标签": ["a", "b"]},\n'
        ' {"名称": "乙", "地址": {"区": "拱墅"}, "人数": null, "有效": true}]'
    )
    raw = upload(con, tmp_path, "a.json", text.encode())
    assert (raw.format, raw.header_rows, raw.rejects_sql) == ("json", 0, None)
    assert raw.headers == ("名称", "人数", "标签", "地址", "有效")
    assert rows(con, raw) == [
        (1, "甲", "10", '["a","b"]', None, None),
        (2, "乙", None, None, '{"区":"拱墅"}', "true"),
    ]


def test_ndjson_rows_are_record_numbers(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    text = '{"id": "330100199001011234", "n": 1.5}\n\n{"id": "2", "n": -3}\n{"n": 0, "x y": "z"}\n'
    raw = upload(con, tmp_path, "a.ndjson", text.encode())
    assert raw.headers == ("id", "n", "x y")
    assert rows(con, raw) == [
        (1, "330100199001011234", "1.5", None),
        (2, "2", "-3", None),
        (3, None, "0", "z"),
    ]


@pytest.mark.parametrize(
    ("name", "text", "expected", "row"),
    [
        ("a.ndjson", '{"a": 1}\n{"a" 2}\n{"a": 3}\n', "record 2 is malformed JSON", 2),
        ("a.ndjson", '{"a": 1}\n\n{"a": 1}\n{"a": 2\n', "record 3 is malformed JSON", 3),
        ("a.json", '[{"a": 1},\n {"a" 2}, {"a": 3}]', "record 2 is malformed JSON", 2),
        ("a.json", '[{"a": 1}, [1], 5]', "record 2 is not a JSON object but array", 2),
        ("a.ndjson", '{"a": 1}\n"x"\n', "record 2 is not a JSON object", 2),
        ("a.json", '{"a": 1}', "must hold an array of objects", None),
        ("a.json", "[]", "no records", None),
        ("a.json", "[{}, {}]", "the records have no keys", None),
        ("a.json", '[{"A": 1, "a": 2}]', "fields 1 and 2 are both named 'a'", None),
    ],
)
def test_bad_json_is_refused_naming_the_record(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    name: str,
    text: str,
    expected: str,
    row: int | None,
) -> None:
    error = refused(con, tmp_path, name, text.encode())
    assert expected in error.message
    assert error.details[0]["row"] == row


def test_parquet_columns_become_text(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    con.execute(
        f"""COPY (SELECT * FROM (VALUES
            (1, 2.5, DATE '2024-01-02', TIMESTAMP '2024-01-02 03:04:05', 'abc'::BLOB,
             [1, 2], {{'k': 'v'}}, true, '甲'),
            (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL))
            AS t(i, d, day, ts, bin, list, obj, flag, "名称")) TO '{path}' (FORMAT parquet)"""
    )
    raw = upload(con, tmp_path, "a.parquet", path.read_bytes())
    assert raw.headers == ("i", "d", "day", "ts", "bin", "list", "obj", "flag", "名称")
    assert rows(con, raw) == [
        (1, "1", "2.5", "2024-01-02", "2024-01-02 03:04:05", "YWJj", "[1,2]", '{"k":"v"}',
         "true", "甲"),
        (2, None, None, None, None, None, None, None, None, None),
    ]  # fmt: skip


def test_bad_parquet_is_refused(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    assert "not a Parquet file" in refused(con, tmp_path, "a.parquet", b"a,b\n1,2\n").message
    damaged = b"PAR1" + b"\x00" * 64 + b"PAR1"
    assert "not a readable Parquet file" in refused(con, tmp_path, "a.parquet", damaged).message
    path = tmp_path / "empty.parquet"
    con.execute(f"COPY (SELECT 1 AS a WHERE false) TO '{path}' (FORMAT parquet)")
    assert "no rows" in refused(con, tmp_path, "a.parquet", path.read_bytes()).message


def test_values_read_through_sql_match_the_file(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # Many rows through DuckDB's parallel reader: every _row still names its own line.
    lines = "".join(f"{i},{date(2024, 1, 1).isoformat()},行{i}\n" for i in range(200_000))
    raw = upload(con, tmp_path, "a.csv", ("序号,日期,说明\n" + lines).encode())
    checked = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE _row <> CAST(c0 AS BIGINT) + 2) FROM ({raw.sql})"
    ).fetchone()
    assert checked == (200_000, 0)


@pytest.mark.parametrize("parts", [2, 3])
def test_a_large_gb18030_file_is_transcoded_in_parts_exactly(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    parts: int,
    transcoder: str,
) -> None:
    # Cut at line breaks, one process a part, joined in order.
    monkeypatch.setattr(encodings, "PARALLEL_TRANSCODE_BYTES", 1000)
    monkeypatch.setattr(encodings, "_cores", lambda: parts)
    text = "名称,说明\n" + "".join(f"第{i}号,𠀀中文 {i}\n" for i in range(400))
    data = text.encode("gb18030")
    source = tmp_path / "a.csv"
    source.write_bytes(data)
    assert len(encodings._parts(source, 0, len(data))) == parts
    seen: list[tuple[int, int]] = []
    raw = upload(con, tmp_path, "a.csv", data, progress=lambda *p: seen.append(p))
    assert rows(con, raw) == [(i + 2, f"第{i}号", f"𠀀中文 {i}") for i in range(400)]
    assert seen[-1] == (2 * len(data), 2 * len(data))
    assert list(workdir.iterdir()) == []  # parts and the joined copy are gone


def test_a_bad_byte_in_a_later_part_is_named_by_its_line_in_the_whole_file(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    transcoder: str,
) -> None:
    monkeypatch.setattr(encodings, "PARALLEL_TRANSCODE_BYTES", 1000)
    monkeypatch.setattr(encodings, "_cores", lambda: 2)
    head = ("名称,数量\n" + "".join(f"苹果{i},{i}\n" for i in range(300))).encode("gb18030")
    data = head + b"\xff\xff,2\n" + "".join(f"梨{i},{i}\n" for i in range(20)).encode("gb18030")
    parts = encodings._parts(_write(tmp_path / "probe.csv", data), 0, len(data))
    assert len(parts) == 2 and parts[1][0] < len(head)  # the bad byte is in the second part
    error = refused(con, tmp_path, "a.csv", data)
    assert "line 302" in error.message and f"byte offset {len(head)}" in error.message
    assert error.details[0]["row"] == 302
    assert list(workdir.iterdir()) == []


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
