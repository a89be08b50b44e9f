"""The allow-list walk: every node of the tree must be a construct the policy allows.

The walk visits each node once (iteratively, so deep trees cannot exhaust the stack) and refuses
the first node whose class is not explicitly allowed, naming the construct. It runs twice: on the
user's tree, and again on the qualified tree that is turned into the SQL that runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

from sqlglot import exp

from gongshu.sandbox.guard_base import (
    Policy,
    construct_name,
    fold,
    not_allowed,
    refuse,
    refuse_clause,
    refuse_construct,
)
from gongshu.sandbox.guard_functions import (
    AGGREGATES,
    ALLOWED_TYPES,
    ANONYMOUS_AGGREGATES,
    ANONYMOUS_SCALARS,
    DATE_UNITS,
    OPERATORS,
    SCALARS,
    SET_OPERATIONS,
    WINDOW_FUNCTIONS,
)
from gongshu.sandbox.guard_sources import check_join, check_source, check_table

__all__ = ["check_nodes", "check_user_identifiers"]

_SELECT_ARGS = frozenset(
    {"with_", "expressions", "distinct", "from_", "joins", "where", "group", "having", "order"}
    | {"limit", "offset", "qualify", "windows"}
)
_SET_ARGS = frozenset(
    {"this", "expression", "distinct", "by_name", "with_", "order", "limit", "offset"}
)
_UNIT_PARENTS = (exp.TimestampTrunc, exp.DateTrunc, exp.DateDiff, exp.DateAdd, exp.DateSub)
# Arguments of otherwise allowed calls that open doors (CAST … FORMAT, IN UNNEST …).
_BAD_ARGS: dict[type[exp.Expr], tuple[str, ...]] = {
    exp.Cast: ("format", "action", "default"),
    exp.TryCast: ("format", "action", "default"),
    exp.Trim: ("collation",),
    exp.In: ("unnest", "field"),
}


def check_user_identifiers(tree: exp.Expr) -> None:
    """Refuse any identifier the user wrote that starts with ``__`` (hidden columns, internals)."""
    for node in tree.find_all(exp.Identifier):
        name = str(node.this)
        if name.startswith("__"):
            refuse(
                "column_not_allowed",
                f'不可用的名称 "{name}"',
                f'name "{name}" is not available',
                construct=name,
                node=node,
            )


class _Walk:
    def __init__(self, policy: Policy, sql: str | None, qualified: bool) -> None:
        self.policy = policy
        self.sql = sql
        self.qualified = qualified

    def run(self, tree: exp.Expr) -> None:
        stack = [tree]
        while stack:
            node = stack.pop()
            if self.visit(node):
                stack.extend(node.iter_expressions())

    def visit(self, node: exp.Expr) -> bool:
        cls = type(node)
        handler = _HANDLERS.get(cls)
        if handler is not None:
            return handler(self, node)
        if cls in OPERATORS or cls in SCALARS:
            return self.scalar(node)
        if cls in AGGREGATES:
            return True
        if cls in WINDOW_FUNCTIONS:
            if self.policy != "rows" or not isinstance(node.parent, exp.Window):
                self.no_window(node)
            return True
        refuse_construct(node)
        return False

    # -- queries -------------------------------------------------------------------------

    def placement(self, node: exp.Expr) -> None:
        parent = node.parent
        if parent is None or isinstance(parent, exp.CTE) or type(parent) in SET_OPERATIONS:
            return
        if isinstance(parent, exp.Subquery | exp.Exists):
            return
        not_allowed(
            "subquery_not_allowed", "不允许的子查询", "subquery not allowed", node, "SUBQUERY"
        )

    def select(self, node: exp.Expr) -> bool:
        self.placement(node)
        for key, value in node.args.items():
            if not value or key in _SELECT_ARGS:
                continue
            refuse_clause(node, key)
        if node.args.get("qualify") and self.policy != "rows":
            self.no_window(node.args["qualify"])
        if node.args.get("windows"):
            if self.policy != "rows":
                self.no_window(node.args["windows"][0])
            refuse_clause(node, "window")  # named windows: write the window in OVER (…)
        return True

    def set_operation(self, node: exp.Expr) -> bool:
        name = construct_name(node)
        if self.policy != "rows":
            not_allowed(
                "set_operation_not_allowed",
                "此授权不允许集合运算",
                "set operations are not allowed under this policy",
                node,
                name,
            )
        self.placement(node)
        for key, value in node.args.items():
            if value and key not in _SET_ARGS:
                refuse_clause(node, key)
        return True

    def subquery(self, node: exp.Expr) -> bool:
        for key, value in node.args.items():
            if value and key not in {"this", "alias"}:
                refuse_clause(node, key)
        parent = node.parent
        is_source = isinstance(parent, exp.From | exp.Join | exp.Subquery) or (
            type(parent) in SET_OPERATIONS
        )
        if not is_source and self.policy != "rows":
            not_allowed(
                "subquery_not_allowed",
                "此授权不允许表达式中的子查询",
                "subqueries in expressions are not allowed under this policy",
                node,
                "SUBQUERY",
            )
        if not isinstance(node.this, exp.Select) and type(node.this) not in SET_OPERATIONS:
            refuse_construct(node.this)
        return True

    def exists(self, node: exp.Expr) -> bool:
        if self.policy != "rows":
            not_allowed(
                "subquery_not_allowed",
                "此授权不允许表达式中的子查询",
                "subqueries in expressions are not allowed under this policy",
                node,
                "EXISTS",
            )
        return True

    def with_(self, node: exp.Expr) -> bool:
        if node.args.get("recursive"):
            refuse(
                "recursive_cte",
                "不允许递归 CTE（WITH RECURSIVE）",
                "recursive CTE not allowed: WITH RECURSIVE",
                construct="WITH RECURSIVE",
                node=node,
            )
        for key, value in node.args.items():
            if value and key != "expressions":
                refuse_clause(node, key)
        return True

    def cte(self, node: exp.Expr) -> bool:
        for key, value in node.args.items():
            if value and key not in {"this", "alias", "materialized"}:
                refuse_clause(node, key)
        if not isinstance(node.this, exp.Select) and type(node.this) not in SET_OPERATIONS:
            refuse_construct(node.this)
        return True

    # -- sources (guard_sources) ----------------------------------------------------------

    def from_(self, node: exp.Expr) -> bool:
        check_source(node.this)
        return True

    def join(self, node: exp.Expr) -> bool:
        check_join(node)
        return True

    def table(self, node: exp.Expr) -> bool:
        check_table(node, self.sql)
        return True

    # -- expressions ---------------------------------------------------------------------

    def scalar(self, node: exp.Expr) -> bool:
        if isinstance(node, exp.Cast) and not isinstance(node.args.get("to"), exp.DataType):
            refuse_construct(node)
        for key in _BAD_ARGS.get(type(node), ()):
            if node.args.get(key):
                refuse_clause(node, key)
        return True

    def anonymous(self, node: exp.Expr) -> bool:
        name = str(node.name)
        if not name.isascii() or name.lower() not in ANONYMOUS_SCALARS | ANONYMOUS_AGGREGATES:
            refuse_construct(node)
        # Regenerate the canonical spelling so DuckDB resolves exactly the allowed function.
        node.set("this", name.lower())
        return True

    def column(self, node: exp.Expr) -> bool:
        if node.args.get("db") or node.args.get("catalog") or node.args.get("join_mark"):
            dotted = ".".join(
                str(part.name)
                for part in (node.args.get(key) for key in ("catalog", "db", "table", "this"))
                if isinstance(part, exp.Expr)
            )
            refuse(
                "column_not_allowed",
                f'不可用的列 "{dotted}"',
                f'column "{dotted}" is not available',
                construct=dotted,
                node=node,
            )
        if isinstance(node.this, exp.Star):
            self.star_place(node.this, node)
            return False
        return True

    def table_column(self, node: exp.Expr) -> bool:
        # A table name used as a value: DuckDB would hand back the whole row as a struct.
        name = str(node.name)
        refuse(
            "column_not_allowed",
            f'不可用的列 "{name}"',
            f'column "{name}" is not available',
            construct=name,
            node=node,
        )

    def star(self, node: exp.Expr) -> bool:
        self.star_place(node, node)
        return False

    def star_place(self, star: exp.Expr, holder: exp.Expr) -> None:
        parent = holder.parent
        if isinstance(parent, exp.Count) and holder is star:
            return
        in_projection = isinstance(parent, exp.Select) and holder.arg_key == "expressions"
        if self.qualified or not in_projection or star.args.get("rename") or star.args.get("ilike"):
            refuse(
                "column_not_allowed",
                "此处不允许使用 *",
                "* is not allowed here",
                construct="*",
                node=holder,
            )
        for key in ("except_", "replace"):
            for item in star.args.get(key) or []:
                self.run(item)

    def var(self, node: exp.Expr) -> bool:
        parent = node.parent
        name = fold(str(node.name))
        if isinstance(parent, exp.Ordered) and name == "all" and not self.qualified:
            return False
        is_unit = (
            isinstance(parent, (*_UNIT_PARENTS, exp.Interval)) and node.arg_key == "unit"
        ) or (isinstance(parent, exp.Extract) and node.arg_key == "this")
        if not is_unit or name not in DATE_UNITS:
            refuse_construct(node)
        return False

    def data_type(self, node: exp.Expr) -> bool:
        params = node.expressions
        plain = all(
            isinstance(param, exp.DataTypeParam)
            and isinstance(param.this, exp.Literal)
            and not param.this.is_string
            for param in params
        )
        if node.this not in ALLOWED_TYPES or node.args.get("nested") or not plain:
            name = node.sql("duckdb")[:60]
            refuse(
                "function_not_allowed",
                f"不允许的类型 {name}",
                f"type not allowed: {name}",
                construct=name,
                node=node,
            )
        for key in ("values", "kind", "collate"):
            if node.args.get(key):
                refuse_construct(node)
        return False

    def distinct(self, node: exp.Expr) -> bool:
        if node.args.get("on"):
            not_allowed(
                "statement_not_allowed", "不允许的子句", "clause not allowed", node, "DISTINCT ON"
            )
        return True

    def group(self, node: exp.Expr) -> bool:
        for key in ("grouping_sets", "cube", "rollup", "totals"):
            if node.args.get(key):
                name = key.replace("_", " ").upper()
                not_allowed(
                    "statement_not_allowed", "不允许的子句", "clause not allowed", node, name
                )
        return True

    def ordered(self, node: exp.Expr) -> bool:
        if node.args.get("with_fill"):
            refuse_clause(node, "with_fill")
        return True

    def limit(self, node: exp.Expr) -> bool:
        value = node.args.get("expression")
        extra = any(node.args.get(key) for key in ("offset", "limit_options", "expressions"))
        if extra or not (isinstance(value, exp.Literal) and value.is_int):
            name = node.key.upper()
            not_allowed(
                "statement_not_allowed",
                "LIMIT/OFFSET 只能是整数常量",
                "LIMIT/OFFSET must be an integer literal",
                node,
                name,
            )
        return False

    def window(self, node: exp.Expr) -> bool:
        if self.policy != "rows":
            self.no_window(node)
        inner = node.this
        if (
            type(inner) not in WINDOW_FUNCTIONS
            and type(inner) not in AGGREGATES
            and not (
                isinstance(inner, exp.Anonymous) and str(inner.name).lower() in ANONYMOUS_AGGREGATES
            )
        ):
            refuse_construct(inner)
        return True

    def no_window(self, node: exp.Expr) -> NoReturn:
        inner = node.this if isinstance(node, exp.Window) else node
        name = construct_name(inner) + (" OVER" if isinstance(node, exp.Window) else "")
        not_allowed(
            "window_not_allowed",
            "此授权不允许窗口函数",
            "window functions are not allowed under this policy",
            node,
            name,
        )

    def no_sample(self, node: exp.Expr) -> NoReturn:
        not_allowed("sample_not_allowed", "不允许抽样", "sampling not allowed", node, "SAMPLE")

    def parameter(self, node: exp.Expr) -> bool:
        name = node.sql("duckdb")[:40]
        refuse(
            "bad_parameter",
            f"未绑定的参数 {name}",
            f"unbound parameter {name}",
            construct=name,
            node=node,
        )

    def leaf(self, node: exp.Expr) -> bool:
        return False

    def escape_string(self, node: exp.Expr) -> bool:
        # E'…' and $$…$$ arrive decoded: emit them as plain literals, escaped the one standard way.
        node.replace(exp.Literal.string(str(node.this)))
        return False

    def passthrough(self, node: exp.Expr) -> bool:
        return True


_Handler = Callable[[_Walk, exp.Expr], bool]

_HANDLERS: dict[type[exp.Expr], _Handler] = {
    exp.Select: _Walk.select,
    exp.Union: _Walk.set_operation,
    exp.Intersect: _Walk.set_operation,
    exp.Except: _Walk.set_operation,
    exp.Subquery: _Walk.subquery,
    exp.Exists: _Walk.exists,
    exp.With: _Walk.with_,
    exp.CTE: _Walk.cte,
    exp.From: _Walk.from_,
    exp.Join: _Walk.join,
    exp.Table: _Walk.table,
    exp.TableAlias: _Walk.passthrough,
    exp.Column: _Walk.column,
    exp.Star: _Walk.star,
    exp.TableColumn: _Walk.table_column,
    exp.Identifier: _Walk.leaf,
    exp.Literal: _Walk.leaf,
    exp.ByteString: _Walk.escape_string,
    exp.RawString: _Walk.escape_string,
    exp.Null: _Walk.leaf,
    exp.Boolean: _Walk.leaf,
    exp.Alias: _Walk.passthrough,
    exp.Distinct: _Walk.distinct,
    exp.Var: _Walk.var,
    exp.DataType: _Walk.data_type,
    exp.Interval: _Walk.passthrough,
    exp.Where: _Walk.passthrough,
    exp.Group: _Walk.group,
    exp.Having: _Walk.passthrough,
    exp.Order: _Walk.passthrough,
    exp.Ordered: _Walk.ordered,
    exp.Limit: _Walk.limit,
    exp.Offset: _Walk.limit,
    exp.Filter: _Walk.passthrough,
    exp.Window: _Walk.window,
    exp.WindowSpec: _Walk.passthrough,
    exp.Qualify: _Walk.passthrough,
    exp.Anonymous: _Walk.anonymous,
    exp.Placeholder: _Walk.parameter,
    exp.Parameter: _Walk.parameter,
    exp.TableSample: lambda walk, node: _sample(walk, node),
    exp.Rollup: lambda walk, node: _grouping(walk, node),
    exp.Cube: lambda walk, node: _grouping(walk, node),
    exp.GroupingSets: lambda walk, node: _grouping(walk, node),
}


def _grouping(walk: _Walk, node: exp.Expr) -> bool:
    name = construct_name(node)
    not_allowed("statement_not_allowed", "不允许的子句", "clause not allowed", node, name)
    return False


def _sample(walk: _Walk, node: exp.Expr) -> bool:
    walk.no_sample(node)
    return False


def check_nodes(
    tree: exp.Expr, policy: Policy, *, sql: str | None = None, qualified: bool = False
) -> None:
    """Walk every node and refuse the first construct the policy does not allow."""
    _Walk(policy, sql, qualified).run(tree)
