"""Load the demo city into a platform through the same services people use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from pydantic import SecretStr

from gongshu.catalog.imports import import_entries
from gongshu.catalog.service import approve_entry
from gongshu.catalog.sheets import write_xlsx
from gongshu.datastore.service import Datastore
from gongshu.demo.basedata import load_base_data
from gongshu.demo.catalog import demo_catalog
from gongshu.demo.citydata import City, build_city
from gongshu.demo.open_data import load_open_data
from gongshu.identity import calendar as calendar_service
from gongshu.identity import grants as grant_service
from gongshu.identity import service
from gongshu.identity.authz import Actor
from gongshu.identity.models import DeliveryMode, OrgKind, Role, User
from gongshu.identity.passwords import PasswordHasher
from gongshu.identity.schemas import GrantCreate, MembershipIn, OrganisationCreate, UserCreate
from gongshu.kernel.uow import UnitOfWork

__all__ = ["DEVELOPMENT_AREA_CODE", "PUBLIC_ORG_CODE", "DemoSummary", "demo_loaded", "load_demo"]

DEVELOPMENT_AREA_CODE = "bda"
PUBLIC_ORG_CODE = "public"

Progress = Callable[[str, int, int], None]
UowFactory = Callable[[], UnitOfWork]


@dataclass(frozen=True)
class DemoSummary:
    """What the loader created, and the personas to print."""

    organisations: int
    users: int
    grants: int
    entries: int
    personas: list[tuple[str, str, str, str]]  # role, username, password, organisation


def demo_loaded(uow: UnitOfWork) -> bool:
    """True when the demo's bureau administrator already exists."""
    return uow.session.scalar(sa.select(User.id).where(User.username == "bureau_admin")) is not None


def _organisations(city: City) -> list[OrganisationCreate]:
    items: list[OrganisationCreate] = []
    kinds = {"bureau": OrgKind.DEPARTMENT}  # the bureau itself is registered at bootstrap
    for dep in city.departments:
        if dep.kind == "bureau":
            continue
        kind = OrgKind(kinds.get(dep.kind, dep.kind))
        items.append(
            OrganisationCreate(
                code=dep.code,
                name=dep.name,
                name_en=dep.name_en,
                kind=kind,
                uscc=dep.code,
                division_code="110000",
            )
        )
    district_codes: dict[str, str] = {}
    for d in city.districts:
        code = d.code or DEVELOPMENT_AREA_CODE
        district_codes[d.name] = code
        items.append(
            OrganisationCreate(
                code=code,
                name=d.name,
                name_en=d.name_en,
                kind=OrgKind.DISTRICT,
                division_code=d.code,
            )
        )
    for s in city.streets:
        items.append(
            OrganisationCreate(
                code=s.code,
                name=s.name,
                kind=OrgKind.STREET,
                parent_code=district_codes[s.district_name],
                division_code=s.code,
            )
        )
    for c in city.communities:
        items.append(
            OrganisationCreate(
                code=c.code,
                name=c.name,
                kind=OrgKind.COMMUNITY,
                parent_code=c.street_code,
                division_code=c.code,
            )
        )
    for op in city.operators:
        items.append(
            OrganisationCreate(
                code=op.code, name=op.name, name_en=op.name_en, kind=OrgKind.OPERATOR, uscc=op.code
            )
        )
    for e in city.enterprises:
        items.append(
            OrganisationCreate(
                code=e.uscc,
                name=e.name,
                kind=OrgKind.ENTERPRISE,
                uscc=e.uscc,
                parent_code=district_codes[e.district_name],
            )
        )
    items.append(
        OrganisationCreate(
            code=PUBLIC_ORG_CODE, name="社会公众", name_en="The public", kind=OrgKind.PUBLIC
        )
    )
    return items


def load_demo(
    uow_factory: UowFactory,
    *,
    passwords: PasswordHasher,
    seed: int = 2025,
    progress: Progress | None = None,
    datastore: Datastore | None = None,
) -> DemoSummary:
    """Create the demo city: organisations, one user per role, sample grants, the catalogue
    and — given the datastore — base data (elements, registers, copies and objections) and
    the open entries' data files."""
    city = build_city(seed)
    report = progress or (lambda _stage, _done, _total: None)
    bureau = city.bureau
    admin_persona = next(p for p in city.personas if p.role == Role.BUREAU_ADMIN.value)
    with uow_factory() as uow:
        admin_user = service.bootstrap_admin(
            uow,
            bureau=OrganisationCreate(
                code=bureau.code,
                name=bureau.name,
                name_en=bureau.name_en,
                kind=OrgKind.BUREAU,
                uscc=bureau.code,
                division_code="110000",
            ),
            data=UserCreate(
                username=admin_persona.username,
                display_name=admin_persona.display_name,
                password=SecretStr(admin_persona.password),
            ),
            passwords=passwords,
        )
        admin = service.actor_for_user(uow, admin_user, via="console")
    with uow_factory() as uow:
        calendar_service.seed_calendar(uow, actor=admin)
    items = _organisations(city)
    with uow_factory() as uow:
        service.create_organisations(
            uow,
            actor=admin,
            items=items,
            progress=lambda n: report("organisations", n, len(items)),
        )
    personas = [p for p in city.personas if p.role != Role.BUREAU_ADMIN.value]
    for number, persona in enumerate(personas, start=1):
        org_code = persona.organisation_code or PUBLIC_ORG_CODE
        with uow_factory() as uow:
            service.create_user(
                uow,
                actor=admin,
                passwords=passwords,
                data=UserCreate(
                    username=persona.username,
                    display_name=persona.display_name,
                    password=SecretStr(persona.password),
                    memberships=[MembershipIn(organisation_code=org_code, role=Role(persona.role))],
                ),
            )
        report("users", number, len(personas))
    grants = _demo_grants(uow_factory, admin, city)
    report("grants", grants, grants)
    entries = _demo_catalogue(uow_factory, admin, city, report)
    if datastore is not None:
        load_base_data(
            uow_factory, datastore, admin=admin, city=city, passwords=passwords, progress=report
        )
        load_open_data(
            uow_factory, datastore, admin=admin, city=city, passwords=passwords, progress=report
        )
    listed = [(p.role, p.username, p.password, p.organisation_name) for p in city.personas]
    return DemoSummary(len(items) + 1, len(city.personas), grants, entries, listed)


# Every twelfth entry stays in the bureau's review queue, so the queue has something to show.
_LEFT_FOR_REVIEW = 12


def _demo_catalogue(
    uow_factory: UowFactory, admin: Actor, city: City, report: Callable[[str, int, int], None]
) -> int:
    """Import the demo catalogue as departments would send it (an xlsx), then publish most."""
    data = write_xlsx(demo_catalog(city), title="演示城市公共数据资源目录")
    with uow_factory() as uow:
        result = import_entries(
            uow,
            actor=admin,
            data=data,
            filename="demo-catalogue.xlsx",
            dry_run=False,
            submit=True,
            progress=lambda done, total: report("catalogue", done, total),
        )
    to_publish = [
        entry_id
        for number, entry_id in enumerate(result.entry_ids)
        if number % _LEFT_FOR_REVIEW != _LEFT_FOR_REVIEW - 1
    ]
    with uow_factory() as uow:
        for done, entry_id in enumerate(to_publish, start=1):
            approve_entry(uow, actor=admin, entry_id=entry_id, note="演示数据", publish=True)
            report("publishing", done, len(to_publish))
    return result.created


def _demo_grants(uow_factory: UowFactory, admin: Actor, city: City) -> int:
    transport = city.department_named("北京市交通委员会").code
    health = city.department_named("北京市卫生健康委员会").code
    operator = city.operators[1].code
    with uow_factory() as uow:
        now = uow.clock.now()
        year = now + timedelta(days=365)
        specs = [
            GrantCreate(
                subject_organisation_code=transport,
                entry_ref="demo.enterprise-registry",
                fields=["uscc", "name", "legal_representative", "address"],
                purpose="网约车平台企业资质核验",
                scenario="企业开办一件事",
                valid_until=year,
                delivery_modes=[DeliveryMode.API],
                rate_limit_per_minute=120,
            ),
            GrantCreate(
                subject_organisation_code="110105",
                entry_ref="demo.resident-population",
                fields=["community_code", "age_band", "sex"],
                row_filter={"district_code": ["110105"]},
                purpose="社区养老服务需求测算",
                scenario="退休一件事",
                valid_until=year,
                delivery_modes=[DeliveryMode.BATCH, DeliveryMode.FILE],
            ),
            GrantCreate(
                subject_organisation_code=operator,
                entry_ref="demo.bus-ridership",
                fields=["*"],
                purpose="公交客流分析产品（行业用途）",
                valid_until=year,
                delivery_modes=[DeliveryMode.SANDBOX],
                min_group_size=10,
                dp_epsilon_budget=1.0,
            ),
            GrantCreate(
                subject_organisation_code=health,
                entry_ref="demo.medical-insurance",
                fields=["citizen_id", "insured_status"],
                purpose="医保参保状态核验",
                scenario="出生一件事",
                valid_until=now + timedelta(days=90),
                delivery_modes=[DeliveryMode.API],
            ),
        ]
        made = [grant_service.create_grant(uow, actor=admin, data=spec) for spec in specs]
        grant_service.suspend_grant(
            uow, actor=admin, grant_id=made[-1].id, reason="接口调用量异常，暂停核查"
        )
    return len(specs)
