"""Public accounts: sign-up with a personal organisation, and real-name verification.

A public account is an ordinary user holding the ``public`` role in an organisation of kind
``public`` of its own (code ``u-<user id>``), so that a conditional-opening approval issues an
ordinary grant to it. Sign-in is the platform's (``/login``, API tokens).

Real-name verification (实名认证) checks the citizen ID's structure and check character and
stores nothing of it but a keyed digest (HMAC-SHA256 under the platform's secret) in the audit
record, which is enough to refuse the same ID verifying a second account. The name is checked
for shape only and never stored. Functions only add to the unit of work: the adapter commits.
"""

from __future__ import annotations

import hashlib
import hmac

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from gongshu.identity.authz import Actor, Resource, authorize
from gongshu.identity.errors import UsernameTaken, UserNotFound
from gongshu.identity.models import Membership, Organisation, OrgKind, Role, User
from gongshu.identity.passwords import PasswordHasher
from gongshu.identity.service import actor_for_user, audit
from gongshu.kernel.audit import AuditRecord
from gongshu.kernel.clock import local_date
from gongshu.kernel.errors import Conflict
from gongshu.kernel.identifiers import normalise_identifier, validate_citizen_id
from gongshu.kernel.ids import new_id
from gongshu.kernel.uow import UnitOfWork
from gongshu.opendata.errors import CitizenIdInvalid, RealNameTaken
from gongshu.opendata.schemas import AccountCreate, AccountRead, RealNameInput

__all__ = [
    "REAL_NAME_ACTION",
    "account_view",
    "create_account",
    "personal_code",
    "personal_organisation",
    "verify_real_name",
]

REAL_NAME_ACTION = "open.account.real_name"


def personal_code(user_id: str) -> str:
    """The code of a public user's personal organisation."""
    return f"u-{user_id}"


def create_account(
    uow: UnitOfWork, *, data: AccountCreate, passwords: PasswordHasher
) -> tuple[User, Organisation]:
    """Register a public user with a personal organisation and the ``public`` role in it."""
    username = data.username.lower()
    if uow.session.scalar(sa.select(User.id).where(User.username == username)):
        raise UsernameTaken(f"用户名 {username!r} 已被使用 (username {username!r} is taken)")
    now = uow.clock.now()
    user = User(
        id=new_id("usr"),
        username=username,
        display_name=data.display_name,
        email=data.email,
        password_hash=passwords.hash(data.password.get_secret_value()),
        active=True,
        real_name_verified=False,
        session_version=1,
        created_at=now,
    )
    org = Organisation(
        id=new_id("org"),
        code=personal_code(user.id),
        name=f"{data.display_name}（个人）"[:200],
        name_en="personal account",
        kind=OrgKind.PUBLIC.value,
        parent_id=None,
        division_code=None,
        uscc=None,
        active=True,
        created_at=now,
    )
    uow.session.add_all([user, org])
    uow.session.flush()
    uow.session.add(
        Membership(
            id=new_id("mem"),
            user_id=user.id,
            organisation_id=org.id,
            role=Role.PUBLIC.value,
            created_at=now,
        )
    )
    try:
        uow.session.flush()
    except IntegrityError as exc:  # a concurrent sign-up took the name first
        raise UsernameTaken(f"用户名 {username!r} 已被使用 (username is taken)") from exc
    # The ledger is public: the anchored record names ids only, no personal data.
    audit(
        uow,
        actor_for_user(uow, user, via="signup"),
        "open.account.create",
        "user",
        user.id,
        after={"user_id": user.id, "organisation_id": org.id, "organisation_code": org.code},
    )
    return user, org


def personal_organisation(uow: UnitOfWork, user_id: str) -> Organisation | None:
    """The user's own public organisation, else any public organisation they belong to."""
    rows = uow.session.scalars(
        sa.select(Organisation)
        .join(Membership, Membership.organisation_id == Organisation.id)
        .where(
            Membership.user_id == user_id,
            Membership.role == Role.PUBLIC.value,
            Organisation.kind == OrgKind.PUBLIC.value,
            Organisation.active,
        )
        .order_by(Organisation.code)
    ).all()
    own = [org for org in rows if org.code == personal_code(user_id)]
    found = own or list(rows)
    return found[0] if found else None


def account_view(uow: UnitOfWork, *, actor: Actor) -> AccountRead:
    """The caller's account with its personal organisation."""
    user = uow.session.get(User, actor.user_id)
    if user is None:
        raise UserNotFound("no such account")
    org = personal_organisation(uow, user.id)
    return AccountRead(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        email=user.email,
        real_name_verified=user.real_name_verified,
        organisation_id=org.id if org else None,
        organisation_code=org.code if org else None,
        created_at=user.created_at,
    )


def _digest(pepper: bytes, citizen_id: str) -> str:
    return hmac.new(pepper, normalise_identifier(citizen_id).encode(), hashlib.sha256).hexdigest()


def verify_real_name(uow: UnitOfWork, *, actor: Actor, data: RealNameInput, pepper: bytes) -> User:
    """Mark the caller real-name verified after checking the citizen ID (GB 11643)."""
    authorize(
        actor, "open.account.verify", Resource("user", actor.user_id, owner_user_id=actor.user_id)
    )
    user = uow.session.get(User, actor.user_id)
    if user is None:
        raise UserNotFound("no such account")
    if user.real_name_verified:
        raise Conflict("账户已完成实名认证 (the account is already real-name verified)")
    raw = data.citizen_id.get_secret_value()
    problem = validate_citizen_id(raw, today=local_date(uow.clock.now()))
    if problem is not None:
        raise CitizenIdInvalid(
            f"公民身份号码无效 (invalid citizen ID): {problem.message}",
            details=[{"path": "body.citizen_id", "message": problem.message, "type": problem.code}],
        )
    digest = _digest(pepper, raw)
    taken = uow.session.scalar(
        sa.select(AuditRecord.subject_id)
        .where(
            AuditRecord.action == REAL_NAME_ACTION,
            AuditRecord.subject_id != user.id,
            AuditRecord.after["citizen_id_digest"].as_string() == digest,
        )
        .limit(1)
    )
    if taken is not None:
        raise RealNameTaken(
            "该公民身份号码已认证其他账户 (this citizen ID already verified another account)"
        )
    user.real_name_verified = True
    audit(
        uow,
        actor,
        REAL_NAME_ACTION,
        "user",
        user.id,
        before={"real_name_verified": False},
        after={"real_name_verified": True, "citizen_id_digest": digest},
    )
    return user
