"""The aggregate policy: one aggregation level, generalised keys, safe aggregates, k columns.

Row sources (CTEs and FROM-subqueries) must not aggregate; the top SELECT must. Every output is
an aggregate expression or exactly a group key; keys and outputs touching identifying fields pass
through one generalising function. The rewrite carries each base-table occurrence's ``__subject``
up through the row sources (as ``__sN`` columns) and appends ``count(DISTINCT …) AS __kN`` to the
top SELECT, so the worker can suppress groups with fewer than k distinct subjects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn

from sqlglot import exp

from gongshu.sandbox.guard_base import (
    REVEALING_FLAGS,
    SUBJECT,
    TableSpec,
    construct_name,
    fold,
    refuse,
)
from gongshu.sandbox.guard_functions import (
    COLLECTION_AGGREGATES,
    COUNTING_AGGREGATES,
    REVEALING_AGGREGATES,
    is_aggregate,
)
from gongshu.sandbox.guard_tables import contains_aggregate, source_alias
from gongshu.sandbox.guard_taint import CLEAN, Ref, State, Taint, taint_of

__all__ = ["rewrite_aggregate"]

_ROW_SOURCE_CLAUSES = (
    "group",
    "having",
    "distinct",
    "order",
    "limit",
    "offset",
    "qualify",
    "with_",
)


@dataclass
class _RowSource:
    columns: dict[str, Taint]
    bases: list[TableSpec]  # the base view behind each carried subject column, in order

    @property
    def paths(self) -> int:
        return len(self.bases)


@dataclass
class _Source:
    alias: str
    spec: TableSpec | None = None
    row_source: _RowSource | None = None
    fields: dict[str, Ref] = field(default_factory=dict)

    def bases(self) -> list[TableSpec]:
        if self.spec is not None:
            return [self.spec]
        assert self.row_source is not None
        return self.row_source.bases

    def paths(self) -> list[exp.Expr]:
        if self.spec is not None:
            return [exp.column(SUBJECT, table=self.alias, quoted=True)]
        assert self.row_source is not None
        return [
            exp.column(f"__s{index}", table=self.alias, quoted=True)
            for index in range(1, self.row_source.paths + 1)
        ]


def _not_aggregate(zh: str, en: str, node: exp.Expr, construct: str) -> NoReturn:
    refuse("not_aggregate", zh, en, construct=construct, node=node)


def _field_names(refs: frozenset[Ref]) -> str:
    return ", ".join(sorted({ref.field for ref in refs}))


class _Scope:
    """The sources of one SELECT, and how its columns resolve to taints."""

    def __init__(self, sources: list[_Source]) -> None:
        self.sources = {fold(source.alias): source for source in sources}
        self.ordered = sources

    def lookup(self, column: exp.Column) -> Taint:
        source = self.sources.get(fold(column.table))
        if source is None:
            refuse(
                "subquery_not_allowed",
                f'不允许引用外层查询的列 "{column.table}.{column.name}"',
                f'correlated reference "{column.table}.{column.name}" not allowed',
                construct=f"{column.table}.{column.name}",
                node=column,
            )
        name = fold(column.name)
        if source.row_source is not None:
            taint = source.row_source.columns.get(name)
            if taint is not None:
                return taint
        else:
            ref = source.fields.get(name)
            if ref is not None:
                return ref.taint()
        refuse(
            "column_not_allowed",
            f'不可用的列 "{column.name}"',
            f'column "{column.name}" is not available',
            construct=column.name,
            node=column,
        )

    def taint(self, node: exp.Expr) -> Taint:
        return taint_of(node, self.lookup)

    def paths(self) -> list[exp.Expr]:
        return [path for source in self.ordered for path in source.paths()]

    def bases(self) -> list[TableSpec]:
        return [base for source in self.ordered for base in source.bases()]


class _Analyser:
    def __init__(self, views: dict[str, TableSpec]) -> None:
        self.views = {fold(name): spec for name, spec in views.items()}
        self.ctes: dict[str, _RowSource] = {}

    def scope(self, select: exp.Select) -> _Scope:
        from_ = select.args.get("from_")
        if from_ is None:
            return _Scope([])
        sources = [from_.this, *(join.this for join in select.args.get("joins") or [])]
        return _Scope([self.source(item) for item in sources])

    def source(self, node: exp.Expr) -> _Source:
        alias = source_alias(node)
        if isinstance(node, exp.Subquery):
            inner = node.this
            if not isinstance(inner, exp.Select):
                refuse(
                    "set_operation_not_allowed",
                    "此授权不允许集合运算",
                    "set operations are not allowed under this policy",
                    construct=construct_name(inner),
                    node=inner,
                )
            return _Source(alias, row_source=self.row_source(inner))
        name = fold(str(node.name))
        if name in self.ctes:
            return _Source(alias, row_source=self.ctes[name])
        spec = self.views[name]
        fields = {
            fold(item.name): Ref(
                spec.name, item.name, frozenset(item.flags), coded=item.domain is not None
            )
            for item in spec.fields
            if not item.name.startswith("__")
        }
        return _Source(alias, spec=spec, fields=fields)

    def row_source(self, select: exp.Select) -> _RowSource:
        for clause in _ROW_SOURCE_CLAUSES:
            if select.args.get(clause):
                name = clause.rstrip("_").upper()
                _not_aggregate(
                    f"CTE 和子查询只能筛选和投影，不可使用 {name}",
                    f"CTEs and subqueries may only filter and project, not use {name}",
                    select,
                    name,
                )
        for part in [*select.expressions, select.args.get("where")]:
            if part is not None and contains_aggregate(part):
                _not_aggregate(
                    "CTE 和子查询不可聚合，只能在最外层聚合",
                    "CTEs and subqueries may not aggregate; aggregate only in the outer query",
                    part,
                    "aggregate",
                )
        scope = self.scope(select)
        columns = {
            fold(str(projection.alias_or_name)): scope.taint(projection.unalias())
            for projection in select.expressions
        }
        paths = scope.paths()
        for index, path in enumerate(paths, start=1):
            select.append("expressions", exp.alias_(path, f"__s{index}", quoted=True))
        return _RowSource(columns=columns, bases=scope.bases())

    # -- the top SELECT ------------------------------------------------------------------

    def top(self, select: exp.Select) -> tuple[str, ...]:
        with_ = select.args.get("with_")
        for cte in with_.expressions if with_ is not None else []:
            if not isinstance(cte.this, exp.Select):
                refuse(
                    "set_operation_not_allowed",
                    "此授权不允许集合运算",
                    "set operations are not allowed under this policy",
                    construct=construct_name(cte.this),
                    node=cte.this,
                )
            self.ctes[fold(cte.alias)] = self.row_source(cte.this)
        scope = self.scope(select)
        where = select.args.get("where")
        if where is not None and contains_aggregate(where):
            _not_aggregate(
                "WHERE 中不可聚合", "aggregates are not allowed in WHERE", where, "WHERE"
            )
        group = select.args.get("group")
        keys: list[exp.Expr] = list(group.expressions) if group is not None else []
        if not keys and not any(contains_aggregate(item) for item in select.expressions):
            _not_aggregate(
                "此授权只允许聚合查询：SELECT 需要 GROUP BY 或聚合函数",
                "only aggregate queries are allowed: the SELECT needs GROUP BY or an aggregate",
                select,
                "SELECT",
            )
        for key in keys:
            if contains_aggregate(key):
                _not_aggregate(
                    "分组键不可包含聚合", "a group key may not aggregate", key, "GROUP BY"
                )
            _require_generalised(scope.taint(key), key)
        for projection in select.expressions:
            expression = projection.unalias()
            if contains_aggregate(expression):
                self.aggregate_expression(scope, expression, keys)
            elif expression.find(exp.Column) is None:
                continue  # a constant (a label, a literal) reveals nothing
            elif not any(expression == key for key in keys):
                name = str(projection.alias_or_name)
                _not_aggregate(
                    f'输出列 "{name}" 既不是聚合也不是分组键',
                    f'output column "{name}" is neither an aggregate nor a GROUP BY key',
                    projection,
                    name,
                )
        having = select.args.get("having")
        if having is not None:
            self.aggregate_expression(scope, having.this, keys)
        order = select.args.get("order")
        for ordered in order.expressions if order is not None else []:
            self.aggregate_expression(scope, ordered.this, keys, aliases=True)
        paths = scope.paths()
        if not paths:
            _not_aggregate(
                "聚合查询的 FROM 必须读取至少一张数据表",
                "an aggregate query must read at least one table in FROM",
                select,
                "FROM",
            )
        # One table read without any join, whose rows are known to be distinct, non-null
        # subjects (measured per version): count(*) is the distinct count, and costs nothing
        # extra — it does not even read the subject column.
        bases = scope.bases()
        plain = len(bases) == 1 and bases[0].unique_subjects and select.find(exp.Join) is None
        names = []
        for index, path in enumerate(paths, start=1):
            name = f"__k{index}"
            count = exp.Count(this=exp.Star() if plain else exp.Distinct(expressions=[path]))
            select.append("expressions", exp.alias_(count, name, quoted=True))
            names.append(name)
        return tuple(names)

    def aggregate_expression(
        self,
        scope: _Scope,
        node: exp.Expr,
        keys: list[exp.Expr],
        *,
        aliases: bool = False,
    ) -> None:
        """Check each aggregate; outside aggregates only whole group keys may read fields."""
        stack = [node]
        while stack:
            item = stack.pop()
            if any(item == key for key in keys):
                continue  # a group key as a whole: one value per group, already checked
            if isinstance(item, exp.Filter) and is_aggregate(item.this):
                self.aggregate(scope, item.this, item.expression.this)
                continue
            if is_aggregate(item):
                self.aggregate(scope, item, None)
                continue
            if isinstance(item, exp.Column):
                if not (aliases and not item.table):
                    _not_aggregate(
                        f'字段 "{item.name}" 只能出现在聚合函数或分组键中',
                        f'field "{item.name}" may appear only inside an aggregate or a group key',
                        item,
                        item.name,
                    )
                continue
            stack.extend(item.iter_expressions())

    def aggregate(self, scope: _Scope, node: exp.Expr, condition: exp.Expr | None) -> None:
        """Refuse aggregates that could reveal one subject's value."""
        name = construct_name(node)
        arguments: list[exp.Expr] = []
        for child in node.iter_expressions():
            if contains_aggregate(child):
                _not_aggregate(
                    f"聚合 {name} 不可嵌套", f"aggregate {name} may not be nested", child, name
                )
            arguments.extend(child.expressions if isinstance(child, exp.Distinct) else [child])
        if type(node) in COLLECTION_AGGREGATES:
            _revealing(name, "此授权不允许汇集明细值的聚合", "collects the values themselves", node)
        taints = [scope.taint(argument) for argument in arguments]
        refs = frozenset().union(*(taint.refs for taint in taints)) if taints else frozenset()
        if type(node) in REVEALING_AGGREGATES:
            exposed = frozenset(ref for ref in refs if ref.flags & REVEALING_FLAGS)
            if exposed:
                fields = _field_names(exposed)
                _revealing(
                    name,
                    f'不可用于敏感或标识字段 "{fields}"',
                    f'may reveal single values of sensitive or identifying field "{fields}"',
                    node,
                )
        elif type(node) in COUNTING_AGGREGATES:
            for taint in taints:
                if not (taint.generalised or taint.state == State.DIRECT):
                    fields = _field_names(taint.identifying)
                    _revealing(
                        name,
                        f'的参数不可变换标识字段 "{fields}"',
                        f'may count identifying field "{fields}" only as a plain column',
                        node,
                    )
        else:
            identifiers = frozenset(ref for ref in refs if "identifier" in ref.flags)
            if identifiers:
                fields = _field_names(identifiers)
                _revealing(
                    name,
                    f'不可用于个人标识字段 "{fields}"（只有 COUNT 可以）',
                    f'may not take identifier field "{fields}"; only COUNT may',
                    node,
                )
            for taint in taints:
                if taint.identifying and not (taint.generalised or taint.state == State.DIRECT):
                    fields = _field_names(taint.identifying)
                    _revealing(
                        name,
                        f'不可在条件或运算中使用准标识字段 "{fields}"',
                        f'may use quasi-identifier "{fields}" only as a plain or generalised value',
                        node,
                    )
        if condition is not None:
            taint = scope.taint(condition) if condition is not None else CLEAN
            if taint.identifying:
                fields = _field_names(taint.identifying)
                _revealing(
                    name,
                    f'的 FILTER 条件不可使用标识字段 "{fields}"',
                    f'FILTER condition may not use identifying field "{fields}"',
                    node,
                )


def _revealing(name: str, zh: str, en: str, node: exp.Expr) -> NoReturn:
    refuse(
        "revealing_aggregate",
        f"聚合 {name} {zh}",
        f"aggregate {name} {en}",
        construct=name,
        node=node,
    )


def _require_generalised(taint: Taint, node: exp.Expr) -> None:
    if taint.generalised:
        return
    fields = _field_names(taint.identifying)
    text = node.sql("duckdb")[:80]
    if taint.state == State.GENERAL:
        refuse(
            "identifier_not_generalised",
            f'不可组合标识字段 "{fields}" 的多个泛化片段：{text}',
            f'several generalised pieces of identifying field "{fields}" '
            f"may not be combined: {text}",
            construct=text,
            node=node,
        )
    refuse(
        "identifier_not_generalised",
        f'标识字段 "{fields}" 必须先泛化（如 year(x)、left(x, 4)、floor(x / 10)）：{text}',
        f'identifying field "{fields}" must be generalised first '
        f"(e.g. year(x), left(x, 4), floor(x / 10)): {text}",
        construct=text,
        node=node,
    )


def rewrite_aggregate(select: exp.Select, views: dict[str, TableSpec]) -> tuple[str, ...]:
    """Validate an aggregate-policy query in place, add the k columns and return their names."""
    return _Analyser(views).top(select)
