"""Differential-privacy releases of DP plans, with every noise draw made by OpenDP.

The guard's rewritten SQL returns, per present key combination, exact aggregates over values
clamped to their bounds, each subject contributing at most ``max_contributions`` rows. Here the
whole public domain is filled in (an absent combination must look like any other), epsilon is
split evenly over the noisy quantities, and each quantity — one vector over all key combinations —
goes through one OpenDP Laplace measurement whose own privacy map certifies what it spends.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from gongshu.sandbox.errors import QueryRefused

if TYPE_CHECKING:
    from opendp.mod import Measurement

    from gongshu.sandbox.guard import DpPlan

__all__ = ["MAX_CELLS", "DpRelease", "noise_scale", "release"]

#: Most key combinations one release may have; the cross product of public domains grows fast.
MAX_CELLS = 1_000_000

NoisyKind = Literal["count", "sum"]


@dataclass(frozen=True)
class DpRelease:
    """A released DP result: one row per key combination of the full public domain."""

    columns: tuple[str, ...]  # plan keys, then one column per measure
    rows: list[tuple[Any, ...]]
    epsilon_spent: float  # the sum of OpenDP's privacy maps of the measurements used
    # Noise scale per noisy quantity: a count or sum measure under its column name, a mean
    # under ``<col>__sum`` and ``<col>__count`` (its two noisy halves).
    scales: dict[str, float]


@dataclass(frozen=True)
class _Quantity:
    """One noisy vector: a count or sum measure, or one half of a mean."""

    name: str  # its column in the SQL result and its key in ``scales``
    kind: NoisyKind
    bounds: tuple[float, float] | None


def _opendp() -> Any:
    """OpenDP's prelude with the contrib features the Laplace measurements need."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


def _measurement(kind: NoisyKind, scale: float) -> Measurement:
    """The vector Laplace measurement: discrete over int counts, float over sums."""
    dp = _opendp()
    if kind == "count":
        space = dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int)
    else:
        space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float)
    measurement: Measurement = dp.m.make_laplace(*space, scale=scale)
    return measurement


def _loss(measurement: Measurement, d_in: Any) -> float:
    """The epsilon OpenDP's privacy map certifies for inputs ``d_in`` apart."""
    return float(measurement.map(d_in))  # type: ignore[no-untyped-call]  # unannotated in OpenDP


def _sensitivity(kind: NoisyKind, bounds: tuple[float, float] | None, contributions: int) -> Any:
    """L1 sensitivity of the whole vector when one subject (≤ C rows) is added or removed."""
    if contributions < 1:
        raise ValueError(f"max_contributions must be at least 1, not {contributions}")
    if kind == "count":
        return contributions
    if bounds is None:
        raise QueryRefused(
            "dp_bounds_unknown",
            "求和与均值需要取值范围 (sum and mean need bounds)",
            construct="bounds",
        )
    low, high = float(bounds[0]), float(bounds[1])
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(f"bad bounds {bounds!r}")
    return contributions * max(abs(low), abs(high))


@lru_cache(maxsize=256)
def _solve_scale(kind: NoisyKind, d_in: Any, epsilon: float) -> float:
    """The smallest scale whose OpenDP privacy map at ``d_in`` is within ``epsilon``."""
    scale = d_in / epsilon
    # OpenDP's map rounds up, so d_in/ε can overshoot by an ulp; step up until the map agrees.
    for _ in range(64):
        if not math.isfinite(scale):
            break
        if _loss(_measurement(kind, scale), d_in) <= epsilon:
            return float(scale)
        scale = math.nextafter(scale, math.inf)
    raise QueryRefused(
        "bad_epsilon",
        f"隐私预算 ε={epsilon!r} 过小，无法校准噪声 (epsilon {epsilon!r} is too small for noise)",
        construct="epsilon",
    )


def noise_scale(
    kind: NoisyKind,
    bounds: tuple[float, float] | None,
    max_contributions: int,
    epsilon: float,
) -> float:
    """Laplace scale that one noisy count or sum needs to spend at most ``epsilon``."""
    if kind not in ("count", "sum"):
        raise ValueError(
            f"noise_scale takes 'count' or 'sum' (a mean is one of each), not {kind!r}"
        )
    epsilon = _check_epsilon(epsilon)
    return _solve_scale(kind, _sensitivity(kind, bounds, max_contributions), epsilon)


def _check_epsilon(epsilon: object) -> float:
    """Epsilon as a float, or ``bad_epsilon`` when it is not a positive finite number."""
    value = math.nan
    if isinstance(epsilon, numbers.Real) and not isinstance(epsilon, bool):
        value = float(epsilon)
    if not (math.isfinite(value) and value > 0):
        raise QueryRefused(
            "bad_epsilon",
            f"隐私预算 ε 须为大于 0 的有限数：{epsilon!r} (epsilon must be positive and finite)",
            construct="epsilon",
        )
    return value


def _quantities(plan: DpPlan) -> list[_Quantity]:
    """The plan's noisy quantities in measure order; a mean is a noisy sum and a noisy count."""
    out: list[_Quantity] = []
    for measure in plan.measures:
        if measure.kind == "mean":
            out.append(_Quantity(f"{measure.column}__sum", "sum", measure.bounds))
            out.append(_Quantity(f"{measure.column}__count", "count", None))
        else:
            out.append(_Quantity(measure.column, measure.kind, measure.bounds))
    return out


def _cells(plan: DpPlan) -> list[tuple[Any, ...]]:
    """Every key combination of the public domains, in domain order (a global aggregate: one)."""
    domains = [tuple(dict.fromkeys(domain)) for domain in plan.domains]
    if len(domains) != len(plan.keys):
        raise ValueError("a DP plan needs one domain per key")
    size = math.prod(len(domain) for domain in domains)
    if size > MAX_CELLS:
        raise QueryRefused(
            "dp_unsupported",
            f"分组取值组合过多：{size:,} > {MAX_CELLS:,} "
            f"(too many key combinations: {size:,} > {MAX_CELLS:,})",
            construct="GROUP BY",
        )
    return list(itertools.product(*domains))


def _truth(
    plan: DpPlan,
    quantities: list[_Quantity],
    cells: list[tuple[Any, ...]],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> dict[str, list[Any]]:
    """Exact values per quantity over all cells: zero where a combination is absent."""
    where = {name: i for i, name in enumerate(columns)}
    missing = [name for name in (*plan.keys, *(q.name for q in quantities)) if name not in where]
    if missing:
        raise ValueError(f"the DP result lacks columns {missing!r}")
    key_at = [where[key] for key in plan.keys]
    cell_at = {cell: i for i, cell in enumerate(cells)}
    truth: dict[str, list[Any]] = {
        q.name: [0 if q.kind == "count" else 0.0] * len(cells) for q in quantities
    }
    for row in rows:
        i = cell_at.get(tuple(row[k] for k in key_at))
        if i is None:  # outside the public domain: the guard filters these, never release them
            continue
        for q in quantities:
            value = row[where[q.name]]
            if value is None:  # SUM over only NULLs
                continue
            truth[q.name][i] += int(value) if q.kind == "count" else float(value)
    return truth


def _even_share(epsilon: float, parts: int) -> float:
    """epsilon / parts, nudged down until ``parts`` shares sum to no more than epsilon."""
    share = epsilon / parts
    while math.fsum([share] * parts) > epsilon:
        share = math.nextafter(share, 0.0)
    return share


def release(
    plan: DpPlan,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    epsilon: float,
) -> DpRelease:
    """Add OpenDP noise to a DP plan's exact result, over the full public domain."""
    epsilon = _check_epsilon(epsilon)
    quantities = _quantities(plan)
    cells = _cells(plan)
    truth = _truth(plan, quantities, cells, columns, rows)
    noisy: dict[str, list[Any]] = {}
    scales: dict[str, float] = {}
    spent: list[float] = []
    if quantities:
        share = _even_share(epsilon, len(quantities))
        for q in quantities:
            d_in = _sensitivity(q.kind, q.bounds, plan.max_contributions)
            scale = _solve_scale(q.kind, d_in, share)
            measurement = _measurement(q.kind, scale)
            spent.append(_loss(measurement, d_in))
            noisy[q.name] = list(measurement(truth[q.name])) if cells else []
            scales[q.name] = scale
    out_rows: list[tuple[Any, ...]] = []
    for i, cell in enumerate(cells):
        values: list[Any] = list(cell)
        for measure in plan.measures:
            name = measure.column
            if measure.kind == "count":
                values.append(max(0, int(noisy[name][i])))  # post-processing: never negative
            elif measure.kind == "sum":
                values.append(_sign_clamp(float(noisy[name][i]), measure.bounds))
            else:
                total = float(noisy[f"{name}__sum"][i])
                count = max(int(noisy[f"{name}__count"][i]), 1)
                values.append(_clamp(total / count, measure.bounds))
        out_rows.append(tuple(values))
    return DpRelease(
        columns=(*plan.keys, *(m.column for m in plan.measures)),
        rows=out_rows,
        epsilon_spent=math.fsum(spent),
        scales=scales,
    )


def _clamp(value: float, bounds: tuple[float, float] | None) -> float:
    """A noisy mean pulled back into its bounds (post-processing costs no privacy)."""
    assert bounds is not None  # _sensitivity refused a mean without bounds
    return min(max(value, float(bounds[0])), float(bounds[1]))


def _sign_clamp(value: float, bounds: tuple[float, float] | None) -> float:
    """A noisy sum kept on the side of zero that its clamped values allow."""
    assert bounds is not None
    if bounds[0] >= 0:
        return max(value, 0.0)
    if bounds[1] <= 0:
        return min(value, 0.0)
    return value
