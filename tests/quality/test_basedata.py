"""Golden registries of base data: built from the authoritative source, memoised, referenced."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from gongshu.bootstrap import Platform
from gongshu.catalog import service as catalog
from gongshu.datastore import service as datastore
from gongshu.identity.authz import Actor
from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.identifiers import make_citizen_id, make_uscc
from gongshu.quality import basedata, elements, service
from gongshu.quality.models import QualityReport
from gongshu.quality.profile import FieldSpec
from gongshu.quality.rules import parse_rule
from tests.factories import City, entry_input

PEOPLE = [
    {"name": "公民身份号码", "type": "string", "flags": ["identifier"], "element_code": "P01"},
    {"name": "姓名", "type": "string", "flags": ["identifier"], "element_code": "P02"},
    {"name": "性别", "type": "string"},
]
FIRMS = [
    {"name": "统一社会信用代码", "type": "string", "element_code": "E01"},
    {"name": "企业名称", "type": "string", "element_code": "E02"},
]
PARTS = [
    {"name": "部件标识码", "type": "string", "element_code": "C01"},
    {"name": "部件名称", "type": "string"},
]
IDS = [make_citizen_id("110105", date(1980, 3, 1 + n), 200 + n) for n in range(4)]
USCCS = [make_uscc("91", "110105", f"MA01K{n}P2") for n in range(4)]
UNREGISTERED = make_uscc("91", "110108", "MA01W7Q3")
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _wrong_check(code: str) -> str:
    return code[:-1] + ("1" if code[-1] != "1" else "2")


def _entry(platform: Platform, city: City, name: str, fields: list[dict[str, Any]]) -> str:
    actor = city.officer if name.startswith("公交") else city.health_officer
    provider = "transport" if actor is city.officer else "health"
    with platform.uow() as uow:
        entry = catalog.create_entry(
            uow, actor=actor,
            data=entry_input(name=name, provider=provider, fields=fields, open_type="none",
                             impact={"rights": "serious"}),
        )  # fmt: skip
        uow.commit()
        return entry.id


def _csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _ingest(platform: Platform, actor: Actor, entry_id: str, path: Path) -> str:
    outcome = datastore.ingest_file(
        platform.datastore, actor=actor, entry_id=entry_id, path=path, filename=path.name
    )
    return outcome.version_id


def _element(platform: Platform, city: City, code: str, name: str, entry_id: str) -> None:
    with platform.uow() as uow:
        elements.save_element(
            uow, actor=city.admin,
            data=elements.ElementInput(code=code, name=name, source="health",
                                       source_entry_id=entry_id, source_key=None),
        )  # fmt: skip
        uow.commit()


def _rows(path: Path, sql: str = "SELECT * FROM t") -> list[tuple[Any, ...]]:
    with duckdb.connect() as con:
        con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{path}')")
        return con.execute(sql).fetchall()


def _population(platform: Platform, city: City, tmp_path: Path) -> str:
    """The person registry's source: duplicates, a bad check character, a blank, a full-width ID."""
    source_id = _entry(platform, city, "户籍人口登记信息", PEOPLE)
    rows = [
        f"{IDS[0]},甲,男",
        f"{IDS[1]},乙旧名,女",
        f"{_wrong_check(IDS[2])},丙,男",
        ",无号,女",
        f" {IDS[3].translate(FULL_WIDTH)} ,丁,男",
        f"{IDS[1].lower()},乙,女",  # the later record for the same person wins
        f"{IDS[2]},丙,男",
    ]
    path = _csv(tmp_path / "population.csv", "公民身份号码,姓名,性别", rows)
    _ingest(platform, city.health_officer, source_id, path)
    _element(platform, city, "P01", "公民身份号码", source_id)
    return source_id


def test_the_person_registry_keeps_one_valid_row_per_citizen_id(
    platform: Platform, city: City, tmp_path: Path
) -> None:
    source_id = _population(platform, city, tmp_path)
    with platform.uow() as uow:
        registry = basedata.golden(uow, platform.datastore, "person")
    assert (registry.kind, registry.entry_id, registry.key) == ("person", source_id, "公民身份号码")
    assert (registry.rows, registry.duplicates, registry.invalid, registry.blank) == (4, 1, 1, 1)
    assert registry.path == platform.datastore.lake.path_of(registry.file_hash)
    assert _rows(registry.path, "SELECT 公民身份号码, 姓名 FROM t") == sorted(
        [(IDS[0], "甲"), (IDS[1], "乙"), (IDS[2], "丙"), (IDS[3], "丁")]
    )
    assert registry.columns == ("公民身份号码", "姓名", "性别")


def test_a_registry_is_memoised_per_source_version(
    platform: Platform, city: City, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source_id = _population(platform, city, tmp_path)
    with platform.uow() as uow:
        first = basedata.golden(uow, platform.datastore, "person")

    def refuse(*_args: object) -> dict[str, Any]:
        raise AssertionError("the registry was built again")

    with monkeypatch.context() as patched, platform.uow() as uow:
        patched.setattr(basedata, "_build", refuse)
        assert basedata.golden(uow, platform.datastore, "person") == first
    # A file gone from the lake is built again, to the same content.
    first.path.unlink()
    with platform.uow() as uow:
        again = basedata.golden(uow, platform.datastore, "person")
    assert again.file_hash == first.file_hash and again.path.is_file()
    # A new version of the source is a new registry.
    path = _csv(tmp_path / "v2.csv", "公民身份号码,姓名,性别", [f"{IDS[0]},甲,男"])
    _ingest(platform, city.health_officer, source_id, path)
    with platform.uow() as uow:
        newer = basedata.golden(uow, platform.datastore, "person")
    assert newer.version_number == 2 and newer.version_id != first.version_id
    assert (newer.rows, newer.duplicates, newer.invalid, newer.blank) == (1, 0, 0, 0)


def test_components_are_checked_by_shape(platform: Platform, city: City, tmp_path: Path) -> None:
    source_id = _entry(platform, city, "城市部件普查信息", PARTS)
    good = ["1101050101000001", "1101050203000002"]
    rows = [
        f"{good[0]},上水井盖",
        f"{good[1]},路灯",
        "110105010100001,短一位",
        "1101050001000003,无大类",
    ]
    _ingest(
        platform,
        city.health_officer,
        source_id,
        _csv(tmp_path / "c.csv", "部件标识码,部件名称", rows),
    )
    _element(platform, city, "C01", "部件标识码", source_id)
    with platform.uow() as uow:
        registry = basedata.golden(uow, platform.datastore, "component")
    assert (registry.rows, registry.invalid, registry.blank) == (2, 2, 0)
    assert [row[0] for row in _rows(registry.path)] == good


def test_a_registry_needs_its_element_its_source_and_data(
    platform: Platform, city: City, tmp_path: Path
) -> None:
    with platform.uow() as uow:
        with pytest.raises(basedata.RegistryNotReady, match="统一社会信用代码"):
            basedata.golden(uow, platform.datastore, "enterprise")
        with pytest.raises(InvalidInput, match="unknown registry 'vehicle'"):
            basedata.golden(uow, platform.datastore, "vehicle")
        assert basedata.registries(uow, platform.datastore, actor=city.admin) == []
    source_id = _entry(platform, city, "企业登记信息", FIRMS)
    _element(platform, city, "E01", "统一社会信用代码", source_id)
    with (
        platform.uow() as uow,
        pytest.raises(basedata.RegistryNotReady, match="no dataset version"),
    ):
        basedata.golden(uow, platform.datastore, "enterprise")


def test_a_reference_rule_may_name_a_registry() -> None:
    fields = [FieldSpec("统一社会信用代码", "string")]
    rule = parse_rule(
        {"kind": "reference", "field": "统一社会信用代码",
         "params": {"registry": "enterprise", "column": "统一社会信用代码"}},
        fields, where="rule 1",
    )  # fmt: skip
    assert dict(rule.params) == {"registry": "enterprise", "column": "统一社会信用代码"}
    wrong = [
        ({"registry": "vehicle", "column": "x"}, "rule 1.params.registry", "vehicle"),
        ({"registry": "person", "entry": "e", "column": "x"}, "rule 1.params.registry", "entry"),
        ({"registry": "person"}, "rule 1.params.column", "column"),
    ]
    for params, path, word in wrong:
        with pytest.raises(InvalidInput) as error:
            parse_rule(
                {"kind": "reference", "field": "统一社会信用代码", "params": params},
                fields, where="rule 1",
            )  # fmt: skip
        assert error.value.details[0]["path"] == path and word in error.value.message


def _firms(platform: Platform, city: City, tmp_path: Path) -> str:
    source_id = _entry(platform, city, "企业登记信息", FIRMS)
    rows = [f"{code},企业{n}" for n, code in enumerate(USCCS)]
    _ingest(
        platform,
        city.health_officer,
        source_id,
        _csv(tmp_path / "f.csv", "统一社会信用代码,企业名称", rows),
    )
    for code, name in (("E01", "统一社会信用代码"), ("E02", "企业名称")):
        with platform.uow() as uow:
            elements.save_element(
                uow, actor=city.admin,
                data=elements.ElementInput(code=code, name=name, source="health",
                                           source_entry_id=source_id,
                                           source_key="统一社会信用代码"),
            )  # fmt: skip
            uow.commit()
    return source_id


def test_a_copy_is_checked_against_the_enterprise_registry(
    platform: Platform, city: City, tmp_path: Path
) -> None:
    source_id = _firms(platform, city, tmp_path)
    copy_id = _entry(platform, city, "公交场站承租企业信息", FIRMS)
    rule = {"kind": "reference", "fields": ["统一社会信用代码"],
            "params": {"registry": "enterprise", "column": "统一社会信用代码"}}  # fmt: skip
    with platform.uow() as uow:
        service.update_rules(uow, actor=city.officer, entry_id=copy_id, rules=[rule])
        uow.commit()
    rows = [
        f"{USCCS[0]},企业0",
        f"{USCCS[1]},企业一",  # disagrees with the registry's name
        f"{_wrong_check(USCCS[2])},企业2",  # invalid check character, so unknown too
        f"{UNREGISTERED},无此企业",  # valid but not registered
        f" {USCCS[3].lower()},企业3",  # registered, written in lower case with a space
    ]
    path = _csv(tmp_path / "copy.csv", "统一社会信用代码,企业名称", rows)
    version_id = _ingest(platform, city.officer, copy_id, path)
    with platform.uow() as uow:
        report = uow.session.get(QualityReport, version_id)
        assert report is not None
        results = {r["kind"]: r for r in report.results if r["fields"] == ["统一社会信用代码"]}
        assert (results["reference"]["checked"], results["reference"]["failed"]) == (5, 2)
        assert results["uscc"]["failed"] == 1
        (found,) = basedata.copies(uow, actor=city.admin, kind="enterprise")
    assert (found.entry_id, found.field, found.version_id) == (
        copy_id,
        "统一社会信用代码",
        version_id,
    )
    assert (found.invalid_keys, found.unknown_keys, found.disagreeing) == (1, 2, 1)
    assert [c["element_code"] for c in found.checks] == ["E02"]
    assert found.checks[0]["source_entry_id"] == source_id


def test_a_reference_to_a_registry_that_is_not_ready_names_the_rule(
    platform: Platform, city: City
) -> None:
    fields = [FieldSpec("统一社会信用代码", "string")]
    rules = [
        parse_rule(
            {
                "id": "在册企业",
                "kind": "reference",
                "field": "统一社会信用代码",
                "params": {"registry": "enterprise", "column": "统一社会信用代码"},
            },
            fields,
            where="rule 1",
        )
    ]
    with platform.uow() as uow, pytest.raises(InvalidInput) as error:
        elements.reference_files(uow, platform.datastore, rules)
    assert error.value.details[0]["path"] == "rules.在册企业"
    assert "enterprise" in error.value.message


def test_copies_list_only_other_entries_with_the_key_element(
    platform: Platform, city: City, tmp_path: Path
) -> None:
    _population(platform, city, tmp_path)
    copy_id = _entry(platform, city, "公交卡实名信息", PEOPLE)
    _entry(platform, city, "公交企业名录", FIRMS)  # holds no citizen ID
    with platform.uow() as uow:
        listed = basedata.copies(uow, actor=city.admin, kind="person")
        assert [(c.entry_id, c.version_id, c.invalid_keys) for c in listed] == [
            (copy_id, None, None)
        ]
        # A draft is seen only by its keepers and the bureau.
        assert basedata.copies(uow, actor=city.health_officer, kind="person") == []
