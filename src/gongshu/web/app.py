"""Mount the web pages on the application: templates, language, CSRF cookie, error pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from gongshu.catalog.pages import console_charts as catalog_charts
from gongshu.catalog.pages import router as catalog_pages
from gongshu.identity.deps import PlatformPort, SessionCodec
from gongshu.identity.pages import router as identity_pages
from gongshu.ledger.pages import router as ledger_pages
from gongshu.opendata.pages import router as open_pages
from gongshu.quality.pages import router as quality_pages
from gongshu.quality.pages_objections import entry_notices as objection_notices
from gongshu.quality.pages_objections import router as objection_pages
from gongshu.sandbox.pages import router as sandbox_pages
from gongshu.web.i18n import LANGUAGES, load_translations
from gongshu.web.middleware import PageMiddleware

__all__ = ["Renderer", "mount_web"]

TEMPLATES = Path(__file__).parent / "templates"


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


def mount_web(app: FastAPI, platform: PlatformPort) -> None:
    """Add the pages, the language and CSRF cookies, and HTML error pages."""
    renderer = Renderer(platform.settings.default_language)
    codec: SessionCodec = app.state.session_codec
    app.state.render = renderer
    app.state.console_charts = [catalog_charts]
    app.state.entry_notices = [objection_notices]
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

    app.add_middleware(
        PageMiddleware,
        codec=codec,
        default_language=renderer.default_language,
        secure=secure,
    )
    app.include_router(identity_pages)
    app.include_router(ledger_pages)
    app.include_router(catalog_pages)
    app.include_router(objection_pages)
    app.include_router(quality_pages)
    app.include_router(sandbox_pages)
    app.include_router(open_pages)
