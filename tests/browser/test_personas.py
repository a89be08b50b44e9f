"""Every demo persona signs in through the real form in Chromium, and the basics around it:
a wrong password, sign-in without JavaScript, the English switch."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from gongshu.identity.models import Role
from gongshu.identity.pages import CONSOLE_TILES
from gongshu.web.i18n import load_translations
from tests.browser.helpers import LiveServer, new_context, path_is, sign_in, sign_in_to_console

pytestmark = pytest.mark.browser

ZH = load_translations().for_language("zh")


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
def test_persona_signs_in_sees_their_console_and_signs_out(
    page: Page, live_server: LiveServer, role: Role
) -> None:
    sign_in_to_console(page, role.value)  # demo usernames are the role codes

    expect(page.get_by_test_id("whoami")).to_have_text(live_server.display_names[role.value])
    section = page.locator(f'section[data-role="{role.value}"]')
    expect(section).to_have_count(1)
    expect(section).to_be_visible()
    label = ZH("角色:" + role.value)
    assert not label.startswith("角色:"), "no Chinese label for the role"
    expect(section.locator("h2")).to_contain_text(label)
    expect(section.locator(".tile")).to_have_count(len(CONSOLE_TILES[role]))

    page.get_by_test_id("logout").click()
    expect(page).to_have_url(path_is("/login"))
    expect(page.get_by_test_id("whoami")).to_have_count(0)
    # The session is gone: the console sends the browser back to the sign-in form.
    page.goto("/console")
    expect(page).to_have_url(path_is("/login"))
    expect(page.locator("main form input[name=next]")).to_have_value("/console")
    expect(page.get_by_test_id("whoami")).to_have_count(0)


def test_wrong_password_shows_the_error_and_stays_on_login(page: Page) -> None:
    sign_in(page, "price_regulator", "not-the-demo-password")

    expect(page).to_have_url(path_is("/login"))
    expect(page.get_by_test_id("login-error")).to_contain_text("用户名或密码错误")
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_label("用户名", exact=True)).to_have_value("price_regulator")
    expect(page.get_by_label("密码", exact=True)).to_have_value("")
    expect(page.get_by_test_id("whoami")).to_have_count(0)


def test_sign_in_and_out_without_javascript(browser: Browser, live_server: LiveServer) -> None:
    context = new_context(browser, live_server, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in_to_console(page, "district_officer")
        expect(page.get_by_test_id("whoami")).to_have_text(
            live_server.display_names["district_officer"]
        )
        expect(page.locator('section[data-role="district_officer"]')).to_be_visible()
        for path in ("/login", "/console", "/console/grants", "/console/tokens"):
            page.goto(path)
            expect(page.locator("script")).to_have_count(0)
        page.get_by_test_id("logout").click()
        expect(page).to_have_url(path_is("/login"))
        expect(page.get_by_test_id("whoami")).to_have_count(0)
    finally:
        context.close()


def test_english_switch_changes_the_console(page: Page, live_server: LiveServer) -> None:
    name = live_server.display_names["bureau_admin"]
    sign_in_to_console(page, "bureau_admin")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text(f"工作台 · {name}")

    page.get_by_test_id("lang-en").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text(f"Console · {name}")
    section = page.locator('section[data-role="bureau_admin"]')
    expect(section.locator("h2")).to_contain_text("Data bureau administrator")
    expect(section.get_by_role("link", name="Users and roles")).to_be_visible()
    expect(page.get_by_test_id("logout")).to_have_text("Sign out")

    # The choice is remembered on the next page.
    section.get_by_role("link", name="Grant management").click()
    expect(page).to_have_url(path_is("/console/grants"))
    expect(page.locator("h1")).to_have_text("Data grants")
    expect(page.get_by_role("heading", name="Issue a grant")).to_be_visible()

    page.get_by_test_id("lang-zh").click()
    expect(page).to_have_url(path_is("/console/grants"))
    expect(page.locator("h1")).to_have_text("数据授权")


def test_english_browser_gets_english_pages(browser: Browser, live_server: LiveServer) -> None:
    context = new_context(browser, live_server, locale="en-US")
    try:
        page = context.new_page()
        page.goto("/login")
        expect(page.locator("h1")).to_have_text("Sign in")
        page.get_by_label("Username", exact=True).fill("public")
        page.get_by_label("Password", exact=True).fill("gongshu-demo")
        page.locator("main form").get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(path_is("/console"))
        expect(page.locator('section[data-role="public"] h2')).to_contain_text(
            "Member of the public"
        )
    finally:
        context.close()
