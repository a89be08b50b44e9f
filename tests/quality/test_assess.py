"""Each stored version is assessed: profile, default and declared rules, scores, one source."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gongshu.bootstrap import Platform
from gongshu.catalog import service as catalog
from gongshu.datastore import service as datastore
from gongshu.kernel.errors import InvalidInput, PermissionDenied
from gongshu.kernel.identifiers import make_citizen_id
from gongshu.quality import elements, league, service
from gongshu.quality.models import QualityReport
from tests.factories import City, entry_input, publish

PEOPLE = [
    {"name": "公民身份号码", "type": "string", "flags": ["identifier"], "element_code": "DE0001"},
    {"name": "姓名", "type": "string", "flags": ["sensitive"]},
    {"name": "性别", "type": "string", "element_code": "DE0002"},
    {"name": "年龄", "type": "integer"},
]


def _entry(platform: Platform, city: City, actor_name: str, name: str) -> str:
    actor = getattr(city, actor_name)
    provider = "transport" if actor_name == "officer" else "health"
    with platform.uow() as uow:
        entry = catalog.create_entry(
            uow, actor=actor,
            data=entry_input(name=name, provider=provider, fields=PEOPLE, open_type="none",
                             impact={"rights": "serious"}),
        )  # fmt: skip
        uow.commit()
        entry_id = entry.id
    publish(platform, city, entry_id)
    return entry_id


def _people(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    lines = ["公民身份号码,姓名,性别,年龄"] + [",".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _ingest(platform: Platform, actor: object, entry_id: str, path: Path) -> str:
    outcome = datastore.ingest_file(
        platform.datastore,
        actor=actor,
        entry_id=entry_id,
        path=path,
        filename=path.name,  # type: ignore[arg-type]
    )
    return str(outcome.version_id)


IDS = [make_citizen_id("110105", date(1990, 1, 1 + n), 100 + n) for n in range(5)]


def test_a_stored_version_gets_its_report_with_withheld_values_and_scores(
    platform: Platform, city: City, tmp_path: Path
) -> None:
    entry_id = _entry(platform, city, "officer", "公交卡实名信息")
    bad_id = IDS[1][:-1] + ("0" if IDS[1][-1] != "0" else "1")
    path = _people(tmp_path / "p.csv", [(IDS[0], "甲", "男", "30"), (bad_id, "乙", "女", ""),
                                        (IDS[2], "丙", "男", "41")])  # fmt: skip
    version_id = _ingest(platform, city.officer, entry_id, path)
    with platform.uow() as uow:
        report = service.report_for(uow, actor=city.officer, version_id=version_id)
        assert report is not None and report.rows == 3
        columns = {c["name"]: c for c in report.profile["columns"]}
        assert columns["公民身份号码"]["top_values"] is None
        assert columns["公民身份号码"]["withheld"]
        assert columns["性别"]["top_values"]
        results = {(r["kind"], tuple(r["fields"])): r for r in report.results}
        assert results[("citizen_id", ("公民身份号码",))]["failed"] == 1
        assert results[("completeness", ("年龄",))]["failed"] == 1
        dims = report.scores["dimensions"]
        assert dims["validity"] is not None and dims["validity"] < 100
        assert report.overall is not None and 0 < report.overall < 100


def test_declared_rules_are_checked_before_they_are_saved_and_then_applied(
    platform: Platform, city: City, tmp_path: Path
) -> None:
    entry_id = _entry(platform, city, "officer", "公交卡实名信息")
    with platform.uow() as uow, pytest.raises(InvalidInput) as error:
        service.update_rules(
            uow, actor=city.officer, entry_id=entry_id,
            rules=[{"kind": "range", "fields": ["年龄"], "params": {"min": 0, "max": 150}},
                   {"kind": "code_list", "fields": ["性 别"], "params": {"values": ["男", "女"]}}],
        )  # fmt: skip
    assert "rule 2" in error.value.message
    with platform.uow() as uow:
        service.update_rules(
            uow, actor=city.officer, entry_id=entry_id,
            rules=[{"kind": "range", "fields": ["年龄"], "params": {"min": 0, "max": 120}}],
        )  # fmt: skip
        uow.commit()
    path = _people(tmp_path / "p.csv", [(IDS[0], "甲", "男", "130"), (IDS[1], "乙", "女", "20")])
    version_id = _ingest(platform, city.officer, entry_id, path)
    with platform.uow() as uow:
        report = uow.session.get(QualityReport, version_id)
        assert report is not None
        ranged = [r for r in report.results if r["kind"] == "range"]
        assert ranged and ranged[0]["failed"] == 1


def test_values_that_disagree_with_the_authoritative_source_are_reported(
    platform: Platform, city: City, tmp_path: Path
) -> None:
    source_id = _entry(platform, city, "health_officer", "居民健康档案基本信息")
    golden = [(IDS[0], "甲", "男", "30"), (IDS[1], "乙", "女", "20"), (IDS[2], "丙", "男", "41")]
    _ingest(platform, city.health_officer, source_id, _people(tmp_path / "golden.csv", golden))
    with platform.uow() as uow:
        for code, name, key in (
            ("DE0001", "公民身份号码", None),
            ("DE0002", "性别", "公民身份号码"),
        ):
            elements.save_element(
                uow, actor=city.admin,
                data=elements.ElementInput(code=code, name=name, source="health",
                                           source_entry_id=source_id, source_key=key),
            )  # fmt: skip
        uow.commit()
    copy_id = _entry(platform, city, "officer", "公交卡实名信息")
    version_id = _ingest(platform, city.officer, copy_id,
                         _people(tmp_path / "copy.csv", [(IDS[0], "甲", "女", "30"),
                                                         (IDS[1], "乙", "女", "20")]))  # fmt: skip
    with platform.uow() as uow:
        report = uow.session.get(QualityReport, version_id)
        assert report is not None
        (check,) = report.source_findings["checks"]
        assert (check["element_code"], check["matched"], check["disagreeing"]) == ("DE0002", 2, 1)
        assert check["examples"][0]["source_value"] == "男"
        assert IDS[0] not in str(check["examples"])  # keys are masked
        claims = elements.foreign_claims(uow, actor=city.admin)
        assert {(c["entry_id"], c["element_code"]) for c in claims} == {
            (copy_id, "DE0001"),
            (copy_id, "DE0002"),
        }


def test_the_league_ranks_departments_for_the_bureau_only(
    platform: Platform, city: City, tmp_path: Path
) -> None:
    good = _entry(platform, city, "health_officer", "居民健康档案基本信息")
    _ingest(platform, city.health_officer, good,
            _people(tmp_path / "g.csv", [(IDS[0], "甲", "男", "30")]))  # fmt: skip
    poor = _entry(platform, city, "officer", "公交卡实名信息")
    rows = [("123", "", "", ""), (IDS[1], "乙", "女", "")]
    _ingest(platform, city.officer, poor, _people(tmp_path / "b.csv", rows))
    with platform.uow() as uow:
        table = league.league(uow, actor=city.admin)
        assert [r.name for r in table] == ["市卫生健康委", "市交通委"]
        assert table[0].overall is not None and table[1].overall is not None
        assert table[0].overall > table[1].overall and table[1].worst_entry_id == poor
        with pytest.raises(PermissionDenied):
            league.league(uow, actor=city.officer)


def test_the_profile_takes_the_rule_scans_counts_and_never_waits_for_failed_rules(
    platform: Platform, city: City, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from gongshu.quality import profile

    # Counted approximately from two rows up, and no column has few values: the citizen IDs,
    # read by the rules in numpy, are counted there for the profile.
    monkeypatch.setattr(profile, "EXACT_DISTINCT_ROWS", 1)
    monkeypatch.setattr(profile, "FEW_VALUES", 0)
    handed: list[dict[str, object]] = []
    real = service.profile_parquet

    def spying(*args: Any, counts: Any, **kwargs: Any) -> Any:
        def counted() -> Any:
            handed.append(dict(counts()))
            return handed[-1]

        return real(*args, counts=counted, **kwargs)

    monkeypatch.setattr(service, "profile_parquet", spying)
    entry_id = _entry(platform, city, "officer", "公交卡实名信息")
    rows = [(IDS[n % 3], "甲", "男", "30") for n in range(6)] + [("", "乙", "女", "1")]
    version_id = _ingest(platform, city.officer, entry_id, _people(tmp_path / "p.csv", rows))
    with platform.uow() as uow:
        report = service.report_for(uow, actor=city.officer, version_id=version_id)
        assert report is not None
        column = {c["name"]: c for c in report.profile["columns"]}["公民身份号码"]
        assert (column["nulls"], column["distinct"], column["distinct_approx"]) == (1, 3, False)
    assert [sorted(found) for found in handed] == [["公民身份号码"]]
    assert handed[0]["公民身份号码"].present == 6  # type: ignore[attr-defined]

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the rules broke")

    monkeypatch.setattr(service, "evaluate", broken)
    outcome: list[BaseException] = []

    def assess() -> None:
        try:
            service.assess_version(platform.datastore, version_id=version_id)
        except BaseException as error:  # handed to the test thread
            outcome.append(error)

    worker = threading.Thread(target=assess, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the profile waited for counts that never came"
    assert [str(error) for error in outcome] == ["the rules broke"]
