"""The sandbox query guard: parse, validate and rewrite user SQL into a Plan that is safe to run.

Layers, each refusing with a precise reason (``QueryRefused.reason``):

1. text: size, one statement, a SELECT/WITH/FROM start, nesting depth, syntax (guard_parse);
2. allow-list walk: every node class, function, type and clause must be allowed (guard_walk,
   guard_functions), sources are named tables or subqueries, never files (guard_sources);
3. tables: only CTEs and granted views, resolved by DuckDB's rules and renamed (guard_tables);
4. columns: qualified against the granted fields, so nothing unnamed survives (guard_tables);
5. policy: ``aggregate`` (guard_aggregate), ``dp`` (guard_dp) or ``rows``.

The SQL that runs is generated from the validated tree, never the user's text.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence

import sqlglot
from sqlglot import exp

from gongshu.sandbox.errors import QueryRefused
from gongshu.sandbox.guard_aggregate import rewrite_aggregate
from gongshu.sandbox.guard_base import (
    DpMeasure,
    DpPlan,
    FieldSpec,
    ParamSpec,
    Plan,
    Policy,
    TableSpec,
    refuse,
)
from gongshu.sandbox.guard_bind import bind
from gongshu.sandbox.guard_dp import rewrite_dp
from gongshu.sandbox.guard_parse import parse_statement
from gongshu.sandbox.guard_tables import (
    check_columns_qualified,
    check_join_equalities,
    qualify_columns,
    resolve_tables,
)
from gongshu.sandbox.guard_walk import check_nodes, check_user_identifiers

__all__ = [
    "DpMeasure",
    "DpPlan",
    "FieldSpec",
    "ParamSpec",
    "Plan",
    "Policy",
    "TableSpec",
    "bind",
    "check",
    "difference_sql",
]


_MAX_BIGINT = 2**63 - 1


def _sql(tree: exp.Expr) -> str:
    return tree.sql(dialect="duckdb", comments=False)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _shape_hash(tree: exp.Expr) -> str:
    shape = tree.copy()
    for literal in list(shape.find_all(exp.Literal)):
        literal.replace(exp.Placeholder())
    return _sha256(_sql(shape))


def _take_limit(tree: exp.Expr) -> tuple[int | None, int]:
    limit_node = tree.args.get("limit")
    offset_node = tree.args.get("offset")
    limit = int(limit_node.expression.name) if limit_node is not None else None
    offset = int(offset_node.expression.name) if offset_node is not None else 0
    tree.set("limit", None)
    tree.set("offset", None)
    return limit, offset


def _strip_comments(tree: exp.Expr) -> None:
    for node in tree.walk():
        node.comments = None


def _check(sql: str, tables: Sequence[TableSpec], policy: Policy, max_contributions: int) -> Plan:
    tree = parse_statement(sql)
    _strip_comments(tree)
    check_user_identifiers(tree)
    check_nodes(tree, policy, sql=sql)
    resolved = resolve_tables(tree, tables)
    qualified, columns = qualify_columns(resolved, resolved.tree)
    check_nodes(qualified, policy, qualified=True)
    check_columns_qualified(qualified)
    check_join_equalities(qualified)
    shape_hash = _shape_hash(qualified)
    limit, offset = _take_limit(qualified)
    if policy == "rows":
        if limit is not None:
            # Fetch only what the page needs; the worker skips ``offset`` and keeps ``limit``.
            fetch = min(limit + offset, _MAX_BIGINT)
            qualified.set("limit", exp.Limit(expression=exp.Literal.number(fetch)))
        return Plan(
            sql=_sql(qualified),
            columns=tuple(columns),
            k_columns=(),
            limit=limit,
            offset=offset,
            tables=resolved.tables,
            shape_hash=shape_hash,
            frame_hash=None,
            where_sql=None,
            dp=None,
        )
    if not isinstance(qualified, exp.Select):
        refuse(
            "set_operation_not_allowed",
            "此授权不允许集合运算",
            "set operations are not allowed under this policy",
            construct=qualified.key.upper(),
        )
    if policy == "dp":
        if limit is not None or offset:
            refuse(
                "dp_unsupported",
                "差分隐私查询不支持 LIMIT",
                "LIMIT is not supported under dp",
                construct="LIMIT",
            )
        spec = next(iter(resolved.views.values()), None)
        if spec is None or len(resolved.tables) != 1:
            refuse(
                "dp_unsupported",
                "差分隐私查询的 FROM 只能是一张数据表",
                "a dp query's FROM must be exactly one table",
                construct="FROM",
            )
        rewritten, dp_plan = rewrite_dp(qualified, spec, columns, max_contributions)
        return Plan(
            sql=_sql(rewritten),
            columns=tuple(columns),
            k_columns=(),
            limit=None,
            offset=0,
            tables=resolved.tables,
            shape_hash=shape_hash,
            frame_hash=None,
            where_sql=None,
            dp=dp_plan,
        )
    where = qualified.args.get("where")
    where_sql = _sql(where.this) if where is not None else None
    frame = qualified.copy()
    frame.set("where", None)
    frame_hash = _sha256(_sql(frame))
    k_columns = rewrite_aggregate(qualified, resolved.views)
    return Plan(
        sql=_sql(qualified),
        columns=tuple(columns),
        k_columns=k_columns,
        limit=limit,
        offset=offset,
        tables=resolved.tables,
        shape_hash=shape_hash,
        frame_hash=frame_hash,
        where_sql=where_sql,
        dp=None,
    )


def check(
    sql: str,
    tables: Sequence[TableSpec],
    *,
    policy: Policy,
    max_contributions: int = 1,
) -> Plan:
    """Validate ``sql`` against the granted ``tables`` under ``policy``; return the Plan to run."""
    if policy not in ("aggregate", "dp", "rows"):
        raise ValueError(f"unknown policy {policy!r}")
    if max_contributions < 1:
        raise ValueError("max_contributions must be at least 1")
    return _cached_check(sql, tuple(tables), policy, max_contributions)


@functools.lru_cache(maxsize=512)
def _cached_check(
    sql: str, tables: tuple[TableSpec, ...], policy: Policy, max_contributions: int
) -> Plan:
    # The same text over the same granted tables always gives the same plan (or refusal), so
    # dashboards that re-run their queries skip parsing. Plans are frozen; refusals re-raise.
    try:
        return _check(sql, tables, policy, max_contributions)
    except QueryRefused:
        raise
    except RecursionError:
        refuse(
            "sql_too_long", "查询嵌套过深（nesting）", "query nesting too deep", construct="nesting"
        )
    except Exception as error:  # never let a raw sqlglot/Python error reach the caller
        refuse(
            "sql_syntax", "无法处理的查询", f"query could not be processed: {type(error).__name__}"
        )


def _parse_internal(sql: str) -> exp.Expr:
    # Our own generated SQL (a plan, a stored WHERE): parsed without the user-size limits.
    try:
        return sqlglot.parse_one(sql, read="duckdb")
    except Exception as error:
        refuse("sql_syntax", "无效的 SQL", f"invalid SQL: {type(error).__name__}")


def _condition(sql: str | None) -> exp.Expr:
    if sql is None:
        return exp.true()
    condition = _parse_internal(sql)
    if isinstance(condition, exp.Query | exp.Alias) or condition.find(exp.Query):
        refuse("subquery_not_allowed", "条件中不允许子查询", "no subquery in a condition")
    check_nodes(condition, "aggregate", qualified=True)
    return condition


def difference_sql(plan: Plan, other_where: str | None, k: int) -> str:
    """SQL counting groups whose two WHERE filters differ by 1 … k-1 subjects in some occurrence."""
    if not plan.k_columns:
        raise ValueError("difference_sql needs an aggregate plan")
    if k < 2:
        return "SELECT 0 AS groups"
    tree = _parse_internal(plan.sql)
    if not isinstance(tree, exp.Select):
        raise ValueError("difference_sql needs an aggregate plan")
    names = set(plan.k_columns)
    counts = [item for item in tree.expressions if str(item.alias_or_name) in names]
    first = exp.Coalesce(this=exp.paren(_condition(plan.where_sql)), expressions=[exp.false()])
    second = exp.Coalesce(this=exp.paren(_condition(other_where)), expressions=[exp.false()])
    tree.set("expressions", counts)
    tree.set("where", exp.Where(this=exp.NEQ(this=first, expression=second)))
    for clause in ("having", "order", "distinct", "limit", "offset"):
        tree.set(clause, None)
    small = [
        exp.Between(
            this=exp.column(name, quoted=True),
            low=exp.Literal.number(1),
            high=exp.Literal.number(k - 1),
        )
        for name in plan.k_columns
    ]
    outer = (
        exp.select(exp.alias_(exp.Count(this=exp.Star()), "groups", quoted=True))
        .from_(tree.subquery("__d"))
        .where(exp.or_(*small))
    )
    return _sql(outer)
