"""Console work in Chromium: revoking a grant, API tokens, the audit trail, form labels."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.helpers import (
    LiveServer,
    issue_grant,
    new_context,
    path_is,
    revoke_grant,
    sign_in_to_console,
)

pytestmark = pytest.mark.browser


def test_admin_revokes_a_grant_with_a_reason(page: Page) -> None:
    sign_in_to_console(page, "bureau_admin")
    page.locator('section[data-role="bureau_admin"]').get_by_role("link", name="授权管理").click()
    expect(page).to_have_url(path_is("/console/grants"))
    purpose = f"浏览器撤销测试 {secrets.token_hex(3)}"
    grant_id = issue_grant(page, purpose)
    row = page.locator(f'tr[data-grant="{grant_id}"]')
    expect(row).to_contain_text("接口调用")
    expect(row.get_by_test_id("grant-status")).to_contain_text("有效")

    # The browser refuses a missing reason before anything is sent.
    row.locator("form[action$='/revoke']").get_by_role("button", name="撤销").click()
    expect(page).to_have_url(path_is("/console/grants"))
    expect(row.get_by_test_id("grant-status")).to_have_attribute("data-status", "active")

    revoke_grant(page, grant_id, "用途已结束")
    status = row.get_by_test_id("grant-status")
    expect(status).to_have_attribute("data-status", "revoked")
    expect(status).to_contain_text("已撤销")
    expect(status).to_contain_text("用途已结束")
    expect(row.locator("form[action$='/revoke']")).to_have_count(0)
    expect(row.locator("form[action$='/suspend']")).to_have_count(0)

    # The status filter agrees.
    page.get_by_label("状态").select_option("revoked")
    page.get_by_role("button", name="筛选").click()
    expect(page.locator(f'tr[data-grant="{grant_id}"]')).to_have_count(1)
    page.get_by_label("状态").select_option("active")
    page.get_by_role("button", name="筛选").click()
    expect(page.locator(f'tr[data-grant="{grant_id}"]')).to_have_count(0)


def test_api_token_is_shown_once_and_works(page: Page, live_server: LiveServer) -> None:
    sign_in_to_console(page, "dept_officer")
    page.get_by_role("navigation").get_by_role("link", name="API 令牌").click()
    expect(page).to_have_url(path_is("/console/tokens"))
    name = f"browser-{secrets.token_hex(3)}"
    page.get_by_label("名称", exact=True).fill(name)
    page.get_by_role("button", name="创建", exact=True).click()

    shown = page.get_by_test_id("new-token")
    expect(shown).to_be_visible()
    secret = shown.inner_text().strip()
    assert secret.startswith("gs_")
    row = page.locator("[data-testid=tokens] tr[data-token]", has_text=name)
    expect(row).to_contain_text("有效")
    expect(row).to_contain_text("read")

    bearer = {"Authorization": f"Bearer {secret}"}
    me = live_server.get("/api/v1/me", headers=bearer)
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["username"] == "dept_officer"
    assert body["scopes"] == ["read"]

    page.goto("/console/tokens")
    expect(page.get_by_test_id("new-token")).to_have_count(0)
    assert secret not in page.content()

    row.get_by_role("button", name="撤销").click()
    expect(page).to_have_url(path_is("/console/tokens"))
    expect(row).to_contain_text("已撤销")
    assert live_server.get("/api/v1/me", headers=bearer).status_code == 401


def test_auditor_sees_others_actions_but_not_their_own(
    browser: Browser, live_server: LiveServer
) -> None:
    admin_name = live_server.display_names["bureau_admin"]
    admin = new_context(browser, live_server)
    try:
        page = admin.new_page()
        sign_in_to_console(page, "bureau_admin")
        grant_id = issue_grant(page, f"审计可见性测试 {secrets.token_hex(3)}")
        revoke_grant(page, grant_id, "测试结束")
    finally:
        admin.close()

    auditor = new_context(browser, live_server)
    try:
        page = auditor.new_page()
        sign_in_to_console(page, "auditor")
        page.locator('section[data-role="auditor"]').get_by_role("link", name="审计日志").click()
        expect(page).to_have_url(path_is("/console/audit"))
        rows = page.locator("[data-testid=audit] tbody tr[data-action]")
        expect(rows.first).to_be_visible()
        for actor_cell in rows.locator("td:nth-child(2)").all_inner_texts():
            assert "(auditor," not in actor_cell

        page.get_by_label("操作", exact=True).fill("grant.revoke")
        page.get_by_role("button", name="检索").click()
        revoked = page.locator('tr[data-action="grant.revoke"]', has_text=grant_id)
        expect(revoked).to_have_count(1)
        expect(revoked).to_contain_text(admin_name)

        # The auditor's own sign-in and searches are recorded, but hidden from them.
        page.goto("/console/audit?actor_filter=auditor")
        expect(rows).to_have_count(0)
        expect(page.get_by_test_id("audit")).to_contain_text("没有匹配的记录")
    finally:
        auditor.close()

    security = new_context(browser, live_server)
    try:
        page = security.new_page()
        sign_in_to_console(page, "security_officer")
        page.goto("/console/audit?action=audit.search&actor_filter=auditor")
        expect(page.locator('tr[data-action="audit.search"]').first).to_contain_text(
            live_server.display_names["auditor"]
        )
    finally:
        security.close()


UNLABELLED_CONTROLS = """() => [...document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button')].filter(el => {
  if (el.labels && el.labels.length) return false;
  if (el.getAttribute('aria-label')) return false;
  if (el.tagName === 'BUTTON' && el.textContent.trim()) return false;
  return true;
}).map(el => el.outerHTML)"""


def test_every_form_control_has_a_label(browser: Browser, live_server: LiveServer) -> None:
    pages = {
        "bureau_admin": [
            "/console",
            "/console/grants",
            "/console/organisations",
            "/console/calendar",
            "/console/tokens",
        ],
        "auditor": ["/console/audit"],
    }
    context = new_context(browser, live_server)
    try:
        page = context.new_page()
        page.goto("/login")
        assert page.evaluate(UNLABELLED_CONTROLS) == []
        for username, paths in pages.items():
            context.clear_cookies()
            sign_in_to_console(page, username)
            for path in paths:
                response = page.goto(path)
                assert response is not None and response.status == 200, path
                assert page.evaluate(UNLABELLED_CONTROLS) == [], path
    finally:
        context.close()
