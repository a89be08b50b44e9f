"""Admin verbs: organisations, users, tokens, grants, calendar, audit — each one service call."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import asdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from pydantic import SecretStr
from rich.progress import Progress

from gongshu.bootstrap import Platform
from gongshu.cli.main import (
    audit_app,
    calendar_app,
    emit,
    err,
    grant_app,
    handled,
    org_app,
    state,
    token_app,
    user_app,
)
from gongshu.cli.setup import console_context, platform_for_cli
from gongshu.identity import CONSOLE, service, tokens
from gongshu.identity import calendar as calendar_service
from gongshu.identity import grants as grant_service
from gongshu.identity.authz import Actor
from gongshu.identity.errors import UserNotFound
from gongshu.identity.models import DeliveryMode, GrantStatus, OrgKind, Role, User
from gongshu.identity.schemas import (
    AuditRead,
    GrantCreate,
    GrantRead,
    MembershipIn,
    OrganisationCreate,
    OrganisationRead,
    TokenCreate,
    TokenRead,
    UserCreate,
)
from gongshu.kernel.calendar import DayOverride
from gongshu.kernel.clock import BEIJING
from gongshu.kernel.errors import InvalidInput, NotAuthenticated
from gongshu.kernel.text import decode_text
from gongshu.kernel.uow import UnitOfWork

__all__: list[str] = []


def _actor(uow: UnitOfWork) -> Actor:
    if not state.actor:
        raise NotAuthenticated("pass --as USERNAME (or set GONGSHU_ACTOR) to act as a user")
    user = uow.session.scalar(sa.select(User).where(User.username == state.actor))
    if user is None or not user.active:
        raise UserNotFound(f"no active user {state.actor!r}")
    return service.actor_for_user(uow, user, via="console")


# The ``--today`` option of the daily deadline sweeps (for cron).
Today = Annotated[
    datetime | None,
    typer.Option(formats=["%Y-%m-%d"], help="Count overdue as of this date (default: today)."),
]


def deadline_sweep(sweep: Callable[..., list[str]], today: datetime | None) -> list[str]:
    """Run a daily deadline sweep as ``--as`` USER, or as the local console when no one is
    named (cron), and commit; the ids it marked."""
    platform = platform_for_cli()
    with platform.uow(console_context()) as uow:
        actor = _actor(uow) if state.actor else CONSOLE
        done = sweep(uow, today.date() if today else None, actor=actor)
        uow.commit()
    return done


def _session() -> tuple[Platform, UnitOfWork]:
    platform = platform_for_cli()
    return platform, platform.uow(console_context())


# ---------------------------------------------------------------- organisations

ORG_COLUMNS = ["code", "name", "kind", "division_code", "uscc", "parent_id"]


@org_app.command("list")
def org_list(
    kind: Annotated[OrgKind | None, typer.Option()] = None,
    q: Annotated[str | None, typer.Option(help="Name or code fragment.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    cursor: Annotated[str | None, typer.Option()] = None,
) -> None:
    """List organisations."""
    with handled():
        _platform, uow = _session()
        with uow:
            page = service.list_organisations(
                uow, actor=_actor(uow), kind=kind, q=q, cursor=cursor, limit=limit
            )
            emit([OrganisationRead.model_validate(o) for o in page.items], columns=ORG_COLUMNS)
        if page.next_cursor and not state.json:
            err.print(f"more: --cursor {page.next_cursor}")


@org_app.command("create")
def org_create(
    code: str,
    name: str,
    kind: OrgKind,
    parent: Annotated[str | None, typer.Option(help="Parent organisation code.")] = None,
    division_code: Annotated[str | None, typer.Option()] = None,
    uscc: Annotated[str | None, typer.Option()] = None,
    name_en: Annotated[str, typer.Option()] = "",
) -> None:
    """Register an organisation."""
    with handled():
        _platform, uow = _session()
        with uow:
            org = service.create_organisation(
                uow,
                actor=_actor(uow),
                data=OrganisationCreate(
                    code=code,
                    name=name,
                    kind=kind,
                    parent_code=parent,
                    division_code=division_code,
                    uscc=uscc,
                    name_en=name_en,
                ),
            )
            emit(OrganisationRead.model_validate(org))


@org_app.command("import")
def org_import(path: Path) -> None:
    """Register organisations from CSV: code,name,kind[,parent_code,division_code,uscc,name_en]."""
    with handled():
        text = _read_text(path)
        rows = list(csv.DictReader(io.StringIO(text)))
        items = []
        for number, row in enumerate(rows, start=2):
            try:
                items.append(
                    OrganisationCreate.model_validate(
                        {
                            k: (v or None) if k in {"parent_code", "division_code", "uscc"} else v
                            for k, v in row.items()
                            if k
                        }
                    )
                )
            except ValueError as exc:
                raise InvalidInput(f"{path}, row {number}: {exc}") from exc
        _platform, uow = _session()
        with uow, Progress(console=err, transient=True) as bar:
            task = bar.add_task("import", total=len(items))
            created = service.create_organisations(
                uow,
                actor=_actor(uow),
                items=items,
                progress=lambda n: bar.update(task, completed=n),
            )
        emit({"imported": len(created), "file": str(path)})


def _read_text(path: Path) -> str:
    return decode_text(path.read_bytes(), filename=str(path))


# ---------------------------------------------------------------- users


def _user_row(uow: UnitOfWork, user: User) -> dict[str, Any]:
    roles = [f"{m.role.value}@{m.organisation_code}" for m in service.memberships_of(uow, user.id)]
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "active": user.active,
        "roles": roles,
    }


@user_app.command("list")
def user_list(
    q: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """List users and their roles."""
    with handled():
        _platform, uow = _session()
        with uow:
            page = service.list_users(uow, actor=_actor(uow), q=q, limit=limit)
            emit([_user_row(uow, u) for u in page.items])


@user_app.command("create")
def user_create(
    username: str,
    display_name: str,
    role: Annotated[list[str], typer.Option(help="ROLE@ORG_CODE, repeatable.")],
    password: Annotated[
        str | None, typer.Option(envvar="GONGSHU_NEW_PASSWORD", help="Prompted when absent.")
    ] = None,
) -> None:
    """Create a user with roles."""
    with handled():
        secret = password or typer.prompt("password", hide_input=True, confirmation_prompt=True)
        memberships = [_membership(r) for r in role]
        platform, uow = _session()
        with uow:
            user = service.create_user(
                uow,
                actor=_actor(uow),
                passwords=platform.passwords,
                data=UserCreate(
                    username=username,
                    display_name=display_name,
                    password=SecretStr(secret),
                    memberships=memberships,
                ),
            )
            emit(_user_row(uow, user))


def _membership(text: str) -> MembershipIn:
    role, _, org = text.partition("@")
    if not org:
        raise InvalidInput.field("--role", f"expected ROLE@ORG_CODE, got {text!r}")
    try:
        return MembershipIn(organisation_code=org, role=Role(role))
    except ValueError as exc:
        raise InvalidInput.field("--role", f"unknown role {role!r}") from exc


@user_app.command("add-role")
def user_add_role(username: str, role: str) -> None:
    """Give a user ROLE@ORG_CODE."""
    with handled():
        m = _membership(role)
        _platform, uow = _session()
        with uow:
            service.assign_role(
                uow,
                actor=_actor(uow),
                user_id=username,
                organisation_code=m.organisation_code,
                role=m.role,
            )
            emit(_user_row(uow, service.get_user(uow, actor=_actor(uow), user_id=username)))


@user_app.command("remove-role")
def user_remove_role(username: str, role: str) -> None:
    """Take ROLE@ORG_CODE away from a user."""
    with handled():
        m = _membership(role)
        _platform, uow = _session()
        with uow:
            service.revoke_role(
                uow,
                actor=_actor(uow),
                user_id=username,
                organisation_code=m.organisation_code,
                role=m.role,
            )
            emit(_user_row(uow, service.get_user(uow, actor=_actor(uow), user_id=username)))


@user_app.command("deactivate")
def user_deactivate(username: str) -> None:
    """Deactivate a user (ends their sessions and tokens)."""
    with handled():
        _platform, uow = _session()
        with uow:
            user = service.set_user_active(uow, actor=_actor(uow), user_id=username, active=False)
            emit(_user_row(uow, user))


@user_app.command("bootstrap-admin")
def user_bootstrap_admin(
    username: str,
    display_name: str,
    bureau_code: Annotated[str, typer.Option(help="Code of the data bureau organisation.")],
    bureau_name: Annotated[str, typer.Option(help="Name of the data bureau.")],
    password: Annotated[str | None, typer.Option(envvar="GONGSHU_NEW_PASSWORD")] = None,
) -> None:
    """Register the data bureau and its first administrator on a fresh installation."""
    with handled():
        secret = password or typer.prompt("password", hide_input=True, confirmation_prompt=True)
        platform, uow = _session()
        with uow:
            user = service.bootstrap_admin(
                uow,
                passwords=platform.passwords,
                bureau=OrganisationCreate(code=bureau_code, name=bureau_name, kind=OrgKind.BUREAU),
                data=UserCreate(
                    username=username, display_name=display_name, password=SecretStr(secret)
                ),
            )
            emit(_user_row(uow, user))


# ---------------------------------------------------------------- tokens


@token_app.command("create")
def token_create(
    name: str,
    scope: Annotated[list[str] | None, typer.Option(help="read or write; repeatable.")] = None,
    days: Annotated[int, typer.Option(min=1, max=365)] = 90,
) -> None:
    """Issue an API token for the --as user; the secret is printed once."""
    with handled():
        _platform, uow = _session()
        with uow:
            token, raw = tokens.create_token(
                uow,
                actor=_actor(uow),
                data=TokenCreate.model_validate(
                    {"name": name, "scopes": scope or ["read"], "expires_in_days": days}
                ),
            )
            emit(TokenRead.model_validate(token).model_dump(mode="json") | {"token": raw})


@token_app.command("list")
def token_list() -> None:
    """The --as user's tokens."""
    with handled():
        _platform, uow = _session()
        with uow:
            emit(
                [TokenRead.model_validate(t) for t in tokens.list_tokens(uow, actor=_actor(uow))],
                columns=["id", "name", "scopes", "expires_at", "revoked_at", "last_used_at"],
            )


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    """Revoke a token."""
    with handled():
        _platform, uow = _session()
        with uow:
            emit(
                TokenRead.model_validate(
                    tokens.revoke_token(uow, actor=_actor(uow), token_id=token_id)
                )
            )


# ---------------------------------------------------------------- grants

GRANT_COLUMNS = [
    "id",
    "subject_organisation_id",
    "entry_ref",
    "fields",
    "delivery_modes",
    "valid_until",
    "effective_status",
]


@grant_app.command("list")
def grant_list(
    organisation: Annotated[str | None, typer.Option(help="Organisation id.")] = None,
    entry: Annotated[str | None, typer.Option()] = None,
    status: Annotated[GrantStatus | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """List grants visible to the --as user."""
    with handled():
        _platform, uow = _session()
        with uow:
            page = grant_service.list_grants(
                uow,
                actor=_actor(uow),
                organisation_id=organisation,
                entry_ref=entry,
                status=status,
                limit=limit,
            )
            now = uow.clock.now()
            emit([GrantRead.of(g, now) for g in page.items], columns=GRANT_COLUMNS)


@grant_app.command("create")
def grant_create(
    organisation: Annotated[str, typer.Option(help="Subject organisation code.")],
    entry: Annotated[str, typer.Option(help="Catalogue entry reference.")],
    field: Annotated[list[str], typer.Option(help="Field name, repeatable; * for all.")],
    purpose: Annotated[str, typer.Option()],
    mode: Annotated[list[DeliveryMode], typer.Option(help="api, batch, file, sandbox.")],
    days: Annotated[int, typer.Option(min=1, max=3650, help="Valid for this many days.")] = 365,
    scenario: Annotated[str | None, typer.Option()] = None,
    min_group_size: Annotated[int | None, typer.Option()] = None,
    epsilon: Annotated[float | None, typer.Option(help="Differential-privacy budget.")] = None,
    rate_limit: Annotated[int | None, typer.Option(help="Calls per minute.")] = None,
) -> None:
    """Issue a grant."""
    with handled():
        _platform, uow = _session()
        with uow:
            valid_until = uow.clock.now() + timedelta(days=days)
            grant = grant_service.create_grant(
                uow,
                actor=_actor(uow),
                data=GrantCreate(
                    subject_organisation_code=organisation,
                    entry_ref=entry,
                    fields=field,
                    purpose=purpose,
                    scenario=scenario,
                    valid_until=valid_until,
                    delivery_modes=mode,
                    min_group_size=min_group_size,
                    dp_epsilon_budget=epsilon,
                    rate_limit_per_minute=rate_limit,
                ),
            )
            emit(GrantRead.of(grant, uow.clock.now()))


def _transition(action: Any, grant_id: str, reason: str) -> None:
    with handled():
        _platform, uow = _session()
        with uow:
            grant = action(uow, actor=_actor(uow), grant_id=grant_id, reason=reason)
            emit(GrantRead.of(grant, uow.clock.now()))


@grant_app.command("revoke")
def grant_revoke(grant_id: str, reason: Annotated[str, typer.Option()]) -> None:
    """Revoke a grant."""
    _transition(grant_service.revoke_grant, grant_id, reason)


@grant_app.command("suspend")
def grant_suspend(grant_id: str, reason: Annotated[str, typer.Option()]) -> None:
    """Suspend a grant."""
    _transition(grant_service.suspend_grant, grant_id, reason)


@grant_app.command("reinstate")
def grant_reinstate(grant_id: str, reason: Annotated[str, typer.Option()]) -> None:
    """Lift a suspension."""
    _transition(grant_service.reinstate_grant, grant_id, reason)


@grant_app.command("check")
def grant_check(
    entry: Annotated[str, typer.Option()],
    field: Annotated[list[str], typer.Option()],
    mode: Annotated[DeliveryMode, typer.Option()],
) -> None:
    """May the --as user get these fields of this entry this way now?"""
    with handled():
        _platform, uow = _session()
        with uow:
            decision = grant_service.check_access(
                uow, actor=_actor(uow), entry_ref=entry, fields=field, mode=mode
            )
            emit(decision)
        if not decision.allowed:
            raise typer.Exit(4)


# ---------------------------------------------------------------- calendar


@calendar_app.command("show")
def calendar_show(year: int) -> None:
    """Whether a year's holiday schedule is loaded."""
    with handled():
        _platform, uow = _session()
        with uow:
            status = calendar_service.calendar_status(uow, actor=_actor(uow), year=year)
            emit(status.as_dict())


@calendar_app.command("import")
def calendar_import(year: int, path: Path) -> None:
    """Replace a year's schedule from CSV: date,kind(holiday|workday|休|班),name."""
    with handled():
        text = _read_text(path)
        _platform, uow = _session()
        with uow:
            status = calendar_service.import_year(
                uow, actor=_actor(uow), year=year, text=text, filename=str(path)
            )
            emit(status.as_dict())


@calendar_app.command("set")
def calendar_set(
    day: str, kind: Annotated[str, typer.Argument(help="holiday or workday")], name: str = ""
) -> None:
    """Mark one day as a holiday or a working day."""
    with handled():
        if kind not in {"holiday", "workday"}:
            raise InvalidInput.field("kind", "holiday or workday")
        _platform, uow = _session()
        with uow:
            status = calendar_service.set_day(
                uow,
                actor=_actor(uow),
                override=DayOverride(date.fromisoformat(day), kind == "workday", name),
            )
            emit(status.as_dict())


@calendar_app.command("deadline")
def calendar_deadline(start: str, working_days: int) -> None:
    """The date N working days after START."""
    with handled():
        _platform, uow = _session()
        with uow:
            emit(
                asdict(
                    calendar_service.deadline(
                        uow,
                        actor=_actor(uow),
                        start=date.fromisoformat(start),
                        working_days=working_days,
                    )
                )
            )


# ---------------------------------------------------------------- audit


@audit_app.command("search")
def audit_search(
    actor: Annotated[str | None, typer.Option("--actor")] = None,
    action: Annotated[str | None, typer.Option()] = None,
    subject: Annotated[str | None, typer.Option()] = None,
    since: Annotated[str | None, typer.Option(help="YYYY-MM-DD (Beijing time).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """Search the audit trail (auditors and security officers)."""
    with handled():
        start = (
            datetime.combine(date.fromisoformat(since), datetime.min.time(), BEIJING)
            if since
            else None
        )
        _platform, uow = _session()
        with uow:
            page = service.search_audit(
                uow,
                actor=_actor(uow),
                actor_filter=actor,
                action=action,
                subject_id=subject,
                since=start,
                limit=limit,
            )
            emit(
                [AuditRead.model_validate(r) for r in page.items],
                columns=[
                    "at",
                    "actor_label",
                    "action",
                    "subject_type",
                    "subject_id",
                    "source_address",
                ],
            )
