"""HTTP routes of datasets under ``/api/v1/datasets``: versions, settings, runs, uploads.

Two ways to send a file: one multipart ``POST …/{entry_id}/versions`` (spooled to disk by the
server, fine up to a few hundred MB), or a resumable upload — ``POST /uploads`` with the size,
``PATCH /uploads/{id}`` with ``Upload-Offset`` and a chunk of raw bytes as many times as
needed (``GET`` says where it stands after a lost connection), then ``POST …/ingest``.
Ingest waits for the outcome unless ``wait=false``, which answers 202 with the run to poll.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from gongshu.datastore import service, uploads
from gongshu.datastore.errors import UploadIncomplete
from gongshu.datastore.schemas import (
    RunRead,
    SettingsInput,
    SettingsRead,
    UploadCreate,
    UploadRead,
    VersionRead,
)
from gongshu.datastore.service import Datastore
from gongshu.identity import Actor
from gongshu.identity.deps import CurrentActor, UoW, request_context
from gongshu.kernel.errors import GongshuError

__all__ = ["Store", "router", "run_ingest"]

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])


def _store(request: Request) -> Datastore:
    """The platform's datastore, its units of work carrying this request's context."""
    platform = request.app.state.platform
    context = request_context(request)
    store: Datastore = replace(platform.datastore, uow=lambda: platform.uow(context))
    return store


Store = Annotated[Datastore, Depends(_store)]


def run_ingest(
    store: Datastore,
    *,
    wait: bool,
    actor: Actor,
    entry_id: str,
    path: Path,
    filename: str,
    sheet: str | None,
    note: str,
    cleanup: Callable[[], None],
) -> JSONResponse:
    """Ingest now (200/201 with the outcome) or in the background (202 with the run id)."""
    if wait:
        try:
            outcome = service.ingest_file(
                store, actor=actor, entry_id=entry_id, path=path, filename=filename,
                sheet=sheet, note=note,
            )  # fmt: skip
        finally:
            cleanup()
        code = status.HTTP_201_CREATED if outcome.status == "stored" else status.HTTP_200_OK
        return JSONResponse(
            {"data": {"status": outcome.status, "run_id": outcome.run_id,
                      "version_id": outcome.version_id, "number": outcome.number,
                      "report": outcome.report}},
            status_code=code,
        )  # fmt: skip
    started = threading.Event()
    run_ids: list[str] = []
    failure: list[BaseException] = []

    def heard(run_id: str) -> None:
        run_ids.append(run_id)
        started.set()

    def work() -> None:
        try:
            service.ingest_file(
                store, actor=actor, entry_id=entry_id, path=path, filename=filename,
                sheet=sheet, note=note, on_run=heard,
            )  # fmt: skip
        except BaseException as error:  # reported through the run; kept for a start failure
            failure.append(error)
        finally:
            cleanup()
            started.set()

    threading.Thread(target=work, name=f"ingest-{entry_id}", daemon=True).start()
    started.wait()
    if not run_ids and failure:
        error = failure[0]
        if isinstance(error, GongshuError):
            raise error
        raise RuntimeError("ingest failed to start") from error
    return JSONResponse(
        {"data": {"status": "running", "run_id": run_ids[0]}},
        status_code=status.HTTP_202_ACCEPTED,
    )


@router.get("/{entry_id}/versions")
def list_versions(
    entry_id: str,
    actor: CurrentActor,
    uow: UoW,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """An entry's versions, newest first."""
    rows, next_cursor = service.list_versions(
        uow, actor=actor, entry_id=entry_id, cursor=cursor, limit=limit
    )
    return {
        "data": [VersionRead.model_validate(v).model_dump(mode="json") for v in rows],
        "next_cursor": next_cursor,
    }


@router.post("/{entry_id}/versions")
def upload_version(
    entry_id: str,
    actor: CurrentActor,
    uow: UoW,
    store: Store,
    file: Annotated[UploadFile, File()],
    sheet: Annotated[str | None, Form()] = None,
    note: Annotated[str, Form(max_length=1000)] = "",
    wait: bool = True,
) -> JSONResponse:
    """Upload a file in one multipart request and ingest it as the next version."""
    # The request's own transaction (it authenticated the caller) ends here: the ingest runs
    # its own short ones and must not wait behind this one's lock.
    uow.rollback()
    stack = ExitStack()
    work = stack.enter_context(store.lake.scratch())
    path = work / "upload"
    with path.open("wb") as target:
        shutil.copyfileobj(file.file, target, length=4 * 1_048_576)
    return run_ingest(
        store, wait=wait, actor=actor, entry_id=entry_id, path=path,
        filename=file.filename or "upload", sheet=sheet or None, note=note,
        cleanup=stack.close,
    )  # fmt: skip


@router.get("/{entry_id}/settings")
def get_settings(entry_id: str, actor: CurrentActor, uow: UoW) -> dict[str, Any]:
    """The entry's ingest policy, key fields and column aliases."""
    service.entry_for(uow, actor=actor, entry_id=entry_id, action="dataset.read")
    saved = service.settings_for(uow, entry_id)
    return {"data": SettingsRead.model_validate(saved).model_dump(mode="json")}


@router.put("/{entry_id}/settings")
def put_settings(
    entry_id: str, data: SettingsInput, actor: CurrentActor, uow: UoW
) -> dict[str, Any]:
    """Change the entry's ingest policy, key fields and column aliases."""
    saved = service.update_settings(uow, actor=actor, entry_id=entry_id, data=data)
    uow.commit()
    return {"data": SettingsRead.model_validate(saved).model_dump(mode="json")}


@router.get("/versions/{version_id}")
def get_version(version_id: str, actor: CurrentActor, uow: UoW) -> dict[str, Any]:
    """One version's metadata and difference from the one before."""
    version = service.get_version(uow, actor=actor, version_id=version_id)
    return {"data": VersionRead.model_validate(version).model_dump(mode="json")}


@router.get("/runs/{run_id}")
def get_run(run_id: str, actor: CurrentActor, uow: UoW) -> dict[str, Any]:
    """An ingest run: its phase while running, its outcome and report after."""
    run = service.get_run(uow, actor=actor, run_id=run_id)
    return {"data": RunRead.model_validate(run).model_dump(mode="json")}


@router.post("/uploads", status_code=status.HTTP_201_CREATED)
def start_upload(
    data: UploadCreate, request: Request, actor: CurrentActor, uow: UoW, store: Store
) -> dict[str, Any]:
    """Open a resumable upload; send its bytes with PATCH."""
    limit = request.app.state.platform.settings.max_dataset_bytes
    upload = uploads.start_upload(uow, store.lake, actor=actor, data=data, max_bytes=limit)
    uow.commit()
    return {"data": UploadRead.model_validate(upload).model_dump(mode="json")}


@router.get("/uploads/{upload_id}")
def upload_status(upload_id: str, actor: CurrentActor, uow: UoW) -> dict[str, Any]:
    """Where an upload stands: resume from ``received``."""
    upload = uploads.get_upload(uow, actor=actor, upload_id=upload_id)
    return {"data": UploadRead.model_validate(upload).model_dump(mode="json")}


@router.patch("/uploads/{upload_id}")
async def send_chunk(
    upload_id: str,
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    store: Store,
    upload_offset: Annotated[int, Header(ge=0)],
) -> dict[str, Any]:
    """Append raw bytes at ``Upload-Offset``."""
    body = await request.body()

    def write() -> dict[str, Any]:
        upload = uploads.append_chunk(
            uow, store.lake, actor=actor, upload_id=upload_id, offset=upload_offset,
            chunks=[body],
        )  # fmt: skip
        uow.commit()
        return {"data": UploadRead.model_validate(upload).model_dump(mode="json")}

    return await run_in_threadpool(write)


@router.post("/uploads/{upload_id}/ingest")
def ingest_upload(
    upload_id: str,
    actor: CurrentActor,
    uow: UoW,
    store: Store,
    note: Annotated[str, Query(max_length=1000)] = "",
    wait: bool = True,
) -> JSONResponse:
    """Ingest a complete upload as the entry's next version (the upload is then closed)."""
    upload = uploads.get_upload(uow, actor=actor, upload_id=upload_id, lock=True)
    if upload.received != upload.size:
        raise UploadIncomplete(
            f"已收到 {upload.received} / {upload.size} 字节 (upload incomplete)",
            details={"received": upload.received, "size": upload.size},
        )
    entry_id, filename, sheet = upload.entry_id, upload.filename, upload.sheet
    stack = ExitStack()
    work = stack.enter_context(store.lake.scratch())
    path = work / "upload"
    uploads.part_path(store.lake, upload.id).replace(path)
    uow.session.delete(upload)
    uow.commit()
    return run_ingest(
        store, wait=wait, actor=actor, entry_id=entry_id, path=path, filename=filename,
        sheet=sheet, note=note, cleanup=stack.close,
    )  # fmt: skip
