"""The demo's base data: elements with sources, registers and copies as uploaded, planted errors
found by the assessments, objections in three states. The demo is loaded once per database."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

import pytest
import sqlalchemy as sa

from gongshu.bootstrap import Platform
from gongshu.catalog.models import Entry
from gongshu.datastore.models import DatasetVersion, IngestRun
from gongshu.identity.authz import Actor
from gongshu.identity.models import Organisation, User
from gongshu.quality import basedata, elements
from gongshu.quality.models import DataElement, Objection, QualityReport
from tests.demo.demo_home import demo_platform
from tests.factories import actor

POPULATION, ENTERPRISES, COMPONENTS = "常住人口基本信息", "企业登记注册信息", "城市管理部件信息"
ENROLMENT, PENALTIES, STATIONS = (
    "义务教育入学登记信息",
    "生态环境行政处罚信息",
    "朝阳区养老服务驿站信息",
)
UPLOADS = {
    POPULATION: "北京市公安局",
    ENTERPRISES: "北京市市场监督管理局",
    COMPONENTS: "北京市城市管理委员会",
    ENROLMENT: "北京市教育委员会",
    PENALTIES: "北京市生态环境局",
    STATIONS: "朝阳区",
}


@dataclass
class Demo:
    platform: Platform
    admin: Actor

    def assessed(self, entry_name: str) -> Assessed:
        """The entry's one version as assessed (read before the unit of work closes)."""
        with self.platform.uow() as uow:
            version, report = uow.session.execute(
                sa.select(DatasetVersion, QualityReport)
                .join(Entry, Entry.id == DatasetVersion.entry_id)
                .join(QualityReport, QualityReport.version_id == DatasetVersion.id)
                .where(Entry.name == entry_name)
            ).one()
            return Assessed(version.quarantined_rows, report.results, report.source_findings)


@dataclass
class Assessed:
    quarantined_rows: int
    results: list[dict[str, Any]]
    source_findings: dict[str, Any]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    platform = demo_platform(request, tmp_path_factory, "demo-basedata")
    try:
        yield Demo(platform, actor(platform, "bureau_admin"))
    finally:
        platform.dispose()


def _results(report: Assessed, field: str) -> dict[str, dict[str, Any]]:
    return {r["kind"]: r for r in report.results if r["fields"] == [field]}


def _checks(report: Assessed) -> dict[str, tuple[int, int]]:
    return {c["field"]: (c["matched"], c["disagreeing"]) for c in report.source_findings["checks"]}


def test_every_catalogue_element_is_registered_with_its_source(demo: Demo) -> None:
    text = resources.files("gongshu.demo").joinpath("data", "catalog-elements.csv").read_text()
    codes = {row["编码"] for row in csv.DictReader(io.StringIO(text))}
    with demo.platform.uow() as uow:
        found = {
            e.code: (org, entry, e.source_key, e.pattern)
            for e, org, entry in uow.session.execute(
                sa.select(DataElement, Organisation.name, Entry.name)
                .join(Organisation, Organisation.id == DataElement.source_id)
                .outerjoin(Entry, Entry.id == DataElement.source_entry_id)
            )
        }
        claims = elements.foreign_claims(uow, actor=demo.admin)
    assert set(found) == codes
    assert found["DE00001"] == ("北京市公安局", POPULATION, "公民身份号码", None)
    assert found["DE00004"][:3] == ("北京市公安局", POPULATION, "公民身份号码")
    assert found["DE00010"][:3] == ("北京市市场监督管理局", ENTERPRISES, "统一社会信用代码")
    assert found["DE00041"] == (
        "北京市城市管理委员会",
        COMPONENTS,
        "部件标识码",
        basedata.COMPONENT_CODE_PATTERN,
    )
    assert found["DE00007"][1:3] == (None, None)  # 居住地址: no register holds it
    # 市教委's list claims the police's elements: the one-source report names it.
    assert {(c["entry_name"], c["element_code"]) for c in claims} >= {
        (ENROLMENT, "DE00001"), (ENROLMENT, "DE00002"), (PENALTIES, "DE00009"),
    }  # fmt: skip


def test_registers_and_copies_are_uploaded_by_their_own_departments(demo: Demo) -> None:
    with demo.platform.uow() as uow:
        rows = uow.session.execute(
            sa.select(Entry.name, Organisation.name, User.username, IngestRun.report)
            .join(DatasetVersion, DatasetVersion.entry_id == Entry.id)
            .join(Organisation, Organisation.id == Entry.provider_id)
            .join(User, User.id == DatasetVersion.created_by_id)
            .join(IngestRun, IngestRun.version_id == DatasetVersion.id)
            .where(Entry.name.in_(UPLOADS))  # the open data stage uploads files of its own
        ).all()
    assert {name: provider for name, provider, _, _ in rows} == UPLOADS
    users = {name: user for name, _, user, _ in rows}
    assert users[STATIONS] == "district_officer" and users[POPULATION] == "police_officer"
    reports = {name: report for name, _, _, report in rows}
    assert (reports[POPULATION]["format"], reports[POPULATION]["encoding"]) == ("csv", "gb18030")
    assert (reports[ENTERPRISES]["format"], reports[ENTERPRISES]["header_rows"]) == ("xlsx", 1)
    assert reports[ENTERPRISES]["rows_stored"] == 201
    assert reports[STATIONS]["rows_quarantined"] == 1
    assert reports[STATIONS]["errors"][0]["value"] == "十二张"


def test_the_registries_leave_out_and_count_bad_keys(demo: Demo) -> None:
    with demo.platform.uow() as uow:
        built = basedata.registries(uow, demo.platform.datastore, actor=demo.admin)
    counts = {g.kind: (g.entry_name, g.rows, g.duplicates, g.invalid, g.blank) for g in built}
    assert counts == {
        "person": (POPULATION, 1000, 3, 1, 1),
        "enterprise": (ENTERPRISES, 200, 1, 0, 0),
        "component": (COMPONENTS, 238, 2, 1, 1),
    }
    population = demo.assessed(POPULATION)
    assert _results(population, "公民身份号码")["citizen_id"]["failed"] == 1
    parts = demo.assessed(COMPONENTS)
    assert _results(parts, "部件标识码")["regex"]["failed"] == 1


def test_the_copies_assessments_find_the_planted_errors(demo: Demo) -> None:
    enrolment = demo.assessed(ENROLMENT)
    assert _checks(enrolment) == {"姓名": (60, 1), "出生日期": (60, 3), "户籍地址": (60, 0)}
    assert _results(enrolment, "公民身份号码")["reference"]["failed"] == 0
    fines = demo.assessed(PENALTIES)
    uscc = _results(fines, "统一社会信用代码")
    assert (uscc["uscc"]["failed"], uscc["reference"]["checked"], uscc["reference"]["failed"]) == (
        1, 24, 2,
    )  # fmt: skip
    care = demo.assessed(STATIONS)
    assert care.quarantined_rows == 1
    uscc = _results(care, "统一社会信用代码")
    assert (uscc["uscc"]["failed"], uscc["reference"]["failed"]) == (1, 1)
    with demo.platform.uow() as uow:
        firms = {c.entry_name: c for c in basedata.copies(uow, actor=demo.admin, kind="enterprise")}
        people = {c.entry_name: c for c in basedata.copies(uow, actor=demo.admin, kind="person")}
    assert (firms[PENALTIES].invalid_keys, firms[PENALTIES].unknown_keys) == (1, 2)
    assert (firms[STATIONS].invalid_keys, firms[STATIONS].unknown_keys) == (1, 1)
    assert (people[ENROLMENT].disagreeing, people[ENROLMENT].unknown_keys) == (4, 0)


def test_objections_on_the_copies_stand_in_three_states(demo: Demo) -> None:
    with demo.platform.uow() as uow:
        rows = uow.session.execute(
            sa.select(Entry.name, Objection.status, Objection.flagged, Objection.field_name)
            .join(Entry, Entry.id == Objection.entry_id)
            .where(Objection.handler_org_id == Entry.provider_id)
        ).all()
    assert sorted(rows) == sorted([
        (ENROLMENT, "flagged", True, "姓名"),
        (PENALTIES, "corrected", True, "统一社会信用代码"),
        (STATIONS, "raised", False, "统一社会信用代码"),
    ])  # fmt: skip


def test_the_operator_persona_computes_on_the_population_in_the_sandbox(demo: Demo) -> None:
    from gongshu.sandbox import history, service, shared_models

    platform = demo.platform
    operator = actor(platform, "operator")
    with platform.uow() as uow:
        population, code = uow.session.execute(
            sa.select(Entry.id, Entry.resource_code).where(Entry.name == POPULATION)
        ).one()
        grants = {
            g.release_policy: g
            for g in history.sandbox_grants(uow, actor=operator)
            if g.entry_ref == population
        }
        (model,) = shared_models.list_models(uow, actor=operator)
        model_grant = next(
            g.id
            for g in history.sandbox_grants(uow, actor=operator)
            if g.entry_ref == shared_models.model_ref(model.id)
        )
        aggregate, dp, model_id = grants["aggregate"].id, grants["dp"].id, model.id
    sql = f'SELECT 性别, count(*) AS n FROM "{code}" GROUP BY 性别 ORDER BY 性别'
    result = service.run_query(platform.sandbox, actor=operator, grant_id=aggregate, sql=sql)
    assert [row[0] for row in result.rows] == ["女", "男"]
    assert 900 < sum(row[1] for row in result.rows) <= 1010
    counts = f'SELECT 性别, count(*) AS n FROM "{code}" GROUP BY 性别'
    noisy = service.run_query(platform.sandbox, actor=operator, grant_id=dp, sql=counts)
    assert noisy.epsilon_spent == pytest.approx(0.5) and noisy.budget_left == pytest.approx(2.5)
    by_model = shared_models.run_model(
        platform.sandbox, actor=operator, model_id=model_id, grant_id=model_grant,
        params={"sex": "女"},
    )  # fmt: skip
    assert by_model.columns == ["学历", "人数"] and by_model.rows
