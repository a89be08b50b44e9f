"""Quality rules: the rule model, parsing with validation, default rules and evaluation.

A rule checks one or more fields of a stored dataset version. Evaluation reads the Parquet file
in one aggregate scan for every row-level rule together (each rule's failures counted with
``count(*) FILTER (WHERE …)`` over flags computed once per row, and its first failing rows
kept with ``min_by(…, row, n)``), then one statement per ``unique`` and per ``reference`` rule.
The citizen-ID and USCC rules, and the ``unique`` rules over one column whose values pack into
64-bit integers, run in numpy instead (:mod:`gongshu.quality.column_scan`), one read of each
column for all of them; the footer's NULL counts spare the scan what they answer. ``type``
counts come from the ingest and ``timeliness`` from the version's metadata.

Parameters by kind (``Rule.params``, JSON values):

==============  =====================================================================
completeness    none: the value must be present and, for text, not blank
type            optional ``type``: the field type the column must have (a data element's)
range           ``min`` and/or ``max``, inclusive: numbers, or ISO dates for date fields
code_list       ``values``: the allowed codes (compared as text)
regex           ``pattern``: an RE2 pattern the whole value must match
date            ``min`` and/or ``max``: ISO dates or ``"today"``; none means ``max: today``
citizen_id      none (GB 11643)
uscc            none (GB 32100)
unique          none; ``fields`` are the key; rows with a NULL key part are skipped
cross_field     ``op``: one of ``= != < <= > >=``, read ``fields[0] op fields[1]``
reference       ``column`` and either ``entry`` (the catalog entry whose file is the reference)
                or ``registry`` (a base-data registry: ``person``, ``enterprise``, ``component``)
timeliness      none; no fields
==============  =====================================================================
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

import duckdb

from gongshu.catalog.vocab import FREQUENCY_INTERVALS, FieldType, UpdateFrequency
from gongshu.kernel.clock import SystemClock, local_date
from gongshu.kernel.errors import InvalidInput
from gongshu.quality import column_scan
from gongshu.quality.checks import (
    COMPARISONS,
    DUCKDB_TYPES,
    NUMERIC_TYPES,
    TEMPORAL_TYPES,
    code_list_valid_sql,
    compare_sql,
    date_range_valid_sql,
    filled_sql,
    fixed_ascii_atoms,
    quote_ident,
    quote_literal,
    range_valid_sql,
    regex_valid_sql,
)
from gongshu.quality.profile import (
    FieldSpec,
    footer_nulls,
    footer_ranges,
    parquet_columns,
    parquet_rows,
)

__all__ = [
    "DIMENSION_OF",
    "OVERDUE_AFTER_DAYS",
    "REGISTRIES",
    "SEVERITIES",
    "Dimension",
    "ElementSpec",
    "Rule",
    "RuleKind",
    "RuleResult",
    "default_rules",
    "evaluate",
    "parse_rule",
    "scanned_columns",
]


class RuleKind(StrEnum):
    """What a rule checks."""

    COMPLETENESS = "completeness"
    TYPE = "type"
    RANGE = "range"
    CODE_LIST = "code_list"
    REGEX = "regex"
    DATE = "date"
    CITIZEN_ID = "citizen_id"
    USCC = "uscc"
    UNIQUE = "unique"
    CROSS_FIELD = "cross_field"
    REFERENCE = "reference"
    TIMELINESS = "timeliness"


class Dimension(StrEnum):
    """The quality dimensions scores are given in."""

    COMPLETENESS = "completeness"
    VALIDITY = "validity"
    UNIQUENESS = "uniqueness"
    CONSISTENCY = "consistency"
    TIMELINESS = "timeliness"


DIMENSION_OF: dict[RuleKind, Dimension] = {
    RuleKind.COMPLETENESS: Dimension.COMPLETENESS,
    RuleKind.TYPE: Dimension.VALIDITY,
    RuleKind.RANGE: Dimension.VALIDITY,
    RuleKind.CODE_LIST: Dimension.VALIDITY,
    RuleKind.REGEX: Dimension.VALIDITY,
    RuleKind.DATE: Dimension.VALIDITY,
    RuleKind.CITIZEN_ID: Dimension.VALIDITY,
    RuleKind.USCC: Dimension.VALIDITY,
    RuleKind.UNIQUE: Dimension.UNIQUENESS,
    RuleKind.CROSS_FIELD: Dimension.CONSISTENCY,
    RuleKind.REFERENCE: Dimension.CONSISTENCY,
    RuleKind.TIMELINESS: Dimension.TIMELINESS,
}

# Days after its date a version of each update frequency is overdue (None: never): the
# catalogue's own intervals, so the entry page and the timeliness score agree.
OVERDUE_AFTER_DAYS: dict[UpdateFrequency, int | None] = {
    frequency: (interval.days if interval is not None else None)
    for frequency, interval in FREQUENCY_INTERVALS.items()
}
SEVERITIES = ("error", "warning")
TODAY = "today"

_PARAMS: dict[RuleKind, frozenset[str]] = {
    RuleKind.TYPE: frozenset({"type"}),
    RuleKind.RANGE: frozenset({"min", "max"}),
    RuleKind.CODE_LIST: frozenset({"values"}),
    RuleKind.REGEX: frozenset({"pattern"}),
    RuleKind.DATE: frozenset({"min", "max"}),
    RuleKind.CROSS_FIELD: frozenset({"op"}),
    RuleKind.REFERENCE: frozenset({"entry", "registry", "column"}),
}
# The base-data registries (gongshu.quality.basedata) a reference rule may name instead of an
# entry: persons by citizen ID, enterprises by USCC, city components by component code.
REGISTRIES = ("person", "enterprise", "component")
_TEXT_ONLY = frozenset({RuleKind.CITIZEN_ID, RuleKind.USCC})
_ANY_TYPE = frozenset({RuleKind.COMPLETENESS, RuleKind.TYPE})
_CITIZEN_ID_WORDS = ("公民身份号码", "身份证号", "身份证件号")
_USCC_WORDS = ("统一社会信用代码",)


@dataclass(frozen=True)
class Rule:
    """One quality rule over the fields of a dataset version."""

    id: str
    kind: RuleKind
    fields: tuple[str, ...]
    params: Mapping[str, Any]
    severity: str = "error"

    def to_json(self) -> dict[str, Any]:
        """The rule as parse_rule accepts it."""
        return {
            "id": self.id,
            "kind": str(self.kind),
            "fields": list(self.fields),
            "params": dict(self.params),
            "severity": self.severity,
        }


@dataclass(frozen=True)
class ElementSpec:
    """A data element (数据元): the standard a field with its code must meet."""

    code: str
    name: str
    type: str
    pattern: str | None = None
    code_list: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleResult:
    """How many values a rule checked, how many failed, and the first failing rows.

    A sample is ``{"row": 1-based file row, "field": name, "value": text}``; rules over several
    fields give ``"field"`` as the names joined by ", " and ``"value"`` as ``{field: text}``.
    """

    rule: Rule
    checked: int
    failed: int
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when nothing failed."""
        return self.failed == 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {
            "rule": self.rule.to_json(),
            "checked": self.checked,
            "failed": self.failed,
            "samples": list(self.samples),
        }


# --- parsing ---------------------------------------------------------------------------------


def _problem(where: str, key: str, message: str, names: Sequence[str] = ()) -> InvalidInput:
    """The error for one rule attribute; the message names the rule's fields if it does not."""
    if names and not any(name in message for name in names):
        message = f"字段「{'、'.join(names)}」: {message}"
    return InvalidInput.field(f"{where}.{key}", message)


def _declared_names(data: Mapping[str, Any]) -> list[str]:
    """The field names a rule description mentions, before any checking (for messages)."""
    raw = data.get("fields", [data["field"]] if "field" in data else [])
    if isinstance(raw, str):
        return [raw]
    return [str(name) for name in raw] if isinstance(raw, Sequence) else []


def parse_rule(data: Mapping[str, Any], fields: Sequence[FieldSpec], *, where: str) -> Rule:
    """Validate a rule description against the version's fields; errors name rule and field."""
    if not isinstance(data, Mapping):
        raise InvalidInput.field(where, "规则须为对象 (a rule must be an object)")
    named = _declared_names(data)
    unknown = sorted(set(data) - {"id", "kind", "field", "fields", "params", "severity"})
    if unknown:
        message = f"未知的规则属性 (unknown rule attribute {unknown[0]!r})"
        raise _problem(where, unknown[0], message, named)
    try:
        kind = RuleKind(str(data.get("kind")))
    except ValueError:
        message = f"未知的规则类型 (unknown rule kind {data.get('kind')!r})"
        raise _problem(where, "kind", message, named) from None
    by_name = {spec.name: spec for spec in fields}
    specs = _rule_fields(data, kind, by_name, where)
    raw_params = data.get("params") or {}
    if not isinstance(raw_params, Mapping):
        raise _problem(where, "params", "参数须为对象 (params must be an object)", named)
    extra = sorted(set(raw_params) - _PARAMS.get(kind, frozenset()))
    if extra:
        message = f"{kind} 规则没有参数 (unknown parameter {extra[0]!r})"
        raise _problem(where, f"params.{extra[0]}", message, named)
    params = _parse_params(kind, specs, raw_params, where)
    severity = str(data.get("severity") or "error")
    if severity not in SEVERITIES:
        message = f"严重程度须为 error 或 warning (got {severity!r})"
        raise _problem(where, "severity", message, named)
    rule_id = data.get("id") or f"{kind}:{'+'.join(spec.name for spec in specs)}"
    if not isinstance(rule_id, str):
        raise _problem(where, "id", "规则标识须为文本 (id must be text)", named)
    return Rule(rule_id, kind, tuple(spec.name for spec in specs), params, severity)


def _rule_fields(
    data: Mapping[str, Any], kind: RuleKind, by_name: Mapping[str, FieldSpec], where: str
) -> list[FieldSpec]:
    """The rule's fields, checked to exist, in the number its kind needs."""
    raw = data.get("fields", [data["field"]] if "field" in data else [])
    if isinstance(raw, str) or not isinstance(raw, Sequence):
        raise _problem(where, "fields", "字段须为列表 (fields must be a list of names)")
    names = _declared_names(data)
    for name in names:
        if name not in by_name:
            raise _problem(where, "fields", f"没有字段「{name}」 (unknown field {name!r})")
    if len(set(names)) != len(names):
        raise _problem(where, "fields", "字段重复 (a field is named twice)", names)
    wanted = {RuleKind.TIMELINESS: (0, 0), RuleKind.UNIQUE: (1, 8), RuleKind.CROSS_FIELD: (2, 2)}
    low, high = wanted.get(kind, (1, 1))
    if not low <= len(names) <= high:
        count = str(low) if low == high else f"{low}..{high}"
        raise _problem(where, "fields", f"{kind} 规则需要 {count} 个字段 (needs {count} fields)")
    specs = [by_name[name] for name in names]
    for spec in specs:
        if kind in _TEXT_ONLY and spec.type != FieldType.STRING:
            raise _problem(
                where,
                "fields",
                f"字段「{spec.name}」不是字符型 ({kind} needs a string field, not {spec.type})",
            )
        if kind not in _ANY_TYPE and spec.type == FieldType.BINARY:
            raise _problem(
                where, "fields", f"字段「{spec.name}」是二进制 ({kind} cannot check binary)"
            )
    return specs


def _parse_params(
    kind: RuleKind, specs: Sequence[FieldSpec], raw: Mapping[str, Any], where: str
) -> dict[str, Any]:
    """Validated, canonical (JSON) parameters of a rule."""
    spec = specs[0] if specs else None
    if kind == RuleKind.TYPE:
        if "type" not in raw:
            return {}
        try:
            return {"type": str(FieldType(str(raw["type"])))}
        except ValueError:
            message = f"未知的数据类型 (unknown field type {raw['type']!r})"
            raise _problem(where, "params.type", message, [_name(spec)]) from None
    if kind in (RuleKind.RANGE, RuleKind.DATE):
        assert spec is not None
        return _parse_bounds(kind, spec, raw, where)
    if kind == RuleKind.CODE_LIST:
        values = raw.get("values")
        if isinstance(values, str) or not isinstance(values, Sequence) or not values:
            raise _problem(
                where, "params.values", f"字段「{_name(spec)}」的代码表为空 (empty code list)"
            )
        codes = list(dict.fromkeys(str(value) for value in values))
        return {"values": codes}
    if kind == RuleKind.REGEX:
        pattern = raw.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            message = f"字段「{_name(spec)}」缺少正则表达式 (no pattern)"
            raise _problem(where, "params.pattern", message)
        problem = _regex_problem(pattern)
        if problem:
            raise _problem(
                where,
                "params.pattern",
                f"字段「{_name(spec)}」的正则表达式无效 (invalid pattern {pattern!r}: {problem})",
            )
        return {"pattern": pattern}
    if kind == RuleKind.CROSS_FIELD:
        return _parse_cross_field(specs, raw, where)
    if kind == RuleKind.REFERENCE:
        target = "registry" if "registry" in raw and "entry" not in raw else "entry"
        if "registry" in raw and "entry" in raw:
            message = f"字段「{_name(spec)}」的参照只能是目录或基础数据之一 (entry or registry)"
            raise _problem(where, "params.registry", message)
        out = {}
        for key in (target, "column"):
            value = raw.get(key)
            if not isinstance(value, str) or not value:
                message = f"字段「{_name(spec)}」缺少参照{key} (no reference {key})"
                raise _problem(where, f"params.{key}", message)
            out[key] = value
        if out.get("registry", REGISTRIES[0]) not in REGISTRIES:
            message = (
                f"字段「{_name(spec)}」的基础数据「{out['registry']}」不存在 (unknown registry "
                f"{out['registry']!r}; known: {', '.join(REGISTRIES)})"
            )
            raise _problem(where, "params.registry", message)
        return out
    return {}


def _name(spec: FieldSpec | None) -> str:
    return spec.name if spec else ""


@functools.lru_cache(maxsize=256)
def _regex_problem(pattern: str) -> str | None:
    """DuckDB's (RE2's) complaint about a pattern, or None if it compiles."""
    try:
        with duckdb.connect() as con:
            con.execute(f"SELECT regexp_full_match('', {quote_literal(pattern)})").fetchall()
    except (duckdb.Error, ValueError) as exc:
        return str(exc).splitlines()[0]
    return None


def _parse_bounds(
    kind: RuleKind, spec: FieldSpec, raw: Mapping[str, Any], where: str
) -> dict[str, Any]:
    """``min``/``max`` of a range or date rule, as canonical JSON values."""
    temporal = spec.type in TEMPORAL_TYPES
    if kind == RuleKind.DATE and not temporal:
        raise _problem(
            where, "fields", f"字段「{spec.name}」不是日期型 (date rules need a date field)"
        )
    if kind == RuleKind.RANGE and not (temporal or spec.type in NUMERIC_TYPES):
        raise _problem(
            where,
            "fields",
            f"字段「{spec.name}」不是数值或日期型 (range needs a number or date field)",
        )
    if kind == RuleKind.DATE and not raw:
        return {"max": TODAY}
    bounds: dict[str, Any] = {}
    parsed: dict[str, Any] = {}
    for key in ("min", "max"):
        if raw.get(key) is None:
            continue
        value = raw[key]
        try:
            if kind == RuleKind.DATE and value == TODAY:
                bounds[key] = TODAY
                continue
            parsed[key] = _parse_bound(spec.type, value)
        except (ValueError, TypeError, InvalidOperation):
            raise _problem(
                where,
                f"params.{key}",
                f"字段「{spec.name}」的{'最小' if key == 'min' else '最大'}值无效 "
                f"(invalid {key} {value!r} for a {spec.type} field)",
            ) from None
        bounds[key] = _canonical(parsed[key])
    if not bounds:
        raise _problem(where, "params", f"字段「{spec.name}」缺少上下限 (give min or max)")
    if "min" in parsed and "max" in parsed and parsed["min"] > parsed["max"]:
        raise _problem(
            where,
            "params",
            f"字段「{spec.name}」的最小值大于最大值 "
            f"(min {bounds['min']} is greater than max {bounds['max']})",
        )
    return bounds


def _parse_bound(field_type: str, value: Any) -> Any:
    """A bound as a comparable Python value for the field type; ValueError if it is not one."""
    if isinstance(value, bool):
        raise ValueError("a bound cannot be true or false")
    if field_type == FieldType.DATE:
        if isinstance(value, datetime) or not isinstance(value, date | str):
            raise ValueError("not a date")
        return value if isinstance(value, date) else date.fromisoformat(value)
    if field_type == FieldType.DATETIME:
        if isinstance(value, datetime):
            return value
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day)
        return datetime.fromisoformat(str(value))
    if not isinstance(value, int | float | Decimal | str):
        raise ValueError("not a number")
    number = Decimal(str(value).strip())
    if not number.is_finite():
        raise ValueError("not a finite number")
    if field_type == FieldType.INTEGER and number != number.to_integral_value():
        raise ValueError("not a whole number")
    if field_type == FieldType.MONEY and number.as_tuple().exponent < -6:  # type: ignore[operator]
        raise ValueError("more than 6 decimal places")
    return number


def _canonical(value: Any) -> Any:
    """A parsed bound as JSON: ISO text for dates, int or decimal text for numbers."""
    if isinstance(value, date):
        return value.isoformat()
    assert isinstance(value, Decimal)
    if value == value.to_integral_value():
        return int(value)
    return f"{value.normalize():f}"


def _parse_cross_field(
    specs: Sequence[FieldSpec], raw: Mapping[str, Any], where: str
) -> dict[str, Any]:
    """The comparison of a cross-field rule, with the two fields' types checked to match."""
    left, right = specs
    op = raw.get("op")
    if op not in COMPARISONS:
        raise _problem(
            where,
            "params.op",
            f"字段「{left.name}」与「{right.name}」的比较符无效 "
            f"(op must be one of {' '.join(COMPARISONS)}, got {op!r})",
        )
    families = [
        "number" if s.type in NUMERIC_TYPES else "time" if s.type in TEMPORAL_TYPES else s.type
        for s in specs
    ]
    if families[0] != families[1]:
        raise _problem(
            where,
            "fields",
            f"字段「{left.name}」({left.type}) 与「{right.name}」({right.type}) 类型不一致 "
            "(cannot compare fields of different types)",
        )
    if families[0] == FieldType.BOOLEAN and op not in ("=", "!="):
        raise _problem(
            where, "params.op", f"字段「{left.name}」是布尔型 (booleans compare only with = or !=)"
        )
    return {"op": op}


# --- default rules ---------------------------------------------------------------------------


def _says(spec: FieldSpec, element: ElementSpec | None, words: Sequence[str]) -> bool:
    names = [spec.name] + ([element.name] if element else [])
    return spec.type == FieldType.STRING and any(w in n for w in words for n in names)


def default_rules(
    fields: Sequence[FieldSpec], *, elements: Mapping[str, ElementSpec] = {}
) -> list[Rule]:
    """The rules every version gets: completeness, identifier checks and data-element standards.

    Completeness is a warning (an optional field may be empty); the rest are errors.
    """
    rules: list[Rule] = []

    def add(spec: FieldSpec, kind: RuleKind, **extra: Any) -> None:
        data = {"kind": str(kind), "fields": [spec.name], **extra}
        rules.append(parse_rule(data, fields, where=f"默认规则 (default rule) {kind}/{spec.name}"))

    for spec in fields:
        add(spec, RuleKind.COMPLETENESS, severity="warning")
    for spec in fields:
        element = elements.get(spec.element_code) if spec.element_code else None
        if _says(spec, element, _CITIZEN_ID_WORDS):
            add(spec, RuleKind.CITIZEN_ID)
        elif _says(spec, element, _USCC_WORDS):
            add(spec, RuleKind.USCC)
        if element is None:
            continue
        add(spec, RuleKind.TYPE, params={"type": element.type})
        if element.pattern:
            add(spec, RuleKind.REGEX, params={"pattern": element.pattern})
        if element.code_list:
            add(spec, RuleKind.CODE_LIST, params={"values": list(element.code_list)})
    return rules


# --- evaluation ------------------------------------------------------------------------------

_ROW_LEVEL = frozenset(DIMENSION_OF) - {RuleKind.UNIQUE, RuleKind.REFERENCE, RuleKind.TIMELINESS}
# Row rules checked outside the SQL scan, in numpy (gongshu.quality.column_scan).
_IDENTIFIER_RULES = frozenset({RuleKind.CITIZEN_ID, RuleKind.USCC})
_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT")
# Unique keys of one column of these types may be counted in numpy (gongshu.quality.column_scan).
_PACKABLE_TYPES = ("VARCHAR", "DATE", "TINYINT", "SMALLINT", "INTEGER", "BIGINT")


def _type_matches(column_type: str, field_type: str) -> bool:
    """True when a Parquet column's DuckDB type is what the ingest writes for ``field_type``."""
    if field_type == FieldType.INTEGER:
        return column_type.lstrip("U") in _INTEGER_TYPES
    if field_type == FieldType.MONEY:
        return column_type.startswith("DECIMAL")
    if field_type == FieldType.DECIMAL:
        return column_type in ("DOUBLE", "FLOAT") or column_type.startswith("DECIMAL")
    if field_type == FieldType.DATETIME:
        return column_type.startswith("TIMESTAMP")
    return column_type == DUCKDB_TYPES.get(field_type)


def _bound(value: Any, column_type: str, today: date) -> Any:
    """A canonical (JSON) bound back as a Python value to compare a column of this type with."""
    if value is None:
        return None
    if value == TODAY:
        return today
    if column_type == "DATE":  # a date rule over a datetime field has datetime bounds
        return datetime.fromisoformat(str(value)).date()
    if column_type.startswith("TIMESTAMP"):
        return datetime.fromisoformat(str(value))
    return value if isinstance(value, int) else Decimal(str(value))


def _failure_sql(rule: Rule, types: Mapping[str, str], today: date) -> str | None:
    """A per-row expression true when the row fails the rule (NULL or false otherwise)."""
    cols = [quote_ident(name) for name in rule.fields]
    col = cols[0] if cols else ""
    column_type = types.get(rule.fields[0], "") if rule.fields else ""
    params = rule.params
    if rule.kind == RuleKind.COMPLETENESS:
        field_type = FieldType.STRING if column_type == "VARCHAR" else column_type
        return f"NOT {filled_sql(col, field_type)}"
    if rule.kind == RuleKind.TYPE:
        expected = params.get("type")
        if expected and not _type_matches(column_type, expected):
            return f"({col} IS NOT NULL)"  # the whole column is of the wrong type
        return None
    if rule.kind == RuleKind.DATE:
        low, high = (_bound(params.get(key), "DATE", today) for key in ("min", "max"))
        return f"NOT {date_range_valid_sql(col, low, high)}"
    if rule.kind == RuleKind.RANGE:
        low, high = (_bound(params.get(key), column_type, today) for key in ("min", "max"))
        return f"NOT {range_valid_sql(col, low, high)}"
    if rule.kind == RuleKind.CODE_LIST:
        return f"NOT {code_list_valid_sql(col, params['values'])}"
    if rule.kind == RuleKind.REGEX:
        return f"NOT {regex_valid_sql(col, params['pattern'])}"
    if rule.kind == RuleKind.CROSS_FIELD:
        return f"NOT {compare_sql(cols[0], params['op'], cols[1])}"
    raise AssertionError(f"not a row-level rule: {rule.kind}")


def _checked_sql(rule: Rule) -> str:
    """How many rows a row-level rule checks: all rows, or those with every field present."""
    if rule.kind in (RuleKind.COMPLETENESS, RuleKind.TYPE):
        return "count(*)"
    present = " AND ".join(f"{quote_ident(name)} IS NOT NULL" for name in rule.fields)
    return f"count(*) FILTER (WHERE {present})"


@dataclass
class _Tally:
    """A rule's counts and the 0-based file rows of its first failures (values fetched later)."""

    checked: int
    failed: int
    rows: list[int] = field(default_factory=list)
    duplicate_of: list[int] = field(default_factory=list)


def _first_rows(flag: str, row: str, samples: int) -> str:
    """The first ``samples`` rows where ``flag`` holds, as a list of row numbers.

    Only row numbers: DuckDB computes an aggregate's argument for every row before its FILTER
    applies, and building text samples for nine million failing rows cost 5 s of 10.
    """
    return f"min_by({row}, {row}, {samples}) FILTER (WHERE {flag})"


def evaluate(
    con: duckdb.DuckDBPyConnection,
    path: str,
    rules: Sequence[Rule],
    *,
    references: Mapping[str, str] = {},
    type_errors: Mapping[str, int] = {},
    version_date: date | None = None,
    update_frequency: str | None = None,
    today: date | None = None,
    samples: int = 20,
    masked: Collection[str] = frozenset(),
    blank_is_null: bool = False,
    distinct_share: int = 0,
    on_counts: Callable[[Mapping[str, column_scan.ColumnCount]], None] | None = None,
) -> list[RuleResult]:
    """Evaluate rules on a Parquet file; results in the rules' order.

    ``on_counts`` hears, as soon as the numpy scan is done, the :class:`ColumnCount` of each
    column it read (:func:`scanned_columns`), hash-sampled at ``distinct_share`` — for the
    profile, which then need not read them again.

    ``blank_is_null``: the file's text was trimmed on the way in and blank text stored as NULL
    (true of every version file: the ingest does both), so a text value is filled when it is
    not NULL.

    ``references`` maps a reference rule's id (or its ``entry``, or ``registry:<kind>``) to the
    reference Parquet file; ``type_errors`` are the ingest's cell type errors by field name.
    Sample values of fields in ``masked`` (identifier and sensitive fields) are None, marked
    ``"withheld": True``.
    ``today`` defaults to today's date in Beijing.
    """
    if samples < 0:
        raise InvalidInput.field("samples", "must not be negative")
    day = today or local_date(SystemClock().now())
    needed = list(dict.fromkeys(name for rule in rules for name in rule.fields))
    types = parquet_columns(con, path, needed)
    row_rules = [(i, r) for i, r in enumerate(rules) if r.kind in _ROW_LEVEL]
    checks, keys = _scan_plan(rules, types)
    sql_rules = [(i, r) for i, r in row_rules if i not in {check.key for check in checks}]
    # The numpy scan first, and the SQL scan as soon as its columns are read: the numpy scan
    # ends on one core (the key sort), and the SQL scan (and the caller's profile) keep the
    # other busy through it.
    with con.cursor() as other, ThreadPoolExecutor(1, thread_name_prefix="gongshu-rules") as pool:
        started: list[Future[tuple[int, dict[int, _Tally]]]] = []

        def counted(counts: Mapping[str, column_scan.ColumnCount]) -> None:
            if on_counts is not None:
                on_counts(counts)
            started.append(
                pool.submit(
                    _scan, other, path, sql_rules, types, day, samples, blank_is_null=blank_is_null
                )
            )

        scanned = _column_scan(con, path, checks, keys, samples, distinct_share, counted)
        rows, tallies = started[0].result()
    row_indices = {index for index, _ in row_rules}
    tallies.update({index: tally for index, tally in scanned.items() if index in row_indices})
    for index, rule in row_rules:
        tally = tallies.setdefault(index, _Tally(rows, 0))
        if rule.kind == RuleKind.TYPE:
            tally.failed = min(rows, tally.failed + int(type_errors.get(rule.fields[0], 0)))
    timely: dict[int, RuleResult] = {}
    for index, rule in enumerate(rules):
        if rule.kind == RuleKind.UNIQUE:
            packed = scanned.get(index)
            tallies[index] = packed if packed is not None else _unique(con, path, rule, samples)
        elif rule.kind == RuleKind.REFERENCE:
            tallies[index] = _reference(con, path, rule, types, references, samples)
        elif rule.kind == RuleKind.TIMELINESS:
            timely[index] = _timeliness(rule, version_date, update_frequency, day)
    wanted = {row for tally in tallies.values() for row in tally.rows}
    shown = [name for name in needed if name not in masked]
    values = _fetch(con, path, wanted, shown)
    results = []
    for index, rule in enumerate(rules):
        if index in timely:
            results.append(timely[index])
            continue
        tally = tallies[index]
        found = [_sample(rule, row, values.get(row, {}), masked) for row in tally.rows]
        for sample, first in zip(found, tally.duplicate_of, strict=False):
            sample["duplicate_of"] = first + 1
        results.append(RuleResult(rule, tally.checked, tally.failed, found))
    return results


def _source(path: str) -> str:
    return f"read_parquet({quote_literal(path)}, file_row_number = true)"


def _sample(
    rule: Rule, row: int, values: Mapping[str, str | None], masked: Collection[str]
) -> dict[str, Any]:
    """One sample dict for a failing row (0-based ``row``; shown 1-based)."""
    out: dict[str, Any] = {"row": row + 1, "field": ", ".join(rule.fields)}
    if len(rule.fields) == 1:
        out["value"] = values.get(rule.fields[0])
    else:
        out["value"] = {name: values.get(name) for name in rule.fields}
    if any(name in masked for name in rule.fields):
        out["withheld"] = True
    return out


def _fetch(
    con: duckdb.DuckDBPyConnection, path: str, rows: Collection[int], names: Sequence[str]
) -> dict[int, dict[str, str | None]]:
    """The given fields of the given rows, as text: one statement, row groups skipped by row."""
    if not rows or not names:
        return {}
    columns = ", ".join(f"CAST({quote_ident(name)} AS VARCHAR)" for name in names)
    wanted = ", ".join(str(int(row)) for row in sorted(rows))
    found = con.execute(
        f"SELECT file_row_number, {columns} FROM {_source(path)} "
        f"WHERE file_row_number IN ({wanted})"
    ).fetchall()
    return {int(row[0]): dict(zip(names, row[1:], strict=True)) for row in found}


def _scan(
    con: duckdb.DuckDBPyConnection,
    path: str,
    row_rules: Sequence[tuple[int, Rule]],
    types: Mapping[str, str],
    today: date,
    samples: int,
    *,
    blank_is_null: bool,
) -> tuple[int, dict[int, _Tally]]:
    """The one aggregate scan: row count, and each row-level rule's counts and failing rows.

    The footer answers what it can without it: a completeness rule over a column with no
    NULLs (and no blank text: not text, or ``blank_is_null``) passes on every row, a one-field
    rule checks the column's non-NULL values, and a range or date rule whose column's minimum
    and maximum both pass passes on every value.
    """
    rows = parquet_rows(con, path)
    nulls = footer_nulls(con, path)
    within = _within_bounds(con, path, row_rules, types, today, nulls)
    flags, outer = [], ["count(*) AS __rows"]
    out: dict[int, _Tally] = {}
    evaluated: list[tuple[int, Rule, bool]] = []
    for index, rule in row_rules:
        column = rule.fields[0] if len(rule.fields) == 1 else ""
        known = nulls.get(column) if column else None
        if rule.kind == RuleKind.COMPLETENESS and (blank_is_null or types[column] != "VARCHAR"):
            if known == 0:
                out[index] = _Tally(rows, 0)
                continue
            failure: str | None = f"({quote_ident(rule.fields[0])} IS NULL)"
        elif index in within:
            out[index] = _Tally(rows - nulls[column], 0)
            continue
        else:
            failure = _failure_sql(rule, types, today)
        if failure is None:
            continue
        flag = f"__f{index}"
        flags.append(f"{failure} AS {flag}")
        counted = known is None or rule.kind in (RuleKind.COMPLETENESS, RuleKind.TYPE)
        if counted:
            outer.append(_checked_sql(rule))
        outer.append(f"count(*) FILTER (WHERE {flag})")
        if samples:
            outer.append(_first_rows(flag, "__row", samples))
        evaluated.append((index, rule, counted))
    if not evaluated:
        return rows, out
    names = dict.fromkeys(name for _, rule, _ in evaluated for name in rule.fields)
    columns = [quote_ident(name) for name in names]
    inner = ", ".join(["file_row_number AS __row", *columns, *flags])
    statement = f"SELECT {', '.join(outer)} FROM (SELECT {inner} FROM {_source(path)})"
    row = con.execute(statement).fetchone()
    assert row is not None
    position = 1
    for index, rule, counted in evaluated:
        if counted:
            checked = int(row[position])
            position += 1
        else:
            checked = rows - nulls[rule.fields[0]]
        tally = _Tally(checked, int(row[position]))
        position += 1
        if samples:
            tally.rows = [int(r) for r in row[position] or ()]
            position += 1
        out[index] = tally
    return int(row[0]), out


def _within_bounds(
    con: duckdb.DuckDBPyConnection,
    path: str,
    row_rules: Sequence[tuple[int, Rule]],
    types: Mapping[str, str],
    today: date,
    nulls: Mapping[str, int],
) -> set[int]:
    """The range and date rules (one field, NULL count known) that every value passes, by the
    file's exact minimum and maximum of their column: no scan needed for them."""
    bounded = {
        index: rule
        for index, rule in row_rules
        if rule.kind in (RuleKind.RANGE, RuleKind.DATE) and rule.fields[0] in nulls
    }
    ranges = footer_ranges(con, path, {r.fields[0]: types[r.fields[0]] for r in bounded.values()})
    checks, order = [], []
    for index, rule in bounded.items():
        column = rule.fields[0]
        if column not in ranges:
            continue
        low, high = ranges[column]
        if low is None or high is None:  # every value NULL: nothing to check
            order.append(index)
            checks.append("true")
            continue
        failure = _failure_sql(replace(rule, fields=("v",)), {"v": types[column]}, today)
        ends = f"(VALUES (CAST({quote_literal(low)} AS {types[column]})), "
        ends += f"(CAST({quote_literal(high)} AS {types[column]}))) AS t(v)"
        checks.append(f"(SELECT coalesce(bool_and(NOT {failure}), false) FROM {ends})")
        order.append(index)
    if not checks:
        return set()
    found = con.execute(f"SELECT {', '.join(checks)}").fetchone() or ()
    return {index for index, passed in zip(order, found, strict=True) if passed}


def _scan_plan(
    rules: Sequence[Rule], types: Mapping[str, str]
) -> tuple[list[column_scan.TextCheck], dict[int, str]]:
    """What the numpy scan runs: citizen-ID and USCC rules, and regex rules over text of
    fixed-width ASCII patterns (a phone number's ``^1[3-9][0-9]{9}$``); and the unique rules
    over one column of a type whose values may pack into integers (index → column)."""
    checks = []
    for index, rule in enumerate(rules):
        if rule.kind in _IDENTIFIER_RULES:
            checks.append(column_scan.TextCheck(index, rule.fields[0], str(rule.kind)))
        elif (
            rule.kind == RuleKind.REGEX
            and types.get(rule.fields[0]) == "VARCHAR"
            and fixed_ascii_atoms(rule.params["pattern"]) is not None
        ):
            pattern = str(rule.params["pattern"])
            checks.append(
                column_scan.TextCheck(index, rule.fields[0], column_scan.PATTERN, pattern)
            )
    keys = {
        index: rule.fields[0]
        for index, rule in enumerate(rules)
        if rule.kind == RuleKind.UNIQUE
        and len(rule.fields) == 1
        and types.get(rule.fields[0], "") in _PACKABLE_TYPES
    }
    return checks, keys


def scanned_columns(
    con: duckdb.DuckDBPyConnection, path: str, rules: Sequence[Rule]
) -> frozenset[str]:
    """The columns :func:`evaluate` reads in its numpy scan (and counts for ``on_counts``)."""
    needed = list(dict.fromkeys(name for rule in rules for name in rule.fields))
    checks, keys = _scan_plan(rules, parquet_columns(con, path, needed))
    return frozenset([check.column for check in checks] + list(keys.values()))


def _column_scan(
    con: duckdb.DuckDBPyConnection,
    path: str,
    checks: Sequence[column_scan.TextCheck],
    keys: Mapping[int, str],
    samples: int,
    distinct_share: int,
    on_counts: Callable[[Mapping[str, column_scan.ColumnCount]], None] | None,
) -> dict[int, _Tally]:
    """Run the numpy scan's checks and keys (each column read once for all of them) on
    DuckDB's threads: the tallies by rule index (the counts of the columns read go to
    ``on_counts``, an empty mapping when nothing is read)."""
    if not checks and not keys:
        if on_counts is not None:
            on_counts({})
        return {}
    setting = con.execute("SELECT current_setting('threads')").fetchone()
    threads = int(setting[0]) if setting else None
    found, counted, _counts = column_scan.scan(
        path,
        checks,
        keys=list(keys.values()),
        samples=samples,
        threads=threads,
        distinct_share=distinct_share,
        on_counts=on_counts,
    )
    out = {key: _Tally(t.checked, t.failed, t.rows) for key, t in found.items()}
    for index, column in keys.items():
        tally = counted.get(column)
        if tally is not None:
            out[index] = _Tally(tally.checked, tally.failed, tally.rows, tally.duplicate_of)
    return out


def _unique(con: duckdb.DuckDBPyConnection, path: str, rule: Rule, samples: int) -> _Tally:
    """Rows whose key repeats an earlier row's: checked = rows with a full key.

    Samples are the last row of each repeated key, ``duplicate_of`` its first row.
    """
    keys = ", ".join(quote_ident(name) for name in rule.fields)
    present = " AND ".join(f"{quote_ident(name)} IS NOT NULL" for name in rule.fields)
    sample = ""
    if samples:
        sample = (
            f", min_by(last_row, first_row, {samples}) FILTER (WHERE n > 1)"
            f", {_first_rows('n > 1', 'first_row', samples)}"
        )
    statement = (
        f"SELECT coalesce(sum(n), 0), coalesce(sum(n) - count(*), 0){sample} FROM ("
        f"SELECT count(*) AS n, min(file_row_number) AS first_row, "
        f"max(file_row_number) AS last_row FROM {_source(path)} WHERE {present} GROUP BY {keys})"
    )
    row = con.execute(statement).fetchone()
    assert row is not None
    tally = _Tally(int(row[0]), int(row[1]))
    if samples:
        tally.rows = [int(r) for r in row[2] or ()]
        tally.duplicate_of = [int(r) for r in row[3] or ()]
    return tally


def _reference(
    con: duckdb.DuckDBPyConnection,
    path: str,
    rule: Rule,
    types: Mapping[str, str],
    references: Mapping[str, str],
    samples: int,
) -> _Tally:
    """Values missing from the reference file's column: checked = present values."""
    column = rule.params["column"]
    entry = rule.params.get("entry") or f"registry:{rule.params.get('registry')}"
    ref_path = references.get(rule.id) or references.get(entry)
    if ref_path is None:
        message = f"规则 {rule.id} 的参照数据「{entry}」未提供 (no file given for {entry!r})"
        raise InvalidInput.field(f"references.{rule.id}", message)
    ref_type = parquet_columns(con, ref_path, [column])[column]
    col, ref_col = quote_ident(rule.fields[0]), quote_ident(column)
    left, right = "t.v", "r.k"
    if ref_type != types[rule.fields[0]]:
        left, right = "CAST(t.v AS VARCHAR)", "CAST(r.k AS VARCHAR)"
    if rule.params.get("registry"):
        # Registry keys are stored folded (upper case, no spaces): fold the copy's side too.
        left, right = "upper(trim(CAST(t.v AS VARCHAR)))", "CAST(r.k AS VARCHAR)"
    sample = f", {_first_rows('r.k IS NULL', 't.rn', samples)}" if samples else ""
    statement = (
        f"SELECT count(*), count(*) FILTER (WHERE r.k IS NULL){sample} "
        f"FROM (SELECT file_row_number AS rn, {col} AS v FROM {_source(path)} "
        f"WHERE {col} IS NOT NULL) t "
        f"LEFT JOIN (SELECT DISTINCT {ref_col} AS k FROM read_parquet({quote_literal(ref_path)}) "
        f"WHERE {ref_col} IS NOT NULL) r ON {left} = {right}"
    )
    row = con.execute(statement).fetchone()
    assert row is not None
    tally = _Tally(int(row[0]), int(row[1]))
    if samples:
        tally.rows = [int(r) for r in row[2] or ()]
    return tally


def _timeliness(
    rule: Rule, version_date: date | None, update_frequency: str | None, today: date
) -> RuleResult:
    """One check: is the version older than its update frequency allows?"""
    if version_date is None or update_frequency is None:
        return RuleResult(rule, 0, 0, [])
    try:
        frequency = UpdateFrequency(update_frequency)
    except ValueError:
        raise InvalidInput.field(
            "update_frequency", f"未知的更新频率 (unknown update frequency {update_frequency!r})"
        ) from None
    allowed = OVERDUE_AFTER_DAYS[frequency]
    age = (today - version_date).days
    if allowed is None or age <= allowed:
        return RuleResult(rule, 1, 0, [])
    sample = {
        "row": None,
        "field": "",
        "value": version_date.isoformat(),
        "age_days": age,
        "allowed_days": allowed,
    }
    return RuleResult(rule, 1, 1, [sample])
