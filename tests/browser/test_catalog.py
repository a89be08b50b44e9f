"""The catalogue in Chromium: a department registers an entry, the bureau publishes it, and
anyone on staff finds it by a word of its name."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.helpers import LiveServer, new_context, path_is, sign_in_to_console
from tests.browser.test_console import UNLABELLED_CONTROLS

pytestmark = pytest.mark.browser


def register_entry(page: Page, name: str) -> str:
    """Fill in the entry form as the department officer and submit it for review."""
    page.locator('section[data-role="dept_officer"]').get_by_role("link", name="本部门目录").click()
    expect(page.locator("h1")).to_have_text("数据目录")
    page.get_by_role("link", name="新建目录").click()
    expect(page).to_have_url(path_is("/console/catalog/new"))
    assert page.evaluate(UNLABELLED_CONTROLS) == []
    page.get_by_label("目录名称").fill(name)
    page.get_by_label("摘要").fill("全市共享单车电子围栏的位置、容量和所属企业")
    page.get_by_label("关键词").fill("共享单车、停放")
    page.get_by_label("分类", exact=True).select_option(label="交通出行")
    page.get_by_label("更新频率").select_option(label="每日")
    page.get_by_label("每行一个数据项：名称|类型|说明|数据元编码|标记").fill(
        "围栏编号|字符型\n围栏名称\n容量|整数型|可停放车辆数"
    )
    page.get_by_label("共享属性").select_option(label="有条件共享")
    page.get_by_label("共享条件").fill("仅限城市管理用途")
    page.get_by_label("接口服务").check()
    page.get_by_label("开放属性").select_option(label="不予开放")
    page.get_by_label("经济社会公共利益").select_option(label="一般")
    page.get_by_label("保存后立即提交审核").check()
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_test_id("entry-name")).to_have_text(name)
    expect(page.get_by_test_id("status")).to_have_text("待审核")
    expect(page.get_by_test_id("computed-grade")).to_have_text("一般数据4级")
    entry_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    assert entry_id.startswith("ent_")
    return entry_id


def test_an_entry_goes_from_the_department_to_the_published_catalogue(
    browser: Browser, live_server: LiveServer
) -> None:
    name = f"共享单车电子围栏{secrets.token_hex(2)}"
    officer = new_context(browser, live_server)
    try:
        page = officer.new_page()
        sign_in_to_console(page, "dept_officer")
        entry_id = register_entry(page, name)
    finally:
        officer.close()

    bureau = new_context(browser, live_server)
    try:
        page = bureau.new_page()
        sign_in_to_console(page, "bureau_admin")
        page.locator('section[data-role="bureau_admin"]').get_by_role(
            "link", name="目录治理"
        ).click()
        expect(page).to_have_url(path_is("/console/catalog/review"))
        assert page.evaluate(UNLABELLED_CONTROLS) == []
        row = page.locator(f'tr[data-entry="{entry_id}"]')
        expect(row).to_contain_text(name)
        row.get_by_role("button", name="通过并发布").click()
        expect(page).to_have_url(path_is("/console/catalog/review"))
        expect(page.locator(f'tr[data-entry="{entry_id}"]')).to_have_count(0)

        page.get_by_role("navigation").get_by_role("link", name="目录").click()
        page.get_by_label("检索词").fill("电子围栏")
        page.get_by_role("button", name="检索").click()
        hit = page.locator(f'li[data-entry="{entry_id}"]')
        expect(hit.locator(".title mark")).to_have_text("电子围栏")
        expect(hit.get_by_test_id("status")).to_have_text("已发布")
        assert page.evaluate(UNLABELLED_CONTROLS) == []

        hit.get_by_role("link", name=name).click()
        expect(page.get_by_test_id("share-type")).to_have_text("有条件共享")
        expect(page.get_by_test_id("ledger-link")).to_be_visible()
        expect(page.get_by_test_id("dcat-ttl")).to_be_visible()
        assert page.evaluate(UNLABELLED_CONTROLS) == []
    finally:
        bureau.close()
