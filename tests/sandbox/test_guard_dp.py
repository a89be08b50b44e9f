"""The dp policy: plain keys with public domains, count/sum/mean of bounded fields.

The rewritten SQL is run in DuckDB to show that each subject contributes at most
``max_contributions`` rows, values are clamped to the field's bounds and keys outside the public
domain are dropped, before any noise is added.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import duckdb
import pytest

from gongshu.sandbox.guard import DpMeasure, DpPlan, Plan, check
from tests.sandbox.test_guard import PEOPLE, SPECS, VISITS, database, refusal

P = f'"{PEOPLE}"'
V = f'"{VISITS}"'
HISTOGRAM = (
    f"SELECT clinic, count(*) AS n, sum(cost) AS total, avg(cost) AS mean FROM {V} GROUP BY clinic"
)


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = database()
    yield connection
    connection.close()


def dp(sql: str, max_contributions: int = 2) -> Plan:
    """Check ``sql`` under the dp policy."""
    return check(sql, SPECS, policy="dp", max_contributions=max_contributions)


def rows_by_key(plan: Plan, con: duckdb.DuckDBPyConnection) -> dict[object, tuple[object, ...]]:
    """The SQL's rows keyed by their first column."""
    return {row[0]: row[1:] for row in con.execute(plan.sql).fetchall()}


def test_the_plan_describes_keys_domains_and_measures() -> None:
    plan = dp(HISTOGRAM)
    assert plan.columns == ("clinic", "n", "total", "mean")
    assert plan.k_columns == () and plan.frame_hash is None and plan.where_sql is None
    assert plan.dp == DpPlan(
        keys=("clinic",),
        domains=(("X", "Y"),),
        measures=(
            DpMeasure(column="n", kind="count", field=None, bounds=None),
            DpMeasure(column="total", kind="sum", field="cost", bounds=(0.0, 100.0)),
            DpMeasure(column="mean", kind="mean", field="cost", bounds=(0.0, 100.0)),
        ),
        max_contributions=2,
    )


def test_contributions_are_bounded_values_clamped_and_keys_kept_in_the_domain(
    con: duckdb.DuckDBPyConnection,
) -> None:
    plan = dp(HISTOGRAM)
    result = con.execute(plan.sql)
    assert [column[0] for column in result.description] == [
        "clinic",
        "n",
        "total",
        "mean__sum",
        "mean__count",
    ]
    rows = {row[0]: row[1:] for row in result.fetchall()}
    # X: persons 1-3 (10, 20, 30) and two of the victim's fifty visits, 1000 clamped to 100.
    # Y: persons 4-6 (40, 50, 60) and person 2's -5 clamped to 0. Z is outside the domain.
    assert rows == {"X": (5, 260.0, 260.0, 5), "Y": (4, 150.0, 150.0, 4)}


def test_one_contribution_each_counts_each_subject_once(con: duckdb.DuckDBPyConnection) -> None:
    plan = dp(f"SELECT count(*) AS n, count(note) AS notes FROM {V}", max_contributions=1)
    assert plan.dp is not None and plan.dp.keys == ()
    rows = con.execute(plan.sql).fetchall()
    assert rows == [(7, 7)]  # persons 1-6 and the victim, whatever their number of visits


def test_a_where_filter_applies_before_the_bound(con: duckdb.DuckDBPyConnection) -> None:
    # Person 2 has visits at X (20) and Y (-5): the filter leaves one, so the bound keeps it.
    plan = dp(f"SELECT clinic, count(*) AS n FROM {V} WHERE cost < 15 GROUP BY clinic", 1)
    assert rows_by_key(plan, con) == {"X": (1,), "Y": (1,)}


def test_several_keys_each_keep_to_their_domain(con: duckdb.DuckDBPyConnection) -> None:
    plan = dp(
        f"SELECT dept AS d, district, count(*) AS n, avg(salary) AS pay FROM {P} "
        "GROUP BY dept, district"
    )
    assert plan.dp is not None
    assert plan.dp.keys == ("d", "district")
    assert plan.dp.domains == (("A", "B", "C"), ("东城", "西城"))
    rows = {(row[0], row[1]): row[2:] for row in con.execute(plan.sql).fetchall()}
    assert rows[("A", "东城")] == (3, 9000.0, 3)
    assert rows[("C", "西城")] == (1, 12000.0, 1)


def test_null_values_stay_missing_rather_than_clamped(con: duckdb.DuckDBPyConnection) -> None:
    plan = dp(f"SELECT sum(cost) AS total, avg(cost) AS mean FROM {V} WHERE cost IS NULL")
    assert con.execute(plan.sql).fetchall() == [(None, None, 0)]


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT pid, count(*) FROM {V} GROUP BY pid",
        f"SELECT note, count(*) FROM {V} GROUP BY note",
        f"SELECT year(birth) AS y, count(*) FROM {P} GROUP BY 1",
        f"SELECT upper(clinic) AS c, count(*) FROM {V} GROUP BY 1",
    ],
)
def test_keys_need_a_public_domain(sql: str) -> None:
    error = refusal(sql, "dp")
    assert error.reason == "dp_domain_unknown"
    assert error.construct is not None and error.construct in error.message


@pytest.mark.parametrize(
    "sql",
    [f"SELECT sum(note) FROM {V}", f"SELECT avg(birth) FROM {P}", f"SELECT sum(id) FROM {P}"],
)
def test_sums_and_means_need_bounds(sql: str) -> None:
    assert refusal(sql, "dp").reason == "dp_bounds_unknown"


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT count(DISTINCT pid) FROM {V}",
        f"SELECT min(cost) FROM {V}",
        f"SELECT median(cost) FROM {V}",
        f"SELECT count(*) * 2 AS n FROM {V}",
        f"SELECT sum(cost + 1) FROM {V}",
        f"SELECT clinic FROM {V} GROUP BY clinic",
        f"SELECT count(*) FROM {V} GROUP BY clinic",
        f"SELECT clinic, count(*) FROM {V} GROUP BY clinic HAVING count(*) > 1",
        f"SELECT clinic, count(*) FROM {V} GROUP BY clinic ORDER BY clinic",
        f"SELECT clinic, count(*) FROM {V} GROUP BY clinic LIMIT 1",
        f"SELECT count(*) AS n, sum(cost) AS n FROM {V}",
        f"SELECT clinic, clinic AS again, count(*) FROM {V} GROUP BY clinic",
        f"SELECT count(*) FROM {V} v JOIN {P} p ON p.id = v.pid",
        f"WITH c AS (SELECT * FROM {V}) SELECT count(*) FROM c",
        f"SELECT count(*) FROM (SELECT * FROM {V}) s",
        f"SELECT cost FROM {V}",
    ],
)
def test_other_shapes_are_unsupported(sql: str) -> None:
    assert refusal(sql, "dp").reason == "dp_unsupported"


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        (f"SELECT count(*) OVER () FROM {V}", "window_not_allowed"),
        (f"SELECT count(*) FROM {V} WHERE pid IN (SELECT id FROM {P})", "subquery_not_allowed"),
        (
            f"SELECT count(*) FROM {V} UNION ALL SELECT count(*) FROM {V}",
            "set_operation_not_allowed",
        ),
        (f"SELECT count(*) FROM {V} WHERE __subject = 'x'", "column_not_allowed"),
    ],
)
def test_general_refusals_hold_under_dp(sql: str, reason: str) -> None:
    assert refusal(sql, "dp").reason == reason


def test_rows_that_are_distinct_subjects_need_no_ranking_pass(
    con: duckdb.DuckDBPyConnection,
) -> None:
    unique = [replace(spec, unique_subjects=True) for spec in SPECS]
    plain = check(HISTOGRAM, unique, policy="dp", max_contributions=1)
    ranked = check(HISTOGRAM, SPECS, policy="dp", max_contributions=1)
    assert "ROW_NUMBER" not in plain.sql.upper()
    assert "ROW_NUMBER" in ranked.sql.upper()
    # Without the bound every row counts: the plain plan's counts are the raw per-key counts.
    raw = dict(con.execute(f"SELECT clinic, count(*) FROM {V} GROUP BY clinic").fetchall())
    assert {key: row[0] for key, row in rows_by_key(plain, con).items()} == {
        key: n for key, n in raw.items() if key in dict(rows_by_key(plain, con))
    }
