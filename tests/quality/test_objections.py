"""The objection loop through its service (and a little through its API), on both databases."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gongshu.bootstrap import Platform
from gongshu.catalog import service as catalog
from gongshu.catalog.errors import EntryNotFound
from gongshu.datastore import service as datastore
from gongshu.datastore.schemas import SettingsInput
from gongshu.identity import calendar as calendar_service
from gongshu.identity.authz import Actor
from gongshu.kernel.audit import AuditRecord
from gongshu.kernel.calendar import DayOverride
from gongshu.kernel.clock import FixedClock
from gongshu.kernel.errors import InvalidInput, PayloadTooLarge, PermissionDenied
from gongshu.ledger.models import LedgerEntry
from gongshu.quality import objections as svc
from gongshu.quality.models import Objection
from gongshu.quality.objections import (
    EvidenceItem,
    EvidenceStore,
    Finding,
    ObjectionInput,
    ObjectionNotFound,
    RejectReason,
    WrongObjectionStatus,
)
from tests.factories import HEALTH, TRANSPORT, City, auth, entry_input, publish, token_for

STATION = "S-0001"
CLAIM = "站点名称与现场站牌不一致"


# ------------------------------------------------------------------ helpers


def beijing(day: date, hour: int = 10) -> datetime:
    """A moment on ``day`` in Beijing (UTC+8), as the clock wants it."""
    return datetime(day.year, day.month, day.day, hour - 8, tzinfo=UTC)


def make_entry(platform: Platform, city: City, **overrides: Any) -> str:
    """A published entry; the transport commission's unless ``provider`` says otherwise."""
    who = city.officer if overrides.get("provider", TRANSPORT) == TRANSPORT else city.admin
    with platform.uow() as uow:
        entry = catalog.create_entry(uow, actor=who, data=entry_input(**overrides))
        uow.commit()
        entry_id = entry.id
    publish(platform, city, entry_id)
    return entry_id


def upload_version(
    platform: Platform, city: City, entry_id: str, tmp_path: Path, name: str = "站点名称甲"
) -> str:
    """A dataset version of the bus-stop entry keyed by 站点编号."""
    with platform.uow() as uow:
        datastore.update_settings(
            uow, actor=city.officer, entry_id=entry_id,
            data=SettingsInput(key_fields=["站点编号"]),
        )  # fmt: skip
        uow.commit()
    path = tmp_path / f"{name}.csv"
    path.write_text(f"站点编号,站点名称,经度,纬度\n{STATION},{name},116.40,39.90\n", "utf-8")
    outcome = datastore.ingest_file(
        platform.datastore, actor=city.officer, entry_id=entry_id, path=path, filename=path.name
    )
    assert outcome.status == "stored"
    return str(outcome.version_id)


def store(platform: Platform) -> EvidenceStore:
    return EvidenceStore.under(platform.settings.home)


def file_objection(platform: Platform, actor: Actor, entry_id: str, **overrides: Any) -> str:
    """File an objection with one text evidence item; return its id."""
    data: dict[str, Any] = {
        "entry_id": entry_id,
        "claim": CLAIM,
        "evidence": [{"kind": "text", "value": "现场照片已存档"}],
    } | overrides
    with platform.uow() as uow:
        objection = svc.raise_objection(
            uow, actor=actor, data=ObjectionInput.model_validate(data), store=store(platform)
        )
        uow.commit()
        return objection.id


def snapshot(objection: Objection) -> Any:
    """The objection's columns, readable after its unit of work has closed."""
    columns = Objection.__table__.columns
    return SimpleNamespace(**{c.key: getattr(objection, c.key) for c in columns})


def step(
    platform: Platform, fn: Callable[..., Objection], actor: Actor, oid: str, **kw: Any
) -> Any:
    """Run one step in its own transaction, as a request does."""
    with platform.uow() as uow:
        objection = fn(uow, actor=actor, objection_id=oid, **kw)
        uow.commit()
        return snapshot(objection)


def load(platform: Platform, actor: Actor, oid: str) -> Any:
    with platform.uow() as uow:
        return snapshot(svc.get_objection(uow, actor=actor, objection_id=oid))


def events(platform: Platform, actor: Actor, oid: str) -> list[tuple[str, str]]:
    with platform.uow() as uow:
        return [(e.step, e.status) for e in svc.list_events(uow, actor=actor, objection_id=oid)]


@pytest.fixture
def entry_id(platform: Platform, city: City) -> str:
    return make_entry(platform, city)


# ------------------------------------------------------------------ the whole loop


def test_a_record_objection_goes_the_whole_loop_and_every_step_is_in_the_ledger(
    platform: Platform, city: City, entry_id: str, tmp_path: Path
) -> None:
    v1 = upload_version(platform, city, entry_id, tmp_path)
    photo = svc.upload_evidence(
        actor=city.health_officer, store=store(platform), stream=io.BytesIO(b"\x89PNG photo"),
        filename="C:\\相册\\站牌.png",
    )  # fmt: skip
    assert photo.value == "站牌.png" and photo.sha256 is not None
    oid = file_objection(
        platform, city.health_officer, entry_id, version_id=v1, channel="sharing",
        record_key={"站点编号": STATION}, field_name="站点名称", proposed="站点名称乙",
        evidence=[photo.model_dump(), {"kind": "url", "value": "https://example.org/站牌"}],
    )  # fmt: skip

    raised = load(platform, city.officer, oid)
    assert (raised.status, raised.flagged, raised.channel) == ("raised", False, "sharing")
    assert raised.handler_org_id == city.orgs[TRANSPORT]
    assert raised.filer_org_id == city.orgs[HEALTH]
    assert raised.due_on == date(2026, 11, 26)  # Wednesday + 1 working day
    with platform.uow() as uow:
        assert svc.flagged_entries(uow, [entry_id]) == {}

    accepted = step(platform, svc.accept, city.officer, oid, note="已受理")
    assert (accepted.status, accepted.flagged) == ("flagged", True)
    assert accepted.due_on == date(2026, 12, 9)  # a verification request: 10 working days
    other = make_entry(platform, city, name="公交线路基础信息")
    with platform.uow() as uow:
        assert svc.flagged_entries(uow, [entry_id, other]) == {entry_id: 1}
        assert svc.flagged_records(uow, v1) == [{"站点编号": STATION}]

    step(platform, svc.verify, city.officer, oid, finding=Finding.CONFIRMED, note="现场核实属实")
    answered = step(platform, svc.answer, city.officer, oid, text="经核实属实，将于下一版本更正")
    assert answered.answer == "经核实属实，将于下一版本更正" and answered.finding == "confirmed"
    v2 = upload_version(platform, city, entry_id, tmp_path, name="站点名称乙")
    with pytest.raises(InvalidInput, match="not newer"):
        step(platform, svc.correct, city.officer, oid, version_id=v1)
    corrected = step(platform, svc.correct, city.officer, oid, version_id=v2)
    assert corrected.correction == {"kind": "version", "version_id": v2, "number": 2}
    assert corrected.flagged  # the flag stays until it is taken down
    unflagged = step(platform, svc.unflag, city.officer, oid)
    assert (unflagged.status, unflagged.flagged) == ("unflagged", False)
    assert unflagged.closed_at is not None and unflagged.due_on is None
    with platform.uow() as uow:
        assert svc.flagged_entries(uow, [entry_id]) == {}
        assert svc.flagged_records(uow, v1) == []
    step(platform, svc.archive, city.officer, oid)

    assert events(platform, city.health_officer, oid) == [
        ("raise", "raised"), ("accept", "flagged"), ("verify", "verified"),
        ("answer", "answered"), ("correct", "corrected"), ("unflag", "unflagged"),
        ("archive", "archived"),
    ]  # fmt: skip
    with platform.uow() as uow:
        anchored = uow.session.execute(
            sa.select(LedgerEntry.kind, LedgerEntry.body)
            .where(LedgerEntry.subject_type == "objection", LedgerEntry.subject_id == oid)
            .order_by(LedgerEntry.index)
        ).all()
        audited = uow.session.scalars(
            sa.select(AuditRecord.action).where(AuditRecord.subject_id == oid)
        ).all()
        path, name = svc.evidence_file(
            uow, actor=city.officer, store=store(platform), objection_id=oid, sha256=photo.sha256
        )
    steps = ["raise", "accept", "verify", "answer", "correct", "unflag", "archive"]
    assert [kind for kind, _body in anchored] == [f"objection.{s}" for s in steps]
    assert sorted(audited) == sorted(f"objection.{s}" for s in steps)
    # The ledger is public: digests of the claim and the record key, never the text.
    for _kind, body in anchored:
        text = bytes(body).decode()
        assert CLAIM not in text and STATION not in text and "站点名称乙" not in text
    assert '"content_sha256"' in bytes(anchored[0][1]).decode()
    assert path.read_bytes() == b"\x89PNG photo" and name == "站牌.png"


def test_an_unfounded_objection_is_unflagged_without_a_correction(
    platform: Platform, city: City, entry_id: str
) -> None:
    oid = file_objection(platform, city.health_officer, entry_id)
    step(platform, svc.accept, city.admin, oid)  # the bureau may handle any objection
    step(platform, svc.verify, city.officer, oid, finding=Finding.UNFOUNDED, note="数据无误")
    answered = step(platform, svc.answer, city.officer, oid, text="经核查数据无误")
    assert answered.due_on == date(2026, 11, 26)  # the flag comes down within 1 working day
    with pytest.raises(WrongObjectionStatus, match="confirmed finding"):
        step(platform, svc.correct, city.officer, oid, erratum="无")
    assert step(platform, svc.unflag, city.officer, oid).status == "unflagged"


def test_a_new_objection_can_be_rejected_with_a_reason_and_archived(
    platform: Platform, city: City, entry_id: str
) -> None:
    oid = file_objection(platform, city.citizen, entry_id)
    assert load(platform, city.citizen, oid).channel == "public"
    with pytest.raises(InvalidInput, match="duplicates"):
        step(platform, svc.reject, city.officer, oid, reason=RejectReason.DUPLICATE)
    rejected = step(
        platform, svc.reject, city.officer, oid, reason=RejectReason.DUPLICATE, note="同 obj_1"
    )
    assert (rejected.status, rejected.flagged) == ("rejected", False)
    assert rejected.closed_at is not None
    with pytest.raises(WrongObjectionStatus, match="rejected"):
        step(platform, svc.accept, city.officer, oid)
    assert step(platform, svc.archive, city.officer, oid).status == "archived"
    assert events(platform, city.citizen, oid)[1] == ("reject", "rejected")


def test_a_wrong_step_is_a_conflict_that_names_the_status(
    platform: Platform, city: City, entry_id: str
) -> None:
    oid = file_objection(platform, city.health_officer, entry_id)
    with pytest.raises(WrongObjectionStatus, match="is raised") as caught:
        step(platform, svc.verify, city.officer, oid, finding=Finding.CONFIRMED, note="x")
    assert caught.value.status == 409
    assert caught.value.details["status"] == "raised"
    assert caught.value.details["allowed"] == ["accept", "reject"]
    step(platform, svc.accept, city.officer, oid)
    with pytest.raises(WrongObjectionStatus, match="is flagged"):
        step(platform, svc.accept, city.officer, oid)
    with pytest.raises(WrongObjectionStatus, match="is flagged"):
        step(platform, svc.archive, city.officer, oid)
    with pytest.raises(InvalidInput, match="note"):
        step(platform, svc.verify, city.officer, oid, finding=Finding.CONFIRMED, note="  ")
    assert load(platform, city.officer, oid).status == "flagged"  # nothing half-done


# ------------------------------------------------------------------ who may do what


def test_departments_handle_only_their_own_and_the_public_only_files(
    platform: Platform, city: City, entry_id: str
) -> None:
    by_health = file_objection(platform, city.health_officer, entry_id)
    by_citizen = file_objection(platform, city.citizen, entry_id)
    # The health commission filed it, may follow it, but may not handle transport's data.
    assert load(platform, city.health_officer, by_health).id == by_health
    with pytest.raises(PermissionDenied):
        step(platform, svc.accept, city.health_officer, by_health)
    # Nor may it see what a citizen filed on someone else's data.
    with pytest.raises(ObjectionNotFound):
        load(platform, city.health_officer, by_citizen)
    # The citizen files and follows, but never handles, even their own objection.
    assert load(platform, city.citizen, by_citizen).status == "raised"
    with pytest.raises(PermissionDenied):
        step(platform, svc.accept, city.citizen, by_citizen)
    with pytest.raises(ObjectionNotFound):
        load(platform, city.citizen, by_health)
    with platform.uow() as uow:
        assert [o.id for o in svc.list_objections(uow, actor=city.citizen).items] == [by_citizen]
        seen = {o.id for o in svc.list_objections(uow, actor=city.officer).items}
        assert seen == {by_health, by_citizen}
        assert {o.id for o in svc.list_objections(uow, actor=city.auditor).items} == seen
    with pytest.raises(PermissionDenied):
        step(platform, svc.accept, city.auditor, by_citizen)  # overseers read, never handle
    assert step(platform, svc.accept, city.officer, by_citizen).status == "flagged"


def test_the_public_files_only_on_published_open_entries(platform: Platform, city: City) -> None:
    closed = make_entry(platform, city, name="公交卡持卡人信息", open_type="none")
    with platform.uow() as uow:
        draft = catalog.create_entry(uow, actor=city.officer, data=entry_input(name="地铁客流")).id
        uow.commit()
    for entry in (closed, draft):
        with pytest.raises(EntryNotFound):
            file_objection(platform, city.citizen, entry)
    with pytest.raises(InvalidInput, match="channel"):
        file_objection(platform, city.citizen, make_entry(platform, city, name="公交线路"),
                       channel="department")  # fmt: skip
    with pytest.raises(InvalidInput, match="channel"):
        file_objection(platform, city.officer, draft, channel="public")


def test_a_record_must_be_named_by_the_versions_key_and_fields_must_exist(
    platform: Platform, city: City, entry_id: str, tmp_path: Path
) -> None:
    v1 = upload_version(platform, city, entry_id, tmp_path)
    with pytest.raises(InvalidInput, match="key fields: 站点编号"):
        file_objection(platform, city.health_officer, entry_id, version_id=v1,
                       record_key={"站点名称": "站点名称甲"})  # fmt: skip
    with pytest.raises(InvalidInput, match="no field '票价'"):
        file_objection(platform, city.health_officer, entry_id, field_name="票价")
    with pytest.raises(ValueError, match="version_id"):
        ObjectionInput.model_validate(
            {"entry_id": entry_id, "claim": "x", "record_key": {"站点编号": STATION},
             "evidence": [{"kind": "text", "value": "y"}]}
        )  # fmt: skip
    with pytest.raises(InvalidInput, match=r"evidence\.0\.sha256"):
        missing = [{"kind": "file", "value": "a.pdf", "sha256": "a" * 64}]
        file_objection(platform, city.health_officer, entry_id, evidence=missing)
    with pytest.raises(ValueError, match="http"):
        EvidenceItem(kind="url", value="javascript:alert(1)")


def test_evidence_files_are_capped_at_ten_megabytes(platform: Platform, city: City) -> None:
    big = io.BytesIO(b"x" * (svc.MAX_EVIDENCE_BYTES + 1))
    with pytest.raises(PayloadTooLarge, match="10 MB"):
        svc.upload_evidence(actor=city.citizen, store=store(platform), stream=big, filename="a")
    with pytest.raises(InvalidInput, match="empty"):
        svc.upload_evidence(
            actor=city.citizen, store=store(platform), stream=io.BytesIO(b""), filename="b"
        )
    assert [p.name for p in store(platform).root.iterdir()] == []  # no partial files left


# ------------------------------------------------------------------ deadlines and escalation


def test_deadlines_count_working_days_across_a_weekend_and_holidays(
    platform: Platform, city: City, clock: FixedClock, entry_id: str
) -> None:
    clock.set(beijing(date(2026, 11, 27)))  # a Friday
    friday = file_objection(platform, city.health_officer, entry_id)
    assert load(platform, city.officer, friday).due_on == date(2026, 11, 30)  # Monday
    accepted = step(platform, svc.accept, city.officer, friday)
    assert accepted.due_on == date(2026, 12, 4)  # 5 working days: Mon–Fri of next week
    with platform.uow() as uow:
        calendar_service.set_day(
            uow, actor=city.admin, override=DayOverride(date(2026, 11, 30), False, "测试假日")
        )
        uow.commit()
    holiday = file_objection(platform, city.health_officer, entry_id, channel="sharing")
    assert load(platform, city.officer, holiday).due_on == date(2026, 12, 1)  # Monday off
    assert step(platform, svc.accept, city.officer, holiday).due_on == date(2026, 12, 14)


def test_overdue_objections_escalate_once_and_lead_the_queue(
    platform: Platform, city: City, clock: FixedClock, entry_id: str
) -> None:
    late = file_objection(platform, city.health_officer, entry_id)  # due Thursday 11-26
    with platform.uow() as uow:
        assert svc.escalate_overdue(uow, date(2026, 11, 26)) == []  # due today is not late
    clock.set(beijing(date(2026, 11, 27)))
    fresh = file_objection(platform, city.health_officer, entry_id)  # due Monday 11-30
    with platform.uow() as uow:
        assert svc.escalate_overdue(uow) == [late]
        uow.commit()
    with platform.uow() as uow:
        assert svc.escalate_overdue(uow) == []  # idempotent
        with pytest.raises(PermissionDenied):
            svc.escalate_overdue(uow, actor=city.officer)
        queue = [snapshot(o) for o in svc.list_objections(uow, actor=city.admin).items]
        overdue = [o.id for o in svc.list_objections(uow, actor=city.admin, overdue=True).items]
    assert [o.id for o in queue] == [late, fresh]
    assert queue[0].escalated_at is not None and queue[1].escalated_at is None
    assert overdue == [late]
    assert events(platform, city.admin, late)[-1] == ("escalate", "raised")
    with platform.uow() as uow:
        kinds = uow.session.scalars(
            sa.select(LedgerEntry.kind).where(LedgerEntry.subject_id == late)
        ).all()
    assert "objection.escalate" in kinds
    # Taking the step settles the escalation; the new deadline starts afresh.
    accepted = step(platform, svc.accept, city.officer, late)
    assert accepted.escalated_at is None and accepted.due_on == date(2026, 12, 4)


def test_the_list_filters_and_pages_by_cursor(
    platform: Platform, city: City, entry_id: str
) -> None:
    ids = [file_objection(platform, city.health_officer, entry_id) for _ in range(3)]
    mine = file_objection(platform, city.officer, entry_id)
    step(platform, svc.accept, city.officer, ids[0])
    with platform.uow() as uow:
        first = svc.list_objections(uow, actor=city.admin, limit=2)
        assert first.next_cursor is not None
        rest = svc.list_objections(uow, actor=city.admin, limit=2, cursor=first.next_cursor)
        assert rest.next_cursor is None
        paged = [o.id for o in first.items + rest.items]
        assert sorted(paged) == sorted([*ids, mine]) and len(set(paged)) == 4
        flagged = svc.list_objections(uow, actor=city.admin, status=["flagged"]).items
        assert [o.id for o in flagged] == [ids[0]]
        raised = svc.list_objections(uow, actor=city.admin, status=["raised"], mine=True).items
        assert raised == []  # the bureau filed none
        own = svc.list_objections(uow, actor=city.officer, mine=True).items
        assert [o.id for o in own] == [mine]
        with pytest.raises(InvalidInput, match="unknown status"):
            svc.list_objections(uow, actor=city.admin, status=["pending"])


# ------------------------------------------------------------------ statistics


def test_statistics_count_per_department_with_the_median_working_days_to_close(
    platform: Platform, city: City, clock: FixedClock, entry_id: str
) -> None:
    clinics = make_entry(platform, city, name="社区卫生服务中心名录", provider=HEALTH, theme="05")
    closed_fast = file_objection(platform, city.citizen, entry_id)  # Wednesday 11-25
    closed_slow = file_objection(platform, city.citizen, entry_id)
    still_open = file_objection(platform, city.citizen, entry_id)
    at_health = file_objection(platform, city.officer, clinics)
    for oid in (closed_fast, closed_slow):
        step(platform, svc.accept, city.officer, oid)
        step(platform, svc.verify, city.officer, oid, finding=Finding.UNFOUNDED, note="无误")
        step(platform, svc.answer, city.officer, oid, text="数据无误")
    clock.set(beijing(date(2026, 11, 27)))  # Friday: 2 working days after filing
    step(platform, svc.unflag, city.officer, closed_fast)
    clock.set(beijing(date(2026, 12, 3)))  # next Thursday: 6 working days after filing
    step(platform, svc.unflag, city.officer, closed_slow)

    with platform.uow() as uow:
        overall = svc.statistics(uow, actor=city.admin)
        own = svc.statistics(uow, actor=city.officer)
        with pytest.raises(PermissionDenied):
            svc.statistics(uow, actor=city.citizen)
    assert (overall.open, overall.overdue, overall.closed) == (2, 2, 2)
    assert overall.median_days_to_close == 4.0
    assert overall.by_status == {"unflagged": 2, "raised": 2}
    by_org = {d.organisation_id: d for d in overall.departments}
    transport, health = by_org[city.orgs[TRANSPORT]], by_org[city.orgs[HEALTH]]
    assert (transport.name, transport.open, transport.closed) == ("市交通委", 1, 2)
    assert transport.median_days_to_close == 4.0 and health.median_days_to_close is None
    assert (health.open, health.overdue) == (1, 1)
    assert [d.organisation_id for d in own.departments] == [city.orgs[TRANSPORT]]
    assert (own.open, own.closed) == (1, 2)
    assert still_open and at_health


# ------------------------------------------------------------------ the JSON API


def test_the_api_files_steps_and_refuses_with_the_error_envelope(
    client: TestClient, platform: Platform, city: City, entry_id: str
) -> None:
    citizen = auth(token_for(platform, "citizen"))
    officer = auth(token_for(platform, "officer"))
    uploaded = client.post(
        "/api/v1/objections/evidence", headers=citizen,
        files={"file": ("证明.pdf", b"%PDF-1.4 evidence", "application/pdf")},
    )  # fmt: skip
    assert uploaded.status_code == 201, uploaded.text
    evidence = uploaded.json()
    created = client.post(
        "/api/v1/objections", headers=citizen,
        json={"entry_id": entry_id, "claim": CLAIM, "evidence": [evidence]},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    body = created.json()
    oid = body["id"]
    assert body["status"] == "raised" and body["channel"] == "public"
    assert body["next_steps"] == [] and body["events"][0]["step"] == "raise"
    assert body["handler_org_name"] == "市交通委" and body["working_days_left"] == 1
    download = client.get(body["evidence"][0]["url"], headers=citizen)
    assert download.status_code == 200 and download.content == b"%PDF-1.4 evidence"
    assert "attachment" in download.headers["content-disposition"]

    refused = client.post(f"/api/v1/objections/{oid}/accept", headers=citizen, json={})
    assert refused.status_code == 403
    wrong = client.post(f"/api/v1/objections/{oid}/answer", headers=officer, json={"text": "答复"})
    assert wrong.status_code == 409
    assert wrong.json()["error"]["code"] == "objection_wrong_status"
    assert wrong.json()["error"]["details"]["status"] == "raised"
    accepted = client.post(f"/api/v1/objections/{oid}/accept", headers=officer, json={})
    assert accepted.status_code == 200 and accepted.json()["flagged"] is True
    assert accepted.json()["next_steps"] == ["verify"]
    bad = client.post(
        f"/api/v1/objections/{oid}/verify", headers=officer, json={"finding": "maybe", "note": "x"}
    )
    assert bad.status_code == 422

    listed = client.get("/api/v1/objections", headers=citizen, params={"mine": "true"}).json()
    assert [o["id"] for o in listed["data"]] == [oid]
    stats = client.get("/api/v1/objections/statistics", headers=officer).json()
    assert stats["open"] == 1 and stats["departments"][0]["name"] == "市交通委"
    assert client.get("/api/v1/objections/statistics", headers=citizen).status_code == 403
    missing = client.get("/api/v1/objections/obj_nothing", headers=officer)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "objection_not_found"


# ------------------------------------------------------------------ the command line


def test_the_command_escalates_for_cron_and_lists(
    platform: Platform, city: City, entry_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from gongshu.cli import objections as _commands  # noqa: F401  (commands register)
    from gongshu.cli.main import app

    late = file_objection(platform, city.health_officer, entry_id)  # due 2026-11-26
    monkeypatch.setenv("GONGSHU_HOME", str(platform.settings.home))
    monkeypatch.setenv("GONGSHU_DATABASE_URL", str(platform.settings.database_url))
    monkeypatch.setenv("GONGSHU_PASSWORD_HASH_PROFILE", "fast")
    monkeypatch.delenv("GONGSHU_ACTOR", raising=False)

    def run(*args: str, code: int = 0) -> Any:
        result = CliRunner().invoke(app, ["--json", *args])
        assert result.exit_code == code, result.output
        return json.loads(result.stdout) if code == 0 else None

    escalate = ("objections", "escalate", "--today", "2026-11-27")
    assert run(*escalate) == {"escalated": 1, "objection_ids": [late]}
    assert run(*escalate) == {"escalated": 0, "objection_ids": []}
    listed = run("--as", "officer", "objections", "list", "--status", "open")
    assert [(o["id"], o["escalated"]) for o in listed["data"]] == [(late, True)]
    assert run("--as", "citizen", "objections", "list")["data"] == []
    run("objections", "list", code=3)  # who is asking must be said
    run("--as", "officer", "objections", "escalate", code=4)  # only the bureau or cron
