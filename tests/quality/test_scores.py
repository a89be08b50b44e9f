"""Scores: per dimension from failed/checked, None when nothing was checked, weighted overall."""

from __future__ import annotations

import json

import pytest

from gongshu.quality.rules import Dimension, Rule, RuleKind, RuleResult
from gongshu.quality.scores import DIMENSION_WEIGHTS, score


def _result(kind: RuleKind, checked: int, failed: int, field: str = "企业名称") -> RuleResult:
    fields = () if kind == RuleKind.TIMELINESS else (field,)
    return RuleResult(Rule(f"{kind}:{field}", kind, fields, {}), checked, failed)


def test_a_dimension_sums_its_rules_counts() -> None:
    scores = score(
        [
            _result(RuleKind.COMPLETENESS, 1000, 100),
            _result(RuleKind.COMPLETENESS, 1000, 0, "法定代表人"),
            _result(RuleKind.USCC, 200, 2),
            _result(RuleKind.RANGE, 800, 18),
            _result(RuleKind.UNIQUE, 3, 1),
        ]
    )
    assert scores.of(Dimension.COMPLETENESS) == 95.0  # 100 failed of 2000, not mean(90, 100)
    assert scores.of(Dimension.VALIDITY) == 98.0  # 20 of 1000
    assert scores.of(Dimension.UNIQUENESS) == 66.7
    assert scores.of(Dimension.CONSISTENCY) is None
    assert scores.of(Dimension.TIMELINESS) is None
    assert scores.overall == round((95 + 98 + 200 / 3) / 3, 1) == 86.6


def test_nothing_checked_is_no_score_not_full_marks() -> None:
    scores = score([_result(RuleKind.TIMELINESS, 0, 0), _result(RuleKind.REFERENCE, 0, 0)])
    assert all(item.score is None for item in scores.dimensions)
    assert scores.overall is None
    assert score([]).overall is None


def test_weights_change_the_overall_mean() -> None:
    results = [_result(RuleKind.COMPLETENESS, 10, 0), _result(RuleKind.TIMELINESS, 1, 1)]
    assert score(results).overall == 50.0
    weights = {**DIMENSION_WEIGHTS, Dimension.COMPLETENESS: 3.0}
    assert score(results, weights=weights).overall == 75.0
    assert set(DIMENSION_WEIGHTS) == set(Dimension)
    assert len(set(DIMENSION_WEIGHTS.values())) == 1  # equal by default


def test_failures_beyond_checks_cannot_go_below_zero() -> None:
    scores = score([_result(RuleKind.TYPE, 5, 9)])
    assert scores.of(Dimension.VALIDITY) == 0.0


def test_to_json_is_serialisable_and_keyed_by_dimension() -> None:
    scores = score([_result(RuleKind.CROSS_FIELD, 3, 1), _result(RuleKind.COMPLETENESS, 4, 0)])
    data = json.loads(json.dumps(scores.to_json()))
    assert data["overall"] == pytest.approx(83.3)
    assert data["dimensions"] == {
        "completeness": 100.0,
        "validity": None,
        "uniqueness": None,
        "consistency": 66.7,
        "timeliness": None,
    }
    consistency = next(d for d in data["details"] if d["dimension"] == "consistency")
    assert consistency == {
        "dimension": "consistency",
        "score": 66.7,
        "checked": 3,
        "failed": 1,
        "rules": 1,
    }
