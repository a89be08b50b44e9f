"""One family of expected errors, each with a stable code and an HTTP status.

::

    GongshuError                      500 internal_error
    ├── InvalidInput                  422 invalid_input
    │   └── MalformedRequest          400 malformed_request
    ├── NotAuthenticated              401 not_authenticated
    │   └── InvalidCredentials        401 invalid_credentials
    ├── PermissionDenied              403 permission_denied
    │   └── DutyConflict              403 duty_conflict
    ├── NotFound                      404 not_found
    ├── Conflict                      409 conflict
    ├── PayloadTooLarge               413 payload_too_large
    ├── RateLimited                   429 rate_limited
    └── Unavailable                   503 unavailable
        └── DatabaseUnavailable       503 database_unavailable

Adapters map the family in one handler each: JSON for the API, a page for the web, an exit
code for the CLI. Domain errors subclass these and may override ``code``.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "Conflict",
    "DatabaseUnavailable",
    "DutyConflict",
    "GongshuError",
    "InvalidCredentials",
    "InvalidInput",
    "MalformedRequest",
    "NotAuthenticated",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "Unavailable",
]


class GongshuError(Exception):
    """Base of every expected failure."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The error envelope body: ``{"code", "message", "details"}``."""
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidInput(GongshuError):
    """Input that is well-formed but wrong; ``details`` lists the bad fields' paths."""

    code = "invalid_input"
    status = 422
    exit_code = 2

    @classmethod
    def field(cls, path: str, message: str) -> InvalidInput:
        """One bad field, named by its path (``body.valid_until``)."""
        return cls(f"{path}: {message}", details=[{"path": path, "message": message}])


class MalformedRequest(InvalidInput):
    """The request cannot be parsed at all (malformed JSON, bad cursor)."""

    code = "malformed_request"
    status = 400


class NotAuthenticated(GongshuError):
    """No valid credentials were presented."""

    code = "not_authenticated"
    status = 401
    exit_code = 3


class InvalidCredentials(NotAuthenticated):
    """Username or password wrong — deliberately without saying which."""

    code = "invalid_credentials"


class PermissionDenied(GongshuError):
    """The actor is known but may not do this."""

    code = "permission_denied"
    status = 403
    exit_code = 4


class DutyConflict(PermissionDenied):
    """Administrator, auditor and security duties must stay with different people (三员分立)."""

    code = "duty_conflict"


class NotFound(GongshuError):
    """The thing does not exist, or the actor may not know it exists."""

    code = "not_found"
    status = 404
    exit_code = 5


class Conflict(GongshuError):
    """The change clashes with the current state (duplicate, wrong status)."""

    code = "conflict"
    status = 409
    exit_code = 6


class PayloadTooLarge(GongshuError):
    """The request body exceeds the configured limit."""

    code = "payload_too_large"
    status = 413


class RateLimited(GongshuError):
    """Too many requests or attempts in the window."""

    code = "rate_limited"
    status = 429
    exit_code = 7


class Unavailable(GongshuError):
    """A dependency is down."""

    code = "unavailable"
    status = 503
    exit_code = 8


class DatabaseUnavailable(Unavailable):
    """The metadata database cannot be reached."""

    code = "database_unavailable"
