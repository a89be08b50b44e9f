"""Data requests (开放数据接诉即办) through the service and the public API, on both databases.

The helpers at the top (public accounts, open entries, steps in their own transaction) are
shared with the other engagement tests.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr

from gongshu.bootstrap import Platform
from gongshu.catalog import service as catalog
from gongshu.identity import calendar as calendar_service
from gongshu.identity import service as identity
from gongshu.identity.authz import Actor
from gongshu.identity.models import OrgKind, Role
from gongshu.identity.schemas import OrganisationCreate, UserCreate
from gongshu.kernel.audit import AuditRecord
from gongshu.kernel.calendar import DayOverride
from gongshu.kernel.clock import BEIJING, FixedClock
from gongshu.kernel.errors import InvalidInput, PermissionDenied
from gongshu.ledger.models import LedgerEntry
from gongshu.opendata import requests as svc
from gongshu.opendata.errors import DatasetNotFound
from gongshu.opendata.errors_engagement import WrongRequestStatus
from gongshu.opendata.models import DataRequest
from gongshu.opendata.schemas_engagement import (
    AnswerInput,
    DataRequestInput,
    DataRequestRead,
    RatingInput,
)
from tests.factories import (
    HEALTH,
    OPERATOR_ORG,
    PASSWORD,
    TRANSPORT,
    City,
    actor,
    auth,
    entry_input,
    publish,
    token_for,
)

TITLE = "希望开放公交车辆实时到站数据"
DISPATCH_DAYS = 1
ANSWER_DAYS = 15
CONDITIONAL_FIELDS = [
    {"name": "企业名称", "type": "string"},
    {"name": "统一社会信用代码", "type": "string"},
    {"name": "法定代表人", "type": "string", "flags": ["identifier"]},
]


# ------------------------------------------------------------------ shared helpers


def beijing(day: date, hour: int = 10, minute: int = 0) -> datetime:
    """A moment on ``day`` in Beijing (UTC+8), in UTC as the clock wants it."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BEIJING).astimezone(UTC)


def public_user(platform: Platform, admin: Actor, username: str, display_name: str) -> Actor:
    """A public account as sign-up makes it: the ``public`` role in a personal organisation
    of its own, code ``u-<user id>``."""
    with platform.uow() as uow:
        user = identity.create_user(
            uow, actor=admin, passwords=platform.passwords,
            data=UserCreate(
                username=username, display_name=display_name, password=SecretStr(PASSWORD)
            ),
        )  # fmt: skip
        user_id = user.id
    code = f"u-{user_id}"
    with platform.uow() as uow:
        identity.create_organisation(
            uow, actor=admin,
            data=OrganisationCreate(code=code, name=f"{display_name}（个人）", kind=OrgKind.PUBLIC),
        )  # fmt: skip
        uow.commit()
    with platform.uow() as uow:
        identity.assign_role(
            uow, actor=admin, user_id=user_id, organisation_code=code, role=Role.PUBLIC
        )
    return actor(platform, username)


def make_entry(platform: Platform, city: City, *, publish_it: bool = True, **overrides: Any) -> str:
    """An entry of the transport commission (or ``provider``), published unless told."""
    provider = overrides.get("provider", TRANSPORT)
    who = city.officer if provider == TRANSPORT else city.health_officer
    if overrides.get("open_type") == "conditional":
        overrides.setdefault("open_conditions", "仅限申请的用途")
        overrides.setdefault("fields", CONDITIONAL_FIELDS)
    with platform.uow() as uow:
        entry = catalog.create_entry(uow, actor=who, data=entry_input(**overrides))
        uow.commit()
        entry_id = entry.id
    if publish_it:
        publish(platform, city, entry_id)
    return entry_id


def run(platform: Platform, fn: Any, **kwargs: Any) -> Any:
    """One service call in its own committed transaction, as a request does."""
    with platform.uow() as uow:
        result = fn(uow, **kwargs)
        uow.commit()
        return result


def file(platform: Platform, who: Actor, **overrides: Any) -> str:
    """File a data request; return its id."""
    data = {
        "title": TITLE,
        "description": "用于开发公交到站提醒小程序",
        "purpose": "便民出行",
        "fields": ["线路", "车辆位置"],
    } | overrides
    request = run(
        platform, svc.file_request, actor=who, data=DataRequestInput(**data),
        working_days=DISPATCH_DAYS,
    )  # fmt: skip
    return str(request.id)


def dispatch(platform: Platform, city: City, rid: str, org: str = TRANSPORT) -> Any:
    return run(
        platform, svc.dispatch, actor=city.admin, request_id=rid,
        department_id=city.orgs[org], working_days=ANSWER_DAYS,
    )  # fmt: skip


def answer(platform: Platform, who: Actor, rid: str, kind: str, **extra: Any) -> Any:
    data = AnswerInput(kind=kind, text=extra.pop("text", "答复内容"), **extra)  # type: ignore[arg-type]
    return run(platform, svc.answer, actor=who, request_id=rid, data=data)


def rate(platform: Platform, who: Actor, rid: str, rating: int) -> Any:
    return run(platform, svc.rate, actor=who, request_id=rid, data=RatingInput(rating=rating))


def read(platform: Platform, who: Actor | None, rid: str) -> DataRequestRead:
    with platform.uow() as uow:
        r = svc.get_request(uow, request_id=rid)
        return svc.describe(uow, who, [r], events=svc.list_events(uow, request_id=rid))[0]


@pytest.fixture
def alice(platform: Platform, city: City) -> Actor:
    return public_user(platform, city.admin, "alice", "王小丽")


@pytest.fixture
def bob(platform: Platform, city: City) -> Actor:
    return public_user(platform, city.admin, "bob", "李大海")


# ------------------------------------------------------------------ the loop


def test_a_request_goes_from_filing_to_rating_on_a_public_timeline_and_the_ledger(
    platform: Platform, city: City, alice: Actor
) -> None:
    bus_stops = make_entry(platform, city)
    rid = file(platform, alice, entry_id=bus_stops)
    filed = read(platform, None, rid)
    assert (filed.status, filed.due_on) == ("submitted", date(2026, 11, 26))  # Wed + 1 WD
    assert filed.requester == "王**" and "王小丽" not in filed.model_dump_json()
    assert filed.entry_name == "公交站点基础信息" and filed.next_steps == []

    dispatched = read(platform, city.admin, dispatch(platform, city, rid).id)
    assert dispatched.department_name == "市交通委"
    assert dispatched.due_on == date(2026, 12, 16)  # 15 working days from Wednesday 11-25
    assert dispatched.working_days_left == 15 and not dispatched.overdue
    assert read(platform, city.officer, rid).next_steps == ["answer"]
    assert read(platform, city.health_officer, rid).next_steps == []

    answer(platform, city.officer, rid, "opened", entry_id=bus_stops, text="已开放，见数据集")
    answered = read(platform, alice, rid)
    assert (answered.status, answered.answer_kind, answered.answered_on_time) == (
        "answered", "opened", True,
    )  # fmt: skip
    assert answered.next_steps == ["rate"] and answered.mine
    assert answered.links["dataset"] == f"/open/datasets/{bus_stops}"
    assert read(platform, city.officer, rid).next_steps == []

    rate(platform, alice, rid, 5)
    done = read(platform, None, rid)
    assert (done.status, done.rating, done.working_days_left) == ("rated", 5, None)
    assert done.events is not None
    assert [e.step for e in done.events] == ["submit", "dispatch", "answer", "rate"]
    labels = [e.actor_label for e in done.events]
    assert labels == ["王**", "市数据局", "市交通委", "王**"]  # organisations, never officers

    with platform.uow() as uow:
        audited = uow.session.scalars(
            sa.select(AuditRecord.action).where(AuditRecord.subject_id == rid)
        ).all()
        anchored = uow.session.execute(
            sa.select(LedgerEntry.kind, LedgerEntry.body)
            .where(LedgerEntry.subject_type == "data_request", LedgerEntry.subject_id == rid)
            .order_by(LedgerEntry.index)
        ).all()
    steps = ["open.request.submit", "open.request.dispatch", "open.request.answer",
             "open.request.rate"]  # fmt: skip
    assert sorted(audited) == sorted(steps)
    assert [kind for kind, _body in anchored] == steps
    for _kind, body in anchored:  # the ledger is public: digests, never the texts
        text = bytes(body).decode()
        assert TITLE not in text and json.dumps(TITLE)[1:-1] not in text
    assert '"content_sha256"' in bytes(anchored[0][1]).decode()


def test_each_step_checks_the_right_and_the_status(
    platform: Platform, city: City, alice: Actor, bob: Actor
) -> None:
    conditional = make_entry(platform, city, name="企业登记信息", open_type="conditional")
    hidden = make_entry(platform, city, name="内部台账", open_type="none")
    with pytest.raises(DatasetNotFound):
        file(platform, alice, entry_id=hidden)  # 不予开放 is no more than a missing id
    with pytest.raises(PermissionDenied):
        file(platform, city.officer)  # the public asks; officers answer
    rid = file(platform, alice)
    with pytest.raises(PermissionDenied):
        run(platform, svc.dispatch, actor=city.officer, request_id=rid,
            department_id=city.orgs[TRANSPORT], working_days=5)  # fmt: skip
    with pytest.raises(WrongRequestStatus, match="submitted"):
        answer(platform, city.admin, rid, "planned")
    with pytest.raises(InvalidInput, match="department"):
        dispatch(platform, city, rid, OPERATOR_ORG)
    dispatch(platform, city, rid)
    with pytest.raises(InvalidInput, match="already"):
        dispatch(platform, city, rid)
    with pytest.raises(PermissionDenied):
        answer(platform, city.health_officer, rid, "planned")
    with pytest.raises(InvalidInput, match="entry_id"):
        answer(platform, city.officer, rid, "opened")  # opened names the dataset
    with pytest.raises(InvalidInput, match="conditional, not unconditional"):
        answer(platform, city.officer, rid, "opened", entry_id=conditional)
    with pytest.raises(WrongRequestStatus):
        rate(platform, alice, rid, 4)  # nothing to rate yet
    with pytest.raises(WrongRequestStatus):
        run(platform, svc.decline, actor=city.admin, request_id=rid, reason="重复")

    moved = read(platform, city.admin, run(
        platform, svc.dispatch, actor=city.admin, request_id=rid,
        department_id=city.orgs[HEALTH], working_days=ANSWER_DAYS, note="职责调整",
    ).id)  # fmt: skip
    assert moved.department_name == "市卫生健康委" and moved.events is not None
    assert moved.events[-1].step == "redispatch" and "职责调整" in moved.events[-1].note
    with pytest.raises(PermissionDenied):
        answer(platform, city.officer, rid, "planned")  # no longer transport's
    answer(platform, city.health_officer, rid, "conditional", entry_id=conditional)
    assert read(platform, alice, rid).links["apply"] == "/api/v1/open/applications"
    with pytest.raises(PermissionDenied):
        rate(platform, bob, rid, 1)  # only the requester rates
    rate(platform, alice, rid, 3)
    with pytest.raises(WrongRequestStatus):
        rate(platform, alice, rid, 5)  # once

    declined = file(platform, bob, title="请开放全部个人信息")
    run(platform, svc.decline, actor=city.admin, request_id=declined, reason="涉及个人信息")
    shown = read(platform, None, declined)
    assert (shown.status, shown.answer, shown.due_on) == ("rejected", "涉及个人信息", None)


# ------------------------------------------------------------------ deadlines


def test_deadlines_count_working_days_and_late_requests_are_flagged_once(
    platform: Platform, city: City, clock: FixedClock, alice: Actor
) -> None:
    with platform.uow() as uow:
        calendar_service.set_day(
            uow, actor=city.admin, override=DayOverride(date(2026, 11, 30), False, "测试假日")
        )
        uow.commit()
    clock.set(beijing(date(2026, 11, 27)))  # a Friday
    late = file(platform, alice)
    assert read(platform, None, late).due_on == date(2026, 12, 1)  # weekend and Monday off
    dispatched = file(platform, alice, title="希望开放停车场泊位数据")
    assert run(
        platform, svc.dispatch, actor=city.admin, request_id=dispatched,
        department_id=city.orgs[TRANSPORT], working_days=3,
    ).due_on == date(2026, 12, 3)  # fmt: skip

    with platform.uow() as uow:
        assert svc.flag_overdue(uow, date(2026, 12, 1)) == []  # due today is not late
    clock.set(beijing(date(2026, 12, 4)))
    with platform.uow() as uow:
        assert svc.flag_overdue(uow) == [late, dispatched]  # earliest deadline first
        uow.commit()
    with platform.uow() as uow:
        assert svc.flag_overdue(uow) == []  # once per deadline
        with pytest.raises(PermissionDenied):
            svc.flag_overdue(uow, actor=city.officer)
        overdue = [r.id for r in svc.list_requests(uow, actor=None, overdue=True).items]
        on_time = [r.id for r in svc.list_requests(uow, actor=None, overdue=False).items]
    assert sorted(overdue) == sorted([late, dispatched]) and on_time == []
    shown = read(platform, None, dispatched)
    assert shown.overdue and shown.working_days_left == -1
    assert shown.events is not None and shown.events[-1].step == "overdue"

    # A new deadline (the late request dispatched now) clears the flag and may be flagged anew.
    dispatch(platform, city, late)
    with platform.uow() as uow:
        assert svc.flag_overdue(uow) == []
        assert not svc.describe(uow, None, [svc.get_request(uow, request_id=late)])[0].overdue


# ------------------------------------------------------------------ statistics


def test_statistics_publish_response_resolution_and_satisfaction_per_department(
    platform: Platform, city: City, clock: FixedClock, alice: Actor
) -> None:
    planned_entry = make_entry(platform, city)
    ids = [file(platform, alice, title=f"需求{n}") for n in range(5)]
    for rid in ids[:3]:
        dispatch(platform, city, rid)  # transport: due 2026-12-16
    dispatch(platform, city, ids[3], HEALTH)
    answer(platform, city.health_officer, ids[3], "planned")  # on time
    rate(platform, alice, ids[3], 4)
    # Late on the due day, Beijing time, is still on time ...
    clock.set(beijing(date(2026, 12, 16), 23, 30))
    answer(platform, city.officer, ids[0], "opened", entry_id=planned_entry)
    rate(platform, alice, ids[0], 5)
    # ... just after midnight it is not (and still 12-16 in UTC).
    clock.set(beijing(date(2026, 12, 17), 0, 30))
    assert clock.now().date() == date(2026, 12, 16)
    answer(platform, city.officer, ids[1], "refused", text="涉及国家秘密")
    rate(platform, alice, ids[1], 2)

    with platform.uow() as uow:
        stats = svc.statistics(uow)
    by_org = {d.name: d for d in stats.departments}
    transport, health = by_org["市交通委"], by_org["市卫生健康委"]
    assert [d.name for d in stats.departments] == ["市交通委", "市卫生健康委"]
    assert (transport.dispatched, transport.answered, transport.answered_on_time) == (3, 2, 1)
    assert (transport.pending, transport.overdue, transport.resolved) == (1, 1, 1)
    assert transport.response_rate == pytest.approx(1 / 3, abs=1e-4)
    assert transport.resolution_rate == 0.5
    assert (transport.satisfaction_mean, transport.satisfaction_rate) == (3.5, 0.5)
    assert (health.response_rate, health.resolution_rate, health.satisfaction_rate) == (1, 1, 1)
    assert (stats.total.dispatched, stats.total.answered_on_time, stats.total.rated) == (4, 2, 3)
    assert stats.total.satisfaction_mean == pytest.approx(11 / 3, abs=0.01)
    assert stats.by_status["submitted"] == 1 and stats.by_status["rated"] == 3


# ------------------------------------------------------------------ the API


def test_the_api_is_public_for_reading_and_uses_the_configured_deadlines(
    platform: Platform, city: City, client: TestClient, alice: Actor, bob: Actor
) -> None:
    platform.settings.open_request_answer_working_days = 3
    citizen, admin = auth(token_for(platform, "alice")), auth(token_for(platform, "admin"))
    body = {"title": TITLE, "description": "到站时间", "purpose": "出行", "fields": ["线路"]}
    assert client.post("/api/v1/open/requests", json=body).status_code == 401
    created = [client.post("/api/v1/open/requests", json=body | {"title": f"{TITLE}{n}"},
                           headers=citizen) for n in range(3)]  # fmt: skip
    assert [r.status_code for r in created] == [201, 201, 201]
    first = created[0].json()
    assert (
        first["requester"] == "王**"
        and first["mine"]
        and first["status_label"].startswith("待分派")
    )
    file(platform, bob, title="另一位用户的需求")

    page = client.get("/api/v1/open/requests", params={"limit": 3}).json()
    assert len(page["data"]) == 3 and page["meta"]["next_cursor"]
    assert all(not r["mine"] and r["requester"] in ("王**", "李**") for r in page["data"])
    rest = client.get(page["links"]["next"]).json()
    assert len(rest["data"]) == 1 and rest["meta"]["next_cursor"] is None
    assert rest["data"][0]["id"] == first["id"]  # newest first
    mine = client.get("/api/v1/open/requests", params={"mine": "true"}, headers=citizen).json()
    assert len(mine["data"]) == 3
    assert client.get("/api/v1/open/requests", params={"cursor": "%%%"}).status_code == 400
    assert client.get("/api/v1/open/requests", params={"status": "lost"}).status_code == 422

    url = f"/api/v1/open/requests/{first['id']}"
    wrong = client.post(f"{url}/dispatch", json={"department_id": city.orgs[TRANSPORT]},
                        headers=citizen)  # fmt: skip
    assert wrong.status_code == 403
    sent = client.post(f"{url}/dispatch", json={"department_id": city.orgs[TRANSPORT]},
                       headers=admin)  # fmt: skip
    assert sent.status_code == 200
    assert sent.json()["due_on"] == "2026-11-30"  # the setting: 3 working days from Wednesday
    assert sent.json()["next_steps"] == ["dispatch", "answer"]

    public = client.get(url).json()
    assert [e["step"] for e in public["events"]] == ["submit", "dispatch"]
    assert public["working_days_left"] == 3 and public["next_steps"] == []
    missing = client.get("/api/v1/open/requests/drq_nothing")
    assert (missing.status_code, missing.json()["error"]["code"]) == (
        404, "data_request_not_found",
    )  # fmt: skip
    stats = client.get("/api/v1/open/requests/stats").json()
    assert stats["total"]["dispatched"] == 1 and stats["by_status"]["submitted"] == 3
    assert stats["departments"][0]["response_rate"] == 0.0
    assert "response_rate" in stats["definitions"]

    with platform.uow() as uow:
        count = uow.session.scalar(sa.select(sa.func.count()).select_from(DataRequest))
    assert count == 4


def test_the_command_flags_overdue_requests_for_cron(
    platform: Platform, city: City, clock: FixedClock, alice: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from gongshu.cli import opendata as _commands  # noqa: F401  (commands register)
    from gongshu.cli.main import app

    # Filed in the past: the command's own clock (the system's) stamps the overdue notice.
    clock.set(beijing(date(2025, 11, 21)))
    late = file(platform, alice)
    due = read(platform, None, late).due_on
    assert due is not None
    monkeypatch.setenv("GONGSHU_HOME", str(platform.settings.home))
    monkeypatch.setenv("GONGSHU_DATABASE_URL", str(platform.settings.database_url))
    monkeypatch.setenv("GONGSHU_PASSWORD_HASH_PROFILE", "fast")
    monkeypatch.delenv("GONGSHU_ACTOR", raising=False)

    def flag(on: date, *before: str, code: int = 0) -> Any:
        args = ["--json", *before, "open", "flag-overdue-requests", "--today", on.isoformat()]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == code, result.output
        return json.loads(result.stdout) if code == 0 else None

    assert flag(due) == {"flagged": 0, "request_ids": []}  # due today is not late
    flag(date(2026, 1, 5), "--as", "officer", code=4)  # only the bureau or cron
    assert flag(date(2026, 1, 5)) == {"flagged": 1, "request_ids": [late]}
    assert flag(date(2026, 1, 5)) == {"flagged": 0, "request_ids": []}  # once per deadline
    shown = read(platform, None, late)
    assert shown.events is not None and shown.events[-1].step == "overdue"
