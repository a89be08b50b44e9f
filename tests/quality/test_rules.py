"""Quality rules: parsing errors that name rule and field, defaults, and evaluation on Parquet."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.identifiers import make_citizen_id, make_uscc
from gongshu.quality.profile import FieldSpec, footer_nulls, parquet_columns
from gongshu.quality.rules import (
    DIMENSION_OF,
    Dimension,
    ElementSpec,
    Rule,
    RuleKind,
    RuleResult,
    default_rules,
    evaluate,
    parse_rule,
)

USCC_1, USCC_2 = "91110000802100433B", make_uscc("91", "330106", "MA27X4U3")
CITIZEN_1 = make_citizen_id("330106", date(1980, 5, 17), 123)
CITIZEN_2 = make_citizen_id("330102", date(1992, 2, 29), 456)
CITIZEN_BAD = CITIZEN_1[:17] + ("0" if CITIZEN_1[17] != "0" else "1")

FIELDS = [
    FieldSpec("统一社会信用代码", "string", frozenset({"identifier"})),
    FieldSpec("法定代表人身份证号", "string", frozenset({"identifier"})),
    FieldSpec("企业名称", "string"),
    FieldSpec("从业人数", "integer"),
    FieldSpec("注册资本", "money"),
    FieldSpec("成立日期", "date"),
    FieldSpec("注销日期", "date"),
    FieldSpec("行业代码", "string"),
    FieldSpec("联系电话", "string", frozenset({"sensitive"})),
    FieldSpec("更新时间", "datetime"),
    FieldSpec('a"b', "string"),
    FieldSpec("是否存续", "boolean"),
]


def _write(path: Path, sql: str) -> str:
    with duckdb.connect() as con:
        con.execute(f"COPY ({sql}) TO '{path}' (FORMAT parquet)")
    return str(path)


@pytest.fixture
def registry(tmp_path: Path) -> str:
    """Four companies: row 1 clean, row 2 wrong in many ways, row 3 mostly empty, row 4 clean."""
    return _write(
        tmp_path / "企业登记.parquet",
        f"""
        SELECT "统一社会信用代码", "法定代表人身份证号", "企业名称",
               "从业人数"::BIGINT AS "从业人数", "注册资本"::DECIMAL(38,6) AS "注册资本",
               "成立日期", "注销日期", "行业代码", "联系电话", "更新时间", "a""b", "是否存续"
        FROM (VALUES
          (1, '{USCC_1}', '{CITIZEN_1}', '甲公司', 10, 100, DATE '2020-01-01', NULL::DATE,
           'I64', '13800000001', TIMESTAMP '2024-01-01 08:00:00', 'x', true),
          (2, '{USCC_1}', '{CITIZEN_BAD}', '', -5, 5000000, DATE '2021-05-05', DATE '2021-01-01',
           'X99', '0571-1234', TIMESTAMP '2030-01-01 08:00:00', 'y', true),
          (3, 'BAD', NULL, NULL, NULL, NULL, NULL, DATE '2022-01-01',
           NULL, NULL, NULL, 'x', false),
          (4, '{USCC_2}', '{CITIZEN_2}', '乙公司', 100, 200, DATE '2019-01-01', DATE '2020-01-01',
           'C13', '13900000000', TIMESTAMP '2023-01-01 00:00:00', 'z', true)
        ) AS t(i, "统一社会信用代码", "法定代表人身份证号", "企业名称", "从业人数", "注册资本",
               "成立日期", "注销日期", "行业代码", "联系电话", "更新时间", "a""b", "是否存续")
        ORDER BY i
        """,
    )


def _rule(kind: str, fields: list[str], **params: Any) -> Rule:
    return parse_rule({"kind": kind, "fields": fields, "params": params}, FIELDS, where="rule 1")


def _run(path: str, *rules: Rule, **options: Any) -> list[RuleResult]:
    with duckdb.connect() as con:
        options.setdefault("today", date(2025, 1, 1))
        return evaluate(con, path, list(rules), **options)


def _without_statistics(path: str, tmp_path: Path) -> Path:
    """A copy of the file with the same rows and no statistics in its footer."""
    import pyarrow.parquet as pq

    bare = tmp_path / "bare.parquet"
    pq.write_table(pq.read_table(path), bare, write_statistics=False)
    return bare


def _one(path: str, rule: Rule, **options: Any) -> RuleResult:
    return _run(path, rule, **options)[0]


# --- evaluation, one kind at a time ----------------------------------------------------------


def test_completeness_counts_null_and_blank(registry: str) -> None:
    result = _one(registry, _rule("completeness", ["企业名称"]))
    assert (result.checked, result.failed) == (4, 2)
    assert result.samples == [
        {"row": 2, "field": "企业名称", "value": ""},
        {"row": 3, "field": "企业名称", "value": None},
    ]
    assert _one(registry, _rule("completeness", ["是否存续"])).failed == 0


def test_with_blank_text_stored_as_null_the_footer_counts_what_it_can(
    registry: str, tmp_path: Path
) -> None:
    bare = _without_statistics(registry, tmp_path)
    rules = [
        _rule("completeness", ["企业名称"]),  # a NULL and a blank (not NULL here: read as text)
        _rule("completeness", ['a"b']),  # none missing: no scan needed with a footer
        _rule("completeness", ["注册资本"]),
        _rule("range", ["从业人数"], min=0),  # checked: the footer's non-NULL count
        _rule("cross_field", ["注销日期", "成立日期"], op=">="),
    ]
    for path in (registry, str(bare)):
        found = _run(path, *rules, blank_is_null=True)
        counts = [(r.checked, r.failed) for r in found]
        assert counts == [(4, 1), (4, 0), (4, 1), (3, 1), (2, 1)], path
        assert found[0].samples == [{"row": 3, "field": "企业名称", "value": None}]
        assert found[2].samples == [{"row": 3, "field": "注册资本", "value": None}]
    plain = _run(registry, *rules)  # without: blank text is missing too
    assert [(r.checked, r.failed) for r in plain][:2] == [(4, 2), (4, 0)]


def test_range_and_date_rules_within_the_footers_bounds_need_no_scan(
    registry: str, tmp_path: Path
) -> None:
    from gongshu.quality.rules import _within_bounds

    bare = _without_statistics(registry, tmp_path)
    rules = [
        _rule("range", ["从业人数"], min=-10, max=1000),  # every value within
        _rule("range", ["从业人数"], min=0),  # -5 fails
        _rule("range", ["注册资本"], min=0, max="99999999"),
        _rule("range", ["注册资本"], max="1000000.5"),
        _rule("range", ["成立日期"], min="1990-01-01"),
        _rule("range", ["成立日期"], min="2020-01-01"),
        _rule("date", ["成立日期"], max="today"),
        _rule("date", ["更新时间"], min="2000-01-01", max="2100-01-01"),
        _rule("date", ["更新时间"]),
    ]
    found = _run(registry, *rules)
    assert [(r.checked, r.failed, r.samples) for r in found] == [
        (r.checked, r.failed, r.samples) for r in _run(str(bare), *rules)
    ]
    assert [r.failed == 0 for r in found] == [
        True,
        False,
        True,
        False,
        True,
        False,
        True,
        True,
        False,
    ]
    with duckdb.connect() as con:
        types = parquet_columns(con, registry, ["从业人数", "注册资本", "成立日期", "更新时间"])
        nulls = footer_nulls(con, registry)
        answered = _within_bounds(
            con, registry, list(enumerate(rules)), types, date(2025, 1, 1), nulls
        )
    assert answered == {0, 2, 4, 6, 7}


def test_type_counts_the_ingest_errors_and_a_wrong_column_type(registry: str) -> None:
    plain = _one(registry, _rule("type", ["从业人数"]), type_errors={"从业人数": 1})
    assert (plain.checked, plain.failed) == (4, 1)
    assert _one(registry, _rule("type", ["从业人数"], type="integer")).failed == 0
    wrong = _one(registry, _rule("type", ["从业人数"], type="date"))
    assert (wrong.checked, wrong.failed) == (4, 3)  # every present value is of the wrong type


def test_range_skips_nulls_and_is_inclusive(registry: str) -> None:
    staff = _one(registry, _rule("range", ["从业人数"], min=0, max=100))
    assert (staff.checked, staff.failed) == (3, 1)
    assert staff.samples == [{"row": 2, "field": "从业人数", "value": "-5"}]
    money = _one(registry, _rule("range", ["注册资本"], max="1000000.5"))
    assert (money.checked, money.failed) == (3, 1)
    founded = _one(registry, _rule("range", ["成立日期"], min="2020-01-01"))
    assert founded.samples == [{"row": 4, "field": "成立日期", "value": "2019-01-01"}]
    updated = _one(registry, _rule("range", ["更新时间"], max="2024-01-01T08:00:00"))
    assert updated.failed == 1


def test_code_list_and_regex(registry: str) -> None:
    codes = _one(registry, _rule("code_list", ["行业代码"], values=["I64", "C13"]))
    assert (codes.checked, codes.failed, codes.samples[0]["value"]) == (3, 1, "X99")
    phones = _one(registry, _rule("regex", ["联系电话"], pattern="1[3-9][0-9]{9}"))
    assert (phones.checked, phones.failed, phones.samples[0]["row"]) == (3, 1, 2)
    assert _one(registry, _rule("regex", ['a"b'], pattern="[xyz]")).failed == 0


def test_date_not_in_the_future_and_between(registry: str) -> None:
    future = _one(registry, _rule("date", ["更新时间"]))
    assert (future.checked, future.failed) == (3, 1)
    assert future.samples[0]["row"] == 2
    between = _one(registry, _rule("date", ["成立日期"], min="2020-01-01", max="today"))
    assert (between.checked, between.failed) == (3, 1)
    later = _run(registry, _rule("date", ["更新时间"]), today=date(2030, 1, 1))
    assert later[0].failed == 0


def test_identifier_checks(registry: str) -> None:
    people = _one(registry, _rule("citizen_id", ["法定代表人身份证号"]))
    assert (people.checked, people.failed) == (3, 1)
    assert people.samples == [{"row": 2, "field": "法定代表人身份证号", "value": CITIZEN_BAD}]
    firms = _one(registry, _rule("uscc", ["统一社会信用代码"]))
    assert (firms.checked, firms.failed, firms.samples[0]["value"]) == (4, 1, "BAD")


def test_masked_fields_never_show_values_in_samples(registry: str) -> None:
    rule = _rule("citizen_id", ["法定代表人身份证号"])
    people = _one(registry, rule, masked={"法定代表人身份证号"})
    assert people.samples == [
        {"row": 2, "field": "法定代表人身份证号", "value": None, "withheld": True}
    ]
    assert CITIZEN_BAD not in json.dumps(people.to_json(), ensure_ascii=False)


def test_unique_counts_repeats_and_skips_null_keys(registry: str) -> None:
    single = _one(registry, _rule("unique", ["统一社会信用代码"]))
    assert (single.checked, single.failed) == (4, 1)
    assert single.samples == [
        {"row": 2, "field": "统一社会信用代码", "value": USCC_1, "duplicate_of": 1}
    ]
    pair = _one(registry, _rule("unique", ["统一社会信用代码", 'a"b']))
    assert (pair.checked, pair.failed) == (4, 0)
    quoted = _one(registry, _rule("unique", ['a"b']))
    assert quoted.samples == [{"row": 3, "field": 'a"b', "value": "x", "duplicate_of": 1}]
    with_nulls = _one(registry, _rule("unique", ["注销日期", "是否存续"]))
    assert (with_nulls.checked, with_nulls.failed) == (3, 0)


def test_cross_field_skips_rows_with_a_null(registry: str) -> None:
    result = _one(registry, _rule("cross_field", ["注销日期", "成立日期"], op=">="))
    assert (result.checked, result.failed) == (2, 1)
    assert result.samples == [
        {
            "row": 2,
            "field": "注销日期, 成立日期",
            "value": {"注销日期": "2021-01-01", "成立日期": "2021-05-05"},
        }
    ]
    assert _one(registry, _rule("cross_field", ["注销日期", "成立日期"], op="!=")).failed == 0


def test_reference_values_must_exist_in_the_other_file(registry: str, tmp_path: Path) -> None:
    base = _write(tmp_path / "基础库.parquet", f"SELECT '{USCC_1}' AS \"统一社会信用代码\"")
    rule = parse_rule(
        {
            "id": "在基础库",
            "kind": "reference",
            "field": "统一社会信用代码",
            "params": {"entry": "enterprise-base", "column": "统一社会信用代码"},
        },
        FIELDS,
        where="rule 7",
    )
    result = _one(registry, rule, references={"在基础库": base})
    assert (result.checked, result.failed) == (4, 2)
    assert [sample["row"] for sample in result.samples] == [3, 4]
    by_entry = _one(registry, rule, references={"enterprise-base": base})
    assert by_entry.failed == 2
    numbers = _write(tmp_path / "numbers.parquet", "SELECT 10::BIGINT AS n")
    staff = _rule("reference", ["从业人数"], entry="numbers", column="n")
    assert _one(registry, staff, references={"numbers": numbers}).failed == 2  # -5 and 100
    with pytest.raises(InvalidInput) as caught:
        _one(registry, rule)
    assert "在基础库" in caught.value.message


def test_timeliness_compares_the_version_date_with_the_frequency(registry: str) -> None:
    rule = parse_rule({"kind": "timeliness"}, FIELDS, where="rule 1")
    fresh = _one(registry, rule, version_date=date(2024, 12, 1), update_frequency="monthly")
    assert (fresh.checked, fresh.failed) == (1, 0)
    stale = _one(registry, rule, version_date=date(2024, 11, 29), update_frequency="monthly")
    assert (stale.checked, stale.failed) == (1, 1)
    assert stale.samples[0] | {} == {
        "row": None,
        "field": "",
        "value": "2024-11-29",
        "age_days": 33,
        "allowed_days": 31,
    }
    never = _one(registry, rule, version_date=date(2000, 1, 1), update_frequency="irregular")
    assert never.failed == 0
    unknown = _one(registry, rule)
    assert (unknown.checked, unknown.failed) == (0, 0)
    with pytest.raises(InvalidInput, match="hourly"):
        _one(registry, rule, version_date=date(2024, 1, 1), update_frequency="hourly")


def test_all_row_rules_together_give_the_same_counts_in_order(registry: str) -> None:
    rules = [
        _rule("completeness", ["企业名称"]),
        _rule("unique", ["统一社会信用代码"]),
        _rule("range", ["从业人数"], min=0),
        _rule("uscc", ["统一社会信用代码"]),
        _rule("citizen_id", ["法定代表人身份证号"]),
        _rule("cross_field", ["注销日期", "成立日期"], op=">="),
        _rule("regex", ["联系电话"], pattern="1[0-9]{10}"),
    ]
    together = _run(registry, *rules, samples=1)
    alone = [_one(registry, rule) for rule in rules]
    assert [(r.rule.id, r.checked, r.failed) for r in together] == [
        (r.rule.id, r.checked, r.failed) for r in alone
    ]
    assert all(len(r.samples) <= 1 for r in together)
    assert len(_run(registry, rules[0], samples=0)[0].samples) == 0


def test_a_rule_on_a_column_the_file_lacks_names_it(registry: str) -> None:
    fields = [*FIELDS, FieldSpec("注销原因", "string")]
    rule = parse_rule({"kind": "completeness", "field": "注销原因"}, fields, where="rule 9")
    with pytest.raises(InvalidInput) as caught:
        _one(registry, rule)
    assert "注销原因" in caught.value.message
    assert caught.value.details[0]["column"] == "注销原因"


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "path", "words"),
    [
        ({"kind": "spelling", "field": "企业名称"}, "rule 3.kind", ["spelling", "企业名称"]),
        ({"kind": "completeness", "field": "注册地址"}, "rule 3.fields", ["注册地址"]),
        ({"kind": "completeness"}, "rule 3.fields", ["1"]),
        (
            {"kind": "regex", "field": "联系电话", "params": {"pattern": "1[3-9"}},
            "rule 3.params.pattern",
            ["联系电话", "1[3-9"],
        ),
        (
            {"kind": "regex", "field": "联系电话", "params": {"pattern": "(?<=1)2"}},
            "rule 3.params.pattern",
            ["联系电话"],
        ),
        (
            {"kind": "range", "field": "从业人数", "params": {"min": 10, "max": 5}},
            "rule 3.params",
            ["从业人数", "10", "5"],
        ),
        (
            {"kind": "range", "field": "从业人数", "params": {"min": 1.5}},
            "rule 3.params.min",
            ["从业人数"],
        ),
        ({"kind": "range", "field": "从业人数"}, "rule 3.params", ["从业人数"]),
        (
            {"kind": "range", "field": "企业名称", "params": {"min": 1}},
            "rule 3.fields",
            ["企业名称"],
        ),
        (
            {"kind": "range", "field": "成立日期", "params": {"min": "2020-13-01"}},
            "rule 3.params.min",
            ["成立日期"],
        ),
        (
            {"kind": "code_list", "field": "行业代码", "params": {"values": []}},
            "rule 3.params.values",
            ["行业代码"],
        ),
        (
            {"kind": "cross_field", "fields": ["注销日期", "从业人数"], "params": {"op": ">="}},
            "rule 3.fields",
            ["注销日期", "从业人数"],
        ),
        (
            {"kind": "cross_field", "fields": ["注销日期", "成立日期"], "params": {"op": "=>"}},
            "rule 3.params.op",
            ["注销日期", "=>"],
        ),
        (
            {"kind": "cross_field", "fields": ["是否存续", "是否存续"], "params": {"op": "="}},
            "rule 3.fields",
            ["是否存续"],
        ),
        ({"kind": "cross_field", "fields": ["注销日期"]}, "rule 3.fields", ["2"]),
        ({"kind": "citizen_id", "field": "从业人数"}, "rule 3.fields", ["从业人数"]),
        ({"kind": "date", "field": "从业人数"}, "rule 3.fields", ["从业人数"]),
        (
            {"kind": "reference", "field": "统一社会信用代码", "params": {"entry": "x"}},
            "rule 3.params.column",
            ["统一社会信用代码"],
        ),
        (
            {"kind": "uscc", "field": "统一社会信用代码", "params": {"strict": True}},
            "rule 3.params.strict",
            ["strict", "统一社会信用代码"],
        ),
        (
            {"kind": "uscc", "field": "统一社会信用代码", "severity": "fatal"},
            "rule 3.severity",
            ["fatal", "统一社会信用代码"],
        ),
        (
            {"kind": "uscc", "field": "统一社会信用代码", "colour": "red"},
            "rule 3.colour",
            ["colour", "统一社会信用代码"],
        ),
        (
            {"kind": "type", "field": "从业人数", "params": {"type": "float"}},
            "rule 3.params.type",
            ["float", "从业人数"],
        ),
    ],
)
def test_parse_errors_name_the_rule_and_the_field(
    data: dict[str, Any], path: str, words: list[str]
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_rule(data, FIELDS, where="rule 3")
    assert caught.value.details == [{"path": path, "message": caught.value.details[0]["message"]}]
    assert caught.value.message.startswith(f"{path}: ")
    for word in words:
        assert word in caught.value.message


def test_parse_gives_canonical_params_and_a_default_id() -> None:
    rule = parse_rule(
        {"kind": "range", "field": "注册资本", "params": {"min": "0", "max": 1.50}},
        FIELDS,
        where="rule 1",
    )
    assert rule == Rule("range:注册资本", RuleKind.RANGE, ("注册资本",), {"min": 0, "max": "1.5"})
    dated = parse_rule(
        {"id": "成立日期合理", "kind": "date", "field": "成立日期", "severity": "warning"},
        FIELDS,
        where="rule 2",
    )
    assert (dated.id, dict(dated.params), dated.severity) == (
        "成立日期合理",
        {"max": "today"},
        "warning",
    )
    assert json.loads(json.dumps(dated.to_json(), ensure_ascii=False))["kind"] == "date"
    codes = parse_rule(
        {"kind": "code_list", "field": "行业代码", "params": {"values": ["I64", 1, "I64"]}},
        FIELDS,
        where="rule 3",
    )
    assert codes.params == {"values": ["I64", "1"]}


def test_every_kind_has_a_dimension() -> None:
    assert set(DIMENSION_OF) == set(RuleKind)
    assert DIMENSION_OF[RuleKind.USCC] == Dimension.VALIDITY
    assert DIMENSION_OF[RuleKind.CROSS_FIELD] == Dimension.CONSISTENCY


# --- default rules ---------------------------------------------------------------------------


def test_default_rules_cover_completeness_identifiers_and_elements() -> None:
    fields = [
        FieldSpec("统一社会信用代码", "string"),
        FieldSpec("法定代表人身份证号码", "string"),
        FieldSpec("证件号", "string", element_code="DE0001"),
        FieldSpec("身份证件类型", "string"),
        FieldSpec("性别", "string", element_code="DE0002"),
        FieldSpec("邮编", "string", element_code="DE0003"),
        FieldSpec("人数", "integer", element_code="DE9999"),
    ]
    elements = {
        "DE0001": ElementSpec("DE0001", "公民身份号码", "string"),
        "DE0002": ElementSpec("DE0002", "性别", "string", code_list=("1", "2", "9")),
        "DE0003": ElementSpec("DE0003", "邮政编码", "string", pattern="[0-9]{6}"),
    }
    rules = default_rules(fields, elements=elements)
    kinds = {(rule.kind.value, rule.fields) for rule in rules}
    assert {(k, f) for k, f in kinds if k == "completeness"} == {
        ("completeness", (spec.name,)) for spec in fields
    }
    assert {(k, f) for k, f in kinds if k != "completeness"} == {
        ("uscc", ("统一社会信用代码",)),
        ("citizen_id", ("法定代表人身份证号码",)),
        ("citizen_id", ("证件号",)),
        ("type", ("证件号",)),
        ("type", ("性别",)),
        ("code_list", ("性别",)),
        ("type", ("邮编",)),
        ("regex", ("邮编",)),
    }
    assert all(r.severity == "warning" for r in rules if r.kind == RuleKind.COMPLETENESS)
    assert len({rule.id for rule in rules}) == len(rules)


def test_a_bad_element_pattern_is_reported_for_its_field() -> None:
    fields = [FieldSpec("邮编", "string", element_code="DE0003")]
    elements = {"DE0003": ElementSpec("DE0003", "邮政编码", "string", pattern="[0-9")}
    with pytest.raises(InvalidInput) as caught:
        default_rules(fields, elements=elements)
    assert "邮编" in caught.value.message


def test_a_reference_may_name_a_base_data_registry(registry: str, tmp_path: Path) -> None:
    base = _write(tmp_path / "法人库.parquet", f"SELECT '{USCC_2}' AS \"统一社会信用代码\"")
    column = "统一社会信用代码"
    rule = _rule("reference", [column], registry="enterprise", column=column)
    assert rule.params == {"registry": "enterprise", "column": "统一社会信用代码"}
    result = _one(registry, rule, references={"registry:enterprise": base})
    assert (result.checked, result.failed) == (4, 3)
    for params, path in (
        ({"registry": "planets", "column": "c"}, "rule 1.params.registry"),
        ({"registry": "person", "entry": "x", "column": "c"}, "rule 1.params.registry"),
    ):
        with pytest.raises(InvalidInput) as caught:
            _rule("reference", ["统一社会信用代码"], **params)
        assert caught.value.details[0]["path"] == path
        assert "统一社会信用代码" in caught.value.message
