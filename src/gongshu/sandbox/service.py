"""Sandbox use cases: run a guarded query under a grant, and keep the record of what left.

One query goes: the grant (deny by default) → the views it may see → the guard → a privacy
budget reservation (DP) → a worker process → suppression or noise → the record. Nothing holds
a database transaction while the worker runs; the record is written afterwards, and a refused
or failed query is recorded too. A DP reservation is refunded when nothing was released.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from gongshu.datastore.service import Datastore
from gongshu.identity.authz import Actor, Resource, authorize
from gongshu.identity.models import DeliveryMode, Grant, GrantStatus, Organisation, ReleasePolicy
from gongshu.identity.service import audit
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.ids import new_id
from gongshu.kernel.uow import UnitOfWork
from gongshu.sandbox import dp, guard
from gongshu.sandbox.errors import BudgetExhausted, GrantNotUsable, QueryFailed, QueryRefused
from gongshu.sandbox.models import PrivacySpend, QueryOutcome, SandboxQuery, SubjectProfile
from gongshu.sandbox.tables import Source, source_for
from gongshu.sandbox.worker import Job, Statement, StatementResult, WorkerPool

__all__ = [
    "QueryResult",
    "Sandbox",
    "Scope",
    "budget_left",
    "execute",
    "grant_scope",
    "record_outcome",
    "run_query",
    "usable_grant",
]

# How many earlier queries of the same frame a new aggregate is compared with (differencing).
DIFFERENCING_WINDOW = 5


@dataclass
class Sandbox:
    """What a query needs besides a unit of work: the lake, the worker pool and the limits."""

    uow: Callable[[], UnitOfWork]
    store: Datastore
    pool: WorkerPool
    timeout_seconds: float
    memory_limit: str
    threads: int


@dataclass(frozen=True)
class QueryResult:
    """What left the sandbox, and what was withheld."""

    query_id: str
    policy: str
    columns: list[str]
    rows: list[list[Any]]
    suppressed_groups: int
    epsilon_spent: float
    truncated: bool
    flagged: bool
    elapsed_ms: float
    budget_left: float | None


@dataclass
class Scope:
    """The tables one query may read under one grant (or one model), with its policy."""

    grant: Grant
    policy: ReleasePolicy
    sources: list[Source]
    params: dict[str, Any]
    model_id: str | None = None
    model_k: int | None = None
    tables: dict[str, Source] = field(init=False)

    def __post_init__(self) -> None:
        self.tables = {s.view.name: s for s in self.sources}

    def k_for(self, names: Sequence[str]) -> int:
        """The strictest minimum group size among the grants whose tables the query reads."""
        if self.model_k is not None:
            return self.model_k
        sizes = [self.tables[n].min_group_size or 0 for n in names if n in self.tables]
        return max([*sizes, self.grant.min_group_size or 0, 2])


# --- grants ----------------------------------------------------------------------------------


def usable_grant(uow: UnitOfWork, *, actor: Actor, grant_id: str) -> Grant:
    """The actor's active sandbox grant, or a refusal that reveals nothing about others'."""
    grant = uow.session.get(Grant, grant_id)
    if grant is None or grant.subject_organisation_id not in actor.organisation_ids:
        raise GrantNotUsable(f"没有可用的沙箱授权 {grant_id} (no usable sandbox grant {grant_id})")
    authorize(
        actor,
        "sandbox.query",
        Resource("grant", grant.id, frozenset({grant.subject_organisation_id})),
    )
    now = uow.clock.now()
    status = grant.status_at(now)
    if status is not GrantStatus.ACTIVE:
        raise GrantNotUsable(
            f"授权 {grant.id} 状态为 {status.value}，不能使用 (grant is {status.value})",
            details={"grant_id": grant.id, "status": status.value},
        )
    if now < grant.valid_from:
        raise GrantNotUsable(f"授权 {grant.id} 尚未生效 (grant starts {grant.valid_from:%Y-%m-%d})")
    if DeliveryMode.SANDBOX.value not in grant.delivery_modes or not grant.release_policy:
        raise GrantNotUsable(f"授权 {grant.id} 不含沙箱方式 (grant has no sandbox delivery)")
    org = uow.session.get(Organisation, grant.subject_organisation_id)
    if org is None or not org.active:
        raise GrantNotUsable("被授权机构已停用 (the grantee organisation is inactive)")
    return grant


def grant_scope(uow: UnitOfWork, store: Datastore, *, actor: Actor, grant_id: str) -> Scope:
    """The named grant's tables, plus those of the organisation's other active sandbox grants
    with the same release policy (so joins among granted tables work); DP sees one table."""
    grant = usable_grant(uow, actor=actor, grant_id=grant_id)
    if grant.entry_ref.startswith("model:"):
        raise GrantNotUsable(
            f"授权 {grant.id} 只能运行共享模型 (grant {grant.id} runs a shared model only)"
        )
    policy = ReleasePolicy(grant.release_policy or ReleasePolicy.AGGREGATE)
    hidden = policy is not ReleasePolicy.ROWS
    params = dict(grant.policy_params or {})
    companions: list[Grant] = []
    if policy is not ReleasePolicy.DP:
        now = uow.clock.now()
        companions = [
            g
            for g in uow.session.scalars(
                sa.select(Grant)
                .where(
                    Grant.subject_organisation_id == grant.subject_organisation_id,
                    Grant.release_policy == grant.release_policy,
                    Grant.id != grant.id,
                    Grant.status == GrantStatus.ACTIVE.value,
                    Grant.valid_until > now,
                    Grant.valid_from <= now,
                )
                .order_by(Grant.issued_at)
            )
            if DeliveryMode.SANDBOX.value in g.delivery_modes
            and not g.entry_ref.startswith("model:")
        ]
    sources: list[Source] = []
    seen: set[str] = set()
    for g in [grant, *companions]:
        if g.entry_ref in seen:
            continue
        try:
            source = source_for(
                uow,
                store,
                entry_id=g.entry_ref,
                fields=g.fields,
                row_filter=g.row_filter,
                params=dict(g.policy_params or {}),
                hidden_subject=hidden,
                pinned_version_id=g.pinned_version_id,
                grant=g,
            )
        except GrantNotUsable:
            if g is grant:
                raise
            continue  # a companion entry without data simply is not visible
        seen.add(g.entry_ref)
        sources.append(source)
    return Scope(grant=grant, policy=policy, sources=sources, params=params)


def budget_left(uow: UnitOfWork, grant: Grant) -> float | None:
    """What is left of a DP grant's privacy budget (None when the grant has none)."""
    if grant.dp_epsilon_budget is None:
        return None
    spent = uow.session.scalar(
        sa.select(PrivacySpend.spent).where(PrivacySpend.grant_id == grant.id)
    )
    return max(grant.dp_epsilon_budget - (spent or 0.0), 0.0)


def _reserve(uow: UnitOfWork, grant: Grant, epsilon: float) -> None:
    """Take ``epsilon`` from the budget atomically, or refuse: no overspending by racing queries."""
    budget = grant.dp_epsilon_budget or 0.0
    now = uow.clock.now()
    if uow.session.get(PrivacySpend, grant.id) is None:
        uow.session.add(PrivacySpend(grant_id=grant.id, spent=0.0, queries=0, updated_at=now))
        uow.session.flush()
    taken = uow.session.execute(
        sa.update(PrivacySpend)
        .where(PrivacySpend.grant_id == grant.id, PrivacySpend.spent + epsilon <= budget + 1e-12)
        .values(
            spent=PrivacySpend.spent + epsilon, queries=PrivacySpend.queries + 1, updated_at=now
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(taken, "rowcount", 0) != 1:
        left = budget_left(uow, grant) or 0.0
        raise BudgetExhausted(
            f"隐私预算不足：剩余 ε={left:.4g}，本次需要 ε={epsilon:.4g} "
            f"(privacy budget exhausted: {left:.4g} left, {epsilon:.4g} needed)",
            details={"left": left, "needed": epsilon},
        )


def _refund(uow: UnitOfWork, grant_id: str, epsilon: float) -> None:
    uow.session.execute(
        sa.update(PrivacySpend)
        .where(PrivacySpend.grant_id == grant_id)
        .values(spent=PrivacySpend.spent - epsilon, queries=PrivacySpend.queries - 1)
        .execution_options(synchronize_session=False)
    )


# --- running ---------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON-safe value: decimals as floats, dates as ISO text."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def _result_hash(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    document = {"columns": list(columns), "rows": [list(r) for r in rows]}
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def _earlier_wheres(uow: UnitOfWork, grant_id: str, plan: guard.Plan) -> list[str | None]:
    """Top-level filters of recent queries over the same frame under the same grant."""
    if plan.frame_hash is None:
        return []
    rows = uow.session.execute(
        sa.select(SandboxQuery.where_sql)
        .where(
            SandboxQuery.grant_id == grant_id,
            SandboxQuery.frame_hash == plan.frame_hash,
            SandboxQuery.outcome.in_([QueryOutcome.RELEASED.value, QueryOutcome.BLOCKED.value]),
        )
        .order_by(SandboxQuery.created_at.desc())
        .limit(50)
    )
    found: list[str | None] = []
    for (where,) in rows:
        if where != plan.where_sql and where not in found:
            found.append(where)
        if len(found) == DIFFERENCING_WINDOW:
            break
    return found


def _profile_subjects(sandbox: Sandbox, scope: Scope, names: Sequence[str]) -> bool:
    """Measure, once per version, whether every row of the tables read is a different subject."""
    todo = [
        s for s in scope.sources
        if s.view.name in names and s.subject_sql is not None and s.subject_unique is None
    ]  # fmt: skip
    if not todo:
        return False
    views = tuple(replace(s.view, where_sql=None) for s in todo)
    statements = tuple(
        Statement(sql=f'SELECT count(*) = count(DISTINCT __subject) FROM "{s.view.name}"')
        for s in todo
    )
    results = sandbox.pool.run(
        Job(views=views, statements=statements, timeout_seconds=max(sandbox.timeout_seconds, 300),
            max_rows=1, memory_limit=sandbox.memory_limit, threads=sandbox.threads)
    )  # fmt: skip
    with sandbox.uow() as uow:
        for source, result in zip(todo, results, strict=True):
            unique = bool(result.rows and result.rows[0][0])
            assert source.subject_sql is not None
            if uow.session.get(SubjectProfile, source.version.id) is None:
                uow.session.add(
                    SubjectProfile(version_id=source.version.id, subject_sql=source.subject_sql,
                                   unique_rows=unique, measured_at=uow.clock.now())
                )  # fmt: skip
            index = scope.sources.index(source)
            scope.sources[index] = source.measured(unique)
        uow.commit()
    scope.tables = {s.view.name: s for s in scope.sources}
    return True


@dataclass
class _Run:
    plan: guard.Plan
    k: int
    epsilon: float
    differences: list[str | None]


def _prepare(sandbox: Sandbox, scope: Scope, sql: str, epsilon: float | None) -> _Run:
    """Guard the SQL and, for DP, reserve the budget (committed before anything runs)."""
    max_contributions = int(scope.params.get("max_contributions", 1))

    def check() -> guard.Plan:
        return guard.check(
            sql,
            [s.spec for s in scope.sources],
            policy=scope.policy.value,
            max_contributions=max_contributions,
        )

    plan = check()
    if _profile_subjects(sandbox, scope, plan.tables):
        plan = check()  # the rewrite counts subjects more cheaply where rows are subjects
    k = scope.k_for(plan.tables)
    spend = 0.0
    differences: list[str | None] = []
    with sandbox.uow() as uow:
        if scope.policy is ReleasePolicy.DP:
            spend = float(epsilon or scope.params.get("epsilon_per_query", 0.5))
            if not 0 < spend <= 10:
                raise QueryRefused(
                    "bad_epsilon", f"ε 须在 (0, 10] 之间 (epsilon {spend} is out of range)"
                )
            _reserve(uow, scope.grant, spend)
            uow.commit()
        elif scope.policy is ReleasePolicy.AGGREGATE:
            differences = _earlier_wheres(uow, scope.grant.id, plan)
    return _Run(plan=plan, k=k, epsilon=spend, differences=differences)


def _job(sandbox: Sandbox, scope: Scope, run: _Run) -> Job:
    plan = run.plan
    aggregate = scope.policy is ReleasePolicy.AGGREGATE
    statements = [
        Statement(
            sql=plan.sql,
            k=run.k if aggregate else None,
            k_columns=len(plan.k_columns) if aggregate else 0,
            limit=plan.limit,
            offset=plan.offset,
        )
    ]
    statements += [
        Statement(sql=guard.difference_sql(plan, where, run.k)) for where in run.differences
    ]
    used = [scope.tables[name].view for name in plan.tables if name in scope.tables]
    return Job(
        views=tuple(used),
        statements=tuple(statements),
        timeout_seconds=sandbox.timeout_seconds,
        max_rows=int(scope.params.get("max_rows", 10_000)),
        memory_limit=sandbox.memory_limit,
        threads=sandbox.threads,
    )


def _run_job(sandbox: Sandbox, job: Job) -> list[StatementResult]:
    """Run in a worker; a run-time error says nothing of the data that caused it."""
    try:
        return sandbox.pool.run(job)
    except QueryFailed as failed:
        if failed.reason != "execution_error":
            raise
        # DuckDB's messages quote the offending value ("could not convert string '1101…'"),
        # and its optimiser may evaluate a user's predicate on rows the view filters out.
        raise QueryFailed(
            "execution_error",
            "查询运行出错（为防止数据经由错误信息泄露，不显示详情；请检查类型转换与取值范围） "
            "(the query failed at run time; details are withheld so that no value leaks "
            "through an error message — check casts and value ranges)",
        ) from None


@dataclass
class _Released:
    columns: list[str]
    rows: list[list[Any]]
    suppressed: int
    truncated: bool
    epsilon: float
    flagged: str | None


def _release(scope: Scope, run: _Run, results: list[StatementResult]) -> _Released:
    main, checks = results[0], results[1:]
    if scope.policy is ReleasePolicy.DP:
        assert run.plan.dp is not None
        noisy = dp.release(run.plan.dp, main.columns, main.rows, epsilon=run.epsilon)
        rows = [[_plain(v) for v in r] for r in noisy.rows]
        return _Released(list(noisy.columns), rows, 0, False, noisy.epsilon_spent, None)
    differing = sum(int(c.rows[0][0] or 0) for c in checks if c.rows)
    flag = None
    if differing:
        flag = (
            f"与此前 {len(checks)} 次同形查询相比，有 {differing} 个分组仅相差不足 {run.k} 个主体 "
            f"(differencing: {differing} groups differ from an earlier query by fewer than "
            f"{run.k} subjects)"
        )
    rows = [[_plain(v) for v in r] for r in main.rows]
    return _Released(list(main.columns), rows, main.suppressed, main.truncated, 0.0, flag)


def record_outcome(
    uow: UnitOfWork,
    *,
    actor: Actor,
    sql: str,
    scope: Scope | None,
    grant_id: str | None,
    plan: guard.Plan | None = None,
    released: _Released | None = None,
    outcome: QueryOutcome,
    error: GongshuError | None = None,
    elapsed_ms: float = 0.0,
    params: dict[str, Any] | None = None,
    model_id: str | None = None,
) -> SandboxQuery:
    """Write the query's record and its audit entry (anchored in the ledger)."""
    code = None
    if error is not None:
        code = getattr(error, "reason", None) or error.code
    query = SandboxQuery(
        id=new_id("sq"),
        actor_id=actor.user_id or None,
        organisation_id=scope.grant.subject_organisation_id if scope else None,
        grant_id=grant_id,
        model_id=model_id,
        policy=scope.policy.value if scope else None,
        sql=sql[:100_000],
        params=params,
        tables=list(plan.tables) if plan else [],
        shape_hash=plan.shape_hash if plan else None,
        frame_hash=plan.frame_hash if plan else None,
        where_sql=plan.where_sql if plan else None,
        result_hash=_result_hash(released.columns, released.rows) if released else None,
        outcome=outcome.value,
        error_code=code,
        error_message=error.message[:2000] if error else None,
        rows_released=len(released.rows) if released and outcome is QueryOutcome.RELEASED else 0,
        groups_suppressed=released.suppressed if released else 0,
        epsilon_spent=released.epsilon if released else 0.0,
        flagged=bool(released and released.flagged),
        flag_reason=released.flagged if released else None,
        elapsed_ms=round(elapsed_ms, 3),
        created_at=uow.clock.now(),
    )
    uow.session.add(query)
    # The public ledger carries hashes, never the SQL text (literals may be personal data).
    audit(
        uow,
        actor,
        "sandbox.query",
        "sandbox_query",
        query.id,
        after={
            "grant_id": grant_id,
            "model_id": model_id,
            "outcome": query.outcome,
            "error_code": code,
            "sql_sha256": hashlib.sha256(sql.encode()).hexdigest(),
            "shape_hash": query.shape_hash,
            "result_hash": query.result_hash,
            "rows_released": query.rows_released,
            "groups_suppressed": query.groups_suppressed,
            "epsilon_spent": query.epsilon_spent,
            "flagged": query.flagged,
        },
    )
    return query


def execute(
    sandbox: Sandbox,
    *,
    actor: Actor,
    sql: str,
    scope_of: Callable[[UnitOfWork], Scope],
    grant_id: str,
    epsilon: float | None = None,
    params: dict[str, Any] | None = None,
    model_id: str | None = None,
) -> QueryResult:
    """Guard, run, release and record one query in the scope ``scope_of`` builds."""
    started = time.perf_counter()
    scope: Scope | None = None
    run: _Run | None = None
    try:
        with sandbox.uow() as uow:
            scope = scope_of(uow)
            # The scope outlives this unit of work: detach it with what it loaded.
            uow.session.expunge_all()
        run = _prepare(sandbox, scope, sql, epsilon)
        results = _run_job(sandbox, _job(sandbox, scope, run))
        released = _release(scope, run, results)
    except GongshuError as error:
        outcome = QueryOutcome.FAILED if isinstance(error, QueryFailed) else QueryOutcome.REFUSED
        with sandbox.uow() as uow:
            if run is not None and run.epsilon:
                _refund(uow, grant_id, run.epsilon)
            record_outcome(
                uow, actor=actor, sql=sql, scope=scope, grant_id=grant_id,
                plan=run.plan if run else None, outcome=outcome, error=error,
                elapsed_ms=(time.perf_counter() - started) * 1000, params=params,
                model_id=model_id,
            )  # fmt: skip
            uow.commit()
        raise
    blocked = bool(released.flagged) and scope.params.get("differencing") == "block"
    outcome = QueryOutcome.BLOCKED if blocked else QueryOutcome.RELEASED
    with sandbox.uow() as uow:
        query = record_outcome(
            uow, actor=actor, sql=sql, scope=scope, grant_id=grant_id, plan=run.plan,
            released=released, outcome=outcome,
            elapsed_ms=(time.perf_counter() - started) * 1000, params=params, model_id=model_id,
        )  # fmt: skip
        left = budget_left(uow, scope.grant)
        query_id, flagged, elapsed = query.id, query.flagged, query.elapsed_ms
        uow.commit()
    if blocked:
        raise QueryRefused(
            "differencing_blocked",
            "查询与此前查询相差不足 k 个主体，结果已被拦截并提交审查 "
            "(the result differs from an earlier one by fewer than k subjects: withheld for "
            "review)",
        )
    return QueryResult(
        query_id=query_id,
        policy=scope.policy.value,
        columns=released.columns,
        rows=released.rows,
        suppressed_groups=released.suppressed,
        epsilon_spent=released.epsilon,
        truncated=released.truncated,
        flagged=flagged,
        elapsed_ms=elapsed,
        budget_left=left,
    )


def run_query(
    sandbox: Sandbox, *, actor: Actor, grant_id: str, sql: str, epsilon: float | None = None
) -> QueryResult:
    """Run ``sql`` under the actor's sandbox grant ``grant_id``; record it whatever happens."""
    return execute(
        sandbox,
        actor=actor,
        sql=sql,
        grant_id=grant_id,
        epsilon=epsilon,
        scope_of=lambda uow: grant_scope(uow, sandbox.store, actor=actor, grant_id=grant_id),
    )
