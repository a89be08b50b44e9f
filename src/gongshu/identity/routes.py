"""HTTP routes of the identity domain under ``/api/v1``: parse, call one service, render."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, status

from gongshu.identity import calendar as calendar_service
from gongshu.identity import grants as grant_service
from gongshu.identity import service, tokens
from gongshu.identity.deps import CurrentActor, UoW, get_platform, page_response
from gongshu.identity.models import GrantStatus, OrgKind, Role
from gongshu.identity.schemas import (
    AccessCheck,
    AccessDecision,
    AuditRead,
    GrantCreate,
    GrantRead,
    GrantStatusChange,
    MembershipIn,
    MeRead,
    OrganisationCreate,
    OrganisationRead,
    TokenCreate,
    TokenIssued,
    TokenRead,
    UserCreate,
    UserRead,
)
from gongshu.kernel.calendar import DayOverride

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")
Limit = Annotated[int, Query(ge=1, le=200)]


def _user_read(uow: Any, user: Any) -> UserRead:
    return UserRead(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        email=user.email,
        active=user.active,
        real_name_verified=user.real_name_verified,
        memberships=service.memberships_of(uow, user.id),
    )


@router.get("/me", tags=["identity"])
async def me(actor: CurrentActor) -> MeRead:
    """Who the caller is, with roles and organisations."""
    return MeRead(
        id=actor.user_id,
        username=actor.username,
        display_name=actor.display_name,
        via=actor.via,
        scopes=sorted(actor.scopes) if actor.scopes is not None else None,
        memberships=list(actor.seats),
    )


@router.get("/organisations", tags=["identity"])
def list_organisations(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    kind: OrgKind | None = None,
    parent_id: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """Organisations, filtered by kind, parent or name."""
    page = service.list_organisations(
        uow, actor=actor, kind=kind, parent_id=parent_id, q=q, cursor=cursor, limit=limit
    )
    items = [OrganisationRead.model_validate(o).model_dump(mode="json") for o in page.items]
    return page_response(request, page, items)


@router.post("/organisations", status_code=status.HTTP_201_CREATED, tags=["identity"])
def create_organisation(
    data: OrganisationCreate, actor: CurrentActor, uow: UoW
) -> OrganisationRead:
    """Register an organisation."""
    return OrganisationRead.model_validate(service.create_organisation(uow, actor=actor, data=data))


@router.get("/organisations/{organisation_id}", tags=["identity"])
def get_organisation(organisation_id: str, actor: CurrentActor, uow: UoW) -> OrganisationRead:
    """One organisation by id or code."""
    return OrganisationRead.model_validate(
        service.get_organisation(uow, actor=actor, organisation_id=organisation_id)
    )


@router.get("/users", tags=["identity"])
def list_users(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    q: str | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """Users (administrators, auditors, security officers)."""
    page = service.list_users(uow, actor=actor, q=q, cursor=cursor, limit=limit)
    items = [_user_read(uow, u).model_dump(mode="json") for u in page.items]
    return page_response(request, page, items)


@router.post("/users", status_code=status.HTTP_201_CREATED, tags=["identity"])
def create_user(data: UserCreate, request: Request, actor: CurrentActor, uow: UoW) -> UserRead:
    """Create a user with roles."""
    user = service.create_user(
        uow, actor=actor, data=data, passwords=get_platform(request).passwords
    )
    return _user_read(uow, user)


@router.get("/users/{user_id}", tags=["identity"])
def get_user(user_id: str, actor: CurrentActor, uow: UoW) -> UserRead:
    """One user by id or username."""
    return _user_read(uow, service.get_user(uow, actor=actor, user_id=user_id))


@router.post("/users/{user_id}/roles", tags=["identity"])
def assign_role(user_id: str, data: MembershipIn, actor: CurrentActor, uow: UoW) -> UserRead:
    """Give a user a role at an organisation."""
    service.assign_role(
        uow, actor=actor, user_id=user_id, organisation_code=data.organisation_code, role=data.role
    )
    return _user_read(uow, service.get_user(uow, actor=actor, user_id=user_id))


@router.delete("/users/{user_id}/roles/{organisation_code}/{role}", tags=["identity"])
def revoke_role(
    user_id: str, organisation_code: str, role: Role, actor: CurrentActor, uow: UoW
) -> UserRead:
    """Take a role away."""
    service.revoke_role(
        uow, actor=actor, user_id=user_id, organisation_code=organisation_code, role=role
    )
    return _user_read(uow, service.get_user(uow, actor=actor, user_id=user_id))


@router.get("/tokens", tags=["tokens"])
def list_tokens(actor: CurrentActor, uow: UoW) -> dict[str, Any]:
    """The caller's API tokens (never their secrets)."""
    mine = tokens.list_tokens(uow, actor=actor)
    return {"data": [TokenRead.model_validate(t).model_dump(mode="json") for t in mine]}


@router.post("/tokens", status_code=status.HTTP_201_CREATED, tags=["tokens"])
def create_token(data: TokenCreate, actor: CurrentActor, uow: UoW) -> TokenIssued:
    """Issue a token; the ``token`` value is shown only in this response."""
    token, raw = tokens.create_token(uow, actor=actor, data=data)
    return TokenIssued.model_validate(
        {**TokenRead.model_validate(token).model_dump(), "token": raw}
    )


@router.delete("/tokens/{token_id}", tags=["tokens"])
def revoke_token(token_id: str, actor: CurrentActor, uow: UoW) -> TokenRead:
    """Revoke a token."""
    return TokenRead.model_validate(tokens.revoke_token(uow, actor=actor, token_id=token_id))


@router.get("/grants", tags=["grants"])
def list_grants(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    organisation_id: str | None = None,
    entry_ref: str | None = None,
    grant_status: Annotated[GrantStatus | None, Query(alias="status")] = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """Grants the caller may see."""
    page = grant_service.list_grants(
        uow,
        actor=actor,
        organisation_id=organisation_id,
        entry_ref=entry_ref,
        status=grant_status,
        cursor=cursor,
        limit=limit,
    )
    now = uow.clock.now()
    return page_response(
        request, page, [GrantRead.of(g, now).model_dump(mode="json") for g in page.items]
    )


@router.post("/grants", status_code=status.HTTP_201_CREATED, tags=["grants"])
def create_grant(data: GrantCreate, actor: CurrentActor, uow: UoW) -> GrantRead:
    """Issue a grant."""
    return GrantRead.of(grant_service.create_grant(uow, actor=actor, data=data), uow.clock.now())


@router.post("/grants/check", tags=["grants"])
def check_grant(data: AccessCheck, actor: CurrentActor, uow: UoW) -> AccessDecision:
    """May the caller get these fields of this entry this way now?"""
    return grant_service.check_access(
        uow,
        actor=actor,
        entry_ref=data.entry_ref,
        fields=data.fields,
        mode=data.mode,
        organisation_id=data.organisation_id,
    )


@router.get("/grants/{grant_id}", tags=["grants"])
def get_grant(grant_id: str, actor: CurrentActor, uow: UoW) -> GrantRead:
    """One grant."""
    return GrantRead.of(
        grant_service.get_grant(uow, actor=actor, grant_id=grant_id), uow.clock.now()
    )


@router.post("/grants/{grant_id}/{transition}", tags=["grants"])
def change_grant(
    grant_id: str, transition: str, data: GrantStatusChange, actor: CurrentActor, uow: UoW
) -> GrantRead:
    """Revoke, suspend or reinstate a grant, with a reason."""
    grant = grant_service.change_status(
        uow, actor=actor, grant_id=grant_id, transition=transition, reason=data.reason
    )
    return GrantRead.of(grant, uow.clock.now())


@router.get("/audit", tags=["audit"])
def search_audit(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    actor_filter: Annotated[str | None, Query(alias="actor")] = None,
    action: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """Search the audit trail (auditors and security officers)."""
    page = service.search_audit(
        uow,
        actor=actor,
        actor_filter=actor_filter,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )
    items = [AuditRead.model_validate(r).model_dump(mode="json") for r in page.items]
    return page_response(request, page, items)


@router.get("/calendar/{year}", tags=["calendar"])
def calendar_year(year: int, actor: CurrentActor, uow: UoW) -> dict[str, object]:
    """A year's schedule status, with the fallback warning when it is missing."""
    return calendar_service.calendar_status(uow, actor=actor, year=year).as_dict()


@router.get("/calendar/deadline/", tags=["calendar"])
def deadline(
    actor: CurrentActor, uow: UoW, start: date, working_days: Annotated[int, Query(ge=0, le=400)]
) -> dict[str, object]:
    """The date ``working_days`` working days after ``start``."""
    return asdict(
        calendar_service.deadline(uow, actor=actor, start=start, working_days=working_days)
    )


@router.put("/calendar/{year}", tags=["calendar"])
def import_calendar_year(
    year: int,
    actor: CurrentActor,
    uow: UoW,
    text: Annotated[str, Body(media_type="text/csv")],
) -> dict[str, object]:
    """Replace a year's holidays and make-up workdays with a CSV (``date,kind,name``)."""
    return calendar_service.import_year(uow, actor=actor, year=year, text=text).as_dict()


@router.put("/calendar/days/{day}", tags=["calendar"])
def set_calendar_day(
    day: date,
    actor: CurrentActor,
    uow: UoW,
    is_workday: Annotated[bool, Body(embed=True)],
    name: Annotated[str, Body(embed=True)] = "",
) -> dict[str, Any]:
    """Mark one day as a holiday or a working day."""
    result = calendar_service.set_day(uow, actor=actor, override=DayOverride(day, is_workday, name))
    return result.as_dict()
