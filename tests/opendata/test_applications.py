"""Conditional opening: apply, the provider reviews within its deadline, approval issues a
grant the access check honours, refusal gives reasons; unconditional entries need none."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr

from gongshu.bootstrap import Platform
from gongshu.catalog import service as catalog
from gongshu.datastore import service as datastore
from gongshu.identity import check_access
from gongshu.identity import service as identity
from gongshu.identity.authz import Actor
from gongshu.identity.models import DeliveryMode, Grant, OrgKind, Role
from gongshu.identity.schemas import MembershipIn, OrganisationCreate, UserCreate
from gongshu.kernel.audit import AuditRecord
from gongshu.kernel.clock import FixedClock
from gongshu.kernel.errors import InvalidInput, PermissionDenied
from gongshu.kernel.identifiers import make_uscc
from gongshu.ledger.models import LedgerEntry
from gongshu.opendata import applications as svc
from gongshu.opendata import keys
from gongshu.opendata.access import open_access
from gongshu.opendata.errors import AccessNotGranted, DatasetNotFound
from gongshu.opendata.errors_engagement import (
    ApplicationNotFound,
    ApplicationNotNeeded,
    DuplicateApplication,
    NoGrantHolder,
    WrongApplicationStatus,
)
from gongshu.opendata.schemas import AppKeyCreate
from gongshu.opendata.schemas_engagement import ApplicationInput, ApproveInput
from tests.factories import PASSWORD, City, actor, auth, entry_input, publish, token_for
from tests.opendata.test_requests import beijing, make_entry, public_user, run

NAME, USCC, LEGAL = "企业名称", "统一社会信用代码", "法定代表人"
PURPOSE = "核验合作企业的登记状态"


def apply(platform: Platform, who: Actor, entry_id: str, **overrides: Any) -> str:
    data = {
        "entry_id": entry_id,
        "purpose": PURPOSE,
        "scenario": "供应链准入",
        "fields": [NAME, USCC],
        "delivery": "api",
        "term_days": 90,
    } | overrides
    app = run(platform, svc.apply, actor=who, data=ApplicationInput(**data), working_days=10)
    return str(app.id)


def load(platform: Platform, who: Actor, app_id: str) -> Any:
    with platform.uow() as uow:
        app = svc.get_application(uow, actor=who, application_id=app_id)
        return svc.describe(uow, who, [app])[0]


def allowed(platform: Platform, who: Actor, entry_id: str, fields: list[str], mode: str) -> bool:
    with platform.uow() as uow:
        return check_access(
            uow, actor=who, entry_ref=entry_id, fields=fields, mode=DeliveryMode(mode)
        ).allowed


@pytest.fixture
def alice(platform: Platform, city: City) -> Actor:
    return public_user(platform, city.admin, "alice", "王小丽")


@pytest.fixture
def firms(platform: Platform, city: City) -> str:
    """The enterprise register: 有条件开放, with an identifier field."""
    return make_entry(platform, city, name="企业登记信息", open_type="conditional")


def test_approval_issues_a_grant_the_access_check_honours(
    platform: Platform, city: City, clock: FixedClock, alice: Actor, firms: str
) -> None:
    app_id = apply(platform, alice, firms, fields=[NAME, USCC, LEGAL])
    filed = load(platform, alice, app_id)
    assert (filed.status, filed.due_on, filed.working_days_left) == (
        "submitted",
        date(2026, 12, 9),
        10,
    )
    assert filed.organisation_name == "王小丽（个人）" and filed.provider_name == "市交通委"
    assert filed.next_steps == ["withdraw"] and filed.grant is None
    assert not allowed(platform, alice, firms, [NAME], "api")

    # The provider reviews; other departments and other citizens do not even see it.
    assert load(platform, city.officer, app_id).next_steps == ["approve", "refuse"]
    bob = public_user(platform, city.admin, "bob", "李大海")
    for outsider in (city.health_officer, bob):
        with pytest.raises(ApplicationNotFound):
            load(platform, outsider, app_id)
    with pytest.raises(InvalidInput, match="only the fields applied for"):
        run(platform, svc.approve, actor=city.officer, application_id=app_id,
            data=ApproveInput(fields=[NAME, "注册资本"]))  # fmt: skip

    # Minimal authorisation: the provider leaves the legal representative out.
    run(platform, svc.approve, actor=city.officer, application_id=app_id,
        data=ApproveInput(fields=[USCC, NAME], note="法定代表人不予提供"))  # fmt: skip
    approved = load(platform, alice, app_id)
    assert approved.status == "approved" and approved.grant is not None
    assert sorted(approved.grant.fields) == sorted([NAME, USCC])
    assert (approved.grant.status, approved.grant.delivery_modes) == ("active", ["api"])
    assert approved.grant.valid_until == clock.now() + timedelta(days=90)
    assert approved.reasons == "法定代表人不予提供"
    assert approved.links["rows"] == f"/api/v1/open/datasets/{firms}/rows"

    assert allowed(platform, alice, firms, [NAME, USCC], "api")
    assert not allowed(platform, alice, firms, [LEGAL], "api")  # narrowed away
    assert not allowed(platform, alice, firms, [NAME], "file")  # delivery applied for: api
    assert not allowed(platform, bob, firms, [NAME], "api")  # the grant is alice's own
    clock.advance(days=91)
    assert not allowed(platform, alice, firms, [NAME], "api")  # the term is over
    assert load(platform, alice, app_id).grant.status == "expired"  # type: ignore[union-attr]

    with platform.uow() as uow:
        grant = uow.session.get(Grant, approved.grant.id)
        assert grant is not None
        assert (grant.purpose, grant.scenario) == (PURPOSE, "供应链准入")
        assert grant.issued_by_id == city.officer.user_id
        actions = uow.session.scalars(
            sa.select(AuditRecord.action).where(AuditRecord.subject_id.in_([app_id, grant.id]))
        ).all()
        anchored = uow.session.scalars(
            sa.select(LedgerEntry.kind).where(LedgerEntry.subject_id.in_([app_id, grant.id]))
        ).all()
        body = uow.session.scalar(
            sa.select(LedgerEntry.body).where(LedgerEntry.kind == "grant.create")
        )
    expected = ["grant.create", "open.application.apply", "open.application.approve"]
    assert sorted(actions) == expected and sorted(anchored) == expected
    assert f"open.application:{app_id}" in bytes(body or b"").decode()


def test_the_rules_of_applying_and_deciding(
    platform: Platform, city: City, alice: Actor, firms: str
) -> None:
    bus = make_entry(platform, city)
    hidden = make_entry(platform, city, name="内部台账", open_type="none")
    with pytest.raises(ApplicationNotNeeded, match="无需申请"):
        apply(platform, alice, bus, fields=["站点名称"])
    with pytest.raises(DatasetNotFound):
        apply(platform, alice, hidden, fields=["站点名称"])
    with pytest.raises(InvalidInput, match="注册资本"):
        apply(platform, alice, firms, fields=[NAME, "注册资本"])
    with pytest.raises(NoGrantHolder):
        apply(platform, city.citizen, firms)  # only a shared organisation: nothing to grant to
    with pytest.raises(PermissionDenied):
        apply(platform, city.officer, firms)

    first = apply(platform, alice, firms)
    with pytest.raises(DuplicateApplication):
        apply(platform, alice, firms, delivery="file")
    with pytest.raises(PermissionDenied):
        run(platform, svc.approve, actor=alice, application_id=first, data=ApproveInput())
    with pytest.raises(InvalidInput, match="reasons"):
        run(platform, svc.refuse, actor=city.officer, application_id=first, reasons=" ")
    run(platform, svc.refuse, actor=city.officer, application_id=first,
        reasons="用途与数据无关，请补充业务证明")  # fmt: skip
    refused = load(platform, alice, first)
    assert (refused.status, refused.reasons, refused.next_steps) == (
        "refused", "用途与数据无关，请补充业务证明", [],
    )  # fmt: skip
    with pytest.raises(WrongApplicationStatus):
        run(platform, svc.approve, actor=city.officer, application_id=first, data=ApproveInput())

    second = apply(platform, alice, firms, delivery="file")  # refused ones do not block
    with pytest.raises(ApplicationNotFound):
        run(platform, svc.withdraw, actor=city.officer, application_id=second)
    run(platform, svc.withdraw, actor=alice, application_id=second)
    assert load(platform, alice, second).status == "withdrawn"

    # The entry stops being conditional while an application waits: it can only be refused.
    third = apply(platform, alice, firms)
    with platform.uow() as uow:
        catalog.update_entry(
            uow, actor=city.officer, entry_id=firms,
            data=entry_input(name="企业登记信息", fields=[{"name": NAME, "type": "string"}]),
        )  # fmt: skip
    publish(platform, city, firms)
    with pytest.raises(WrongApplicationStatus, match="no longer conditionally open"):
        run(platform, svc.approve, actor=city.officer, application_id=third, data=ApproveInput())


def test_an_enterprise_user_applies_for_the_enterprise(
    platform: Platform, city: City, alice: Actor, firms: str
) -> None:
    with platform.uow() as uow:
        identity.create_organisation(
            uow, actor=city.admin,
            data=OrganisationCreate(code="acme", name="某科技有限公司", kind=OrgKind.ENTERPRISE,
                                    uscc=make_uscc("91", "110105", "MA02K6Q3")),
        )  # fmt: skip
        uow.commit()
    with platform.uow() as uow:
        identity.create_user(
            uow, actor=city.admin, passwords=platform.passwords,
            data=UserCreate(username="acme-dev", display_name="赵工", password=SecretStr(PASSWORD),
                            memberships=[MembershipIn(organisation_code="acme", role=Role.PUBLIC)]),
        )  # fmt: skip
    dev = actor(platform, "acme-dev")
    with pytest.raises(NoGrantHolder):
        apply(platform, dev, firms, organisation_id=alice.seats[0].organisation_id)
    app_id = apply(platform, dev, firms)
    assert load(platform, dev, app_id).organisation_name == "某科技有限公司"
    run(platform, svc.approve, actor=city.officer, application_id=app_id, data=ApproveInput())
    assert allowed(platform, dev, firms, [NAME, USCC], "api")
    assert not allowed(platform, alice, firms, [NAME], "api")


def test_lists_show_each_their_own_and_flag_late_decisions(
    platform: Platform, city: City, clock: FixedClock, alice: Actor, firms: str
) -> None:
    health_firms = make_entry(platform, city, name="医疗机构执业登记", open_type="conditional",
                              provider="health")  # fmt: skip
    mine = [apply(platform, alice, firms), apply(platform, alice, health_firms)]
    clock.set(beijing(date(2026, 12, 10)))  # one working day past 12-09
    with platform.uow() as uow:
        by = {
            who: [a.id for a in svc.list_applications(uow, actor=actor_).items]
            for who, actor_ in (("alice", alice), ("transport", city.officer),
                                ("health", city.health_officer), ("admin", city.admin))
        }  # fmt: skip
        late = [a.id for a in svc.list_applications(uow, actor=city.admin, overdue=True).items]
        with pytest.raises(PermissionDenied):
            svc.list_applications(uow, actor=city.operator)
        shown = svc.describe(uow, city.officer, [svc.get_application(
            uow, actor=city.officer, application_id=mine[0])])[0]  # fmt: skip
    assert by == {"alice": mine[::-1], "transport": [mine[0]], "health": [mine[1]],
                  "admin": mine[::-1]}  # fmt: skip
    assert late == mine[::-1]
    assert shown.overdue and shown.working_days_left == -1 and shown.applicant == "王**"


def test_the_applications_api(
    platform: Platform, city: City, client: TestClient, alice: Actor, firms: str
) -> None:
    platform.settings.open_application_working_days = 5
    bus = make_entry(platform, city)
    citizen, officer = auth(token_for(platform, "alice")), auth(token_for(platform, "officer"))
    body = {"entry_id": firms, "purpose": PURPOSE, "scenario": "供应链准入",
            "fields": [NAME], "delivery": "file", "term_days": 30}  # fmt: skip
    needless = client.post("/api/v1/open/applications", json=body | {"entry_id": bus,
                           "fields": ["站点名称"]}, headers=citizen)  # fmt: skip
    assert (needless.status_code, needless.json()["error"]["code"]) == (
        409, "application_not_needed",
    )  # fmt: skip
    assert "无需申请" in needless.json()["error"]["message"]
    bad = client.post("/api/v1/open/applications", json=body | {"delivery": "sandbox"},
                      headers=citizen)  # fmt: skip
    assert bad.status_code == 422
    created = client.post("/api/v1/open/applications", json=body, headers=citizen)
    assert created.status_code == 201
    app = created.json()
    assert app["due_on"] == "2026-12-02" and app["working_days_left"] == 5  # the setting
    assert app["status_label"].startswith("审核中")

    queue = client.get("/api/v1/open/applications", headers=officer).json()["data"]
    assert [a["id"] for a in queue] == [app["id"]] and queue[0]["next_steps"] == [
        "approve", "refuse",
    ]  # fmt: skip
    decided = client.post(f"/api/v1/open/applications/{app['id']}/approve", json={},
                          headers=officer)  # fmt: skip
    assert decided.status_code == 200 and decided.json()["grant"]["delivery_modes"] == ["file"]
    seen = client.get(f"/api/v1/open/applications/{app['id']}", headers=citizen).json()
    assert seen["grant"]["status"] == "active"
    assert seen["links"]["download"] == f"/api/v1/open/datasets/{firms}/download.csv"
    assert client.get(f"/api/v1/open/applications/{app['id']}").status_code == 401
    again = client.post(f"/api/v1/open/applications/{app['id']}/refuse",
                        json={"reasons": "改变主意"}, headers=officer)  # fmt: skip
    assert (again.status_code, again.json()["error"]["code"]) == (
        409, "open_application_wrong_status",
    )  # fmt: skip
    assert allowed(platform, alice, firms, [NAME], "file")


def test_the_open_api_access_check_honours_the_approval_through_an_app_key(
    platform: Platform, city: City, alice: Actor, firms: str, tmp_path: Path
) -> None:
    path = tmp_path / "firms.csv"
    path.write_text(f"{NAME},{USCC},{LEGAL}\n某公司,91110105MA01K5P2XX,张三\n", "utf-8")
    stored = datastore.ingest_file(
        platform.datastore, actor=city.officer, entry_id=firms, path=path, filename=path.name
    )
    assert stored.status == "stored"
    with platform.uow() as uow:
        _key, raw = keys.create_key(uow, actor=alice, data=AppKeyCreate(name="测试"))
        uow.commit()
    ring = keys.KeyRing()
    with platform.uow(writes=False) as uow:
        key = ring.authenticate(uow, raw)
        with pytest.raises(AccessNotGranted):
            open_access(uow, entry_id=firms, key=key, mode=DeliveryMode.API)
    app_id = apply(platform, alice, firms, fields=[NAME, LEGAL])
    run(platform, svc.approve, actor=city.officer, application_id=app_id,
        data=ApproveInput(fields=[NAME]))  # fmt: skip
    grant = load(platform, alice, app_id).grant
    with platform.uow(writes=False) as uow:
        granted = open_access(uow, entry_id=firms, key=key, mode=DeliveryMode.API)
        assert [f.name for f in granted.fields] == [NAME]  # only what was approved
        assert grant is not None and granted.grant_id == grant.id
        with pytest.raises(AccessNotGranted):
            open_access(uow, entry_id=firms, key=key, mode=DeliveryMode.FILE)


def test_an_entry_under_revision_counts_with_the_stricter_open_type(
    platform: Platform, city: City, alice: Actor, firms: str
) -> None:
    bus = make_entry(platform, city)
    # The bus stops' working copy turns conditional: it applies at once, before publication.
    with platform.uow() as uow:
        catalog.update_entry(
            uow, actor=city.officer, entry_id=bus,
            data=entry_input(open_type="conditional", open_conditions="仅限研究"),
        )  # fmt: skip
    apply(platform, alice, bus, fields=["站点名称"])
    # The register's working copy widens to unconditional: not before it is published.
    with platform.uow() as uow:
        catalog.update_entry(
            uow, actor=city.officer, entry_id=firms,
            data=entry_input(name="企业登记信息", fields=[{"name": NAME, "type": "string"}]),
        )  # fmt: skip
    apply(platform, alice, firms, fields=[LEGAL])  # the published fields still apply
    publish(platform, city, firms)
    with pytest.raises(ApplicationNotNeeded):
        apply(platform, alice, firms, fields=[NAME], delivery="file")
