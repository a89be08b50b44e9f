"""Resolve every table to a granted view or a CTE, then every column to its source.

Table names are resolved here, by DuckDB's rules (CTEs before views, earlier CTEs only, names
compared case-insensitively), and rewritten to unambiguous names: CTEs become ``__cteN`` and views
their exact granted name. Columns are then qualified by sqlglot's ``qualify`` against a schema of
the granted fields only, so every column in the SQL that runs names its source explicitly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from gongshu.sandbox.guard_base import TableSpec, fold, refuse
from gongshu.sandbox.guard_functions import is_aggregate
from gongshu.sandbox.guard_sources import is_system_name

__all__ = [
    "Resolved",
    "check_columns_qualified",
    "check_join_equalities",
    "contains_aggregate",
    "leftmost_select",
    "qualify_columns",
    "resolve_tables",
    "source_alias",
]

_DUCKDB_TYPES = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "decimal": "DOUBLE",
    "money": "DECIMAL(38, 4)",
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "boolean": "BOOLEAN",
    "binary": "BLOB",
}


@dataclass(frozen=True)
class Resolved:
    """The tree with tables rewritten, the views it reads and the CTEs it defines."""

    tree: exp.Expr
    tables: tuple[str, ...]
    views: dict[str, TableSpec]


def _not_granted(name: str, node: exp.Expr) -> NoReturn:
    # The same words whether the table exists or not: the answer must not reveal which.
    refuse(
        "table_not_granted",
        f'数据表 "{name}" 不可用',
        f'table "{name}" is not available to this grant',
        construct=name,
        node=node,
    )


def _visible_cte(table: exp.Table, name: str) -> exp.CTE | None:
    node: exp.Expr = table
    while node.parent is not None:
        parent = node.parent
        candidates: list[exp.Expr] = []
        if isinstance(parent, exp.With) and isinstance(node, exp.CTE):
            # A CTE sees only the CTEs before it (a non-recursive CTE never sees itself).
            candidates = parent.expressions[: parent.expressions.index(node)]
        elif node.arg_key != "with_" and isinstance(parent.args.get("with_"), exp.With):
            candidates = parent.args["with_"].expressions
        for cte in reversed(candidates):
            if isinstance(cte, exp.CTE) and fold(cte.alias) == name:
                return cte
        node = parent
    return None


def resolve_tables(tree: exp.Expr, specs: Sequence[TableSpec]) -> Resolved:
    """Point each table at a CTE or a granted view; refuse the rest without saying why."""
    views = {fold(spec.name): spec for spec in specs}
    ctes = list(tree.find_all(exp.CTE))
    for with_ in tree.find_all(exp.With):
        seen: set[str] = set()
        for cte in with_.expressions:
            if fold(cte.alias) in seen:
                refuse(
                    "sql_syntax",
                    f'重复的 CTE 名称 "{cte.alias}"',
                    f'duplicate CTE name "{cte.alias}"',
                    construct=cte.alias,
                    node=cte,
                )
            seen.add(fold(cte.alias))
    internal = {id(cte): f"__cte{index}" for index, cte in enumerate(ctes, start=1)}
    read: list[str] = []
    used: dict[str, TableSpec] = {}
    for table in list(tree.find_all(exp.Table)):
        written = str(table.name)
        cte = _visible_cte(table, fold(written))
        if cte is not None:
            target = internal[id(cte)]
        else:
            spec = views.get(fold(written))
            if spec is None:
                if is_system_name(written):
                    refuse(
                        "system_catalogue",
                        f"不允许访问系统目录 {written}",
                        f"system catalogue not allowed: {written}",
                        construct=written,
                        node=table,
                    )
                _not_granted(written, table)
            target = spec.name
            used[spec.name] = spec
            if spec.name not in read:
                read.append(spec.name)
        if table.args.get("alias") is None:
            table.set("alias", exp.TableAlias(this=exp.to_identifier(written, quoted=True)))
        table.set("this", exp.to_identifier(target, quoted=True))
    for cte in ctes:
        alias = cte.args["alias"]
        alias.set("this", exp.to_identifier(internal[id(cte)], quoted=True))
    return Resolved(tree=tree, tables=tuple(read), views=used)


def leftmost_select(tree: exp.Expr) -> exp.Select:
    """The SELECT whose projections name the result's columns (the left end of set operations)."""
    node = tree
    while not isinstance(node, exp.Select):
        node = node.this
    return node


def contains_aggregate(node: exp.Expr) -> bool:
    """Whether an expression calls an aggregate outside any window or subquery."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, exp.Window | exp.Subquery):
            continue
        if is_aggregate(item):
            return True
        stack.extend(item.iter_expressions())
    return False


def _name_outputs(tree: exp.Expr) -> list[str | None]:
    # Give every computed output a readable name now, so qualify does not invent _col_N.
    names: list[str | None] = []
    for projection in leftmost_select(tree).expressions:
        if isinstance(projection, exp.Alias):
            names.append(str(projection.alias))
        elif isinstance(projection, exp.Column) and not isinstance(projection.this, exp.Star):
            names.append(str(projection.name))
        elif isinstance(projection, exp.Star | exp.Column):
            names.append(None)
        else:
            text = projection.sql("duckdb", comments=False)[:64]
            projection.replace(exp.alias_(projection.copy(), text, quoted=True))
            names.append(text)
    return names


_COLUMN_ERROR = re.compile(
    r"Column '([^']*)'|Unknown column: (\S+)|Unknown table: (\S+)|Unknown output column: (\S+)"
)


def _case_sensitive() -> Dialect:
    # DuckDB folds identifiers ASCII-only; sqlglot's DuckDB would lower() every letter. Fold
    # names ourselves, DuckDB's way, and let qualify compare them exactly.
    return Dialect.get_or_raise("duckdb, normalization_strategy=case_sensitive")


def qualify_columns(resolved: Resolved, tree: exp.Expr) -> tuple[exp.Expr, list[str]]:
    """Qualify every column against the granted fields; return the tree and the output names."""
    names = _name_outputs(tree)
    for identifier in tree.find_all(exp.Identifier):
        identifier.set("this", fold(str(identifier.this)))
    dialect = _case_sensitive()
    schema = MappingSchema(
        {
            fold(spec.name): {
                fold(field.name): _DUCKDB_TYPES.get(field.type, "VARCHAR")
                for field in spec.fields
                if not field.name.startswith("__")
            }
            for spec in resolved.views.values()
        },
        dialect=dialect,
        normalize=False,
    )
    try:
        qualified = qualify(
            tree,
            dialect=dialect,
            schema=schema,
            validate_qualify_columns=True,
            quote_identifiers=True,
            identify=True,
        )
    except OptimizeError as error:
        match = _COLUMN_ERROR.search(str(error))
        name = next((group for group in match.groups() if group), "?") if match else "?"
        refuse(
            "column_not_allowed",
            f'不可用的列 "{name}"',
            f'column "{name}" is not available ({str(error).splitlines()[0][:120]})',
            construct=name,
        )
    except RecursionError:
        refuse(
            "sql_too_long", "查询嵌套过深（nesting）", "query nesting too deep", construct="nesting"
        )
    except Exception as error:  # qualify raises assorted errors on odd trees; never leak them
        refuse("sql_syntax", "无法解析查询", f"query could not be resolved: {type(error).__name__}")
    projections = leftmost_select(qualified).expressions
    if len(projections) == len(names):
        for projection, name in zip(projections, names, strict=True):
            if name is not None and isinstance(projection, exp.Alias):
                projection.set("alias", exp.to_identifier(name, quoted=True))
    outputs = [str(projection.alias_or_name) for projection in projections]
    _expand_all(qualified)
    return qualified, outputs


def _expand_all(tree: exp.Expr) -> None:
    # GROUP BY ALL / ORDER BY ALL become explicit lists, so the rewrite and the checks see them.
    for select in list(tree.find_all(exp.Select)):
        group = select.args.get("group")
        if group is not None and group.args.get("all"):
            keys = [
                projection.unalias().copy()
                for projection in select.expressions
                if not contains_aggregate(projection) and not projection.find(exp.Window)
            ]
            select.set("group", exp.Group(expressions=keys) if keys else None)
    for order in list(tree.find_all(exp.Order)):
        items = order.expressions
        if (
            len(items) == 1
            and isinstance(items[0].this, exp.Var)
            and fold(items[0].this.name) == "all"
        ):
            query = order.parent
            if query is None:
                continue
            template = items[0]
            aliases = [
                str(projection.alias_or_name) for projection in leftmost_select(query).expressions
            ]
            order.set(
                "expressions",
                [
                    exp.Ordered(
                        this=exp.column(alias, quoted=True),
                        desc=template.args.get("desc"),
                        nulls_first=template.args.get("nulls_first"),
                    )
                    for alias in aliases
                ],
            )


def check_columns_qualified(tree: exp.Expr) -> None:
    """Refuse columns qualify could not tie to a source (a table used as a value, a struct)."""
    for column in tree.find_all(exp.Column):
        if column.table:
            continue
        order = column.find_ancestor(exp.Order)
        query = order.parent if order is not None else None
        if query is not None:
            aliases = {
                fold(str(projection.alias_or_name))
                for projection in leftmost_select(query).expressions
            }
            if fold(column.name) in aliases:
                continue
        refuse(
            "column_not_allowed",
            f'不可用的列 "{column.name}"',
            f'column "{column.name}" is not available',
            construct=column.name,
            node=column,
        )


def source_alias(source: exp.Expr) -> str:
    """The alias a FROM/JOIN source is known by after qualification."""
    return str(source.alias_or_name)


def _tables_of(node: exp.Expr) -> set[str]:
    return {str(column.table) for column in node.find_all(exp.Column)}


def _has_equality(condition: exp.Expr | None, left: set[str], right: str) -> bool:
    if condition is None:
        return False
    stack = [condition]
    while stack:
        node = stack.pop()
        if isinstance(node, exp.Paren):
            stack.append(node.this)
        elif isinstance(node, exp.And):
            stack.extend((node.this, node.expression))
        elif isinstance(node, exp.EQ | exp.NullSafeEQ):
            one, other = _tables_of(node.this), _tables_of(node.expression)
            if (one and one <= left and other == {right}) or (
                other and other <= left and one == {right}
            ):
                return True
    return False


def check_join_equalities(tree: exp.Expr) -> None:
    """Refuse joins whose condition has no equality between the two sides (a cross join)."""
    for select in tree.find_all(exp.Select):
        from_ = select.args.get("from_")
        if from_ is None:
            continue
        left = {source_alias(from_.this)}
        for join in select.args.get("joins") or []:
            right = source_alias(join.this)
            if not _has_equality(join.args.get("on"), left, right):
                refuse(
                    "cross_join",
                    f"连接 {right} 必须有两侧字段的等值条件",
                    f"the join of {right} needs an equality condition between its two sides",
                    construct=right,
                    node=join,
                )
            left.add(right)
