"""HTTP routes of the CKAN-compatible Action API: ``/api/3/action/{action}`` (and ``/api/action``,
which ``ckanapi`` calls), GET with query parameters or POST with a JSON body or a form.

Answers wear CKAN's envelope ``{"help", "success", "result"}``; failures wear CKAN's error
shapes and statuses, not the platform's, since CKAN clients read them:

    unknown action          400  "Bad request - Action name not known: x"  (a JSON string)
    unreadable body         400  "Bad request - JSON Error: …"
    bad fq                  400  {"__type": "Search Query Error", "message"}
    not found / not open    404  {"__type": "Not Found Error", "message"}
    bad parameter           409  {"__type": "Validation Error", "<param>": ["…"]}
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from gongshu.identity.deps import UoW, get_platform
from gongshu.kernel.errors import (
    GongshuError,
    InvalidInput,
    MalformedRequest,
    NotFound,
    PermissionDenied,
)
from gongshu.opendata.ckan import ACTIONS, UnknownAction, call_action
from gongshu.opendata.ckan_query import SearchQueryInvalid
from gongshu.opendata.runtime import runtime_for

__all__ = ["router"]

log = logging.getLogger(__name__)
router = APIRouter(tags=["ckan"])
_JSON = "application/json;charset=utf-8"


def _mixed(items: list[tuple[str, str]]) -> dict[str, Any]:
    """Form or query items as CKAN reads them: one value as is, repeated keys as a list."""
    out: dict[str, Any] = {}
    for key, value in items:
        if key in out:
            previous = out[key]
            out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[key] = value
    return out


async def _request_data(request: Request) -> dict[str, Any]:
    """The action's ``data_dict``; :class:`MalformedRequest` when the body is not an object."""
    if request.method == "GET":
        return _mixed(request.query_params.multi_items())
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        async with request.form() as form:
            fields = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        return _mixed(fields)
    body = await request.body()
    if not body.strip():
        return _mixed(request.query_params.multi_items())
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedRequest(
            f"JSON Error: 请求体不是合法的 JSON (not valid JSON: {exc})"
        ) from exc
    if not isinstance(data, dict):
        raise MalformedRequest(
            "JSON Error: 请求体须为 JSON 对象 (Request data JSON decoded to "
            f"{type(data).__name__} but it needs to be a dictionary)"
        )
    return data


def _envelope(request: Request, action: str) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    return {"help": f"{base}/api/3/action/help_show?{urlencode({'name': action})}"}


def _failure(envelope: dict[str, Any], status: int, error: dict[str, Any]) -> Response:
    body = envelope | {"success": False, "error": error}
    return JSONResponse(body, status_code=status, media_type=_JSON)


def _validation_error(exc: InvalidInput) -> dict[str, Any]:
    """CKAN's ``{"<field>": ["message", …]}`` from the platform's details."""
    error: dict[str, Any] = {"__type": "Validation Error"}
    details = exc.details if isinstance(exc.details, list) else []
    for item in details:
        error.setdefault(str(item.get("path", "data")), []).append(str(item.get("message", "")))
    if len(error) == 1:
        error["message"] = exc.message
    return error


def _error_response(envelope: dict[str, Any], exc: GongshuError) -> Response:
    """One CKAN error shape per kind of failure (see the module docstring)."""
    if isinstance(exc, MalformedRequest) and not isinstance(exc, SearchQueryInvalid):
        return JSONResponse(f"Bad request - {exc.message}", status_code=400, media_type=_JSON)
    if isinstance(exc, SearchQueryInvalid):
        error = {
            "__type": "Search Query Error",
            "message": f"Search Query is invalid: {exc.message}",
        }
        return _failure(envelope, 400, error)
    if isinstance(exc, NotFound):
        return _failure(
            envelope, 404, {"__type": "Not Found Error", "message": f"Not found: {exc.message}"}
        )
    if isinstance(exc, InvalidInput):
        return _failure(envelope, 409, _validation_error(exc))
    if isinstance(exc, PermissionDenied):
        error = {"__type": "Authorization Error", "message": f"Access denied: {exc.message}"}
        return _failure(envelope, 403, error)
    kind = "Internal Server Error" if exc.status >= 500 else exc.code
    return _failure(envelope, exc.status, {"__type": kind, "message": exc.message})


@router.get("/api/3/action/{action}", operation_id="ckan_action_get")
@router.post("/api/3/action/{action}", operation_id="ckan_action_post")
@router.get("/api/action/{action}", include_in_schema=False)
@router.post("/api/action/{action}", include_in_schema=False)
async def ckan_action(action: str, request: Request, uow: UoW) -> Response:
    """Call a CKAN action (package_search, package_show, organization_list, …)."""
    envelope = _envelope(request, action)
    try:
        if action not in ACTIONS:
            raise UnknownAction(f"Action name not known: {action}")
        data = await _request_data(request)
        data.pop("callback", None)  # JSONP is not offered
        base_url = str(request.base_url)
        counts = runtime_for(request.app.state, get_platform(request)).ckan_counts
        result = await run_in_threadpool(
            lambda: call_action(uow, name=action, data=data, base_url=base_url, counts=counts)
        )
    except GongshuError as exc:
        return _error_response(envelope, exc)
    except Exception:
        log.exception("CKAN action %s failed", action)
        error = {"__type": "Internal Server Error", "message": "Internal Server Error"}
        return _failure(envelope, 500, error)
    return JSONResponse(envelope | {"success": True, "result": result}, media_type=_JSON)


@router.get("/api/3", include_in_schema=False)
def ckan_version() -> dict[str, Any]:
    """The API version, as CKAN answers its API root."""
    return {"version": 3}
