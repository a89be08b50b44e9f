"""Tests for gongshu.ledger.canonical: RFC 8785 examples, number formatting, clear refusals."""

from __future__ import annotations

import json
import math
import random
import re
import struct
from collections import OrderedDict
from decimal import Decimal
from enum import IntEnum

import pytest

from gongshu.ledger.canonical import _exact, _fast, canonical_json


def test_rfc8785_section_3_2_4_example() -> None:
    source = r"""{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }"""
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(json.loads(source)) == expected.encode("utf-8")


def test_rfc8785_section_3_2_3_sorts_keys_by_utf16_code_units() -> None:
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",  # UTF-16: \ud83d\ude00, sorts before \ufb33
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )
    assert canonical_json(value) == expected.encode("utf-8")
    # Code-point order would put the emoji last; UTF-16 order does not.
    assert sorted(value)[-1] == "\U0001f600"


# RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical serialisation.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B)
def test_rfc8785_appendix_b_numbers(bits: str, expected: str) -> None:
    (value,) = struct.unpack(">d", bytes.fromhex(bits))
    assert canonical_json(value) == expected.encode("ascii")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (-0.0, "0"),
        (0.0, "0"),
        (333333333.33333329, "333333333.3333333"),
        (1e23, "1e+23"),
        (4.50, "4.5"),
        (2e-3, "0.002"),
        (1e30, "1e+30"),
        (1e-27, "1e-27"),
        (123e-20, "1.23e-18"),
        (0.1, "0.1"),
        (-1.5, "-1.5"),
        (100.0, "100"),
        (1.0, "1"),
        (12345.678, "12345.678"),
        (1.5e300, "1.5e+300"),
        (-2.5e-8, "-2.5e-8"),
    ],
)
def test_ecmascript_number_serialisation(value: float, expected: str) -> None:
    assert canonical_json(value) == expected.encode("ascii")


def test_random_doubles_round_trip_in_ecmascript_shape() -> None:
    shape = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?(e[+-][1-9][0-9]*)?\Z")
    generator = random.Random(8785)
    for _ in range(20000):
        (value,) = struct.unpack("<d", generator.getrandbits(64).to_bytes(8, "little"))
        if not math.isfinite(value):
            continue
        text = canonical_json(value).decode("ascii")
        assert shape.match(text), text
        assert float(text) == value
        assert canonical_json(json.loads(text)) == text.encode("ascii")


def test_integers_are_written_exactly() -> None:
    assert canonical_json(0) == b"0"
    assert canonical_json(-42) == b"-42"
    assert canonical_json(2**53 + 1) == b"9007199254740993"
    assert canonical_json(10**30) == b"1" + b"0" * 30
    assert canonical_json([1, 1.0, True]) == b"[1,1,true]"


def test_chinese_text_stays_utf8() -> None:
    value = {"名称": "拱墅区数据局", "地址": "杭州市拱墅区"}
    result = canonical_json(value)
    assert result == '{"名称":"拱墅区数据局","地址":"杭州市拱墅区"}'.encode()
    assert b"\\u" not in result
    assert json.loads(result) == value


def test_control_characters_are_escaped_as_in_json() -> None:
    text = '\x00\x01\x07\x1f\b\t\n\f\r"\\/\x7f\u2028'
    expected = '"\\u0000\\u0001\\u0007\\u001f\\b\\t\\n\\f\\r\\"\\\\/\x7f\u2028"'
    assert canonical_json(text) == expected.encode("utf-8")
    assert json.loads(canonical_json(text)) == text


def test_layout_has_no_whitespace_and_sorts_nested_objects() -> None:
    value = {"b": [1, {"z": None, "a": []}], "a": {}, "c": "x y"}
    assert canonical_json(value) == b'{"a":{},"b":[1,{"a":[],"z":null}],"c":"x y"}'
    assert canonical_json(OrderedDict([("b", 1), ("a", 2)])) == b'{"a":2,"b":1}'
    assert canonical_json([]) == b"[]"
    assert canonical_json({}) == b"{}"
    assert canonical_json(None) == b"null"
    assert canonical_json("") == b'""'


def test_canonical_form_is_stable_under_reparsing() -> None:
    value = {"金额": 12.5, "items": [1e-9, -0.0, "\U0001f600", {"\u00e9": 1, "e": 2}]}
    once = canonical_json(value)
    assert canonical_json(json.loads(once)) == once


@pytest.mark.parametrize(
    ("value", "path", "reason"),
    [
        ({"a": [0, 1, {"b": math.nan}]}, "$.a[2].b", "nan"),
        ({"a": [0, 1, {"b": math.inf}]}, "$.a[2].b", "inf"),
        ([-math.inf], "$[0]", "-inf"),
        ({"a": {1: "x"}}, "$.a", "keys must be strings"),
        ({None: 1}, "$", "keys must be strings"),
        ({"a": (1, 2)}, "$.a", "tuple"),
        ({"a": {"b c": {1, 2}}}, '$.a["b c"]', "set"),
        ([b"bytes"], "$[0]", "bytes"),
        ({"amount": Decimal("1.5")}, "$.amount", "Decimal"),
        ({"x": [object()]}, "$.x[0]", "object"),
        ({"s": "\ud83d"}, "$.s", "surrogate"),
        ({"\udc00": 1}, '$["\\udc00"]', "surrogate"),
    ],
)
def test_refusals_name_the_path(value: object, path: str, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        canonical_json(value)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert reason in message


def test_reference_cycles_are_refused() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="cycle"):
        canonical_json(loop)


# The fast path (the C ``json`` encoder, when it provably writes RFC 8785) must give the same
# bytes as the exact writer, and must step aside for everything the exact writer decides.

TRICKY_TEXT = [
    "",
    "plain",
    "拱墅区数据局",
    "金额（元），备注：无",  # fullwidth punctuation, U+FF08 / U+FF0C
    "\x00\x01\x07\x1f\b\t\n\f\r",
    '"\\/',
    "\x7f\u2028\u2029",
    "\ue000\uf8ff\ufb33\ufeff\uffff",
    "\U0001f600\U00010000\U0010ffff",
    "€$\u000f\nA'B\"\\",
]
TRICKY_FLOATS = [
    0.1,
    -1.5,
    12345.67,
    333333333.33333329,
    1424953923781206.2,
    0.0001,
    5e-324,
    1e-7,
    9.999999999999997e-7,
    1e16,
    1e21,
    1e23,
    1.7976931348623157e308,
    100.0,
    -0.0,
    0.0,
    2.0**53,
]
TRICKY_INTS = [0, -1, 2**53 - 1, -(2**53 - 1), 2**53 + 1, -(2**63), 10**30, -(10**40)]


def _random_value(generator: random.Random, depth: int = 0) -> object:
    roll = generator.random()
    if depth < 4 and roll < 0.25:
        return {
            _random_text(generator): _random_value(generator, depth + 1)
            for _ in range(generator.randrange(6))
        }
    if depth < 4 and roll < 0.4:
        return [_random_value(generator, depth + 1) for _ in range(generator.randrange(5))]
    choice = generator.randrange(6)
    if choice == 0:
        return _random_text(generator)
    if choice == 1:
        return generator.choice([*TRICKY_INTS, generator.randrange(-(2**60), 2**60)])
    if choice == 2:
        (value,) = struct.unpack("<d", generator.getrandbits(64).to_bytes(8, "little"))
        return value if math.isfinite(value) else generator.choice(TRICKY_FLOATS)
    if choice == 3:
        return round(generator.uniform(-1e6, 1e6), generator.randrange(4))
    if choice == 4:
        return generator.choice(TRICKY_FLOATS)
    return generator.choice([None, True, False])


def _random_text(generator: random.Random) -> str:
    pieces = [generator.choice(TRICKY_TEXT) for _ in range(generator.randrange(3))]
    return "".join(pieces) + generator.choice(["", "a", "z", "é", "测", "\uff0c", "\U0001f600"])


def test_fast_path_and_exact_writer_agree_on_random_tricky_values() -> None:
    generator = random.Random(20261125)
    fast_taken = 0
    for _ in range(5000):
        value = {"entry": _random_value(generator), "n": generator.randrange(100)}
        exact = _exact(value)
        fast = _fast(value)
        if fast is not None:
            fast_taken += 1
            assert fast == exact, value
        assert canonical_json(value) == exact
        assert canonical_json(json.loads(exact)) == exact  # stable under reparsing
    assert fast_taken > 500  # the fast path is really exercised, not always declined


@pytest.mark.parametrize(
    "value",
    [
        {"a": 1, "b": [True, False, None], "c": {"d": "e"}},
        {"金额": 12345.67, "名称": "运河沿岸社区文化活动季", "备注": "需补充（含预算明细）。"},
        {"big": 2**53 + 1, "huge": -(10**30), "small": -(2**53 - 1)},
        {"z": [[], {}, [[{"y": 0.5}]]], "a": ""},
        {"\ue000": 1, "\uffff": 2, "\ufb33": 3, "a": 4},  # high BMP keys without astral ones
        {"\U0001f600": 1, "\U00010000": 2, "a": 3},  # astral keys without high BMP ones
        {"s": TRICKY_TEXT},
        {"float": 1424953923781206.2, "tiny": 0.0001, "neg": -333333333.3333333},
    ],
)
def test_fast_path_serves_common_values_exactly(value: object) -> None:
    fast = _fast(value)
    assert fast is not None
    assert fast == _exact(value) == canonical_json(value)


class _Level(IntEnum):
    HIGH = 3


class _Text(str):
    __slots__ = ()


@pytest.mark.parametrize(
    "value",
    [
        {"\U0001f600": 1, "\ufb33": 2},  # UTF-16 order differs from code-point order here
        {"a": {"\U0001f600": 1}, "b": {"\ue000": 2}},
        *({"x": f} for f in (1e-7, 1e16, 1e21, 100.0, -0.0, 0.0, 2.0**53, 5e-324)),
        {"x": math.nan},
        {"x": [math.inf]},
        {"x": (1, 2)},
        {1: "x"},
        {"x": {True: 1}},
        {"x": "\ud83d"},
        {"\udc00": 1},
        {"x": "\ud83d\ude00"},  # two surrogate code points, not a character
        {"x": _Level.HIGH},
        {_Text("k"): 1},
        {"x": _Text("v")},
        {"x": Decimal("1.5")},
        {"x": b"bytes"},
        OrderedDict([("b", 1), ("a", 2)]),
        [1e22],
        "top-level string",
        1.5,
        7,
        None,
    ],
)
def test_fast_path_declines_what_only_the_exact_writer_may_decide(value: object) -> None:
    assert _fast(value) is None
    try:
        expected = _exact(value)
    except ValueError as exc:
        with pytest.raises(ValueError) as info:
            canonical_json(value)
        assert str(info.value) == str(exc)
    else:
        assert canonical_json(value) == expected


def test_astral_and_high_bmp_keys_keep_utf16_order() -> None:
    value = {"\ufb33": "dalet", "\U0001f600": "grin", "\ue000": "private", "a": "a"}
    assert canonical_json(value) == (
        '{"a":"a","\U0001f600":"grin","\ue000":"private","\ufb33":"dalet"}'.encode()
    )


def test_deep_values_are_decided_by_the_exact_writer() -> None:
    deep: object = "leaf"
    for _ in range(200):
        deep = [deep]
    assert _fast(deep) is None
    assert canonical_json(deep) == b"[" * 200 + b'"leaf"' + b"]" * 200
    loop: dict[str, object] = {}
    loop["self"] = loop
    with pytest.raises(ValueError, match="cycle"):
        canonical_json(loop)
