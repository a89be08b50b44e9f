"""The public site's forms on both databases: sign-up and the account (keys, real name), data
requests from filing to rating, applying for conditional data and the provider's decision,
the open plan and the showcase — each through the pages, as a browser without JavaScript."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gongshu.bootstrap import Platform
from gongshu.identity.models import Grant
from gongshu.opendata.models import DataRequest, OpenApplication, OpenPlanItem, ShowcaseApp
from tests.factories import PASSWORD, TRANSPORT, City
from tests.opendata.open_world import OpenWorld, build_open_world, sign_in

ID_OK = "11010519491231002X"  # a citizen ID with a valid check character


@pytest.fixture
def world(platform: Platform, city: City, tmp_path: Path) -> OpenWorld:
    return build_open_world(platform, city, tmp_path)


def browser(platform: Platform) -> TestClient:
    """A client that follows redirects like a browser and has a CSRF cookie."""
    made = TestClient(platform.app)
    made.get("/open/developers")
    return made


def token(client: TestClient) -> str:
    value = client.cookies.get("gongshu_csrf")
    assert value
    return value


def location(response: object) -> str:
    headers = getattr(response, "headers")  # noqa: B009 - httpx.Response
    return str(headers["location"])


# ------------------------------------------------------------------ sign-up and the account


def test_sign_up_signs_in_and_keys_are_created_shown_once_used_and_revoked(
    platform: Platform, world: OpenWorld
) -> None:
    client = browser(platform)
    bad = client.post(
        "/open/signup",
        data={"csrf_token": token(client), "username": "li.si", "display_name": "李四",
              "email": "lisi@example.cn", "password": "short"},
    )  # fmt: skip
    assert bad.status_code == 422 and 'data-testid="form-error"' in bad.text
    assert 'value="li.si"' in bad.text
    taken = client.post(
        "/open/signup",
        data={"csrf_token": token(client), "username": "zhangsan", "display_name": "张三",
              "email": "z@example.cn", "password": "long-enough-password"},
    )  # fmt: skip
    assert taken.status_code == 409
    made = client.post(
        "/open/signup",
        data={"csrf_token": token(client), "username": "li.si", "display_name": "李四",
              "email": "lisi@example.cn", "password": "long-enough-password"},
        follow_redirects=False,
    )  # fmt: skip
    assert made.status_code == 303 and location(made) == "/open/account?done=welcome"
    account = client.get(location(made)).text
    assert 'data-testid="whoami">李四<' in account and 'data-verified="false"' in account

    issued = client.post(
        "/open/account/keys", data={"csrf_token": token(client), "name": "我的小程序"}
    )
    assert issued.status_code == 200
    found = re.search(r'data-testid="issued-key">(gok_[^<]+)<', issued.text)
    assert found
    key = found.group(1)
    assert key not in client.get("/open/account").text  # shown once
    rows = client.get(f"/api/v1/open/datasets/{world.stops}/rows", headers={"X-App-Key": key})
    assert rows.status_code == 200 and len(rows.json()["data"]) == 100
    account = client.get("/open/account").text
    key_id = re.search(r'data-key="([^"]+)" data-prefix="' + key.split("_")[1], account)
    assert key_id
    row = account.split(f'data-key="{key_id.group(1)}"')[1].split("</tr>")[0]
    assert 'data-testid="key-calls">1<' in row  # usage per key

    revoked = client.post(
        f"/open/account/keys/{key_id.group(1)}/revoke",
        data={"csrf_token": token(client)},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    refused = client.get(f"/api/v1/open/datasets/{world.stops}/rows", headers={"X-App-Key": key})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "app_key_revoked"


def test_real_name_form_refuses_a_bad_id_and_accepts_a_good_one(
    platform: Platform, world: OpenWorld
) -> None:
    client = browser(platform)
    sign_in(client, "zhangsan")
    bad = client.post(
        "/open/account/real-name",
        data={"csrf_token": token(client), "name": "张三", "citizen_id": "110105194912310021"},
    )
    assert bad.status_code == 422 and "公民身份号码无效" in bad.text
    good = client.post(
        "/open/account/real-name",
        data={"csrf_token": token(client), "name": "张三", "citizen_id": ID_OK},
    )
    assert good.status_code == 200 and good.url.path == "/open/account"
    assert 'data-verified="true"' in good.text and ID_OK not in good.text


def test_the_account_needs_a_sign_in(platform: Platform) -> None:
    client = browser(platform)
    assert client.get("/open/account").status_code == 401
    page = client.get("/open/account", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and location(page) == "/login?next=/open/account"


# ------------------------------------------------------------------ data requests


def test_a_data_request_is_filed_dispatched_answered_and_rated_through_the_pages(
    platform: Platform, city: City, world: OpenWorld
) -> None:
    citizen = browser(platform)
    sign_in(citizen, "zhangsan")
    form = citizen.get(f"/open/requests/new?entry_id={world.stops}").text
    assert f'name="entry_id" value="{world.stops}"' in form
    empty = citizen.post(
        "/open/requests/new", data={"csrf_token": token(citizen), "title": "实时到站"}
    )
    assert empty.status_code == 422 and 'value="实时到站"' in empty.text
    filed = citizen.post(
        "/open/requests/new",
        data={"csrf_token": token(citizen), "title": "希望开放公交实时到站数据",
              "description": "做到站提醒", "purpose": "便民出行", "fields": "线路，车辆位置",
              "entry_id": world.stops},
        follow_redirects=False,
    )  # fmt: skip
    assert filed.status_code == 303
    page_url = location(filed).split("?")[0]
    rid = page_url.rsplit("/", 1)[1]
    with platform.uow() as uow:
        stored = uow.session.get(DataRequest, rid)
        assert stored is not None and stored.fields == ["线路", "车辆位置"]
    public = browser(platform).get(page_url).text
    assert 'data-status="submitted"' in public and "用户zhangsan" not in public
    assert 'data-testid="dispatch-form"' not in public

    bureau = browser(platform)
    sign_in(bureau, "admin", PASSWORD)
    assert 'data-testid="dispatch-form"' in bureau.get(page_url).text
    dispatched = bureau.post(
        f"{page_url}/dispatch",
        data={"csrf_token": token(bureau), "department_id": city.orgs[TRANSPORT], "note": "请答复"},
    )
    assert dispatched.status_code == 200 and 'data-status="dispatched"' in dispatched.text
    assert 'data-testid="days-left">15<' in dispatched.text

    officer = browser(platform)
    sign_in(officer, "officer", PASSWORD)
    page = officer.get(page_url).text
    assert 'data-testid="answer-form"' in page and f'<option value="{world.stops}"' in page
    wrong = officer.post(
        f"{page_url}/answer",
        data={"csrf_token": token(officer), "kind": "opened", "text": "已开放"},
    )
    assert wrong.status_code == 422 and 'data-testid="form-error"' in wrong.text
    answered = officer.post(
        f"{page_url}/answer",
        data={"csrf_token": token(officer), "kind": "opened", "entry_id": world.stops,
              "text": "站点数据已开放，实时数据列入明年计划"},
    )  # fmt: skip
    assert answered.status_code == 200 and 'data-kind="opened"' in answered.text

    mine = citizen.get(page_url).text
    assert "站点数据已开放" in mine and 'data-testid="rate-form"' in mine
    rated = citizen.post(
        f"{page_url}/rate", data={"csrf_token": token(citizen), "rating": "4", "note": "及时"}
    )
    assert rated.status_code == 200 and 'data-rating="4"' in rated.text
    steps = re.findall(r'<li data-step="(\w+)">', rated.text)
    assert steps == ["submit", "dispatch", "answer", "rate"]

    listing = browser(platform).get("/open/requests").text
    assert f'data-request="{rid}" data-status="rated"' in listing
    stats = listing.split(f'data-department="{city.orgs[TRANSPORT]}"')[1].split("</tr>")[0]
    assert 'data-rate="response">100%<' in stats and 'data-rate="resolution">100%<' in stats
    assert "4.0 / 5" in stats


def test_only_the_entitled_may_take_a_step_and_the_bureau_may_decline(
    platform: Platform, world: OpenWorld
) -> None:
    citizen = browser(platform)
    sign_in(citizen, "zhangsan")
    filed = citizen.post(
        "/open/requests/new",
        data={"csrf_token": token(citizen), "title": "需要数据", "description": "说明",
              "purpose": "用途"},
        follow_redirects=False,
    )  # fmt: skip
    page_url = location(filed).split("?")[0]
    forbidden = citizen.post(
        f"{page_url}/dispatch", data={"csrf_token": token(citizen), "department_id": "x"}
    )
    assert forbidden.status_code == 403
    assert browser(platform).get("/open/requests/drq_missing").status_code == 404
    bureau = browser(platform)
    sign_in(bureau, "admin", PASSWORD)
    unknown = bureau.post(f"{page_url}/escalate", data={"csrf_token": token(bureau)})
    assert unknown.status_code == 422
    declined = bureau.post(
        f"{page_url}/reject", data={"csrf_token": token(bureau), "reason": "不属于数据需求"}
    )
    assert declined.status_code == 200 and 'data-status="rejected"' in declined.text
    assert "不属于数据需求" in browser(platform).get(page_url).text


# ------------------------------------------------------------------ conditional opening


def test_apply_for_conditional_data_the_provider_approves_and_the_key_reads_the_grant(
    platform: Platform, world: OpenWorld
) -> None:
    citizen = browser(platform)
    sign_in(citizen, "zhangsan")
    dataset = f"/open/datasets/{world.firms}"
    none_chosen = citizen.post(
        f"{dataset}/apply",
        data={"csrf_token": token(citizen), "purpose": "信用分析", "scenario": "供应链准入",
              "delivery": "api", "term_days": "30"},
    )  # fmt: skip
    assert none_chosen.status_code == 422 and 'data-testid="form-error"' in none_chosen.text
    applied = citizen.post(
        f"{dataset}/apply",
        data={"csrf_token": token(citizen), "purpose": "核验合作企业", "scenario": "供应链准入",
              "fields": ["企业名称", "注册资本", "法定代表人"], "delivery": "api",
              "term_days": "30"},
    )  # fmt: skip
    assert applied.status_code == 200 and applied.url.query.decode() == "done=applied"
    assert 'data-status="submitted"' in applied.text

    transport = browser(platform)
    sign_in(transport, "officer", PASSWORD)
    assert 'data-testid="approve-form"' not in transport.get(dataset).text  # not its entry
    health = browser(platform)
    sign_in(health, "health_officer", PASSWORD)
    review = health.get(dataset).text
    found = re.search(r'data-review="([^"]+)"', review)
    assert found
    app_id = found.group(1)
    approved = health.post(
        f"{dataset}/applications/{app_id}/approve",
        data={"csrf_token": token(health), "fields": ["企业名称", "注册资本"], "note": "同意"},
    )
    assert approved.status_code == 200 and 'data-testid="done"' in approved.text
    with platform.uow() as uow:
        app = uow.session.get(OpenApplication, app_id)
        assert app is not None and app.grant_id
        grant = uow.session.get(Grant, app.grant_id)
        assert grant is not None and grant.fields == ["企业名称", "注册资本"]

    page = citizen.get(dataset).text
    assert 'data-status="approved"' in page
    preview = page.split('data-testid="preview"')[1].split("</section>")[0]
    assert "<th>企业名称</th><th>注册资本</th>" in preview and "测试企业000有限公司" in preview
    assert "法定代表人" not in preview and "统一社会信用代码" not in preview
    rows = citizen.get(
        f"/api/v1/open/datasets/{world.firms}/rows", headers={"X-App-Key": world.key}
    )
    assert rows.status_code == 200 and set(rows.json()["data"][0]) == {"企业名称", "注册资本"}


def test_the_provider_refuses_with_reasons_and_the_applicant_reads_them(
    platform: Platform, world: OpenWorld
) -> None:
    citizen = browser(platform)
    sign_in(citizen, "zhangsan")
    dataset = f"/open/datasets/{world.firms}"
    applied = citizen.post(
        f"{dataset}/apply",
        data={"csrf_token": token(citizen), "purpose": "营销", "scenario": "推广",
              "fields": ["企业名称"], "delivery": "file", "term_days": "10"},
    )  # fmt: skip
    assert applied.status_code == 200, applied.text
    health = browser(platform)
    sign_in(health, "health_officer", PASSWORD)
    found = re.search(r'data-review="([^"]+)"', health.get(dataset).text)
    assert found
    refused = health.post(
        f"{dataset}/applications/{found.group(1)}/refuse",
        data={"csrf_token": token(health), "reasons": "用途不符合开放条件"},
    )
    assert refused.status_code == 200
    page = citizen.get(dataset).text
    assert 'data-status="refused"' in page and "用途不符合开放条件" in page


# ------------------------------------------------------------------ the plan and the showcase


def test_the_bureau_keeps_the_plan_and_the_charts_show_planned_against_opened(
    platform: Platform, city: City, world: OpenWorld
) -> None:
    bureau = browser(platform)
    sign_in(bureau, "admin", PASSWORD)
    for entry_id, quarter in ((world.stops, "1"), (world.draft, "4")):
        added = bureau.post(
            "/open/plan",
            data={"csrf_token": token(bureau), "year": "2026", "quarter": quarter,
                  "entry_id": entry_id, "open_type": "unconditional", "note": ""},
        )  # fmt: skip
        assert added.status_code == 200 and added.url.query.decode() == "year=2026"
    duplicate = bureau.post(
        "/open/plan",
        data={"csrf_token": token(bureau), "year": "2026", "quarter": "2",
              "entry_id": world.stops, "open_type": "unconditional"},
    )  # fmt: skip
    assert duplicate.status_code == 409 and 'data-testid="form-error"' in duplicate.text
    public = browser(platform).get("/open/plan", params={"year": "2026"}).text
    assert 'data-figure="planned"><strong>2<' in public
    assert 'data-figure="opened"><strong>1<' in public
    q1 = re.search(r'data-key="1" data-series="(\w+)" data-value="(\d+)"', public)
    assert q1 and q1.groups() == ("planned", "1")
    assert 'data-key="1" data-series="opened" data-value="1"' in public
    assert 'data-key="4" data-series="opened" data-value="0"' in public
    assert f'data-key="{city.orgs[TRANSPORT]}" data-series="planned" data-value="2"' in public
    assert 'data-testid="plan-form"' not in public  # the form is the bureau's
    with platform.uow() as uow:
        line = uow.session.scalar(sa.select(OpenPlanItem).where(OpenPlanItem.quarter == 4))
        assert line is not None
        line_id = line.id
    removed = bureau.post(f"/open/plan/{line_id}/remove", data={"csrf_token": token(bureau)})
    assert removed.status_code == 200 and 'data-figure="planned"><strong>1<' in removed.text


def test_showcase_submission_review_and_publication(platform: Platform, world: OpenWorld) -> None:
    citizen = browser(platform)
    sign_in(citizen, "zhangsan")
    refused = citizen.post(
        "/open/showcase",
        data={"csrf_token": token(citizen), "title": "公交助手", "description": "到站提醒",
              "url": "https://bus.example.cn", "entry_ids": world.closed},
    )  # fmt: skip
    assert refused.status_code == 422 and world.closed in refused.text  # named, as typed
    submitted = citizen.post(
        "/open/showcase",
        data={"csrf_token": token(citizen), "title": "公交助手", "description": "到站提醒",
              "url": "https://bus.example.cn", "entry_ids": world.stops},
    )  # fmt: skip
    assert submitted.status_code == 200 and submitted.url.query.decode() == "done=submitted"
    assert 'data-testid="no-apps"' in submitted.text  # not shown before review
    bureau = browser(platform)
    sign_in(bureau, "admin", PASSWORD)
    found = re.search(r'data-review="([^"]+)"', bureau.get("/open/showcase").text)
    assert found
    approved = bureau.post(
        f"/open/showcase/{found.group(1)}/approve", data={"csrf_token": token(bureau)}
    )
    assert approved.status_code == 200
    public = browser(platform).get("/open/showcase", params={"entry_id": world.stops}).text
    assert f'data-app="{found.group(1)}"' in public and "公交助手" in public
    with platform.uow() as uow:
        app = uow.session.get(ShowcaseApp, found.group(1))
        assert app is not None and app.status == "approved"
