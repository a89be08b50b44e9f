"""The dp policy: one view, plain keys with public domains, count/sum/mean of plain fields.

The rewrite bounds each subject's contribution to ``max_contributions`` rows (chosen at random),
clamps summed values to the field's bounds and keeps only key values inside the public domain.
The SQL returns, per present key combination, the keys then per measure: ``count`` → ``<col>``,
``sum`` → ``<col>`` (clamped sum), ``mean`` → ``<col>__sum`` and ``<col>__count``. The DP step
adds the noise and fills in absent domain keys.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any, NoReturn

from sqlglot import exp

from gongshu.sandbox.guard_base import (
    SUBJECT,
    DpMeasure,
    DpPlan,
    FieldSpec,
    TableSpec,
    construct_name,
    fold,
    refuse,
)
from gongshu.sandbox.guard_tables import contains_aggregate

__all__ = ["literal", "rewrite_dp"]

_NUMERIC = {"integer", "decimal", "money"}


def _unsupported(zh: str, en: str, node: exp.Expr | None, construct: str) -> NoReturn:
    refuse("dp_unsupported", zh, en, construct=construct, node=node)


def literal(value: Any, type_: str) -> exp.Expr:
    """A typed SQL literal for a Python value (never text pasted into SQL)."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | Decimal) or (isinstance(value, float) and math.isfinite(value)):
        return exp.Literal.number(str(value))
    if isinstance(value, dt.datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMP")
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    if isinstance(value, str):
        text = exp.Literal.string(value)
        if type_ == "date":
            return exp.cast(text, "DATE")
        if type_ == "datetime":
            return exp.cast(text, "TIMESTAMP")
        return text
    raise TypeError(f"unsupported literal {type(value).__name__}")


def _plain_field(node: exp.Expr, fields: dict[str, FieldSpec]) -> FieldSpec | None:
    if isinstance(node, exp.Column):
        return fields.get(fold(node.name))
    return None


def _clamped(column: exp.Expr, bounds: tuple[float, float]) -> exp.Expr:
    low, high = (exp.Literal.number(repr(float(bound))) for bound in bounds)
    value = exp.cast(column.copy(), "DOUBLE")
    # A CASE rather than greatest/least: it keeps a missing value missing.
    return exp.Case(
        ifs=[
            exp.If(this=exp.LT(this=value.copy(), expression=low.copy()), true=low),
            exp.If(this=exp.GT(this=value.copy(), expression=high.copy()), true=high),
        ],
        default=value,
    )


def _check_shape(select: exp.Select) -> exp.Table:
    if select.args.get("with_"):
        _unsupported("差分隐私查询不支持 WITH", "WITH is not supported under dp", select, "WITH")
    if select.args.get("joins"):
        _unsupported("差分隐私查询不支持 JOIN", "JOIN is not supported under dp", select, "JOIN")
    from_ = select.args.get("from_")
    table = from_.this if from_ is not None else None
    if not isinstance(table, exp.Table):
        _unsupported(
            "差分隐私查询的 FROM 只能是一张数据表",
            "a dp query's FROM must be exactly one table, not a subquery",
            select,
            "FROM",
        )
    for clause in ("having", "order", "limit", "offset", "distinct", "qualify"):
        if select.args.get(clause):
            name = clause.upper()
            _unsupported(
                f"差分隐私查询不支持 {name}",
                f"{name} is not supported under dp",
                select.args[clause],
                name,
            )
    where = select.args.get("where")
    if where is not None and contains_aggregate(where):
        _unsupported("WHERE 中不可聚合", "aggregates are not allowed in WHERE", where, "WHERE")
    assert isinstance(table, exp.Table)
    return table


class _Builder:
    def __init__(self, spec: TableSpec, alias: str) -> None:
        self.fields = {
            fold(item.name): item for item in spec.fields if not item.name.startswith("__")
        }
        self.alias = alias
        self.spec = spec
        self.inner: list[exp.Expr] = []
        self.outer: list[exp.Expr] = []

    def column(self, item: FieldSpec) -> exp.Column:
        return exp.column(item.name, table=self.alias, quoted=True)

    def inner_value(self, value: exp.Expr) -> exp.Column:
        name = f"__v{len(self.inner) + 1}"
        self.inner.append(exp.alias_(value, name, quoted=True))
        return exp.column(name, table="__b", quoted=True)

    def measure(self, name: str, aggregate: exp.Expr) -> DpMeasure:
        kinds: dict[type[exp.Expr], str] = {
            exp.Count: "count",
            exp.Sum: "sum",
            exp.Avg: "mean",
        }
        kind = kinds.get(type(aggregate))
        if isinstance(aggregate, exp.Anonymous) and str(aggregate.name).lower() == "mean":
            kind = "mean"
        argument = aggregate.this if not isinstance(aggregate, exp.Anonymous) else None
        if isinstance(aggregate, exp.Anonymous) and len(aggregate.expressions) == 1:
            argument = aggregate.expressions[0]
        if kind is None or (argument is None and kind != "count"):
            text = construct_name(aggregate)
            _unsupported(
                f"差分隐私查询只支持 COUNT、SUM、AVG，不支持 {text}",
                f"only COUNT, SUM and AVG are supported under dp, not {text}",
                aggregate,
                text,
            )
        if kind == "count" and (argument is None or isinstance(argument, exp.Star)):
            self.outer.append(exp.alias_(exp.Count(this=exp.Star()), name, quoted=True))
            return DpMeasure(column=name, kind="count", field=None, bounds=None)
        assert argument is not None and kind is not None
        item = _plain_field(argument, self.fields)
        if item is None:
            text = argument.sql("duckdb")[:60]
            _unsupported(
                f"差分隐私聚合只能作用于单个字段，不支持 {text}",
                f"dp aggregates take one plain field, not {text}",
                argument,
                text,
            )
        if kind == "count":
            value = self.inner_value(self.column(item))
            self.outer.append(exp.alias_(exp.Count(this=value), name, quoted=True))
            return DpMeasure(column=name, kind="count", field=item.name, bounds=None)
        if item.bounds is None or item.type not in _NUMERIC:
            refuse(
                "dp_bounds_unknown",
                f'字段 "{item.name}" 没有公开的取值范围，不能求和或求平均',
                f'field "{item.name}" has no public bounds, so it cannot be summed or averaged',
                construct=item.name,
                node=argument,
            )
        value = self.inner_value(_clamped(self.column(item), item.bounds))
        bounds = (float(item.bounds[0]), float(item.bounds[1]))
        if kind == "sum":
            self.outer.append(exp.alias_(exp.Sum(this=value), name, quoted=True))
            return DpMeasure(column=name, kind="sum", field=item.name, bounds=bounds)
        self.outer.append(exp.alias_(exp.Sum(this=value.copy()), f"{name}__sum", quoted=True))
        self.outer.append(exp.alias_(exp.Count(this=value.copy()), f"{name}__count", quoted=True))
        return DpMeasure(column=name, kind="mean", field=item.name, bounds=bounds)


def rewrite_dp(
    select: exp.Select, spec: TableSpec, names: list[str], max_contributions: int
) -> tuple[exp.Select, DpPlan]:
    """Validate a dp-policy query and build the contribution-bounded SQL and its DpPlan."""
    table = _check_shape(select)
    alias = str(table.alias_or_name)
    builder = _Builder(spec, alias)
    group = select.args.get("group")
    keys: list[exp.Expr] = list(group.expressions) if group is not None else []
    key_fields: list[FieldSpec] = []
    for key in keys:
        item = _plain_field(key, builder.fields)
        if item is None or not item.domain:
            text = key.sql("duckdb")[:60]
            refuse(
                "dp_domain_unknown",
                f"分组键 {text} 必须是有公开取值域的字段",
                f"group key {text} must be a field with a public domain",
                construct=text,
                node=key,
            )
        key_fields.append(item)
    key_names: list[str | None] = [None] * len(keys)
    measures: list[DpMeasure] = []
    if len(set(map(fold, names))) != len(names):
        _unsupported(
            "SELECT 输出列名重复", "SELECT output column names must be unique", select, "SELECT"
        )
    for projection, name in zip(select.expressions, names, strict=True):
        expression = projection.unalias()
        matched = next((index for index, key in enumerate(keys) if expression == key), None)
        if matched is not None:
            if key_names[matched] is not None:
                _unsupported(
                    f"分组键只能输出一次：{name}",
                    f"a group key may be output only once: {name}",
                    projection,
                    name,
                )
            key_names[matched] = name
            continue
        if not contains_aggregate(expression) or not (
            isinstance(expression, exp.Count | exp.Sum | exp.Avg | exp.Anonymous)
        ):
            text = expression.sql("duckdb")[:60]
            _unsupported(
                f"差分隐私查询只能输出分组键和 COUNT/SUM/AVG：{text}",
                f"a dp query outputs only group keys and COUNT/SUM/AVG: {text}",
                projection,
                text,
            )
        if isinstance(expression.this, exp.Distinct):
            _unsupported(
                "差分隐私查询不支持 DISTINCT 聚合",
                "DISTINCT aggregates are not supported under dp",
                expression,
                "DISTINCT",
            )
        measures.append(builder.measure(name, expression))
    if not measures:
        _unsupported(
            "差分隐私查询的 SELECT 至少需要一个度量（COUNT/SUM/AVG）",
            "a dp SELECT needs at least one measure (COUNT/SUM/AVG)",
            select,
            "SELECT",
        )
    if any(name is None for name in key_names):
        _unsupported(
            "差分隐私查询必须输出每个 GROUP BY 分组键",
            "a dp query must output every GROUP BY key",
            select,
            "GROUP BY",
        )
    return _assemble(select, table, builder, key_fields, key_names, max_contributions), DpPlan(
        keys=tuple(name for name in key_names if name is not None),
        domains=tuple(tuple(item.domain or ()) for item in key_fields),
        measures=tuple(measures),
        max_contributions=max_contributions,
    )


def _assemble(
    select: exp.Select,
    table: exp.Table,
    builder: _Builder,
    key_fields: list[FieldSpec],
    key_names: list[str | None],
    max_contributions: int,
) -> exp.Select:
    conditions: list[exp.Expr] = []
    where = select.args.get("where")
    if where is not None:
        conditions.append(exp.paren(where.this.copy()))
    key_columns: list[exp.Expr] = []
    for index, item in enumerate(key_fields, start=1):
        column = builder.column(item)
        domain = [literal(value, item.type) for value in item.domain or ()]
        conditions.append(exp.In(this=column.copy(), expressions=domain))
        builder.inner.append(exp.alias_(column, f"__g{index}", quoted=True))
        key_columns.append(exp.column(f"__g{index}", table="__b", quoted=True))
    # Rows known to be distinct subjects (measured per version) already contribute one row
    # each: no ranking pass is needed to bound contributions.
    bounded = builder.spec.unique_subjects
    if not bounded:
        ranking = exp.Window(
            this=exp.RowNumber(),
            partition_by=[exp.column(SUBJECT, table=builder.alias, quoted=True)],
            order=exp.Order(expressions=[exp.Ordered(this=exp.Rand())]),
        )
        builder.inner.append(exp.alias_(ranking, "__rn", quoted=True))
    inner = exp.select(*builder.inner).from_(table.copy())
    if conditions:
        inner = inner.where(exp.and_(*conditions))
    outer_keys = [
        exp.alias_(column, name or "", quoted=True)
        for column, name in zip(key_columns, key_names, strict=True)
    ]
    outer = exp.select(*outer_keys, *builder.outer).from_(
        exp.alias_(exp.Subquery(this=inner), "__b", table=True, quoted=True)
    )
    if not bounded:
        outer = outer.where(
            exp.LTE(
                this=exp.column("__rn", table="__b", quoted=True),
                expression=exp.Literal.number(max_contributions),
            )
        )
    if key_columns:
        outer = outer.group_by(*(column.copy() for column in key_columns))
    return outer
