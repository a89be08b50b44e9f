"""Resumable uploads: start, send chunks at an offset, ask where it stands, then ingest.

Bytes go to a part file under the lake's scratch space (``uploads/<id>.part``); the row keeps
how many arrived. A chunk must start exactly at ``received`` (so a client that lost its place
asks, then resumes) and may not run past the declared size. Expired uploads and their part
files are removed by :func:`purge_expired`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from gongshu.datastore.errors import UploadIncomplete, UploadNotFound
from gongshu.datastore.lake import Lake
from gongshu.datastore.models import Upload
from gongshu.datastore.schemas import UploadCreate
from gongshu.datastore.service import entry_for
from gongshu.identity import Actor
from gongshu.kernel.errors import InvalidInput, PayloadTooLarge
from gongshu.kernel.ids import new_id
from gongshu.kernel.uow import UnitOfWork

__all__ = [
    "UPLOAD_DAYS",
    "append_chunk",
    "get_upload",
    "part_path",
    "purge_expired",
    "start_upload",
]

UPLOAD_DAYS = 2


def part_path(lake: Lake, upload_id: str) -> Path:
    """The part file of an upload."""
    return lake.root / "uploads" / f"{upload_id}.part"


def start_upload(
    uow: UnitOfWork, lake: Lake, *, actor: Actor, data: UploadCreate, max_bytes: int
) -> Upload:
    """Open a resumable upload of a file for an entry."""
    entry_for(uow, actor=actor, entry_id=data.entry_id, action="dataset.upload")
    if data.size > max_bytes:
        raise PayloadTooLarge(
            f"文件 {data.size:,} 字节，超过上限 {max_bytes:,} 字节 (file larger than the limit)"
        )
    now = uow.clock.now()
    upload = Upload(
        id=new_id("upl"),
        entry_id=data.entry_id,
        filename=data.filename,
        size=data.size,
        received=0,
        sheet=data.sheet,
        created_at=now,
        expires_at=now + timedelta(days=UPLOAD_DAYS),
        created_by_id=actor.user_id or None,
    )
    uow.session.add(upload)
    path = part_path(lake, upload.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return upload


def get_upload(uow: UnitOfWork, *, actor: Actor, upload_id: str, lock: bool = False) -> Upload:
    """An upload its starter (or the bureau) may continue."""
    stmt = sa.select(Upload).where(Upload.id == upload_id)
    if lock:
        stmt = stmt.with_for_update()
    upload = uow.session.scalar(stmt)
    if upload is None or upload.expires_at < uow.clock.now():
        raise UploadNotFound(f"no upload {upload_id!r} (expired or never started)")
    if upload.created_by_id != (actor.user_id or None):
        raise UploadNotFound(f"no upload {upload_id!r}")
    return upload


def append_chunk(
    uow: UnitOfWork,
    lake: Lake,
    *,
    actor: Actor,
    upload_id: str,
    offset: int,
    chunks: Iterable[bytes],
) -> Upload:
    """Write bytes at ``offset`` (which must be where the upload stands)."""
    upload = get_upload(uow, actor=actor, upload_id=upload_id, lock=True)
    if offset != upload.received:
        raise UploadIncomplete(
            f"续传位置应为 {upload.received}，收到 {offset} (resume at byte {upload.received})",
            details={"received": upload.received},
        )
    path = part_path(lake, upload.id)
    written = 0
    with path.open("r+b") as handle:
        handle.truncate(offset)
        handle.seek(offset)
        for chunk in chunks:
            if offset + written + len(chunk) > upload.size:
                handle.truncate(offset)
                raise InvalidInput.field(
                    "Content-Range", f"数据超过声明的大小 {upload.size} (more bytes than declared)"
                )
            handle.write(chunk)
            written += len(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    upload.received = offset + written
    return upload


def purge_expired(uow: UnitOfWork, lake: Lake) -> int:
    """Remove expired uploads and their part files; returns how many."""
    expired = list(
        uow.session.scalars(sa.select(Upload).where(Upload.expires_at < uow.clock.now()))
    )
    for upload in expired:
        part_path(lake, upload.id).unlink(missing_ok=True)
        uow.session.delete(upload)
    return len(expired)
