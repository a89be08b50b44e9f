"""The guard's shared vocabulary: specs, plans, the refusal helper and name folding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NoReturn

from sqlglot import exp

from gongshu.sandbox.errors import QueryRefused

__all__ = [
    "IDENTIFYING",
    "REVEALING_FLAGS",
    "SUBJECT",
    "DpMeasure",
    "DpPlan",
    "FieldSpec",
    "ParamSpec",
    "Plan",
    "Policy",
    "TableSpec",
    "construct_name",
    "fold",
    "not_allowed",
    "refuse",
    "refuse_clause",
    "refuse_construct",
]

Policy = Literal["aggregate", "dp", "rows"]

# Flags whose raw values must never leave, and the wider set that single-value aggregates avoid.
IDENTIFYING = frozenset({"identifier", "quasi_identifier"})
REVEALING_FLAGS = IDENTIFYING | {"sensitive"}

# The hidden column each aggregate/dp view carries; users never see or name it.
SUBJECT = "__subject"


@dataclass(frozen=True)
class FieldSpec:
    """One granted field of a view, with its catalogue type, flags and public metadata."""

    name: str
    type: str
    flags: frozenset[str] = frozenset()
    domain: tuple[Any, ...] | None = None
    bounds: tuple[float, float] | None = None


@dataclass(frozen=True)
class TableSpec:
    """A view the query may read: its name as users write it and its granted fields.

    ``unique_subjects`` (an optional extension of the contract) says every row of the view has
    a different ``__subject``, as measured on the data version; a query reading this one view
    without joins then counts subjects with ``count`` instead of ``count(DISTINCT …)``.
    """

    name: str
    fields: tuple[FieldSpec, ...]
    unique_subjects: bool = False


@dataclass(frozen=True)
class DpMeasure:
    """One differentially private measure: output column, kind, field and clamp bounds."""

    column: str
    kind: Literal["count", "sum", "mean"]
    field: str | None
    bounds: tuple[float, float] | None


@dataclass(frozen=True)
class DpPlan:
    """What the DP step needs: key columns with their public domains, measures, contribution cap."""

    keys: tuple[str, ...]
    domains: tuple[tuple[Any, ...], ...]
    measures: tuple[DpMeasure, ...]
    max_contributions: int


@dataclass(frozen=True)
class Plan:
    """A validated query: the SQL to run (regenerated from the AST) and how to release it."""

    sql: str
    columns: tuple[str, ...]
    k_columns: tuple[str, ...]
    limit: int | None
    offset: int
    tables: tuple[str, ...]
    shape_hash: str
    frame_hash: str | None
    where_sql: str | None
    dp: DpPlan | None


@dataclass(frozen=True)
class ParamSpec:
    """A shared model's parameter: name, type (string|integer|decimal|date) and limits."""

    name: str
    type: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None


def fold(name: str) -> str:
    """Fold an identifier the way DuckDB compares names: ASCII letters only, case-insensitively."""
    return name.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _position(node: exp.Expr | None) -> tuple[int | None, int | None]:
    # sqlglot keeps token positions on identifiers and literals only: take the first one below.
    if node is None:
        return None, None
    for index, child in enumerate(node.walk()):
        if index > 200:
            break
        meta = child.meta if child._meta else None
        if meta and "line" in meta:
            return int(meta["line"]), int(meta["col"])
    return None, None


def refuse(
    reason: str,
    zh: str,
    en: str,
    *,
    construct: str | None = None,
    node: exp.Expr | None = None,
) -> NoReturn:
    """Raise the guard's refusal: Chinese first, English in parentheses, with the culprit."""
    line, column = _position(node)
    raise QueryRefused(reason, f"{zh} ({en})", construct=construct, line=line, column=column)


_CONSTRUCT_NAMES: dict[type[exp.Expr], str] = {
    exp.Lambda: "LAMBDA",
    exp.Struct: "STRUCT",
    exp.Array: "LIST",
    exp.Bracket: "SUBSCRIPT []",
    exp.Dot: "DOT ACCESS",
    exp.Columns: "COLUMNS(*)",
    exp.Tuple: "ROW/TUPLE",
    exp.Values: "VALUES",
    exp.Lateral: "LATERAL",
    exp.Unnest: "UNNEST",
    exp.WithinGroup: "WITHIN GROUP",
    exp.Collate: "COLLATE",
    exp.Rollup: "ROLLUP",
    exp.Cube: "CUBE",
    exp.GroupingSets: "GROUPING SETS",
    exp.Pivot: "PIVOT",
    exp.TableSample: "SAMPLE",
    exp.Placeholder: "PARAMETER",
    exp.Parameter: "PARAMETER",
    exp.Window: "OVER",
    exp.Qualify: "QUALIFY",
    exp.Subquery: "SUBQUERY",
    exp.Exists: "EXISTS",
}


def construct_name(node: exp.Expr) -> str:
    """A readable SQL name for a node: the function name, the keyword or the class name."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    if isinstance(node, exp.Command):
        return str(node.name).upper()
    if isinstance(node, exp.IgnoreNulls | exp.RespectNulls) and isinstance(node.this, exp.Expr):
        return construct_name(node.this)
    for cls, name in _CONSTRUCT_NAMES.items():
        if isinstance(node, cls):
            return name
    if isinstance(node, exp.Func):
        return node.sql_name()
    return node.key.upper()


# Statement-like nodes: refused as statements wherever they appear (top level, CTE, subquery).
_STATEMENTS = (
    exp.Command,
    exp.DDL,
    exp.DML,
    exp.Pragma,
    exp.Set,
    exp.Use,
    exp.Describe,
    exp.Summarize,
    exp.Pivot,
    exp.Show,
)


def not_allowed(reason: str, zh: str, en: str, node: exp.Expr, name: str) -> NoReturn:
    """Refuse ``node`` for ``reason``, naming the construct in both languages."""
    refuse(reason, f"{zh} {name}", f"{en}: {name}", construct=name, node=node)


def refuse_construct(node: exp.Expr) -> NoReturn:
    """Refuse a node that no allow-list names, with the reason its kind calls for."""
    name = construct_name(node)
    if isinstance(node, _STATEMENTS):
        not_allowed("statement_not_allowed", "不允许的语句", "statement not allowed", node, name)
    if isinstance(node, exp.Func):
        not_allowed("function_not_allowed", "不允许的函数", "function not allowed", node, name)
    not_allowed("function_not_allowed", "不允许的语法", "construct not allowed", node, name)


def refuse_clause(node: exp.Expr, key: str) -> NoReturn:
    """Refuse an argument (clause) of an otherwise allowed node, by what it is."""
    if key == "sample":
        not_allowed("sample_not_allowed", "不允许抽样", "sampling not allowed", node, "SAMPLE")
    if key == "pivots":
        not_allowed("statement_not_allowed", "不允许的语句", "statement not allowed", node, "PIVOT")
    if key == "laterals":
        not_allowed(
            "subquery_not_allowed", "不允许的子查询", "subquery not allowed", node, "LATERAL"
        )
    name = key.rstrip("_").upper()
    not_allowed("statement_not_allowed", "不允许的子句", "clause not allowed", node, name)
