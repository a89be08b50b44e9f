"""The HTTP API end to end: envelope, statuses, tokens, pagination, limits, grants."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient

from gongshu.bootstrap import Platform, build
from gongshu.identity import service
from gongshu.kernel.clock import FixedClock
from gongshu.kernel.settings import Settings
from tests.factories import HEALTH, TRANSPORT, City, auth, build_city, make_grant, token_for


def test_health_openapi_and_request_ids(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "trace-123"})
    assert response.json()["status"] == "ok"
    assert response.headers["x-request-id"] == "trace-123"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert generated.headers["x-request-id"].startswith("req_")
    spec = client.get("/openapi.json").json()
    assert "/api/v1/me" in spec["paths"] and "/api/v1/grants" in spec["paths"]


def test_me_needs_credentials(client: TestClient, city: City, platform: Platform) -> None:
    missing = client.get("/api/v1/me")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "not_authenticated"
    wrong_scheme = client.get("/api/v1/me", headers={"Authorization": "Basic abc"})
    assert wrong_scheme.json()["error"]["code"] == "token_invalid"
    me = client.get("/api/v1/me", headers=auth(token_for(platform, "officer"))).json()
    assert me["username"] == "officer" and me["via"] == "token"
    assert me["memberships"][0]["role"] == "dept_officer"
    assert me["memberships"][0]["organisation_code"] == TRANSPORT


def test_revoked_and_expired_tokens_get_401(
    client: TestClient, city: City, platform: Platform, clock: FixedClock
) -> None:
    raw = token_for(platform, "officer")
    token_id = raw.split("_", 1)[1].split(".")[0]
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=auth(raw)).status_code == 200
    revoked = client.get("/api/v1/me", headers=auth(raw))
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]
    other = token_for(platform, "officer")
    clock.advance(days=91)
    assert "expired" in client.get("/api/v1/me", headers=auth(other)).json()["error"]["message"]


def test_a_token_is_shown_once(client: TestClient, city: City, platform: Platform) -> None:
    raw = token_for(platform, "officer")
    created = client.post(
        "/api/v1/tokens",
        headers=auth(raw),
        json={"name": "script", "scopes": ["read"], "expires_in_days": 7},
    )
    assert created.status_code == 201 and created.json()["token"].startswith("gs_tok_")
    listed = client.get("/api/v1/tokens", headers=auth(raw)).json()["data"]
    assert {t["name"] for t in listed} == {"test", "script"}
    assert all("token" not in t and "secret_hash" not in t for t in listed)


def test_malformed_json_unknown_fields_and_bad_values(
    client: TestClient, city: City, platform: Platform
) -> None:
    headers = auth(token_for(platform, "admin")) | {"Content-Type": "application/json"}
    broken = client.post("/api/v1/organisations", headers=headers, content=b'{"code": "x",')
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "malformed_request"
    unknown = client.post(
        "/api/v1/organisations",
        headers=headers,
        json={"code": "x1", "name": "某机构", "kind": "department", "surprise": 1},
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"][0]["path"] == "body.surprise"
    bad_kind = client.post(
        "/api/v1/organisations",
        headers=headers,
        json={"code": "x1", "name": "某机构", "kind": "ministry"},
    )
    assert bad_kind.json()["error"]["details"][0]["path"] == "body.kind"
    with platform.uow() as uow:
        assert service.list_organisations(uow, actor=city.admin, q="某机构").items == []


def test_oversized_bodies_get_413(client: TestClient, city: City, platform: Platform) -> None:
    headers = auth(token_for(platform, "admin")) | {"Content-Type": "application/json"}
    big = b'{"name": "' + b"x" * (platform.settings.max_body_bytes + 10) + b'"}'
    response = client.post("/api/v1/organisations", headers=headers, content=big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # streamed, no Content-Length
        yield b'{"name": "'
        for _ in range(20):
            yield b"y" * 65536
        yield b'"}'

    streamed = client.post("/api/v1/organisations", headers=headers, content=chunks())
    assert streamed.status_code == 413


def test_per_token_rate_limit(settings: Settings, clock: FixedClock) -> None:
    limited = build(settings.model_copy(update={"token_rate_limit_per_minute": 3}), clock=clock)
    build_city(limited)
    raw = token_for(limited, "officer")
    with TestClient(limited.app) as client:
        statuses = [client.get("/api/v1/me", headers=auth(raw)).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = client.get("/api/v1/me", headers=auth(raw))
        assert refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        other = token_for(limited, "district")
        assert client.get("/api/v1/me", headers=auth(other)).status_code == 200
    limited.dispose()


def test_cursor_pagination(client: TestClient, city: City, platform: Platform) -> None:
    headers = auth(token_for(platform, "admin"))
    codes: list[str] = []
    url: str | None = "/api/v1/organisations?limit=4"
    while url:
        body = client.get(url, headers=headers).json()
        assert set(body) == {"data", "meta", "links"}
        codes += [o["code"] for o in body["data"]]
        url = body["links"]["next"]
    assert len(codes) == 10 and codes == sorted(codes)
    bad = client.get("/api/v1/organisations?cursor=%%%", headers=headers)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "malformed_request"
    too_big = client.get("/api/v1/organisations?limit=1000", headers=headers)
    assert too_big.status_code == 422 and too_big.json()["error"]["details"][0]["path"] == (
        "query.limit"
    )


def test_grants_through_the_api(client: TestClient, city: City, platform: Platform) -> None:
    admin = auth(token_for(platform, "admin"))
    created = client.post(
        "/api/v1/grants",
        headers=admin,
        json={
            "subject_organisation_code": TRANSPORT,
            "entry_ref": "demo.bus-stops",
            "fields": ["stop_id", "name"],
            "purpose": "公交线网优化",
            "valid_until": "2027-06-30T00:00:00+08:00",
            "delivery_modes": ["api", "file"],
        },
    )
    assert created.status_code == 201, created.text
    grant = created.json()
    assert grant["effective_status"] == "active"
    officer = auth(token_for(platform, "officer"))
    check = {"entry_ref": "demo.bus-stops", "fields": ["name"], "mode": "file"}
    assert client.post("/api/v1/grants/check", headers=officer, json=check).json()["allowed"]
    revoked = client.post(
        f"/api/v1/grants/{grant['id']}/revoke", headers=admin, json={"reason": "线网调整完成"}
    )
    assert revoked.json()["effective_status"] == "revoked"
    decision = client.post("/api/v1/grants/check", headers=officer, json=check).json()
    assert not decision["allowed"] and "revoked" in decision["reason"]
    again = client.post(
        f"/api/v1/grants/{grant['id']}/revoke", headers=admin, json={"reason": "again"}
    )
    assert again.status_code == 409
    naive = client.post(
        "/api/v1/grants",
        headers=admin,
        json={
            **{k: grant[k] for k in ("entry_ref", "fields", "purpose", "delivery_modes")},
            "subject_organisation_code": TRANSPORT,
            "valid_until": "2027-06-30T00:00:00",
        },
    )
    assert naive.json()["error"]["details"][0]["path"] == "body.valid_until"


def test_grants_of_other_organisations_are_invisible(
    client: TestClient, city: City, platform: Platform
) -> None:
    theirs = make_grant(platform, city.admin, subject_organisation_code=HEALTH)
    officer = auth(token_for(platform, "officer"))
    assert client.get(f"/api/v1/grants/{theirs}", headers=officer).status_code == 404
    assert client.get("/api/v1/grants", headers=officer).json()["data"] == []


def test_read_only_tokens_and_missing_permissions_get_403(
    client: TestClient, city: City, platform: Platform
) -> None:
    read_only = auth(token_for(platform, "admin", ["read"]))
    refused = client.post(
        "/api/v1/organisations",
        headers=read_only,
        json={"code": "x1", "name": "某机构", "kind": "department"},
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    officer = auth(token_for(platform, "officer"))
    assert client.get("/api/v1/users", headers=officer).status_code == 403
    assert client.get("/api/v1/audit", headers=officer).status_code == 403


def test_browser_sessions_need_csrf_for_api_writes(
    client: TestClient, city: City, platform: Platform
) -> None:
    page = client.get("/login")
    csrf = client.cookies.get("gongshu_csrf")
    assert csrf and csrf in page.text
    signed_in = client.post(
        "/login",
        data={"username": "officer", "password": "correct-horse-battery", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    assert client.get("/api/v1/me").json()["via"] == "session"
    body = {"name": "from-browser", "scopes": ["read"]}
    assert client.post("/api/v1/tokens", json=body).status_code == 403
    ok = client.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201


def test_audit_and_calendar_endpoints(client: TestClient, city: City, platform: Platform) -> None:
    auditor = auth(token_for(platform, "auditor"))
    body = client.get("/api/v1/audit?action=user.create&limit=5", headers=auditor).json()
    assert len(body["data"]) == 5 and body["links"]["next"]
    admin = auth(token_for(platform, "admin"))
    unknown = client.get("/api/v1/calendar/2031", headers=admin).json()
    assert unknown["source"] is None and "2031" in unknown["warning"]
    imported = client.put(
        "/api/v1/calendar/2031",
        headers=admin | {"Content-Type": "text/csv"},
        content="date,kind,name\n2031-01-01,休,元旦\n".encode(),
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["holidays"] == 1 and imported.json()["warning"] is None
    bad = client.put(
        "/api/v1/calendar/2031",
        headers=admin | {"Content-Type": "text/csv"},
        content=b"date,kind\n2031-02-30,x\n",
    )
    assert bad.status_code == 422 and "row 2" in bad.json()["error"]["message"]
    due = client.get(
        "/api/v1/calendar/deadline/?start=2031-01-01&working_days=1", headers=admin
    ).json()
    assert due["due"] == "2031-01-02"


def test_unknown_routes_use_the_envelope(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_an_oversized_streamed_upload_changes_nothing(
    client: TestClient, city: City, platform: Platform
) -> None:
    admin = auth(token_for(platform, "admin")) | {"Content-Type": "text/csv"}

    def rows() -> Iterator[bytes]:
        # A valid first row, then blank lines the parser would skip: were the cut body
        # processed, 2031 would end up with one holiday.
        yield b"date,kind,name\n2031-01-01,holiday,x\n"
        for _ in range(platform.settings.max_body_bytes // 4096 + 2):
            yield b"\n" * 4096

    response = client.put("/api/v1/calendar/2031", headers=admin, content=rows())
    assert response.status_code == 413
    status = client.get("/api/v1/calendar/2031", headers=admin).json()
    assert status["source"] is None
