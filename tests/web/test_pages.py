"""Server-rendered pages without a browser: sign-in, CSRF, redirects, consoles, forms."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from gongshu.bootstrap import Platform
from gongshu.identity import calendar as calendar_service
from gongshu.identity import grants as grant_service
from gongshu.identity import service
from gongshu.kernel.clock import FixedClock
from tests.factories import PASSWORD, TRANSPORT, City, make_grant


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    client.get("/login")
    csrf = client.cookies.get("gongshu_csrf")
    assert csrf
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf


def test_pages_behind_sign_in_redirect_to_login_and_back(client: TestClient, city: City) -> None:
    response = client.get(
        "/console/grants?status=active", headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/console/grants%3Fstatus%3Dactive"
    csrf = client.get("/login").cookies.get("gongshu_csrf") or client.cookies["gongshu_csrf"]
    back = client.post(
        "/login",
        data={
            "username": "officer",
            "password": PASSWORD,
            "csrf_token": csrf,
            "next": "/console/grants",
        },
        follow_redirects=False,
    )
    assert back.headers["location"] == "/console/grants"


def test_login_refuses_a_missing_csrf_token(client: TestClient, city: City) -> None:
    client.get("/login")
    response = client.post("/login", data={"username": "officer", "password": PASSWORD})
    assert response.status_code == 403
    assert client.get("/api/v1/me").status_code == 401


def test_a_wrong_password_stays_on_the_form(client: TestClient, city: City) -> None:
    client.get("/login")
    csrf = client.cookies["gongshu_csrf"]
    response = client.post(
        "/login", data={"username": "officer", "password": "nope-nope-nope", "csrf_token": csrf}
    )
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text and 'value="officer"' in response.text


def test_no_open_redirect_after_login(client: TestClient, city: City) -> None:
    client.get("/login")
    csrf = client.cookies["gongshu_csrf"]
    response = client.post(
        "/login",
        data={
            "username": "officer",
            "password": PASSWORD,
            "csrf_token": csrf,
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/console"


def test_the_console_shows_each_role(client: TestClient, city: City) -> None:
    sign_in(client, "auditor")
    page = client.get("/console").text
    assert 'data-role="auditor"' in page and "/console/audit" in page


def test_a_session_ends_on_logout_and_on_password_change(
    client: TestClient, city: City, platform: Platform
) -> None:
    csrf = sign_in(client, "officer")
    assert client.get("/api/v1/me").status_code == 200
    client.post("/logout", data={"csrf_token": csrf})
    assert client.get("/api/v1/me").status_code == 401
    sign_in(client, "officer")
    with platform.uow() as uow:
        service.set_password(
            uow,
            actor=city.admin,
            user_id="officer",
            password="a-brand-new-password",
            passwords=platform.passwords,
        )
    assert client.get("/api/v1/me").status_code == 401


def test_admin_issues_and_revokes_a_grant_through_the_form(
    client: TestClient, city: City, platform: Platform
) -> None:
    csrf = sign_in(client, "admin")
    bad = client.post(
        "/console/grants",
        data={
            "csrf_token": csrf,
            "subject_organisation_code": TRANSPORT,
            "entry_ref": "demo.x",
            "fields": "a",
            "purpose": "测试用途",
            "valid_until": "2027-01-01",
        },
    )
    assert bad.status_code == 422 and "delivery_modes" in bad.text
    created = client.post(
        "/console/grants",
        data={
            "csrf_token": csrf,
            "subject_organisation_code": TRANSPORT,
            "entry_ref": "demo.x",
            "fields": "a，b",
            "purpose": "测试用途",
            "valid_until": "2027-01-01",
            "delivery_modes": ["api"],
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    page = client.get("/console/grants").text
    assert "demo.x" in page and "a, b" in page
    grant_id = make_grant(platform, city.admin)
    client.post(
        f"/console/grants/{grant_id}/revoke", data={"csrf_token": csrf, "reason": "到期收回"}
    )
    assert "到期收回" in client.get("/console/grants").text


def test_security_headers(client: TestClient) -> None:
    response = client.get("/login")
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_overseers_see_grants_by_status_drawn_as_svg(
    client: TestClient, city: City, platform: Platform, clock: FixedClock
) -> None:
    make_grant(platform, city.admin)
    lapsing = make_grant(platform, city.admin, valid_until=clock.now() + timedelta(days=1))
    revoked = make_grant(platform, city.admin)
    with platform.uow() as uow:
        grant_service.revoke_grant(uow, actor=city.admin, grant_id=revoked, reason="用途结束")
    clock.advance(days=2)
    assert lapsing
    sign_in(client, "auditor")
    page = client.get("/console").text
    assert '<svg xmlns="http://www.w3.org/2000/svg" role="img"' in page
    bars = dict(re.findall(r'data-key="(\w+)" data-value="(\d+)"', page))
    assert bars == {"active": "1", "expired": "1", "revoked": "1", "suspended": "0"}
    assert 'data-chart="organisations"' not in page  # the auditor manages no organisations
    client.cookies.clear()
    sign_in(client, "admin")
    admin_page = client.get("/console").text
    assert 'data-chart="organisations"' in admin_page and 'data-key="district"' in admin_page
    sign_in_citizen = TestClient(platform.app)
    sign_in(sign_in_citizen, "citizen")
    assert "<svg" not in sign_in_citizen.get("/console").text


def test_admin_creates_and_deactivates_a_user_through_the_form(
    client: TestClient, city: City, platform: Platform
) -> None:
    csrf = sign_in(client, "admin")
    clash = client.post(
        "/console/users",
        data={
            "csrf_token": csrf,
            "username": "auditor2",
            "display_name": "审计二",
            "password": "long-enough-password",
            "role": "auditor",
            "organisation_code": "no-such-org",
        },
    )
    assert clash.status_code == 422
    assert "no-such-org" in clash.text
    created = client.post(
        "/console/users",
        data={
            "csrf_token": csrf,
            "username": "Zhang.San",
            "display_name": "张三",
            "password": "long-enough-password",
            "role": "dept_officer",
            "organisation_code": TRANSPORT,
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    page = client.get("/console/users", params={"q": "zhang"}).text
    assert 'data-user="zhang.san"' in page and "市交通委" in page
    other = TestClient(platform.app)
    sign_in(other, "zhang.san", "long-enough-password")
    with platform.uow() as uow:
        user_id = service.get_user(uow, actor=city.admin, user_id="zhang.san").id
    client.post(f"/console/users/{user_id}/deactivate", data={"csrf_token": csrf})
    assert other.get("/api/v1/me").status_code == 401
    assert "已停用" in client.get("/console/users", params={"q": "zhang"}).text
    sign_in(other, "officer")
    assert other.get("/console/users").status_code == 403


def test_the_bureau_uploads_next_years_schedule(
    client: TestClient, city: City, platform: Platform
) -> None:
    csrf = sign_in(client, "admin")
    schedule = "日期,类型,名称\n2027-01-01,休,元旦\n2027-02-07,班,春节调休\n".encode("gb18030")
    done = client.post(
        "/console/calendar",
        data={"csrf_token": csrf, "year": "2027"},
        files={"schedule": ("2027年节假日.csv", schedule, "text/csv")},
    )
    assert done.status_code == 200, done.text
    assert 'data-testid="imported"' in done.text
    with platform.uow() as uow:
        assert calendar_service.calendar_status(uow, actor=city.admin, year=2027).source == (
            "bureau"
        )
    bad = client.post(
        "/console/calendar",
        data={"csrf_token": csrf, "year": "2027"},
        files={"schedule": ("bad.csv", b"2027-02-30,x\n2027-03-01,y\n", "text/csv")},
    )
    assert bad.status_code == 422
    assert "bad.csv, row 1, column 1" in bad.text and "row 2, column 2" in bad.text
    sign_in(client, "officer")
    refused = client.post(
        "/console/calendar",
        data={"csrf_token": client.cookies["gongshu_csrf"], "year": "2027"},
        files={"schedule": ("x.csv", "2027-05-01,休\n".encode(), "text/csv")},
    )
    assert refused.status_code == 403
