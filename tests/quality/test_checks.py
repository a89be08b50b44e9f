"""The SQL validity builders and the numpy identifier scan agree with the kernel's identifier
rules and handle NULLs."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from gongshu.kernel.identifiers import (
    USCC_ALPHABET,
    is_valid_citizen_id,
    is_valid_uscc,
    make_citizen_id,
    make_uscc,
)
from gongshu.quality import column_scan
from gongshu.quality.checks import (
    citizen_id_valid_sql,
    code_list_valid_sql,
    compare_sql,
    date_range_valid_sql,
    filled_sql,
    quote_ident,
    quote_literal,
    range_valid_sql,
    regex_valid_sql,
    sql_literal,
    uscc_valid_sql,
)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def _apply(
    con: duckdb.DuckDBPyConnection, build: Callable[[str], str], values: Sequence[object]
) -> list[object]:
    """Evaluate ``build("v")`` on each value (in order), NULLs included."""
    rows = con.execute(
        f"SELECT {build('v')} FROM (SELECT unnest(?) AS v, generate_subscripts(?, 1) AS i) "
        "ORDER BY i",
        [list(values), list(values)],
    ).fetchall()
    return [row[0] for row in rows]


def _corrupt(value: str, rng: random.Random, alphabet: str) -> str:
    """One random kind of damage: a changed, foreign, missing or extra character, or case."""
    chars = list(value)
    position = rng.randrange(len(chars))
    roll = rng.random()
    if roll < 0.35:
        chars[position] = rng.choice(alphabet)
    elif roll < 0.5:
        chars[position] = rng.choice("IOSVZiosvz-+ _.e汉é\x7f")
    elif roll < 0.6:
        chars = chars[: rng.randrange(len(chars))]
    elif roll < 0.7:
        chars.append(rng.choice(alphabet))
    elif roll < 0.8:
        return value.lower()
    elif roll < 0.9:
        chars[10:14] = list(rng.choice(["0229", "0230", "1301", "0001", "0431", "0000", "1231"]))
    else:
        chars[6:10] = list(rng.choice(["0000", "1900", "2000", "2100", "2004", "0001"]))
    return "".join(chars)


def _citizen_ids() -> list[str]:
    rng = random.Random(11643)
    values: list[str] = []
    for _ in range(2500):
        birth = date(1900, 1, 1) + timedelta(days=rng.randrange(0, 45000))
        valid = make_citizen_id(f"{rng.randrange(1_000_000):06d}", birth, rng.randrange(1000))
        values += [valid, _corrupt(valid, rng, "0123456789X")]
    # Strings a lax integer cast would accept, and lengths far off.
    values += ["11010519491231002x", "-1234567890123456X", "+1234567890123456X"]
    values += ["1e345678901234567X", "0x3456789012345670", "1_34567890123456X0", "", "1" * 40]
    # Bytes just below and above the digits, in the date and in the check character.
    values += ["110105194912310/2X", "110105194912310:2X", "11010519491231002/", "１" * 18]
    return values


def _usccs() -> list[str]:
    rng = random.Random(32100)
    values: list[str] = []
    for _ in range(2500):
        body = "".join(rng.choice(USCC_ALPHABET) for _ in range(8))
        prefix = rng.choice(["91", "92", "93", "11", "12", "52", "N1", "Y1"])
        valid = make_uscc(prefix, f"{rng.randrange(1_000_000):06d}", body)
        values += [valid, _corrupt(valid, rng, USCC_ALPHABET)]
    values += ["91110000802100433b", "-" * 18, "~" * 18, "\x00" * 18, "ÿ" * 18]
    values += ["统一社会信用代码" * 2, "9" * 18, "Y" * 18, "y" * 18, "@" * 18, "[" * 18]
    return values


def _numpy_verdicts(
    tmp_path: Path, kind: str, values: Sequence[str | None], pattern: str = ""
) -> list[bool | None]:
    """The numpy scan's verdict on each value, from a file of many small row groups."""
    path = tmp_path / f"{kind}.parquet"
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT v FROM (SELECT unnest(?) AS v, generate_subscripts(?, 1) AS i) "
            f"ORDER BY i) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 2048)",
            [list(values), list(values)],
        )
    tallies, _keys, _counts = column_scan.scan(
        str(path), [column_scan.TextCheck(0, "v", kind, pattern)], samples=len(values)
    )
    tally = tallies[0]
    assert tally.checked == sum(value is not None for value in values)
    assert tally.failed == len(tally.rows)
    failed = set(tally.rows)
    return [None if v is None else i not in failed for i, v in enumerate(values)]


_IDENTIFIERS: dict[
    str, tuple[Callable[[], list[str]], Callable[[str], str], Callable[..., bool]]
] = {
    "citizen_id": (_citizen_ids, citizen_id_valid_sql, is_valid_citizen_id),
    "uscc": (_usccs, uscc_valid_sql, is_valid_uscc),
}


@pytest.mark.parametrize("engine", ["sql", "numpy"])
@pytest.mark.parametrize("kind", sorted(_IDENTIFIERS))
def test_identifier_checks_agree_with_the_kernel_on_thousands_of_values(
    kind: str, engine: str, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    generate, sql_check, kernel_check = _IDENTIFIERS[kind]
    values = generate()
    if engine == "sql":
        got = _apply(con, sql_check, values)
    else:
        got = _numpy_verdicts(tmp_path, kind, values)
    expected = [kernel_check(value) for value in values]
    mismatches = [(v, g) for v, g, e in zip(values, got, expected, strict=True) if g != e]
    assert mismatches == []
    assert 2400 < sum(expected) < 4000  # both valid and invalid values were really tried


def test_identifier_checks_are_null_for_null_and_false_for_junk(
    con: duckdb.DuckDBPyConnection,
) -> None:
    assert _apply(con, citizen_id_valid_sql, [None, "abc", "11010519491231002X"]) == [
        None,
        False,
        True,
    ]
    assert _apply(con, uscc_valid_sql, [None, "abc", "91110000802100433B"]) == [None, False, True]


def test_the_numpy_column_scan_skips_nulls_and_keeps_the_first_failing_rows(
    tmp_path: Path,
) -> None:
    values = [None, "abc", "11010519491231002X", None, "11010519491231002Y"] * 5000
    got = _numpy_verdicts(tmp_path, "citizen_id", values)
    assert got[:5] == [None, False, True, None, False]
    path = str(tmp_path / "citizen_id.parquet")
    checks = [
        column_scan.TextCheck(1, "v", "citizen_id"),
        column_scan.TextCheck(2, "v", "uscc"),
    ]
    tallies, _keys, _counts = column_scan.scan(path, checks, samples=3, threads=2)
    assert (tallies[1].checked, tallies[1].failed, tallies[1].rows) == (15000, 10000, [1, 4, 6])
    assert (tallies[2].failed, tallies[2].rows) == (15000, [1, 2, 4])
    for kind, pattern in (("regex", ""), ("pattern", "a+"), ("pattern", "[^0-9]")):
        with pytest.raises(ValueError, match="not a column-scan check"):
            column_scan.scan(path, [column_scan.TextCheck(0, "v", kind, pattern)])


@pytest.mark.parametrize(
    "pattern",
    ["^1[3-9][0-9]{9}$", r"\d{6}", r"[A-Z]{2}\d{4}", r"a\.b_c-d:e/f g", "[a-cX-Z0-2_]{3}", "x{0}a"],
)
def test_a_fixed_ascii_pattern_is_a_glob_and_a_numpy_check_that_match_what_re2_matches(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, pattern: str
) -> None:
    from gongshu.quality.checks import glob_of

    assert glob_of(pattern) is not None
    rng = random.Random(pattern)
    letters = "0123456789abcXYZAB_-:/. .好\n[]*?"
    values = ["", "a", "a.b_c-d:e/f g", "axb_c-d:e/f g", "13800000000", "1380000000０", "12345\n"]
    values += ["".join(rng.choices(letters, k=rng.randrange(0, 14))) for _ in range(3000)]
    values += ["".join(rng.choices("0123456789", k=rng.randrange(5, 12))) for _ in range(3000)]
    values += ["1" + "".join(rng.choices("0123456789", k=10)) for _ in range(1000)]
    values += ["".join(rng.choices("ABXZ", k=2)) + str(rng.randrange(10**4)) for _ in range(500)]
    found = con.execute(
        f"SELECT {regex_valid_sql('v', pattern)}, regexp_full_match(v, {quote_literal(pattern)}) "
        "FROM unnest(?) AS t(v)",
        [values],
    ).fetchall()
    assert all(glob is re2 for glob, re2 in found)
    assert any(glob for glob, _ in found)
    values.append(None)
    numpy = _numpy_verdicts(tmp_path, "pattern", values, pattern)
    assert numpy == [re2 for _, re2 in found] + [None]


def test_other_patterns_stay_with_re2() -> None:
    from gongshu.quality.checks import glob_of

    for pattern in ["a.b", "[^0-9]", "ab+", r"\d{1,3}", "(?i)abc", "", "^$", "[0-9", "a|b"]:
        assert glob_of(pattern) is None, pattern


def _keys_file(tmp_path: Path, sql_type: str, values: Sequence[Any]) -> str:
    """A one-column Parquet file ``v`` of the values in order, in row groups of 1,000."""
    path = tmp_path / "keys.parquet"
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT CAST(v AS {sql_type}) AS v FROM (SELECT unnest(?) AS v, "
            f"generate_subscripts(?, 1) AS i) ORDER BY i) TO '{path}' "
            "(FORMAT parquet, ROW_GROUP_SIZE 1000)",
            [list(values), list(values)],
        )
    return str(path)


def _key_values(kind: str, rng: random.Random) -> list[Any]:
    """Values with repeats for one key column: every class of packed text, or numbers, or
    text with a value that does not pack."""
    if kind == "integer":
        pool: list[Any] = [rng.randrange(-(2**62), 2**62) for _ in range(3000)] + [0, -1, None]
    elif kind == "date":
        pool = [str(date(1900, 1, 1) + timedelta(days=rng.randrange(60000))) for _ in range(900)]
        pool.append(None)
    else:
        digits = "0123456789"
        pool = ["", "a", "12345678", "1234567", "ÿ", "\x00", None]
        for width in (9, 12, 15, 17, 18, 19):
            pool += ["".join(rng.choices(digits, k=width)) for _ in range(300)]
        pool += ["".join(rng.choices(digits, k=17)) + "X" for _ in range(300)]
        pool += ["X" * 18, "9" * 19, "0" * 18, "0" * 19, "X" + "0" * 17]
        pool += ["".join(rng.choices(digits + "ab好", k=rng.randrange(1, 3))) for _ in range(300)]
        if kind == "unpacked":
            pool.append("91110000802100433B")  # letters in 18 characters: left to SQL
    return [rng.choice(pool) for _ in range(6000)]


@pytest.mark.parametrize(
    ("kind", "sql_type"),
    [("text", "VARCHAR"), ("unpacked", "VARCHAR"), ("integer", "BIGINT"), ("date", "DATE")],
)
def test_the_numpy_key_count_agrees_with_sql(tmp_path: Path, kind: str, sql_type: str) -> None:
    from gongshu.quality.rules import Rule, RuleKind, _unique

    values = _key_values(kind, random.Random(f"keys-{kind}"))
    path = _keys_file(tmp_path, sql_type, values)
    _tallies, counted, _counts = column_scan.scan(path, [], keys=["v"], samples=20, threads=2)
    tally = counted["v"]
    rule = Rule("r", RuleKind.UNIQUE, ("v",), {})
    with duckdb.connect() as con:
        expected = _unique(con, path, rule, 20)
    if kind == "unpacked":
        assert tally is None
        return
    assert tally is not None
    assert expected.failed > 0 and len(expected.rows) == 20
    got = (tally.checked, tally.failed, tally.rows, tally.duplicate_of)
    assert got == (expected.checked, expected.failed, expected.rows, expected.duplicate_of)


@pytest.mark.parametrize("skew", [False, True])
def test_repeats_over_a_million_keys_sorted_in_two_parts_count_as_one_sort(skew: bool) -> None:
    import numpy as np

    rng = np.random.default_rng(7)
    size = column_scan._PARALLEL_SORT + 12_345
    keys = rng.integers(0, size // 3, size=size, dtype=np.uint64) * np.uint64(2**40 + 1)
    if skew:  # the pivot itself is the most common value: one part gets nearly everything
        keys[: size // 2] = np.sort(keys)[size // 2]
    parts = column_scan._sorted_parts(keys)
    assert len(parts) == 2 and all(len(part) for part in parts)
    assert np.array_equal(np.concatenate(parts), np.sort(keys))
    tally = column_scan.repeats(np.full(size, 82, dtype=np.uint8), keys, 5)
    distinct, first, counts = np.unique(keys, return_index=True, return_counts=True)
    assert (tally.checked, tally.failed) == (size, size - len(distinct))
    repeated_first = sorted(first[counts > 1].tolist())
    assert tally.duplicate_of == repeated_first[:5]
    last = {int(value): row for row, value in enumerate(keys.tolist())}
    assert tally.rows == [last[int(keys[first])] for first in repeated_first[:5]]


def test_packed_keys_are_equal_exactly_when_the_values_are() -> None:
    import pyarrow as pa

    values = ["0" * 18, "0" * 17 + "X", "X" + "0" * 17, "00", "0", "", "9" * 19, "9" * 18, None]
    classes, keys = column_scan.pack_keys(pa.array(values + values[::-1]))
    pairs = list(zip(classes.tolist(), keys.tolist(), strict=True))
    for i, left in enumerate(values + values[::-1]):
        for j, right in enumerate(values + values[::-1]):
            if left is not None and right is not None:
                assert (pairs[i] == pairs[j]) == (left == right), (left, right)
    assert column_scan.pack_keys(pa.array(["1" * 20])) is None
    assert column_scan.pack_keys(pa.array(["1" * 18 + "X"])) is None


def test_digits_and_x_pack_two_characters_at_a_time_into_their_base_11_number() -> None:
    import pyarrow as pa

    rng = random.Random("digits-x")
    values = ["".join(rng.choices("0123456789X", k=rng.randrange(9, 19))) for _ in range(5000)] + [
        None,
        "X" * 18,
        "0" * 9,
    ]
    classes, keys = column_scan.pack_keys(pa.array(values))
    for value, kind, key in zip(values, classes.tolist(), keys.tolist(), strict=True):
        if value is None:
            continue
        number = sum(
            (10 if char == "X" else int(char)) * 11 ** (len(value) - 1 - i)
            for i, char in enumerate(value)
        )
        assert (kind, key) == (64 + len(value), number), value
    for other in ("1" * 16 + "x1", "1" * 9 + " ", "１" + "1" * 8):  # lower case, space, wide
        assert column_scan.pack_keys(pa.array(["1" * 18, other])) is None, other


def test_quote_ident_doubles_double_quotes_and_keeps_chinese(tmp_path: Path) -> None:
    quoted, chinese = quote_ident('a"b'), quote_ident("统一社会信用代码")
    assert (quoted, chinese) == ('"a""b"', '"统一社会信用代码"')
    path = tmp_path / "quoted.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT 1 AS {quoted}, 2 AS {chinese}) TO '{path}'")
        row = con.execute(f"SELECT {quoted}, {chinese} FROM read_parquet('{path}')").fetchone()
        names = [d[0] for d in con.execute(f"SELECT * FROM '{path}'").description]
    assert row == (1, 2)
    assert names == ['a"b', "统一社会信用代码"]


def test_literals_are_quoted_and_typed(con: duckdb.DuckDBPyConnection) -> None:
    assert quote_literal("it's") == "'it''s'"
    values = [
        None,
        True,
        12,
        1.5,
        Decimal("12.340"),
        date(2024, 2, 29),
        datetime(2024, 2, 29, 8, 30),
        "a'b",
    ]
    row = con.execute("SELECT " + ", ".join(sql_literal(v) for v in values)).fetchone()
    assert row == (None, True, 12, 1.5, Decimal("12.340"), *values[5:])
    with pytest.raises(ValueError, match="finite"):
        sql_literal(float("nan"))
    with pytest.raises(ValueError, match="NUL"):
        quote_literal("a\x00b")


def test_filled_treats_null_empty_and_whitespace_as_missing(
    con: duckdb.DuckDBPyConnection,
) -> None:
    values = [None, "", "  ", "\t\n", "\u3000", " a ", "统计"]
    assert _apply(con, lambda v: filled_sql(v, "string"), values) == [
        False,
        False,
        False,
        False,
        False,
        True,
        True,
    ]
    assert _apply(con, lambda v: filled_sql(v, "integer"), [None, 0]) == [False, True]


def test_filled_looks_past_a_leading_space_only_when_there_is_one(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # The first character decides most values; those starting with a space (or nothing, or
    # NUL) are looked at whole. A vertical tab, NBSP or em space is not blank.
    values = ["\x0c\r", "\u3000 a", "\x00", "\x0b", "\u00a0", "\u2003", "\t\u3000\n"]
    assert _apply(con, lambda v: filled_sql(v, "string"), values) == [
        False,
        True,
        True,
        True,
        True,
        True,
        False,
    ]


def test_regex_must_match_the_whole_value(con: duckdb.DuckDBPyConnection) -> None:
    build = lambda v: regex_valid_sql(v, "[0-9]{3}")  # noqa: E731
    assert _apply(con, build, ["123", "1234", "a123", None]) == [True, False, False, None]


def test_range_is_inclusive_and_open_ended(con: duckdb.DuckDBPyConnection) -> None:
    both = lambda v: range_valid_sql(v, 1, 10)  # noqa: E731
    assert _apply(con, both, [0, 1, 10, 11, None]) == [False, True, True, False, None]
    low = lambda v: range_valid_sql(v, minimum=5)  # noqa: E731
    assert _apply(con, low, [4, 5, 10**9]) == [False, True, True]
    with pytest.raises(ValueError, match="minimum or a maximum"):
        range_valid_sql("v")


def test_code_list_compares_as_text(con: duckdb.DuckDBPyConnection) -> None:
    build = lambda v: code_list_valid_sql(v, ["01", "02", "x'y"])  # noqa: E731
    assert _apply(con, build, ["01", "1", "x'y", None]) == [True, False, True, None]
    with pytest.raises(ValueError, match="at least one"):
        code_list_valid_sql("v", [])


def test_date_range_uses_the_calendar_date(con: duckdb.DuckDBPyConnection) -> None:
    build = lambda v: date_range_valid_sql(v, date(2020, 1, 1), date(2020, 12, 31))  # noqa: E731
    values = [
        datetime(2019, 12, 31, 23, 59),
        datetime(2020, 12, 31, 23, 59),
        datetime(2021, 1, 1),
        None,
    ]
    assert _apply(con, build, values) == [False, True, False, None]


def test_compare_is_null_when_either_side_is_null(con: duckdb.DuckDBPyConnection) -> None:
    row = con.execute(
        f"SELECT {compare_sql('a', '>=', 'b')}, {compare_sql('a', '!=', 'c')} "
        "FROM (SELECT 2 AS a, 1 AS b, NULL::INT AS c)"
    ).fetchone()
    assert row == (True, None)
    with pytest.raises(ValueError, match="unknown comparison"):
        compare_sql("a", "=>", "b")


@pytest.mark.parametrize("width", [0, 1, 7, 8, 9, 16, 18, 23])
def test_text_of_one_width_hashes_in_place_as_the_padded_copy_does(width: int) -> None:
    # A column whose values all have one byte length is hashed through strided views of its
    # buffer; with a NULL among them the same values take the padded copy. Same hashes.
    import numpy as np
    import pyarrow as pa

    rng = random.Random(f"hash-{width}")
    alphabet = "0123456789X名"
    values = []
    while len(values) < 500:
        text = "".join(rng.choice(alphabet) for _ in range(width))
        if len(text.encode()) == width:
            values.append(text)
    whole = pa.array(["x" * (width + 1), *values])[1:]  # sliced: the data does not start at 0
    in_place = column_scan._hashes(whole)
    copied = column_scan._hashes(pa.array([*values, None]))
    assert in_place is not None and copied is not None and len(in_place) == len(values)
    assert np.array_equal(np.sort(in_place), np.sort(copied))
    if width:
        assert len(set(in_place.tolist())) == len(set(values))
