"""authorize(): declared actions, deny by default, reach, token scopes, 三员分立."""

from __future__ import annotations

import pytest

from gongshu.identity.authz import ACTIONS, Actor, Resource, authorize, can, check_duties
from gongshu.identity.errors import DutyConflictError, NotPermitted
from gongshu.identity.models import Role


def _actor(*roles: Role, org: str = "org1", scopes: frozenset[str] | None = None) -> Actor:
    return Actor(
        user_id="u1",
        username="u",
        display_name="U",
        memberships=tuple((org, r) for r in roles),
        scopes=scopes,
    )


def test_undeclared_actions_and_roleless_actors_are_refused() -> None:
    admin = _actor(Role.BUREAU_ADMIN)
    with pytest.raises(NotPermitted, match="undeclared"):
        authorize(admin, "catalog.delete_everything")
    assert not can(_actor(), "console.view")


def test_every_declared_action_is_refused_to_someone() -> None:
    # Deny by default: no action is open to an actor without roles.
    nobody = _actor()
    assert all(not can(nobody, code) for code in ACTIONS)


def test_own_reach_covers_only_the_actors_organisations() -> None:
    officer = _actor(Role.DEPT_OFFICER, org="transport")
    assert can(officer, "grant.read", Resource("grant", "g1", frozenset({"transport"})))
    assert not can(officer, "grant.read", Resource("grant", "g2", frozenset({"health"})))
    assert not can(officer, "grant.read")  # listing everything needs ALL reach
    assert can(_actor(Role.AUDITOR), "grant.read")


def test_token_scopes_limit_writes() -> None:
    read_only = _actor(Role.BUREAU_ADMIN, scopes=frozenset({"read"}))
    assert can(read_only, "grant.read")
    assert not can(read_only, "grant.create")
    assert can(_actor(Role.BUREAU_ADMIN, scopes=frozenset({"write"})), "grant.create")


@pytest.mark.parametrize(
    "roles",
    [
        {Role.BUREAU_ADMIN, Role.AUDITOR},
        {Role.BUREAU_ADMIN, Role.SECURITY_OFFICER},
        {Role.AUDITOR, Role.SECURITY_OFFICER},
        {Role.AUDITOR, Role.DEPT_OFFICER},
    ],
)
def test_separated_duties_never_meet(roles: set[Role]) -> None:
    with pytest.raises(DutyConflictError):
        check_duties(roles)


def test_compatible_roles_may_combine() -> None:
    check_duties({Role.BUREAU_ADMIN, Role.DEPT_OFFICER})
    check_duties({Role.DEPT_OFFICER, Role.DISTRICT_OFFICER})
    check_duties({Role.SECURITY_OFFICER})
