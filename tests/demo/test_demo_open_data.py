"""The demo's open data: published open entries carry files whose columns are their fields,
uploaded by their providers' officers; the values pass the quality rules and agree with the
enterprise register; 不予开放 entries get nothing; the same seed makes the same files.

The demo is loaded once per database; the stage then runs a second time on a freshly built
city of the same seed, which must find every file already stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from statistics import mean

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from gongshu.bootstrap import Platform
from gongshu.catalog.models import Entry
from gongshu.catalog.vocab import OpenType
from gongshu.datastore.models import DatasetVersion
from gongshu.demo.citydata import build_city
from gongshu.demo.open_data import NOTE, OpenDataSummary, load_open_data, open_entry_names
from gongshu.identity.models import Membership, Organisation
from gongshu.quality.models import QualityReport
from tests.demo.demo_home import demo_platform
from tests.factories import actor

OPEN = (OpenType.UNCONDITIONAL.value, OpenType.CONDITIONAL.value)
AIR_QUALITY = "空气质量小时监测数据"


@dataclass
class Demo:
    platform: Platform
    again: OpenDataSummary  # the second run of the stage
    reports: list[tuple[str, int, int]]  # its progress


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    platform = demo_platform(request, tmp_path_factory, "demo-open-data")
    try:
        reports: list[tuple[str, int, int]] = []
        again = load_open_data(
            platform.uow, platform.datastore, admin=actor(platform, "bureau_admin"),
            city=build_city(2025), passwords=platform.passwords,
            progress=lambda stage, done, total: reports.append((stage, done, total)),
        )  # fmt: skip
        yield Demo(platform, again, reports)
    finally:
        platform.dispose()


@dataclass(frozen=True)
class Upload:
    """A version the stage uploaded, with what the tests need of its entry."""

    entry_id: str
    name: str
    open_type: str
    published: bool
    provider_id: str
    fields: list[tuple[str, str]]
    version_id: str
    number: int
    columns: list[tuple[str, str]]
    rows: int
    quarantined_rows: int
    created_by_id: str | None


def _ours(demo: Demo) -> list[Upload]:
    """Every version the stage uploaded."""
    with demo.platform.uow() as uow:
        found = uow.session.execute(
            sa.select(Entry, DatasetVersion)
            .options(selectinload(Entry.fields))
            .join(DatasetVersion, DatasetVersion.entry_id == Entry.id)
            .where(DatasetVersion.note == NOTE)
        ).all()
        return [
            Upload(e.id, e.name, e.open_type, e.published_version is not None, e.provider_id,
                   [(f.name, f.type) for f in e.fields], v.id, v.number,
                   [(c["name"], c["type"]) for c in v.columns], v.rows, v.quarantined_rows,
                   v.created_by_id)
            for e, v in found
        ]  # fmt: skip


def test_every_covered_open_entry_has_a_file_with_exactly_its_fields(demo: Demo) -> None:
    ours = _ours(demo)
    assert len(ours) >= 50
    assert {u.entry_id for u in ours} == set(demo.again.versions)
    for upload in ours:
        assert upload.open_type in OPEN and upload.published, upload.name
        assert upload.columns == upload.fields, upload.name
        assert upload.rows == demo.again.rows[upload.entry_id] > 0, upload.name
        assert upload.quarantined_rows == 0, upload.name
    rows = {u.name: u.rows for u in ours}
    assert rows[AIR_QUALITY] == 70 * 30 * 24  # 70 stations, hourly for 30 days
    assert sum(100 <= n <= 10_000 for n in rows.values()) >= 30


def test_files_cover_every_theme_department_and_district_with_open_entries(demo: Demo) -> None:
    with demo.platform.uow() as uow:
        published = uow.session.execute(
            sa.select(Entry.id, Entry.theme, Entry.provider_id, Entry.district_id).where(
                Entry.published_version.is_not(None), Entry.open_type.in_(OPEN)
            )
        ).all()
        with_data = set(uow.session.scalars(sa.select(DatasetVersion.entry_id)))
        municipal = set(
            uow.session.scalars(sa.select(Organisation.id).where(Organisation.kind != "district"))
        )
    ours = set(demo.again.versions)
    assert {t for i, t, _, _ in published if i in ours} == {t for _, t, _, _ in published}
    providers = {p for _, _, p, d in published if d is None and p in municipal}
    assert {p for i, _, p, _ in published if i in ours} >= providers
    districts_known = {d for i, _, _, d in published if d and i in ours}
    assert len(districts_known) >= 12
    for district in {d for _, _, _, d in published if d}:
        entries = [i for i, _, _, d in published if d == district]
        names = {_template(demo, i) for i in entries}
        if names & set(open_entry_names()):  # a district catalogue the stage knows
            assert any(i in with_data for i in entries), district


def _template(demo: Demo, entry_id: str) -> str:
    with demo.platform.uow() as uow:
        name, district = uow.session.execute(
            sa.select(Entry.name, Organisation.name)
            .join(Organisation, Organisation.id == Entry.district_id)
            .where(Entry.id == entry_id)
        ).one()
    return str(name).replace(district, "{区}", 1)


def test_entries_not_open_or_not_published_get_no_file(demo: Demo) -> None:
    with demo.platform.uow() as uow:
        wrong = uow.session.scalars(
            sa.select(Entry.name)
            .join(DatasetVersion, DatasetVersion.entry_id == Entry.id)
            .where(DatasetVersion.note == NOTE)
            .where(
                sa.or_(Entry.open_type == OpenType.NONE.value, Entry.published_version.is_(None))
            )
        ).all()
        closed = uow.session.scalar(
            sa.select(sa.func.count()).where(Entry.open_type == OpenType.NONE.value)
        )
    assert wrong == []
    assert closed and closed > 50  # the catalogue has 不予开放 entries to leave alone


def test_base_data_registers_keep_their_own_uploads(demo: Demo) -> None:
    assert "朝阳区养老服务驿站信息" in demo.again.skipped
    with demo.platform.uow() as uow:
        notes = uow.session.scalars(
            sa.select(DatasetVersion.note)
            .join(Entry, Entry.id == DatasetVersion.entry_id)
            .where(Entry.name.in_(["企业登记注册信息", "朝阳区养老服务驿站信息"]))
        ).all()
    assert notes and NOTE not in notes


def test_files_are_uploaded_by_an_officer_of_the_providing_body(demo: Demo) -> None:
    with demo.platform.uow() as uow:
        seats = set(uow.session.execute(sa.select(Membership.user_id, Membership.organisation_id)))
    admin = actor(demo.platform, "bureau_admin").user_id
    for upload in _ours(demo):
        assert upload.created_by_id != admin, upload.name
        assert (upload.created_by_id, upload.provider_id) in seats, upload.name


def test_values_pass_the_quality_rules_and_agree_with_the_register(demo: Demo) -> None:
    with demo.platform.uow() as uow:
        reports = {
            version_id: (overall, results, findings or {})
            for version_id, overall, results, findings in uow.session.execute(
                sa.select(
                    QualityReport.version_id, QualityReport.overall, QualityReport.results,
                    QualityReport.source_findings,
                ).where(QualityReport.version_id.in_(list(demo.again.versions.values())))
            )
        }  # fmt: skip
    assert set(reports) == set(demo.again.versions.values())
    scores = sorted(overall or 0.0 for overall, _, _ in reports.values())
    assert scores[0] >= 90, scores[:5]
    assert mean(scores) >= 97
    checks = [check for _, _, findings in reports.values() for check in findings.get("checks", [])]
    for _, results, _ in reports.values():
        errors = [r for r in results if r["severity"] == "error" and r["failed"]]
        assert errors == [], errors
    assert [c for c in checks if c["disagreeing"]] == []
    assert sum(c["matched"] for c in checks if c["field"] == "企业名称") > 300


def test_the_same_seed_makes_the_same_files(demo: Demo) -> None:
    assert demo.again.stored == 0
    for upload in _ours(demo):
        assert demo.again.versions[upload.entry_id] == upload.version_id, upload.name
        assert upload.number == 1, upload.name
    total = len(demo.again.versions)
    assert demo.reports[0] == ("open data", 0, total)
    assert demo.reports[-1] == ("open data", total, total)
