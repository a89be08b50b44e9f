"""DP releases: the full public domain in a stable order, and real OpenDP noise of the right size.

Every randomised assertion below is sized so that a correct implementation fails it with
probability far below 1e-6; the reasoning sits next to each one.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Literal

import opendp.prelude as dp
import pytest

from gongshu.sandbox.dp import MAX_CELLS, noise_scale, release
from gongshu.sandbox.errors import QueryRefused
from gongshu.sandbox.guard import DpMeasure, DpPlan

DISTRICTS = ("上城区", "拱墅区", "西湖区", "滨江区")
YEARS = (2022, 2023, 2024)


def count_plan(
    keys: tuple[str, ...] = ("district", "year"),
    domains: tuple[tuple[Any, ...], ...] = (DISTRICTS, YEARS),
    *,
    contributions: int = 1,
) -> DpPlan:
    """A histogram of rows per key combination: ``SELECT keys, COUNT(*) AS n … GROUP BY keys``."""
    return DpPlan(
        keys=keys,
        domains=domains,
        measures=(DpMeasure(column="n", kind="count", field=None, bounds=None),),
        max_contributions=contributions,
    )


def mixed_plan(contributions: int = 3) -> DpPlan:
    """A global aggregate with one measure of each kind (four noisy quantities)."""
    return DpPlan(
        keys=(),
        domains=(),
        measures=(
            DpMeasure(column="n", kind="count", field=None, bounds=None),
            DpMeasure(column="balance", kind="sum", field="balance", bounds=(-50.0, 10.0)),
            DpMeasure(column="age", kind="mean", field="age", bounds=(0.0, 100.0)),
        ),
        max_contributions=contributions,
    )


MIXED_COLUMNS = ("n", "balance", "age__sum", "age__count")


def district_counts(truth: int, cells: int, *, epsilon: float) -> tuple[DpPlan, list[int]]:
    """Release ``cells`` districts that all hold ``truth`` rows; return the noisy counts."""
    domain = tuple(f"D{i:05d}" for i in range(cells))
    plan = count_plan(("district",), (domain,))
    rows = [(name, truth) for name in domain]
    result = release(plan, ("district", "n"), rows, epsilon=epsilon)
    assert [row[0] for row in result.rows] == list(domain)
    return plan, [row[1] for row in result.rows]


def test_every_key_combination_of_the_domain_is_released_in_domain_order() -> None:
    # The SQL returns only present combinations, in any order, and one outside the domain.
    rows = [("西湖区", 2023, 40), ("上城区", 2022, 15), ("余杭区", 2023, 999)]
    result = release(count_plan(), ("district", "year", "n"), rows, epsilon=1.0)

    assert result.columns == ("district", "year", "n")
    assert [row[:2] for row in result.rows] == list(itertools.product(DISTRICTS, YEARS))
    assert all(type(row[2]) is int and row[2] >= 0 for row in result.rows)
    assert "余杭区" not in {row[0] for row in result.rows}


def test_absent_combinations_are_noised_like_present_ones() -> None:
    # 400 absent cells at scale 10: each stays 0 only when its noise is ≤ 0, probability about
    # 0.525, so all 400 staying 0 has probability ≈ 0.525**400 < 1e-100.
    plan = count_plan(("district",), (tuple(range(400)),))
    result = release(plan, ("district", "n"), [], epsilon=0.1)
    assert len(result.rows) == 400
    assert any(row[1] > 0 for row in result.rows)


def test_a_global_aggregate_is_one_row_with_one_column_per_measure() -> None:
    rows = [(120, -300.0, 4_800.0, 118)]
    result = release(mixed_plan(), MIXED_COLUMNS, rows, epsilon=2.0)

    assert result.columns == ("n", "balance", "age")
    assert len(result.rows) == 1
    count, total, mean = result.rows[0]
    assert type(count) is int and count >= 0
    assert isinstance(total, float) and isinstance(mean, float)
    assert set(result.scales) == {"n", "balance", "age__sum", "age__count"}


def test_repeated_releases_are_noisy_and_not_all_identical() -> None:
    # Scale 2 (ε = 0.5): one count comes out exact with probability tanh(1/4) ≈ 0.245, so a
    # release equal to the truth in all 50 cells has probability 0.245**50 < 1e-30; two releases
    # agree in a cell with probability Σ p(k)² < 0.245, so all five equal is below 1e-120.
    releases = [district_counts(1_000, 50, epsilon=0.5)[1] for _ in range(5)]
    assert all(counts != [1_000] * 50 for counts in releases)
    assert len({tuple(counts) for counts in releases}) > 1


def _discrete_laplace(scale: float, reach: int) -> dict[int, float]:
    """P(k) ∝ exp(-|k|/scale) for |k| ≤ reach (the rest of the mass is negligible)."""
    a = math.exp(-1 / scale)
    return {k: (1 - a) / (1 + a) * a ** abs(k) for k in range(-reach, reach + 1)}


def test_count_noise_follows_discrete_laplace_with_the_expected_scale() -> None:
    n, truth, epsilon = 20_000, 1_000_000, 0.1
    _, counts = district_counts(truth, n, epsilon=epsilon)
    # ε = 0.1 and one contribution per subject give scale 1/0.1 = 10; far from 0, so the
    # post-processing clamp at 0 never touches these counts and noise = released − truth.
    scale = noise_scale("count", None, 1, epsilon)
    assert scale == pytest.approx(10.0, rel=1e-9)
    noise = [count - truth for count in counts]

    pmf = _discrete_laplace(scale, reach=2_000)  # a**2000 = e**-200: nothing left beyond
    variance = sum(k * k * p for k, p in pmf.items())  # 2a/(1-a)² ≈ 199.83 (≈ 2·scale²)
    fourth = sum(k**4 * p for k, p in pmf.items())
    assert variance == pytest.approx(2 * scale**2, rel=1e-2)

    # Mean ≈ 0. A Chernoff bound with the discrete Laplace moment generating function
    # M(t) = (1-a)² / ((1-a·e^t)(1-a·e^-t)) gives P(|mean| ≥ tol) ≤ 2·exp(-n·(t·tol - log M(t)))
    # for every 0 < t < 1/scale; the best t on a grid still bounds it, and we assert the bound.
    tol = 0.8
    a = math.exp(-1 / scale)
    exponent = max(
        t * tol - math.log((1 - a) ** 2 / ((1 - a * math.exp(t)) * (1 - a * math.exp(-t))))
        for t in (i / 1_000 / scale for i in range(1, 1_000))
    )
    assert 2 * math.exp(-n * exponent) < 1e-9
    assert abs(sum(noise) / n) < tol

    # Variance ≈ 2·scale² (exactly 2a/(1-a)²). With the mean known to be 0, mean(noise²) has
    # standard deviation sqrt((E[X⁴] - σ⁴)/n) ≈ 3.16 (1.6 % of σ²). We allow 9 of those: the
    # normal tail there is 2e-19, and the skew of a mean of 20,000 squares (≈ 0.047) moves the
    # 9σ quantile by only ≈ 0.047/6·(9²-1) ≈ 0.6σ, so a false failure stays far below 1e-12.
    # A scale off by 8 % or more moves the variance by ≥ 16 %, beyond the 14 % allowed.
    spread = math.sqrt((fourth - variance**2) / n)
    assert abs(sum(x * x for x in noise) / n - variance) < 9 * spread

    # The whole distribution: Dvoretzky–Kiefer–Wolfowitz (Massart's constant) bounds
    # P(sup |F_n - F| > δ) ≤ 2·exp(-2nδ²) = 2·exp(-36) ≈ 5e-16 for δ = 0.03, for any law.
    delta = 0.03
    assert 2 * math.exp(-2 * n * delta**2) < 1e-12
    seen = sorted(noise)
    below, cdf, worst = 0, 0.0, 0.0
    for k in range(-2_000, 2_001):
        cdf += pmf[k]
        while below < n and seen[below] <= k:
            below += 1
        worst = max(worst, abs(below / n - cdf))
    assert below == n  # no draw beyond ±2000
    assert worst < delta


def test_epsilon_spent_is_opendps_map_of_the_measurements_used() -> None:
    plan, epsilon = mixed_plan(contributions=3), 1.0
    result = release(plan, MIXED_COLUMNS, [(12, 40.0, 300.0, 10)], epsilon=epsilon)

    ints = dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int)
    floats = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float)
    # d_in under adding/removing one subject of ≤ 3 rows: counts 3, sums 3·max(|lo|, |hi|).
    used = {
        "n": (ints, 3),
        "balance": (floats, 3 * 50.0),
        "age__sum": (floats, 3 * 100.0),
        "age__count": (ints, 3),
    }
    maps = {
        name: dp.m.make_laplace(*space, scale=result.scales[name]).map(d_in)  # type: ignore[no-untyped-call]
        for name, (space, d_in) in used.items()
    }
    assert result.epsilon_spent == math.fsum(maps.values())
    assert result.epsilon_spent <= epsilon
    assert all(spent <= epsilon / 4 for spent in maps.values())  # an even split over 4
    # The scales are tight: nearly the whole budget is used, so the sensitivities are as above.
    assert result.epsilon_spent == pytest.approx(epsilon, rel=1e-9)
    assert result.scales["balance"] == pytest.approx(150.0 / 0.25, rel=1e-9)


@pytest.mark.parametrize("epsilon", [0.007, 0.103, 0.3, 3.0, 123.456])
def test_the_spent_epsilon_never_exceeds_the_request_in_floating_point(epsilon: float) -> None:
    # For 0.007, 0.103 … three copies of the float epsilon/3 sum to more than epsilon.
    plan = DpPlan(
        keys=(),
        domains=(),
        measures=(
            DpMeasure(column="n", kind="count", field=None, bounds=None),
            DpMeasure(column="s", kind="sum", field="s", bounds=(0.0, 7.0)),
            DpMeasure(column="m", kind="count", field="m", bounds=None),
        ),
        max_contributions=2,
    )
    result = release(plan, ("n", "s", "m"), [(5, 20.0, 5)], epsilon=epsilon)
    assert result.epsilon_spent <= epsilon


def test_sums_and_means_are_clamped_after_noise() -> None:
    # ε = 0.002 over 3 quantities: sum scale 100/0.000667 = 150,000, so noisy sums of 0 are
    # negative half the time and noisy means land far outside [0, 100]. The chance that none
    # of 300 cells needs the clamp is 0.5**300 for each check.
    plan = DpPlan(
        keys=("street",),
        domains=(tuple(range(300)),),
        measures=(
            DpMeasure(column="income", kind="sum", field="income", bounds=(0.0, 100.0)),
            DpMeasure(column="age", kind="mean", field="age", bounds=(0.0, 100.0)),
        ),
        max_contributions=1,
    )
    rows = [(street, 0.0, 0.0, 0) for street in range(300)]
    result = release(plan, ("street", "income", "age__sum", "age__count"), rows, epsilon=0.002)

    sums = [row[1] for row in result.rows]
    means = [row[2] for row in result.rows]
    assert min(sums) == 0.0 and max(sums) > 0.0
    assert all(0.0 <= mean <= 100.0 for mean in means)
    assert {0.0, 100.0} <= set(means)


def test_a_mean_with_a_large_budget_is_close_to_the_truth() -> None:
    # ε = 1e6: scales are ~1e-4, so the mean 4800/120 = 40 comes back almost exactly.
    result = release(mixed_plan(), MIXED_COLUMNS, [(120, -300.0, 4_800.0, 120)], epsilon=1e6)
    count, total, mean = result.rows[0]
    assert count == 120
    assert total == pytest.approx(-300.0, abs=0.1)
    assert mean == pytest.approx(40.0, abs=0.01)


def test_bigger_epsilon_means_smaller_scale() -> None:
    cases: list[tuple[Literal["count", "sum"], tuple[float, float] | None]] = [
        ("count", None),
        ("sum", (-5.0, 20.0)),
    ]
    for kind, bounds in cases:
        scales = [noise_scale(kind, bounds, 2, eps) for eps in (0.01, 0.1, 1.0, 10.0)]
        assert scales == sorted(scales, reverse=True) and len(set(scales)) == 4
        # …and more contributions per subject need more noise.
        assert noise_scale(kind, bounds, 5, 1.0) > noise_scale(kind, bounds, 2, 1.0)
    low = release(count_plan(), ("district", "year", "n"), [], epsilon=0.5)
    high = release(count_plan(), ("district", "year", "n"), [], epsilon=5.0)
    assert high.scales["n"] < low.scales["n"]


@pytest.mark.parametrize("epsilon", [0, 0.0, -1.0, math.nan, math.inf, -math.inf, True, "1"])
def test_a_bad_epsilon_is_refused(epsilon: Any) -> None:
    with pytest.raises(QueryRefused) as refused:
        release(count_plan(), ("district", "year", "n"), [], epsilon=epsilon)
    assert refused.value.reason == "bad_epsilon"
    with pytest.raises(QueryRefused):
        noise_scale("count", None, 1, epsilon)


def test_a_domain_too_large_to_enumerate_is_refused() -> None:
    side = tuple(range(math.isqrt(MAX_CELLS) + 1))
    plan = count_plan(("a", "b"), (side, side))
    with pytest.raises(QueryRefused) as refused:
        release(plan, ("a", "b", "n"), [], epsilon=1.0)
    assert refused.value.reason == "dp_unsupported"


def test_a_result_missing_a_measure_column_is_an_error() -> None:
    with pytest.raises(ValueError, match="age__count"):
        release(mixed_plan(), ("n", "balance", "age__sum"), [(1, 1.0, 1.0)], epsilon=1.0)
