"""Sandbox errors (under the family in :mod:`gongshu.kernel.errors`).

Every refusal carries a precise, stable code naming what was refused (``statement_not_allowed``,
``function_not_allowed`` …), so the API answers ``{"error": {"code", "message", "details"}}``
with that code rather than a generic one.

::

    InvalidInput ──── QueryRefused       422 <precise code>   (the guard said no)
                  └── QueryFailed        422 <precise code>   (timeout, memory, output too large)
    PermissionDenied ─ GrantNotUsable    403 grant_not_usable (absent, expired, suspended …)
                   └── BudgetExhausted   403 budget_exhausted (the grant's privacy budget is spent)
    NotFound ──────── ModelNotFound      404 model_not_found
                  └── SandboxQueryNotFound 404 query_not_found
"""

from __future__ import annotations

from typing import Any

from gongshu.kernel.errors import InvalidInput, NotFound, PermissionDenied

__all__ = [
    "BudgetExhausted",
    "GrantNotUsable",
    "ModelNotFound",
    "QueryFailed",
    "QueryRefused",
    "SandboxQueryNotFound",
]


class QueryRefused(InvalidInput):
    """The guard refused the query; ``reason`` is the precise code, ``construct`` the culprit."""

    code = "query_refused"

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        construct: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        details: dict[str, Any] = {"construct": construct}
        if line is not None:
            details.update(line=line, column=column)
        super().__init__(message, details=details)
        self.reason = reason
        self.construct = construct

    def to_dict(self) -> dict[str, Any]:
        """The envelope body, with the precise reason as its code."""
        return {"code": self.reason, "message": self.message, "details": self.details}


class QueryFailed(InvalidInput):
    """The query was allowed but could not finish: ``query_timeout``, ``resource_exhausted``,
    ``output_too_large`` or ``execution_error``."""

    code = "query_failed"

    def __init__(self, reason: str, message: str, *, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.reason = reason

    def to_dict(self) -> dict[str, Any]:
        """The envelope body, with the precise reason as its code."""
        return {"code": self.reason, "message": self.message, "details": self.details}


class GrantNotUsable(PermissionDenied):
    """No usable sandbox grant: unknown to the actor, expired, suspended, revoked or wrong mode."""

    code = "grant_not_usable"


class BudgetExhausted(PermissionDenied):
    """The query would spend more privacy budget than the grant has left."""

    code = "budget_exhausted"


class ModelNotFound(NotFound):
    """No such shared model, or the actor may not know it exists."""

    code = "model_not_found"


class SandboxQueryNotFound(NotFound):
    """No such recorded query, or the actor may not see it."""

    code = "query_not_found"
