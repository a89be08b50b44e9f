"""The sandbox console in Chromium: an operator picks a table from the schema browser, writes an
aggregate around it, runs it with Ctrl+Enter, reads the result table and chart, and finds the
query in the history, from where a click loads it back into the editor."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from gongshu.catalog.models import Entry
from gongshu.demo.basedata import POPULATION
from gongshu.identity import grants as grant_service
from gongshu.identity.models import DeliveryMode, Organisation, ReleasePolicy
from gongshu.identity.schemas import GrantCreate
from tests.browser.helpers import LiveServer, path_is, sign_in_to_console
from tests.browser.test_console import UNLABELLED_CONTROLS
from tests.factories import actor

pytestmark = pytest.mark.browser

K = 5


def population_grant(live_server: LiveServer) -> tuple[str, str]:
    """An aggregate sandbox grant (k=5) on the demo population register for the operator
    persona's organisation; its id and the register's view name."""
    platform = live_server.platform
    admin, operator = actor(platform, "bureau_admin"), actor(platform, "operator")
    with platform.uow() as uow:
        entry = uow.session.scalar(sa.select(Entry).where(Entry.name == POPULATION))
        assert entry is not None
        (org_id,) = operator.organisation_ids
        org = uow.session.get(Organisation, org_id)
        assert org is not None and org.code
        grant = grant_service.create_grant(
            uow,
            actor=admin,
            data=GrantCreate(
                subject_organisation_code=org.code,
                entry_ref=entry.id,
                fields=["*"],
                purpose=f"人口结构分析（浏览器测试 {secrets.token_hex(2)}）",
                valid_until=uow.clock.now() + timedelta(days=30),
                delivery_modes=[DeliveryMode.SANDBOX],
                min_group_size=K,
                release_policy=ReleasePolicy.AGGREGATE,
            ),
        )
        uow.commit()
        return grant.id, entry.resource_code


def test_an_operator_builds_a_query_from_the_schema_runs_it_and_finds_it_in_history(
    page: Page, live_server: LiveServer
) -> None:
    grant_id, code = population_grant(live_server)
    sign_in_to_console(page, "operator")
    page.get_by_role("link", name="沙箱查询").click()
    expect(page).to_have_url(path_is("/console/sandbox"))
    page.locator(f'tr[data-grant="{grant_id}"]').get_by_test_id("open-console").click()
    expect(page).to_have_url(path_is(f"/console/sandbox/{grant_id}"))
    assert page.evaluate(UNLABELLED_CONTROLS) == []

    # The table's name lands in the editor, quoted; the query is typed around it.
    editor = page.get_by_label("SQL 查询")
    page.locator(f'section[data-table="{code}"]').get_by_test_id("table-name").click()
    expect(editor).to_have_value(f'"{code}"')
    editor.press("Control+Home")
    page.keyboard.type("SELECT 户口类别, count(*) AS n\nFROM ")
    editor.press("Control+End")
    page.keyboard.type(" GROUP BY 户口类别 ORDER BY n DESC")
    sql = f'SELECT 户口类别, count(*) AS n\nFROM "{code}" GROUP BY 户口类别 ORDER BY n DESC'
    expect(editor).to_have_value(sql)
    with page.expect_navigation():
        editor.press("Control+Enter")

    result = page.get_by_test_id("result")
    expect(result).to_be_visible()
    expect(page.get_by_test_id("refusal")).to_have_count(0)
    rows = result.get_by_test_id("result-table").locator("tbody tr")
    expect(rows.first).to_have_attribute("id", re.compile(r"^result-row-"))
    released = rows.count()
    assert released >= 1
    expect(result.get_by_test_id("rows-released")).to_have_text(str(released))
    expect(result.get_by_test_id("suppressed")).to_have_text(re.compile(r"^\d+$"))
    bars = result.locator('figure[data-chart="sandbox-result"] svg rect[data-key]')
    expect(bars).to_have_count(released)
    for index in range(released):
        value = int(bars.nth(index).get_attribute("data-value") or 0)
        assert value >= K  # every released group holds at least k people
    expect(editor).to_have_value(sql)  # the SQL stays in the editor

    # The history holds the query; a click on it loads it back into an emptied editor.
    entry = page.get_by_test_id("history").locator('tr[data-outcome="released"]').first
    expect(entry).to_contain_text("SELECT 户口类别, count(*) AS n")
    editor.fill("")
    entry.get_by_test_id("history-sql").click()
    expect(editor).to_have_value(sql)
    expect(page).to_have_url(path_is(f"/console/sandbox/{grant_id}"))  # no page load
