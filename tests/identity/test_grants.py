"""Grants: issue, suspend, revoke, expire — and the one access check, deny by default."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from gongshu.bootstrap import Platform
from gongshu.identity import grants as grant_service
from gongshu.identity.errors import GrantDenied, GrantNotFound, NotPermitted
from gongshu.identity.models import DeliveryMode, Grant, GrantStatus
from gongshu.kernel.clock import FixedClock
from gongshu.kernel.errors import Conflict, InvalidInput
from tests.factories import HEALTH, OPERATOR_ORG, City, make_grant


def _check(
    platform: Platform,
    who: object,
    fields: list[str],
    mode: DeliveryMode,
    entry: str = "demo.enterprises",
) -> grant_service.AccessDecision:  # type: ignore[name-defined]
    with platform.uow() as uow:
        return grant_service.check_access(
            uow,
            actor=who,
            entry_ref=entry,  # type: ignore[arg-type]
            fields=fields,
            mode=mode,
        )


def test_nothing_is_allowed_without_a_grant(platform: Platform, city: City) -> None:
    decision = _check(platform, city.officer, ["uscc"], DeliveryMode.API)
    assert not decision.allowed and "no grant" in decision.reason
    assert not _check(platform, city.citizen, ["uscc"], DeliveryMode.API).allowed


def test_a_grant_allows_exactly_its_fields_modes_and_organisation(
    platform: Platform, city: City
) -> None:
    grant_id = make_grant(platform, city.admin, rate_limit_per_minute=60)
    allowed = _check(platform, city.officer, ["uscc", "name"], DeliveryMode.API)
    assert allowed.allowed and allowed.grant_id == grant_id
    assert allowed.rate_limit_per_minute == 60
    assert (
        "fields" in _check(platform, city.officer, ["uscc", "legal_rep"], DeliveryMode.API).reason
    )
    assert "delivery" in _check(platform, city.officer, ["uscc"], DeliveryMode.FILE).reason
    assert not _check(platform, city.health_officer, ["uscc"], DeliveryMode.API).allowed
    assert not _check(platform, city.officer, ["uscc"], DeliveryMode.API, "other.entry").allowed


def test_wildcard_fields_and_sandbox_constraints(platform: Platform, city: City) -> None:
    make_grant(
        platform,
        city.admin,
        subject_organisation_code=OPERATOR_ORG,
        fields=["*"],
        delivery_modes=[DeliveryMode.SANDBOX],
        min_group_size=10,
        dp_epsilon_budget=1.0,
        row_filter={"district_code": ["110105"]},
    )
    decision = _check(platform, city.operator, ["anything", "at_all"], DeliveryMode.SANDBOX)
    assert decision.allowed
    assert (decision.min_group_size, decision.dp_epsilon_budget) == (10, 1.0)
    assert decision.row_filter == {"district_code": ["110105"]}


def test_the_validity_window(platform: Platform, city: City, clock: FixedClock) -> None:
    now = clock.now()
    make_grant(
        platform,
        city.admin,
        valid_from=now + timedelta(days=1),
        valid_until=now + timedelta(days=2),
    )
    assert "starts" in _check(platform, city.officer, ["uscc"], DeliveryMode.API).reason
    clock.advance(days=1)
    assert _check(platform, city.officer, ["uscc"], DeliveryMode.API).allowed
    clock.advance(days=1)
    assert "expired" in _check(platform, city.officer, ["uscc"], DeliveryMode.API).reason
    with platform.uow() as uow:
        assert grant_service.expire_grants(uow, actor=city.admin) == 1
        assert uow.session.scalar(sa.select(Grant.status)) == GrantStatus.EXPIRED.value


def test_suspend_reinstate_revoke(platform: Platform, city: City) -> None:
    grant_id = make_grant(platform, city.admin)
    with platform.uow() as uow:
        grant_service.suspend_grant(uow, actor=city.security, grant_id=grant_id, reason="调用异常")
    assert "suspended" in _check(platform, city.officer, ["uscc"], DeliveryMode.API).reason
    with platform.uow() as uow:
        grant_service.reinstate_grant(uow, actor=city.admin, grant_id=grant_id, reason="已核实")
    assert _check(platform, city.officer, ["uscc"], DeliveryMode.API).allowed
    with platform.uow() as uow:
        grant_service.revoke_grant(uow, actor=city.admin, grant_id=grant_id, reason="用途结束")
    with platform.uow() as uow, pytest.raises(Conflict, match="revoked"):
        grant_service.revoke_grant(uow, actor=city.admin, grant_id=grant_id, reason="again")
    with platform.uow() as uow, pytest.raises(GrantDenied, match="revoked"):
        grant_service.require_access(
            uow,
            actor=city.officer,
            entry_ref="demo.enterprises",
            fields=["uscc"],
            mode=DeliveryMode.API,
        )


def test_only_administrators_issue_and_revoke(platform: Platform, city: City) -> None:
    grant_id = make_grant(platform, city.admin)
    with pytest.raises(NotPermitted):
        make_grant(platform, city.officer)
    with platform.uow() as uow, pytest.raises(NotPermitted):
        grant_service.revoke_grant(uow, actor=city.auditor, grant_id=grant_id, reason="不行")


def test_grants_are_visible_to_their_holder_and_overseers_only(
    platform: Platform, city: City
) -> None:
    mine = make_grant(platform, city.admin)
    theirs = make_grant(platform, city.admin, subject_organisation_code=HEALTH)
    with platform.uow() as uow:
        listed = [g.id for g in grant_service.list_grants(uow, actor=city.officer).items]
        assert listed == [mine]
        with pytest.raises(GrantNotFound):
            grant_service.get_grant(uow, actor=city.officer, grant_id=theirs)
        assert len(grant_service.list_grants(uow, actor=city.auditor).items) == 2
        with pytest.raises(NotPermitted):
            grant_service.list_grants(uow, actor=city.citizen)


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"valid_until_days": -1}, "valid_until"),
        ({"fields": ["*", "uscc"]}, "fields"),
        ({"delivery_modes": [DeliveryMode.SANDBOX]}, "min_group_size"),
    ],
)
def test_bad_grants_name_the_field(
    platform: Platform, city: City, overrides: dict[str, object], path: str, clock: FixedClock
) -> None:
    days = overrides.pop("valid_until_days", None)
    if days is not None:
        overrides["valid_until"] = clock.now() + timedelta(days=days)  # type: ignore[operator]
    with pytest.raises(InvalidInput) as caught:
        make_grant(platform, city.admin, **overrides)
    assert caught.value.details[0]["path"] == f"body.{path}"
