"""The sandbox console without a browser: the grant list, a query run through the plain form
(table, suppressed count, chart, history), refusals, the DP budget, the review of flagged queries,
shared models, and what someone without the grant sees."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import get_args

import httpx2
import pytest
import sqlalchemy as sa
from fastapi import Request
from fastapi.testclient import TestClient
from markupsafe import escape

from gongshu.identity.deps import request_context
from gongshu.identity.models import Grant, GrantStatus
from gongshu.sandbox import shared_models
from gongshu.sandbox.models import SandboxQuery
from gongshu.sandbox.pages import first_line, result_chart
from gongshu.sandbox.routes import SandboxDep
from gongshu.sandbox.schemas import ModelCreate, ParamIn
from gongshu.sandbox.service import Sandbox
from tests.sandbox.conftest import DISTRICTS, K, World, _grant
from tests.web.test_pages import sign_in

HTML = {"Accept": "text/html"}
RELEASED = {d: n for d, n in DISTRICTS.items() if n >= K}


@pytest.fixture
def web(world: World) -> Iterator[TestClient]:
    """A browser-like client of the app, whose sandbox borrows the session's worker pool."""
    app = world.platform.app
    provider = get_args(SandboxDep)[1].dependency

    def borrowed(request: Request) -> Sandbox:
        context = request_context(request)
        return replace(world.sandbox, uow=lambda: world.platform.uow(context))

    app.dependency_overrides[provider] = borrowed
    try:
        with TestClient(app, headers=HTML) as client:
            yield client
    finally:
        app.dependency_overrides.pop(provider, None)


def _section(page: str, testid: str, end: str = "</section>") -> str:
    """The HTML from the element marked ``data-testid=testid`` to the next ``end`` tag."""
    start = page.index(f'data-testid="{testid}"')
    stop = page.find(end, start)
    return page[start : stop if stop != -1 else len(page)]


def _editor(page: str) -> str:
    found = re.search(r'<textarea id="sql"[^>]*>(.*?)</textarea>', page, flags=re.S)
    assert found, "no SQL editor on the page"
    return html.unescape(found.group(1))


def _bars(page: str) -> dict[str, str]:
    svg = page.split('data-chart="sandbox-result"', 1)[1].split("</svg>", 1)[0]
    return dict(re.findall(r'data-key="([^"]*)" data-value="([^"]*)"', svg))


@dataclass(frozen=True)
class Record:
    """What the tests read of a recorded query."""

    id: str
    outcome: str
    error_code: str | None
    flagged: bool
    flag_reason: str | None


def _records(world: World) -> list[Record]:
    with world.platform.uow() as uow:
        found = uow.session.scalars(sa.select(SandboxQuery).order_by(SandboxQuery.id))
        return [Record(q.id, q.outcome, q.error_code, q.flagged, q.flag_reason) for q in found]


def _run(web: TestClient, csrf: str, grant: str, sql: str, **form: str) -> httpx2.Response:
    return web.post(f"/console/sandbox/{grant}", data={"csrf_token": csrf, "sql": sql, **form})


# --- pure pieces ------------------------------------------------------------------------------


def test_a_result_is_charted_only_with_one_key_and_a_number() -> None:
    chart = result_chart(["区划", "n"], [["110101", 100], ["110105", 80], [None, 7]])
    assert chart is not None
    assert chart.counts == {"110101": 100, "110105": 80, "—": 7}
    assert (chart.key_column, chart.value_column, chart.clamped) == ("区划", "n", False)
    # The key may come after the numbers; the first numeric column is charted.
    chart = result_chart(["n", "区划", "avg"], [[3, "a", 1.234], [4, "b", 2.0]])
    assert chart is not None and chart.counts == {"a": 3, "b": 4}
    # Two numbers only: the first is the key (a birth year, say).
    chart = result_chart(["y", "n"], [[1960, 12], [1961, 15]])
    assert chart is not None and chart.counts == {"1960": 12, "1961": 15}
    # Noise below zero is drawn as zero and said so.
    chart = result_chart(["区划", "n"], [["a", -2.5], ["b", 3.456]])
    assert chart is not None and chart.counts == {"a": 0, "b": 3.46} and chart.clamped
    assert result_chart(["a", "b", "n"], [["x", "y", 1]]) is None  # two text columns
    assert result_chart(["a", "n"], [["x", 1], ["x", 2]]) is None  # keys repeat
    assert result_chart(["n"], [[240]]) is None  # nothing to group by
    assert result_chart(["a", "b", "c"], [[1, 2, 3]]) is None  # no key among three numbers
    assert result_chart(["a", "n"], []) is None
    assert result_chart(["a", "n"], [[str(i), i] for i in range(41)]) is None  # too many bars


def test_history_shows_the_first_line_of_a_query() -> None:
    assert first_line("\n  SELECT count(*)\nFROM t") == "SELECT count(*)"
    assert first_line("x" * 100, width=10) == "x" * 9 + "…"


# --- the pages --------------------------------------------------------------------------------


def test_the_grant_list_shows_policy_k_budget_and_links_to_each_console(
    web: TestClient, world: World
) -> None:
    sign_in(web, "operator")
    page = web.get("/console/sandbox")
    assert page.status_code == 200
    rows = dict(re.findall(r'<tr data-grant="([^"]+)" data-policy="([^"]+)">', page.text))
    assert rows == {world.aggregate: "aggregate", world.jobs_grant: "aggregate", world.dp: "dp"}
    assert world.rows not in page.text  # the health commission's grant is not the operator's
    aggregate = page.text.split(f'data-grant="{world.aggregate}"', 1)[1].split("</tr>", 1)[0]
    assert re.search(rf'data-testid="k">{K}<', aggregate)
    assert f'href="/console/sandbox/{world.aggregate}"' in aggregate
    dp = page.text.split(f'data-grant="{world.dp}"', 1)[1].split("</tr>", 1)[0]
    assert 'data-left="1.0" data-total="1.0"' in dp
    assert 'href="/api/v1/sandbox/grants"' in page.text  # the JSON twin


def test_an_aggregate_runs_from_the_form_with_table_suppressed_count_chart_and_history(
    web: TestClient, world: World
) -> None:
    csrf = sign_in(web, "operator")
    console = web.get(f"/console/sandbox/{world.aggregate}")
    assert console.status_code == 200
    schema = _section(console.text, "schema", "</aside>")
    assert f'data-insert="&#34;{world.persons_code}&#34;"' in schema
    assert f'data-table="{world.jobs_code}"' in schema  # the companion grant's table joins in
    identifier = schema.split('data-field="公民身份号码"', 1)[1].split("</li>", 1)[0]
    assert 'data-flag="identifier"' in identifier and "个人标识" in identifier
    assert 'data-flag="quasi_identifier"' in schema.split('data-field="出生日期"', 1)[1][:800]

    sql = f'SELECT 区划, count(*) AS n\nFROM "{world.persons_code}" GROUP BY 区划 ORDER BY 区划'
    answer = _run(web, csrf, world.aggregate, sql)
    assert answer.status_code == 200, answer.text[:2000]
    assert _editor(answer.text) == sql  # the SQL stays in the editor
    result = _section(answer.text, "result")
    assert re.search(r'data-testid="suppressed">1<', result)
    table = result.split('data-testid="result-table"', 1)[1]
    cells = re.findall(
        r'<tr id="result-row-(\d+)">\s*<td>(\d+)</td><td class="num">(\d+)</td>', table
    )
    assert {d: int(n) for d, _same, n in cells} == RELEASED
    assert all(d == same for d, same, _n in cells)
    assert "<svg" in result
    assert _bars(answer.text) == {d: str(n) for d, n in RELEASED.items()}
    assert "110109" not in result  # the group of three is withheld
    for citizen in world.ids[:50]:
        assert citizen not in answer.text

    (record,) = _records(world)
    history = _section(answer.text, "history")
    assert f'data-query="{record.id}" data-outcome="released"' in history
    assert "SELECT 区划, count(*) AS n</a>" in history  # the first line of the SQL
    loaded = web.get(f"/console/sandbox/{world.aggregate}?query={record.id}")
    assert _editor(loaded.text) == sql


def test_a_refused_query_shows_its_code_in_an_alert_and_is_recorded(
    web: TestClient, world: World
) -> None:
    csrf = sign_in(web, "operator")
    sql = "COPY (SELECT 1) TO '/tmp/x.csv'"
    answer = _run(web, csrf, world.aggregate, sql)
    assert answer.status_code == 422
    assert 'role="alert" data-testid="refusal" data-code="statement_not_allowed"' in answer.text
    alert = _section(answer.text, "refusal", "</div>")
    assert 'data-testid="refusal-code">statement_not_allowed<' in alert
    assert _editor(answer.text) == sql
    assert 'data-testid="result"' not in answer.text
    (record,) = _records(world)
    assert (record.outcome, record.error_code) == ("refused", "statement_not_allowed")
    assert f'data-query="{record.id}" data-outcome="refused"' in answer.text

    # A query that names a column no grant gives: another precise code, with the culprit.
    hidden = _run(
        web, csrf, world.aggregate, f'SELECT count(__subject) FROM "{world.persons_code}"'
    )
    assert hidden.status_code == 422
    assert 'data-testid="refusal-code">column_not_allowed<' in hidden.text


def test_the_dp_console_shows_the_budget_going_down_until_it_is_gone(
    web: TestClient, world: World
) -> None:
    csrf = sign_in(web, "operator")
    console = web.get(f"/console/sandbox/{world.dp}")
    assert 'data-testid="epsilon"' in console.text
    assert 'value="0.25"' in console.text  # the grant's ε per query is the default
    schema = _section(console.text, "schema", "</aside>")
    district = schema.split('data-field="区划"', 1)[1].split("</li>", 1)[0]
    assert ", ".join(DISTRICTS) in district  # the public domain DP groups over
    assert "0.0 – 500000.0" in schema.split('data-field="年收入"', 1)[1].split("</li>", 1)[0]
    assert 'data-left="1.0" data-total="1.0"' in _section(console.text, "grant-summary")
    sql = f'SELECT 区划, count(*) AS n FROM "{world.persons_code}" GROUP BY 区划'
    first = _run(web, csrf, world.dp, sql, epsilon="0.25")
    assert first.status_code == 200, first.text[:2000]
    assert re.search(r'data-testid="epsilon-spent">0.25<', first.text)
    assert 'data-left="0.75" data-total="1.0"' in _section(first.text, "grant-summary")
    assert set(_bars(first.text)) == set(DISTRICTS)  # the whole public domain, noisy
    second = _run(web, csrf, world.dp, sql, epsilon="0.5")
    assert 'data-left="0.25" data-total="1.0"' in _section(second.text, "grant-summary")
    too_much = _run(web, csrf, world.dp, sql, epsilon="0.5")
    assert too_much.status_code == 403
    assert 'data-testid="refusal-code">budget_exhausted<' in too_much.text
    assert 'data-left="0.25" data-total="1.0"' in _section(too_much.text, "grant-summary")
    bad = _run(web, csrf, world.dp, sql, epsilon="lots")
    assert bad.status_code == 422 and "ε 须为数字" in bad.text


def test_flagged_queries_are_listed_for_review_then_cleared_or_confirmed_from_the_form(
    web: TestClient, world: World
) -> None:
    csrf = sign_in(web, "operator")
    assert web.get("/console/sandbox/review").status_code == 403
    base = f"SELECT count(*) AS n FROM \"{world.persons_code}\" WHERE 区划 = '110101'"
    assert _run(web, csrf, world.aggregate, base).status_code == 200
    probe = base + f" AND 公民身份号码 <> '{world.ids[0]}'"
    flagged = _run(web, csrf, world.aggregate, probe)
    assert flagged.status_code == 200 and 'data-testid="flagged"' in flagged.text
    assert 'data-testid="history-flagged"' in _section(flagged.text, "history")
    assert _run(web, csrf, world.aggregate, base + f" AND 姓名 <> '{world.names[1]}'").is_success
    query, second = (r for r in _records(world) if r.flagged)

    web.cookies.clear()
    csrf = sign_in(web, "security")
    review = web.get("/console/sandbox/review")
    assert review.status_code == 200
    card = review.text.split(f'id="q-{query.id}"', 1)[1].split("</section>", 1)[0]
    assert 'data-reviewed="false"' in review.text.split(f'id="q-{query.id}"', 1)[1][:200]
    assert query.flag_reason and str(escape(query.flag_reason)) in card
    assert str(escape(probe)) in card
    url = f"/console/sandbox/review/{query.id}"
    short = web.post(url, data={"csrf_token": csrf, "decision": "cleared", "note": "x"})
    assert short.status_code == 422 and 'data-testid="review-error"' in short.text
    done = web.post(
        url,
        data={"csrf_token": csrf, "decision": "cleared", "note": "同一分析的正常细分"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/console/sandbox/review?done={query.id}#q-{query.id}"
    after = web.get(done.headers["location"])
    card = after.text.split(f'id="q-{query.id}"', 1)[1].split("</section>", 1)[0]
    assert 'data-testid="review-outcome"' in card and "cleared: 同一分析的正常细分" in card
    assert 'data-testid="review-form"' not in card
    with world.platform.uow() as uow:
        reviewed = uow.session.get(SandboxQuery, query.id)
        grant = uow.session.get(Grant, world.aggregate)
        assert reviewed is not None and reviewed.reviewed_at is not None
        assert grant is not None and grant.status == GrantStatus.ACTIVE  # cleared, not suspended
    again = web.post(url, data={"csrf_token": csrf, "decision": "confirmed", "note": "再审"})
    assert again.status_code == 409

    # Confirming the next one with the box ticked suspends the grant at once.
    confirm = {
        "csrf_token": csrf,
        "decision": "confirmed",
        "note": "连续差分",
        "suspend_grant": "true",
    }
    assert web.post(f"/console/sandbox/review/{second.id}", data=confirm).status_code == 200
    with world.platform.uow() as uow:
        grant = uow.session.get(Grant, world.aggregate)
        assert grant is not None and grant.status == GrantStatus.SUSPENDED


def test_someone_without_the_grant_gets_the_not_found_page(web: TestClient, world: World) -> None:
    csrf = sign_in(web, "health_officer")
    for grant in (world.aggregate, world.dp, "grt_nonexistent"):
        page = web.get(f"/console/sandbox/{grant}")
        assert page.status_code == 404
        assert "grant_not_found" in page.text and "<h1>404" in page.text
    sql = f'SELECT count(*) AS n FROM "{world.persons_code}"'
    posted = _run(web, csrf, world.aggregate, sql)
    assert posted.status_code == 404 and "grant_not_found" in posted.text
    assert [r.outcome for r in _records(world)] == ["refused"]  # the attempt is on record
    # Its own grant, with row-level release over its own district, works.
    own = _run(web, csrf, world.rows, f'SELECT 区划, 性别 FROM "{world.persons_code}" LIMIT 3')
    assert own.status_code == 200
    assert len(re.findall(r"<td>110105</td>", own.text)) == 3


def _gender_model(world: World) -> str:
    """The health commission's model: people by gender in one district (a choice parameter)."""
    with world.platform.uow() as uow:
        model = shared_models.publish_model(
            uow, world.sandbox.store, actor=world.city.health_officer,
            data=ModelCreate(
                name="gender-by-district", title="分区性别人数",
                sql=f'SELECT 性别, count(*) AS n FROM "{world.persons_code}" '
                    "WHERE 区划 = $district GROUP BY 性别",
                params=[ParamIn(name="district", type="string", label="区划",
                                choices=list(DISTRICTS))],
                min_group_size=K,
            ),
        )  # fmt: skip
        uow.commit()
        return model.id


def test_a_shared_model_runs_from_its_page_with_parameters(web: TestClient, world: World) -> None:
    platform, city = world.platform, world.city
    model_id = _gender_model(world)
    grant = _grant(platform, city.admin, entry_ref=shared_models.model_ref(model_id),
                   min_group_size=K, release_policy="aggregate")  # fmt: skip
    csrf = sign_in(web, "operator")
    listing = web.get("/console/sandbox/models")
    assert listing.status_code == 200
    row = listing.text.split(f'data-model="{model_id}"', 1)[1].split("</tr>", 1)[0]
    assert "分区性别人数" in row and 'data-testid="runnable"' in row
    page = web.get(f"/console/sandbox/models/{model_id}")
    assert 'data-testid="model-form"' in page.text
    assert 'data-testid="model-sql"' not in page.text  # the query text is its owner's
    form = {"csrf_token": csrf, "grant_id": grant}
    ran = web.post(f"/console/sandbox/models/{model_id}", data=form | {"param_district": "110105"})
    assert ran.status_code == 200, ran.text[:2000]
    assert sum(int(v) for v in _bars(ran.text).values()) == DISTRICTS["110105"]
    tiny = web.post(f"/console/sandbox/models/{model_id}", data=form | {"param_district": "110109"})
    assert tiny.status_code == 200 and re.search(r'data-testid="suppressed">[12]<', tiny.text)
    wrong = web.post(f"/console/sandbox/models/{model_id}", data=form | {"param_district": "x"})
    assert wrong.status_code == 422
    assert 'data-testid="refusal-code">bad_parameter<' in wrong.text
    # The grant list sends the model grant to the model's page.
    assert f"/console/sandbox/models/{model_id}?grant={grant}" in web.get("/console/sandbox").text
    redirected = web.get(f"/console/sandbox/{grant}", follow_redirects=False)
    assert redirected.status_code == 303
