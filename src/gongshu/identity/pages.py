"""Web pages of the identity domain: sign-in, the console per role, tokens, grants, audit.

Pages work without JavaScript: plain forms with a CSRF token, redirects after POST.
Each page has a JSON twin under ``/api/v1``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from gongshu.identity import calendar as calendar_service
from gongshu.identity import grants as grant_service
from gongshu.identity import service, tokens
from gongshu.identity.authz import ACTIONS, Actor, Resource, can
from gongshu.identity.deps import (
    SESSION_COOKIE,
    CurrentActor,
    MaybeActor,
    UoW,
    codec,
    get_platform,
    verify_csrf,
)
from gongshu.identity.models import DeliveryMode, GrantStatus, Organisation, OrgKind, Role
from gongshu.identity.schemas import GrantCreate, MembershipRead, TokenCreate, UserCreate
from gongshu.kernel.calendar import YearStatus
from gongshu.kernel.clock import BEIJING, local_date
from gongshu.kernel.errors import GongshuError, InvalidInput
from gongshu.kernel.text import decode_text
from gongshu.kernel.uow import UnitOfWork

__all__ = [
    "CONSOLE_CHARTS",
    "CONSOLE_TILES",
    "ChartProvider",
    "ConsoleChart",
    "render",
    "router",
    "see_other",
]

router = APIRouter(include_in_schema=False)

# Each role's landing console: (title, description, link or None while the domain is pending).
# ``{org}`` in a link stands for the organisation of the seat the tile is shown for.
CONSOLE_TILES: dict[Role, list[tuple[str, str, str | None]]] = {
    Role.BUREAU_ADMIN: [
        ("机构", "管理区—街道—社区层级与各类机构", "/console/organisations"),
        ("用户与角色", "创建用户、分配角色、停用账号", "/console/users"),
        ("授权管理", "签发、暂停、撤销数据授权", "/console/grants"),
        ("工作日历", "导入节假日与调休安排", "/console/calendar"),
        ("目录治理", "审核与发布数据目录", "/console/catalog/review"),
        ("沙箱查询审查", "复核被标记为疑似差分攻击的沙箱查询", "/console/sandbox/review"),
    ],
    Role.DEPT_OFFICER: [
        ("本部门授权", "查看本部门获得的数据授权", "/console/grants"),
        ("本部门目录", "编制目录、上传数据、答复申请与异议", "/console/catalog?provider={org}"),
        ("沙箱查询", "在可用不可见的沙箱中运行受控查询", "/console/sandbox"),
    ],
    Role.DISTRICT_OFFICER: [
        ("本区授权", "查看本区获得的数据授权", "/console/grants"),
        ("区级目录", "四级目录与数据回流", "/console/catalog/district/{org}"),
        ("沙箱查询", "在可用不可见的沙箱中运行受控查询", "/console/sandbox"),
    ],
    Role.REGISTRAR: [("登记受理", "受理、审核、公示数据资源与产品登记", None)],
    Role.AUTHORITY: [
        ("授权一览", "查看全部数据授权", "/console/grants"),
        ("授权运营", "授权协议、上限收费标准与披露", None),
    ],
    Role.OPERATOR: [
        ("本机构授权", "查看本机构的数据授权", "/console/grants"),
        ("专区与沙箱", "在专区内运行受控查询、管理产品与价格", None),
        ("沙箱查询", "在可用不可见的沙箱中运行受控查询", "/console/sandbox"),
    ],
    Role.PRICE_REGULATOR: [("最高准许收入", "核定最高准许收入与价格报告", None)],
    Role.AUDITOR: [
        ("审计日志", "检索全部操作记录（本人操作除外）", "/console/audit"),
        ("授权一览", "只读查看全部授权", "/console/grants"),
    ],
    Role.SECURITY_OFFICER: [
        ("审计日志", "检索操作记录、复核审计员行为", "/console/audit"),
        ("紧急冻结", "暂停可疑授权", "/console/grants"),
        ("沙箱查询审查", "复核被标记为疑似差分攻击的沙箱查询", "/console/sandbox/review"),
    ],
    Role.PUBLIC: [("数据开放", "检索与下载开放数据、申请数据", None)],
}


# Console charts: title, the label prefix of each bar's key, and where a bar links to.
CONSOLE_CHARTS: dict[str, tuple[str, str, str]] = {
    "grants": ("授权状态分布", "授权状态:", "/console/grants?status="),
    "organisations": ("机构构成", "机构类型:", "/console/organisations?kind="),
    "catalog_status": ("目录状态分布", "目录状态:", "/console/catalog?status="),
    "catalog_theme": ("目录分类分布", "分类:", "/console/catalog?theme="),
}
# One chart as the console draws it: id, title, label prefix, link prefix, counts by key.
ConsoleChart = tuple[str, str, str, str, dict[str, int]]
# Domains above identity add their charts through providers the web adapter registers on
# ``app.state.console_charts``, so identity never imports them.
ChartProvider = Callable[[Actor, UnitOfWork], list[ConsoleChart]]


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render a page through the renderer the web adapter installed."""
    response: HTMLResponse = request.app.state.render(request, name, context, status)
    return response


def see_other(url: str) -> RedirectResponse:
    """The redirect after a POST."""
    return RedirectResponse(url, status_code=303)


def _safe_next(value: str | None) -> str:
    # Only same-site paths: an open redirect would turn the login page into a phishing aid.
    if value and value.startswith("/") and not value.startswith("//"):
        return value
    return "/console"


@router.get("/", response_class=HTMLResponse)
def home(actor: MaybeActor) -> Response:
    """Send visitors to their console or to sign in."""
    return see_other("/console" if actor else "/login")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, actor: MaybeActor, next: str | None = None) -> Response:
    """The sign-in form."""
    if actor is not None:
        return see_other(_safe_next(next))
    return render(request, "login.html", next=_safe_next(next), error=None, username="")


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    uow: UoW,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=500)] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/console",
) -> Response:
    """Check the password, set the session cookie, go to the console."""
    verify_csrf(request, csrf_token)
    platform = get_platform(request)
    try:
        user, _actor = service.login(
            uow,
            username=username,
            password=password,
            passwords=platform.passwords,
            policy=platform.login_policy,
        )
    except GongshuError as exc:
        return render(
            request,
            "login.html",
            next=_safe_next(next),
            error=exc.message,
            username=username[:80],
            status=exc.status,
        )
    response = see_other(_safe_next(next))
    response.set_cookie(
        SESSION_COOKIE,
        codec(request).dumps(user),
        httponly=True,
        samesite="lax",
        max_age=platform.settings.session_max_age_seconds,
        secure=platform.settings.public_url.startswith("https://"),
    )
    return response


@router.post("/logout")
def logout(
    request: Request, actor: MaybeActor, uow: UoW, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """End the session — on the server too, so a copied cookie stops working."""
    verify_csrf(request, csrf_token)
    if actor is not None:
        service.logout(uow, actor=actor)
    response = see_other("/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


def _tiles(seat: MembershipRead) -> list[tuple[str, str, str | None]]:
    """A seat's tiles, their links pointing at the seat's own organisation."""
    return [
        (title, text, link.replace("{org}", seat.organisation_id) if link else None)
        for title, text, link in CONSOLE_TILES.get(seat.role, [])
    ]


@router.get("/console", response_class=HTMLResponse)
def console(request: Request, actor: CurrentActor, uow: UoW) -> Response:
    """The landing console, one section per role the user holds."""
    sections = [(m, _tiles(m)) for m in actor.seats]
    charts: list[ConsoleChart] = []
    if can(actor, "grant.read", Resource("grant")):
        counts = grant_service.grant_counts(uow, actor=actor)
        charts.append(("grants", "授权状态分布", "授权状态:", "/console/grants?status=", counts))
    if can(actor, "organisation.create"):
        counts = service.organisation_counts(uow, actor=actor)
        charts.append(
            ("organisations", "机构构成", "机构类型:", "/console/organisations?kind=", counts)
        )
    providers: list[ChartProvider] = getattr(request.app.state, "console_charts", [])
    for provider in providers:
        charts.extend(provider(actor, uow))
    return render(request, "console.html", actor=actor, sections=sections, charts=charts)


@router.get("/console/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, actor: CurrentActor, uow: UoW) -> Response:
    """The user's API tokens."""
    return render(
        request,
        "tokens.html",
        actor=actor,
        tokens=tokens.list_tokens(uow, actor=actor),
        issued=None,
        now=uow.clock.now(),
    )


@router.post("/console/tokens", response_class=HTMLResponse)
def tokens_create(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    name: Annotated[str, Form()] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    expires_in_days: Annotated[int, Form()] = 90,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Create a token and show its secret once."""
    verify_csrf(request, csrf_token)
    try:
        data = TokenCreate.model_validate(
            {"name": name, "scopes": scopes or ["read"], "expires_in_days": expires_in_days}
        )
    except ValidationError as exc:
        raise InvalidInput(_form_error(exc)) from exc
    _token, raw = tokens.create_token(uow, actor=actor, data=data)
    return render(
        request,
        "tokens.html",
        actor=actor,
        tokens=tokens.list_tokens(uow, actor=actor),
        issued=raw,
        now=uow.clock.now(),
    )


@router.post("/console/tokens/{token_id}/revoke")
def tokens_revoke(
    request: Request,
    token_id: str,
    actor: CurrentActor,
    uow: UoW,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Revoke one of the user's tokens."""
    verify_csrf(request, csrf_token)
    tokens.revoke_token(uow, actor=actor, token_id=token_id)
    return see_other("/console/tokens")


def _organisation_names(uow: UnitOfWork, ids: set[str]) -> dict[str, str]:
    rows = uow.session.execute(
        sa.select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))
    )
    return {i: n for i, n in rows}


def _render_grants(
    request: Request,
    actor: Actor,
    uow: UnitOfWork,
    *,
    cursor: str | None = None,
    status_filter: GrantStatus | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    page = grant_service.list_grants(
        uow, actor=actor, cursor=cursor, status=status_filter, limit=50
    )
    now = uow.clock.now()
    names = _organisation_names(uow, {g.subject_organisation_id for g in page.items})
    rows = [
        (g, g.status_at(now).value, names.get(g.subject_organisation_id, "?")) for g in page.items
    ]
    return render(
        request,
        "grants.html",
        status=status,
        actor=actor,
        rows=rows,
        page=page,
        status_filter=status_filter,
        can_issue=can(actor, "grant.create"),
        can_revoke=can(actor, "grant.revoke"),
        can_suspend=can(actor, "grant.suspend"),
        modes=list(DeliveryMode),
        statuses=list(GrantStatus),
        error=error,
        form=form or {},
    )


@router.get("/console/grants", response_class=HTMLResponse)
def grants_page(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    cursor: str | None = None,
    status: GrantStatus | None = None,
) -> Response:
    """Grants the user may see; administrators also get the issue form."""
    return _render_grants(request, actor, uow, cursor=cursor, status_filter=status)


@router.post("/console/grants", response_class=HTMLResponse)
def grants_create(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    subject_organisation_code: Annotated[str, Form()] = "",
    entry_ref: Annotated[str, Form()] = "",
    fields: Annotated[str, Form()] = "",
    purpose: Annotated[str, Form()] = "",
    scenario: Annotated[str, Form()] = "",
    valid_until: Annotated[str, Form()] = "",
    delivery_modes: Annotated[list[str] | None, Form()] = None,
    min_group_size: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Issue a grant from the form; errors come back on the same page."""
    verify_csrf(request, csrf_token)
    form = {
        "subject_organisation_code": subject_organisation_code,
        "entry_ref": entry_ref,
        "fields": fields,
        "purpose": purpose,
        "scenario": scenario,
        "valid_until": valid_until,
        "min_group_size": min_group_size,
    }
    try:
        until = (
            datetime.combine(datetime.strptime(valid_until, "%Y-%m-%d").date(), time(0), BEIJING)
            if valid_until
            else None
        )
        data = GrantCreate.model_validate(
            {
                "subject_organisation_code": subject_organisation_code,
                "entry_ref": entry_ref,
                "fields": [f.strip() for f in fields.replace("，", ",").split(",") if f.strip()],
                "purpose": purpose,
                "scenario": scenario or None,
                "valid_until": until,
                "delivery_modes": delivery_modes or [],
                "min_group_size": int(min_group_size) if min_group_size.strip() else None,
            }
        )
        grant_service.create_grant(uow, actor=actor, data=data)
    except (ValidationError, ValueError, GongshuError) as exc:
        return _render_grants(request, actor, uow, error=_form_error(exc), form=form, status=422)
    return see_other("/console/grants")


def _form_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    if isinstance(exc, GongshuError):
        return exc.message
    return str(exc)


@router.post("/console/grants/{grant_id}/{transition}")
def grants_transition(
    request: Request,
    grant_id: str,
    transition: str,
    actor: CurrentActor,
    uow: UoW,
    reason: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Revoke, suspend or reinstate a grant from the list."""
    verify_csrf(request, csrf_token)
    grant_service.change_status(
        uow, actor=actor, grant_id=grant_id, transition=transition, reason=reason
    )
    return see_other("/console/grants")


def _render_users(
    request: Request,
    actor: Actor,
    uow: UnitOfWork,
    *,
    q: str | None = None,
    cursor: str | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    page = service.list_users(uow, actor=actor, q=q, cursor=cursor, limit=50)
    rows = [(u, service.memberships_of(uow, u.id)) for u in page.items]
    return render(
        request,
        "users.html",
        status=status,
        actor=actor,
        rows=rows,
        page=page,
        q=q or "",
        roles=list(Role),
        can_manage=can(actor, "user.create"),
        error=error,
        form=form or {},
    )


@router.get("/console/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    q: str | None = None,
    cursor: str | None = None,
) -> Response:
    """Users with their roles; administrators also create and deactivate them here."""
    return _render_users(request, actor, uow, q=q, cursor=cursor)


@router.post("/console/users", response_class=HTMLResponse)
def users_create(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    username: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    organisation_code: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Create a user with one role; errors come back on the same page."""
    verify_csrf(request, csrf_token)
    form = {
        "username": username,
        "display_name": display_name,
        "role": role,
        "organisation_code": organisation_code,
    }
    try:
        data = UserCreate.model_validate(
            {
                "username": username.strip().lower(),
                "display_name": display_name,
                "password": password or None,
                "memberships": [{"organisation_code": organisation_code.strip(), "role": role}],
            }
        )
        service.create_user(uow, actor=actor, data=data, passwords=get_platform(request).passwords)
    except (ValidationError, GongshuError) as exc:
        return _render_users(request, actor, uow, error=_form_error(exc), form=form, status=422)
    return see_other("/console/users")


@router.post("/console/users/{user_id}/deactivate")
def users_deactivate(
    request: Request,
    user_id: str,
    actor: CurrentActor,
    uow: UoW,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Deactivate a user: their sessions and tokens stop working at once."""
    verify_csrf(request, csrf_token)
    service.set_user_active(uow, actor=actor, user_id=user_id, active=False)
    return see_other("/console/users")


@router.get("/console/organisations", response_class=HTMLResponse)
def organisations_page(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    kind: OrgKind | None = None,
    parent_id: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
) -> Response:
    """Organisations, browsable down the district → street → community hierarchy."""
    page = service.list_organisations(
        uow, actor=actor, kind=kind, parent_id=parent_id, q=q, cursor=cursor, limit=100
    )
    parent = (
        service.get_organisation(uow, actor=actor, organisation_id=parent_id) if parent_id else None
    )
    return render(
        request,
        "organisations.html",
        actor=actor,
        page=page,
        kind=kind,
        q=q or "",
        parent=parent,
        kinds=list(OrgKind),
    )


@router.get("/console/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    actor_filter: str | None = None,
    action: str | None = None,
    subject_id: str | None = None,
    cursor: str | None = None,
) -> Response:
    """Search the audit trail."""
    page = service.search_audit(
        uow,
        actor=actor,
        actor_filter=actor_filter,
        action=action,
        subject_id=subject_id,
        cursor=cursor,
        limit=50,
    )
    return render(
        request,
        "audit.html",
        actor=actor,
        page=page,
        filters={
            "actor_filter": actor_filter or "",
            "action": action or "",
            "subject_id": subject_id or "",
        },
        actions=sorted(ACTIONS),
    )


def _render_calendar(
    request: Request,
    actor: Actor,
    uow: UnitOfWork,
    *,
    error: str | None = None,
    notice: YearStatus | None = None,
    status: int = 200,
) -> HTMLResponse:
    today = local_date(uow.clock.now())
    years = [
        calendar_service.calendar_status(uow, actor=actor, year=y)
        for y in (today.year, today.year + 1)
    ]
    deadlines = [
        (n, calendar_service.deadline(uow, actor=actor, start=today, working_days=n).due)
        for n in (1, 2, 10, 20)
    ]
    return render(
        request,
        "calendar.html",
        status=status,
        actor=actor,
        years=years,
        today=today,
        deadlines=deadlines,
        can_edit=can(actor, "calendar.edit"),
        error=error,
        notice=notice,
    )


@router.get("/console/calendar", response_class=HTMLResponse)
def calendar_page(request: Request, actor: CurrentActor, uow: UoW) -> Response:
    """This year's and next year's schedule status, with a deadline calculator."""
    return _render_calendar(request, actor, uow)


@router.post("/console/calendar", response_class=HTMLResponse)
async def calendar_import(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    year: Annotated[int, Form()],
    schedule: Annotated[UploadFile, File()],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Replace a year's schedule from an uploaded CSV (UTF-8 or GB18030)."""
    verify_csrf(request, csrf_token)
    raw = await schedule.read()
    name = schedule.filename or "upload.csv"

    def apply() -> HTMLResponse:
        try:
            text = decode_text(raw, filename=name)
            result = calendar_service.import_year(
                uow, actor=actor, year=year, text=text, filename=name
            )
        except InvalidInput as exc:
            details = exc.details if isinstance(exc.details, list) else []
            lines = [exc.message] + [
                f"row {d.get('row')}, column {d.get('column')}: {d.get('message')}"
                for d in details[1:20]
                if isinstance(d, dict)
            ]
            return _render_calendar(request, actor, uow, error="\n".join(lines), status=422)
        return _render_calendar(request, actor, uow, notice=result)

    return await run_in_threadpool(apply)
