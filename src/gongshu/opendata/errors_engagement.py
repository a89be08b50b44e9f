"""Errors of the portal's engagement side: data requests, the open plan, the showcase and
conditional-opening applications. A missing or non-open entry is the open API's
:class:`gongshu.opendata.errors.DatasetNotFound` (404 ``dataset_not_found``) here too.

::

    NotFound                          404
    ├── DataRequestNotFound           404 data_request_not_found
    ├── PlanItemNotFound              404 plan_item_not_found
    ├── ShowcaseAppNotFound           404 showcase_app_not_found
    └── ApplicationNotFound           404 open_application_not_found
    Conflict                          409
    ├── WrongRequestStatus            409 data_request_wrong_status
    ├── WrongApplicationStatus        409 open_application_wrong_status
    ├── WrongShowcaseStatus           409 showcase_app_wrong_status
    ├── DuplicatePlanItem             409 plan_item_duplicate
    ├── DuplicateApplication          409 open_application_duplicate
    └── ApplicationNotNeeded          409 application_not_needed
    InvalidInput                      422
    └── NoGrantHolder                 422 no_grant_holder
"""

from __future__ import annotations

from gongshu.kernel.errors import Conflict, InvalidInput, NotFound

__all__ = [
    "ApplicationNotFound",
    "ApplicationNotNeeded",
    "DataRequestNotFound",
    "DuplicateApplication",
    "DuplicatePlanItem",
    "NoGrantHolder",
    "PlanItemNotFound",
    "ShowcaseAppNotFound",
    "WrongApplicationStatus",
    "WrongRequestStatus",
    "WrongShowcaseStatus",
]


class DataRequestNotFound(NotFound):
    """No such data request."""

    code = "data_request_not_found"


class PlanItemNotFound(NotFound):
    """No such line in the open plan."""

    code = "plan_item_not_found"


class ShowcaseAppNotFound(NotFound):
    """No such showcase application, or it is not approved and not the caller's."""

    code = "showcase_app_not_found"


class ApplicationNotFound(NotFound):
    """No such conditional-opening application, or the caller may not know it exists."""

    code = "open_application_not_found"


class WrongRequestStatus(Conflict):
    """The step does not apply to the data request's current status."""

    code = "data_request_wrong_status"


class WrongApplicationStatus(Conflict):
    """The application has already been decided or withdrawn."""

    code = "open_application_wrong_status"


class WrongShowcaseStatus(Conflict):
    """The showcase application has already been reviewed."""

    code = "showcase_app_wrong_status"


class DuplicatePlanItem(Conflict):
    """The entry is already in that year's plan."""

    code = "plan_item_duplicate"


class DuplicateApplication(Conflict):
    """The organisation already has an application for this entry waiting for a decision."""

    code = "open_application_duplicate"


class ApplicationNotNeeded(Conflict):
    """The entry is open without conditions: download or call it directly."""

    code = "application_not_needed"


class NoGrantHolder(InvalidInput):
    """The applicant has no personal or enterprise organisation a grant could be issued to."""

    code = "no_grant_holder"
