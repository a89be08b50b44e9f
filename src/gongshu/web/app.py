"""Mount the web pages on the application: templates, language, CSRF cookie, error pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from gongshu.identity.deps import CSRF_COOKIE, PlatformPort, SessionCodec
from gongshu.identity.pages import router as identity_pages
from gongshu.web.i18n import LANGUAGES, load_translations

__all__ = ["Renderer", "mount_web"]

TEMPLATES = Path(__file__).parent / "templates"
LANG_COOKIE = "gongshu_lang"


class Renderer:
    """Render a template with the request's language, user and CSRF token."""

    def __init__(self, default_language: str) -> None:
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.translations = load_translations()
        self.default_language = default_language

    def __call__(
        self, request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> HTMLResponse:
        language = getattr(request.state, "language", self.default_language)
        translate = self.translations.for_language(language)
        html = self.env.get_template(name).render(
            request=request,
            _=translate,
            gettext=translate,
            language=language,
            languages=LANGUAGES,
            csrf_token=getattr(request.state, "csrf_token", ""),
            **context,
        )
        return HTMLResponse(html, status_code=status)


def _pick_language(request: Request, default: str) -> str:
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if asked in LANGUAGES:
        return asked
    accept = request.headers.get("accept-language", "")
    if accept.lower().startswith("en"):
        return "en"
    return default


def mount_web(app: FastAPI, platform: PlatformPort) -> None:
    """Add the pages, the language and CSRF cookies, and HTML error pages."""
    renderer = Renderer(platform.settings.default_language)
    codec: SessionCodec = app.state.session_codec
    app.state.render = renderer
    secure = platform.settings.public_url.startswith("https://")

    def html_error(request: Request, status: int, error: dict[str, Any]) -> Response:
        if status == 401 and request.method == "GET":
            # A page behind sign-in: go to the login form and come back afterwards.
            target = quote(
                request.url.path + (f"?{request.url.query}" if request.url.query else "")
            )
            return RedirectResponse(f"/login?next={target}", status_code=303)
        return renderer(request, "error.html", {"status": status, "error": error}, status)

    app.state.html_error_renderer = html_error

    @app.middleware("http")
    async def language_and_csrf(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request.state.language = _pick_language(request, renderer.default_language)
        cookie = request.cookies.get(CSRF_COOKIE)
        fresh = None if codec.csrf_valid(cookie) else codec.new_csrf()
        request.state.csrf_token = cookie if fresh is None else fresh
        response = await call_next(request)
        if fresh is not None and not request.url.path.startswith("/api/"):
            response.set_cookie(CSRF_COOKIE, fresh, httponly=True, samesite="lax", secure=secure)
        asked = request.query_params.get("lang")
        if asked in LANGUAGES:
            response.set_cookie(
                LANG_COOKIE, asked, samesite="lax", max_age=365 * 86400, secure=secure
            )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    app.include_router(identity_pages)
