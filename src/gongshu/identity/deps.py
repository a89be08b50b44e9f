"""HTTP dependencies every domain's routes share: the unit of work and the current actor.

The platform object is reached through ``request.app.state.platform`` and described by a
Protocol here, so domains never import the composition root.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import AsyncIterator
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from gongshu.identity.authz import Actor
from gongshu.identity.errors import TokenInvalid
from gongshu.identity.models import User
from gongshu.identity.passwords import PasswordHasher
from gongshu.identity.service import LoginPolicy, actor_for_user
from gongshu.identity.tokens import authenticate_token
from gongshu.kernel.errors import NotAuthenticated, PermissionDenied
from gongshu.kernel.ratelimit import RateLimiter
from gongshu.kernel.settings import Settings
from gongshu.kernel.uow import RequestContext, UnitOfWork

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "CurrentActor",
    "MaybeActor",
    "PlatformPort",
    "SessionCodec",
    "UoW",
    "csrf_token",
    "get_platform",
    "page_response",
    "request_context",
    "verify_csrf",
]

SESSION_COOKIE = "gongshu_session"
CSRF_COOKIE = "gongshu_csrf"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class PlatformPort(Protocol):
    """What adapters need from the composition root."""

    settings: Settings
    passwords: PasswordHasher
    login_policy: LoginPolicy
    rate_limiter: RateLimiter

    def uow(self, context: RequestContext | None = None, *, writes: bool = True) -> UnitOfWork:
        """A fresh unit of work."""
        ...


class SessionCodec:
    """Signed, expiring session cookies: ``{"uid", "v"}`` where v is the user's session version."""

    def __init__(self, secret: str, max_age: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="gongshu-session")
        self._csrf = URLSafeTimedSerializer(secret, salt="gongshu-csrf")
        self.max_age = max_age

    def dumps(self, user: User) -> str:
        """The cookie value for ``user``."""
        return self._serializer.dumps({"uid": user.id, "v": user.session_version})

    def loads(self, value: str) -> dict[str, Any] | None:
        """The session payload, or None when tampered with or expired."""
        try:
            data = self._serializer.loads(value, max_age=self.max_age)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None

    def new_csrf(self) -> str:
        """A fresh signed CSRF token for the double-submit cookie."""
        return self._csrf.dumps(secrets.token_urlsafe(16))

    def csrf_valid(self, value: str | None) -> bool:
        """True when ``value`` is a CSRF token this server signed."""
        if not value:
            return False
        try:
            self._csrf.loads(value, max_age=self.max_age)
        except BadSignature:
            return False
        return True


def get_platform(request: Request) -> PlatformPort:
    """The platform the app was built with."""
    platform: PlatformPort = request.app.state.platform
    return platform


def codec(request: Request) -> SessionCodec:
    """The session codec built at start-up."""
    value: SessionCodec = request.app.state.session_codec
    return value


def request_context(request: Request) -> RequestContext:
    """Request id, source address and language, for the audit trail."""
    return RequestContext(
        request_id=getattr(request.state, "request_id", "-"),
        source_address=request.client.host if request.client else "-",
        language=getattr(request.state, "language", "zh"),
    )


async def _uow(request: Request) -> AsyncIterator[UnitOfWork]:
    # Async on purpose: opening and closing a unit of work is cheap (the connection is
    # taken lazily by the first query, in the worker thread of the sync code that runs
    # it), so this saves two thread-pool hops on every request.
    writes = request.method in UNSAFE_METHODS
    with get_platform(request).uow(request_context(request), writes=writes) as uow:
        yield uow


UoW = Annotated[UnitOfWork, Depends(_uow)]


def csrf_token(request: Request) -> str:
    """The CSRF token of this browser, set as a cookie by the web middleware."""
    token: str = getattr(request.state, "csrf_token", "")
    return token


def verify_csrf(request: Request, submitted: str | None) -> None:
    """Refuse an unsafe request whose submitted token does not match the cookie."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if (
        not submitted
        or not cookie
        or not hmac.compare_digest(submitted, cookie)
        or not codec(request).csrf_valid(cookie)
    ):
        raise PermissionDenied(
            "表单已过期或来源不明，请刷新后重试 (CSRF check failed; reload the page and retry)",
            details={"code": "csrf_failed"},
        )


def _session_actor(request: Request, uow: UnitOfWork) -> Actor | None:
    value = request.cookies.get(SESSION_COOKIE)
    if not value:
        return None
    data = codec(request).loads(value)
    if data is None:
        return None
    user = uow.session.get(User, data.get("uid"))
    if user is None or not user.active or user.session_version != data.get("v"):
        return None
    return actor_for_user(uow, user)


def _optional_actor(request: Request, uow: UoW) -> Actor | None:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise TokenInvalid("Authorization must be 'Bearer <token>'")
        bearer = authenticate_token(uow, raw.strip())
        platform = get_platform(request)
        platform.rate_limiter.hit(
            f"token:{bearer.token_id}", platform.settings.token_rate_limit_per_minute
        )
        return bearer
    actor = _session_actor(request, uow)
    if (
        actor is not None
        and request.method in UNSAFE_METHODS
        and request.url.path.startswith("/api/")
    ):
        # A browser session calling the JSON API must prove the call came from our pages.
        verify_csrf(request, request.headers.get("x-csrf-token"))
    return actor


async def _required_actor(actor: Annotated[Actor | None, Depends(_optional_actor)]) -> Actor:
    if actor is None:
        raise NotAuthenticated("请先登录 (sign in or send a Bearer token)")
    return actor


MaybeActor = Annotated[Actor | None, Depends(_optional_actor)]
CurrentActor = Annotated[Actor, Depends(_required_actor)]


def page_response(request: Request, page: Any, items: list[Any]) -> dict[str, Any]:
    """The list envelope ``{data, meta, links}`` with the next page's URL."""
    links: dict[str, str | None] = {"self": str(request.url), "next": None}
    if page.next_cursor:
        links["next"] = str(request.url.include_query_params(cursor=page.next_cursor))
    return {
        "data": items,
        "meta": {"limit": page.limit, "count": len(items), "next_cursor": page.next_cursor},
        "links": links,
    }
