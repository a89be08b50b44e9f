"""Bind a shared model's ``$name`` parameters as typed literals in the parsed tree."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

from sqlglot import exp

from gongshu.sandbox.guard_base import ParamSpec, refuse
from gongshu.sandbox.guard_dp import literal
from gongshu.sandbox.guard_parse import parse_statement

__all__ = ["bind"]

_INTEGER = re.compile(r"[+-]?\d{1,18}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _bad(name: str, zh: str, en: str) -> NoReturn:
    refuse("bad_parameter", f'参数 "{name}" {zh}', f'parameter "{name}" {en}', construct=name)


def _coerce(spec: ParamSpec, value: Any) -> Any:
    """The value in its spec's Python type, or a refusal; strings from forms are parsed strictly."""
    if spec.type == "string":
        if isinstance(value, str):
            return value
    elif spec.type == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            return int(value)
    elif spec.type == "decimal":
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            number = Decimal(value)
            if number.is_finite():
                return number
        if isinstance(value, float) and math.isfinite(value):
            return Decimal(repr(value))
        if isinstance(value, str):
            try:
                number = Decimal(value.strip())
            except InvalidOperation:
                number = Decimal("NaN")
            if number.is_finite():
                return number
    elif spec.type == "date":
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
    else:
        _bad(spec.name, f"的类型 {spec.type} 不受支持", f"has an unsupported type {spec.type}")
    _bad(spec.name, f"必须是 {spec.type} 类型", f"must be of type {spec.type}")


def _check_limits(spec: ParamSpec, value: Any) -> None:
    if spec.choices is not None:
        allowed = [_coerce(spec, choice) for choice in spec.choices]
        if value not in allowed:
            _bad(spec.name, "不在可选值之内", "is not one of the allowed choices")
    if spec.type in {"integer", "decimal"}:
        number = Decimal(value)
        if spec.minimum is not None and number < Decimal(repr(spec.minimum)):
            _bad(spec.name, f"不能小于 {spec.minimum}", f"must be at least {spec.minimum}")
        if spec.maximum is not None and number > Decimal(repr(spec.maximum)):
            _bad(spec.name, f"不能大于 {spec.maximum}", f"must be at most {spec.maximum}")


def bind(sql: str, params: Mapping[str, Any], specs: Sequence[ParamSpec]) -> str:
    """Substitute ``$name`` parameters with typed literals; refuse unknown, missing or bad ones."""
    tree = parse_statement(sql)
    by_name = {spec.name: spec for spec in specs}
    for name in params:
        if name not in by_name:
            _bad(str(name), "未定义", "is not defined by this model")
    for spec in specs:
        if spec.name not in params:
            _bad(spec.name, "缺失", "is missing")
    values = {}
    for spec in specs:
        value = _coerce(spec, params[spec.name])
        _check_limits(spec, value)
        values[spec.name] = literal(value, spec.type)
    for node in list(tree.find_all(exp.Placeholder, exp.Parameter)):
        name = str(node.name) if node.this is not None else ""
        if not _NAME.fullmatch(name) or name not in values:
            _bad(name or "?", "未定义", "is not defined by this model")
        node.replace(values[name].copy())
    return tree.sql(dialect="duckdb", comments=False)
