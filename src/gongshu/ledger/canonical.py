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

Speed: most ledger entries are dicts and lists of strings, integers, booleans and short decimal
amounts. For those, the standard library's C encoder (keys sorted, no whitespace, UTF-8 kept)
already writes the RFC 8785 bytes, so :func:`canonical_json` first checks in one cheap pass that
nothing in the value could make the two differ, and otherwise takes the exact writer below, which
also produces every error message.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
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


# The fast path. ``json`` and RFC 8785 agree on everything below except:
# * floats: ``repr`` gives the same shortest digits, but writes ``1e-07`` / ``1e+16`` / ``100.0``
#   where ECMAScript writes ``1e-7`` / ``10000000000000000`` / ``100``; a float is "plain" when
#   its repr has no exponent and is not integral, and then both texts are equal;
# * key order: ``sort_keys`` compares code points, RFC 8785 UTF-16 code units. They disagree only
#   between a character above U+FFFF (a surrogate pair, 0xD800-0xDBFF first) and one in
#   U+E000-U+FFFF, so keys holding both kinds go the exact way;
# * what ``json`` accepts and RFC 8785 refuses: tuples, non-string keys, NaN and infinities, lone
#   surrogates (refused by the UTF-8 encoding), subclasses with their own behaviour.
# Only exact built-in types are let through; anything else takes the exact path, which decides.
_FAST_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
)
_UPPER_BMP = re.compile("[\ue000-\uffff]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_SCALARS = (str, int, bool, type(None))
_STR = {str}
_FAST_DEPTH = 64  # deeper values take the exact path, so only it decides what is too deep


def _plain_float(value: float) -> bool:
    text = float.__repr__(value)
    return not ("e" in text or "n" in text or text[-2:] == ".0")  # "n": nan, inf


def _plain(value: object, keys: list[str], depth: int = 0) -> bool:
    """Whether ``json`` writes this dict or list as RFC 8785 does; collects the keys to check."""
    items: Iterable[object]
    if depth > _FAST_DEPTH:
        return False
    if type(value) is dict:
        keys.extend(value)
        items = value.values()
    elif type(value) is list:
        items = value
    else:
        return False
    for item in items:
        kind = type(item)
        if kind in _SCALARS:
            continue
        if kind is dict or kind is list:
            if not _plain(item, keys, depth + 1):
                return False
        elif kind is not float or not _plain_float(item):
            return False
    return True


def _fast(value: object) -> bytes | None:
    """The canonical bytes by the C encoder, or None when only the exact writer may answer."""
    keys: list[str] = []
    try:
        if not _plain(value, keys):
            return None
        if not set(map(type, keys)) <= _STR:  # non-string keys, str subclasses
            return None
        names = "".join(keys)
        if _UPPER_BMP.search(names) and _ASTRAL.search(names):
            return None
        return _FAST_ENCODER.encode(value).encode("utf-8")  # lone surrogates: UnicodeEncodeError
    except (ValueError, TypeError, RecursionError):
        return None


def canonical_json(value: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 JSON encoding of ``value``; ValueError if impossible."""
    fast = _fast(value)
    if fast is not None:
        return fast
    return _exact(value)


def _exact(value: object) -> bytes:
    """The reference writer: every rule of RFC 8785 spelled out, with the path of any refusal."""
    out: list[str] = []
    try:
        _write(value, "$", out)
    except RecursionError:
        raise ValueError("$: value is nested too deeply or contains a reference cycle") from None
    return "".join(out).encode("utf-8")
