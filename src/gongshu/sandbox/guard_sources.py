"""What may stand in FROM and JOIN: named tables and subqueries, joined on a condition.

Table functions, files (``FROM 'x.csv'`` is a DuckDB file scan), qualified names and system
catalogues are refused here, before any name is resolved, so nothing outside the grant is read.
"""

from __future__ import annotations

from typing import NoReturn

from sqlglot import exp

from gongshu.sandbox.guard_base import (
    construct_name,
    fold,
    not_allowed,
    refuse,
    refuse_clause,
    refuse_construct,
)
from gongshu.sandbox.guard_functions import SYSTEM_PREFIXES, SYSTEM_SCHEMAS

__all__ = ["check_join", "check_source", "check_table", "is_system_name", "refuse_system"]

_JOIN_ARGS = frozenset({"this", "on", "using", "method", "kind", "side"})
_TABLE_ARGS = frozenset({"this", "alias", "db", "catalog"})


def is_system_name(*parts: str) -> bool:
    """Whether a (possibly qualified) table name points into DuckDB's catalogue."""
    folded = [fold(part) for part in parts if part]
    if any(part in SYSTEM_SCHEMAS for part in folded[:-1]):
        return True
    return bool(folded) and folded[-1].startswith(SYSTEM_PREFIXES)


def refuse_system(node: exp.Expr, name: str) -> NoReturn:
    """Refuse a read of DuckDB's catalogue (views, table functions, settings)."""
    not_allowed(
        "system_catalogue", "不允许访问系统目录", "system catalogue not allowed", node, name
    )


def _cross_join(node: exp.Expr, name: str) -> NoReturn:
    refuse(
        "cross_join",
        f"连接必须有两侧字段的等值条件：{name}",
        f"a join needs an equality condition between its two sides: {name}",
        construct=name,
        node=node,
    )


def check_source(node: exp.Expr) -> None:
    """A FROM or JOIN source must be a named table or a subquery."""
    if isinstance(node, exp.Table | exp.Subquery):
        return
    if isinstance(node, exp.Lateral):
        not_allowed(
            "subquery_not_allowed", "不允许的子查询", "subquery not allowed", node, "LATERAL"
        )
    name = construct_name(node)
    not_allowed(
        "table_function_not_allowed", "不允许的表函数", "table function not allowed", node, name
    )


def check_join(node: exp.Expr) -> None:
    """Plain inner/outer joins with ON or USING only (no NATURAL, ASOF, SEMI, CROSS …)."""
    check_source(node.this)
    method = str(node.args.get("method") or "").upper()
    kind = str(node.args.get("kind") or "").upper()
    side = str(node.args.get("side") or "").upper()
    if method == "POSITIONAL" or kind == "CROSS":
        _cross_join(node, f"{method or kind} JOIN")
    plain = kind in {"", "INNER", "OUTER"} and side in {"", "LEFT", "RIGHT", "FULL"}
    if method or not plain:
        name = " ".join(part for part in (method, side, kind, "JOIN") if part)
        not_allowed("statement_not_allowed", "不允许的连接", "join not allowed", node, name)
    if not node.args.get("on") and not node.args.get("using"):
        _cross_join(node, "JOIN")
    for key, value in node.args.items():
        if value and key not in _JOIN_ARGS:
            refuse_clause(node, key)


def check_table(node: exp.Expr, sql: str | None) -> None:
    """A table is one unqualified name: not a function, not a string, not a catalogue."""
    if not isinstance(node.parent, exp.From | exp.Join):
        refuse_construct(node)
    target = node.this
    if not isinstance(target, exp.Identifier):
        name = construct_name(target)
        if is_system_name(name):
            refuse_system(node, name)
        not_allowed(
            "table_function_not_allowed", "不允许的表函数", "table function not allowed", node, name
        )
    if sql is not None and target.quoted:
        start = target.meta.get("start") if target._meta else None
        if isinstance(start, int) and sql[start : start + 1] not in {'"', ""}:
            # DuckDB reads FROM 'file.csv' as a file scan; sqlglot turns it into a name.
            not_allowed(
                "table_function_not_allowed",
                "不允许把字符串当作数据表",
                "a string literal cannot be used as a table",
                node,
                f"'{target.name}'",
            )
    parts = [
        str(part.name)
        for part in (node.args.get(key) for key in ("catalog", "db", "this"))
        if isinstance(part, exp.Identifier)
    ]
    if len(parts) > 1:
        dotted = ".".join(parts)
        if is_system_name(*parts):
            refuse_system(node, dotted)
        refuse(
            "table_not_granted",
            f'数据表 "{dotted}" 不可用',
            f'table "{dotted}" is not available to this grant',
            construct=dotted,
            node=node,
        )
    for key, value in node.args.items():
        if value and key not in _TABLE_ARGS:
            refuse_clause(node, key)
    alias = node.args.get("alias")
    if alias is not None and alias.args.get("columns"):
        # DuckDB would rename the view's columns by position, behind the field names' backs.
        refuse(
            "column_not_allowed",
            f'数据表别名 "{alias.name}" 不可重命名列',
            f'table alias "{alias.name}" may not rename columns',
            construct=str(alias.name),
            node=alias,
        )
