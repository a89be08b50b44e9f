"""Importing entries from a spreadsheet: upload and dry run, then commit the checked file.

The checked upload is kept on the server under its SHA-256 and the form carries only the
hash, so the commit stores exactly the file that was checked.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from gongshu.catalog import imports, sheets
from gongshu.catalog.errors import ImportRejected
from gongshu.catalog.models import Entry
from gongshu.catalog.pages_shared import keeps_catalogue, render
from gongshu.catalog.routes import MAX_IMPORT_BYTES
from gongshu.identity import Actor, authorize
from gongshu.identity.deps import CurrentActor, UoW, get_platform, verify_csrf
from gongshu.kernel.errors import InvalidInput, PayloadTooLarge

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

UPLOAD_TTL_SECONDS = 24 * 3600
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _uploads(request: Request) -> Path:
    folder = get_platform(request).settings.home / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _keep_upload(folder: Path, data: bytes) -> str:
    """Store an upload under its SHA-256 (and forget day-old ones); return the hash."""
    cutoff = time.time() - UPLOAD_TTL_SECONDS
    for old in folder.iterdir():
        if old.is_file() and old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    digest = hashlib.sha256(data).hexdigest()
    target = folder / digest
    if not target.exists():
        partial = folder / f".{digest}.part"
        partial.write_bytes(data)
        partial.replace(target)
    return digest


def _render_import(request: Request, actor: Actor, status: int = 200, **context: Any) -> Response:
    defaults: dict[str, Any] = {
        "error": None,
        "report": None,
        "errors": [],
        "error_count": 0,
        "created": None,
        "created_entries": [],
        "submitted": False,
        "upload": "",
        "sheet": "",
        "submit": False,
    }
    return render(
        request, "catalog_import.html", status=status, actor=actor, **(defaults | context)
    )


def _render_rejected(
    request: Request, actor: Actor, exc: InvalidInput, context: dict[str, Any]
) -> Response:
    """The form again, with every problem the import found (row, column, message)."""
    details = exc.details if isinstance(exc.details, list) else []
    problems = [
        sheets.CellError(int(d.get("row") or 0), str(d.get("column") or ""), str(d["message"]))
        for d in details
        if isinstance(d, dict) and "message" in d
    ]
    return _render_import(
        request,
        actor,
        status=exc.status,
        error=exc.message,
        errors=problems,
        error_count=len(problems),
        **context,
    )


@router.get("/console/catalog/import", response_class=HTMLResponse)
def import_page(request: Request, actor: CurrentActor) -> Response:
    """The upload form with the template and export links."""
    if not keeps_catalogue(actor):
        authorize(actor, "catalog.edit")
    return _render_import(request, actor)


@router.post("/console/catalog/import", response_class=HTMLResponse)
async def import_check(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    file: Annotated[UploadFile, File()],
    sheet: Annotated[str, Form(max_length=100)] = "",
    submit: Annotated[str, Form(max_length=10)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Keep the upload on the server and dry-run it: every problem with its row and column."""
    verify_csrf(request, csrf_token)
    limit = min(MAX_IMPORT_BYTES, get_platform(request).settings.max_upload_bytes)
    data = await file.read(limit + 1)
    filename = Path(file.filename or "upload").name[:200]
    context: dict[str, Any] = {"sheet": sheet.strip(), "submit": bool(submit)}
    if len(data) > limit:
        error = PayloadTooLarge(f"{filename}: larger than {limit} bytes")
        return _render_import(request, actor, status=error.status, error=error.message, **context)

    def check() -> Response:
        try:
            report = imports.import_entries(
                uow,
                actor=actor,
                data=data,
                filename=filename,
                sheet=sheet.strip() or None,
                dry_run=True,
            )
        except InvalidInput as exc:
            return _render_rejected(request, actor, exc, context)
        # Only a clean file is kept for the commit, under its hash; the form carries the hash.
        digest = _keep_upload(_uploads(request), data) if report.ok else ""
        return _render_import(
            request,
            actor,
            status=200 if report.ok else 422,
            report=report,
            upload=digest,
            errors=report.errors,
            error_count=report.error_count,
            **context,
        )

    return await run_in_threadpool(check)


@router.post("/console/catalog/import/commit", response_class=HTMLResponse)
async def import_commit(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    upload: Annotated[str, Form(max_length=64)] = "",
    filename: Annotated[str, Form(max_length=200)] = "upload",
    sheet: Annotated[str, Form(max_length=100)] = "",
    submit: Annotated[str, Form(max_length=10)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Store a checked upload: everything is checked again; all entries or none."""
    verify_csrf(request, csrf_token)
    context: dict[str, Any] = {"sheet": sheet.strip(), "submit": bool(submit)}

    def commit() -> Response:
        path = _uploads(request) / upload if _SHA256.match(upload) else None
        if path is None or not path.is_file():
            message = "上传的文件已过期，请重新上传 (the upload has expired; upload the file again)"
            return _render_import(request, actor, status=422, error=message, **context)
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != upload:
            path.unlink(missing_ok=True)
            message = "上传的文件已损坏，请重新上传 (the stored upload is damaged; upload it again)"
            return _render_import(request, actor, status=422, error=message, **context)
        try:
            report = imports.import_entries(
                uow,
                actor=actor,
                data=data,
                filename=Path(filename).name or "upload",
                sheet=sheet.strip() or None,
                dry_run=False,
                submit=bool(submit),
            )
        except (ImportRejected, InvalidInput) as exc:
            return _render_rejected(request, actor, exc, context)
        path.unlink(missing_ok=True)
        shown = report.entry_ids[:50]
        rows = uow.session.execute(sa.select(Entry.id, Entry.name).where(Entry.id.in_(shown)))
        names = {entry_id: name for entry_id, name in rows}
        return _render_import(
            request,
            actor,
            created=report.created,
            submitted=bool(submit),
            created_entries=[(i, names.get(i, i)) for i in shown],
            **context,
        )

    return await run_in_threadpool(commit)
