"""API tokens: shown once, stored as a hash, scoped, expiring, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from gongshu.identity.authz import Actor, Resource, authorize
from gongshu.identity.errors import TokenInvalid
from gongshu.identity.models import ApiToken, User
from gongshu.identity.schemas import TokenCreate
from gongshu.identity.service import actor_for_user, audit
from gongshu.kernel.audit import snapshot
from gongshu.kernel.errors import Conflict, InvalidInput
from gongshu.kernel.ids import new_id
from gongshu.kernel.uow import UnitOfWork

__all__ = ["TOKEN_PREFIX", "authenticate_token", "create_token", "list_tokens", "revoke_token"]

TOKEN_PREFIX = "gs"
TOUCH_INTERVAL = timedelta(minutes=1)


def _hash_secret(secret: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough and keeps each request cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(uow: UnitOfWork, *, actor: Actor, data: TokenCreate) -> tuple[ApiToken, str]:
    """Issue a token for the actor; the returned string is the only time the secret is seen."""
    authorize(actor, "token.create", Resource("token", owner_user_id=actor.user_id))
    if actor.scopes is not None and not set(data.scopes) <= actor.scopes:
        raise InvalidInput.field("body.scopes", "a token cannot grant more than its creator has")
    now = uow.clock.now()
    secret = secrets.token_urlsafe(32)
    token = ApiToken(
        id=new_id("tok"),
        user_id=actor.user_id,
        name=data.name,
        secret_hash=_hash_secret(secret),
        scopes=sorted(set(data.scopes)),
        created_at=now,
        expires_at=now + timedelta(days=data.expires_in_days),
        revoked_at=None,
        last_used_at=None,
    )
    uow.session.add(token)
    uow.session.flush()
    audit(uow, actor, "token.create", "token", token.id, after=snapshot(token))
    uow.commit()
    return token, f"{TOKEN_PREFIX}_{token.id}.{secret}"


def authenticate_token(uow: UnitOfWork, raw: str) -> Actor:
    """The actor behind a bearer token; unknown, expired, revoked or malformed → 401."""
    prefix, _, rest = raw.partition("_")
    token_id, _, secret = rest.partition(".")
    if prefix != TOKEN_PREFIX or not token_id or not secret:
        raise TokenInvalid("令牌格式不正确 (malformed token)")
    found = uow.session.execute(
        sa.select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.id == token_id)
    ).first()
    if found is None or not hmac.compare_digest(found[0].secret_hash, _hash_secret(secret)):
        raise TokenInvalid("令牌无效 (unknown token)")
    token, user = found
    now = uow.clock.now()
    if token.revoked_at is not None:
        raise TokenInvalid("令牌已撤销 (token revoked)")
    if token.expires_at <= now:
        raise TokenInvalid("令牌已过期 (token expired)")
    if not user.active:
        raise TokenInvalid("令牌所属用户已停用 (the token's user is deactivated)")
    if token.last_used_at is None or now - token.last_used_at > TOUCH_INTERVAL:
        _touch(uow, token.id, now)
    return actor_for_user(uow, user, via="token", scopes=frozenset(token.scopes), token_id=token.id)


def _touch(uow: UnitOfWork, token_id: str, now: datetime) -> None:
    """Record last use at most once a minute, best effort.

    A reading request stays a reader: the timestamp is written aside, not by upgrading
    the request's transaction.
    """
    stmt = (
        sa.update(ApiToken)
        .where(
            ApiToken.id == token_id,
            sa.or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - TOUCH_INTERVAL),
        )
        .values(last_used_at=now)
    )
    uow.aside(stmt)


def list_tokens(uow: UnitOfWork, *, actor: Actor) -> list[ApiToken]:
    """The actor's own tokens, newest first."""
    authorize(actor, "token.read", Resource("token", owner_user_id=actor.user_id))
    return list(
        uow.session.scalars(
            sa.select(ApiToken)
            .where(ApiToken.user_id == actor.user_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def revoke_token(uow: UnitOfWork, *, actor: Actor, token_id: str) -> ApiToken:
    """Revoke a token: one's own, or any for an administrator or security officer."""
    token = uow.session.get(ApiToken, token_id)
    resource = Resource("token", token_id, owner_user_id=token.user_id if token else None)
    if token is None:
        raise TokenInvalid(f"no token {token_id!r}")
    authorize(actor, "token.revoke", resource)
    if token.revoked_at is not None:
        raise Conflict("token already revoked")
    before = snapshot(token)
    token.revoked_at = uow.clock.now()
    audit(uow, actor, "token.revoke", "token", token.id, before=before, after=snapshot(token))
    uow.commit()
    return token
