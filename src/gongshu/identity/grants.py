"""Grant use cases and the one access check every data path calls.

A grant says who (organisation), what (entry, fields, row filter), why (purpose, scenario),
when (validity window), how (delivery modes) and with which constraints. :func:`check_access`
is the single answer to "may this actor get these fields of this entry this way now".
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from gongshu.identity.authz import Actor, Resource, authorize, can
from gongshu.identity.errors import GrantDenied, GrantNotFound
from gongshu.identity.models import (
    DeliveryMode,
    Grant,
    GrantStatus,
    Organisation,
    ReleasePolicy,
)
from gongshu.identity.schemas import AccessDecision, GrantCreate, SandboxParams
from gongshu.identity.service import audit, organisation_by_code
from gongshu.kernel.audit import snapshot
from gongshu.kernel.errors import Conflict, InvalidInput, NotFound
from gongshu.kernel.ids import new_id
from gongshu.kernel.pagination import Page, decode_cursor, paginate
from gongshu.kernel.uow import UnitOfWork

__all__ = [
    "change_status",
    "check_access",
    "create_grant",
    "expire_grants",
    "get_grant",
    "grant_counts",
    "issue_workflow_grant",
    "list_grants",
    "reinstate_grant",
    "require_access",
    "revoke_grant",
    "suspend_grant",
]

ALL_FIELDS = "*"


def _resource(grant: Grant) -> Resource:
    return Resource("grant", grant.id, frozenset({grant.subject_organisation_id}))


def create_grant(uow: UnitOfWork, *, actor: Actor, data: GrantCreate) -> Grant:
    """Issue a grant to an organisation."""
    authorize(actor, "grant.create")
    subject = organisation_by_code(uow, data.subject_organisation_code)
    if not subject.active:
        raise InvalidInput.field("body.subject_organisation_code", "organisation is inactive")
    now = uow.clock.now()
    valid_from = data.valid_from or now
    if data.valid_until <= valid_from:
        raise InvalidInput.field("body.valid_until", "must be after valid_from")
    if data.valid_until <= now:
        raise InvalidInput.field("body.valid_until", "must be in the future")
    fields = sorted(set(data.fields))
    if ALL_FIELDS in fields and len(fields) > 1:
        raise InvalidInput.field("body.fields", "'*' means every field; list nothing else")
    policy, params = _release_policy(data)
    grant = Grant(
        id=new_id("grt"),
        subject_organisation_id=subject.id,
        entry_ref=data.entry_ref,
        fields=fields,
        row_filter=data.row_filter,
        purpose=data.purpose,
        scenario=data.scenario,
        valid_from=valid_from,
        valid_until=data.valid_until,
        delivery_modes=sorted({m.value for m in data.delivery_modes}),
        min_group_size=data.min_group_size,
        dp_epsilon_budget=data.dp_epsilon_budget,
        rate_limit_per_minute=data.rate_limit_per_minute,
        release_policy=policy.value if policy else None,
        policy_params=params.model_dump(mode="json") if params else None,
        pinned_version_id=data.pinned_version_id if policy else None,
        status=GrantStatus.ACTIVE.value,
        status_reason="",
        issued_by_id=actor.user_id,
        issued_at=now,
        changed_at=now,
    )
    uow.session.add(grant)
    uow.session.flush()
    audit(uow, actor, "grant.create", "grant", grant.id, after=snapshot(grant))
    uow.commit()
    return grant


def issue_workflow_grant(
    uow: UnitOfWork,
    *,
    actor: Actor,
    workflow: str,
    subject_organisation_id: str,
    entry_ref: str,
    fields: list[str],
    delivery_modes: list[DeliveryMode],
    purpose: str,
    scenario: str | None,
    valid_until: datetime,
) -> Grant:
    """Issue the grant a workflow's decision creates (a provider approving an application).

    Unlike :func:`create_grant` the caller — the workflow — has already authorised the
    decision (e.g. ``open.application.review`` on its own entry), so a provider department,
    not only the bureau, can issue it; nothing is committed here: the decision and its grant
    land in one transaction. The audit record ``grant.create`` names the workflow.
    """
    subject = uow.session.get(Organisation, subject_organisation_id)
    if subject is None or not subject.active:
        raise InvalidInput.field("subject_organisation_id", "organisation is missing or inactive")
    if not workflow.strip():
        raise InvalidInput.field("workflow", "name the workflow that issues the grant")
    if not fields or not delivery_modes:
        raise InvalidInput.field("fields", "a workflow grant names its fields and delivery modes")
    if DeliveryMode.SANDBOX in delivery_modes:
        raise InvalidInput.field("delivery_modes", "sandbox grants are issued by the bureau")
    now = uow.clock.now()
    if valid_until <= now:
        raise InvalidInput.field("valid_until", "must be in the future")
    grant = Grant(
        id=new_id("grt"),
        subject_organisation_id=subject.id,
        entry_ref=entry_ref,
        fields=sorted(set(fields)),
        row_filter=None,
        purpose=purpose,
        scenario=scenario,
        valid_from=now,
        valid_until=valid_until,
        delivery_modes=sorted({m.value for m in delivery_modes}),
        min_group_size=None,
        dp_epsilon_budget=None,
        rate_limit_per_minute=None,
        release_policy=None,
        policy_params=None,
        pinned_version_id=None,
        status=GrantStatus.ACTIVE.value,
        status_reason="",
        issued_by_id=actor.user_id,
        issued_at=now,
        changed_at=now,
    )
    uow.session.add(grant)
    uow.session.flush()
    after = snapshot(grant) | {"workflow": workflow}
    audit(uow, actor, "grant.create", "grant", grant.id, after=after)
    return grant


def _release_policy(data: GrantCreate) -> tuple[ReleasePolicy | None, SandboxParams | None]:
    """A sandbox grant's release policy (aggregate unless said), with what it needs."""
    if DeliveryMode.SANDBOX not in data.delivery_modes:
        if data.release_policy or data.policy_params or data.pinned_version_id:
            raise InvalidInput.field(
                "body.release_policy", "only sandbox delivery has a release policy"
            )
        return None, None
    policy = data.release_policy or ReleasePolicy.AGGREGATE
    if policy is ReleasePolicy.AGGREGATE and data.min_group_size is None:
        raise InvalidInput.field(
            "body.min_group_size", "沙箱聚合发布需要最小分组 k (aggregate release needs k)"
        )
    if policy is ReleasePolicy.DP and data.dp_epsilon_budget is None:
        raise InvalidInput.field(
            "body.dp_epsilon_budget", "差分隐私发布需要隐私预算 (dp release needs a budget)"
        )
    return policy, data.policy_params or SandboxParams()


def grant_counts(uow: UnitOfWork, *, actor: Actor) -> dict[str, int]:
    """How many grants are in each effective status, city-wide (for overseers)."""
    authorize(actor, "grant.read", Resource("grant"))
    now = uow.clock.now()
    lapsed = sa.and_(Grant.status == GrantStatus.ACTIVE.value, Grant.valid_until <= now)
    effective = sa.case((lapsed, GrantStatus.EXPIRED.value), else_=Grant.status)
    rows = uow.session.execute(sa.select(effective, sa.func.count()).group_by(effective))
    counts = {status.value: 0 for status in GrantStatus}
    counts.update({status: n for status, n in rows})
    return counts


def get_grant(uow: UnitOfWork, *, actor: Actor, grant_id: str) -> Grant:
    """One grant, if the actor may see it (otherwise: not found)."""
    grant = uow.session.get(Grant, grant_id)
    if grant is None or not can(actor, "grant.read", _resource(grant)):
        raise GrantNotFound(f"no grant {grant_id!r}")
    return grant


def list_grants(
    uow: UnitOfWork,
    *,
    actor: Actor,
    organisation_id: str | None = None,
    entry_ref: str | None = None,
    status: GrantStatus | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Grant]:
    """Grants the actor may see, newest first."""
    stmt = sa.select(Grant).order_by(Grant.id.desc())
    if not can(actor, "grant.read", Resource("grant")):
        own = actor.organisation_ids
        if not any(can(actor, "grant.read", Resource("grant", None, frozenset({o}))) for o in own):
            authorize(actor, "grant.read", Resource("grant"))
        stmt = stmt.where(Grant.subject_organisation_id.in_(own))
    if organisation_id:
        stmt = stmt.where(Grant.subject_organisation_id == organisation_id)
    if entry_ref:
        stmt = stmt.where(Grant.entry_ref == entry_ref)
    if status is GrantStatus.EXPIRED:
        now = uow.clock.now()
        stmt = stmt.where(
            sa.or_(
                Grant.status == GrantStatus.EXPIRED.value,
                sa.and_(Grant.status == GrantStatus.ACTIVE.value, Grant.valid_until <= now),
            )
        )
    elif status is GrantStatus.ACTIVE:
        stmt = stmt.where(Grant.status == status.value, Grant.valid_until > uow.clock.now())
    elif status is not None:
        stmt = stmt.where(Grant.status == status.value)
    after = decode_cursor(cursor, arity=1)
    if after is not None:
        stmt = stmt.where(Grant.id < after[0])
    return paginate(list(uow.session.scalars(stmt.limit(limit + 1))), limit, lambda g: [g.id])


def _change_status(
    uow: UnitOfWork,
    *,
    actor: Actor,
    grant_id: str,
    action: str,
    allowed_from: set[GrantStatus],
    to: GrantStatus,
    reason: str,
) -> Grant:
    authorize(actor, action)
    grant = uow.session.get(Grant, grant_id)
    if grant is None:
        raise GrantNotFound(f"no grant {grant_id!r}")
    now = uow.clock.now()
    current = grant.status_at(now)
    if current not in allowed_from:
        raise Conflict(f"grant is {current.value}; cannot {action.split('.')[1]} it")
    before = snapshot(grant)
    grant.status = to.value
    grant.status_reason = reason
    grant.changed_at = now
    audit(uow, actor, action, "grant", grant.id, before=before, after=snapshot(grant))
    uow.commit()
    return grant


def revoke_grant(uow: UnitOfWork, *, actor: Actor, grant_id: str, reason: str) -> Grant:
    """End a grant for good."""
    return _change_status(
        uow,
        actor=actor,
        grant_id=grant_id,
        action="grant.revoke",
        allowed_from={GrantStatus.ACTIVE, GrantStatus.SUSPENDED},
        to=GrantStatus.REVOKED,
        reason=reason,
    )


def suspend_grant(uow: UnitOfWork, *, actor: Actor, grant_id: str, reason: str) -> Grant:
    """Stop a grant until reinstated (misuse, emergency freeze)."""
    return _change_status(
        uow,
        actor=actor,
        grant_id=grant_id,
        action="grant.suspend",
        allowed_from={GrantStatus.ACTIVE},
        to=GrantStatus.SUSPENDED,
        reason=reason,
    )


def reinstate_grant(uow: UnitOfWork, *, actor: Actor, grant_id: str, reason: str) -> Grant:
    """Lift a suspension."""
    return _change_status(
        uow,
        actor=actor,
        grant_id=grant_id,
        action="grant.suspend",
        allowed_from={GrantStatus.SUSPENDED},
        to=GrantStatus.ACTIVE,
        reason=reason,
    )


_TRANSITIONS = {
    "revoke": revoke_grant,
    "suspend": suspend_grant,
    "reinstate": reinstate_grant,
}


def change_status(
    uow: UnitOfWork, *, actor: Actor, grant_id: str, transition: str, reason: str
) -> Grant:
    """Apply a named transition (revoke, suspend, reinstate) with its reason."""
    change = _TRANSITIONS.get(transition)
    if change is None:
        raise NotFound(f"no grant transition {transition!r}; use revoke, suspend or reinstate")
    if len(reason.strip()) < 2:
        raise InvalidInput.field("body.reason", "请填写原因 (a reason is required)")
    return change(uow, actor=actor, grant_id=grant_id, reason=reason.strip())


def expire_grants(uow: UnitOfWork, *, actor: Actor) -> int:
    """Mark every active grant past its window as expired; returns how many."""
    now = uow.clock.now()
    due = list(
        uow.session.scalars(
            sa.select(Grant).where(
                Grant.status == GrantStatus.ACTIVE.value, Grant.valid_until <= now
            )
        )
    )
    for grant in due:
        before = snapshot(grant)
        grant.status = GrantStatus.EXPIRED.value
        grant.status_reason = "validity window ended"
        grant.changed_at = now
        audit(uow, actor, "grant.expire", "grant", grant.id, before=before, after=snapshot(grant))
    uow.commit()
    return len(due)


def check_access(
    uow: UnitOfWork,
    *,
    actor: Actor,
    entry_ref: str,
    fields: list[str],
    mode: DeliveryMode,
    organisation_id: str | None = None,
    at: datetime | None = None,
) -> AccessDecision:
    """May ``actor`` (for one of its organisations) get ``fields`` of ``entry_ref`` by ``mode`` now?

    Deny by default: only an active grant within its window, for one of the actor's
    organisations, covering every requested field and the delivery mode, allows access.
    """
    now = at or uow.clock.now()
    orgs = actor.organisation_ids
    if organisation_id is not None:
        if organisation_id not in orgs:
            return AccessDecision(allowed=False, reason="actor does not act for that organisation")
        orgs = {organisation_id}
    if not orgs:
        return AccessDecision(allowed=False, reason="actor belongs to no organisation")
    active_orgs = set(
        uow.session.scalars(
            sa.select(Organisation.id).where(Organisation.id.in_(orgs), Organisation.active)
        )
    )
    candidates = uow.session.scalars(
        sa.select(Grant)
        .where(
            Grant.subject_organisation_id.in_(active_orgs),
            Grant.entry_ref == entry_ref,
        )
        .order_by(Grant.issued_at.desc())
    )
    wanted = set(fields)
    reasons: list[str] = []
    for grant in candidates:
        status = grant.status_at(now)
        if status is not GrantStatus.ACTIVE:
            reasons.append(f"grant {grant.id} is {status.value}")
            continue
        if now < grant.valid_from:
            reasons.append(f"grant {grant.id} starts {grant.valid_from.isoformat()}")
            continue
        if mode.value not in grant.delivery_modes:
            reasons.append(f"grant {grant.id} does not allow delivery by {mode.value}")
            continue
        if ALL_FIELDS not in grant.fields and not wanted <= set(grant.fields):
            missing = sorted(wanted - set(grant.fields))
            reasons.append(f"grant {grant.id} does not cover fields {missing}")
            continue
        return AccessDecision(
            allowed=True,
            reason="granted",
            grant_id=grant.id,
            row_filter=grant.row_filter,
            min_group_size=grant.min_group_size,
            dp_epsilon_budget=grant.dp_epsilon_budget,
            rate_limit_per_minute=grant.rate_limit_per_minute,
        )
    return AccessDecision(
        allowed=False, reason="; ".join(reasons) or f"no grant for entry {entry_ref}"
    )


def require_access(
    uow: UnitOfWork,
    *,
    actor: Actor,
    entry_ref: str,
    fields: list[str],
    mode: DeliveryMode,
    organisation_id: str | None = None,
) -> AccessDecision:
    """Like :func:`check_access`, but raise :class:`GrantDenied` on refusal."""
    decision = check_access(
        uow,
        actor=actor,
        entry_ref=entry_ref,
        fields=fields,
        mode=mode,
        organisation_id=organisation_id,
    )
    if not decision.allowed:
        raise GrantDenied(
            f"无访问授权 (no grant allows this access): {decision.reason}",
            details={"entry_ref": entry_ref, "fields": fields, "mode": mode.value},
        )
    return decision
