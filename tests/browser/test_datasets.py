"""Ingest in Chromium: a department officer uploads a CSV through the JavaScript uploader,
follows its progress and phases to the report, and opens the new version's quality scores."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import Page, Route, expect

from gongshu.catalog import service as catalog
from tests.browser.helpers import LiveServer, path_is, sign_in_to_console
from tests.browser.test_console import UNLABELLED_CONTROLS
from tests.factories import actor, entry_input

pytestmark = pytest.mark.browser

CHUNK = 32_768
ROWS = 3000
BAD = {101: ("经度", "东经116.4"), 2001: ("开通日期", "2023-02-30")}  # data row → bad cell
FIELDS = [
    {"name": "站点编号", "type": "string"},
    {"name": "站点名称", "type": "string"},
    {"name": "经度", "type": "decimal"},
    {"name": "纬度", "type": "decimal"},
    {"name": "开通日期", "type": "date"},
]


def stations_csv() -> bytes:
    """3,000 stations, two of them with one bad cell each (about 130 kB: several chunks)."""
    lines = ["站点编号,站点名称,经度,纬度,开通日期"]
    for n in range(1, ROWS + 1):
        cells = {
            "经度": f"{116 + n / 10_000:.4f}",
            "开通日期": f"20{10 + n % 14}-0{1 + n % 9}-1{n % 9}",
        }
        if n in BAD:
            cells[BAD[n][0]] = BAD[n][1]
        lines.append(f"S{n:05d},第{n}站,{cells['经度']},39.9{n % 10},{cells['开通日期']}")
    return ("\n".join(lines) + "\n").encode()


def published_entry(live_server: LiveServer) -> str:
    """An entry of the officer's department (北京市交通委员会), published by the bureau."""
    platform = live_server.platform
    officer, bureau = actor(platform, "dept_officer"), actor(platform, "bureau_admin")
    data = entry_input(
        name=f"公交场站{secrets.token_hex(2)}", provider="北京市交通委员会", fields=FIELDS
    )
    with platform.uow() as uow:
        entry = catalog.create_entry(uow, actor=officer, data=data, submit=True)
        entry_id = entry.id
    with platform.uow() as uow:
        catalog.approve_entry(uow, actor=bureau, entry_id=entry_id, publish=True)
    return entry_id


def test_an_officer_uploads_a_csv_and_reads_its_report_and_quality(
    page: Page, live_server: LiveServer
) -> None:
    entry_id = published_entry(live_server)
    sign_in_to_console(page, "dept_officer")
    page.goto(f"/console/catalog/{entry_id}")
    page.get_by_role("link", name="数据版本").click()
    expect(page).to_have_url(path_is(f"/console/datasets/{entry_id}"))
    expect(page.get_by_test_id("versions")).to_contain_text("还没有数据版本")
    assert page.evaluate(UNLABELLED_CONTROLS) == []

    # Small chunks, and the second one's answer lost on the way back although the server
    # kept its bytes: the uploader must ask where the upload stands and go on from there.
    offsets: list[int] = []
    calls: list[str] = []

    def network(route: Route) -> None:
        calls.append(route.request.method)
        if route.request.method != "PATCH":
            route.continue_()
            return
        offsets.append(int(route.request.headers["upload-offset"]))
        if len(offsets) == 2:
            route.fetch()
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/v1/datasets/uploads/*", network)
    form = page.locator("form[data-uploader]")
    form.evaluate(f"form => form.setAttribute('data-chunk', '{CHUNK}')")
    content = stations_csv()
    page.get_by_label("数据文件").set_input_files(
        {"name": "stations.csv", "mimeType": "text/csv", "buffer": content}
    )
    page.get_by_label("版本说明（可选）").fill("浏览器上传")
    page.get_by_role("button", name="上传并汇聚").click()

    status = page.locator("[data-upload-status]")
    expect(status).to_be_visible()
    expect(status).to_have_attribute("data-outcome", "stored", timeout=30_000)
    expect(page.get_by_test_id("upload-progress")).to_have_attribute("value", "100")
    expect(page.get_by_test_id("upload-bytes")).to_contain_text(f"100% ({len(content):,} / ")
    assert offsets == list(range(0, len(content), CHUNK))  # each byte sent once, in order
    assert calls[:4] == ["PATCH", "PATCH", "GET", "PATCH"]  # asked where to resume
    phases = page.get_by_test_id("phases").locator("li")
    expect(phases).to_have_count(6)
    for index in range(6):
        expect(phases.nth(index)).to_have_class(re.compile(r"\bdone\b"))
    expect(phases.filter(has_text="质量评估")).to_have_attribute("data-seen", "true")
    expect(page.get_by_test_id("upload-message")).to_have_text("已入库")

    report = page.get_by_test_id("run-report")
    expect(report.get_by_test_id("run-status")).to_have_text("已入库")
    expect(report.get_by_test_id("rows-stored")).to_have_text(str(ROWS - 2))
    expect(report.get_by_test_id("rows-quarantined")).to_have_text("2")
    located = report.get_by_test_id("run-errors").locator("tbody tr")
    expect(located).to_have_count(2)
    for position, (data_row, (column, value)) in enumerate(sorted(BAD.items())):
        cells = located.nth(position).locator("td")
        expect(cells.nth(0)).to_have_text(str(data_row + 1))  # the header is row 1
        expect(cells.nth(1)).to_have_text(column)
        expect(cells.nth(2)).to_have_text(value)
    expect(page).to_have_url(re.compile(rf"/console/datasets/{entry_id}\?run=run_\w+#run$"))
    expect(page.locator('tr[data-version="1"]').get_by_test_id("rows")).to_have_text(str(ROWS - 2))

    report.get_by_role("link", name="查看版本 v1").click()
    expect(page).to_have_url(re.compile(r"/console/datasets/versions/ver_\w+$"))
    expect(page.get_by_test_id("version-title")).to_contain_text("v1")
    expect(page.get_by_test_id("overall-score")).to_have_text(re.compile(r"^\d{1,3}\.\d$"))
    dimensions = page.get_by_test_id("dimensions")
    expect(dimensions.locator('tr[data-dimension="completeness"] .score')).to_have_text(
        re.compile(r"^\d{1,3}\.\d$")
    )
    expect(page.locator('figure[data-chart="quality-dimensions"] svg')).to_be_visible()
    expect(page.get_by_role("link", name="提出异议")).to_have_attribute(
        "href", re.compile(rf"^/console/objections/new\?entry_id={entry_id}&version_id=ver_\w+$")
    )
