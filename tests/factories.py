"""Factories and named personas for tests: a small city built through the services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import SecretStr

from gongshu.bootstrap import Platform
from gongshu.identity import grants as grant_service
from gongshu.identity import service
from gongshu.identity.authz import Actor
from gongshu.identity.models import DeliveryMode, OrgKind, Role, User
from gongshu.identity.schemas import GrantCreate, MembershipIn, OrganisationCreate, UserCreate
from gongshu.kernel.identifiers import make_uscc

PASSWORD = "correct-horse-battery"
BUREAU = "bureau"
TRANSPORT = "transport"
HEALTH = "health"
CHAOYANG = "110105"
OPERATOR_ORG = "operator-co"
AUDIT_OFFICE = "audit-office"
SECURITY_AGENCY = "cac"
PUBLIC_ORG = "public"


@dataclass
class City:
    """Actors of a small test city, by persona."""

    admin: Actor
    officer: Actor
    health_officer: Actor
    district: Actor
    operator: Actor
    auditor: Actor
    security: Actor
    citizen: Actor
    orgs: dict[str, str]  # code → id


def actor(platform: Platform, username: str, **kwargs: Any) -> Actor:
    """The actor of an existing user, freshly loaded."""
    import sqlalchemy as sa

    with platform.uow() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == username))
        assert user is not None, username
        return service.actor_for_user(uow, user, **kwargs)


def build_city(platform: Platform) -> City:
    """Bureau, two departments, a district with a street and community, an operator,
    an audit office and a security agency, each with one user; a public citizen."""
    with platform.uow() as uow:
        service.bootstrap_admin(
            uow,
            bureau=OrganisationCreate(code=BUREAU, name="市数据局", kind=OrgKind.BUREAU),
            data=UserCreate(username="admin", display_name="管理员", password=SecretStr(PASSWORD)),
            passwords=platform.passwords,
        )
    admin = actor(platform, "admin")
    orgs = [
        OrganisationCreate(code=TRANSPORT, name="市交通委", kind=OrgKind.DEPARTMENT),
        OrganisationCreate(code=HEALTH, name="市卫生健康委", kind=OrgKind.DEPARTMENT),
        OrganisationCreate(
            code=CHAOYANG, name="朝阳区", kind=OrgKind.DISTRICT, division_code=CHAOYANG
        ),
        OrganisationCreate(
            code="110105001",
            name="建外街道",
            kind=OrgKind.STREET,
            parent_code=CHAOYANG,
            division_code="110105001",
        ),
        OrganisationCreate(
            code="110105001001",
            name="建国门外社区",
            kind=OrgKind.COMMUNITY,
            parent_code="110105001",
        ),
        OrganisationCreate(
            code=OPERATOR_ORG,
            name="运营公司",
            kind=OrgKind.OPERATOR,
            uscc=make_uscc("91", "110105", "MA01K5P2"),
        ),
        OrganisationCreate(code=AUDIT_OFFICE, name="市审计局", kind=OrgKind.AUDIT_OFFICE),
        OrganisationCreate(code=SECURITY_AGENCY, name="市网信办", kind=OrgKind.SECURITY_AGENCY),
        OrganisationCreate(code=PUBLIC_ORG, name="社会公众", kind=OrgKind.PUBLIC),
    ]
    with platform.uow() as uow:
        created = service.create_organisations(uow, actor=admin, items=orgs)
    people = [
        ("officer", TRANSPORT, Role.DEPT_OFFICER),
        ("health_officer", HEALTH, Role.DEPT_OFFICER),
        ("district", CHAOYANG, Role.DISTRICT_OFFICER),
        ("operator", OPERATOR_ORG, Role.OPERATOR),
        ("auditor", AUDIT_OFFICE, Role.AUDITOR),
        ("security", SECURITY_AGENCY, Role.SECURITY_OFFICER),
        ("citizen", PUBLIC_ORG, Role.PUBLIC),
    ]
    for username, org, role in people:
        make_user(platform, admin, username, [(org, role)])
    by_code = {o.code: o.id for o in created}
    with platform.uow() as uow:
        bureau_id = service.organisation_by_code(uow, BUREAU).id
    return City(
        admin=actor(platform, "admin"),
        orgs={BUREAU: bureau_id, **by_code},
        **{u: actor(platform, u) for u, _, _ in people},
    )


def make_user(
    platform: Platform,
    admin: Actor,
    username: str,
    roles: list[tuple[str, Role]],
    password: str = PASSWORD,
) -> User:
    """Create a user with roles through the service."""
    with platform.uow() as uow:
        return service.create_user(
            uow,
            actor=admin,
            passwords=platform.passwords,
            data=UserCreate(
                username=username,
                display_name=username.title(),
                password=SecretStr(password),
                memberships=[MembershipIn(organisation_code=o, role=r) for o, r in roles],
            ),
        )


def make_grant(platform: Platform, admin: Actor, **overrides: Any) -> str:
    """Issue a grant (transport, entry demo.enterprises, api) and return its id."""
    with platform.uow() as uow:
        data: dict[str, Any] = {
            "subject_organisation_code": TRANSPORT,
            "entry_ref": "demo.enterprises",
            "fields": ["uscc", "name"],
            "purpose": "企业资质核验",
            "valid_until": uow.clock.now() + timedelta(days=30),
            "delivery_modes": [DeliveryMode.API],
        } | overrides
        return grant_service.create_grant(uow, actor=admin, data=GrantCreate(**data)).id


def entry_input(**overrides: Any) -> Any:
    """A valid catalogue entry from the transport commission, with overrides."""
    from gongshu.catalog.schemas import EntryInput

    data: dict[str, Any] = {
        "name": "公交站点基础信息",
        "summary": "全市公交站点的名称、位置、线路和无障碍设施信息",
        "keywords": ["公交", "站点", "出行"],
        "provider": TRANSPORT,
        "fields": [
            {"name": "站点编号", "type": "string", "element_code": "DE10001"},
            {"name": "站点名称", "type": "string"},
            {"name": "经度", "type": "decimal"},
            {"name": "纬度", "type": "decimal"},
        ],
        "format": "database",
        "update_frequency": "monthly",
        "share_type": "unconditional",
        "delivery": ["api", "file"],
        "open_type": "unconditional",
        "theme": "04",
        "impact": {"public_interest": "general"},
    } | overrides
    return EntryInput.model_validate(data)


def publish(platform: Platform, city: City, entry_id: str) -> None:
    """Submit (as the transport officer), approve and publish (as the bureau)."""
    from gongshu.catalog import service as catalog

    with platform.uow() as uow:
        entry = catalog.get_entry(uow, actor=city.admin, entry_id=entry_id)
        if entry.status == "draft":
            catalog.submit_entry(uow, actor=city.admin, entry_id=entry_id)
    with platform.uow() as uow:
        catalog.approve_entry(uow, actor=city.admin, entry_id=entry_id, publish=True)


def token_for(platform: Platform, username: str, scopes: list[str] | None = None) -> str:
    """A fresh API token's secret for an existing user."""
    from gongshu.identity import tokens
    from gongshu.identity.schemas import TokenCreate

    with platform.uow() as uow:
        _token, raw = tokens.create_token(
            uow,
            actor=actor(platform, username),
            data=TokenCreate(name="test", scopes=scopes or ["read", "write"]),  # type: ignore[arg-type]
        )
    return raw


def auth(raw: str) -> dict[str, str]:
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {raw}"}
