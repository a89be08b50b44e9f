"""The attack suite: exfiltration attempts through the whole sandbox (guard, views, worker,
release). Each attempt must either be refused, or release nothing that names a person: no
citizen ID, no name, no exact birth date, no group of fewer than k people (the three-person
district 110109 and the one person with a rare diagnosis never appear).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from gongshu.bootstrap import Platform, build
from gongshu.datastore.models import DatasetVersion
from gongshu.kernel.clock import FixedClock
from gongshu.kernel.settings import Settings
from gongshu.sandbox import service
from gongshu.sandbox.errors import GrantNotUsable, QueryFailed, QueryRefused
from gongshu.sandbox.models import SandboxQuery
from gongshu.sandbox.worker import WorkerPool
from tests.factories import build_city
from tests.sandbox.conftest import RARE, World, build_world

REFUSED, RELEASED, EITHER = "refused", "released", "either"
P, J = "{P}", "{J}"  # replaced by the views' names (resource codes), quoted

ATTACKS: list[tuple[str, str, str]] = [
    # Files, network, statements other than SELECT, configuration, extensions.
    ("read_csv of a system file", "SELECT * FROM read_csv('/etc/passwd')", REFUSED),
    ("read_parquet of the lake file", "SELECT * FROM read_parquet('{LAKE}')", REFUSED),
    ("replacement scan of a path", "SELECT * FROM '/etc/passwd'", REFUSED),
    ("replacement scan of the lake file", "SELECT count(*) FROM '{LAKE}'", REFUSED),
    ("network read", "SELECT * FROM read_csv_auto('https://example.com/x.csv')", REFUSED),
    ("glob of the file system", "SELECT * FROM glob('/*')", REFUSED),
    ("COPY to a file", f"COPY (SELECT * FROM {P}) TO '/tmp/gongshu-leak.csv'", REFUSED),
    ("EXPORT DATABASE", "EXPORT DATABASE '/tmp/gongshu-leak'", REFUSED),
    ("ATTACH a database", "ATTACH '/tmp/gongshu-leak.db' AS leak", REFUSED),
    ("PRAGMA", "PRAGMA database_list", REFUSED),
    ("SET external access", "SET enable_external_access = true", REFUSED),
    ("INSTALL an extension", "INSTALL httpfs", REFUSED),
    ("LOAD an extension", "LOAD httpfs", REFUSED),
    ("CALL a procedure", "CALL pragma_version()", REFUSED),
    ("DESCRIBE", f"DESCRIBE {P}", REFUSED),
    ("SUMMARIZE shows min and max", f"SUMMARIZE {P}", REFUSED),
    ("PIVOT", f"PIVOT {P} ON 诊断 USING count(*)", REFUSED),
    ("CREATE TABLE AS", f"CREATE TABLE leak AS SELECT * FROM {P}", REFUSED),
    # System catalogues and functions that reach outside the query.
    ("information_schema", "SELECT * FROM information_schema.tables", REFUSED),
    ("duckdb_settings()", "SELECT * FROM duckdb_settings()", REFUSED),
    ("current_setting", "SELECT current_setting('allowed_paths') AS s", REFUSED),
    ("query() runs a string", f"SELECT * FROM query('SELECT * FROM {P}')", REFUSED),
    ("getvariable", "SELECT getvariable('x') AS v", REFUSED),
    ("a table not granted", 'SELECT count(*) AS n FROM "3Z9999999/999999"', REFUSED),
    ("the hidden subject column", f"SELECT __subject, count(*) AS n FROM {P} GROUP BY 1", REFUSED),
    # Raw rows and identifiers.
    ("a raw projection", f"SELECT 姓名 FROM {P}", REFUSED),
    ("SELECT *", f"SELECT * FROM {P}", REFUSED),
    (
        "grouping by an identifier",
        f"SELECT 公民身份号码, count(*) AS n FROM {P} GROUP BY 公民身份号码",
        REFUSED,
    ),
    (
        "grouping by a raw birth date",
        f"SELECT 出生日期, count(*) AS n FROM {P} GROUP BY 出生日期",
        REFUSED,
    ),
    (
        "CASE turns a key into an identifier",
        f"SELECT CASE WHEN 区划 = '110101' THEN 公民身份号码 ELSE '其他' END AS k, count(*) AS n "
        f"FROM {P} GROUP BY 1",
        REFUSED,
    ),
    (
        "substrings concatenated rebuild the identifier",
        f"SELECT substr(公民身份号码, 1, 6) || substr(公民身份号码, 7, 6) || "
        f"substr(公民身份号码, 13, 6) AS k, count(*) AS n FROM {P} GROUP BY 1",
        REFUSED,
    ),
    (
        "generalised pieces as separate keys",
        f"SELECT substr(公民身份号码, 1, 6) AS a, substr(公民身份号码, 7, 6) AS b, "
        f"substr(公民身份号码, 13, 6) AS c, count(*) AS n FROM {P} GROUP BY 1, 2, 3",
        EITHER,
    ),
    (
        "a struct carrying an identifier",
        f"SELECT {{'id': 公民身份号码}} AS s, count(*) AS n FROM {P} GROUP BY 1",
        REFUSED,
    ),
    (
        "a lambda carrying an identifier",
        f"SELECT list_transform([1], x -> 公民身份号码) AS l, count(*) AS n FROM {P} GROUP BY 1",
        REFUSED,
    ),
    (
        "a scalar subquery in the output",
        f"SELECT (SELECT 公民身份号码 FROM {P} LIMIT 1) AS x, count(*) AS n FROM {P}",
        REFUSED,
    ),
    # Small groups.
    ("a tiny district", f"SELECT 区划, count(*) AS n FROM {P} GROUP BY 区划", RELEASED),
    ("a rare diagnosis", f"SELECT 诊断, count(*) AS n FROM {P} GROUP BY 诊断", RELEASED),
    (
        "HAVING keeps only singletons",
        f"SELECT 诊断, count(*) AS n FROM {P} GROUP BY 诊断 HAVING count(*) = 1",
        EITHER,
    ),
    (
        "ORDER BY LIMIT 1 picks the smallest group",
        f"SELECT 区划, count(*) AS n FROM {P} GROUP BY 区划 ORDER BY n LIMIT 1",
        RELEASED,
    ),
    (
        "a filter down to one person",
        f"SELECT count(*) AS n, avg(年收入) AS income FROM {P} WHERE 诊断 = '{RARE}'",
        EITHER,
    ),
    (
        "an IN subquery isolating one person",
        f"SELECT count(*) AS n FROM {P} WHERE 公民身份号码 IN "
        f"(SELECT 公民身份号码 FROM {P} WHERE 诊断 = '{RARE}')",
        EITHER,
    ),
    # Aggregates that reveal single values.
    (
        "STRING_AGG of identifiers",
        f"SELECT 区划, string_agg(公民身份号码, ',') AS ids FROM {P} GROUP BY 区划",
        REFUSED,
    ),
    ("LIST of names", f"SELECT 区划, list(姓名) AS names FROM {P} GROUP BY 区划", REFUSED),
    (
        "ARRAY_AGG of identifiers",
        f"SELECT 区划, array_agg(公民身份号码) AS ids FROM {P} GROUP BY 区划",
        REFUSED,
    ),
    (
        "MAX of a sensitive field",
        f"SELECT 区划, max(年收入) AS top FROM {P} GROUP BY 区划",
        REFUSED,
    ),
    ("MIN of an identifier", f"SELECT min(公民身份号码) AS m FROM {P}", REFUSED),
    (
        "ARG_MAX names the richest",
        f"SELECT 区划, arg_max(姓名, 年收入) AS who FROM {P} GROUP BY 区划",
        REFUSED,
    ),
    (
        "FIRST of an identifier",
        f"SELECT 区划, first(公民身份号码) AS who FROM {P} GROUP BY 区划",
        REFUSED,
    ),
    ("ANY_VALUE of a name", f"SELECT 区划, any_value(姓名) AS who FROM {P} GROUP BY 区划", REFUSED),
    ("MODE of a sensitive field", f"SELECT mode(诊断) AS m FROM {P}", REFUSED),
    (
        "a quantile of a sensitive field",
        f"SELECT quantile_disc(年收入, 0.99) AS q FROM {P}",
        REFUSED,
    ),
    (
        "SUM of an identifier cast to a number",
        f"SELECT sum(CAST(公民身份号码 AS HUGEINT)) AS s FROM {P}",
        REFUSED,
    ),
    # Windows, set operations, recursion, joins.
    ("a window returns rows", f"SELECT 公民身份号码, count(*) OVER () AS n FROM {P}", REFUSED),
    (
        "a window over groups",
        f"SELECT 区划, count(*) AS n, row_number() OVER (ORDER BY 区划) AS r "
        f"FROM {P} GROUP BY 区划",
        REFUSED,
    ),
    (
        "UNION with a raw projection",
        f"SELECT 区划, count(*) AS n FROM {P} GROUP BY 区划 UNION ALL "
        f"SELECT 公民身份号码, 1 FROM {P}",
        REFUSED,
    ),
    (
        "a recursive CTE",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
        REFUSED,
    ),
    (
        "a comma cross join to exhaust memory",
        f"SELECT count(*) AS n FROM {P} a, {P} b, {P} c",
        REFUSED,
    ),
    ("an explicit CROSS JOIN", f"SELECT count(*) AS n FROM {P} a CROSS JOIN {J} b", REFUSED),
    (
        "a join that multiplies one person's rows",
        f"SELECT p.诊断, count(*) AS n FROM {P} p JOIN {J} j1 ON p.公民身份号码 = j1.公民身份号码 "
        f"JOIN {J} j2 ON p.公民身份号码 = j2.公民身份号码 GROUP BY p.诊断",
        RELEASED,
    ),
    (
        "a self join that multiplies a singleton",
        f"SELECT a.诊断, count(*) AS n FROM {P} a JOIN {P} b ON a.区划 = b.区划 GROUP BY a.诊断",
        RELEASED,
    ),
    (
        "a CTE shadowing a view with a file read",
        "WITH x AS (SELECT * FROM read_csv('/etc/passwd')) SELECT count(*) AS n FROM x",
        REFUSED,
    ),
    (
        "a non-aggregating CTE that exposes identifiers",
        f"WITH x AS (SELECT 公民身份号码 AS k, 区划 FROM {P}) "
        f"SELECT k, count(*) AS n FROM x GROUP BY k",
        REFUSED,
    ),
    # Error messages as a side channel.
    (
        "a cast error that would echo an identifier",
        f"SELECT count(*) AS n FROM {P} WHERE CAST(公民身份号码 AS INTEGER) > 0",
        EITHER,
    ),
    (
        "a cast error that would echo a name",
        f"SELECT 区划, sum(CAST(姓名 AS INTEGER)) AS s FROM {P} GROUP BY 区划",
        EITHER,
    ),
    # Parsing tricks.
    (
        "a second statement after a comment",
        f"SELECT count(*) AS n FROM {P}; -- harmless\nCOPY {P} TO '/tmp/gongshu-leak.csv'",
        REFUSED,
    ),
    (
        "a statement hidden by block comments",
        f"SELECT count(*) AS n /* ; */ FROM {P} /* ' */; DROP TABLE x",
        REFUSED,
    ),
    ("a quoted table function name", "SELECT * FROM \"read_parquet\"('/etc/passwd')", REFUSED),
    ("mixed case", "SeLeCt * FrOm ReAd_CsV('/etc/passwd')", REFUSED),
    ("full-width keywords", f"ＳＥＬＥＣＴ * ＦＲＯＭ {P}", REFUSED),
    ("USING SAMPLE", f"SELECT count(*) AS n FROM {P} USING SAMPLE 1", REFUSED),
    ("10 KB of punctuation", ";'\")(*&^%$#@!" * 800, REFUSED),
    ("deeply nested parentheses", "SELECT " + "(" * 3000 + "1" + ")" * 3000, REFUSED),
]


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    """Worker processes for this module."""
    workers = WorkerPool(2)
    yield workers
    workers.close()


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, pool: WorkerPool
) -> Iterator[World]:
    """One sandbox world for the whole suite (the attacks only read)."""
    home = tmp_path_factory.mktemp("attacks")
    shutil.copyfile(sqlite_template, home / "gongshu.db")
    settings = Settings(
        env="test", home=home / "home", database_url=f"sqlite:///{home / 'gongshu.db'}",
        password_hash_profile="fast",
        secret_key="test-secret-key-that-is-long-enough-000",  # type: ignore[arg-type]
    )  # fmt: skip
    platform: Platform = build(settings, clock=FixedClock())
    yield build_world(platform, build_city(platform), home, pool)
    platform.dispose()


def _recorded(world: World) -> int:
    with world.platform.uow() as uow:
        return uow.session.scalar(sa.select(sa.func.count()).select_from(SandboxQuery)) or 0


def _forbidden(world: World) -> list[str]:
    return [*world.ids, *world.names, "110109", RARE]


def _sql(world: World, template: str) -> str:
    with world.platform.uow() as uow:
        version = uow.session.scalar(
            sa.select(DatasetVersion).where(DatasetVersion.entry_id == world.persons)
        )
        assert version is not None
        lake = str(world.platform.datastore.path_of(version))
    return (
        template.replace(P, f'"{world.persons_code}"')
        .replace(J, f'"{world.jobs_code}"')
        .replace("{LAKE}", lake)
    )


@pytest.mark.parametrize(("name", "template", "expect"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_attack(world: World, name: str, template: str, expect: str) -> None:
    sql = _sql(world, template)
    before = _recorded(world)
    try:
        result = service.run_query(
            world.sandbox, actor=world.operator, grant_id=world.aggregate, sql=sql
        )
    except (QueryRefused, QueryFailed, GrantNotUsable) as refused:
        assert expect in (REFUSED, EITHER), f"{name}: refused ({refused.message}) unexpectedly"
        text = refused.message + repr(refused.details)
        assert not any(value in text for value in _forbidden(world)), "the error leaks a value"
        assert _recorded(world) == before + 1, "the attempt is recorded"
        return
    assert expect in (RELEASED, EITHER), f"{name}: released {result.rows[:3]}"
    cells = [str(cell) for row in result.rows for cell in row]
    leaked = [v for v in _forbidden(world) if any(v in cell for cell in cells)]
    assert not leaked, f"{name} leaked {leaked[:3]}"
    assert _recorded(world) == before + 1, "the query is recorded"


def test_the_suite_is_large() -> None:
    assert len(ATTACKS) >= 40
    assert len({name for name, _, _ in ATTACKS}) == len(ATTACKS)
    assert len({sql for _, sql, _ in ATTACKS}) == len(ATTACKS)


def test_a_rows_grant_cannot_widen_its_view(world: World) -> None:
    result = service.run_query(
        world.sandbox, actor=world.city.health_officer, grant_id=world.rows,
        sql=f'SELECT * FROM "{world.persons_code}"',
    )  # fmt: skip
    assert result.columns == ["出生日期", "性别", "区划"] or set(result.columns) == {
        "出生日期", "性别", "区划"}  # fmt: skip
    districts = {row[result.columns.index("区划")] for row in result.rows}
    assert districts == {"110105"}
    for template in (
        f'SELECT 姓名 FROM "{world.persons_code}"',
        f"SELECT * FROM read_parquet('{_sql(world, '{LAKE}')}')",
        f'SELECT count(*) FROM "{world.jobs_code}"',
    ):
        with pytest.raises(QueryRefused):
            service.run_query(
                world.sandbox, actor=world.city.health_officer, grant_id=world.rows, sql=template
            )


def test_dp_refuses_keys_without_a_public_domain(world: World) -> None:
    for sql in (
        f'SELECT 公民身份号码, count(*) AS n FROM "{world.persons_code}" GROUP BY 1',
        f'SELECT 诊断, count(*) AS n FROM "{world.persons_code}" GROUP BY 1',
        f'SELECT max(年收入) AS m FROM "{world.persons_code}"',
    ):
        with pytest.raises(QueryRefused):
            service.run_query(world.sandbox, actor=world.operator, grant_id=world.dp, sql=sql)
