"""The showcase: users submit applications built on open data; the bureau reviews them;
approved ones are public."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import ValidationError

from gongshu.bootstrap import Platform
from gongshu.kernel.audit import AuditRecord
from gongshu.kernel.errors import InvalidInput, PermissionDenied
from gongshu.opendata import showcase as svc
from gongshu.opendata.errors_engagement import ShowcaseAppNotFound, WrongShowcaseStatus
from gongshu.opendata.schemas_engagement import ShowcaseInput
from tests.factories import City, auth, token_for
from tests.opendata.test_requests import make_entry, public_user, run


def submit(platform: Platform, who: Any, entry_ids: list[str], **overrides: Any) -> str:
    data = {
        "title": "公交到站提醒",
        "description": "基于公交站点数据的到站提醒小程序",
        "url": "https://example.org/bus",
        "entry_ids": entry_ids,
    } | overrides
    return str(run(platform, svc.submit, actor=who, data=ShowcaseInput(**data)).id)


def visible(platform: Platform, who: Any, **filters: Any) -> list[str]:
    with platform.uow() as uow:
        return [a.id for a in svc.list_apps(uow, actor=who, **filters).items]


def test_submissions_are_reviewed_and_only_approved_ones_are_public(
    platform: Platform, city: City
) -> None:
    alice = public_user(platform, city.admin, "alice", "王小丽")
    bus = make_entry(platform, city)
    hidden = make_entry(platform, city, name="内部台账", open_type="none")
    with pytest.raises(InvalidInput, match=hidden):
        submit(platform, alice, [bus, hidden])  # 不予开放 cannot be shown as used
    with pytest.raises(ValidationError):
        ShowcaseInput(title="应用", description="d", url="javascript:alert(1)", entry_ids=[bus])

    good = submit(platform, alice, [bus])
    bad = submit(platform, alice, [bus], title="无关应用", url="http://example.org/x")
    assert visible(platform, None) == [] and visible(platform, city.officer) == []
    assert visible(platform, alice, mine=True) == [bad, good]
    assert visible(platform, city.admin, status="submitted") == [bad, good]
    with pytest.raises(ShowcaseAppNotFound), platform.uow() as uow:
        svc.get_app(uow, actor=None, app_id=good)

    with pytest.raises(PermissionDenied):
        run(platform, svc.approve, actor=alice, app_id=good)
    run(platform, svc.approve, actor=city.admin, app_id=good, note="优秀案例")
    with pytest.raises(InvalidInput, match="note"):
        run(platform, svc.reject, actor=city.admin, app_id=bad, note=" ")
    run(platform, svc.reject, actor=city.admin, app_id=bad, note="与开放数据无关")
    with pytest.raises(WrongShowcaseStatus):
        run(platform, svc.reject, actor=city.admin, app_id=good, note="改变主意")

    assert visible(platform, None) == [good]
    assert visible(platform, None, entry_id=bus) == [good]
    assert visible(platform, None, entry_id=hidden) == []
    with platform.uow() as uow:
        shown = svc.describe(uow, None, [svc.get_app(uow, actor=None, app_id=good)])[0]
        own = svc.describe(uow, alice, [svc.get_app(uow, actor=alice, app_id=bad)])[0]
        actions = uow.session.scalars(
            sa.select(AuditRecord.action).where(AuditRecord.subject_id.in_([good, bad]))
        ).all()
    assert shown.entries == [{"id": bus, "name": "公交站点基础信息"}]
    assert (shown.submitter, shown.status_label, shown.mine) == (
        "王**",
        "已发布 (published)",
        False,
    )
    assert (own.status, own.review_note, own.mine) == ("rejected", "与开放数据无关", True)
    assert sorted(actions) == sorted(
        ["open.showcase.submit", "open.showcase.submit", "open.showcase.approve",
         "open.showcase.reject"]
    )  # fmt: skip


def test_the_showcase_api(platform: Platform, city: City, client: TestClient) -> None:
    public_user(platform, city.admin, "alice", "王小丽")
    bus = make_entry(platform, city)
    alice, admin = auth(token_for(platform, "alice")), auth(token_for(platform, "admin"))
    body = {"title": "公交到站提醒", "description": "小程序", "url": "https://example.org/a",
            "entry_ids": [bus]}  # fmt: skip
    assert client.post("/api/v1/open/showcase", json=body).status_code == 401
    created = [client.post("/api/v1/open/showcase", json=body | {"title": f"应用{n}"},
                           headers=alice).json() for n in range(3)]  # fmt: skip
    assert client.get("/api/v1/open/showcase").json()["data"] == []
    queue = client.get("/api/v1/open/showcase", headers=admin).json()["data"]
    assert [a["next_steps"] for a in queue] == [["approve", "reject"]] * 3
    for app in created:
        answer = client.post(f"/api/v1/open/showcase/{app['id']}/approve", json={}, headers=admin)
        assert answer.json()["status"] == "approved"
    page = client.get("/api/v1/open/showcase", params={"limit": 2}).json()
    assert [a["title"] for a in page["data"]] == ["应用2", "应用1"]
    assert [a["title"] for a in client.get(page["links"]["next"]).json()["data"]] == ["应用0"]
    one = client.get(f"/api/v1/open/showcase/{created[0]['id']}").json()
    assert one["entries"][0]["id"] == bus and one["url"] == "https://example.org/a"
    missing = client.get("/api/v1/open/showcase/sca_nothing")
    assert (missing.status_code, missing.json()["error"]["code"]) == (
        404, "showcase_app_not_found",
    )  # fmt: skip
    again = client.post(f"/api/v1/open/showcase/{created[0]['id']}/reject",
                        json={"note": "重复"}, headers=admin)  # fmt: skip
    assert again.status_code == 409
    bad = client.get("/api/v1/open/showcase", params={"status": "lost"})
    assert bad.status_code == 422
