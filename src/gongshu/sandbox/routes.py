"""HTTP routes of the sandbox under ``/api/v1/sandbox``: parse, call, commit, render."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status

from gongshu.identity.deps import CurrentActor, UoW, page_response, request_context
from gongshu.identity.schemas import GrantRead
from gongshu.sandbox import history, service, shared_models
from gongshu.sandbox.schemas import (
    ModelCreate,
    ModelRead,
    ModelRun,
    ModelWithdraw,
    QueryCreate,
    QueryRead,
    QueryReview,
    ResultRead,
)
from gongshu.sandbox.service import QueryResult, Sandbox

__all__ = ["SandboxDep", "result_read", "router"]

router = APIRouter(prefix="/api/v1/sandbox", tags=["sandbox"])


def _sandbox(request: Request) -> Sandbox:
    """The platform's sandbox, its units of work carrying this request's context."""
    platform = request.app.state.platform
    context = request_context(request)
    sandbox: Sandbox = platform.sandbox
    return replace(sandbox, uow=lambda: platform.uow(context))


SandboxDep = Annotated[Sandbox, Depends(_sandbox)]


def result_read(result: QueryResult) -> ResultRead:
    """The API's view of a released result."""
    return ResultRead.model_validate(result, from_attributes=True)


@router.post("/queries")
def run_query(data: QueryCreate, actor: CurrentActor, uow: UoW, sandbox: SandboxDep) -> ResultRead:
    """Run SQL under a sandbox grant; only what the release policy allows comes back."""
    # The request's own transaction (it authenticated the caller) ends here: the query runs
    # its own short ones and must not wait behind this one's lock.
    uow.rollback()
    result = service.run_query(
        sandbox, actor=actor, grant_id=data.grant_id, sql=data.sql, epsilon=data.epsilon
    )
    return result_read(result)


@router.get("/queries")
def list_queries(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    grant_id: str | None = None,
    flagged: bool | None = None,
    outcome: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The query history: one's organisation's, or every query for overseers."""
    page = history.list_queries(
        uow, actor=actor, grant_id=grant_id, flagged=flagged, outcome=outcome,
        cursor=cursor, limit=limit,
    )  # fmt: skip
    return page_response(request, page, [QueryRead.model_validate(q) for q in page.items])


@router.get("/queries/{query_id}")
def get_query(query_id: str, actor: CurrentActor, uow: UoW) -> QueryRead:
    """One recorded query."""
    return QueryRead.model_validate(history.get_query(uow, actor=actor, query_id=query_id))


@router.post("/queries/{query_id}/review")
def review_query(query_id: str, data: QueryReview, actor: CurrentActor, uow: UoW) -> QueryRead:
    """Clear or confirm a differencing flag (confirming may suspend the grant)."""
    query = history.review_query(
        uow, actor=actor, query_id=query_id, decision=data.decision, note=data.note,
        suspend_grant=data.suspend_grant,
    )  # fmt: skip
    uow.commit()
    return QueryRead.model_validate(query)


@router.get("/grants")
def list_grants(actor: CurrentActor, uow: UoW) -> list[GrantRead]:
    """The caller's organisations' active sandbox grants."""
    now = uow.clock.now()
    return [GrantRead.of(g, now) for g in history.sandbox_grants(uow, actor=actor)]


@router.get("/grants/{grant_id}/schema")
def grant_schema(
    grant_id: str, actor: CurrentActor, uow: UoW, sandbox: SandboxDep
) -> dict[str, Any]:
    """The tables and fields a grant lets queries see, its policy, k and budget."""
    view = history.schema_for(uow, sandbox.store, actor=actor, grant_id=grant_id)
    return {
        "grant_id": view.grant.id,
        "policy": view.policy,
        "k": view.k,
        "budget": view.budget,
        "budget_left": view.budget_left,
        "tables": view.tables,
    }


@router.get("/models")
def list_models(actor: CurrentActor, uow: UoW) -> list[ModelRead]:
    """Shared models one may know about."""
    return [ModelRead.model_validate(m) for m in shared_models.list_models(uow, actor=actor)]


@router.post("/models", status_code=status.HTTP_201_CREATED)
def publish_model(
    data: ModelCreate, actor: CurrentActor, uow: UoW, sandbox: SandboxDep
) -> ModelRead:
    """Publish a parameterised query over one's own data as a shared model."""
    model = shared_models.publish_model(uow, sandbox.store, actor=actor, data=data)
    uow.commit()
    return ModelRead.model_validate(model)


@router.get("/models/{model_id}")
def get_model(model_id: str, actor: CurrentActor, uow: UoW) -> ModelRead:
    """One shared model and its parameters."""
    return ModelRead.model_validate(shared_models.get_model(uow, actor=actor, model_id=model_id))


@router.post("/models/{model_id}/withdraw")
def withdraw_model(model_id: str, data: ModelWithdraw, actor: CurrentActor, uow: UoW) -> ModelRead:
    """Withdraw a model; grants on it stop working."""
    model = shared_models.withdraw_model(uow, actor=actor, model_id=model_id, reason=data.reason)
    uow.commit()
    return ModelRead.model_validate(model)


@router.post("/models/{model_id}/runs")
def run_model(
    model_id: str, data: ModelRun, actor: CurrentActor, uow: UoW, sandbox: SandboxDep
) -> ResultRead:
    """Run a shared model with parameters under one's grant on it."""
    uow.rollback()  # as for queries: the run keeps its own short transactions
    result = shared_models.run_model(
        sandbox, actor=actor, model_id=model_id, grant_id=data.grant_id, params=data.params,
        epsilon=data.epsilon,
    )  # fmt: skip
    return result_read(result)
