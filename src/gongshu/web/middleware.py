"""Page middleware (plain ASGI, so the JSON API pays nothing): language, CSRF cookie, headers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gongshu.identity.deps import CSRF_COOKIE, SessionCodec
from gongshu.web.i18n import LANGUAGES

__all__ = ["LANG_COOKIE", "PageMiddleware", "pick_language"]

LANG_COOKIE = "gongshu_lang"
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


def pick_language(request: Request, default: str) -> str:
    """``?lang=``, then the language cookie, then ``Accept-Language``, then the default."""
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if asked in LANGUAGES:
        return asked
    accept = request.headers.get("accept-language", "")
    if accept.lower().startswith("en"):
        return "en"
    return default


class PageMiddleware:
    """For pages: choose the language, keep a signed CSRF cookie, add security headers."""

    def __init__(
        self, app: ASGIApp, *, codec: SessionCodec, default_language: str, secure: bool
    ) -> None:
        self.app = app
        self.codec = codec
        self.default_language = default_language
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        state = scope.setdefault("state", {})
        state["language"] = pick_language(request, self.default_language)
        cookie = request.cookies.get(CSRF_COOKIE)
        fresh = None if self.codec.csrf_valid(cookie) else self.codec.new_csrf()
        state["csrf_token"] = cookie if fresh is None else fresh
        cookies = Response()
        if fresh is not None:
            cookies.set_cookie(
                CSRF_COOKIE, fresh, httponly=True, samesite="lax", secure=self.secure
            )
        asked = request.query_params.get("lang")
        if asked in LANGUAGES:
            cookies.set_cookie(
                LANG_COOKIE, asked, samesite="lax", max_age=365 * 86400, secure=self.secure
            )
        extra = [h for h in cookies.raw_headers if h[0] == b"set-cookie"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in _SECURITY_HEADERS if h[0] not in present)
                headers.extend(extra)
            await send(message)

        await self.app(scope, receive, send_with_headers)
