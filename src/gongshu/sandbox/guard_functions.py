"""The guard's allow-lists: which sqlglot node classes and function names a query may use.

Each list names the sqlglot expression class a DuckDB spelling parses into (``substr`` and
``substring`` both become ``exp.Substring``, ``string_agg`` becomes ``exp.GroupConcat`` …);
functions sqlglot does not know parse into ``exp.Anonymous`` and are matched by lower-case name.
Anything absent from these lists is refused.
"""

from __future__ import annotations

from sqlglot import exp

__all__ = [
    "AGGREGATES",
    "ALLOWED_TYPES",
    "ANONYMOUS_AGGREGATES",
    "ANONYMOUS_SCALARS",
    "COLLECTION_AGGREGATES",
    "COUNTING_AGGREGATES",
    "DATE_UNITS",
    "GENERALISING_UNITS",
    "OPERATORS",
    "REVEALING_AGGREGATES",
    "SCALARS",
    "SET_OPERATIONS",
    "SYSTEM_PREFIXES",
    "SYSTEM_SCHEMAS",
    "WINDOW_FUNCTIONS",
    "is_aggregate",
]

OPERATORS: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Add,
        exp.Sub,
        exp.Mul,
        exp.Div,
        exp.IntDiv,
        exp.Mod,
        exp.Neg,
        exp.EQ,
        exp.NEQ,
        exp.GT,
        exp.GTE,
        exp.LT,
        exp.LTE,
        exp.NullSafeEQ,
        exp.NullSafeNEQ,
        exp.And,
        exp.Or,
        exp.Not,
        exp.Is,
        exp.In,
        exp.Between,
        exp.Like,
        exp.ILike,
        exp.DPipe,
        exp.Paren,
    }
)

SCALARS: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Abs,
        exp.Round,
        exp.Floor,
        exp.Ceil,
        exp.Trunc,
        exp.Sign,
        exp.Sqrt,
        exp.Ln,
        exp.Log,
        exp.Exp,
        exp.Pow,
        exp.Greatest,
        exp.Least,
        exp.Coalesce,
        exp.Nullif,
        exp.If,
        exp.Case,
        exp.Cast,
        exp.TryCast,
        exp.Lower,
        exp.Upper,
        exp.Trim,
        exp.Length,
        exp.Substring,
        exp.Left,
        exp.Right,
        exp.StartsWith,
        exp.EndsWith,
        exp.Contains,
        exp.RegexpLike,
        exp.Concat,
        exp.ConcatWs,
        exp.Replace,
        exp.Pad,
        exp.TimeToStr,
        exp.Year,
        exp.Month,
        exp.Quarter,
        exp.Day,
        exp.DayOfWeek,
        exp.DayOfMonth,
        exp.DayOfYear,
        exp.Week,
        exp.WeekOfYear,
        exp.Hour,
        exp.Minute,
        exp.Second,
        exp.TimestampTrunc,
        exp.DateTrunc,
        exp.Extract,
        exp.DateDiff,
        exp.DateAdd,
        exp.DateSub,
        exp.CurrentDate,
        exp.DateFromParts,
    }
)

# DuckDB functions sqlglot has no class for (exp.Anonymous), by lower-case name.
ANONYMOUS_SCALARS = frozenset({"prefix", "suffix", "date_part", "datepart"})

# Aggregates that may reveal one subject's value: refused on sensitive and identifying fields.
REVEALING_AGGREGATES: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Min,
        exp.Max,
        exp.ArgMin,
        exp.ArgMax,
        exp.First,
        exp.Last,
        exp.Mode,
        exp.Median,
        exp.Quantile,
        exp.PercentileCont,
        exp.PercentileDisc,
    }
)

# Aggregates that hand back the values themselves: refused under the aggregate policy.
COLLECTION_AGGREGATES: frozenset[type[exp.Expr]] = frozenset({exp.GroupConcat, exp.ArrayAgg})

# Aggregates that count: the only ones that may take identifier fields.
COUNTING_AGGREGATES: frozenset[type[exp.Expr]] = frozenset({exp.Count, exp.ApproxDistinct})

AGGREGATES: frozenset[type[exp.Expr]] = (
    frozenset(
        {
            exp.Count,
            exp.CountIf,
            exp.Sum,
            exp.Avg,
            exp.Stddev,
            exp.StddevSamp,
            exp.StddevPop,
            exp.Variance,
            exp.VariancePop,
            exp.ApproxDistinct,
            exp.Corr,
            exp.CovarSamp,
            exp.CovarPop,
            exp.RegrSlope,
            exp.RegrIntercept,
            exp.RegrR2,
            exp.RegrCount,
            exp.RegrAvgx,
            exp.RegrAvgy,
            exp.RegrSxx,
            exp.RegrSyy,
            exp.RegrSxy,
        }
    )
    | REVEALING_AGGREGATES
    | COLLECTION_AGGREGATES
)

ANONYMOUS_AGGREGATES = frozenset({"mean"})

WINDOW_FUNCTIONS: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.RowNumber,
        exp.Rank,
        exp.DenseRank,
        exp.Ntile,
        exp.Lag,
        exp.Lead,
        exp.FirstValue,
        exp.LastValue,
        exp.NthValue,
        exp.PercentRank,
        exp.CumeDist,
    }
)

SET_OPERATIONS: frozenset[type[exp.Expr]] = frozenset({exp.Union, exp.Intersect, exp.Except})

# Plain scalar types a CAST may target; nested, JSON and user-defined types are refused.
ALLOWED_TYPES = frozenset(
    {
        exp.DataType.Type.BOOLEAN,
        exp.DataType.Type.TINYINT,
        exp.DataType.Type.SMALLINT,
        exp.DataType.Type.INT,
        exp.DataType.Type.BIGINT,
        exp.DataType.Type.INT128,
        exp.DataType.Type.UTINYINT,
        exp.DataType.Type.USMALLINT,
        exp.DataType.Type.UINT,
        exp.DataType.Type.UBIGINT,
        exp.DataType.Type.FLOAT,
        exp.DataType.Type.DOUBLE,
        exp.DataType.Type.DECIMAL,
        exp.DataType.Type.VARCHAR,
        exp.DataType.Type.CHAR,
        exp.DataType.Type.TEXT,
        exp.DataType.Type.DATE,
        exp.DataType.Type.TIME,
        exp.DataType.Type.TIMESTAMP,
        exp.DataType.Type.TIMESTAMPTZ,
    }
)

# Units date functions and intervals may name (as sqlglot Var nodes or string literals).
DATE_UNITS = frozenset(
    {
        "millennium",
        "century",
        "decade",
        "year",
        "quarter",
        "month",
        "week",
        "day",
        "hour",
        "minute",
        "second",
        "dow",
        "isodow",
        "doy",
        "dayofweek",
        "dayofyear",
        "epoch",
    }
)

# Units coarse enough to generalise an identifying date.
GENERALISING_UNITS = frozenset({"millennium", "century", "decade", "year", "quarter", "month"})

# Schemas and name prefixes of DuckDB's catalogue views and table functions.
SYSTEM_SCHEMAS = frozenset({"information_schema", "pg_catalog", "system", "temp"})
SYSTEM_PREFIXES = ("duckdb_", "pragma_", "sqlite_", "pg_", "information_schema")


def is_aggregate(node: exp.Expr) -> bool:
    """Whether the node is an allowed aggregate call (a class or an anonymous ``mean``)."""
    if type(node) in AGGREGATES:
        return True
    return isinstance(node, exp.Anonymous) and str(node.name).lower() in ANONYMOUS_AGGREGATES
