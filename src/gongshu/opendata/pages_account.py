"""Public account pages: sign-up (signed in at once) and ``/open/account`` — profile, real-name
verification, app keys (created with the secret shown once, listed, revoked) with their usage,
and one's applications, data requests and showcase submissions.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import SecretStr

from gongshu.identity import Actor, Resource, can
from gongshu.identity.deps import (
    SESSION_COOKIE,
    CurrentActor,
    MaybeActor,
    UoW,
    codec,
    get_platform,
    request_context,
    verify_csrf,
)
from gongshu.identity.pages import see_other
from gongshu.kernel.uow import UnitOfWork
from gongshu.opendata import accounts, applications, keys, requests, showcase, usage
from gongshu.opendata.pages_shared import SHOWN_ON_PAGE, FormError, open_page, refusal
from gongshu.opendata.routes import SIGNUPS_PER_MINUTE, open_runtime
from gongshu.opendata.schemas import AccountCreate, AppKeyCreate, RealNameInput

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

Short = Annotated[str, Form(max_length=200)]
LISTED = 20


# --- sign-up -----------------------------------------------------------------------------------


def _render_signup(
    request: Request, values: dict[str, str], error: FormError | None = None
) -> HTMLResponse:
    return open_page(
        request,
        "open_signup.html",
        status=error.status if error else 200,
        actor=None,
        values=values,
        error=error,
    )


@router.get("/open/signup", response_class=HTMLResponse)
def signup_page(request: Request, actor: MaybeActor) -> Response:
    """The registration form (signed-in visitors go to their account)."""
    if actor is not None:
        return see_other("/open/account")
    return _render_signup(request, {})


@router.post("/open/signup", response_class=HTMLResponse)
def signup_submit(
    request: Request,
    uow: UoW,
    csrf_token: Short = "",
    username: Short = "",
    display_name: Short = "",
    email: Short = "",
    password: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Register a public account with its personal organisation, then sign in."""
    verify_csrf(request, csrf_token)
    platform = get_platform(request)
    platform.rate_limiter.hit(
        f"open-signup:{request_context(request).source_address}", SIGNUPS_PER_MINUTE
    )
    values = {"username": username, "display_name": display_name, "email": email}
    try:
        data = AccountCreate.model_validate(
            {"username": username.strip().lower(), "display_name": display_name,
             "email": email, "password": SecretStr(password)}
        )  # fmt: skip
        user, _org = accounts.create_account(uow, data=data, passwords=platform.passwords)
        uow.commit()
    except SHOWN_ON_PAGE as exc:  # a taken username too: it is a Conflict
        uow.rollback()
        return _render_signup(request, values, refusal("signup", exc))
    response = see_other("/open/account?done=welcome")
    response.set_cookie(
        SESSION_COOKIE,
        codec(request).dumps(user),
        httponly=True,
        samesite="lax",
        max_age=platform.settings.session_max_age_seconds,
        secure=platform.settings.public_url.startswith("https://"),
    )
    return response


# --- the account -------------------------------------------------------------------------------


def _render_account(
    request: Request,
    actor: Actor,
    uow: UnitOfWork,
    *,
    issued: str | None = None,
    error: FormError | None = None,
    values: dict[str, Any] | None = None,
    done: str | None = None,
) -> HTMLResponse:
    runtime = open_runtime(request)
    runtime.usage.flush()
    uow.rollback()  # a fresh snapshot that sees the counts just written
    mine: list[Any] = []
    if can(
        actor, "open.application.read", Resource("open_application", owner_user_id=actor.user_id)
    ):
        page = applications.list_applications(uow, actor=actor, mine=True, limit=LISTED)
        mine = applications.describe(uow, actor, page.items)
    asked = requests.list_requests(uow, actor=actor, mine=True, limit=LISTED)
    built = showcase.list_apps(uow, actor=actor, mine=True, limit=LISTED)
    return open_page(
        request,
        "open_account.html",
        status=error.status if error else 200,
        actor=actor,
        account=accounts.account_view(uow, actor=actor),
        keys=keys.list_keys(uow, actor=actor),
        usage={u.key_id: u for u in usage.key_usage(uow, actor=actor)},
        applications=mine,
        requests=requests.describe(uow, actor, asked.items),
        showcase=showcase.describe(uow, actor, built.items),
        issued=issued,
        error=error,
        values=values or {},
        done=done,
    )


@router.get("/open/account", response_class=HTMLResponse)
def account_page(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """Profile, real-name status, app keys with usage, and what one has filed."""
    return _render_account(request, actor, uow, done=done)


@router.post("/open/account/keys", response_class=HTMLResponse)
def key_create(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    csrf_token: Short = "",
    name: Short = "",
) -> Response:
    """Create an app key and show its secret this once."""
    verify_csrf(request, csrf_token)
    try:
        _key, raw = keys.create_key(uow, actor=actor, data=AppKeyCreate(name=name.strip()))
        uow.commit()
    except SHOWN_ON_PAGE as exc:
        uow.rollback()
        return _render_account(
            request, actor, uow, error=refusal("key", exc), values={"name": name}
        )
    return _render_account(request, actor, uow, issued=raw)


@router.post("/open/account/keys/{key_id}/revoke")
def key_revoke(
    request: Request, key_id: str, actor: CurrentActor, uow: UoW, csrf_token: Short = ""
) -> Response:
    """Revoke one of one's keys; calls with it are refused from now on."""
    verify_csrf(request, csrf_token)
    key = keys.revoke_key(uow, actor=actor, key_id=key_id)
    uow.commit()
    open_runtime(request).keys.forget(key.prefix)
    return see_other("/open/account?done=revoked#keys")


@router.post("/open/account/real-name", response_class=HTMLResponse)
def real_name(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    csrf_token: Short = "",
    name: Short = "",
    citizen_id: Short = "",
) -> Response:
    """实名认证: check the citizen ID; neither it nor the name is stored."""
    verify_csrf(request, csrf_token)
    secret = get_platform(request).settings.secret_key.get_secret_value()
    try:
        data = RealNameInput.model_validate({"name": name, "citizen_id": SecretStr(citizen_id)})
        accounts.verify_real_name(uow, actor=actor, data=data, pepper=secret.encode())
        uow.commit()
    except SHOWN_ON_PAGE as exc:  # CitizenIdInvalid, RealNameTaken among them
        uow.rollback()
        return _render_account(request, actor, uow, error=refusal("real_name", exc))
    return see_other("/open/account?done=verified")
