"""Reading the sandbox: one's grants and their tables, the query history, and the review of
queries flagged as differencing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from gongshu.datastore.service import Datastore
from gongshu.identity import grants as grant_service
from gongshu.identity.authz import Actor, Resource, authorize, can
from gongshu.identity.models import DeliveryMode, Grant, GrantStatus
from gongshu.identity.service import audit
from gongshu.kernel.errors import Conflict
from gongshu.kernel.pagination import Page, decode_cursor, paginate
from gongshu.kernel.uow import UnitOfWork
from gongshu.sandbox.errors import SandboxQueryNotFound
from gongshu.sandbox.models import SandboxQuery
from gongshu.sandbox.service import Scope, budget_left, grant_scope

__all__ = [
    "GrantView",
    "get_query",
    "list_queries",
    "review_query",
    "sandbox_grants",
    "schema_for",
]


@dataclass(frozen=True)
class GrantView:
    """One of the actor's sandbox grants, with what it lets the query see and release."""

    grant: Grant
    policy: str
    k: int | None
    budget: float | None
    budget_left: float | None
    tables: list[dict[str, Any]]


def sandbox_grants(uow: UnitOfWork, *, actor: Actor) -> list[Grant]:
    """The actor's organisations' active sandbox grants, newest first."""
    now = uow.clock.now()
    rows = uow.session.scalars(
        sa.select(Grant)
        .where(
            Grant.subject_organisation_id.in_(actor.organisation_ids),
            Grant.status == GrantStatus.ACTIVE.value,
            Grant.valid_until > now,
            Grant.release_policy.is_not(None),
        )
        .order_by(Grant.issued_at.desc())
    )
    return [g for g in rows if DeliveryMode.SANDBOX.value in g.delivery_modes]


def _tables(scope: Scope) -> list[dict[str, Any]]:
    return [
        {
            "name": s.view.name,
            "entry_id": s.entry.id,
            "title": s.entry.name,
            "version": s.version.number,
            "rows": s.version.rows,
            "filtered": s.view.where_sql is not None,
            "fields": [
                {
                    "name": f.name,
                    "type": f.type,
                    "flags": sorted(f.flags),
                    "domain": list(f.domain) if f.domain else None,
                    "bounds": list(f.bounds) if f.bounds else None,
                }
                for f in s.spec.fields
            ],
        }
        for s in scope.sources
    ]


def schema_for(uow: UnitOfWork, store: Datastore, *, actor: Actor, grant_id: str) -> GrantView:
    """The permitted tables and fields under a grant, for the console's schema browser."""
    scope = grant_scope(uow, store, actor=actor, grant_id=grant_id)
    grant = scope.grant
    return GrantView(
        grant=grant,
        policy=scope.policy.value,
        k=scope.k_for([s.view.name for s in scope.sources]) if scope.policy.value == "aggregate"
        else None,
        budget=grant.dp_epsilon_budget,
        budget_left=budget_left(uow, grant),
        tables=_tables(scope),
    )  # fmt: skip


def _oversees(actor: Actor) -> bool:
    return can(actor, "sandbox.read", Resource("sandbox_query"))


def list_queries(
    uow: UnitOfWork,
    *,
    actor: Actor,
    grant_id: str | None = None,
    flagged: bool | None = None,
    outcome: str | None = None,
    mine: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[SandboxQuery]:
    """Recorded queries: one's organisations' (or all, for overseers), newest first."""
    if not _oversees(actor):
        orgs = actor.organisation_ids
        if not any(can(actor, "sandbox.read", Resource("sandbox_query", None, frozenset({o})))
                   for o in orgs):  # fmt: skip
            authorize(actor, "sandbox.read", Resource("sandbox_query"))
        mine = True
    stmt = sa.select(SandboxQuery).order_by(SandboxQuery.id.desc())
    if mine:
        stmt = stmt.where(SandboxQuery.organisation_id.in_(actor.organisation_ids))
    if grant_id:
        stmt = stmt.where(SandboxQuery.grant_id == grant_id)
    if flagged is not None:
        stmt = stmt.where(SandboxQuery.flagged.is_(flagged))
    if outcome:
        stmt = stmt.where(SandboxQuery.outcome == outcome)
    after = decode_cursor(cursor, arity=1)
    if after is not None:
        stmt = stmt.where(SandboxQuery.id < after[0])
    limit = max(1, min(limit, 200))
    found = list(uow.session.scalars(stmt.limit(limit + 1)))
    return paginate(found, limit, lambda q: [q.id])


def get_query(uow: UnitOfWork, *, actor: Actor, query_id: str) -> SandboxQuery:
    """One recorded query, if the actor may see it."""
    query = uow.session.get(SandboxQuery, query_id)
    owners = frozenset({query.organisation_id}) if query and query.organisation_id else frozenset()
    if query is None or not can(actor, "sandbox.read", Resource("sandbox_query", query.id, owners)):
        raise SandboxQueryNotFound(f"没有查询记录 {query_id} (no sandbox query {query_id})")
    return query


def review_query(
    uow: UnitOfWork,
    *,
    actor: Actor,
    query_id: str,
    decision: str,
    note: str,
    suspend_grant: bool = False,
) -> SandboxQuery:
    """Clear or confirm a differencing flag; confirming may suspend the grant at once."""
    authorize(actor, "sandbox.review")
    query = get_query(uow, actor=actor, query_id=query_id)
    if not query.flagged or query.reviewed_at is not None:
        raise Conflict("该查询没有待审查的标记 (the query has no open flag)")
    query.reviewed_by_id = actor.user_id or None
    query.reviewed_at = uow.clock.now()
    query.review_note = f"{decision}: {note}"
    audit(uow, actor, "sandbox.review", "sandbox_query", query.id,
          after={"decision": decision, "note": note, "suspend_grant": suspend_grant})  # fmt: skip
    if decision == "confirmed" and suspend_grant and query.grant_id:
        # suspend_grant commits the whole unit of work, the review with it.
        grant_service.suspend_grant(
            uow, actor=actor, grant_id=query.grant_id, reason=f"差分攻击嫌疑 (differencing): {note}"
        )
    return query
