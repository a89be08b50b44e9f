"""App keys for the open API: shown once, stored as a SHA-256 hash, limited, revocable.

A key reads ``gok_<prefix>_<secret>``: the prefix is stored in clear (it finds the row and is
shown in lists), the 256-bit secret only as its hash — a fast hash is enough for that much
randomness, as for API tokens. Each key has a per-minute rate limit and a daily quota; the row
API and downloads check them through :class:`KeyRing`, which keeps recently seen keys in memory
for a few seconds so that a busy key costs no database round trip per call. Revoking through
the ring forgets the key at once in this process; other processes notice within the cache time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from gongshu.identity.authz import Actor, Resource, authorize, can
from gongshu.identity.models import Role, User
from gongshu.identity.service import audit
from gongshu.kernel.audit import snapshot
from gongshu.kernel.errors import Conflict, InvalidInput
from gongshu.kernel.ids import new_id
from gongshu.kernel.uow import UnitOfWork
from gongshu.opendata.accounts import personal_organisation
from gongshu.opendata.errors import AppKeyInvalid, AppKeyNotFound, AppKeyRevoked
from gongshu.opendata.models import AppKey
from gongshu.opendata.schemas import AppKeyCreate

__all__ = [
    "DEFAULT_DAILY_QUOTA",
    "DEFAULT_RATE_LIMIT",
    "KEY_PREFIX",
    "KeyInfo",
    "KeyRing",
    "create_key",
    "hash_secret",
    "list_keys",
    "revoke_key",
]

KEY_PREFIX = "gok"
DEFAULT_RATE_LIMIT = 600  # calls per minute
DEFAULT_DAILY_QUOTA = 100_000  # calls per local day
TOUCH_INTERVAL = timedelta(minutes=1)


def hash_secret(secret: str) -> str:
    """The stored form of a key's secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(uow: UnitOfWork, *, actor: Actor, data: AppKeyCreate) -> tuple[AppKey, str]:
    """Issue a key for one of the actor's organisations; the string is the only sight of it."""
    authorize(actor, "open.key.create", Resource("app_key", owner_user_id=actor.user_id))
    organisation_id = _key_organisation(uow, actor, data.organisation_id)
    # Only the bureau may raise a key above the defaults (for its own tools and benchmarks).
    raise_allowed = Role.BUREAU_ADMIN in actor.roles
    for name, value, default in (
        ("rate_limit_per_minute", data.rate_limit_per_minute, DEFAULT_RATE_LIMIT),
        ("daily_quota", data.daily_quota, DEFAULT_DAILY_QUOTA),
    ):
        if value is not None and value > default and not raise_allowed:
            raise InvalidInput.field(f"body.{name}", f"不能超过 {default} (at most {default})")
    secret = secrets.token_urlsafe(32)
    key = AppKey(
        id=new_id("key"),
        user_id=actor.user_id,
        organisation_id=organisation_id,
        name=data.name,
        prefix=secrets.token_hex(6),
        secret_hash=hash_secret(secret),
        rate_limit_per_minute=data.rate_limit_per_minute or DEFAULT_RATE_LIMIT,
        daily_quota=data.daily_quota or DEFAULT_DAILY_QUOTA,
        created_at=uow.clock.now(),
        revoked_at=None,
        last_used_at=None,
    )
    uow.session.add(key)
    uow.session.flush()
    audit(uow, actor, "open.key.create", "app_key", key.id, after=_public(key))
    return key, f"{KEY_PREFIX}_{key.prefix}_{secret}"


def _public(key: AppKey) -> dict[str, object]:
    # The ledger is public: the key's free-text name stays in the database only.
    shown = snapshot(key)
    shown.pop("name", None)
    return shown


def _key_organisation(uow: UnitOfWork, actor: Actor, asked: str | None) -> str:
    if asked is not None:
        if asked not in actor.organisation_ids:
            raise InvalidInput.field(
                "body.organisation_id", "不是你所在的组织 (not your organisation)"
            )
        return asked
    own = personal_organisation(uow, actor.user_id)
    if own is not None:
        return own.id
    if len(actor.organisation_ids) == 1:
        return next(iter(actor.organisation_ids))
    raise InvalidInput.field(
        "body.organisation_id", "请选择密钥所属的组织 (say which organisation the key is for)"
    )


def list_keys(uow: UnitOfWork, *, actor: Actor) -> list[AppKey]:
    """The actor's own keys, newest first."""
    authorize(actor, "open.key.read", Resource("app_key", owner_user_id=actor.user_id))
    return list(
        uow.session.scalars(
            sa.select(AppKey)
            .where(AppKey.user_id == actor.user_id)
            .order_by(AppKey.created_at.desc(), AppKey.id.desc())
        )
    )


def revoke_key(uow: UnitOfWork, *, actor: Actor, key_id: str) -> AppKey:
    """Revoke a key: one's own, or any for the bureau or a security officer."""
    key = uow.session.get(AppKey, key_id)
    resource = Resource("app_key", key_id, owner_user_id=key.user_id if key else None)
    if key is None or not can(actor, "open.key.revoke", resource):
        raise AppKeyNotFound(f"没有应用密钥 {key_id} (no app key {key_id!r})")
    if key.revoked_at is not None:
        raise Conflict("应用密钥已撤销 (the app key is already revoked)")
    before = _public(key)
    key.revoked_at = uow.clock.now()
    audit(uow, actor, "open.key.revoke", "app_key", key.id, before=before, after=_public(key))
    return key


@dataclass(frozen=True)
class KeyInfo:
    """What a call needs to know about its key."""

    id: str
    prefix: str
    user_id: str
    organisation_id: str
    secret_hash: str
    rate_limit_per_minute: int
    daily_quota: int
    revoked: bool
    owner_active: bool


_LOOKUP = (
    sa.select(
        AppKey.id,
        AppKey.prefix,
        AppKey.user_id,
        AppKey.organisation_id,
        AppKey.secret_hash,
        AppKey.rate_limit_per_minute,
        AppKey.daily_quota,
        AppKey.revoked_at.is_not(None),
        User.active,
    )
    .join(User, User.id == AppKey.user_id)
    .where(AppKey.prefix == sa.bindparam("prefix"))
)


class KeyRing:
    """Authenticates raw keys, remembering each for ``ttl_seconds`` (positive answers only)."""

    def __init__(self, ttl_seconds: float = 10.0) -> None:
        self.ttl = ttl_seconds
        self._known: dict[str, tuple[float, KeyInfo]] = {}
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def authenticate(self, uow: UnitOfWork, raw: str) -> KeyInfo:
        """The key behind ``raw``; malformed or unknown → 401, revoked → 401 app_key_revoked."""
        head, _, rest = raw.strip().partition("_")
        prefix, _, secret = rest.partition("_")
        if head != KEY_PREFIX or not prefix or not secret:
            raise AppKeyInvalid("应用密钥格式不正确 (malformed app key)")
        info = self._lookup(uow, prefix)
        if info is None or not hmac.compare_digest(info.secret_hash, hash_secret(secret)):
            raise AppKeyInvalid("应用密钥无效 (unknown app key)")
        if info.revoked:
            raise AppKeyRevoked("应用密钥已撤销 (the app key was revoked)")
        if not info.owner_active:
            raise AppKeyInvalid("应用密钥所属用户已停用 (the key's owner is deactivated)")
        self._touch(uow, info)
        return info

    def forget(self, prefix: str) -> None:
        """Drop a key from memory (after revoking it here)."""
        with self._lock:
            self._known.pop(prefix, None)

    def _lookup(self, uow: UnitOfWork, prefix: str) -> KeyInfo | None:
        now = time.monotonic()
        with self._lock:
            cached = self._known.get(prefix)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        row = uow.session.execute(_LOOKUP, {"prefix": prefix}).first()
        if row is None:
            return None
        key_id, key_prefix, user_id, org_id, digest, rate, quota, revoked, active = row
        info = KeyInfo(
            key_id, key_prefix, user_id, org_id, digest, rate, quota, bool(revoked), bool(active)
        )
        with self._lock:
            if len(self._known) > 10_000:  # bounded: a flood of keys cannot grow it for ever
                self._known.clear()
            self._known[prefix] = (now, info)
        return info

    def _touch(self, uow: UnitOfWork, info: KeyInfo) -> None:
        """Record last use at most once a minute per key, aside from the reading request."""
        now = time.monotonic()
        with self._lock:
            last = self._touched.get(info.id)
            if last is not None and now - last < TOUCH_INTERVAL.total_seconds():
                return
            self._touched[info.id] = now
        at = uow.clock.now()
        uow.aside(
            sa.update(AppKey)
            .where(
                AppKey.id == info.id,
                sa.or_(AppKey.last_used_at.is_(None), AppKey.last_used_at < at - TOUCH_INTERVAL),
            )
            .values(last_used_at=at)
        )
