"""Identity: organisations, users, roles, API tokens, grants and the one ``authorize`` call."""

from gongshu.identity.authz import ACTIONS, Actor, Resource, authorize, can
from gongshu.identity.calendar import deadline
from gongshu.identity.grants import check_access, require_access
from gongshu.identity.models import DeliveryMode, GrantStatus, Organisation, OrgKind, Role, User
from gongshu.identity.service import CONSOLE, audit

__all__ = [
    "ACTIONS",
    "CONSOLE",
    "Actor",
    "DeliveryMode",
    "GrantStatus",
    "OrgKind",
    "Organisation",
    "Resource",
    "Role",
    "User",
    "audit",
    "authorize",
    "can",
    "check_access",
    "deadline",
    "require_access",
]
