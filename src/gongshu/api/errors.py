"""One handler per error kind, all producing ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from gongshu.kernel.errors import GongshuError

__all__ = ["install_error_handlers", "validation_details"]

log = logging.getLogger(__name__)

HtmlRenderer = Any  # callable(request, status, code, message) -> Response, set by the web adapter

_HTTP_CODES = {
    400: "malformed_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


def _respond(request: Request, status: int, error: dict[str, Any]) -> Response:
    error.setdefault("details", None)
    renderer = getattr(request.app.state, "html_error_renderer", None)
    if renderer is not None and _wants_html(request):
        response: Response = renderer(request, status, error)
        return response
    headers = {}
    details = error.get("details")
    if isinstance(details, dict) and "retry_after_seconds" in details:
        headers["Retry-After"] = str(details["retry_after_seconds"])
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def validation_details(errors: list[Any]) -> list[dict[str, Any]]:
    """Turn pydantic's errors into ``[{path, message, type}]`` with dotted paths."""
    return [
        {
            "path": ".".join(str(p) for p in e.get("loc", ())),
            "message": e.get("msg", ""),
            "type": e.get("type", ""),
        }
        for e in errors
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Map the error family, validation errors and stray HTTP errors to the envelope."""

    @app.exception_handler(GongshuError)
    async def _gongshu(request: Request, exc: GongshuError) -> Response:
        return _respond(request, exc.status, exc.to_dict())

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        details = validation_details(list(exc.errors()))
        if any(d["type"] == "json_invalid" for d in details):
            return _respond(
                request,
                400,
                {
                    "code": "malformed_request",
                    "message": "请求体不是合法的 JSON (the body is not valid JSON)",
                    "details": details,
                },
            )
        first = details[0] if details else {"path": "-", "message": "invalid"}
        return _respond(
            request,
            422,
            {
                "code": "invalid_input",
                "message": f"{first['path']}: {first['message']}",
                "details": details,
            },
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return _respond(request, exc.status_code, {"code": code, "message": str(exc.detail)})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        request_id = getattr(request.state, "request_id", "-")
        log.exception("unhandled error in request %s", request_id)
        return _respond(
            request,
            500,
            {
                "code": "internal_error",
                "message": f"内部错误 (internal error); quote request id {request_id}",
                "details": {"request_id": request_id},
            },
        )
