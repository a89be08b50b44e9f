"""Identity errors: refinements of the kernel family with their own stable codes."""

from __future__ import annotations

from gongshu.kernel.errors import (
    Conflict,
    DutyConflict,
    InvalidCredentials,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
)

__all__ = [
    "DutyConflictError",
    "GrantDenied",
    "GrantNotFound",
    "LoginThrottled",
    "NotPermitted",
    "OrganisationNotFound",
    "TokenInvalid",
    "UserNotFound",
    "UsernameTaken",
    "WrongCredentials",
]


class NotPermitted(PermissionDenied):
    """``authorize`` said no."""


class DutyConflictError(DutyConflict):
    """A role assignment would join duties that must stay apart."""


class WrongCredentials(InvalidCredentials):
    """Sign-in failed; never says whether the user exists."""


class LoginThrottled(RateLimited):
    """Too many failed sign-ins."""

    code = "login_throttled"


class TokenInvalid(NotAuthenticated):
    """Unknown, expired or revoked token."""

    code = "token_invalid"


class OrganisationNotFound(NotFound):
    """No such organisation."""

    code = "organisation_not_found"


class UserNotFound(NotFound):
    """No such user."""

    code = "user_not_found"


class UsernameTaken(Conflict):
    """The username is in use."""

    code = "username_taken"


class GrantNotFound(NotFound):
    """No such grant visible to the actor."""

    code = "grant_not_found"


class GrantDenied(PermissionDenied):
    """No grant allows this access."""

    code = "access_denied"
