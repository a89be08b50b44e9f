"""Spreadsheet import and export: dry run, located errors, all-or-nothing, round trip."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gongshu.bootstrap import Platform
from gongshu.catalog import imports
from gongshu.catalog.errors import ImportRejected
from gongshu.catalog.sheets import read_table, write_csv, write_xlsx
from gongshu.catalog.vocab import Column
from gongshu.identity.errors import NotPermitted
from tests.factories import City


def _row(name: str, **cells: str) -> dict[Column, str]:
    row = {
        Column.NAME: name,
        Column.SUMMARY: f"{name}的摘要",
        Column.KEYWORDS: "交通、出行",
        Column.PROVIDER: "市交通委",
        Column.FIELDS: "站点编号|字符型|唯一编号|DE10001\n站点名称|字符型\n经度|数值型",
        Column.FORMAT: "数据库",
        Column.FREQUENCY: "每月",
        Column.SHARE_TYPE: "无条件共享",
        Column.DELIVERY: "接口服务、文件下载",
        Column.OPEN_TYPE: "无条件开放",
        Column.THEME: "交通出行",
        Column.IMPACT: "国家安全:无；经济社会公共利益:一般；组织个人权益:无",
    }
    row.update({Column(k): v for k, v in cells.items()})
    return row


def _count(platform: Platform) -> int:
    with platform.uow() as uow:
        return int(uow.session.scalar(sa.text("SELECT count(*) FROM catalog_entry")) or 0)


def test_dry_run_then_commit_stores_every_row(platform: Platform, city: City) -> None:
    rows = [
        _row("公交站点基础信息"),
        _row("公交线路信息", **{"关联目录": "公交站点基础信息"}),
        _row("出租车运营数据", **{"更新频率": "每日", "共享属性": "有条件共享",
                                  "共享条件": "仅用于行业监管", "开放属性": "不予开放"}),
    ]  # fmt: skip
    data = write_xlsx(rows)
    with platform.uow() as uow:
        report = imports.import_entries(
            uow, actor=city.officer, data=data, filename="transport.xlsx"
        )
    assert (report.ok, report.rows, report.created) == (True, 3, 0)
    assert _count(platform) == 0
    progress: list[tuple[int, int]] = []
    with platform.uow() as uow:
        report = imports.import_entries(
            uow, actor=city.officer, data=data, filename="transport.xlsx", dry_run=False,
            submit=True, progress=lambda done, total: progress.append((done, total)),
        )  # fmt: skip
    assert report.created == 3 and _count(platform) == 3
    assert progress[-1] == (3, 3)
    with platform.uow() as uow:
        exported = list(imports.export_rows(uow, actor=city.officer))
    by_name = {row[Column.NAME]: row for row in exported}
    assert by_name["公交线路信息"][Column.RELATED] == "公交站点基础信息"
    assert by_name["出租车运营数据"][Column.SHARE_CONDITIONS] == "仅用于行业监管"
    assert by_name["公交站点基础信息"][Column.RESOURCE_CODE].startswith("304")
    # Export → import again is an exact round trip (into a fresh name space).
    table = read_table(write_csv(exported, encoding="gb18030"), filename="export.csv")
    again = {row.cells[Column.NAME]: row.cells for row in table.rows}
    for name, cells in by_name.items():
        for column in (Column.FIELDS, Column.IMPACT, Column.DELIVERY, Column.THEME):
            assert again[name][column] == cells[column], (name, column)


def test_every_problem_is_reported_with_row_and_column_and_nothing_is_stored(
    platform: Platform, city: City
) -> None:
    rows = [
        _row("好的目录"),
        _row("缺依据", **{"共享属性": "不予共享", "共享方式": "", "开放属性": "不予开放"}),
        _row("缺条件", **{"共享属性": "有条件共享"}),
        _row("未知单位", **{"提供单位": "火星交通局"}),
        _row("坏频率", **{"更新频率": "每世纪"}),
        _row("好的目录"),
        _row("越权", **{"提供单位": "市卫生健康委"}),
    ]
    data = write_xlsx(rows)
    with platform.uow() as uow:
        report = imports.import_entries(uow, actor=city.officer, data=data, filename="bad.xlsx")
    found = {(e.row, e.column) for e in report.errors}
    assert not report.ok
    assert {
        (3, "不予共享依据"),
        (4, "共享条件"),
        (5, "提供单位"),
        (6, "更新频率"),
        (7, "目录名称"),
        (8, "提供单位"),
    } <= found, report.errors
    assert all(e.row != 2 for e in report.errors)
    with platform.uow() as uow, pytest.raises(ImportRejected) as info:
        imports.import_entries(
            uow, actor=city.officer, data=data, filename="bad.xlsx", dry_run=False
        )
    assert "nothing was stored" in info.value.message
    assert _count(platform) == 0


def test_a_name_already_in_the_catalogue_is_a_row_error(platform: Platform, city: City) -> None:
    data = write_xlsx([_row("公交站点基础信息")])
    with platform.uow() as uow:
        imports.import_entries(uow, actor=city.officer, data=data, filename="a.xlsx", dry_run=False)
    with platform.uow() as uow:
        report = imports.import_entries(uow, actor=city.officer, data=data, filename="a.xlsx")
    assert [(e.row, e.column) for e in report.errors] == [(2, "目录名称")]


def test_people_without_catalogue_rights_cannot_import(platform: Platform, city: City) -> None:
    data = write_xlsx([_row("公交站点基础信息")])
    with platform.uow() as uow, pytest.raises(NotPermitted):
        imports.import_entries(uow, actor=city.auditor, data=data, filename="a.xlsx")


def test_half_filled_and_broken_files_fail_clearly(platform: Platform, city: City) -> None:
    with platform.uow() as uow, pytest.raises(Exception, match=r"broken\.xlsx"):
        imports.import_entries(
            uow, actor=city.officer, data=b"PK\x03\x04 not really a zip", filename="broken.xlsx"
        )
    half = write_xlsx([{Column.NAME: "只有名称"}])
    with platform.uow() as uow:
        report = imports.import_entries(uow, actor=city.officer, data=half, filename="half.xlsx")
    assert not report.ok
    assert {e.column for e in report.errors} >= {"摘要", "提供单位"}
