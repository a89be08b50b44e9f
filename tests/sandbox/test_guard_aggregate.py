"""The aggregate policy: what may be grouped and aggregated, the k columns, differencing.

Positive tests run the rewritten SQL in DuckDB and release rows the way the worker does (every
k column 0 or ≥ k, at least one ≥ k), so a group below k provably never leaves.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import duckdb
import pytest

from gongshu.sandbox.errors import QueryRefused
from gongshu.sandbox.guard import FieldSpec, Plan, TableSpec, check, difference_sql
from tests.sandbox.test_guard import (
    PEOPLE,
    SPECS,
    VICTIM,
    VISITS,
    database,
    person,
    plan_of,
    refusal,
    released,
)

P = f'"{PEOPLE}"'
V = f'"{VISITS}"'
K = 3


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = database()
    yield connection
    connection.close()


def aggregate(sql: str) -> Plan:
    """Check ``sql`` under the aggregate policy."""
    return plan_of(sql, "aggregate")


def raw(plan: Plan, con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    """Every row the SQL returns, k columns included (what the worker sees before release)."""
    return con.execute(plan.sql).fetchall()


# -- what runs, and what the k columns say ---------------------------------------------------


def test_group_counts_carry_distinct_subjects_and_small_groups_are_suppressed(
    con: duckdb.DuckDBPyConnection,
) -> None:
    plan = aggregate(f"SELECT dept, count(*) AS n FROM {P} GROUP BY dept ORDER BY dept")
    assert plan.columns == ("dept", "n")
    assert plan.k_columns == ("__k1",)
    assert raw(plan, con) == [("A", 6, 6), ("B", 5, 5), ("C", 1, 1)]
    assert released(plan, con, K) == [("A", 6), ("B", 5)]


def test_a_self_join_multiplies_rows_but_not_subjects(con: duckdb.DuckDBPyConnection) -> None:
    plan = aggregate(
        f"SELECT a.dept, count(*) AS pairs FROM {P} a JOIN {P} b ON a.dept = b.dept "
        "GROUP BY a.dept ORDER BY a.dept"
    )
    assert plan.k_columns == ("__k1", "__k2")
    assert raw(plan, con) == [("A", 36, 6, 6), ("B", 25, 5, 5), ("C", 1, 1, 1)]
    assert released(plan, con, K) == [("A", 36), ("B", 25)]


def test_visits_of_one_person_count_as_one_subject(con: duckdb.DuckDBPyConnection) -> None:
    plan = aggregate(
        f"SELECT p.dept, count(*) AS visits FROM {P} p JOIN {V} v ON v.pid = p.id "
        "GROUP BY p.dept ORDER BY p.dept"
    )
    rows = raw(plan, con)
    assert rows == [("A", 8, 6, 6), ("C", 50, 1, 1)]
    assert released(plan, con, K) == [("A", 8)]


def test_a_left_join_without_matches_gives_zero_and_is_released(
    con: duckdb.DuckDBPyConnection,
) -> None:
    plan = aggregate(
        f"SELECT p.dept, count(v.pid) AS visits FROM {P} p LEFT JOIN {V} v ON v.pid = p.id "
        "GROUP BY p.dept ORDER BY p.dept"
    )
    assert raw(plan, con) == [("A", 8, 6, 6), ("B", 0, 5, 0), ("C", 50, 1, 1)]
    assert released(plan, con, K) == [("A", 8), ("B", 0)]


def test_subjects_are_carried_through_ctes_and_subqueries(con: duckdb.DuckDBPyConnection) -> None:
    plan = aggregate(
        f"WITH people AS (SELECT left(id, 6) AS region, salary, id FROM {P} WHERE age > 0), "
        f"    seen AS (SELECT pid FROM {V}) "
        "SELECT region, count(*) AS visits, avg(salary) AS mean_salary "
        "FROM people JOIN (SELECT pid AS who FROM seen) s ON s.who = people.id "
        "GROUP BY region ORDER BY region"
    )
    assert plan.k_columns == ("__k1", "__k2")
    assert '"__s1"' in plan.sql
    rows = raw(plan, con)
    assert [row[0] for row in rows] == ["110101", "110102"]
    assert rows[0][1] == 4 and rows[0][3:] == (3, 3)  # persons 1, 3, 5 (person 1 twice)
    assert rows[1][1] == 54 and rows[1][3:] == (4, 4)  # persons 2, 4, 6 and the victim


def test_a_cte_used_twice_gives_each_use_its_own_k_column(con: duckdb.DuckDBPyConnection) -> None:
    plan = aggregate(
        f"WITH c AS (SELECT dept, id FROM {P}) "
        "SELECT x.dept, count(*) AS n FROM c x JOIN c y ON x.id = y.id GROUP BY x.dept"
    )
    assert plan.k_columns == ("__k1", "__k2")
    assert sorted(released(plan, con, K)) == [("A", 6), ("B", 5)]


def test_group_by_position_alias_and_all_resolve_to_the_expression(
    con: duckdb.DuckDBPyConnection,
) -> None:
    expected = [(1970.0, 9), (1980.0, 3)]
    for group in ("1", "decade", "ALL", "floor(year(birth) / 10) * 10"):
        plan = aggregate(
            f"SELECT floor(year(birth) / 10) * 10 AS decade, count(*) AS n FROM {P} "
            f"GROUP BY {group} ORDER BY decade"
        )
        assert "GROUP BY FLOOR(YEAR(" in plan.sql
        assert released(plan, con, K) == expected


def test_views_of_distinct_subjects_count_rows_without_distinct(
    con: duckdb.DuckDBPyConnection,
) -> None:
    unique = replace(SPECS[0], unique_subjects=True)
    sql = f"SELECT dept, count(*) AS n FROM {P} GROUP BY dept ORDER BY dept"
    plan = plan_of(sql, "aggregate", specs=(unique, SPECS[1]))
    assert 'COUNT(*) AS "__k1"' in plan.sql  # the subject column is not even read
    assert raw(plan, con) == [("A", 6, 6), ("B", 5, 5), ("C", 1, 1)]
    joined = plan_of(
        f"SELECT a.dept, count(*) AS n FROM {P} a JOIN {P} b ON a.id = b.id GROUP BY a.dept",
        "aggregate",
        specs=(unique,),
    )
    assert joined.sql.count("COUNT(DISTINCT") == 2
    visits = replace(SPECS[1], unique_subjects=True)  # wrong on purpose: kept only without joins
    plan = plan_of(f"SELECT clinic, count(*) AS n FROM {V} GROUP BY clinic", "aggregate", (visits,))
    assert "COUNT(DISTINCT" not in plan.sql


def test_limit_and_offset_apply_after_suppression(con: duckdb.DuckDBPyConnection) -> None:
    plan = aggregate(
        f"SELECT dept, count(*) AS n FROM {P} GROUP BY dept ORDER BY n LIMIT 1 OFFSET 0"
    )
    assert (plan.limit, plan.offset) == (1, 0)
    assert "LIMIT" not in plan.sql
    assert released(plan, con, K) == [("B", 5)]  # C (1 subject) is suppressed before LIMIT


def test_allowed_generalisations_and_aggregates_run(con: duckdb.DuckDBPyConnection) -> None:
    plan = aggregate(
        f"""SELECT left(id, 6) AS region, year(birth) AS born, date_trunc('month', birth) AS m,
                   'all' AS label, count(*) AS n, count(DISTINCT id) AS people,
                   round(avg(salary), 2) AS mean_salary, sum(salary) FILTER (WHERE salary > 0),
                   avg(age), avg(2024 - year(birth)), min(dept), count(*) * 100.0 / 12
            FROM {P} GROUP BY region, born, m HAVING count(*) >= 1"""
    )
    assert len(raw(plan, con)) == 12  # one person per group: all suppressed
    assert released(plan, con, 1)[0][3] == "all"
    assert released(plan, con, K) == []


def test_an_alias_shadowing_a_field_cannot_smuggle_the_raw_field() -> None:
    # DuckDB groups by the column "id" here, not the alias: the raw identifier is refused.
    error = refusal(f"SELECT left(id, 2) AS id, count(*) FROM {P} GROUP BY id", "aggregate")
    assert error.reason == "identifier_not_generalised"
    assert '"id"' in error.message


# -- refusals ----------------------------------------------------------------------------

NOT_GENERALISED = [
    f"SELECT id, count(*) FROM {P} GROUP BY id",
    f"SELECT birth, count(*) FROM {P} GROUP BY 1",
    f"SELECT lower(id) AS k, count(*) FROM {P} GROUP BY k",
    f"SELECT CASE WHEN dept = 'C' THEN id ELSE 'other' END AS k, count(*) FROM {P} GROUP BY 1",
    f"SELECT coalesce(id, 'x') AS k, count(*) FROM {P} GROUP BY 1",
    f"SELECT left(id, 6) || substr(id, 7, 6) AS k, count(*) FROM {P} GROUP BY 1",
    f"SELECT concat(left(id, 6), substr(id, 7, 6), substr(id, 13, 6)) AS k, count(*) "
    f"FROM {P} GROUP BY 1",
    f"SELECT year(birth) * 10000 + month(birth) * 100 AS k, count(*) FROM {P} GROUP BY 1",
    f"SELECT left(id, 7) AS k, count(*) FROM {P} GROUP BY 1",
    f"SELECT left(id, -1) AS k, count(*) FROM {P} GROUP BY 1",
    f"SELECT substr(id, 3) AS k, count(*) FROM {P} GROUP BY 1",
    f"SELECT right(id, 4) AS k, count(*) FROM {P} GROUP BY 1",
    f"SELECT floor(age / 1) AS k, count(*) FROM {P} GROUP BY 1",
    f"SELECT floor(age * 1000 / 10) AS k, count(*) FROM {P} GROUP BY 1",
    f"SELECT round(age, 2) AS k, count(*) FROM {P} GROUP BY 1",
    f"SELECT date_trunc('day', birth) AS k, count(*) FROM {P} GROUP BY 1",
    f"SELECT strftime(birth, '%Y%m%d') AS k, count(*) FROM {P} GROUP BY 1",
    f"SELECT id = '{person(VICTIM)[0]}' AS k, count(*) FROM {P} GROUP BY 1",
    f"WITH c AS (SELECT id AS code FROM {P}) SELECT code, count(*) FROM c GROUP BY code",
    f"WITH c AS (SELECT id || '' AS code FROM {P}) "
    "SELECT left(code, 2), count(*) FROM c GROUP BY 1",
    f"SELECT s.k, count(*) FROM (SELECT lower(id) AS k FROM {P}) s GROUP BY s.k",
    f"SELECT dept, id, count(*) FROM {P} GROUP BY ALL",
    f"SELECT *, count(*) FROM {P} GROUP BY ALL",
]


@pytest.mark.parametrize("sql", NOT_GENERALISED)
def test_identifying_keys_must_be_generalised_once(sql: str) -> None:
    error = refusal(sql, "aggregate")
    assert error.reason == "identifier_not_generalised"
    assert error.construct is not None and error.construct in error.message


REVEALING = [
    (f"SELECT string_agg(id, ',') FROM {P}", "GROUP_CONCAT"),
    (f"SELECT string_agg(dept, ',') FROM {P}", "GROUP_CONCAT"),
    (f"SELECT list(id) FROM {P}", "ARRAY_AGG"),
    (f"SELECT array_agg(dept) FROM {P}", "ARRAY_AGG"),
    (f"SELECT dept, min(salary) FROM {P} GROUP BY dept", "MIN"),
    (f"SELECT dept, max(salary) FROM {P} GROUP BY dept", "MAX"),
    (f"SELECT dept, max(id) FROM {P} GROUP BY dept", "MAX"),
    (f"SELECT dept, min(birth) FROM {P} GROUP BY dept", "MIN"),
    (f"SELECT dept, arg_max(dept, salary) FROM {P} GROUP BY dept", "ARG_MAX"),
    (f"SELECT dept, max_by(id, salary) FROM {P} GROUP BY dept", "ARG_MAX"),
    (f"SELECT dept, first(salary) FROM {P} GROUP BY dept", "FIRST"),
    (f"SELECT dept, median(salary) FROM {P} GROUP BY dept", "MEDIAN"),
    (f"SELECT dept, mode(age) FROM {P} GROUP BY dept", "MODE"),
    (f"SELECT dept, quantile_cont(salary, 0.99) FROM {P} GROUP BY dept", "PERCENTILE_CONT"),
    (f"SELECT dept, quantile_disc(salary, 1.0) FROM {P} GROUP BY dept", "PERCENTILE_DISC"),
    (f"SELECT dept, count(*) FROM {P} GROUP BY dept HAVING max(salary) > 5000", "MAX"),
    (f"SELECT dept, count(*) FROM {P} GROUP BY dept ORDER BY max(salary)", "MAX"),
    (f"SELECT sum(CASE WHEN id = 'x' THEN salary END) FROM {P}", "SUM"),
    (f"SELECT sum(salary * (id = 'x')::INT) FROM {P}", "SUM"),
    (f"SELECT avg(length(id)) FROM {P}", "AVG"),
    (f"SELECT sum(salary) FILTER (WHERE id = 'x') FROM {P}", "SUM"),
    (f"SELECT count(*) FILTER (WHERE birth = DATE '1982-01-13') FROM {P}", "COUNT"),
    (f"SELECT count(CASE WHEN id = 'x' THEN 1 END) FROM {P}", "COUNT"),
    (f"SELECT count(DISTINCT lower(id)) FROM {P}", "COUNT"),
    (f"SELECT sum(CASE WHEN age = 42 THEN salary END) FROM {P}", "SUM"),
    (f"SELECT sum(salary * power(0, abs(age - 42))) FROM {P}", "SUM"),
    (f"SELECT count_if(age = 42) FROM {P}", "COUNT_IF"),
]


@pytest.mark.parametrize(("sql", "construct"), REVEALING)
def test_aggregates_that_reveal_single_values_are_refused(sql: str, construct: str) -> None:
    error = refusal(sql, "aggregate")
    assert error.reason == "revealing_aggregate"
    assert error.construct == construct
    assert construct in error.message


NOT_AGGREGATE = [
    f"SELECT * FROM {P}",
    f"SELECT id FROM {P}",
    f"SELECT DISTINCT dept FROM {P} WHERE 1 = 1 AND dept IS NOT NULL AND dept <> ''",
    f"SELECT dept, salary FROM {P} GROUP BY dept",
    f"SELECT dept, count(*) FROM {P} GROUP BY dept HAVING salary > 5",
    f"SELECT dept, count(*) FROM {P} GROUP BY dept ORDER BY salary",
    f"SELECT sum(count(*)) FROM {P}",
    f"SELECT count(*) FROM {P} WHERE max(age) > 1",
    f"WITH c AS (SELECT dept, count(*) AS n FROM {P} GROUP BY dept) SELECT n, count(*) FROM c "
    "GROUP BY n",
    f"SELECT count(*) FROM (SELECT DISTINCT dept FROM {P}) s",
    f"SELECT count(*) FROM (SELECT dept FROM {P} LIMIT 1) s",
    "SELECT 1 AS x, count(*)",
]


@pytest.mark.parametrize("sql", NOT_AGGREGATE)
def test_only_one_aggregation_level_of_keys_and_aggregates(sql: str) -> None:
    assert refusal(sql, "aggregate").reason == "not_aggregate"


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        (f"SELECT dept, row_number() OVER () FROM {P} GROUP BY dept", "window_not_allowed"),
        (f"SELECT dept, sum(count(*)) OVER () FROM {P} GROUP BY dept", "window_not_allowed"),
        (f"SELECT dept, count(*) FROM {P} GROUP BY dept QUALIFY true", "window_not_allowed"),
        (
            f"SELECT dept, count(*) FROM {P} GROUP BY dept UNION SELECT id, 1 FROM {P}",
            "set_operation_not_allowed",
        ),
        (
            f"SELECT count(*) FROM (SELECT id FROM {P} UNION ALL SELECT pid FROM {V}) u",
            "set_operation_not_allowed",
        ),
        (
            f"SELECT dept, count(*) FROM {P} WHERE id IN (SELECT pid FROM {V}) GROUP BY dept",
            "subquery_not_allowed",
        ),
        (
            f"SELECT count(*) FROM {P} p WHERE EXISTS (SELECT 1 FROM {V} v WHERE v.pid = p.id)",
            "subquery_not_allowed",
        ),
        (f"SELECT dept, (SELECT count(*) FROM {V}) FROM {P} GROUP BY dept", "subquery_not_allowed"),
        (
            f"SELECT p.dept, count(*) FROM {P} p JOIN LATERAL (SELECT * FROM {V} v "
            "WHERE v.pid = p.id) s ON true GROUP BY p.dept",
            "subquery_not_allowed",
        ),
        (
            f"SELECT count(*) FROM {P} p JOIN (SELECT pid FROM {V} v WHERE v.pid = p.id) s "
            "ON s.pid = p.id",
            "column_not_allowed",
        ),
        (
            f"SELECT p.dept, count(*) FROM {P} p, {V} v WHERE p.id = v.pid GROUP BY p.dept",
            "cross_join",
        ),
        (f"SELECT count(*) FROM {P} a JOIN {P} b ON a.age < b.age", "cross_join"),
        (f"SELECT count(*) FROM {P} USING SAMPLE 50%", "sample_not_allowed"),
    ],
)
def test_structures_the_aggregate_policy_refuses(sql: str, reason: str) -> None:
    assert refusal(sql, "aggregate").reason == reason


# -- differencing --------------------------------------------------------------------------

FRAME = (
    f"SELECT dept, count(*) AS n, sum(salary) AS total FROM {P} WHERE {{}} "
    "GROUP BY dept ORDER BY dept"
)


def test_difference_by_one_subject_is_found(con: duckdb.DuckDBPyConnection) -> None:
    first = aggregate(FRAME.format("age > 0"))
    second = aggregate(FRAME.format(f"age > 0 AND id <> '{person(1)[0]}'"))
    assert first.frame_hash == second.frame_hash
    sql = difference_sql(first, second.where_sql, K)
    assert con.execute(sql).fetchall() == [(1,)]
    # Both released on their own (6 and 5 subjects), the pair would reveal person 1's salary.
    assert released(first, con, K)[0] == ("A", 6, 21000.0)
    assert released(second, con, K)[0] == ("A", 5, 20000.0)


def test_difference_by_k_or_more_subjects_is_not_flagged(con: duckdb.DuckDBPyConnection) -> None:
    first = aggregate(FRAME.format("dept IN ('A', 'B')"))
    # Drops persons 4-11: three of A and all five of B, never fewer than k in a group.
    second = aggregate(FRAME.format("dept IN ('A', 'B') AND age > 50"))
    assert con.execute(difference_sql(first, second.where_sql, K)).fetchall() == [(0,)]
    assert con.execute(difference_sql(first, first.where_sql, K)).fetchall() == [(0,)]


def test_difference_against_no_where_and_across_joins(con: duckdb.DuckDBPyConnection) -> None:
    sql = (
        f"SELECT p.dept, count(*) AS n FROM {P} p LEFT JOIN {V} v ON v.pid = p.id "
        "WHERE {} GROUP BY p.dept"
    )
    plain = aggregate(sql.replace("WHERE {} ", ""))
    narrowed = aggregate(sql.format(f"p.id <> '{person(2)[0]}'"))
    assert plain.where_sql is None and plain.frame_hash == narrowed.frame_hash
    assert con.execute(difference_sql(plain, narrowed.where_sql, K)).fetchall() == [(1,)]
    assert con.execute(difference_sql(narrowed, None, K)).fetchall() == [(1,)]


def test_difference_sql_refuses_a_hostile_condition() -> None:
    plan = aggregate(FRAME.format("age > 0"))
    for hostile in ("(SELECT 1) = 1", "read_csv('x') IS NULL", "1; DROP VIEW x"):
        with pytest.raises(Exception) as caught:
            difference_sql(plan, hostile, K)
        assert type(caught.value).__name__ == "QueryRefused"


def test_every_check_result_is_checkable_again() -> None:
    # The SQL the guard emits is itself a valid query for the guard's parser.
    plan = check(FRAME.format("age > 0"), SPECS, policy="aggregate")
    assert plan.sql.startswith("SELECT")
    assert difference_sql(plan, None, 1) == "SELECT 0 AS groups"


def test_outputs_may_combine_whole_keys_with_aggregates(con: duckdb.DuckDBPyConnection) -> None:
    plan = aggregate(
        f"SELECT left(id, 6) AS region, CASE WHEN left(id, 6) = '110101' THEN count(*) END AS odd "
        f"FROM {P} GROUP BY region HAVING left(id, 6) <> 'x' ORDER BY region"
    )
    assert released(plan, con, K) == [("110101", 6), ("110102", None)]
    for sql in (
        f"SELECT left(id, 6) AS region, count(*) + length(id) FROM {P} GROUP BY region",
        f"SELECT left(id, 6) AS region, count(*) FROM {P} GROUP BY region HAVING id <> 'x'",
    ):
        assert refusal(sql, "aggregate").reason == "not_aggregate"


def test_a_coded_quasi_identifier_groups_as_it_is_but_not_combined() -> None:
    coded = TableSpec(
        name="3A0100301/000012",
        fields=(
            FieldSpec("sex", "string", frozenset({"quasi_identifier"}), domain=("男", "女")),
            FieldSpec("edu", "string", frozenset({"quasi_identifier"}), domain=("高中", "本科")),
            FieldSpec("born", "date", frozenset({"quasi_identifier"})),
        ),
    )
    ok = check(
        'SELECT sex, edu, count(*) AS n FROM "3A0100301/000012" GROUP BY sex, edu',
        [coded],
        policy="aggregate",
    )
    assert ok.columns == ("sex", "edu", "n")
    for sql in (
        'SELECT born, count(*) AS n FROM "3A0100301/000012" GROUP BY born',
        'SELECT sex || edu AS k, count(*) AS n FROM "3A0100301/000012" GROUP BY 1',
    ):
        with pytest.raises(QueryRefused) as refused:
            check(sql, [coded], policy="aggregate")
        assert refused.value.reason == "identifier_not_generalised"
