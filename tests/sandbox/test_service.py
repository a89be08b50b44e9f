"""The sandbox end to end on both databases: grants, release policies, the record, the API."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gongshu.identity import grants as grant_service
from gongshu.identity.models import Grant
from gongshu.kernel.audit import AuditRecord
from gongshu.ledger.models import LedgerEntry
from gongshu.sandbox import history, service
from gongshu.sandbox.errors import BudgetExhausted, GrantNotUsable, QueryFailed, QueryRefused
from gongshu.sandbox.models import PrivacySpend, SandboxQuery
from tests.factories import auth, token_for
from tests.sandbox.conftest import DISTRICTS, K, World


def _run(world: World, sql: str, grant: str | None = None, **kwargs: object) -> service.QueryResult:
    return service.run_query(
        world.sandbox, actor=world.operator, grant_id=grant or world.aggregate, sql=sql,
        **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def _records(world: World) -> list[SandboxQuery]:
    with world.platform.uow() as uow:
        found = list(uow.session.scalars(sa.select(SandboxQuery).order_by(SandboxQuery.id)))
        uow.session.expunge_all()
        return found


def test_an_aggregate_releases_groups_of_k_and_suppresses_the_rest(world: World) -> None:
    result = _run(
        world, f'SELECT 区划, count(*) AS n FROM "{world.persons_code}" GROUP BY 区划 ORDER BY 区划'
    )
    assert result.columns == ["区划", "n"]
    released = {row[0]: row[1] for row in result.rows}
    assert released == {d: n for d, n in DISTRICTS.items() if n >= K}
    assert result.suppressed_groups == 1
    (record,) = _records(world)
    assert (record.outcome, record.rows_released, record.groups_suppressed) == ("released", 3, 1)
    assert record.result_hash and record.shape_hash and record.grant_id == world.aggregate
    with world.platform.uow() as uow:
        audit = uow.session.scalar(
            sa.select(AuditRecord).where(AuditRecord.subject_id == record.id)
        )
        assert audit is not None and audit.action == "sandbox.query"
        assert audit.after is not None and "sql" not in audit.after
        anchored = uow.session.scalar(
            sa.select(sa.func.count()).select_from(LedgerEntry)
            .where(LedgerEntry.kind == "sandbox.query")
        )  # fmt: skip
        assert anchored == 1


def test_granted_tables_join_and_subjects_are_counted_once(world: World) -> None:
    # Each person may hold two jobs: the join multiplies rows, not subjects.
    sql = (
        f"SELECT p.区划, count(*) AS jobs, count(DISTINCT p.公民身份号码) AS people "
        f'FROM "{world.persons_code}" p JOIN "{world.jobs_code}" j '
        f"ON p.公民身份号码 = j.公民身份号码 GROUP BY p.区划 ORDER BY p.区划"
    )
    result = _run(world, sql)
    assert result.rows, "joined groups are released"
    for _district, jobs, people in result.rows:
        assert people >= K and jobs >= people


def test_a_refusal_is_recorded_with_its_code(world: World) -> None:
    with pytest.raises(QueryRefused) as refused:
        _run(world, f'SELECT 公民身份号码 FROM "{world.persons_code}"')
    (record,) = _records(world)
    assert record.outcome == "refused"
    assert record.error_code == refused.value.reason
    assert record.rows_released == 0


def test_unknown_and_foreign_grants_are_refused_alike(world: World) -> None:
    with pytest.raises(GrantNotUsable) as missing:
        _run(world, "SELECT 1", grant="grt_doesnotexist")
    with pytest.raises(GrantNotUsable) as foreign:
        _run(world, "SELECT 1", grant=world.rows)  # the health commission's grant
    assert missing.value.message.replace("grt_doesnotexist", "X") == foreign.value.message.replace(
        world.rows, "X"
    )


def test_a_suspended_or_expired_grant_cannot_be_used(world: World) -> None:
    with world.platform.uow() as uow:
        grant_service.suspend_grant(
            uow, actor=world.city.admin, grant_id=world.aggregate, reason="核查"
        )
    with pytest.raises(GrantNotUsable, match="suspended"):
        _run(world, f'SELECT count(*) FROM "{world.persons_code}"')
    world.platform.clock.advance(days=91)  # type: ignore[attr-defined]
    with pytest.raises(GrantNotUsable, match="expired"):
        _run(world, f'SELECT count(*) FROM "{world.persons_code}"', grant=world.jobs_grant)
    assert {r.outcome for r in _records(world)} == {"refused"}


def test_dp_adds_noise_and_spends_the_budget_until_it_is_gone(world: World) -> None:
    sql = f'SELECT 区划, count(*) AS n FROM "{world.persons_code}" GROUP BY 区划'
    first = _run(world, sql, grant=world.dp)
    assert first.epsilon_spent == pytest.approx(0.25)
    assert first.budget_left == pytest.approx(0.75)
    assert sorted(r[0] for r in first.rows) == sorted(DISTRICTS)  # the whole public domain
    answers = [first] + [_run(world, sql, grant=world.dp) for _ in range(3)]
    noisy = [tuple(sorted(map(tuple, a.rows))) for a in answers]
    truth = tuple(sorted(DISTRICTS.items()))
    assert any(n != truth for n in noisy), "noise is really added"
    with pytest.raises(BudgetExhausted):
        _run(world, sql, grant=world.dp)
    with world.platform.uow() as uow:
        spend = uow.session.get(PrivacySpend, world.dp)
        assert spend is not None and spend.spent == pytest.approx(1.0) and spend.queries == 4
    assert [r.outcome for r in _records(world)][-1] == "refused"


def test_a_failed_dp_query_gives_its_budget_back(world: World) -> None:
    with pytest.raises(QueryRefused):
        _run(world, f'SELECT 姓名, count(*) FROM "{world.persons_code}" GROUP BY 姓名',
             grant=world.dp)  # fmt: skip
    with world.platform.uow() as uow:
        spend = uow.session.get(PrivacySpend, world.dp)
        assert spend is None or spend.spent == 0


def test_a_rows_grant_sees_only_its_fields_and_filter(world: World) -> None:
    result = service.run_query(
        world.sandbox, actor=world.city.health_officer, grant_id=world.rows,
        sql=f'SELECT 区划, 性别 FROM "{world.persons_code}"',
    )  # fmt: skip
    assert {r[0] for r in result.rows} == {"110105"}
    assert len(result.rows) == 50 and result.truncated  # the grant's row cap
    with pytest.raises(QueryRefused) as refused:
        service.run_query(
            world.sandbox, actor=world.city.health_officer, grant_id=world.rows,
            sql=f'SELECT 姓名 FROM "{world.persons_code}"',
        )  # fmt: skip
    assert refused.value.reason == "column_not_allowed"


def test_differencing_is_flagged_and_can_be_blocked(world: World) -> None:
    base = f"SELECT count(*) AS n FROM \"{world.persons_code}\" WHERE 区划 = '110101'"
    _run(world, base)
    second = _run(world, base + f" AND 公民身份号码 <> '{world.ids[0]}'")
    assert second.flagged
    flagged = [r for r in _records(world) if r.flagged]
    assert len(flagged) == 1 and flagged[0].flag_reason
    with world.platform.uow() as uow:
        page = history.list_queries(uow, actor=world.city.security, flagged=True)
        assert [q.id for q in page.items] == [second.query_id]
        history.review_query(
            uow, actor=world.city.security, query_id=second.query_id, decision="confirmed",
            note="疑似差分攻击", suspend_grant=False,
        )  # fmt: skip
        uow.commit()
    # With the block policy the series is withheld.
    with world.platform.uow() as uow:
        grant = uow.session.get(Grant, world.aggregate)
        assert grant is not None
        grant.policy_params = {**(grant.policy_params or {}), "differencing": "block"}
        uow.commit()
    with pytest.raises(QueryRefused) as blocked:
        _run(world, base + f" AND 公民身份号码 <> '{world.ids[1]}'")
    assert blocked.value.reason == "differencing_blocked"
    assert _records(world)[-1].outcome == "blocked"


def test_a_runaway_query_is_killed_and_recorded(world: World) -> None:
    quick = replace(world.sandbox, timeout_seconds=1.0)
    code = world.persons_code
    sql = (
        f'SELECT count(*) FROM "{code}" a JOIN "{code}" b ON a.区划 = b.区划 '
        f'JOIN "{code}" c ON b.区划 = c.区划 JOIN "{code}" d ON c.区划 = d.区划 '
        f'JOIN "{code}" e ON d.区划 = e.区划'
    )
    with pytest.raises(QueryFailed) as failed:
        service.run_query(quick, actor=world.operator, grant_id=world.aggregate, sql=sql)
    assert failed.value.reason == "query_timeout"
    assert _records(world)[-1].outcome == "failed"
    assert _run(world, f'SELECT count(*) AS n FROM "{code}"').rows == [[240]]


def test_the_api_answers_in_the_documented_shape(world: World, client: TestClient) -> None:
    headers = auth(token_for(world.platform, "operator"))
    sql = f'SELECT 性别, count(*) AS n FROM "{world.persons_code}" GROUP BY 性别 ORDER BY 性别'
    ok = client.post(
        "/api/v1/sandbox/queries", json={"grant_id": world.aggregate, "sql": sql}, headers=headers
    )
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert {"columns", "rows", "suppressed_groups", "epsilon_spent", "query_id"} <= set(body)
    assert body["columns"] == ["性别", "n"] and sum(r[1] for r in body["rows"]) == 240
    bad = client.post(
        "/api/v1/sandbox/queries",
        json={"grant_id": world.aggregate, "sql": "COPY (SELECT 1) TO '/tmp/x.csv'"},
        headers=headers,
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "statement_not_allowed"
    schema = client.get(f"/api/v1/sandbox/grants/{world.aggregate}/schema", headers=headers)
    assert schema.status_code == 200
    names = {t["name"] for t in schema.json()["tables"]}
    assert names == {world.persons_code, world.jobs_code}
    listed = client.get("/api/v1/sandbox/queries", headers=headers).json()["data"]
    assert [q["outcome"] for q in listed] == ["refused", "released"]


def test_a_huge_query_is_refused_by_the_guard_and_recorded(world: World) -> None:
    huge = f'SELECT count(*) AS n FROM "{world.persons_code}" WHERE ' + " OR ".join(
        f"区划 = '{n:06d}'" for n in range(3000)
    )
    with pytest.raises(QueryRefused) as refused:
        _run(world, huge)
    assert refused.value.reason == "sql_too_long"
    (record,) = _records(world)
    assert record.outcome == "refused" and record.error_code == "sql_too_long"


def test_a_shared_model_runs_by_name_and_stops_when_withdrawn(world: World) -> None:
    from gongshu.sandbox import shared_models
    from gongshu.sandbox.schemas import ModelCreate, ParamIn

    officer = world.city.health_officer
    with world.platform.uow() as uow:
        model = shared_models.publish_model(
            uow, world.platform.datastore, actor=officer,
            data=ModelCreate(
                name="income_by_district", title="分区平均收入",
                sql=f'SELECT 区划, avg(年收入) AS income, count(*) AS n '
                f'FROM "{world.persons_code}" WHERE 性别 = $sex GROUP BY 区划 ORDER BY 区划',
                params=[ParamIn(name="sex", type="string", choices=["男", "女"])],
                min_group_size=K,
            ),
        )  # fmt: skip
        uow.commit()
        model_id = model.id
    grant = _grant_on(world, shared_models.model_ref(model_id))

    def run(**params: object) -> service.QueryResult:
        return shared_models.run_model(
            world.sandbox, actor=world.operator, model_id=model_id, grant_id=grant,
            params=params,  # type: ignore[arg-type]
        )  # fmt: skip

    result = run(sex="女")
    assert result.columns == ["区划", "income", "n"] and result.rows
    assert all(n >= K for *_, n in result.rows)
    with pytest.raises(QueryRefused) as bad:
        run(sex="x' OR '1'='1")
    assert bad.value.reason == "bad_parameter"
    # The model's grant runs the model only, never raw SQL.
    with pytest.raises(GrantNotUsable):
        _run(world, f'SELECT count(*) AS n FROM "{world.persons_code}"', grant=grant)
    with world.platform.uow() as uow:
        shared_models.withdraw_model(uow, actor=officer, model_id=model_id, reason="口径调整")
        uow.commit()
    with pytest.raises(GrantNotUsable, match="withdrawn"):
        run(sex="女")
    assert {r.model_id for r in _records(world) if r.model_id} == {model_id}


def _grant_on(world: World, entry_ref: str) -> str:
    from datetime import timedelta

    from gongshu.identity.models import DeliveryMode
    from gongshu.identity.schemas import GrantCreate
    from tests.factories import OPERATOR_ORG

    with world.platform.uow() as uow:
        return grant_service.create_grant(
            uow, actor=world.city.admin,
            data=GrantCreate(
                subject_organisation_code=OPERATOR_ORG, entry_ref=entry_ref, fields=["*"],
                purpose="运行共享模型", valid_until=uow.clock.now() + timedelta(days=30),
                delivery_modes=[DeliveryMode.SANDBOX], release_policy="aggregate",
                min_group_size=K,
            ),
        ).id  # fmt: skip
