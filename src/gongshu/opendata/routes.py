"""The open API under ``/api/v1/open``: accounts, app keys, rows, downloads, usage and figures.

Routes parse, call one service, commit where something changed, and render. The row endpoint
is the hot path: its key and entry come from memory when recently seen, its rows from the
thread's DuckDB cursor, and its count goes to the in-memory usage recorder.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse

from gongshu.identity.deps import CurrentActor, UoW, get_platform, request_context
from gongshu.identity.models import DeliveryMode
from gongshu.kernel.clock import BEIJING
from gongshu.kernel.errors import NotFound
from gongshu.kernel.uow import UnitOfWork
from gongshu.opendata import accounts, keys, usage
from gongshu.opendata.access import OpenAccess, open_access
from gongshu.opendata.downloads import (
    DOWNLOAD_FORMATS,
    MEDIA_TYPES,
    content_disposition,
    data_package,
    package_name,
)
from gongshu.opendata.errors import AccessNotGranted, AppKeyRequired, QuotaExhausted
from gongshu.opendata.keys import KeyInfo
from gongshu.opendata.openapi import dataset_openapi
from gongshu.opendata.rows import KEY_PARAMETER, dumps, parse_query, read_page, stream_rows
from gongshu.opendata.runtime import OpenRuntime, runtime_for
from gongshu.opendata.schemas import (
    AccountCreate,
    AccountRead,
    AppKeyCreate,
    AppKeyIssued,
    AppKeyRead,
    OpenStats,
    RealNameInput,
)

__all__ = ["KEY_HEADER", "Runtime", "open_runtime", "router"]

router = APIRouter(prefix="/api/v1/open", tags=["open data"])
KEY_HEADER = "x-app-key"
SIGNUPS_PER_MINUTE = 10  # per source address
_STREAM_TYPES = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}


def open_runtime(request: Request) -> OpenRuntime:
    """The open API's runtime of this application."""
    return runtime_for(request.app.state, get_platform(request))


async def _runtime(request: Request) -> OpenRuntime:
    # Async on purpose: a sync dependency would cost a thread-pool hop on every call.
    return open_runtime(request)


Runtime = Annotated[OpenRuntime, Depends(_runtime)]


# --- accounts --------------------------------------------------------------------------------


@router.post("/accounts", status_code=status.HTTP_201_CREATED)
def create_account(data: AccountCreate, request: Request, uow: UoW) -> AccountRead:
    """Sign up: a public user with a personal organisation; sign in at ``/login`` after."""
    platform = get_platform(request)
    platform.rate_limiter.hit(
        f"open-signup:{request_context(request).source_address}", SIGNUPS_PER_MINUTE
    )
    user, org = accounts.create_account(uow, data=data, passwords=platform.passwords)
    uow.commit()
    return AccountRead(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        email=user.email,
        real_name_verified=user.real_name_verified,
        organisation_id=org.id,
        organisation_code=org.code,
        created_at=user.created_at,
    )


@router.get("/account")
def get_account(actor: CurrentActor, uow: UoW) -> AccountRead:
    """The caller's account."""
    return accounts.account_view(uow, actor=actor)


@router.post("/account/real-name")
def verify_real_name(
    data: RealNameInput, request: Request, actor: CurrentActor, uow: UoW
) -> AccountRead:
    """Real-name verification (实名认证): name and citizen ID, neither of them stored."""
    secret = get_platform(request).settings.secret_key.get_secret_value()
    accounts.verify_real_name(uow, actor=actor, data=data, pepper=secret.encode())
    uow.commit()
    return accounts.account_view(uow, actor=actor)


# --- app keys --------------------------------------------------------------------------------


@router.get("/keys")
def list_keys(actor: CurrentActor, uow: UoW) -> dict[str, Any]:
    """The caller's app keys (never their secrets)."""
    mine = keys.list_keys(uow, actor=actor)
    return {"data": [AppKeyRead.model_validate(k).model_dump(mode="json") for k in mine]}


@router.post("/keys", status_code=status.HTTP_201_CREATED)
def create_key(data: AppKeyCreate, actor: CurrentActor, uow: UoW) -> AppKeyIssued:
    """Issue an app key; the ``key`` value is shown only in this response."""
    key, raw = keys.create_key(uow, actor=actor, data=data)
    uow.commit()
    return AppKeyIssued.model_validate({**AppKeyRead.model_validate(key).model_dump(), "key": raw})


@router.delete("/keys/{key_id}")
def revoke_key(key_id: str, actor: CurrentActor, uow: UoW, runtime: Runtime) -> AppKeyRead:
    """Revoke an app key; calls with it are refused from now on."""
    key = keys.revoke_key(uow, actor=actor, key_id=key_id)
    uow.commit()
    runtime.keys.forget(key.prefix)
    return AppKeyRead.model_validate(key)


# --- usage and figures -----------------------------------------------------------------------


@router.get("/usage")
def get_usage(
    actor: CurrentActor,
    uow: UoW,
    runtime: Runtime,
    scope: Literal["keys", "datasets"] = "keys",
    since: date | None = None,
    until: date | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Usage per key (one's own keys) or per dataset (the bureau; providers their entries)."""
    runtime.usage.flush()
    uow.rollback()  # a fresh snapshot that sees the counts just written
    if scope == "keys":
        items: list[Any] = usage.key_usage(uow, actor=actor, since=since, until=until)
    else:
        items = usage.dataset_usage(uow, actor=actor, since=since, until=until, limit=limit)
    return {"data": [i.model_dump(mode="json") for i in items], "meta": {"scope": scope}}


@router.get("/stats")
def get_stats(uow: UoW, runtime: Runtime) -> OpenStats:
    """The portal's live figures: open entries, departments, downloads, API calls."""
    runtime.usage.flush(wait=False)
    return usage.open_stats(uow)


# --- data: keys, access ----------------------------------------------------------------------


def _seconds_to_midnight(uow: UnitOfWork) -> int:
    local = uow.clock.now().astimezone(BEIJING)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), BEIJING)
    return max(1, int((midnight - local).total_seconds()))


def _caller_key(
    request: Request, uow: UnitOfWork, runtime: OpenRuntime, *, required: bool
) -> KeyInfo | None:
    """The app key of the call, checked against its rate limit and daily quota."""
    raw = request.headers.get(KEY_HEADER) or request.query_params.get(KEY_PARAMETER)
    if not raw:
        if required:
            raise AppKeyRequired(
                "需要应用密钥 (send an app key in the X-App-Key header or the app_key parameter)"
            )
        return None
    key = runtime.keys.authenticate(uow, raw)
    get_platform(request).rate_limiter.hit(f"appkey:{key.id}", key.rate_limit_per_minute)
    if runtime.usage.calls_today(key.id) >= key.daily_quota:
        raise QuotaExhausted(
            f"今日调用次数已用完 (daily quota of {key.daily_quota} calls used up)",
            details={
                "retry_after_seconds": _seconds_to_midnight(uow),
                "daily_quota": key.daily_quota,
            },
        )
    return key


def _access(
    request: Request,
    uow: UnitOfWork,
    runtime: OpenRuntime,
    entry_id: str,
    key: KeyInfo | None,
    mode: DeliveryMode,
) -> OpenAccess:
    access = open_access(uow, entry_id=entry_id, key=key, mode=mode, cache=runtime.entries)
    if access.grant_rate_limit is not None and key is not None:
        get_platform(request).rate_limiter.hit(f"grant:{access.grant_id}", access.grant_rate_limit)
    # Nothing more is read from the database: give its connection back before DuckDB works.
    uow.rollback()
    return access


def _base_url(request: Request) -> str:
    configured = get_platform(request).settings.base_url
    return (configured or str(request.base_url)).rstrip("/")


# --- rows ------------------------------------------------------------------------------------


@router.get("/datasets/{entry_id}/rows")
def get_rows(entry_id: str, request: Request, uow: UoW, runtime: Runtime) -> Response:
    """Rows of an open dataset: filters, sort, fields, cursor paging; JSON, CSV or NDJSON."""
    key = _caller_key(request, uow, runtime, required=True)
    assert key is not None
    access = _access(request, uow, runtime, entry_id, key, DeliveryMode.API)
    query = parse_query(request.query_params.multi_items(), access.fields)
    if query.format != "json":

        def counted(sent: int) -> None:
            runtime.usage.record_call(key.id, entry_id, sent)

        return StreamingResponse(
            stream_rows(runtime.rows, access, query, counted),
            media_type=_STREAM_TYPES[query.format],
        )
    page = read_page(runtime.rows, access, query)
    runtime.usage.record_call(key.id, entry_id, len(page.rows_json))
    next_url = None
    if page.next_cursor is not None:
        next_url = str(request.url.include_query_params(_cursor=page.next_cursor))
    meta = {
        "fields": [{"name": f.name, "type": f.type, "description": f.description}
                   for f in query.fields],
        "total": page.total,
        "total_exact": page.total_exact,
        "total_note": page.total_note,
        "next_cursor": page.next_cursor,
    }  # fmt: skip
    return Response(page.body(meta, {"next": next_url}), media_type="application/json")


@router.get("/datasets/{entry_id}/openapi.json")
def get_openapi(entry_id: str, request: Request, uow: UoW, runtime: Runtime) -> Response:
    """The OpenAPI 3.1 document of this dataset's row endpoint."""
    key = _caller_key(request, uow, runtime, required=False)
    entry = runtime.entries.get(uow, entry_id)
    granted = True
    try:
        fields = _access(request, uow, runtime, entry_id, key, DeliveryMode.API).fields
    except (AppKeyRequired, AccessNotGranted):
        # The published fields are public metadata; the document says access needs a grant.
        fields, granted = entry.fields, False
    document = dataset_openapi(entry, fields, server_url=_base_url(request), granted=granted)
    return Response(dumps(document), media_type="application/json")


# --- downloads -------------------------------------------------------------------------------


def _download_access(
    entry_id: str, request: Request, uow: UnitOfWork, runtime: OpenRuntime
) -> tuple[OpenAccess, KeyInfo | None]:
    key = _caller_key(request, uow, runtime, required=False)
    return _access(request, uow, runtime, entry_id, key, DeliveryMode.FILE), key


def _count(runtime: OpenRuntime, access: OpenAccess, key: KeyInfo | None, fmt: str) -> None:
    runtime.usage.record_download(access.entry.id, fmt)
    if key is not None:
        # A filtered cut's size is not known without counting it; its rows are left out.
        rows = 0 if access.filtered else access.version.rows
        runtime.usage.record_call(key.id, access.entry.id, rows)


def _cache_control(access: OpenAccess) -> str:
    return "private, no-store" if access.grant_id else "public, max-age=300"


@router.get("/datasets/{entry_id}/download.{fmt}")
def download(entry_id: str, fmt: str, request: Request, uow: UoW, runtime: Runtime) -> Response:
    """The dataset as CSV (UTF-8 with BOM), XLSX, JSON or Parquet."""
    if fmt not in DOWNLOAD_FORMATS:
        raise NotFound(f"没有 {fmt} 格式的下载 (no {fmt!r} download; use {DOWNLOAD_FORMATS})")
    access, key = _download_access(entry_id, request, uow, runtime)
    path = runtime.downloads.file_for(access, fmt)
    _count(runtime, access, key, fmt)
    return FileResponse(
        path,
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": content_disposition(access, fmt),
            "Cache-Control": _cache_control(access),
        },
    )


def _descriptor(
    access: OpenAccess, request: Request, runtime: OpenRuntime, *, inside_zip: bool
) -> dict[str, Any]:
    base = _base_url(request)
    csv_file = runtime.downloads.file_for(access, "csv")
    csv_path = (
        f"data/{package_name(access)}.csv"
        if inside_zip
        else f"{base}/api/v1/open/datasets/{access.entry.id}/download.csv"
    )
    return data_package(
        access,
        csv_path=csv_path,
        csv_file=(csv_file.stat().st_size, runtime.downloads.checksum(csv_file)),
        homepage=f"{base}/open/datasets/{access.entry.id}",
    )


@router.get("/datasets/{entry_id}/datapackage.json")
def datapackage_json(entry_id: str, request: Request, uow: UoW, runtime: Runtime) -> Response:
    """The Frictionless Data Package descriptor; its resource is the CSV download URL."""
    access, key = _download_access(entry_id, request, uow, runtime)
    descriptor = _descriptor(access, request, runtime, inside_zip=False)
    _count(runtime, access, key, "datapackage")
    return JSONResponse(descriptor, headers={"Cache-Control": _cache_control(access)})


@router.get("/datasets/{entry_id}/datapackage.zip")
def datapackage_zip(entry_id: str, request: Request, uow: UoW, runtime: Runtime) -> Response:
    """The Data Package as one zip: ``datapackage.json`` and the CSV it describes."""
    access, key = _download_access(entry_id, request, uow, runtime)
    descriptor = _descriptor(access, request, runtime, inside_zip=True)
    path = runtime.downloads.package_zip(access, descriptor)
    _count(runtime, access, key, "datapackage.zip")
    return FileResponse(
        path,
        media_type=MEDIA_TYPES["zip"],
        headers={
            "Content-Disposition": content_disposition(access, "zip", suffix="-datapackage"),
            "Cache-Control": _cache_control(access),
        },
    )
