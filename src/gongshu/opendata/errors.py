"""Open data errors (under the family in :mod:`gongshu.kernel.errors`).

Every refusal of the open API has a stable code, and the bad-input ones name the query
parameter at fault in ``details`` (``[{"path": "query._size", "message": …}]``).

::

    InvalidInput ───── UnknownField          422 unknown_field
                   ├── UnknownOperator       422 unknown_operator
                   ├── UnknownParameter      422 unknown_parameter
                   ├── BadFilterValue        422 invalid_filter_value
                   ├── PageSizeOutOfRange    422 page_size_out_of_range
                   ├── FormatNotAvailable    422 format_not_available
                   ├── CitizenIdInvalid      422 citizen_id_invalid
                   └── MalformedRequest ──── MalformedCursor  400 malformed_cursor
    NotAuthenticated ─ AppKeyRequired        401 app_key_required
                   ├── AppKeyInvalid         401 app_key_invalid
                   └── AppKeyRevoked         401 app_key_revoked
    PermissionDenied ─ AccessNotGranted      403 access_not_granted
    NotFound ───────── DatasetNotFound       404 dataset_not_found (missing, or not open)
                   ├── DataNotAvailable      404 data_not_available (open, no data yet)
                   └── AppKeyNotFound        404 app_key_not_found
    Conflict ───────── RealNameTaken         409 real_name_taken
    RateLimited ────── QuotaExhausted        429 quota_exhausted
"""

from __future__ import annotations

from typing import Any

from gongshu.kernel.errors import (
    Conflict,
    InvalidInput,
    MalformedRequest,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
)

__all__ = [
    "AccessNotGranted",
    "AppKeyInvalid",
    "AppKeyNotFound",
    "AppKeyRequired",
    "AppKeyRevoked",
    "BadFilterValue",
    "CitizenIdInvalid",
    "DataNotAvailable",
    "DatasetNotFound",
    "FormatNotAvailable",
    "MalformedCursor",
    "PageSizeOutOfRange",
    "QuotaExhausted",
    "RealNameTaken",
    "UnknownField",
    "UnknownOperator",
    "UnknownParameter",
    "parameter_error",
]


class UnknownField(InvalidInput):
    """A filter, sort or field list names a field the caller cannot see (or that is not there)."""

    code = "unknown_field"


class UnknownOperator(InvalidInput):
    """A filter uses an operator the row API does not have, or not for that field's type."""

    code = "unknown_operator"


class UnknownParameter(InvalidInput):
    """A reserved ``_name`` parameter the row API does not know."""

    code = "unknown_parameter"


class BadFilterValue(InvalidInput):
    """A filter value that does not parse as the field's type."""

    code = "invalid_filter_value"


class PageSizeOutOfRange(InvalidInput):
    """``_size`` outside 1–1000."""

    code = "page_size_out_of_range"


class FormatNotAvailable(InvalidInput):
    """A download format that this dataset cannot be given in (too many rows for XLSX)."""

    code = "format_not_available"


class CitizenIdInvalid(InvalidInput):
    """The citizen ID given for real-name verification fails its checks."""

    code = "citizen_id_invalid"


class MalformedCursor(MalformedRequest):
    """A ``_cursor`` this server did not issue, or one for another sort."""

    code = "malformed_cursor"


class AppKeyRequired(NotAuthenticated):
    """The call needs an app key (header ``X-App-Key`` or query ``app_key``)."""

    code = "app_key_required"


class AppKeyInvalid(NotAuthenticated):
    """Unknown or malformed app key."""

    code = "app_key_invalid"


class AppKeyRevoked(NotAuthenticated):
    """The app key was revoked."""

    code = "app_key_revoked"


class AccessNotGranted(PermissionDenied):
    """A conditionally open entry, and no active grant for the key's organisation."""

    code = "access_not_granted"


class DatasetNotFound(NotFound):
    """No such entry, or it is not open: the two are deliberately indistinguishable."""

    code = "dataset_not_found"


class DataNotAvailable(NotFound):
    """The entry is open but has no dataset version yet."""

    code = "data_not_available"


class AppKeyNotFound(NotFound):
    """No such app key, or not the caller's."""

    code = "app_key_not_found"


class RealNameTaken(Conflict):
    """The citizen ID already verified another account."""

    code = "real_name_taken"


class QuotaExhausted(RateLimited):
    """The key's daily quota is spent; ``retry_after_seconds`` runs to local midnight."""

    code = "quota_exhausted"


def parameter_error(
    kind: type[InvalidInput], parameter: str, message: str, **extra: Any
) -> InvalidInput:
    """An error of ``kind`` naming the query parameter at fault."""
    detail: dict[str, Any] = {"path": f"query.{parameter}", "message": message, **extra}
    return kind(f"{parameter}: {message}", details=[detail])
