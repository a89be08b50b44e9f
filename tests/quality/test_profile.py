"""Profiles of Parquet files: counts, ranges, top values, patterns and withheld values."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from gongshu.kernel.errors import InvalidInput
from gongshu.quality import profile as profile_module
from gongshu.quality.profile import FieldSpec, Frequency, profile_parquet

FIELDS = [
    FieldSpec("统一社会信用代码", "string", frozenset({"identifier"})),
    FieldSpec("企业名称", "string"),
    FieldSpec("邮编", "string"),
    FieldSpec('a"b', "integer"),
    FieldSpec("注册资本", "money"),
    FieldSpec("评分", "decimal"),
    FieldSpec("成立日期", "date"),
    FieldSpec("更新时间", "datetime"),
    FieldSpec("是否存续", "boolean"),
    FieldSpec("附件", "binary"),
    FieldSpec("联系电话", "string", frozenset({"sensitive", "quasi_identifier"})),
]

# Ten rows; 企业名称 has a NULL and a blank, 邮编 two shapes.
ROWS = """
SELECT * FROM (VALUES
  (1, '91110000802100433B', '甲公司', '310000-01', 1, 100.5, 1.0, DATE '2020-01-02', TIMESTAMP '2024-01-01 08:00:00', true, '\\x01'::BLOB, '13800000001'),
  (2, '91110000802100433B', '甲公司', '310000-02', 2, 200.25, 2.0, DATE '2020-01-03', TIMESTAMP '2024-01-02 08:00:00', true, NULL, '13800000002'),
  (3, '91110000802100434C', '乙公司', '310000-03', 3, 300, 3.0, DATE '2021-06-30', TIMESTAMP '2024-01-03 08:00:00', false, NULL, '13800000003'),
  (4, '91110000802100435D', '乙公司', 'ABCD', 4, 400, 4.0, DATE '2019-12-31', NULL, NULL, NULL, '13800000004'),
  (5, NULL, '乙公司', 'ABCD', 5, 500, 5.0, NULL, NULL, true, NULL, NULL),
  (6, NULL, NULL, 'abcd', 6, 600, 6.0, NULL, NULL, true, NULL, NULL),
  (7, NULL, '  ', NULL, 7, 700, 7.0, NULL, NULL, true, NULL, NULL),
  (8, NULL, 'Acme 有限', NULL, 8, 800, 8.0, NULL, NULL, true, NULL, NULL),
  (9, NULL, '丙公司', NULL, NULL, NULL, NULL, NULL, NULL, true, NULL, NULL),
  (10, NULL, '丙公司', NULL, 10, 1000, 10.0, NULL, NULL, false, NULL, NULL)
) AS t(i, "统一社会信用代码", "企业名称", "邮编", "a""b", "注册资本", "评分", "成立日期",
       "更新时间", "是否存续", "附件", "联系电话")
"""  # noqa: E501


def _write(path: Path, select: str) -> str:
    with duckdb.connect() as con:
        con.execute(
            f"""COPY (SELECT "统一社会信用代码", "企业名称", "邮编", "a""b"::BIGINT AS "a""b",
                "注册资本"::DECIMAL(38,6) AS "注册资本", "评分"::DOUBLE AS "评分", "成立日期",
                "更新时间", "是否存续", "附件", "联系电话" FROM ({select}) ORDER BY i)
                TO '{path}' (FORMAT parquet)"""
        )
    return str(path)


@pytest.fixture
def sample_file(tmp_path: Path) -> str:
    return _write(tmp_path / "企业.parquet", ROWS)


def test_counts_ranges_and_numbers(sample_file: str) -> None:
    with duckdb.connect() as con:
        result = profile_parquet(con, sample_file, FIELDS)
    assert (result.rows, result.sampled, result.sample_rows, result.pattern_rows) == (
        10,
        False,
        10,
        10,
    )
    name = result.column("企业名称")
    assert (name.rows, name.nulls, name.null_share) == (10, 1, 0.1)
    assert name.distinct == 5 and name.distinct_approx is False
    assert (name.min, name.max) == ("  ", "甲公司")
    quoted = result.column('a"b')
    assert (quoted.nulls, quoted.distinct, quoted.min, quoted.max) == (1, 9, "1", "10")
    assert quoted.mean == pytest.approx(46 / 9)
    assert quoted.quantiles is not None and quoted.quantiles["p50"] == pytest.approx(5, abs=1)
    money = result.column("注册资本")
    assert (money.min, money.max) == ("100.500000", "1000.000000")
    assert money.mean == pytest.approx(4600.75 / 9)
    founded = result.column("成立日期")
    assert (founded.min, founded.max, founded.mean) == ("2019-12-31", "2021-06-30", None)
    assert result.column("更新时间").max == "2024-01-03 08:00:00"
    assert result.column("是否存续").top_values == (
        Frequency("true", 7),
        Frequency("false", 2),
    )


def test_top_values_and_patterns(sample_file: str) -> None:
    with duckdb.connect() as con:
        result = profile_parquet(con, sample_file, FIELDS, top=2)
    name = result.column("企业名称")
    assert name.top_values == (Frequency("乙公司", 3), Frequency("丙公司", 2))
    assert name.patterns == (Frequency("汉汉汉", 7), Frequency("  ", 1))
    postcode = result.column("邮编")
    assert postcode.patterns == (Frequency("999999-99", 3), Frequency("AAAA", 2))
    with duckdb.connect() as con:
        everything = profile_parquet(con, sample_file, FIELDS, top=10)
    assert Frequency("aaaa", 1) in (everything.column("邮编").patterns or ())
    assert Frequency("Aaaa 汉汉", 1) in (everything.column("企业名称").patterns or ())


def test_identifier_and_sensitive_values_are_withheld(sample_file: str) -> None:
    with duckdb.connect() as con:
        result = profile_parquet(con, sample_file, FIELDS)
    for name, reason in (("统一社会信用代码", "identifier"), ("联系电话", "sensitive")):
        column = result.column(name)
        assert (column.min, column.max, column.top_values) == (None, None, None)
        assert column.withheld == reason
        assert column.patterns  # shapes and counts are fine to show
    uscc = result.column("统一社会信用代码")
    assert (uscc.nulls, uscc.distinct) == (6, 3)
    assert uscc.patterns == (Frequency("99999999999999999A", 4),)
    blob = result.column("附件")
    assert (blob.withheld, blob.top_values, blob.patterns, blob.min) == ("binary", None, None, None)
    text = json.dumps(result.to_json(), ensure_ascii=False)
    assert "91110000802100433B" not in text
    assert "13800000001" not in text


def test_to_json_round_trips_through_json(sample_file: str) -> None:
    with duckdb.connect() as con:
        result = profile_parquet(con, sample_file, FIELDS)
    data = json.loads(json.dumps(result.to_json(), ensure_ascii=False))
    assert data["rows"] == 10
    by_name = {column["name"]: column for column in data["columns"]}
    assert by_name["注册资本"]["max"] == "1000.000000"
    assert by_name["企业名称"]["top_values"][0] == {"value": "乙公司", "count": 3}
    assert set(by_name['a"b']["quantiles"]) == {"p5", "p25", "p50", "p75", "p95"}


def test_large_files_are_sampled_and_counted_approximately(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profile_module, "SAMPLE_ROWS", 500)
    monkeypatch.setattr(profile_module, "EXACT_DISTINCT_ROWS", 1000)
    monkeypatch.setattr(profile_module, "EXACT_DISTINCT_BELOW", 1000)
    monkeypatch.setattr(profile_module, "PATTERN_ROWS", 100)
    path = tmp_path / "big.parquet"
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT range AS n, 'K' || (range % 3) AS k FROM range(5000)) TO '{path}'"
        )
        result = profile_parquet(
            con, str(path), [FieldSpec("n", "integer"), FieldSpec("k", "string")]
        )
    # One row group: every 10th of its rows is the sample, every 50th the pattern rows.
    assert (result.rows, result.sampled, result.sample_rows, result.pattern_rows) == (
        5000,
        True,
        500,
        100,
    )
    n = result.column("n")
    assert n.distinct_approx is True  # 1 in 64 of the hash range counted: ±11 % at 5,000
    assert 4000 < n.distinct < 6000
    assert (n.min, n.max) == ("0", "4999")  # exact: from the footer
    assert n.quantiles is not None and 200 < n.quantiles["p5"] < 300  # of the sample
    k = result.column("k")
    assert (k.distinct, k.distinct_approx) == (3, False)  # an estimate that small is recounted
    assert sum(item.count for item in k.top_values or ()) == result.sample_rows
    assert k.patterns == (Frequency("A9", 100),)


def test_the_sample_spreads_over_the_row_groups_of_a_sorted_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profile_module, "SAMPLE_ROWS", 400)
    monkeypatch.setattr(profile_module, "SAMPLE_GROUPS", 4)
    path = tmp_path / "sorted.parquet"
    with duckdb.connect() as con:
        # 20 row groups of 100 rows, sorted on k: A for the first half, B for the second.
        con.execute(
            f"COPY (SELECT range AS n, CASE WHEN range < 1000 THEN 'A' ELSE 'B' END AS k "
            f"FROM range(2000)) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 100)"
        )
        result = profile_parquet(
            con, str(path), [FieldSpec("n", "integer"), FieldSpec("k", "string")]
        )
    assert (result.sampled, result.sample_rows) == (True, 400)  # 4 whole groups of 100
    shares = {item.value: item.count for item in result.column("k").top_values or ()}
    assert shares == {"A": 200, "B": 200}
    assert (result.column("n").min, result.column("n").max) == ("0", "1999")


def test_a_missing_field_names_the_file_and_field(sample_file: str) -> None:
    with duckdb.connect() as con, pytest.raises(InvalidInput) as caught:
        profile_parquet(con, sample_file, [*FIELDS, FieldSpec("注销日期", "date")])
    assert "注销日期" in caught.value.message
    assert caught.value.details == [
        {
            "file": sample_file,
            "row": None,
            "column": "注销日期",
            "message": caught.value.details[0]["message"],
        }
    ]


def test_an_empty_file_has_no_shares(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT 1::BIGINT AS n WHERE false) TO '{path}'")
        result = profile_parquet(con, str(path), [FieldSpec("n", "integer")])
    column = result.column("n")
    assert (result.rows, column.null_share, column.mean, column.top_values) == (0, None, None, ())


def test_a_file_without_footer_statistics_gives_the_same_profile(
    sample_file: str, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    bare = tmp_path / "bare.parquet"
    pq.write_table(pq.read_table(sample_file), bare, write_statistics=False)
    with duckdb.connect() as con:
        assert profile_module.footer_ranges(con, str(bare), {"企业名称": "VARCHAR"}) == {}
        assert profile_module.footer_nulls(con, str(bare)) == {}
        assert profile_module.footer_ranges(con, sample_file, {"企业名称": "VARCHAR"}) == {
            "企业名称": ("  ", "甲公司")
        }
        assert profile_module.footer_nulls(con, sample_file)["企业名称"] == 1
        with_stats = profile_parquet(con, sample_file, FIELDS).to_json()
        without = profile_parquet(con, str(bare), FIELDS).to_json()
    for profile in (with_stats, without):
        profile.pop("path")
    assert without == with_stats


def test_counts_from_the_rules_numpy_scan_stand_in_for_the_profiles_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A large file's text and key columns that the rules read in numpy are not read again: the
    # scan's values and hash-sampled distinct count take their place, and a column it did not
    # count is counted here as before.
    from gongshu.quality import column_scan

    monkeypatch.setattr(profile_module, "EXACT_DISTINCT_ROWS", 1000)
    monkeypatch.setattr(profile_module, "EXACT_DISTINCT_BELOW", 1000)
    monkeypatch.setattr(profile_module, "DISTINCT_SAMPLE", 8)
    monkeypatch.setattr(profile_module, "_HASH_SAMPLE_BELOW", 2**64 // 8)
    path = tmp_path / "big.parquet"
    with duckdb.connect() as con:
        con.execute(
            "COPY (SELECT CASE WHEN range % 10 = 0 THEN NULL ELSE 'V' || (range % 30000) END "
            "AS t, range % 40000 AS n, DATE '2000-01-01' + CAST(range % 5000 AS INTEGER) AS d "
            f"FROM range(200000)) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 20000)"
        )
        fields = [FieldSpec("t", "string"), FieldSpec("n", "integer"), FieldSpec("d", "date")]
        own = profile_parquet(con, str(path), fields)
        found = column_scan.scan(
            str(path), [], keys=["t", "n", "d"], threads=2, distinct_share=8
        ).counts
        assert {name: count.present for name, count in found.items()} == {
            "t": 180000,
            "n": 200000,
            "d": 200000,
        }
        exact = {"t": 27000, "n": 40000, "d": 5000}  # t: the multiples of 10 are NULL
        for name, count in found.items():
            assert 0.9 < count.sampled * 8 / exact[name] < 1.1, name
        calls = []

        def counts() -> dict[str, column_scan.ColumnCount]:
            calls.append(1)
            return {"t": found["t"]}  # n: counted here after all (d has few values: always)

        shared = profile_parquet(con, str(path), fields, counted={"t", "n", "d"}, counts=counts)
    assert calls == [1]
    t = shared.column("t")
    assert (t.nulls, t.distinct, t.distinct_approx) == (20000, found["t"].sampled * 8, True)
    assert t.top_values == own.column("t").top_values
    assert shared.column("n") == own.column("n")
    assert shared.column("d") == own.column("d")
