"""App keys: issued once and hashed, revocable, rate-limited, with a daily quota and usage."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gongshu.bootstrap import Platform
from gongshu.kernel.audit import AuditRecord
from gongshu.kernel.clock import FixedClock, local_date
from gongshu.kernel.uow import UnitOfWork
from gongshu.opendata.models import AppKey, UsageCount
from gongshu.opendata.runtime import runtime_for
from gongshu.opendata.usage import upsert_counts
from tests.factories import City, actor
from tests.opendata.open_world import OpenWorld, build_open_world, issue_key, sign_in, sign_up


@pytest.fixture
def world(platform: Platform, city: City, tmp_path: Path) -> OpenWorld:
    return build_open_world(platform, city, tmp_path)


def _call(client: TestClient, world: OpenWorld, key: str | None, **params: str) -> Any:
    headers = {"X-App-Key": key} if key else {}
    return client.get(f"/api/v1/open/datasets/{world.stops}/rows", params=params, headers=headers)


def _code(answer: Any) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]


def test_a_key_is_shown_once_and_stored_as_its_hash(
    client: TestClient, world: OpenWorld, platform: Platform
) -> None:
    csrf = sign_in(client, "zhangsan")
    answer = client.post(
        "/api/v1/open/keys", json={"name": "公交查询"}, headers={"X-CSRF-Token": csrf}
    )
    assert answer.status_code == 201, answer.text
    issued = answer.json()
    head, prefix, secret = issued["key"].split("_", 2)
    assert head == "gok" and prefix == issued["prefix"] and len(secret) >= 40
    listed = client.get("/api/v1/open/keys").json()["data"]
    assert {k["id"] for k in listed} == {issued["id"], world.key_id}
    assert "key" not in listed[0] and secret not in str(listed)
    with platform.uow() as uow:
        stored = uow.session.get(AppKey, issued["id"])
        assert stored is not None
        assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert stored.organisation_id == issued["organisation_id"]
    assert _call(client, world, issued["key"], _size="1").status_code == 200
    by_query = client.get(
        f"/api/v1/open/datasets/{world.stops}/rows", params={"app_key": issued["key"], "_size": 1}
    )
    assert by_query.status_code == 200


def test_missing_wrong_and_malformed_keys_are_refused(client: TestClient, world: OpenWorld) -> None:
    assert _code(_call(client, world, None)) == (401, "app_key_required")
    _head, prefix, secret = world.key.split("_", 2)
    assert _code(_call(client, world, f"gok_{prefix}_{secret[::-1]}")) == (401, "app_key_invalid")
    assert _code(_call(client, world, f"gok_ffffffffffff_{secret}")) == (401, "app_key_invalid")
    assert _code(_call(client, world, "Bearer nonsense")) == (401, "app_key_invalid")


def test_a_revoked_key_stops_working_at_once(
    client: TestClient, world: OpenWorld, platform: Platform
) -> None:
    assert _call(client, world, world.key).status_code == 200
    csrf = sign_in(client, "zhangsan")
    revoked = client.delete(f"/api/v1/open/keys/{world.key_id}", headers={"X-CSRF-Token": csrf})
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert _code(_call(client, world, world.key)) == (401, "app_key_revoked")
    again = client.delete(f"/api/v1/open/keys/{world.key_id}", headers={"X-CSRF-Token": csrf})
    assert again.status_code == 409
    with platform.uow() as uow:
        actions = uow.session.scalars(sa.select(AuditRecord.action)).all()
    assert "open.key.create" in actions and "open.key.revoke" in actions


def test_someone_elses_key_cannot_be_revoked_but_the_security_officer_can(
    client: TestClient, world: OpenWorld, platform: Platform
) -> None:
    sign_up(platform, "wangwu")
    csrf = sign_in(client, "wangwu")
    answer = client.delete(f"/api/v1/open/keys/{world.key_id}", headers={"X-CSRF-Token": csrf})
    assert _code(answer) == (404, "app_key_not_found")
    client.cookies.clear()
    csrf = sign_in(client, "security", "correct-horse-battery")
    answer = client.delete(f"/api/v1/open/keys/{world.key_id}", headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 200


def test_the_rate_limit_answers_429_with_retry_after(
    client: TestClient, world: OpenWorld, platform: Platform
) -> None:
    key, _ = issue_key(platform, world.citizen, rate_limit_per_minute=3)
    assert [_call(client, world, key).status_code for _ in range(3)] == [200] * 3
    refused = _call(client, world, key)
    assert _code(refused) == (429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert _call(client, world, world.key).status_code == 200


def test_the_daily_quota_counts_stored_usage_and_resets_the_next_day(
    client: TestClient, world: OpenWorld, platform: Platform, clock: FixedClock
) -> None:
    key, key_id = issue_key(platform, world.citizen, daily_quota=5)
    today = local_date(clock.now())
    with platform.uow() as uow:  # calls made earlier today, e.g. by another server process
        row = {"key_id": key_id, "entry_id": world.stops, "day": today, "calls": 3, "rows": 30}
        table: Any = UsageCount.__table__
        upsert_counts(uow, table, ("key_id", "entry_id", "day"), [row])
        uow.commit()
    assert [_call(client, world, key).status_code for _ in range(2)] == [200, 200]
    refused = _call(client, world, key)
    assert _code(refused) == (429, "quota_exhausted")
    assert int(refused.headers["Retry-After"]) == 14 * 3600
    clock.advance(hours=15)
    assert _call(client, world, key).status_code == 200


def test_only_the_bureau_raises_a_key_above_the_defaults(
    client: TestClient, world: OpenWorld, platform: Platform
) -> None:
    csrf = sign_in(client, "zhangsan")
    big = {"name": "压测", "rate_limit_per_minute": 1_000_000}
    refused = client.post("/api/v1/open/keys", json=big, headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0]["path"] == "body.rate_limit_per_minute"
    _key, key_id = issue_key(platform, actor(platform, "admin"), rate_limit_per_minute=1_000_000)
    with platform.uow() as uow:
        stored = uow.session.get(AppKey, key_id)
        assert stored is not None and stored.rate_limit_per_minute == 1_000_000


def _flush(client: TestClient, world: OpenWorld) -> None:
    app: Any = client.app
    runtime_for(app.state, world.platform).usage.flush()


def test_usage_per_key_for_its_owner_and_per_dataset_for_the_bureau(
    client: TestClient, world: OpenWorld, platform: Platform, clock: FixedClock
) -> None:
    for size in ("10", "20", "5"):
        assert _call(client, world, world.key, _size=size).status_code == 200
    client.get(f"/api/v1/open/datasets/{world.stops}/download.csv")
    sign_in(client, "zhangsan")
    mine = client.get("/api/v1/open/usage").json()["data"]
    assert [(u["key_id"], u["calls"], u["rows"], u["calls_today"]) for u in mine] == [
        (world.key_id, 3, 35, 3)
    ]
    assert mine[0]["days"] == [{"day": local_date(clock.now()).isoformat(), "calls": 3, "rows": 35}]
    refused = client.get("/api/v1/open/usage", params={"scope": "datasets"})
    assert refused.status_code == 403
    client.cookies.clear()
    sign_in(client, "admin", "correct-horse-battery")
    datasets = client.get("/api/v1/open/usage", params={"scope": "datasets"}).json()["data"]
    assert [
        (d["entry_id"], d["calls"], d["rows"], d["downloads"], d["keys"]) for d in datasets
    ] == [(world.stops, 3, 35, 1, 1)]
    client.cookies.clear()
    sign_in(client, "health_officer", "correct-horse-battery")  # provides firms, not stops
    theirs = client.get("/api/v1/open/usage", params={"scope": "datasets"}).json()["data"]
    assert theirs == []


def test_counts_written_in_several_flushes_add_up(
    client: TestClient, world: OpenWorld, platform: Platform, clock: FixedClock
) -> None:
    for _ in range(2):
        _call(client, world, world.key, _size="3")
    _flush(client, world)
    for _ in range(3):
        _call(client, world, world.key, _size="4")
    clock.advance(days=1)
    _call(client, world, world.key, _size="1")
    _flush(client, world)
    with platform.uow() as uow:
        stored = uow.session.execute(
            sa.select(UsageCount.day, UsageCount.calls, UsageCount.rows).order_by(UsageCount.day)
        ).all()
    today = local_date(clock.now())
    assert [tuple(r) for r in stored] == [(today - timedelta(days=1), 5, 18), (today, 1, 1)]
    stats = client.get("/api/v1/open/stats").json()
    assert (stats["api_calls"], stats["rows_served"], stats["app_keys"]) == (6, 19, 1)
    assert (stats["open_entries"], stats["conditional_entries"], stats["departments"]) == (3, 1, 2)


def test_a_key_belongs_to_its_holders_personal_organisation(
    platform: Platform, world: OpenWorld
) -> None:
    def org_of(uow: UnitOfWork, key_id: str) -> str:
        key = uow.session.get(AppKey, key_id)
        assert key is not None
        return key.organisation_id

    with platform.uow() as uow:
        assert world.citizen.organisation_ids == {org_of(uow, world.key_id)}
