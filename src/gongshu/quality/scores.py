"""Quality scores: 0-100 per dimension from rule results, and their weighted overall mean.

A dimension's score is ``100 × (1 − Σ failed / Σ checked)`` over its rules, so a rule that
checks ten million values weighs more than one that checks a hundred. A dimension whose rules
checked nothing has no score (None, not 100): absence of evidence is not quality.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gongshu.quality.rules import DIMENSION_OF, Dimension, RuleResult

__all__ = ["DIMENSION_WEIGHTS", "DimensionScore", "Scores", "score"]

# Weight of each dimension in the overall score (the mean of the dimensions that have a score).
# Equal by default: no dimension is ranked above another, and a department cannot lift its
# overall score by doing well only on the dimensions that are easy to satisfy.
DIMENSION_WEIGHTS: dict[Dimension, float] = {dimension: 1.0 for dimension in Dimension}


@dataclass(frozen=True)
class DimensionScore:
    """One dimension: its score (None when nothing was checked) and the counts behind it."""

    dimension: Dimension
    score: float | None
    checked: int
    failed: int
    rules: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {
            "dimension": str(self.dimension),
            "score": self.score,
            "checked": self.checked,
            "failed": self.failed,
            "rules": self.rules,
        }


@dataclass(frozen=True)
class Scores:
    """Scores per dimension (in ``Dimension`` order) and overall, each rounded to 0.1."""

    dimensions: tuple[DimensionScore, ...]
    overall: float | None

    def of(self, dimension: Dimension) -> float | None:
        """The score of one dimension."""
        for item in self.dimensions:
            if item.dimension == dimension:
                return item.score
        raise KeyError(dimension)

    def to_json(self) -> dict[str, Any]:
        """``{"overall", "dimensions": {name: score}, "details": [...]}``."""
        return {
            "overall": self.overall,
            "dimensions": {str(item.dimension): item.score for item in self.dimensions},
            "details": [item.to_json() for item in self.dimensions],
        }


def score(
    results: Sequence[RuleResult], *, weights: Mapping[Dimension, float] = DIMENSION_WEIGHTS
) -> Scores:
    """Score rule results per dimension and overall."""
    dimensions = []
    present: list[tuple[float, float]] = []  # unrounded score, weight
    for dimension in Dimension:
        mine = [r for r in results if DIMENSION_OF[r.rule.kind] == dimension]
        checked = sum(r.checked for r in mine)
        failed = sum(min(r.failed, r.checked) for r in mine)
        value = None
        if checked:
            exact = 100 * (1 - failed / checked)
            present.append((exact, weights.get(dimension, 0.0)))
            value = round(exact, 1)
        dimensions.append(DimensionScore(dimension, value, checked, failed, len(mine)))
    total = sum(weight for _, weight in present)
    overall = None
    if total > 0:
        overall = round(sum(value * weight for value, weight in present) / total, 1)
    return Scores(tuple(dimensions), overall)
