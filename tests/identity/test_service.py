"""Organisations, users and roles, sign-in, tokens and the audit trail, on both databases."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from gongshu.bootstrap import Platform
from gongshu.identity import service, tokens
from gongshu.identity.errors import (
    DutyConflictError,
    LoginThrottled,
    NotPermitted,
    TokenInvalid,
    UsernameTaken,
    WrongCredentials,
)
from gongshu.identity.models import ApiToken, Organisation, OrgKind, Role
from gongshu.identity.schemas import OrganisationCreate, TokenCreate, UserCreate
from gongshu.kernel.audit import AuditRecord
from gongshu.kernel.clock import FixedClock
from gongshu.kernel.errors import Conflict, InvalidInput
from gongshu.kernel.uow import RequestContext
from tests.factories import (
    AUDIT_OFFICE,
    BUREAU,
    CHAOYANG,
    PASSWORD,
    TRANSPORT,
    actor,
    build_city,
    make_user,
)


def _audit_actions(platform: Platform) -> list[str]:
    with platform.uow() as uow:
        return list(uow.session.scalars(sa.select(AuditRecord.action).order_by(AuditRecord.id)))


def test_bootstrap_creates_the_bureau_and_its_admin_once(platform: Platform) -> None:
    city = build_city(platform)
    assert Role.BUREAU_ADMIN in city.admin.roles
    with platform.uow() as uow, pytest.raises(Conflict, match="already exists"):
        service.bootstrap_admin(
            uow,
            bureau=OrganisationCreate(code="b2", name="另一局", kind=OrgKind.BUREAU),
            data=UserCreate(username="admin2", display_name="x"),
            passwords=platform.passwords,
        )


def test_the_district_street_community_hierarchy(platform: Platform) -> None:
    city = build_city(platform)
    with platform.uow() as uow:
        streets = service.list_organisations(
            uow, actor=city.admin, parent_id=city.orgs[CHAOYANG]
        ).items
        assert [s.name for s in streets] == ["建外街道"]
        with pytest.raises(InvalidInput, match="parent_code"):
            service.create_organisation(
                uow,
                actor=city.admin,
                data=OrganisationCreate(code="c9", name="孤儿社区", kind=OrgKind.COMMUNITY),
            )
        with pytest.raises(InvalidInput, match="cannot sit under"):
            service.create_organisation(
                uow,
                actor=city.admin,
                data=OrganisationCreate(
                    code="c9", name="错挂社区", kind=OrgKind.COMMUNITY, parent_code=CHAOYANG
                ),
            )
        with pytest.raises(InvalidInput, match="uscc"):
            service.create_organisation(
                uow,
                actor=city.admin,
                data=OrganisationCreate(
                    code="e1", name="企业", kind=OrgKind.ENTERPRISE, uscc="91110000802100433A"
                ),
            )


def test_a_failed_batch_leaves_nothing_behind(platform: Platform) -> None:
    city = build_city(platform)
    with platform.uow() as uow:
        before = uow.session.scalar(sa.select(sa.func.count()).select_from(Organisation))
    items = [
        OrganisationCreate(code="ok1", name="好的", kind=OrgKind.DEPARTMENT),
        OrganisationCreate(code=TRANSPORT, name="重复", kind=OrgKind.DEPARTMENT),
    ]
    with platform.uow() as uow, pytest.raises(Conflict, match="item 2"):
        service.create_organisations(uow, actor=city.admin, items=items)
    with platform.uow() as uow:
        after = uow.session.scalar(sa.select(sa.func.count()).select_from(Organisation))
    assert after == before


def test_only_administrators_manage_organisations_and_users(platform: Platform) -> None:
    city = build_city(platform)
    with platform.uow() as uow:
        with pytest.raises(NotPermitted):
            service.create_organisation(
                uow,
                actor=city.officer,
                data=OrganisationCreate(code="x1", name="私设机构", kind=OrgKind.DEPARTMENT),
            )
        with pytest.raises(NotPermitted):
            service.create_user(
                uow,
                actor=city.auditor,
                passwords=platform.passwords,
                data=UserCreate(username="sneaky", display_name="x"),
            )
        with pytest.raises(NotPermitted):
            service.list_users(uow, actor=city.citizen)


def test_duties_stay_apart_when_roles_are_assigned(platform: Platform) -> None:
    city = build_city(platform)
    with platform.uow() as uow, pytest.raises(DutyConflictError):
        service.assign_role(
            uow,
            actor=city.admin,
            user_id="auditor",
            organisation_code=TRANSPORT,
            role=Role.DEPT_OFFICER,
        )
    with platform.uow() as uow, pytest.raises(DutyConflictError):
        service.assign_role(
            uow,
            actor=city.admin,
            user_id="security",
            organisation_code=BUREAU,
            role=Role.BUREAU_ADMIN,
        )
    with platform.uow() as uow, pytest.raises(Conflict, match="own roles"):
        service.assign_role(
            uow,
            actor=city.admin,
            user_id="admin",
            organisation_code=AUDIT_OFFICE,
            role=Role.DEPT_OFFICER,
        )
    with platform.uow() as uow:
        service.assign_role(
            uow,
            actor=city.admin,
            user_id="officer",
            organisation_code=CHAOYANG,
            role=Role.DISTRICT_OFFICER,
        )
    assert {Role.DEPT_OFFICER, Role.DISTRICT_OFFICER} <= actor(platform, "officer").roles
    assert _audit_actions(platform)[-1] == "role.assign"


def test_usernames_are_unique(platform: Platform) -> None:
    city = build_city(platform)
    with pytest.raises(UsernameTaken):
        make_user(platform, city.admin, "officer", [(TRANSPORT, Role.DEPT_OFFICER)])


def test_passwords_are_stored_as_argon2_hashes(platform: Platform) -> None:
    build_city(platform)
    with platform.uow() as uow:
        stored = uow.session.scalar(
            sa.text("SELECT password_hash FROM app_user WHERE username = 'officer'")
        )
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def _login(platform: Platform, username: str, password: str, address: str = "10.0.0.1") -> None:
    with platform.uow(RequestContext(source_address=address)) as uow:
        service.login(
            uow,
            username=username,
            password=password,
            passwords=platform.passwords,
            policy=platform.login_policy,
        )


def test_sign_in_never_says_whether_the_user_exists(platform: Platform) -> None:
    build_city(platform)
    with pytest.raises(WrongCredentials) as wrong_password:
        _login(platform, "officer", "not-the-password")
    with pytest.raises(WrongCredentials) as unknown_user:
        _login(platform, "nobody", "not-the-password")
    assert wrong_password.value.message == unknown_user.value.message
    _login(platform, "officer", PASSWORD)
    assert _audit_actions(platform)[-3:] == [
        "session.login_failed",
        "session.login_failed",
        "session.login",
    ]


def test_sign_in_is_throttled_and_the_window_passes(platform: Platform, clock: FixedClock) -> None:
    build_city(platform)
    for _ in range(platform.settings.login_max_failures):
        with pytest.raises(WrongCredentials):
            _login(platform, "officer", "guess")
    with pytest.raises(LoginThrottled):
        _login(platform, "officer", PASSWORD)  # even the right password waits
    with pytest.raises(LoginThrottled):
        _login(platform, "district", PASSWORD)  # the same address is throttled too
    _login(platform, "district", PASSWORD, address="10.0.0.2")
    clock.advance(seconds=platform.settings.login_window_seconds + 1)
    _login(platform, "officer", PASSWORD)


def test_a_deactivated_user_cannot_sign_in(platform: Platform) -> None:
    city = build_city(platform)
    with platform.uow() as uow:
        service.set_user_active(uow, actor=city.admin, user_id="officer", active=False)
    with pytest.raises(WrongCredentials):
        _login(platform, "officer", PASSWORD)


def _token(platform: Platform, username: str, **data: object) -> tuple[str, str]:
    with platform.uow() as uow:
        token, raw = tokens.create_token(
            uow,
            actor=actor(platform, username),
            data=TokenCreate.model_validate({"name": "t", **data}),
        )
    return token.id, raw


def _whoami(platform: Platform, raw: str) -> str:
    with platform.uow() as uow:
        return tokens.authenticate_token(uow, raw).username


def test_tokens_are_shown_once_and_stored_hashed(platform: Platform) -> None:
    build_city(platform)
    token_id, raw = _token(platform, "officer", scopes=["read", "write"])
    assert _whoami(platform, raw) == "officer"
    with platform.uow() as uow:
        stored = uow.session.get(ApiToken, token_id)
        assert stored is not None
        secret = raw.split(".", 1)[1]
        assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in str(stored.__dict__)
    with platform.uow() as uow:
        bearer = tokens.authenticate_token(uow, raw)
    assert bearer.scopes == frozenset({"read", "write"}) and bearer.via == "token"


@pytest.mark.parametrize("raw", ["", "gs_", "gs_tok_x", "xx_tok_1.abc", "gs_tok_nope.secret"])
def test_malformed_and_unknown_tokens_are_refused(platform: Platform, raw: str) -> None:
    with platform.uow() as uow, pytest.raises(TokenInvalid):
        tokens.authenticate_token(uow, raw)


def test_a_token_with_the_wrong_secret_is_refused(platform: Platform) -> None:
    build_city(platform)
    _token_id, raw = _token(platform, "officer")
    with pytest.raises(TokenInvalid, match="unknown"):
        _whoami(platform, raw[:-2] + "xx")


def test_tokens_expire_and_can_be_revoked(platform: Platform, clock: FixedClock) -> None:
    build_city(platform)
    _id1, short = _token(platform, "officer", expires_in_days=1)
    id2, revoked = _token(platform, "officer")
    with platform.uow() as uow:
        tokens.revoke_token(uow, actor=actor(platform, "officer"), token_id=id2)
    with pytest.raises(TokenInvalid, match="revoked"):
        _whoami(platform, revoked)
    clock.advance(days=1, seconds=1)
    with pytest.raises(TokenInvalid, match="expired"):
        _whoami(platform, short)


def test_nobody_revokes_someone_elses_token_except_admins(platform: Platform) -> None:
    city = build_city(platform)
    token_id, _raw = _token(platform, "officer")
    with platform.uow() as uow, pytest.raises(NotPermitted):
        tokens.revoke_token(uow, actor=city.district, token_id=token_id)
    with platform.uow() as uow:
        tokens.revoke_token(uow, actor=city.security, token_id=token_id)


def test_a_read_token_cannot_mint_a_write_token(platform: Platform) -> None:
    build_city(platform)
    _id, raw = _token(platform, "admin", scopes=["read"])
    with platform.uow() as uow:
        bearer = tokens.authenticate_token(uow, raw)
    with platform.uow() as uow, pytest.raises(NotPermitted):
        tokens.create_token(uow, actor=bearer, data=TokenCreate(name="x", scopes=["write"]))


def test_deactivating_a_user_ends_their_tokens(platform: Platform) -> None:
    city = build_city(platform)
    _id, raw = _token(platform, "officer")
    with platform.uow() as uow:
        service.set_user_active(uow, actor=city.admin, user_id="officer", active=False)
    with pytest.raises(TokenInvalid, match="deactivated"):
        _whoami(platform, raw)


def test_every_change_is_audited_with_before_after_and_origin(platform: Platform) -> None:
    city = build_city(platform)
    context = RequestContext(request_id="req_abc", source_address="192.0.2.7")
    with platform.uow(context) as uow:
        service.set_user_active(uow, actor=city.admin, user_id="district", active=False)
    with platform.uow() as uow:
        row = uow.session.scalars(sa.select(AuditRecord).order_by(AuditRecord.id.desc())).first()
        assert row is not None
        assert (row.action, row.actor_id, row.request_id, row.source_address) == (
            "user.deactivate",
            city.admin.user_id,
            "req_abc",
            "192.0.2.7",
        )
        assert row.before is not None and row.before["active"] is True
        assert row.after is not None and row.after["active"] is False
        assert "password_hash" not in row.after


def test_a_refused_change_writes_no_audit_record(platform: Platform) -> None:
    city = build_city(platform)
    before = _audit_actions(platform)
    with platform.uow() as uow, pytest.raises(UsernameTaken):
        service.create_user(
            uow,
            actor=city.admin,
            passwords=platform.passwords,
            data=UserCreate(username="officer", display_name="x", password=SecretStr(PASSWORD)),
        )
    assert _audit_actions(platform) == before


def test_auditors_search_everything_but_their_own_actions(platform: Platform) -> None:
    city = build_city(platform)
    with platform.uow() as uow:
        page = service.search_audit(uow, actor=city.auditor, action="user.create", limit=200)
    # Seven users made by the admin, and the admin made at bootstrap by the local console.
    assert len(page.items) == 8
    assert {r.actor_id for r in page.items} == {city.admin.user_id, None}
    with platform.uow() as uow:
        service.search_audit(uow, actor=city.auditor)  # recorded as audit.search
        mine = service.search_audit(uow, actor=city.auditor, action="audit.search").items
    assert mine == []  # the auditor cannot see their own searches …
    with platform.uow() as uow:
        theirs = service.search_audit(uow, actor=city.security, action="audit.search").items
    assert {r.actor_id for r in theirs} == {city.auditor.user_id}  # … the security officer can
    with platform.uow() as uow, pytest.raises(NotPermitted):
        service.search_audit(uow, actor=city.admin)


def test_audit_search_pages_by_cursor(platform: Platform) -> None:
    city = build_city(platform)
    seen: list[str] = []
    cursor = None
    while True:
        with platform.uow() as uow:
            page = service.search_audit(
                uow, actor=city.security, action="user.create", cursor=cursor, limit=3
            )
        seen += [r.id for r in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 8
    assert seen == sorted(seen, reverse=True)


def test_the_throttle_counts_the_account_however_its_name_is_typed(platform: Platform) -> None:
    build_city(platform)
    for variant in ["officer", " officer", "OFFICER ", "  Officer", "officer\t"]:
        with pytest.raises(WrongCredentials):
            _login(platform, variant, "guess", address=f"10.0.1.{len(variant)}")
    with pytest.raises(LoginThrottled):
        _login(platform, "officer", PASSWORD, address="10.9.9.9")


def test_a_valid_account_does_not_reset_its_address_counter(platform: Platform) -> None:
    build_city(platform)
    for _ in range(platform.settings.login_max_failures - 1):
        with pytest.raises(WrongCredentials):
            _login(platform, "officer", "guess")
    _login(platform, "district", PASSWORD)  # the attacker's own account
    with pytest.raises(WrongCredentials):
        _login(platform, "officer", "guess")
    with pytest.raises(LoginThrottled):
        _login(platform, "officer", "guess")
