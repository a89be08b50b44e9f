"""What a person does in the browser, step by step, for the browser tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, expect

from gongshu.bootstrap import Platform

DEMO_PASSWORD = "gongshu-demo"
TIMEOUT_MS = 10_000


@dataclass
class LiveServer:
    """Where the demo city answers, and who lives there."""

    url: str
    platform: Platform
    display_names: dict[str, str]  # username → display name

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """A plain HTTP request to the live server, outside the browser."""
        return httpx.get(self.url + path, timeout=10, **kwargs)


def new_context(browser: Browser, live_server: LiveServer, **options: Any) -> BrowserContext:
    """A fresh context on the live server: Chinese, no cookies, short time-outs."""
    options.setdefault("locale", "zh-CN")
    context = browser.new_context(base_url=live_server.url, **options)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context


def path_is(path: str) -> re.Pattern[str]:
    """Match a page URL whose path is exactly ``path`` (any query string)."""
    return re.compile(rf"^https?://[^/]+{re.escape(path)}(\?.*)?$")


def sign_in(page: Page, username: str, password: str = DEMO_PASSWORD) -> None:
    """Fill in and submit the real sign-in form (labels as a screen reader finds them)."""
    page.goto("/login")
    page.get_by_label("用户名", exact=True).fill(username)
    page.get_by_label("密码", exact=True).fill(password)
    page.locator("main form").get_by_role("button", name="登录").click()
    page.wait_for_load_state()


def sign_in_to_console(page: Page, username: str) -> None:
    """Sign in with the demo password and arrive on the console."""
    sign_in(page, username)
    expect(page).to_have_url(path_is("/console"))


def issue_grant(page: Page, purpose: str) -> str:
    """Issue a grant to 朝阳区 through the form on /console/grants; return its id."""
    page.goto("/console/grants")
    page.get_by_label("被授权机构代码").fill("110105")
    page.get_by_label("目录项", exact=True).fill("demo.browser-check")
    page.get_by_label("数据项（逗号分隔，* 表示全部）").fill("community_code, age_band")
    page.get_by_label("用途", exact=True).fill(purpose)
    page.get_by_label("有效期至").fill((date.today() + timedelta(days=30)).isoformat())
    page.get_by_label("接口调用").check()
    page.get_by_role("button", name="签发", exact=True).click()
    expect(page).to_have_url(path_is("/console/grants"))
    row = page.locator("tr[data-grant]", has_text=purpose)
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("grant-status")).to_have_attribute("data-status", "active")
    grant_id = row.get_attribute("data-grant")
    assert grant_id
    return grant_id


def revoke_grant(page: Page, grant_id: str, reason: str) -> None:
    """Revoke a grant from its row on /console/grants, giving a reason."""
    row = page.locator(f'tr[data-grant="{grant_id}"]')
    form = row.locator("form[action$='/revoke']")
    form.get_by_label("原因").fill(reason)
    form.get_by_role("button", name="撤销").click()
    expect(page).to_have_url(path_is("/console/grants"))
