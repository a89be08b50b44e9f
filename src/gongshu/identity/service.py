"""Identity use cases: organisations, users and roles, sign-in, API tokens, audit search.

Every function takes the unit of work first and the actor explicitly; every state change
writes its audit record in the same transaction and commits once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from gongshu.identity.authz import Actor, authorize, can, check_duties
from gongshu.identity.errors import (
    LoginThrottled,
    OrganisationNotFound,
    UsernameTaken,
    UserNotFound,
    WrongCredentials,
)
from gongshu.identity.models import (
    ALLOWED_PARENTS,
    LoginThrottle,
    Membership,
    Organisation,
    OrgKind,
    Role,
    User,
)
from gongshu.identity.passwords import PasswordHasher
from gongshu.identity.schemas import (
    MembershipIn,
    MembershipRead,
    OrganisationCreate,
    UserCreate,
)
from gongshu.kernel.audit import AuditRecord, record, snapshot
from gongshu.kernel.errors import Conflict, GongshuError, InvalidInput
from gongshu.kernel.identifiers import validate_uscc
from gongshu.kernel.ids import new_id
from gongshu.kernel.pagination import Page, decode_cursor, paginate
from gongshu.kernel.uow import UnitOfWork

__all__ = [
    "CONSOLE",
    "LoginPolicy",
    "actor_for_user",
    "assign_role",
    "audit",
    "bootstrap_admin",
    "create_organisation",
    "create_organisations",
    "create_user",
    "get_organisation",
    "get_user",
    "list_organisations",
    "list_users",
    "login",
    "logout",
    "memberships_of",
    "organisation_by_code",
    "organisation_counts",
    "revoke_role",
    "search_audit",
    "set_password",
    "set_user_active",
]


CONSOLE = Actor(
    user_id="", username="console", display_name="本机控制台 (local console)", via="console"
)


def audit(
    uow: UnitOfWork,
    actor: Actor,
    action: str,
    subject_type: str,
    subject_id: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    aside: bool = False,
) -> None:
    """Write the audit record for ``actor``'s change into the current transaction."""
    record(
        uow,
        actor_id=actor.user_id or None,
        actor_label=actor.label,
        actor_roles=[r.value for r in actor.roles],
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        before=before,
        after=after,
        aside=aside,
    )


# ---------------------------------------------------------------- organisations


def organisation_by_code(uow: UnitOfWork, code: str) -> Organisation:
    """The organisation with ``code``, or a not-found error naming it."""
    org = uow.session.scalar(sa.select(Organisation).where(Organisation.code == code))
    if org is None:
        raise OrganisationNotFound(f"no organisation with code {code!r}")
    return org


def create_organisation(uow: UnitOfWork, *, actor: Actor, data: OrganisationCreate) -> Organisation:
    """Register an organisation, placed in the district → street → community hierarchy."""
    authorize(actor, "organisation.create")
    org = _add_organisation(uow, actor, data)
    uow.commit()
    return org


def create_organisations(
    uow: UnitOfWork,
    *,
    actor: Actor,
    items: list[OrganisationCreate],
    progress: Callable[[int], None] | None = None,
) -> list[Organisation]:
    """Register many organisations, parents before children, all or nothing."""
    authorize(actor, "organisation.create")
    created = []
    for number, data in enumerate(items, start=1):
        try:
            created.append(_add_organisation(uow, actor, data))
        except GongshuError as exc:
            raise type(exc)(
                f"item {number} ({data.code}): {exc.message}", details=exc.details
            ) from exc
        if progress is not None:
            progress(number)
    uow.commit()
    return created


def _add_organisation(uow: UnitOfWork, actor: Actor, data: OrganisationCreate) -> Organisation:
    parent_id = None
    allowed = ALLOWED_PARENTS.get(data.kind, frozenset())
    if data.parent_code:
        parent = organisation_by_code(uow, data.parent_code)
        if OrgKind(parent.kind) not in allowed:
            raise InvalidInput.field(
                "body.parent_code",
                f"a {data.kind.value} cannot sit under a {parent.kind}",
            )
        parent_id = parent.id
    elif data.kind in (OrgKind.STREET, OrgKind.COMMUNITY):
        raise InvalidInput.field("body.parent_code", f"a {data.kind.value} needs its parent")
    if data.uscc is not None:
        problem = validate_uscc(data.uscc)
        if problem is not None:
            raise InvalidInput.field("body.uscc", problem.message)
    same = [Organisation.code == data.code]
    if data.uscc is not None:
        same.append(Organisation.uscc == data.uscc)
    clash = uow.session.scalar(sa.select(Organisation.code).where(sa.or_(*same)))
    if clash is not None:
        raise Conflict(f"organisation code or USCC already registered: {clash}")
    org = Organisation(
        id=new_id("org"),
        code=data.code,
        name=data.name,
        name_en=data.name_en,
        kind=data.kind.value,
        parent_id=parent_id,
        division_code=data.division_code,
        uscc=data.uscc,
        active=True,
        created_at=uow.clock.now(),
    )
    uow.session.add(org)
    uow.session.flush()
    audit(uow, actor, "organisation.create", "organisation", org.id, after=snapshot(org))
    return org


def organisation_counts(uow: UnitOfWork, *, actor: Actor) -> dict[str, int]:
    """How many active organisations of each kind are registered."""
    authorize(actor, "organisation.read")
    rows = uow.session.execute(
        sa.select(Organisation.kind, sa.func.count())
        .where(Organisation.active)
        .group_by(Organisation.kind)
    )
    return {kind: n for kind, n in rows}


def get_organisation(uow: UnitOfWork, *, actor: Actor, organisation_id: str) -> Organisation:
    """One organisation by id or code."""
    authorize(actor, "organisation.read")
    org = uow.session.get(Organisation, organisation_id) or uow.session.scalar(
        sa.select(Organisation).where(Organisation.code == organisation_id)
    )
    if org is None:
        raise OrganisationNotFound(f"no organisation {organisation_id!r}")
    return org


def list_organisations(
    uow: UnitOfWork,
    *,
    actor: Actor,
    kind: OrgKind | None = None,
    parent_id: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Organisation]:
    """Organisations ordered by code, filtered by kind, parent or a name fragment."""
    authorize(actor, "organisation.read")
    stmt = sa.select(Organisation).order_by(Organisation.code)
    if kind is not None:
        stmt = stmt.where(Organisation.kind == kind.value)
    if parent_id is not None:
        stmt = stmt.where(Organisation.parent_id == parent_id)
    if q:
        stmt = stmt.where(sa.or_(Organisation.name.contains(q), Organisation.code.contains(q)))
    after = decode_cursor(cursor, arity=1)
    if after is not None:
        stmt = stmt.where(Organisation.code > after[0])
    return paginate(list(uow.session.scalars(stmt.limit(limit + 1))), limit, lambda o: [o.code])


# ---------------------------------------------------------------- users and roles


def memberships_of(uow: UnitOfWork, user_id: str) -> list[MembershipRead]:
    """The roles a user holds, with their organisations."""
    rows = uow.session.execute(
        sa.select(Membership.role, Organisation.id, Organisation.code, Organisation.name)
        .join(Organisation, Organisation.id == Membership.organisation_id)
        .where(Membership.user_id == user_id)
        .order_by(Organisation.code, Membership.role)
    )
    return [
        MembershipRead(
            organisation_id=org_id, organisation_code=code, organisation_name=name, role=Role(role)
        )
        for role, org_id, code, name in rows
    ]


def actor_for_user(
    uow: UnitOfWork,
    user: User,
    *,
    via: str = "session",
    scopes: frozenset[str] | None = None,
    token_id: str | None = None,
) -> Actor:
    """The actor a user becomes when signed in."""
    seats = tuple(memberships_of(uow, user.id))
    return Actor(
        seats=seats,
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        memberships=tuple((m.organisation_id, m.role) for m in seats),
        scopes=scopes,
        via=via,
        token_id=token_id,
    )


def _add_memberships(uow: UnitOfWork, user: User, wanted: list[tuple[str, Role]]) -> None:
    existing = {(m.organisation_id, m.role) for m in memberships_of(uow, user.id)}
    roles = {role for _, role in existing} | {role for _, role in wanted}
    check_duties(roles)
    now = uow.clock.now()
    for org_code, role in wanted:
        org = organisation_by_code(uow, org_code)
        if (org.id, role) in existing:
            continue
        uow.session.add(
            Membership(
                id=new_id("mem"),
                user_id=user.id,
                organisation_id=org.id,
                role=role.value,
                created_at=now,
            )
        )
    uow.session.flush()


def create_user(
    uow: UnitOfWork, *, actor: Actor, data: UserCreate, passwords: PasswordHasher
) -> User:
    """Create a user with their roles; duties that must stay apart are refused."""
    authorize(actor, "user.create")
    return _create_user(uow, actor, data, passwords)


def _create_user(
    uow: UnitOfWork, actor: Actor, data: UserCreate, passwords: PasswordHasher
) -> User:
    if uow.session.scalar(sa.select(User.id).where(User.username == data.username)):
        raise UsernameTaken(f"username {data.username!r} is taken")
    user = User(
        id=new_id("usr"),
        username=data.username,
        display_name=data.display_name,
        email=data.email,
        password_hash=passwords.hash(data.password.get_secret_value()) if data.password else None,
        active=True,
        real_name_verified=False,
        session_version=1,
        created_at=uow.clock.now(),
    )
    uow.session.add(user)
    uow.session.flush()
    _add_memberships(uow, user, [(m.organisation_code, m.role) for m in data.memberships])
    after = snapshot(user) | {"roles": [m.model_dump(mode="json") for m in data.memberships]}
    audit(uow, actor, "user.create", "user", user.id, after=after)
    uow.commit()
    return user


def bootstrap_admin(
    uow: UnitOfWork, *, bureau: OrganisationCreate, data: UserCreate, passwords: PasswordHasher
) -> User:
    """From the local console: register the bureau and its first administrator, once."""
    exists = uow.session.scalar(
        sa.select(Membership.id).where(Membership.role == Role.BUREAU_ADMIN.value).limit(1)
    )
    if exists:
        raise Conflict("a bureau administrator already exists; sign in as them instead")
    if bureau.kind is not OrgKind.BUREAU:
        raise InvalidInput.field("bureau.kind", "must be bureau")
    existing = uow.session.scalar(sa.select(Organisation).where(Organisation.code == bureau.code))
    if existing is None:
        _add_organisation(uow, CONSOLE, bureau)
    data = data.model_copy(
        update={
            "memberships": [MembershipIn(organisation_code=bureau.code, role=Role.BUREAU_ADMIN)]
        }
    )
    return _create_user(uow, CONSOLE, data, passwords)


def get_user(uow: UnitOfWork, *, actor: Actor, user_id: str) -> User:
    """One user by id or username."""
    user = uow.session.get(User, user_id) or uow.session.scalar(
        sa.select(User).where(User.username == user_id)
    )
    if user is None or not (user.id == actor.user_id or can(actor, "user.read")):
        raise UserNotFound(f"no user {user_id!r}")
    return user


def list_users(
    uow: UnitOfWork,
    *,
    actor: Actor,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[User]:
    """Users ordered by username."""
    authorize(actor, "user.read")
    stmt = sa.select(User).order_by(User.username)
    if q:
        stmt = stmt.where(sa.or_(User.username.contains(q), User.display_name.contains(q)))
    after = decode_cursor(cursor, arity=1)
    if after is not None:
        stmt = stmt.where(User.username > after[0])
    return paginate(list(uow.session.scalars(stmt.limit(limit + 1))), limit, lambda u: [u.username])


def assign_role(
    uow: UnitOfWork, *, actor: Actor, user_id: str, organisation_code: str, role: Role
) -> None:
    """Give a user a role at an organisation (三员分立 enforced)."""
    authorize(actor, "role.assign")
    user = get_user(uow, actor=actor, user_id=user_id)
    if user.id == actor.user_id:
        raise Conflict("no one may change their own roles")
    before = [m.model_dump(mode="json") for m in memberships_of(uow, user.id)]
    _add_memberships(uow, user, [(organisation_code, role)])
    after = [m.model_dump(mode="json") for m in memberships_of(uow, user.id)]
    audit(
        uow, actor, "role.assign", "user", user.id, before={"roles": before}, after={"roles": after}
    )
    uow.commit()


def revoke_role(
    uow: UnitOfWork, *, actor: Actor, user_id: str, organisation_code: str, role: Role
) -> None:
    """Take a role away."""
    authorize(actor, "role.assign")
    user = get_user(uow, actor=actor, user_id=user_id)
    if user.id == actor.user_id:
        raise Conflict("no one may change their own roles")
    org = organisation_by_code(uow, organisation_code)
    membership = uow.session.scalar(
        sa.select(Membership).where(
            Membership.user_id == user.id,
            Membership.organisation_id == org.id,
            Membership.role == role.value,
        )
    )
    if membership is None:
        raise InvalidInput.field("role", f"{user.username} is not {role.value} at {org.code}")
    uow.session.delete(membership)
    user.session_version += 1
    audit(
        uow,
        actor,
        "role.revoke",
        "user",
        user.id,
        before={"organisation": org.code, "role": role.value},
    )
    uow.commit()


def logout(uow: UnitOfWork, *, actor: Actor) -> None:
    """End every session of the actor: signed cookies carry the version this bumps."""
    user = uow.session.get(User, actor.user_id)
    if user is None:
        return
    user.session_version += 1
    audit(uow, actor, "session.logout", "user", user.id)
    uow.commit()


def set_password(
    uow: UnitOfWork, *, actor: Actor, user_id: str, password: str, passwords: PasswordHasher
) -> None:
    """Set a password (one's own, or anyone's for an administrator); old sessions end."""
    user = get_user(uow, actor=actor, user_id=user_id)
    if user.id != actor.user_id:
        authorize(actor, "user.update")
    if len(password) < 10:
        raise InvalidInput.field("password", "must be at least 10 characters")
    user.password_hash = passwords.hash(password)
    user.session_version += 1
    audit(uow, actor, "user.password_set", "user", user.id)
    uow.commit()


def set_user_active(uow: UnitOfWork, *, actor: Actor, user_id: str, active: bool) -> User:
    """Deactivate or reactivate a user; deactivation ends their sessions and tokens."""
    authorize(actor, "user.update")
    user = get_user(uow, actor=actor, user_id=user_id)
    before = snapshot(user)
    user.active = active
    user.session_version += 1
    audit(
        uow,
        actor,
        "user.activate" if active else "user.deactivate",
        "user",
        user.id,
        before=before,
        after=snapshot(user),
    )
    uow.commit()
    return user


# ---------------------------------------------------------------- sign-in


class LoginPolicy:
    """Throttle settings for sign-in."""

    def __init__(self, max_failures: int, window_seconds: int) -> None:
        self.max_failures = max_failures
        self.window = timedelta(seconds=window_seconds)


def _throttle_keys(username: str, source_address: str) -> list[str]:
    return [f"user:{username}", f"addr:{source_address}"]


def login(
    uow: UnitOfWork,
    *,
    username: str,
    password: str,
    passwords: PasswordHasher,
    policy: LoginPolicy,
) -> tuple[User, Actor]:
    """Check a password; the same error for an unknown user and a wrong password."""
    now = uow.clock.now()
    # Normalise once: the throttle must count exactly the account the lookup finds.
    username = username.strip().lower()[:200]
    keys = _throttle_keys(username, uow.context.source_address)
    throttles = {
        t.key: t
        for t in uow.session.scalars(sa.select(LoginThrottle).where(LoginThrottle.key.in_(keys)))
    }
    for t in throttles.values():
        if now - t.window_started_at < policy.window and t.failures >= policy.max_failures:
            raise LoginThrottled(
                "登录失败次数过多，请稍后再试 (too many failed sign-ins; try again later)",
                details={
                    "retry_after_seconds": int(
                        (t.window_started_at + policy.window - now).total_seconds()
                    )
                    + 1
                },
            )
    user = uow.session.scalar(sa.select(User).where(User.username == username))
    ok = passwords.verify(user.password_hash if user else None, password)
    if not ok or user is None or not user.active:
        for key in keys:
            found = throttles.get(key)
            if found is None:
                t = LoginThrottle(key=key, failures=0, window_started_at=now)
                uow.session.add(t)
            else:
                t = found
            if now - t.window_started_at >= policy.window:
                t.failures, t.window_started_at = 0, now
            t.failures += 1
        record(
            uow,
            actor_id=None,
            actor_label=f"sign-in attempt as {username[:80]!r}",
            actor_roles=[],
            action="session.login_failed",
            subject_type="user",
            subject_id=user.id if user else "-",
        )
        uow.commit()
        raise WrongCredentials("用户名或密码错误 (wrong username or password)")
    # Success clears this account's counter only: one valid account must not reset the
    # counter of the address it is guessing from.
    user_key = throttles.get(keys[0])
    if user_key is not None:
        uow.session.delete(user_key)
    if passwords.needs_rehash(user.password_hash or ""):
        user.password_hash = passwords.hash(password)
    actor = actor_for_user(uow, user)
    audit(uow, actor, "session.login", "user", user.id)
    uow.commit()
    return user, actor


# ---------------------------------------------------------------- audit search


def search_audit(
    uow: UnitOfWork,
    *,
    actor: Actor,
    actor_filter: str | None = None,
    action: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[AuditRecord]:
    """Search the trail, newest first; no one sees records of their own actions."""
    authorize(actor, "audit.read")
    stmt = sa.select(AuditRecord).where(
        sa.or_(AuditRecord.actor_id.is_(None), AuditRecord.actor_id != actor.user_id)
    )
    if actor_filter:
        stmt = stmt.where(
            sa.or_(
                AuditRecord.actor_id == actor_filter, AuditRecord.actor_label.contains(actor_filter)
            )
        )
    if action:
        stmt = stmt.where(AuditRecord.action.startswith(action))
    if subject_type:
        stmt = stmt.where(AuditRecord.subject_type == subject_type)
    if subject_id:
        stmt = stmt.where(AuditRecord.subject_id == subject_id)
    if since:
        stmt = stmt.where(AuditRecord.at >= since)
    if until:
        stmt = stmt.where(AuditRecord.at < until)
    after = decode_cursor(cursor, arity=1)
    if after is not None:
        stmt = stmt.where(AuditRecord.id < after[0])
    rows = list(uow.session.scalars(stmt.order_by(AuditRecord.id.desc()).limit(limit + 1)))
    page = paginate(rows, limit, lambda r: [r.id])
    # Reading the trail is itself recorded, so auditors are audited by someone else.
    filters = {
        k: v
        for k, v in {
            "actor": actor_filter,
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
        }.items()
        if v
    }
    audit(uow, actor, "audit.search", "audit", "-", after={"filters": filters}, aside=True)
    return page
