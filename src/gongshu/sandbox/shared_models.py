"""Shared models (共享模型): share by model rather than by data.

A department publishes a parameterised query over its own entries with its own release policy;
a grantee holding a sandbox grant on ``model:<id>`` runs it by name with parameters and gets only
its result. Parameters are bound into the parsed query as typed literals, never as text, and the
bound query passes the guard like any other.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from gongshu.catalog.models import Entry
from gongshu.datastore.models import DatasetVersion
from gongshu.datastore.service import Datastore
from gongshu.identity.authz import Actor, Resource, authorize, can
from gongshu.identity.models import Grant, ReleasePolicy
from gongshu.identity.service import audit, organisation_by_code
from gongshu.kernel.audit import snapshot
from gongshu.kernel.errors import Conflict, InvalidInput, PermissionDenied
from gongshu.kernel.ids import new_id
from gongshu.kernel.uow import UnitOfWork
from gongshu.sandbox import guard
from gongshu.sandbox.errors import GrantNotUsable, ModelNotFound, QueryRefused
from gongshu.sandbox.models import ModelStatus, QueryOutcome, SharedModel
from gongshu.sandbox.schemas import ModelCreate
from gongshu.sandbox.service import (
    QueryResult,
    Sandbox,
    Scope,
    execute,
    record_outcome,
    usable_grant,
)
from gongshu.sandbox.tables import Source, source_for

__all__ = [
    "get_model",
    "list_models",
    "model_ref",
    "model_scope",
    "publish_model",
    "run_model",
    "withdraw_model",
]


def model_ref(model_id: str) -> str:
    """The ``entry_ref`` a grant names to let its holder run a model."""
    return f"model:{model_id}"


def _param_specs(params: list[dict[str, Any]]) -> list[guard.ParamSpec]:
    return [
        guard.ParamSpec(
            name=p["name"],
            type=p["type"],
            choices=tuple(p["choices"]) if p.get("choices") else None,
            minimum=p.get("minimum"),
            maximum=p.get("maximum"),
        )
        for p in params
    ]


def _sample(spec: dict[str, Any]) -> Any:
    """A valid value for a parameter, to check the model's query at publication."""
    if spec.get("choices"):
        return spec["choices"][0]
    if spec.get("minimum") is not None:
        return int(spec["minimum"]) if spec["type"] == "integer" else spec["minimum"]
    return {"string": "x", "integer": 0, "decimal": 0.0, "date": date(2020, 1, 1)}[spec["type"]]


def _owner_sources(
    uow: UnitOfWork, store: Datastore, owner_id: str, policy: ReleasePolicy, params: dict[str, Any]
) -> list[Source]:
    """Every entry of the owner that has data, as the owner sees it (all fields, no filter)."""
    entry_ids = uow.session.scalars(
        sa.select(Entry.id)
        .where(
            sa.or_(Entry.provider_id == owner_id, Entry.district_id == owner_id),
            sa.exists().where(DatasetVersion.entry_id == Entry.id),
        )
        .order_by(Entry.seq)
    )
    return [
        source_for(
            uow,
            store,
            entry_id=entry_id,
            fields=["*"],
            row_filter=None,
            params=params,
            hidden_subject=policy is not ReleasePolicy.ROWS,
        )
        for entry_id in entry_ids
    ]


def _owner(actor: Actor, code: str | None, uow: UnitOfWork) -> str:
    for org_id in sorted(actor.organisation_ids):
        resource = Resource("sandbox_model", None, frozenset({org_id}))
        if can(actor, "sandbox.model.publish", resource):
            return org_id
    if code and can(actor, "sandbox.model.publish"):
        return organisation_by_code(uow, code).id
    raise PermissionDenied(
        "只有数据提供部门可以发布共享模型 (only a data provider may publish a model)"
    )


def publish_model(
    uow: UnitOfWork, store: Datastore, *, actor: Actor, data: ModelCreate
) -> SharedModel:
    """Publish a parameterised query over the owner's own entries as a named model."""
    owner_id = _owner(actor, data.owner_organisation_code, uow)
    taken = uow.session.scalar(
        sa.select(SharedModel.id).where(
            SharedModel.owner_organisation_id == owner_id, SharedModel.name == data.name
        )
    )
    if taken:
        raise Conflict(f"模型名称 {data.name!r} 已被使用 (model name {data.name!r} is taken)")
    policy = data.release_policy
    if policy is ReleasePolicy.AGGREGATE and data.min_group_size is None:
        raise InvalidInput.field("body.min_group_size", "聚合模型需要最小分组 k (needs k)")
    params = data.policy_params.model_dump(mode="json") if data.policy_params else {}
    specs = [p.model_dump(mode="json") for p in data.params]
    sources = _owner_sources(uow, store, owner_id, policy, params)
    bound = guard.bind(data.sql, {p["name"]: _sample(p) for p in specs}, _param_specs(specs))
    plan = guard.check(
        bound,
        [s.spec for s in sources],
        policy=policy.value,
        max_contributions=int(params.get("max_contributions", 1)),
    )
    by_name = {s.view.name: s.entry.id for s in sources}
    now = uow.clock.now()
    model = SharedModel(
        id=new_id("mdl"),
        name=data.name,
        title=data.title,
        description=data.description,
        owner_organisation_id=owner_id,
        sql=data.sql,
        params=specs,
        entry_ids=[by_name[name] for name in plan.tables],
        release_policy=policy.value,
        min_group_size=data.min_group_size,
        policy_params=params,
        status=ModelStatus.PUBLISHED.value,
        created_by_id=actor.user_id or None,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(model)
    uow.session.flush()
    audit(uow, actor, "sandbox.model.publish", "sandbox_model", model.id, after=snapshot(model))
    return model


def get_model(uow: UnitOfWork, *, actor: Actor, model_id: str) -> SharedModel:
    """One model (its query text only for its owner)."""
    authorize(actor, "sandbox.model.read")
    model = uow.session.get(SharedModel, model_id)
    if model is None:
        raise ModelNotFound(f"没有共享模型 {model_id} (no shared model {model_id})")
    return model


def list_models(uow: UnitOfWork, *, actor: Actor) -> list[SharedModel]:
    """Published models, newest first (withdrawn ones too for their owners)."""
    authorize(actor, "sandbox.model.read")
    stmt = sa.select(SharedModel).order_by(SharedModel.created_at.desc()).limit(500)
    return [
        m
        for m in uow.session.scalars(stmt)
        if m.status == ModelStatus.PUBLISHED or m.owner_organisation_id in actor.organisation_ids
    ]


def withdraw_model(uow: UnitOfWork, *, actor: Actor, model_id: str, reason: str) -> SharedModel:
    """Stop a model from running; grants on it stop working."""
    model = get_model(uow, actor=actor, model_id=model_id)
    authorize(
        actor,
        "sandbox.model.publish",
        Resource("sandbox_model", model.id, frozenset({model.owner_organisation_id})),
    )
    before = snapshot(model)
    model.status = ModelStatus.WITHDRAWN.value
    model.updated_at = uow.clock.now()
    audit(uow, actor, "sandbox.model.withdraw", "sandbox_model", model.id, before=before,
          after={**snapshot(model), "reason": reason})  # fmt: skip
    return model


def model_scope(
    uow: UnitOfWork, store: Datastore, *, actor: Actor, model_id: str, grant_id: str
) -> Scope:
    """The model's tables as its owner sees them, under the grantee's grant on the model."""
    grant: Grant = usable_grant(uow, actor=actor, grant_id=grant_id)
    model = get_model(uow, actor=actor, model_id=model_id)
    if grant.entry_ref != model_ref(model.id):
        raise GrantNotUsable(
            f"授权 {grant.id} 不涵盖该模型 (grant does not cover model {model.id})"
        )
    if model.status != ModelStatus.PUBLISHED:
        raise GrantNotUsable(f"模型 {model.name} 已撤回 (model {model.name} was withdrawn)")
    policy = ReleasePolicy(model.release_policy)
    sources = [
        source_for(
            uow,
            store,
            entry_id=entry_id,
            fields=["*"],
            row_filter=None,
            params=model.policy_params,
            hidden_subject=policy is not ReleasePolicy.ROWS,
        )
        for entry_id in model.entry_ids
    ]
    return Scope(
        grant=grant,
        policy=policy,
        sources=sources,
        params=model.policy_params,
        model_id=model.id,
        model_k=model.min_group_size,
    )


def run_model(
    sandbox: Sandbox,
    *,
    actor: Actor,
    model_id: str,
    grant_id: str,
    params: dict[str, Any],
    epsilon: float | None = None,
) -> QueryResult:
    """Run a shared model with parameters; only its released result comes back."""
    with sandbox.uow() as uow:
        model = get_model(uow, actor=actor, model_id=model_id)
        try:
            sql = guard.bind(model.sql, params, _param_specs(model.params))
        except QueryRefused as error:
            record_outcome(
                uow, actor=actor, sql=model.sql, scope=None, grant_id=grant_id,
                outcome=QueryOutcome.REFUSED, error=error, model_id=model.id,
                params={k: str(v) for k, v in params.items()},
            )  # fmt: skip
            uow.commit()
            raise
    return execute(
        sandbox,
        actor=actor,
        sql=sql,
        grant_id=grant_id,
        epsilon=epsilon,
        params={k: str(v) for k, v in params.items()},
        model_id=model_id,
        scope_of=lambda uow: model_scope(
            uow, sandbox.store, actor=actor, model_id=model_id, grant_id=grant_id
        ),
    )
