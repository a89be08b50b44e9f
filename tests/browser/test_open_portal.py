"""The open data portal in Chromium, as the public uses it: search, preview and download; sign
up, get an app key and call the row API with the page's URL; file a data request the bureau
dispatches and a department answers; apply for conditional data the provider approves."""

from __future__ import annotations

import csv
import io
import re
import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, BrowserContext, Page, expect

from gongshu.catalog import service as catalog
from gongshu.catalog.models import Entry
from gongshu.datastore import service as datastore
from tests.browser.helpers import LiveServer, new_context, path_is, sign_in
from tests.browser.test_console import UNLABELLED_CONTROLS
from tests.factories import actor, entry_input

pytestmark = pytest.mark.browser

BUS_STOPS = "公交站点基础信息"  # an unconditionally open demo entry with data
TRANSPORT = "北京市交通委员会"  # dept_officer's department
PASSWORD = "open-portal-password"


def entry_id_named(live_server: LiveServer, name: str) -> str:
    with live_server.platform.uow() as uow:
        found = uow.session.scalar(sa.select(Entry.id).where(Entry.name == name))
    assert found, name
    return found


def sign_up(page: Page, username: str, display_name: str) -> None:
    """Register through the portal's form; it signs in and lands on the account page."""
    page.goto("/open")
    page.get_by_test_id("signup-link").click()
    expect(page).to_have_url(path_is("/open/signup"))
    page.get_by_label("用户名", exact=True).fill(username)
    page.get_by_label("显示名称").fill(display_name)
    page.get_by_label("电子邮箱").fill(f"{username}@example.cn")
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_test_id("signup").click()
    expect(page).to_have_url(path_is("/open/account"))
    expect(page.get_by_test_id("whoami")).to_have_text(display_name)


def create_key(page: Page, name: str) -> str:
    """Create an app key on the account page; its secret is shown this once."""
    page.goto("/open/account")
    page.get_by_label("应用名称").fill(name)
    page.get_by_test_id("create-key").click()
    key = page.get_by_test_id("issued-key").inner_text().strip()
    assert re.fullmatch(r"gok_[0-9a-f]+_[\w-]+", key), key
    return key


def other(browser: Browser, live_server: LiveServer) -> BrowserContext:
    """A second person's browser."""
    return new_context(browser, live_server)


# ------------------------------------------------------------------ 1. search → download


def test_search_a_dataset_preview_it_and_download_it(page: Page, live_server: LiveServer) -> None:
    entry_id = entry_id_named(live_server, BUS_STOPS)
    page.goto("/open")
    expect(page.get_by_test_id("figures")).to_be_visible()
    page.get_by_label("检索开放数据").fill("公交站点")
    page.locator("header").get_by_role("button", name="检索").click()
    expect(page).to_have_url(re.compile(r"/open/search\?q="))
    hit = page.get_by_test_id("hits").locator(f'li[data-entry="{entry_id}"]')
    expect(hit.locator("mark").first).to_be_visible()  # the match is highlighted
    hit.get_by_role("link", name=BUS_STOPS).click()

    expect(page).to_have_url(path_is(f"/open/datasets/{entry_id}"))
    expect(page.get_by_test_id("dataset-name")).to_have_text(BUS_STOPS)
    rows = int(page.get_by_test_id("row-count").inner_text())
    preview = page.get_by_test_id("preview")
    expect(preview.get_by_test_id("preview-total")).to_have_text(str(rows))
    first = preview.locator("tbody tr").first.inner_text()
    expect(preview.locator("tbody tr")).to_have_count(20)
    preview.get_by_test_id("preview-next").click()
    expect(page.get_by_test_id("preview").get_by_test_id("preview-first")).to_be_visible()
    assert page.get_by_test_id("preview").locator("tbody tr").first.inner_text() != first

    with page.expect_download() as info:
        page.get_by_test_id("downloads").locator('[data-format="csv"]').click()
    download = info.value
    path = download.path()
    assert path is not None
    raw = Path(path).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel opens UTF-8 with the byte order mark
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    header = [
        c.strip() for c in page.get_by_test_id("preview").locator("thead th").all_inner_texts()
    ]
    assert table[0] == header and len(table) == rows + 1


# ------------------------------------------------------------------ 2. sign up → API


def test_sign_up_get_an_app_key_and_call_the_row_api(page: Page, live_server: LiveServer) -> None:
    entry_id = entry_id_named(live_server, BUS_STOPS)
    username = f"dev{secrets.token_hex(3)}"
    sign_up(page, username, "开发者小王")
    key = create_key(page, "公交到站小程序")

    page.goto(f"/open/datasets/{entry_id}")
    api = page.locator("#api")
    expect(api.get_by_test_id("key-prefix")).to_have_text(f"gok_{key.split('_')[1]}_…")
    rows_url = api.get_by_test_id("rows-url").inner_text().strip()
    expect(api.get_by_test_id("curl-example")).to_contain_text(rows_url)
    answer = page.request.get(rows_url, headers={"X-App-Key": key})
    assert answer.status == 200
    body = answer.json()
    assert len(body["data"]) == 10 and body["meta"]["next_cursor"]
    assert page.request.get(rows_url).status == 401  # no key, no rows

    page.goto("/open/account")
    expect(page.get_by_test_id("keys").get_by_test_id("key-calls")).to_have_text("1")


# ------------------------------------------------------------------ 3. a data request


def test_file_a_data_request_dispatch_answer_and_rate_it(
    page: Page, browser: Browser, live_server: LiveServer
) -> None:
    title = f"希望开放公交车辆实时到站数据 {secrets.token_hex(2)}"
    sign_up(page, f"asker{secrets.token_hex(3)}", "王小丽")
    page.goto("/open/requests")
    page.get_by_test_id("new-request").click()
    page.get_by_label("需要什么数据（标题）").fill(title)
    page.get_by_label("详细说明").fill("开发到站提醒小程序，需要车辆实时位置")
    page.get_by_label("用途").fill("便民出行")
    page.get_by_label("需要的数据项（逗号分隔）").fill("线路, 车辆位置")
    page.get_by_test_id("file-request").click()
    expect(page.get_by_test_id("request-status")).to_have_attribute("data-status", "submitted")
    request_url = page.url.split("?")[0]

    bureau = other(browser, live_server).new_page()
    sign_in(bureau, "bureau_admin")
    bureau.goto(request_url)
    assert bureau.evaluate(UNLABELLED_CONTROLS) == []
    bureau.get_by_label("承办部门").select_option(label=TRANSPORT)
    bureau.get_by_test_id("dispatch").click()
    expect(bureau.get_by_test_id("request-status")).to_have_attribute("data-status", "dispatched")
    expect(bureau.get_by_test_id("days-left")).to_have_text(re.compile(r"^\d+$"))

    officer = other(browser, live_server).new_page()
    sign_in(officer, "dept_officer")
    officer.goto(request_url)
    officer.get_by_label("已开放", exact=True).check()
    officer.get_by_label("对应的开放数据集（已开放或有条件开放时必选）").select_option(
        label=BUS_STOPS
    )
    officer.get_by_label("答复内容（公开）").fill("站点数据已开放；车辆实时位置列入明年开放计划")
    officer.get_by_test_id("answer").click()
    expect(officer.get_by_test_id("request-status")).to_have_attribute("data-status", "answered")

    page.reload()
    expect(page.get_by_test_id("answer-text")).to_have_text(
        "站点数据已开放；车辆实时位置列入明年开放计划"
    )
    expect(page.get_by_test_id("request-dataset")).to_have_text(BUS_STOPS)
    page.get_by_label("★★★★★", exact=True).check()
    page.get_by_label("评价说明").fill("答复及时")
    page.get_by_test_id("rate").click()
    expect(page.get_by_test_id("rating")).to_have_attribute("data-rating", "5")
    steps = (
        page.get_by_test_id("timeline")
        .locator("li")
        .evaluate_all("items => items.map(li => li.dataset.step)")
    )
    assert steps == ["submit", "dispatch", "answer", "rate"]
    page.goto("/open/requests")
    expect(page.get_by_test_id("request-stats")).to_contain_text(TRANSPORT)


# ------------------------------------------------------------------ 4. conditional data


def conditional_entry(live_server: LiveServer, tmp_path: Path) -> str:
    """A 有条件开放 entry of the transport commission with data, made through the services."""
    platform = live_server.platform
    officer, bureau = actor(platform, "dept_officer"), actor(platform, "bureau_admin")
    fields = [
        {"name": "车辆编号", "type": "string"},
        {"name": "线路", "type": "string"},
        {"name": "满载率", "type": "decimal"},
        {"name": "驾驶员", "type": "string", "flags": ["identifier"]},
    ]
    data = entry_input(
        name=f"公交车辆满载率（测试{secrets.token_hex(2)}）", provider=TRANSPORT, fields=fields,
        open_type="conditional", open_conditions="用于出行服务研究，须申请",
    )  # fmt: skip
    with platform.uow() as uow:
        entry_id = catalog.create_entry(uow, actor=officer, data=data, submit=True).id
    with platform.uow() as uow:
        catalog.approve_entry(uow, actor=bureau, entry_id=entry_id, publish=True)
    lines = ["车辆编号,线路,满载率,驾驶员"] + [
        f"B{n:04d},{n % 30 + 1}路,{(n % 100) / 100:.2f},司机{n:04d}" for n in range(300)
    ]
    path = tmp_path / "load.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    datastore.ingest_file(
        platform.datastore, actor=officer, entry_id=entry_id, path=path, filename=path.name
    )
    return entry_id


def test_apply_for_conditional_data_the_provider_approves_and_the_key_reads_it(
    page: Page, browser: Browser, live_server: LiveServer, tmp_path: Path
) -> None:
    entry_id = conditional_entry(live_server, tmp_path)
    sign_up(page, f"firm{secrets.token_hex(3)}", "李经理")
    key = create_key(page, "出行研究")
    dataset = f"/open/datasets/{entry_id}"
    page.goto(dataset)
    expect(page.get_by_test_id("open-type")).to_have_attribute("data-open-type", "conditional")
    expect(page.get_by_test_id("preview-refused")).to_be_visible()
    assert page.evaluate(UNLABELLED_CONTROLS) == []
    rows_url = page.get_by_test_id("rows-url").inner_text().strip()
    assert page.request.get(rows_url, headers={"X-App-Key": key}).status == 403

    form = page.get_by_test_id("apply-form")
    form.get_by_label("车辆编号").check()
    form.get_by_label("满载率").check()
    form.get_by_label("用途").fill("研究高峰时段的车辆满载情况")
    form.get_by_label("应用场景").fill("出行服务研究")
    form.get_by_test_id("apply").click()
    expect(page.get_by_test_id("done")).to_be_visible()
    status = page.get_by_test_id("my-applications").locator("tr[data-application]")
    expect(status).to_have_attribute("data-status", "submitted")

    provider = other(browser, live_server).new_page()
    sign_in(provider, "dept_officer")
    provider.goto(dataset)
    review = provider.get_by_test_id("approve-form")
    expect(review).to_have_count(1)
    assert provider.evaluate(UNLABELLED_CONTROLS) == []
    review.get_by_test_id("approve").click()
    expect(provider.get_by_test_id("done")).to_be_visible()

    page.reload()
    expect(status).to_have_attribute("data-status", "approved")
    preview = page.get_by_test_id("preview")
    expect(preview.locator("thead th")).to_have_text(["车辆编号", "满载率"])
    answer = page.request.get(rows_url, headers={"X-App-Key": key})
    assert answer.status == 200
    first = answer.json()["data"][0]
    assert set(first) == {"车辆编号", "满载率"} and first["车辆编号"] == "B0000"


# ------------------------------------------------------------------ every control is labelled


def test_every_portal_control_has_a_label(page: Page, live_server: LiveServer) -> None:
    bus_stops = entry_id_named(live_server, BUS_STOPS)
    paths = [
        "/open", "/open/search?q=公交", f"/open/datasets/{bus_stops}", "/open/themes/04",
        "/open/plan", "/open/requests", "/open/showcase", "/open/developers", "/open/signup",
    ]  # fmt: skip
    for path in paths:
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        assert page.evaluate(UNLABELLED_CONTROLS) == [], path
    sign_in(page, "bureau_admin")
    for path in ["/open/account", "/open/plan", "/open/showcase", "/open/requests/new"]:
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        assert page.evaluate(UNLABELLED_CONTROLS) == [], path
