"""Text cells typed by SQL: every form people write for each field type, and what is refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from gongshu.catalog.vocab import FieldType
from gongshu.datastore.coerce import coerce_sql, duckdb_type, reason
from gongshu.kernel.errors import InvalidInput


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


def coerce(con: duckdb.DuckDBPyConnection, field_type: str, text: str | None) -> tuple[Any, bool]:
    """(typed value, bad) for one text cell, through the same SQL a whole column gets."""
    typed, bad = coerce_sql("v", field_type)
    row = con.execute(f"SELECT {typed}, {bad} FROM (SELECT CAST(? AS VARCHAR) AS v)", [text])
    value, flagged = row.fetchone() or (None, None)
    return value, bool(flagged)


ACCEPTED: list[tuple[str, str, Any]] = [
    ("string", "  公交线路  ", "公交线路"),
    ("string", "\u3000全角空格\u00a0", "全角空格"),
    ("string", "内部  空格", "内部  空格"),
    ("integer", "1234", 1234),
    ("integer", " -12 ", -12),
    ("integer", "+7", 7),
    ("integer", "1,234", 1234),
    ("integer", "-1,234,567", -1234567),
    ("integer", "１２３", 123),
    ("integer", "１，２３４", 1234),
    ("integer", "12.00", 12),
    ("integer", "9223372036854775807", 9223372036854775807),
    ("decimal", "-3.5", -3.5),
    ("decimal", ".5", 0.5),
    ("decimal", "1,234.50", 1234.5),
    ("decimal", "￥1,234.50", 1234.5),
    ("decimal", "¥-2", -2.0),
    ("decimal", "-￥2", -2.0),
    ("decimal", "1.2万", 12000.0),
    ("decimal", "3亿", 300000000.0),
    ("decimal", "12元", 12.0),
    ("decimal", "1.5E3", 1500.0),
    ("decimal", "\u3000７．５\u3000", 7.5),
    ("money", "1234.50", Decimal("1234.500000")),
    ("money", "￥1,234.50", Decimal("1234.500000")),
    ("money", "1.2万", Decimal("12000.000000")),
    ("money", "-3.5", Decimal("-3.500000")),
    ("money", "0.1234567", Decimal("0.123457")),
    ("date", "2024-01-02", date(2024, 1, 2)),
    ("date", "2024-1-2", date(2024, 1, 2)),
    ("date", "2024/1/2", date(2024, 1, 2)),
    ("date", "2024.1.2", date(2024, 1, 2)),
    ("date", "2024年1月2日", date(2024, 1, 2)),
    ("date", "2024 年 1 月 2 日", date(2024, 1, 2)),
    ("date", "20240102", date(2024, 1, 2)),
    ("date", "２０２４－０１－０２", date(2024, 1, 2)),
    ("date", "2024-01-02 00:00:00", date(2024, 1, 2)),
    ("date", "45292", date(2024, 1, 1)),  # Excel serial: 1899-12-30 + n
    ("date", "45292.75", date(2024, 1, 1)),
    ("date", "1", date(1899, 12, 31)),
    ("date", "2958465", date(9999, 12, 31)),
    ("datetime", "2024-01-02 03:04:05", datetime(2024, 1, 2, 3, 4, 5)),
    ("datetime", "2024-01-02T03:04", datetime(2024, 1, 2, 3, 4)),
    ("datetime", "2024-01-02 03:04:05.25", datetime(2024, 1, 2, 3, 4, 5, 250000)),
    ("datetime", "2024/1/2 3:04", datetime(2024, 1, 2, 3, 4)),
    ("datetime", "2024.1.2 03:04:05", datetime(2024, 1, 2, 3, 4, 5)),
    ("datetime", "2024年1月2日 8时30分", datetime(2024, 1, 2, 8, 30)),
    ("datetime", "2024年1月2日8点30分15秒", datetime(2024, 1, 2, 8, 30, 15)),
    ("datetime", "2024-01-02", datetime(2024, 1, 2)),
    ("datetime", "20240102", datetime(2024, 1, 2)),
    ("datetime", "202401020304", datetime(2024, 1, 2, 3, 4)),
    ("datetime", "20240102030405", datetime(2024, 1, 2, 3, 4, 5)),
    ("datetime", "45292.5", datetime(2024, 1, 1, 12, 0)),
    ("datetime", "2024-01-02T03:04:05+08:00", datetime(2024, 1, 2, 3, 4, 5)),
    ("datetime", "2024-01-02T03:04:05Z", datetime(2024, 1, 2, 11, 4, 5)),  # to Beijing time
    ("datetime", "2024-01-02T03:04:05-05:00", datetime(2024, 1, 2, 16, 4, 5)),
    ("boolean", "是", True),
    ("boolean", "否", False),
    ("boolean", "有", True),
    ("boolean", " 无 ", False),
    ("boolean", "true", True),
    ("boolean", "FALSE", False),
    ("boolean", "1", True),
    ("boolean", "0", False),
    ("boolean", "Y", True),
    ("boolean", "n", False),
    ("boolean", "１", True),
    ("binary", "YWJj", b"abc"),
    ("binary", "YW\nJj", b"abc"),
    ("binary", "data:text/plain;base64,YWJj", b"abc"),
    ("binary", "-_8=", b"\xfb\xff"),  # URL-safe letters
]

REFUSED: list[tuple[str, str]] = [
    ("integer", "1.5"),
    ("integer", "1e3"),
    ("integer", "0x10"),
    ("integer", "1_000"),
    ("integer", "1,23"),
    ("integer", "12a"),
    ("integer", "+-5"),
    ("integer", "9223372036854775808"),
    ("decimal", "1..2"),
    ("decimal", "inf"),
    ("decimal", "nan"),
    ("decimal", "1e400"),
    ("decimal", "-￥-2"),
    ("decimal", "1,2345.6"),
    ("decimal", "abc"),
    ("money", "1.2.3"),
    ("money", "1" * 40),
    ("money", "9" * 32 + "万"),
    ("date", "2024-02-30"),
    ("date", "2024-13-01"),
    ("date", "2024-01-02 junk"),
    ("date", "-2024-01-02"),
    ("date", "99999-01-01"),
    ("date", "0"),
    ("date", "2958466"),
    ("date", "yesterday"),
    ("datetime", "2024-01-02 25:00"),
    ("datetime", "2024-01-02 03:04:05 +08 junk"),
    ("datetime", "20241302030405"),
    ("datetime", "3:04"),
    ("boolean", "maybe"),
    ("boolean", "2"),
    ("boolean", "对"),
    ("binary", "abc"),
    ("binary", "!!!!"),
]


@pytest.mark.parametrize(("field_type", "text", "expected"), ACCEPTED)
def test_accepted_forms(
    con: duckdb.DuckDBPyConnection, field_type: str, text: str, expected: Any
) -> None:
    assert coerce(con, field_type, text) == (expected, False)


@pytest.mark.parametrize(("field_type", "text"), REFUSED)
def test_refused_values_are_bad(con: duckdb.DuckDBPyConnection, field_type: str, text: str) -> None:
    assert coerce(con, field_type, text) == (None, True)


@pytest.mark.parametrize("field_type", [kind.value for kind in FieldType])
@pytest.mark.parametrize("text", [None, "", "   ", "\u3000", "\u00a0\t\r\n"])
def test_blank_is_null_and_not_bad(
    con: duckdb.DuckDBPyConnection, field_type: str, text: str | None
) -> None:
    assert coerce(con, field_type, text) == (None, False)


@pytest.mark.parametrize(
    ("field_type", "sql_type"),
    [
        ("string", "VARCHAR"),
        ("integer", "BIGINT"),
        ("decimal", "DOUBLE"),
        ("money", "DECIMAL(38,6)"),
        ("date", "DATE"),
        ("datetime", "TIMESTAMP"),
        ("boolean", "BOOLEAN"),
        ("binary", "BLOB"),
    ],
)
def test_typed_expression_has_the_declared_type(
    con: duckdb.DuckDBPyConnection, field_type: str, sql_type: str
) -> None:
    assert duckdb_type(field_type) == sql_type
    typed, bad = coerce_sql("v", field_type)
    found = con.execute(f"SELECT typeof({typed}), typeof({bad}) FROM (SELECT '1' AS v)").fetchone()
    assert found == (sql_type, "BOOLEAN")


def test_whole_column_with_mixed_values(con: duckdb.DuckDBPyConnection) -> None:
    # Clean values take the fast path and dirty ones the slow one, in the same column.
    typed, bad = coerce_sql('"金额"', "money")
    found = con.execute(
        f"SELECT {typed}, {bad} FROM (VALUES ('1.5'), ('￥2万'), ('x'), (NULL)) AS t(\"金额\")"
    ).fetchall()
    assert found == [
        (Decimal("1.500000"), False),
        (Decimal("20000.000000"), False),
        (None, True),
        (None, False),
    ]


def test_reasons_are_chinese_and_english() -> None:
    assert reason("integer").startswith("不是整数")
    assert "(not an integer" in reason("integer")
    assert "2024年1月2日" in reason("date")
    assert all(reason(kind.value) for kind in FieldType)


def test_unknown_field_type_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        coerce_sql("v", "colour")
    assert "unknown field type 'colour'" in caught.value.message
    with pytest.raises(InvalidInput):
        duckdb_type("colour")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\ufeff名称", "名称"),  # a BOM left at the start of a cell
        ("名称\t", "名称"),
        ("\x0c名称", "\x0c名称"),  # a form feed is not one of the spaces trimmed
        ("\x01名称\u3000", "\x01名称"),  # nor another control character
        ("!名称", "!名称"),
        ("\u00a0", None),
        ("\u2003名称\u2003", "\u2003名称\u2003"),  # nor an em space
        ("名\u3000称", "名\u3000称"),  # inside a value, spaces stay
        (" \u00a0\ufeff ", None),
    ],
)
def test_text_is_trimmed_only_of_its_edge_spaces(
    con: duckdb.DuckDBPyConnection, text: str, expected: str | None
) -> None:
    # Text with spaces at its edges is rebuilt; all other text is kept as it is, untouched.
    assert coerce(con, "string", text) == (expected, False)


def test_text_edges_gate_trims_exactly_what_trimming_every_value_would(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # The gate is a cheap superset of "has a space to trim at an edge": whatever it lets pass
    # untouched must need no trimming. Random text over the spaces, the characters next to
    # the gate's ranges, control characters, CJK and ASCII, against Python's strip().
    import random

    from gongshu.datastore import coerce as module

    rng = random.Random("text-edges")
    alphabet = [
        *module.SPACES,
        "\u009f", "\u00a1", "\u2fff", "\u3001", "\ufefe", "\uff00", "\uff01", "\x01", "\x0b",
        "\x0c", "\x1f", "!", "a", "Z", "0", "名", "称", "\U0001f600", "\u00e9",
    ]  # fmt: skip
    values = [
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 5))) for _ in range(20_000)
    ]
    typed, _bad = coerce_sql("v", "string")
    found = con.execute(f"SELECT {typed} FROM (SELECT unnest(?) AS v)", [values]).fetchall()
    expected = [value.strip(module.SPACES) or None for value in values]
    assert [row[0] for row in found] == expected
    edged = con.execute(
        f"SELECT {module._edged('v')} FROM (SELECT unnest(?) AS v)", [values]
    ).fetchall()
    for value, (flag,) in zip(values, edged, strict=True):
        if value.strip(module.SPACES) != value or not value:
            assert flag, repr(value)


@pytest.mark.parametrize(
    ("field_type", "usual", "other"),
    [
        ("date", "2024-02-29", "2024/2/29"),
        ("datetime", "2024-02-29 08:05:09", "2024-2-29T8:05:09"),
    ],
)
def test_the_usual_date_form_takes_the_cheap_gate_and_types_like_the_other_forms(
    con: duckdb.DuckDBPyConnection, field_type: str, usual: str, other: str
) -> None:
    from gongshu.datastore import coerce

    # The usual form is one of the plain regex's, so the gate only ever saves the regex.
    shape = coerce._PLAIN_DATETIME if field_type == "datetime" else coerce._PLAIN_DATE
    assert re.fullmatch(shape, usual)
    typed, _bad = coerce_sql("v", field_type)
    found = con.execute(
        f"SELECT {typed} FROM (VALUES (?), (?), ('2024-02-30'), ('2024-02-2x')) AS t(v)",
        [usual, other],
    ).fetchall()
    assert found[0] == found[1] and found[0][0] is not None
    assert found[2:] == [(None,), (None,)]


@pytest.mark.parametrize("field_type", ["date", "datetime"])
def test_usual_dates_behind_the_like_gate_type_as_behind_the_glob(
    con: duckdb.DuckDBPyConnection, field_type: str
) -> None:
    # The gates let through the usual form's punctuation with a digit first (and, for
    # date-times, neither "." nor "Z" last); whatever the TIMESTAMP cast makes of such text
    # must be what the GLOB of the usual form's digits and the plain regex made of it.
    import random
    import string

    from gongshu.datastore import coerce

    digits = "[0-9]"
    glob = f"{digits * 4}-{digits * 2}-{digits * 2}"
    shape, slow = coerce._PLAIN_DATE, f"CAST({coerce._moment('n', with_time=False)} AS DATE)"
    if field_type == "datetime":
        glob += f" {digits * 2}:{digits * 2}:{digits * 2}"
        shape, slow = coerce._PLAIN_DATETIME, coerce._moment("n", with_time=True)
    cast = f"TRY_CAST((v) AS {duckdb_type(field_type)})"
    plain = (
        f"CASE WHEN (v) GLOB '{glob}' THEN {cast} "
        f"WHEN regexp_full_match((v), '{shape}') THEN {cast} END"
    )
    reference = f"coalesce({plain}, {coerce._let(coerce._normal('(v)'), 'n', slow)})"
    typed, _bad = coerce_sql("v", field_type)
    rng = random.Random(field_type)
    letters = string.digits * 6 + string.punctuation + string.ascii_letters + " \t２年月日\u3000é"
    texts = []
    for _ in range(60000):
        moment = datetime(1000, 1, 1) + timedelta(seconds=rng.randrange(280_000_000_000))
        chars = list(str(moment)[: 19 if field_type == "datetime" else 10])
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            chars[rng.randrange(len(chars))] = rng.choice(letters)
        texts.append("".join(chars))
    found = con.execute(
        f"SELECT v, {typed}, {reference} FROM unnest(?) AS t(v)", [texts]
    ).fetchall()
    differ = [(text, new, old) for text, new, old in found if new != old]
    assert not differ, differ[:10]
    assert 10000 < sum(new is not None for _, new, _ in found) < 55000


def test_amounts_take_the_cast_without_a_regex_and_type_as_the_regex_path_would(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # The cheap path for amounts is DuckDB's DECIMAL cast behind a first-character gate; every
    # text must come out as it does behind the plain-shape regex, the other forms after it.
    import random

    from gongshu.datastore import coerce

    money = coerce._TYPES[FieldType.MONEY]
    slow = coerce._let(coerce._normal("(v)"), "n", coerce._number("n", money))
    reference = f"coalesce({coerce._plain('(v)', coerce._PLAIN_NUMBER, money)}, {slow})"
    typed, _bad = coerce_sql("v", "money")
    rng = random.Random("amounts")
    letters = "0123456789+-.,eE_ \t\v\f\r\nabdfinxX元万￥$\u3000"
    texts = ["".join(rng.choices(letters, k=rng.randrange(0, 9))) for _ in range(20000)]
    for _ in range(5000):
        number = rng.choice(["12", "-3.5", "+.5", "1,234", "7e3", "1e-7", "9" * 13, "0.0000005"])
        texts.append(
            "".join(rng.choices(" \t\v\f\u3000", k=rng.randrange(3)))
            + number
            + "".join(rng.choices(" \t\v\f\r元万_", k=rng.randrange(3)))
        )
    found = con.execute(
        f"SELECT v, {typed}, CAST({reference} AS {money}) FROM unnest(?) AS t(v)", [texts]
    ).fetchall()
    differ = [(text, new, old) for text, new, old in found if new != old]
    assert not differ, differ[:10]
    assert sum(new is not None for _, new, _ in found) > 5000
    # Typed narrow: the same amounts, and DuckDB's TOO_WIDE error for those of 10^12 or more.
    narrow, _bad = coerce_sql("v", "money", narrow=True)
    wide = {text: value for text, value, _ in found}
    fitting = [text for text, value in wide.items() if value is None or abs(value) < 10**12]
    narrowed = con.execute(f"SELECT v, {narrow} FROM unnest(?) AS t(v)", [fitting]).fetchall()
    assert dict(narrowed) == {text: wide[text] for text in fitting}
    too_large = sorted(set(wide) - set(fitting))
    assert len(too_large) > 100
    for text in too_large[:: len(too_large) // 20]:
        with pytest.raises(duckdb.Error) as refused:
            con.execute(f"SELECT {narrow} FROM (SELECT CAST(? AS VARCHAR) AS v)", [text])
        assert coerce.too_wide(refused.value), text


@pytest.mark.parametrize(("field_type", "text", "expected"), ACCEPTED)
def test_accepted_forms_typed_narrow(
    con: duckdb.DuckDBPyConnection, field_type: str, text: str, expected: Any
) -> None:
    # Narrow changes amounts only: DECIMAL(18,6) with the same value (and the bad-cell flag).
    typed, bad = coerce_sql("v", field_type, narrow=True)
    sql = f"SELECT {typed}, {bad}, typeof({typed}) FROM (SELECT CAST(? AS VARCHAR) AS v)"
    found = con.execute(sql, [text]).fetchone()
    assert found == (expected, False, duckdb_type(field_type, narrow=True))
    assert found[2] == ("DECIMAL(18,6)" if field_type == "money" else duckdb_type(field_type))
