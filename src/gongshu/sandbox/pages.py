"""Sandbox console pages under ``/console/sandbox``: one's grants; the query console (schema
browser, SQL editor, result table and chart, budget, history); the review of flagged queries;
shared models with their parameter forms.

Pages work without JavaScript: the editor is a plain form whose POST runs the query through
:func:`gongshu.sandbox.service.run_query` and renders the same page with the result or the
refusal, the SQL kept in the editor. A little JavaScript inserts names from the schema browser,
loads earlier queries back into the editor and runs on Ctrl+Enter. The JSON twins are the routes
under ``/api/v1/sandbox``. The services check every right; ``can`` here only decides what to show.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from gongshu.catalog.models import Entry
from gongshu.catalog.pages_shared import when
from gongshu.catalog.resolve import invalid_from_validation
from gongshu.identity import Actor, Organisation, can
from gongshu.identity.authz import Resource, authorize
from gongshu.identity.deps import CurrentActor, UoW, verify_csrf
from gongshu.identity.errors import GrantNotFound
from gongshu.identity.models import Grant, User
from gongshu.identity.pages import render, see_other
from gongshu.kernel.errors import Conflict, GongshuError, InvalidInput
from gongshu.kernel.uow import UnitOfWork
from gongshu.sandbox import history, service, shared_models
from gongshu.sandbox.errors import BudgetExhausted, GrantNotUsable, QueryFailed, QueryRefused
from gongshu.sandbox.models import SandboxQuery, SharedModel
from gongshu.sandbox.routes import SandboxDep
from gongshu.sandbox.schemas import MAX_SQL, QueryReview
from gongshu.sandbox.service import QueryResult, Sandbox

__all__ = ["ResultChart", "first_line", "parse_epsilon", "result_chart", "router"]

router = APIRouter(include_in_schema=False)

HISTORY_SHOWN = 20
REVIEW_PAGE = 50
# More bars than this make a chart nobody reads; the table still shows every row.
MAX_BARS = 40
# Errors a query can end in that leave the page usable: shown in the console, not on an error page.
_SHOWN_ON_PAGE = (QueryRefused, QueryFailed, BudgetExhausted)

Sql = Annotated[str, Form(max_length=10 * MAX_SQL)]
Short = Annotated[str, Form(max_length=200)]


# --- pure helpers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultChart:
    """A result drawn as bars by ``_charts.html``: one bar per row, keyed by its label."""

    title: str
    key_column: str
    value_column: str
    counts: dict[str, int | float]
    labels: list[str]  # each row's key label, in row order (anchors of the table rows)
    clamped: bool  # some values were negative and are drawn as 0


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numeric(rows: Sequence[Sequence[Any]], index: int) -> bool:
    present = [row[index] for row in rows if row[index] is not None]
    return bool(present) and all(_is_number(v) for v in present)


def _label(value: Any) -> str:
    return "—" if value is None else str(value)


def result_chart(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> ResultChart | None:
    """A bar chart of a result with one text (key) column and a numeric one, else None.

    With only numeric columns, a two-column result is read as key and value (e.g. a birth year
    and a count). Keys must be distinct; negative values (DP noise) are drawn as 0.
    """
    if not rows or len(rows) > MAX_BARS or len(columns) < 2:
        return None
    texts = [i for i in range(len(columns)) if not _numeric(rows, i)]
    if len(texts) > 1:
        return None
    key = texts[0] if texts else (0 if len(columns) == 2 else None)
    if key is None:
        return None
    value = next((i for i in range(len(columns)) if i != key and _numeric(rows, i)), None)
    if value is None:
        return None
    labels = [_label(row[key]) for row in rows]
    if len(set(labels)) != len(labels):
        return None
    counts: dict[str, int | float] = {}
    clamped = False
    for label, row in zip(labels, rows, strict=True):
        number = row[value] or 0
        if number < 0:
            number, clamped = 0, True
        counts[label] = round(number, 2) if isinstance(number, float) else number
    return ResultChart(
        title=f"{columns[value]} · {columns[key]}",
        key_column=columns[key],
        value_column=columns[value],
        counts=counts,
        labels=labels,
        clamped=clamped,
    )


def first_line(sql: str, width: int = 80) -> str:
    """The first non-blank line of a query, cut to ``width`` characters, for history lists."""
    line = next((part.strip() for part in sql.splitlines() if part.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"


def parse_epsilon(text: str) -> float | None:
    """The epsilon field: blank means the grant's default; the service checks the range."""
    if not text.strip():
        return None
    try:
        return float(text.strip())
    except ValueError:
        raise InvalidInput.field(
            "epsilon", f"ε 须为数字 (epsilon must be a number, got {text.strip()[:20]!r})"
        ) from None


def _refusal(error: GongshuError) -> dict[str, Any]:
    """What the alert shows: the precise code, the message, and where in the SQL."""
    details = error.details if isinstance(error.details, dict) else {}
    return {
        "code": getattr(error, "reason", None) or error.code,
        "message": error.message,
        "construct": details.get("construct"),
        "line": details.get("line"),
        "column": details.get("column"),
    }


# --- look-ups the pages need ------------------------------------------------------------------


def _names(uow: UnitOfWork, model: Any, ids: Collection[str | None], label: Any) -> dict[str, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = uow.session.execute(sa.select(model.id, label).where(model.id.in_(wanted)))
    return {row_id: name for row_id, name in rows}


def _owned_grant(uow: UnitOfWork, actor: Actor, grant_id: str) -> Grant:
    """The actor's organisation's sandbox grant; anything else is simply not there."""
    grant = uow.session.get(Grant, grant_id)
    if (
        grant is None
        or grant.subject_organisation_id not in actor.organisation_ids
        or not grant.release_policy
    ):
        raise GrantNotFound(f"没有沙箱授权 {grant_id} (no sandbox grant {grant_id})")
    return grant


def _model_of(grant: Grant) -> str | None:
    """The shared model a grant lets its holder run (None for a grant on an entry)."""
    prefix = shared_models.model_ref("")
    return grant.entry_ref.removeprefix(prefix) if grant.entry_ref.startswith(prefix) else None


def _history(uow: UnitOfWork, actor: Actor, grant_id: str) -> list[SandboxQuery]:
    """The actor's own recent queries under a grant (colleagues' are theirs to read)."""
    page = history.list_queries(uow, actor=actor, grant_id=grant_id, limit=100)
    return [q for q in page.items if q.actor_id == actor.user_id][:HISTORY_SHOWN]


# --- the grant list ---------------------------------------------------------------------------


@router.get("/console/sandbox", response_class=HTMLResponse)
def grants_page(request: Request, actor: CurrentActor, uow: UoW) -> Response:
    """The organisation's sandbox grants: policy, k, budget left, validity; choose one."""
    grants = history.sandbox_grants(uow, actor=actor)
    now = uow.clock.now()
    rows = [
        {
            "grant": g,
            "model_id": _model_of(g),
            "budget_left": service.budget_left(uow, g),
            "pending": g.valid_from > now,
        }
        for g in grants
    ]
    refs = [g.entry_ref for g in grants]
    model_ids = [_model_of(g) for g in grants]
    return render(
        request,
        "sandbox.html",
        actor=actor,
        rows=rows,
        entries=_names(uow, Entry, refs, Entry.name),
        codes=_names(uow, Entry, refs, Entry.resource_code),
        models=_names(uow, SharedModel, model_ids, SharedModel.title),
        may_review=can(actor, "sandbox.review"),
        may_see_models=can(actor, "sandbox.model.read"),
        when=when,
    )


# --- the review of flagged queries ------------------------------------------------------------


def _render_review(
    request: Request,
    actor: Actor,
    uow: UnitOfWork,
    *,
    cursor: str | None = None,
    done: str | None = None,
    error: str | None = None,
    failed: str | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    authorize(actor, "sandbox.review")
    page = history.list_queries(uow, actor=actor, flagged=True, cursor=cursor, limit=REVIEW_PAGE)
    queries = page.items
    people = [q.actor_id for q in queries] + [q.reviewed_by_id for q in queries]
    return render(
        request,
        "sandbox_review.html",
        status=status,
        actor=actor,
        queries=queries,
        next_cursor=page.next_cursor,
        people=_names(uow, User, people, User.display_name),
        orgs=_names(uow, Organisation, [q.organisation_id for q in queries], Organisation.name),
        done=done,
        error=error,
        failed=failed,
        form=form or {},
        when=when,
    )


@router.get("/console/sandbox/review", response_class=HTMLResponse)
def review_page(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    cursor: str | None = None,
    done: str | None = None,
) -> Response:
    """Queries flagged as differencing, with why and their SQL; clear or confirm each."""
    return _render_review(request, actor, uow, cursor=cursor, done=done)


@router.post("/console/sandbox/review/{query_id}", response_class=HTMLResponse)
def review_submit(
    request: Request,
    query_id: str,
    actor: CurrentActor,
    uow: UoW,
    csrf_token: Short = "",
    decision: Short = "",
    note: Annotated[str, Form(max_length=1000)] = "",
    suspend_grant: Annotated[bool, Form()] = False,
) -> Response:
    """Clear or confirm a flag (confirming may suspend the grant); errors come back on the page."""
    verify_csrf(request, csrf_token)
    try:
        data = QueryReview.model_validate(
            {"decision": decision, "note": note.strip(), "suspend_grant": suspend_grant}
        )
        history.review_query(
            uow, actor=actor, query_id=query_id, decision=data.decision, note=data.note,
            suspend_grant=data.suspend_grant,
        )  # fmt: skip
    except ValidationError as exc:
        message, status = invalid_from_validation(exc, "review").message, 422
    except (InvalidInput, Conflict) as exc:
        message, status = exc.message, exc.status
    else:
        uow.commit()
        return see_other(f"/console/sandbox/review?done={query_id}#q-{query_id}")
    uow.rollback()
    form = {"decision": decision, "note": note, "suspend_grant": suspend_grant}
    return _render_review(
        request, actor, uow, error=message, failed=query_id, form=form, status=status
    )


# --- shared models ----------------------------------------------------------------------------


@router.get("/console/sandbox/models", response_class=HTMLResponse)
def models_page(request: Request, actor: CurrentActor, uow: UoW) -> Response:
    """Published shared models, and which of them one's grants let one run."""
    found = shared_models.list_models(uow, actor=actor)
    runnable = {_model_of(g) for g in history.sandbox_grants(uow, actor=actor)} - {None}
    return render(
        request,
        "sandbox_models.html",
        actor=actor,
        models=found,
        runnable=runnable,
        owners=_names(uow, Organisation, [m.owner_organisation_id for m in found],
                      Organisation.name),
        when=when,
    )  # fmt: skip


def _render_model(
    request: Request,
    actor: Actor,
    uow: UnitOfWork,
    model_id: str,
    *,
    grant_id: str | None = None,
    values: dict[str, str] | None = None,
    epsilon: str = "",
    result: QueryResult | None = None,
    error: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    model = shared_models.get_model(uow, actor=actor, model_id=model_id)
    grants = [
        g
        for g in history.sandbox_grants(uow, actor=actor)
        if g.entry_ref == shared_models.model_ref(model.id)
    ]
    chosen = grant_id or (grants[0].id if grants else None)
    owner = model.owner_organisation_id
    may_run = any(
        can(actor, "sandbox.query", Resource("grant", g.id, frozenset({g.subject_organisation_id})))
        for g in grants
    )
    return render(
        request,
        "sandbox_model.html",
        status=status,
        actor=actor,
        model=model,
        owner_name=_names(uow, Organisation, [owner], Organisation.name).get(owner, owner),
        show_sql=owner in actor.organisation_ids,  # the query text is its owner's
        grants=grants,
        chosen=chosen,
        budgets={g.id: service.budget_left(uow, g) for g in grants},
        may_run=may_run,
        values=values or {},
        epsilon=epsilon,
        result=result,
        chart=result_chart(result.columns, result.rows) if result else None,
        error=error,
        when=when,
    )


@router.get("/console/sandbox/models/{model_id}", response_class=HTMLResponse)
def model_page(
    request: Request, model_id: str, actor: CurrentActor, uow: UoW, grant: str | None = None
) -> Response:
    """One shared model: what it computes, its parameters, and Run for its grantees."""
    return _render_model(request, actor, uow, model_id, grant_id=grant)


@router.post("/console/sandbox/models/{model_id}", response_class=HTMLResponse)
async def model_run(
    request: Request, model_id: str, actor: CurrentActor, uow: UoW, sandbox: SandboxDep
) -> Response:
    """Run a model with the form's parameters; the result or the refusal on the same page."""
    form = await request.form()
    text = {k: v for k, v in form.items() if isinstance(v, str)}
    verify_csrf(request, text.get("csrf_token"))

    def run() -> HTMLResponse:
        model = shared_models.get_model(uow, actor=actor, model_id=model_id)
        values = {p["name"]: text.get(f"param_{p['name']}", "")[:1000] for p in model.params or []}
        # Form text goes as it is: the guard parses each value strictly by its declared type.
        params: dict[str, Any] = {
            name: value.strip() for name, value in values.items() if value.strip()
        }
        grant_id = text.get("grant_id", "")[:40]
        epsilon = text.get("epsilon", "")[:40]
        # The run records in its own transactions: hold no transaction open while it runs.
        uow.rollback()
        result, error, status = None, None, 200
        try:
            result = shared_models.run_model(
                sandbox, actor=actor, model_id=model_id, grant_id=grant_id, params=params,
                epsilon=parse_epsilon(epsilon),
            )  # fmt: skip
        except (*_SHOWN_ON_PAGE, GrantNotUsable, InvalidInput) as exc:
            error, status = _refusal(exc), exc.status
        return _render_model(
            request, actor, uow, model_id, grant_id=grant_id or None, values=values,
            epsilon=epsilon, result=result, error=error, status=status,
        )  # fmt: skip

    return await run_in_threadpool(run)


# --- the query console ------------------------------------------------------------------------


def _render_console(
    request: Request,
    actor: Actor,
    uow: UnitOfWork,
    sandbox: Sandbox,
    grant_id: str,
    *,
    sql: str = "",
    epsilon: str = "",
    result: QueryResult | None = None,
    error: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    view = history.schema_for(uow, sandbox.store, actor=actor, grant_id=grant_id)
    params = view.grant.policy_params or {}
    first = view.tables[0]["name"] if view.tables else None
    return render(
        request,
        "sandbox_console.html",
        status=status,
        actor=actor,
        view=view,
        grant=view.grant,
        sql=sql,
        example=f'SELECT count(*) AS n FROM "{first}"' if first else "",
        epsilon=epsilon or str(params.get("epsilon_per_query", 0.5)),
        result=result,
        chart=result_chart(result.columns, result.rows) if result else None,
        error=error,
        queries=_history(uow, actor, grant_id),
        first_line=first_line,
        when=when,
    )


@router.get("/console/sandbox/{grant_id}", response_class=HTMLResponse)
def console_page(
    request: Request,
    grant_id: str,
    actor: CurrentActor,
    uow: UoW,
    sandbox: SandboxDep,
    query: str | None = None,
) -> Response:
    """The console of one grant; ``?query=`` loads an earlier query's SQL into the editor."""
    grant = _owned_grant(uow, actor, grant_id)
    model_id = _model_of(grant)
    if model_id:
        return see_other(f"/console/sandbox/models/{model_id}?grant={grant.id}")
    sql = ""
    if query:
        earlier = history.get_query(uow, actor=actor, query_id=query)
        sql = earlier.sql if earlier.grant_id == grant.id else ""
    return _render_console(request, actor, uow, sandbox, grant_id, sql=sql)


@router.post("/console/sandbox/{grant_id}", response_class=HTMLResponse)
def console_run(
    request: Request,
    grant_id: str,
    actor: CurrentActor,
    uow: UoW,
    sandbox: SandboxDep,
    csrf_token: Short = "",
    sql: Sql = "",
    epsilon: Short = "",
) -> Response:
    """Run the editor's SQL; the same page with the result (200) or the refusal (4xx)."""
    verify_csrf(request, csrf_token)
    owned = (grant := uow.session.get(Grant, grant_id)) is not None and (
        grant.subject_organisation_id in actor.organisation_ids
    )
    # The query records itself in its own transactions: hold none of ours open while the worker
    # runs (a writing transaction on SQLite would hold the database's write lock).
    uow.rollback()
    result, error, status = None, None, 200
    try:
        result = service.run_query(
            sandbox,
            actor=actor,
            grant_id=grant_id,
            sql=sql,
            epsilon=parse_epsilon(epsilon) if epsilon else None,
        )
    except GrantNotUsable:
        if not owned:
            # Recorded as refused by the service; the page reveals nothing about the grant.
            raise GrantNotFound(f"没有沙箱授权 {grant_id} (no sandbox grant {grant_id})") from None
        raise
    except (*_SHOWN_ON_PAGE, InvalidInput) as exc:
        error, status = _refusal(exc), exc.status
    return _render_console(
        request, actor, uow, sandbox, grant_id, sql=sql, epsilon=epsilon, result=result,
        error=error, status=status,
    )  # fmt: skip
