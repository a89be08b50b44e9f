"""Catalogue use cases: entries, grading, lifecycle with its deadline, versions, ledger."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from gongshu.bootstrap import Platform
from gongshu.catalog import service as catalog
from gongshu.catalog.diff import diff_documents
from gongshu.catalog.errors import DuplicateEntry, EntryNotFound, WrongStatus
from gongshu.catalog.vocab import EntryStatus, Grade, grade_for
from gongshu.identity.errors import NotPermitted
from gongshu.kernel.clock import FixedClock
from gongshu.kernel.errors import InvalidInput
from gongshu.ledger import service as ledger
from gongshu.ledger.models import LedgerEntry
from gongshu.ledger.verify import verify_database
from tests.factories import City, entry_input, publish


def _create(platform: Platform, city: City, **overrides: object) -> str:
    with platform.uow() as uow:
        return catalog.create_entry(uow, actor=city.officer, data=entry_input(**overrides)).id


def test_grade_is_the_highest_over_impact_objects() -> None:
    assert grade_for({}) is Grade.GENERAL_1
    assert grade_for({"rights": "serious"}) is Grade.GENERAL_3  # type: ignore[dict-item]
    assert grade_for({"public_interest": "serious", "rights": "especially_serious"}) is (  # type: ignore[dict-item]
        Grade.IMPORTANT
    )
    assert grade_for({"national_security": "serious"}) is Grade.CORE  # type: ignore[dict-item]
    assert grade_for({"national_security": "general"}) is Grade.IMPORTANT  # type: ignore[dict-item]


def test_officer_registers_a_draft_with_code_and_computed_grade(
    platform: Platform, city: City
) -> None:
    entry_id = _create(platform, city)
    with platform.uow() as uow:
        entry = catalog.get_entry(uow, actor=city.officer, entry_id=entry_id)
        assert entry.status == EntryStatus.DRAFT
        assert entry.grade == Grade.GENERAL_4 == entry.computed_grade
        assert entry.resource_code.startswith("304") and "/" in entry.resource_code
        assert [f.name for f in entry.fields] == ["站点编号", "站点名称", "经度", "纬度"]
        # Drafts are the provider's and the bureau's business only.
        catalog.get_entry(uow, actor=city.admin, entry_id=entry_id)
        with pytest.raises(EntryNotFound):
            catalog.get_entry(uow, actor=city.health_officer, entry_id=entry_id)
        with pytest.raises(NotPermitted):
            catalog.get_entry(uow, actor=city.citizen, entry_id=entry_id)


def test_resource_codes_are_unique_and_sequential(platform: Platform, city: City) -> None:
    first = _create(platform, city)
    second = _create(platform, city, name="公交线路信息")
    with platform.uow() as uow:
        a = catalog.get_entry(uow, actor=city.officer, entry_id=first).resource_code
        b = catalog.get_entry(uow, actor=city.officer, entry_id=second).resource_code
    assert a.split("/")[0] == b.split("/")[0]
    assert int(b.split("/")[1]) == int(a.split("/")[1]) + 1


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"share_type": "none", "delivery": []}, "legal_basis"),
        ({"share_type": "conditional"}, "share_conditions"),
        ({"open_type": "conditional"}, "open_conditions"),
        ({"grade": "important"}, "grade_reason"),
        ({"provider": "no-such-department"}, "provider"),
        ({"impact": {"national_security": "general"}}, "open_type"),
        (
            {"fields": [{"name": "公民身份号码", "flags": ["identifier"]}]},
            "open_type",
        ),
    ],
)
def test_invalid_attributes_are_refused_naming_the_field(
    platform: Platform, city: City, overrides: dict[str, object], path: str
) -> None:
    with pytest.raises((InvalidInput, ValueError)) as info:
        _create(platform, city, **overrides)
    assert path in str(info.value)
    with platform.uow() as uow:
        assert uow.session.scalar(sa.text("SELECT count(*) FROM catalog_entry")) == 0


def test_grade_override_with_a_reason_is_kept(platform: Platform, city: City) -> None:
    entry_id = _create(
        platform, city, grade="important", grade_reason="汇聚后可推断重点人员出行", open_type="none"
    )
    with platform.uow() as uow:
        entry = catalog.get_entry(uow, actor=city.officer, entry_id=entry_id)
        assert (entry.grade, entry.computed_grade) == (Grade.IMPORTANT, Grade.GENERAL_4)
        assert entry.grade_reason == "汇聚后可推断重点人员出行"


def test_duplicate_names_within_a_provider_conflict(platform: Platform, city: City) -> None:
    _create(platform, city)
    with pytest.raises(DuplicateEntry):
        _create(platform, city)
    with platform.uow() as uow:  # another provider may use the same name
        catalog.create_entry(
            uow, actor=city.health_officer, data=entry_input(provider="health", theme="05")
        )


def test_others_cannot_write_for_a_provider(platform: Platform, city: City) -> None:
    with platform.uow() as uow, pytest.raises(NotPermitted):
        catalog.create_entry(uow, actor=city.health_officer, data=entry_input())
    with platform.uow() as uow, pytest.raises(NotPermitted):
        catalog.create_entry(uow, actor=city.auditor, data=entry_input())


def test_lifecycle_with_review_deadline_and_versions(
    platform: Platform, city: City, clock: FixedClock
) -> None:
    entry_id = _create(platform, city)
    with platform.uow() as uow:
        entry = catalog.submit_entry(uow, actor=city.officer, entry_id=entry_id)
    # Submitted on Wednesday 2026-11-25: two working days later is Friday the 27th.
    assert entry.status == EntryStatus.SUBMITTED
    assert entry.review_due == date(2026, 11, 27)
    with platform.uow() as uow, pytest.raises(NotPermitted):
        catalog.approve_entry(uow, actor=city.officer, entry_id=entry_id)
    clock.advance(days=5)  # Monday the 30th: overdue
    with platform.uow() as uow:
        queue = catalog.review_queue(uow, actor=city.admin)
        assert [e.id for e in queue] == [entry_id]
        assert queue[0].review_overdue(catalog.today(uow))
        assert catalog.status_counts(uow, actor=city.admin)["review_overdue"] == 1
    with platform.uow() as uow:
        catalog.return_entry(uow, actor=city.admin, entry_id=entry_id, note="补充字段说明")
    with platform.uow() as uow:
        entry = catalog.get_entry(uow, actor=city.officer, entry_id=entry_id)
        assert (entry.status, entry.review_note) == (EntryStatus.DRAFT, "补充字段说明")
    publish(platform, city, entry_id)
    with platform.uow() as uow:
        entry = catalog.get_entry(uow, actor=city.health_officer, entry_id=entry_id)
        assert (entry.status, entry.published_version) == (EntryStatus.PUBLISHED, 1)
        with pytest.raises(WrongStatus):
            catalog.publish_entry(uow, actor=city.admin, entry_id=entry_id)
    # A revision goes back through review while version 1 stays published.
    with platform.uow() as uow:
        catalog.update_entry(
            uow,
            actor=city.officer,
            entry_id=entry_id,
            data=entry_input(
                summary="全市公交站点的名称、位置和线路信息",
                keywords=["公交", "站点", "无障碍"],
                fields=[
                    {"name": "站点编号", "type": "string", "element_code": "DE10001"},
                    {"name": "站点名称", "type": "string", "description": "中文站名"},
                    {"name": "所属线路", "type": "string"},
                ],
            ),
        )
    with platform.uow() as uow:
        entry = catalog.get_entry(uow, actor=city.health_officer, entry_id=entry_id)
        assert (entry.status, entry.published_version) == (EntryStatus.DRAFT, 1)
    publish(platform, city, entry_id)
    with platform.uow() as uow:
        versions = catalog.list_versions(uow, actor=city.health_officer, entry_id=entry_id)
        assert [v.number for v in versions] == [2, 1]
        changes = {c.key: c for c in diff_documents(versions[1].document, versions[0].document)}
    assert set(changes) == {"summary", "keywords", "fields"}
    assert "<del>和无障碍设施</del>" in str(changes["summary"].inline)
    assert changes["keywords"].added == ("无障碍",) and changes["keywords"].removed == ("出行",)
    fields = {f.name: f for f in changes["fields"].fields}
    assert fields["所属线路"].kind == "added" and fields["经度"].kind == "removed"
    assert fields["站点名称"].kind == "changed"
    with platform.uow() as uow:
        catalog.deprecate_entry(uow, actor=city.officer, entry_id=entry_id, reason="并入新目录")
        entry = catalog.get_entry(uow, actor=city.officer, entry_id=entry_id)
        assert entry.status == EntryStatus.DEPRECATED
        with pytest.raises(WrongStatus):
            catalog.update_entry(uow, actor=city.officer, entry_id=entry_id, data=entry_input())


def test_every_change_is_anchored_in_the_ledger(platform: Platform, city: City) -> None:
    entry_id = _create(platform, city)
    publish(platform, city, entry_id)
    with platform.uow() as uow:
        kinds = uow.session.scalars(
            sa.select(LedgerEntry.kind)
            .where(LedgerEntry.subject_id == entry_id)
            .order_by(LedgerEntry.index)
        ).all()
        assert kinds == ["catalog.create", "catalog.submit", "catalog.review", "catalog.publish"]
        published = uow.session.scalars(
            sa.select(LedgerEntry).where(LedgerEntry.kind == "catalog.publish")
        ).one()
        assert "公交站点基础信息".encode() in published.body
        size = ledger.tree_size(uow, keys=platform.ledger_keys)
        report = verify_database(uow, keys=platform.ledger_keys)
    assert report.ok and report.entries == size >= 4


def test_a_failed_change_leaves_no_ledger_entry(platform: Platform, city: City) -> None:
    with platform.uow() as uow:
        before = ledger.tree_size(uow, keys=platform.ledger_keys)
    with pytest.raises(DuplicateEntry):
        _create(platform, city)
        _create(platform, city)
    with platform.uow() as uow:
        after = ledger.tree_size(uow, keys=platform.ledger_keys)
        entries = uow.session.scalar(sa.text("SELECT count(*) FROM catalog_entry"))
    assert (after - before, entries) == (1, 1)


def test_overdue_data_is_flagged_by_update_frequency(
    platform: Platform, city: City, clock: FixedClock
) -> None:
    entry_id = _create(platform, city, update_frequency="weekly")
    publish(platform, city, entry_id)
    with platform.uow() as uow:
        entry = catalog.get_entry(uow, actor=city.officer, entry_id=entry_id)
        assert entry.overdue_since(clock.now()) is None
    clock.advance(days=8)
    with platform.uow() as uow:
        entry = catalog.get_entry(uow, actor=city.officer, entry_id=entry_id)
        assert entry.overdue_since(clock.now()) is not None


def test_operators_keep_products_not_resources(platform: Platform, city: City) -> None:
    product = entry_input(
        kind="product", provider="operator-co", name="交通出行指数", fields=[], theme="04"
    )
    with platform.uow() as uow:
        entry = catalog.create_entry(uow, actor=city.operator, data=product)
        assert entry.resource_code.startswith("5")
    with platform.uow() as uow, pytest.raises(InvalidInput, match="provider"):
        catalog.create_entry(
            uow, actor=city.operator, data=entry_input(provider="operator-co", name="x资源")
        )


def test_district_entries_carry_the_four_levels(platform: Platform, city: City) -> None:
    data = entry_input(
        provider="110105", name="朝阳区网格事件信息", duty="城市网格化管理",
        system="朝阳区网格化管理系统", table="t_grid_event", theme="18",
    )  # fmt: skip
    with platform.uow() as uow:
        entry = catalog.create_entry(uow, actor=city.district, data=data)
        assert entry.district_id == city.orgs["110105"]
        assert (entry.duty, entry.system, entry.table_name) == (
            "城市网格化管理", "朝阳区网格化管理系统", "t_grid_event"
        )  # fmt: skip
        assert entry.resource_code[6:8] == "05"


def test_related_entries_resolve_by_name_or_code(platform: Platform, city: City) -> None:
    first = _create(platform, city)
    with platform.uow() as uow:
        entry = catalog.create_entry(
            uow,
            actor=city.officer,
            data=entry_input(name="公交线路信息", related=["公交站点基础信息"]),
        )
        assert entry.related == [first]
    with platform.uow() as uow, pytest.raises(InvalidInput, match="related"):
        catalog.create_entry(
            uow, actor=city.officer, data=entry_input(name="地铁站点", related=["不存在的目录"])
        )
