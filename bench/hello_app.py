"""A bare FastAPI hello-world: the baseline the benchmarks measure the platform against.

No middleware, no database, no dependencies: what FastAPI + uvicorn cost on their own.
Served like the platform: ``uvicorn hello_app:create_app --factory --app-dir bench``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

# A body of the same shape and about the same size as the platform's /api/v1/me answer.
ME: dict[str, Any] = {
    "id": "usr_00000000000000000000000000",
    "username": "bureau_admin",
    "display_name": "Hello World",
    "via": "token",
    "scopes": ["read"],
    "memberships": [
        {
            "organisation_id": "org_00000000000000000000000000",
            "organisation_code": "HELLO",
            "organisation_name": "Hello, world",
            "role": "bureau_admin",
        }
    ],
}


def create_app() -> FastAPI:
    """The hello-world application (a factory, as ``gongshu serve`` uses one)."""
    app = FastAPI(title="hello")

    @app.get("/")
    async def hello() -> dict[str, str]:
        return {"message": "Hello, world"}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/me")
    async def me() -> dict[str, Any]:
        return ME

    return app


app = create_app()
