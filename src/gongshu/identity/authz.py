"""Who may do what: the declared actions and the one ``authorize`` call. Deny by default.

Each action lists the roles that may perform it and how far that reaches: ``ALL`` for any
resource, ``OWN`` for resources of the actor's own organisations (or the actor's own user).
Anything not listed is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from gongshu.identity.errors import DutyConflictError, NotPermitted
from gongshu.identity.models import Role
from gongshu.identity.schemas import MembershipRead

__all__ = [
    "ACTIONS",
    "Action",
    "Actor",
    "Duty",
    "Reach",
    "Resource",
    "authorize",
    "can",
    "check_duties",
    "duty_of",
]


class Reach(StrEnum):
    """How far a role's permission for an action extends."""

    ALL = "all"
    OWN = "own"


class Duty(StrEnum):
    """三员分立: the three duties that must never meet in one person, and ordinary business."""

    ADMINISTRATION = "administration"
    AUDIT = "audit"
    SECURITY = "security"
    BUSINESS = "business"


_DUTIES = {
    Role.BUREAU_ADMIN: Duty.ADMINISTRATION,
    Role.AUDITOR: Duty.AUDIT,
    Role.SECURITY_OFFICER: Duty.SECURITY,
}


def duty_of(role: Role | str) -> Duty:
    """The duty a role belongs to."""
    return _DUTIES.get(Role(role), Duty.BUSINESS)


def check_duties(roles: set[Role] | set[str]) -> None:
    """Refuse role sets that mix administration, audit and security, or audit with business."""
    duties = {duty_of(r) for r in roles}
    separated = duties & {Duty.ADMINISTRATION, Duty.AUDIT, Duty.SECURITY}
    if len(separated) > 1:
        raise DutyConflictError(
            "系统管理、安全审计、安全保密职责须由不同人员担任 "
            f"(administrator, auditor and security duties must stay apart: {sorted(separated)})"
        )
    if Duty.AUDIT in duties and Duty.BUSINESS in duties:
        raise DutyConflictError(
            "审计员不得兼任业务角色 (an auditor may not also hold a business role)"
        )


@dataclass(frozen=True)
class Action:
    """A declared action: its code, whether it changes state, and who may do it."""

    code: str
    writes: bool
    roles: dict[Role, Reach]
    description: str = ""


@dataclass(frozen=True)
class Actor:
    """Someone acting: a signed-in user, a token holder, or the local console."""

    user_id: str
    username: str
    display_name: str
    memberships: tuple[tuple[str, Role], ...] = ()
    scopes: frozenset[str] | None = None  # None: a web session or the console, no scope limit
    via: str = "session"
    token_id: str | None = None
    seats: tuple[MembershipRead, ...] = ()  # the memberships with organisation names

    @property
    def roles(self) -> set[Role]:
        """Every role the actor holds, anywhere."""
        return {role for _, role in self.memberships}

    @property
    def organisation_ids(self) -> set[str]:
        """The organisations the actor belongs to."""
        return {org for org, _ in self.memberships}

    def organisations_with(self, role: Role) -> set[str]:
        """The organisations where the actor holds ``role``."""
        return {org for org, r in self.memberships if r == role}

    @property
    def label(self) -> str:
        """How the actor appears in the audit trail."""
        return f"{self.display_name} ({self.username}, {self.via})"


@dataclass(frozen=True)
class Resource:
    """What an action is about, enough to decide ``OWN`` reach."""

    kind: str
    id: str | None = None
    organisation_ids: frozenset[str] = field(default_factory=frozenset)
    owner_user_id: str | None = None


_EVERYONE = {role: Reach.OWN for role in Role}
# Who keeps catalogue entries: departments and districts their own, operators their products.
_CATALOGUE_KEEPERS = {
    Role.BUREAU_ADMIN: Reach.ALL,
    Role.DEPT_OFFICER: Reach.OWN,
    Role.DISTRICT_OFFICER: Reach.OWN,
    Role.OPERATOR: Reach.OWN,
}


def _actions(*items: Action) -> dict[str, Action]:
    return {a.code: a for a in items}


ACTIONS: dict[str, Action] = _actions(
    Action("console.view", False, {role: Reach.ALL for role in Role}, "open one's console"),
    Action("me.read", False, {role: Reach.ALL for role in Role}, "read one's own profile"),
    Action("token.create", True, _EVERYONE, "create an API token for oneself"),
    Action("token.read", False, _EVERYONE, "list one's own tokens"),
    Action(
        "token.revoke",
        True,
        {**_EVERYONE, Role.BUREAU_ADMIN: Reach.ALL, Role.SECURITY_OFFICER: Reach.ALL},
        "revoke a token",
    ),
    Action(
        "organisation.read",
        False,
        {role: Reach.ALL for role in Role if role != Role.PUBLIC},
        "list and view organisations",
    ),
    Action("organisation.create", True, {Role.BUREAU_ADMIN: Reach.ALL}, "register an organisation"),
    Action("organisation.update", True, {Role.BUREAU_ADMIN: Reach.ALL}, "change an organisation"),
    Action(
        "user.read",
        False,
        {Role.BUREAU_ADMIN: Reach.ALL, Role.SECURITY_OFFICER: Reach.ALL, Role.AUDITOR: Reach.ALL},
        "list and view users",
    ),
    Action("user.create", True, {Role.BUREAU_ADMIN: Reach.ALL}, "create a user"),
    Action("user.update", True, {Role.BUREAU_ADMIN: Reach.ALL}, "change or deactivate a user"),
    Action("role.assign", True, {Role.BUREAU_ADMIN: Reach.ALL}, "give or take a role"),
    Action(
        "grant.read",
        False,
        {
            Role.BUREAU_ADMIN: Reach.ALL,
            Role.AUDITOR: Reach.ALL,
            Role.SECURITY_OFFICER: Reach.ALL,
            Role.AUTHORITY: Reach.ALL,
            Role.DEPT_OFFICER: Reach.OWN,
            Role.DISTRICT_OFFICER: Reach.OWN,
            Role.OPERATOR: Reach.OWN,
        },
        "list and view grants",
    ),
    Action("grant.create", True, {Role.BUREAU_ADMIN: Reach.ALL}, "issue a grant"),
    Action("grant.revoke", True, {Role.BUREAU_ADMIN: Reach.ALL}, "revoke a grant"),
    Action(
        "grant.suspend",
        True,
        {Role.BUREAU_ADMIN: Reach.ALL, Role.SECURITY_OFFICER: Reach.ALL},
        "suspend or reinstate a grant (emergency freeze)",
    ),
    Action(
        "audit.read",
        False,
        {Role.AUDITOR: Reach.ALL, Role.SECURITY_OFFICER: Reach.ALL},
        "search the audit trail",
    ),
    Action(
        "catalog.read",
        False,
        {role: Reach.ALL for role in Role if role != Role.PUBLIC},
        "browse and search the catalogue (drafts: own organisation and the bureau)",
    ),
    Action("catalog.edit", True, _CATALOGUE_KEEPERS, "create, edit, submit or import entries"),
    Action("catalog.deprecate", True, _CATALOGUE_KEEPERS, "deprecate a published entry"),
    Action(
        "catalog.review",
        True,
        {Role.BUREAU_ADMIN: Reach.ALL},
        "review, return and publish submitted entries",
    ),
    Action(
        "dataset.read",
        False,
        {role: Reach.ALL for role in Role if role != Role.PUBLIC},
        "list dataset versions, their reports and quality (not their rows)",
    ),
    Action("dataset.upload", True, _CATALOGUE_KEEPERS, "upload a dataset version of an entry"),
    Action(
        "dataset.settings",
        True,
        _CATALOGUE_KEEPERS,
        "set an entry's ingest policy, key fields, column aliases and quality rules",
    ),
    Action(
        "dataset.rows",
        False,
        {
            Role.BUREAU_ADMIN: Reach.ALL,
            Role.DEPT_OFFICER: Reach.OWN,
            Role.DISTRICT_OFFICER: Reach.OWN,
        },
        "read the rows of one's own entries' versions (others' rows need a grant)",
    ),
    Action(
        "element.edit",
        True,
        {Role.BUREAU_ADMIN: Reach.ALL},
        "keep the data element registry (one source, one standard)",
    ),
    Action(
        "quality.league",
        False,
        {Role.BUREAU_ADMIN: Reach.ALL, Role.AUDITOR: Reach.ALL},
        "see quality league tables across departments and districts",
    ),
    Action("objection.raise", True, _EVERYONE, "file an objection with evidence"),
    Action(
        "objection.read",
        False,
        {**_EVERYONE, Role.BUREAU_ADMIN: Reach.ALL, Role.AUDITOR: Reach.ALL},
        "follow objections one filed, or those on one's own data",
    ),
    Action(
        "objection.handle",
        True,
        {
            Role.BUREAU_ADMIN: Reach.ALL,
            Role.DEPT_OFFICER: Reach.OWN,
            Role.DISTRICT_OFFICER: Reach.OWN,
        },
        "accept, verify, answer and correct objections on one's own data",
    ),
    Action(
        "sandbox.query",
        True,
        {Role.OPERATOR: Reach.OWN, Role.DEPT_OFFICER: Reach.OWN, Role.DISTRICT_OFFICER: Reach.OWN},
        "compute in the sandbox under one's organisation's sandbox grants",
    ),
    Action(
        "sandbox.read",
        False,
        {
            Role.OPERATOR: Reach.OWN,
            Role.DEPT_OFFICER: Reach.OWN,
            Role.DISTRICT_OFFICER: Reach.OWN,
            Role.BUREAU_ADMIN: Reach.ALL,
            Role.AUDITOR: Reach.ALL,
            Role.SECURITY_OFFICER: Reach.ALL,
        },
        "see sandbox queries: one's organisation's, or all for oversight",
    ),
    Action(
        "sandbox.review",
        True,
        {Role.BUREAU_ADMIN: Reach.ALL, Role.SECURITY_OFFICER: Reach.ALL},
        "review sandbox queries flagged as differencing",
    ),
    Action(
        "sandbox.model.publish",
        True,
        {
            Role.BUREAU_ADMIN: Reach.ALL,
            Role.DEPT_OFFICER: Reach.OWN,
            Role.DISTRICT_OFFICER: Reach.OWN,
        },
        "publish or withdraw a shared model (共享模型) over one's own data",
    ),
    Action(
        "sandbox.model.read",
        False,
        {role: Reach.ALL for role in Role if role != Role.PUBLIC},
        "list shared models and their parameters",
    ),
    # Open data API: public accounts verify their real name and keep app keys; usage per
    # dataset is for the bureau and the providers. Reading open data itself needs no action.
    Action("open.account.verify", True, _EVERYONE, "verify one's real name (实名认证)"),
    Action("open.key.create", True, _EVERYONE, "create an app key for the open API"),
    Action("open.key.read", False, _EVERYONE, "list one's own app keys and their usage"),
    Action(
        "open.key.revoke",
        True,
        {**_EVERYONE, Role.BUREAU_ADMIN: Reach.ALL, Role.SECURITY_OFFICER: Reach.ALL},
        "revoke an app key",
    ),
    Action(
        "open.usage.read",
        False,
        {
            Role.BUREAU_ADMIN: Reach.ALL,
            Role.AUDITOR: Reach.ALL,
            Role.DEPT_OFFICER: Reach.OWN,
            Role.DISTRICT_OFFICER: Reach.OWN,
        },
        "see open API and download usage per dataset (providers: their own entries)",
    ),
    Action(
        "open.housekeeping",
        True,
        {Role.BUREAU_ADMIN: Reach.ALL},
        "delete the open API's serving copies of superseded versions and unused downloads",
    ),
    # Open data engagement: data requests (接诉即办), the open plan, the showcase and
    # conditional-opening applications. Reading requests, the plan and approved showcase
    # entries is public and needs no action.
    Action("open.request.file", True, {Role.PUBLIC: Reach.OWN}, "file a data request (接诉即办)"),
    Action(
        "open.request.dispatch",
        True,
        {Role.BUREAU_ADMIN: Reach.ALL},
        "dispatch a data request to a department, or decline it",
    ),
    Action(
        "open.request.answer",
        True,
        {
            Role.BUREAU_ADMIN: Reach.ALL,
            Role.DEPT_OFFICER: Reach.OWN,
            Role.DISTRICT_OFFICER: Reach.OWN,
        },
        "answer a data request dispatched to one's own organisation",
    ),
    Action("open.request.rate", True, {Role.PUBLIC: Reach.OWN}, "rate the answer to one's request"),
    Action("open.plan.edit", True, {Role.BUREAU_ADMIN: Reach.ALL}, "keep the annual open plan"),
    Action("open.showcase.submit", True, _EVERYONE, "submit an application to the showcase"),
    Action(
        "open.showcase.review",
        True,
        {Role.BUREAU_ADMIN: Reach.ALL},
        "approve or reject showcase submissions (and see them all)",
    ),
    Action(
        "open.application.apply",
        True,
        {Role.PUBLIC: Reach.OWN},
        "apply to use a conditionally open (有条件开放) entry",
    ),
    Action(
        "open.application.read",
        False,
        {
            Role.PUBLIC: Reach.OWN,
            Role.DEPT_OFFICER: Reach.OWN,
            Role.DISTRICT_OFFICER: Reach.OWN,
            Role.BUREAU_ADMIN: Reach.ALL,
            Role.AUDITOR: Reach.ALL,
        },
        "follow one's applications, or those for one's own entries",
    ),
    Action(
        "open.application.review",
        True,
        {
            Role.BUREAU_ADMIN: Reach.ALL,
            Role.DEPT_OFFICER: Reach.OWN,
            Role.DISTRICT_OFFICER: Reach.OWN,
        },
        "approve (issuing the grant) or refuse applications for one's own entries",
    ),
    Action("calendar.read", False, {role: Reach.ALL for role in Role}, "read the calendar"),
    Action("calendar.edit", True, {Role.BUREAU_ADMIN: Reach.ALL}, "import or edit holidays"),
)


def can(actor: Actor, action_code: str, resource: Resource | None = None) -> bool:
    """True when ``actor`` may perform the action on ``resource``."""
    action = ACTIONS.get(action_code)
    if action is None:
        return False
    if actor.scopes is not None and action.writes and "write" not in actor.scopes:
        return False
    if actor.scopes is not None and not action.writes and not actor.scopes & {"read", "write"}:
        return False
    for org_id, role in actor.memberships:
        reach = action.roles.get(role)
        if reach is Reach.ALL:
            return True
        if reach is Reach.OWN and resource is not None:
            if resource.owner_user_id == actor.user_id:
                return True
            if org_id in resource.organisation_ids:
                return True
    return False


def authorize(actor: Actor, action_code: str, resource: Resource | None = None) -> None:
    """Raise :class:`NotPermitted` unless ``actor`` may perform the action."""
    if action_code not in ACTIONS:
        raise NotPermitted(f"undeclared action {action_code!r} is refused")
    if not can(actor, action_code, resource):
        target = f" on {resource.kind} {resource.id}" if resource and resource.id else ""
        raise NotPermitted(
            f"无权执行此操作 (not permitted: {action_code}{target})",
            details={"action": action_code},
        )
