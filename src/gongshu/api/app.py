"""Build the FastAPI application from a platform: routes, middleware, error handlers."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

import gongshu
from gongshu.api.errors import install_error_handlers
from gongshu.api.middleware import BodyLimitMiddleware, RequestIdMiddleware
from gongshu.catalog.routes import dcat_router
from gongshu.catalog.routes import router as catalog_router
from gongshu.datastore.routes import router as datastore_router
from gongshu.identity.deps import PlatformPort, SessionCodec
from gongshu.identity.routes import router as identity_router
from gongshu.kernel.errors import DatabaseUnavailable
from gongshu.ledger.routes import router as ledger_router
from gongshu.opendata.routes import router as open_router
from gongshu.opendata.routes_ckan import router as ckan_router
from gongshu.opendata.routes_engagement import router as open_engagement_router
from gongshu.quality.routes import router as quality_router
from gongshu.quality.routes_objections import router as objections_router
from gongshu.sandbox.routes import router as sandbox_router

__all__ = ["create_api"]


def create_api(platform: PlatformPort) -> FastAPI:
    """The HTTP application with the JSON API mounted under ``/api/v1``."""
    settings = platform.settings
    app = FastAPI(
        title="Gongshu 公数 API",
        version=gongshu.__version__,
        description="City public data platform: identity, grants, catalogue, ledger and more.",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.platform = platform
    app.state.session_codec = SessionCodec(
        settings.secret_key.get_secret_value(), settings.session_max_age_seconds
    )
    install_error_handlers(app)
    app.include_router(identity_router)
    app.include_router(ledger_router)
    app.include_router(catalog_router)
    app.include_router(dcat_router)
    app.include_router(datastore_router)
    app.include_router(quality_router)
    app.include_router(objections_router)
    app.include_router(sandbox_router)
    app.include_router(open_router)
    app.include_router(open_engagement_router)
    app.include_router(ckan_router)

    @app.get("/healthz", tags=["health"])
    def healthz(request: Request) -> Any:
        """Liveness and database reachability."""
        try:
            with platform.uow() as uow:
                uow.session.execute(sa.text("SELECT 1"))
        except sa.exc.OperationalError as exc:
            raise DatabaseUnavailable("database unreachable") from exc
        return JSONResponse({"status": "ok", "version": gongshu.__version__})

    app.add_middleware(
        BodyLimitMiddleware,
        limit=settings.max_body_bytes,
        upload_limit=settings.max_upload_bytes,
        path_limits={"/api/v1/datasets/": settings.max_dataset_bytes},
    )
    app.add_middleware(RequestIdMiddleware)
    return app
