"""Dataset errors (under the family in :mod:`gongshu.kernel.errors`).

::

    InvalidInput ── VersionRefused   422 version_refused   (bad cells under the reject policy)
    NotFound ────── VersionNotFound  404 version_not_found
                 └─ UploadNotFound   404 upload_not_found
    Conflict ────── UploadIncomplete 409 upload_incomplete
"""

from __future__ import annotations

from typing import Any

from gongshu.kernel.errors import Conflict, InvalidInput, NotFound

__all__ = ["UploadIncomplete", "UploadNotFound", "VersionNotFound", "VersionRefused"]


class VersionRefused(InvalidInput):
    """The file has bad cells or records and the entry's policy is to reject such versions."""

    code = "version_refused"

    def __init__(self, message: str, *, report: dict[str, Any], run_id: str) -> None:
        super().__init__(message, details={"run_id": run_id, "report": report})
        self.report = report
        self.run_id = run_id


class VersionNotFound(NotFound):
    """No such version, or the actor may not know it exists."""

    code = "version_not_found"


class UploadNotFound(NotFound):
    """No such upload (or it expired)."""

    code = "upload_not_found"


class UploadIncomplete(Conflict):
    """Bytes are missing: the upload cannot be read yet, or a chunk does not fit."""

    code = "upload_incomplete"
