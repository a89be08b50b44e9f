"""Data quality of stored dataset versions: profiles, rules and scores (pure DuckDB, no ORM).

``profile_parquet`` describes what each field holds, ``evaluate`` runs quality rules (parsed
and checked by ``parse_rule``, or the ``default_rules`` every version gets) and ``score`` turns
the results into 0-100 scores per dimension and overall.
"""

from gongshu.quality.checks import (
    citizen_id_valid_sql,
    code_list_valid_sql,
    compare_sql,
    date_range_valid_sql,
    filled_sql,
    quote_ident,
    quote_literal,
    range_valid_sql,
    regex_valid_sql,
    sql_literal,
    uscc_valid_sql,
)
from gongshu.quality.profile import ColumnProfile, FieldSpec, Frequency, Profile, profile_parquet
from gongshu.quality.rules import (
    DIMENSION_OF,
    Dimension,
    ElementSpec,
    Rule,
    RuleKind,
    RuleResult,
    default_rules,
    evaluate,
    parse_rule,
)
from gongshu.quality.scores import DIMENSION_WEIGHTS, DimensionScore, Scores, score

__all__ = [
    "DIMENSION_OF",
    "DIMENSION_WEIGHTS",
    "ColumnProfile",
    "Dimension",
    "DimensionScore",
    "ElementSpec",
    "FieldSpec",
    "Frequency",
    "Profile",
    "Rule",
    "RuleKind",
    "RuleResult",
    "Scores",
    "citizen_id_valid_sql",
    "code_list_valid_sql",
    "compare_sql",
    "date_range_valid_sql",
    "default_rules",
    "evaluate",
    "filled_sql",
    "parse_rule",
    "profile_parquet",
    "quote_ident",
    "quote_literal",
    "range_valid_sql",
    "regex_valid_sql",
    "score",
    "sql_literal",
    "uscc_valid_sql",
]
