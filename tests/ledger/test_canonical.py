"""Tests for gongshu.ledger.canonical: RFC 8785 examples, number formatting, clear refusals."""

from __future__ import annotations

import json
import math
import random
import re
import struct
from collections import OrderedDict
from decimal import Decimal

import pytest

from gongshu.ledger.canonical import canonical_json


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
