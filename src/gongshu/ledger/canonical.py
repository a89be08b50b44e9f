"""RFC 8785 JSON Canonicalization Scheme (JCS): one byte string per JSON value.

Ledger entries are hashed and signed, so the same logical record must always serialise to the
same bytes, on any machine and in any language. JCS fixes every free choice JSON leaves open: no
insignificant whitespace, object members sorted by the UTF-16 code units of their names, strings
escaped minimally (non-ASCII such as Chinese stays literal UTF-8), and numbers written the way
ECMAScript's ``Number.prototype.toString`` writes an IEEE 754 double. Python's ``repr(float)``
already yields the shortest round-tripping digits (the same digits ECMAScript chooses), so only
the layout of those digits is done here.

Deviation, on purpose: Python ``int`` values are written exactly as decimal integers rather than
being rounded through a double, so large identifiers and amounts in minor units never lose
precision. Producers that must interoperate with strict JCS verifiers should keep integers within
``±(2**53 - 1)``, where both agree.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal

__all__ = ["canonical_json"]

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\]')
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"\\u{ord(char):04x}"


def _string(value: str, path: str) -> str:
    text = str.__str__(value)
    if _SURROGATE.search(text):
        raise ValueError(f"{path}: string contains a lone UTF-16 surrogate, not valid Unicode")
    return '"' + _NEEDS_ESCAPE.sub(_escape, text) + '"'


def _number(value: float, path: str) -> str:
    """Return the ECMAScript ``Number::toString`` form of a finite double."""
    if not math.isfinite(value):
        raise ValueError(f"{path}: {float.__repr__(value)} is not allowed in JSON")
    if value == 0:
        return "0"  # also -0.0
    sign = "-" if value < 0 else ""
    _, digit_tuple, exponent = Decimal(float.__repr__(abs(value))).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent += len(digit_tuple) - len(digits)
    k = len(digits)
    n = exponent + k  # value = 0.d1d2...dk * 10**n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
        text = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + text


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if _IDENTIFIER.match(key) else f"{path}[{json.dumps(key)}]"


def _utf16_order(item: tuple[str, object]) -> bytes:
    return item[0].encode("utf-16-be")


def _write(value: object, path: str, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value, path))
    elif isinstance(value, int) and not isinstance(value, bool):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_number(value, path))
    elif isinstance(value, list):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _write(item, f"{path}[{position}]", out)
        out.append("]")
    elif isinstance(value, dict):
        members: list[tuple[str, object]] = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(
                    f"{path}: object keys must be strings, not {type(key).__name__} {key!r}"
                )
            _string(key, _key_path(path, key))  # validates the key before it is sorted
            members.append((key, item))
        members.sort(key=_utf16_order)
        out.append("{")
        for position, (key, item) in enumerate(members):
            if position:
                out.append(",")
            out.append(_string(key, path))
            out.append(":")
            _write(item, _key_path(path, key), out)
        out.append("}")
    else:
        raise ValueError(
            f"{path}: {type(value).__name__} is not a JSON type "
            "(use dict, list, str, int, float, bool or None)"
        )


def canonical_json(value: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 JSON encoding of ``value``; ValueError if impossible."""
    out: list[str] = []
    try:
        _write(value, "$", out)
    except RecursionError:
        raise ValueError("$: value is nested too deeply or contains a reference cycle") from None
    return "".join(out).encode("utf-8")
