"""The stage: choose the open entries to fill, make their files, upload them as the providers.

Municipal entries are filled when a table is known for them; a district gets one of its district
catalogues (unconditionally open ones first) unless it already shows data from someone else.
Entries that already hold a version uploaded by someone else (the base-data registers) are left
alone. Each provider uploads through its first officer who may, or one created for the demo.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from gongshu.catalog.models import Entry
from gongshu.catalog.vocab import EntryStatus, OpenType
from gongshu.datastore.models import DatasetVersion
from gongshu.datastore.service import Datastore, ingest_file, latest_version
from gongshu.demo.citydata import City, District
from gongshu.demo.open_data import business, districts, facilities, readings, statistics, transport
from gongshu.demo.open_data.world import Firm, Gen, Place, Row, World
from gongshu.identity import service as identity
from gongshu.identity.authz import Actor
from gongshu.identity.models import Membership, Organisation, OrgKind, Role, User
from gongshu.identity.passwords import PasswordHasher
from gongshu.identity.schemas import MembershipIn, UserCreate
from gongshu.kernel.uow import UnitOfWork

__all__ = ["NOTE", "OpenDataSummary", "load_open_data", "open_entry_names"]

UowFactory = Callable[[], UnitOfWork]
Progress = Callable[[str, int, int], None]
Maker = Callable[[Gen], list[Row]]

NOTE = "演示开放数据"
"""The note on every version this stage uploads."""

_STAGE = "open data"
_REGISTER = "企业登记注册信息"
_DISTRICT = "{区}"  # the district's name in district catalogues' names
_OPEN_TYPES = (OpenType.UNCONDITIONAL.value, OpenType.CONDITIONAL.value)
# The role that uploads for a providing body of each kind (others: a department officer).
_UPLOADER = {OrgKind.DISTRICT.value: Role.DISTRICT_OFFICER, OrgKind.OPERATOR.value: Role.OPERATOR}

_MAKERS: dict[str, Maker] = {
    # 交通出行
    "公交线路基础信息": transport.bus_lines,
    "公交站点基础信息": transport.bus_stop_rows,
    "公共停车场备案信息": transport.car_park_rows,
    "交通出行指数产品": transport.traffic_index,
    # 市场监管、信用服务、经济发展、财税金融
    "经营异常名录信息": business.abnormal_rows,
    "食品经营许可信息": business.food_licences,
    "企业年度报告公示信息": business.annual_reports,
    "企业信用画像服务": business.credit_profiles,
    "专精特新中小企业名单": business.specialised,
    "高新技术企业认定信息": business.high_tech,
    "国有产权交易信息": business.property_deals,
    "政府采购项目公告信息": business.procurement,
    "公共数据资源登记公示信息": business.registrations,
    "国有建设用地供应信息": business.land_supply,
    "律师事务所执业信息": business.law_firms,
    "银行网点信息": business.bank_branches,
    "便民商业网点信息": business.shops,
    # 生态环境、资源能源、气象服务、农业农村
    "空气质量监测站点信息": readings.air_station_rows,
    "空气质量小时监测数据": readings.air_readings,
    "地表水水质监测数据": readings.surface_water,
    "供水水质监测信息": readings.tap_water,
    "城市天气预报": readings.forecasts,
    "重要商品价格监测数据": readings.price_watch,
    "农产品批发市场价格信息": readings.wholesale,
    # 统计
    "常住人口主要数据": statistics.population_stats,
    "房屋交易统计信息": statistics.housing,
    "专利授权统计信息": statistics.patents,
    "市民服务热线诉求统计": statistics.hotline,
    "区域疾病谱分析产品": statistics.disease_mix,
    "城市体检指标数据产品": statistics.city_checkup,
    # 医疗卫生、教育、文化旅游、城市管理、民政、公共安全、综合政务
    "医疗机构执业登记信息": facilities.hospital_rows,
    "医保定点医药机构信息": facilities.insured_providers,
    "中小学校基本信息": facilities.school_rows,
    "幼儿园基本信息": facilities.kindergarten_rows,
    "A级旅游景区信息": facilities.scenic_spots,
    "公共图书馆和文化馆信息": facilities.culture_venues,
    "公共体育场馆信息": facilities.sports_venues,
    "烈士纪念设施信息": facilities.memorials,
    "公园基本信息": facilities.parks,
    "公共厕所信息": facilities.toilets,
    "生活垃圾分类收集点信息": facilities.waste_points,
    "公共就业服务机构信息": facilities.job_centres,
    "养老机构基本信息": facilities.care_homes,
    "行政区划及代码信息": facilities.divisions,
    "应急避难场所信息": facilities.shelters,
    "户籍业务办理窗口信息": facilities.hukou_windows,
    # 区级目录
    "{区}养老服务驿站信息": districts.care_stations,
    "{区}社区卫生服务机构信息": districts.community_health,
    "{区}普惠性幼儿园学位信息": districts.kindergarten_places,
    "{区}乡村民宿登记信息": districts.homestays,
    "{区}老旧小区综合整治项目信息": districts.renovations,
    "{区}农村集体经济组织信息": districts.collectives,
}

_PLACE_FIELDS: dict[str, Callable[[Place], Any]] = {
    "行政区划代码": lambda p: p.district.division_code, "街道乡镇代码": lambda p: p.street.code,
    "社区村代码": lambda p: p.community.code, "经度": lambda p: p.lon, "纬度": lambda p: p.lat,
    "详细地址": lambda p: p.address, "经营地址": lambda p: p.address,
}  # fmt: skip
_FIRM_FIELDS: dict[str, Callable[[Firm], Any]] = {
    "统一社会信用代码": lambda f: f.uscc, "企业名称": lambda f: f.name,
    "法定代表人": lambda f: f.legal, "负责人": lambda f: f.legal,
}  # fmt: skip
_PHONE_FIELDS = frozenset({"咨询电话", "服务电话", "联系电话"})


@dataclass(frozen=True)
class OpenDataSummary:
    """What the stage did, by entry id: the version (new, or the same as before) and the rows
    generated; ``skipped`` names open entries left alone because others' data is there."""

    versions: dict[str, str]
    rows: dict[str, int]
    stored: int
    skipped: list[str]


@dataclass(frozen=True)
class _Target:
    """An open entry to fill: its fields, provider and district."""

    entry_id: str
    name: str
    maker: str
    fields: tuple[str, ...]
    provider_id: str
    district: District | None


def open_entry_names() -> list[str]:
    """The entries this stage can fill, by name; ``{区}`` stands for the district's name."""
    return sorted(_MAKERS)


# --- the files -------------------------------------------------------------------------------


def _value(g: Gen, row: Row, name: str) -> Any:
    """A field's value: the row's own, else what its place or organisation says."""
    if name in row:
        return row[name]
    place, firm = row.get("_place"), row.get("_firm")
    if place is not None and name in _PLACE_FIELDS:
        return _PLACE_FIELDS[name](place)
    if firm is not None and name in _FIRM_FIELDS:
        return _FIRM_FIELDS[name](firm)
    return g.phone() if name in _PHONE_FIELDS else None


def _text(value: Any) -> str:
    """A cell as an export writes it: ISO dates and times, 是/否, plain numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _write(path: Path, world: World, target: _Target) -> int:
    """Write the target's file (header: its fields, in order); the number of rows."""
    g = world.gen(target.name, target.district)
    made = _MAKERS[target.maker](g)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(target.fields)
        writer.writerows([_text(_value(g, row, name)) for name in target.fields] for row in made)
    return len(made)


# --- what to fill, from what, by whom --------------------------------------------------------


def _targets(
    uow_factory: UowFactory, city: City
) -> tuple[list[_Target], list[str], tuple[tuple[str, str, str], ...]]:
    """The entries to fill (in catalogue order), the ones left to others' data, and the open
    entries of providers with a USCC (for the registration notices)."""
    by_name = {d.name: d for d in city.districts}
    with uow_factory() as uow:
        entries = uow.session.scalars(
            sa.select(Entry)
            .options(selectinload(Entry.fields))
            .where(
                Entry.published_version.is_not(None),
                Entry.status != EntryStatus.DEPRECATED.value,
                Entry.open_type.in_(_OPEN_TYPES),
            )
            .order_by(Entry.seq)
        ).all()
        others = set(
            uow.session.scalars(
                sa.select(DatasetVersion.entry_id).where(
                    sa.or_(DatasetVersion.note.is_(None), DatasetVersion.note != NOTE)
                )
            )
        )
        orgs = {o.id: o for o in uow.session.scalars(sa.select(Organisation))}
        catalogue: list[tuple[str, str, str]] = []
        chosen: list[_Target] = []
        skipped: list[str] = []
        by_district: dict[str, list[tuple[bool, int, _Target]]] = {}
        shown = {e.district_id for e in entries if e.district_id and e.id in others}
        for entry in entries:
            provider = orgs[entry.provider_id]
            if provider.uscc:
                catalogue.append((entry.name, provider.name, provider.uscc))
            district = by_name[orgs[entry.district_id].name] if entry.district_id else None
            maker = entry.name.replace(district.name, _DISTRICT, 1) if district else entry.name
            if maker not in _MAKERS:
                continue
            if entry.id in others:
                skipped.append(entry.name)
                continue
            target = _Target(entry.id, entry.name, maker, tuple(f.name for f in entry.fields),
                             entry.provider_id, district)  # fmt: skip
            if entry.district_id is None:
                chosen.append(target)
            elif entry.district_id not in shown:
                conditional = entry.open_type != OpenType.UNCONDITIONAL.value
                by_district.setdefault(entry.district_id, []).append(
                    (conditional, entry.seq, target)
                )
        seq = {e.id: e.seq for e in entries}
    chosen += [min(options, key=lambda o: o[:2])[2] for options in by_district.values()]
    return sorted(chosen, key=lambda t: seq[t.entry_id]), skipped, tuple(catalogue)


def _register(uow_factory: UowFactory, store: Datastore, city: City) -> tuple[Firm, ...]:
    """Enterprises in business as the uploaded register has them (one name and representative
    each), so open data agrees with the authoritative source; the city's own without it."""
    known = {e.uscc: e for e in city.enterprises}
    by_name = {d.name: d for d in city.districts}
    with uow_factory() as uow:
        entry_id = uow.session.scalar(sa.select(Entry.id).where(Entry.name == _REGISTER))
        version = latest_version(uow, entry_id) if entry_id else None
        path = store.path_of(version) if version is not None else None
    if path is None or not path.is_file():
        rng = random.Random("register")
        return tuple(
            Firm(e.uscc, e.name, rng.choice(city.citizens).name, by_name[e.district_name],
                 e.industry_code, Decimal(e.registered_capital_fen) / 1_000_000, e.registered_on)
            for e in city.enterprises
        )  # fmt: skip
    with store.connect() as con:
        found = con.execute(
            'SELECT "统一社会信用代码", any_value("企业名称"), any_value("法定代表人"), '
            'any_value("注册资本"), any_value("成立日期"), any_value("住所") '
            "FROM read_parquet(?) GROUP BY 1 "
            'HAVING count(DISTINCT "企业名称") = 1 AND count(DISTINCT "法定代表人") = 1 '
            """AND bool_and("登记状态" = '存续') ORDER BY 1""",
            [str(path)],
        ).fetchall()
    return tuple(
        Firm(uscc, name, legal, by_name[known[uscc].district_name], known[uscc].industry_code,
             Decimal(capital), founded, address or "")
        for uscc, name, legal, capital, founded, address in found
        if uscc in known
    )  # fmt: skip


def _uploaders(
    uow_factory: UowFactory,
    admin: Actor,
    city: City,
    passwords: PasswordHasher,
    provider_ids: Iterable[str],
) -> dict[str, Actor]:
    """For each providing body, an officer who may upload its data: its first one, or one
    created now (without a password, like the base data's officers)."""
    actors: dict[str, Actor] = {}
    for org_id in sorted(set(provider_ids)):
        with uow_factory() as uow:
            org = uow.session.get(Organisation, org_id)
            assert org is not None
            role = _UPLOADER.get(org.kind, Role.DEPT_OFFICER)
            user = uow.session.scalar(
                sa.select(User)
                .join(Membership, Membership.user_id == User.id)
                .where(Membership.organisation_id == org_id, Membership.role == role.value)
                .where(User.active.is_(True))
                .order_by(User.username)
                .limit(1)
            )
            if user is None:
                name = random.Random(f"officer-{org.code}").choice(city.citizens).name
                seat = MembershipIn(organisation_code=org.code, role=role)
                user = identity.create_user(
                    uow, actor=admin, passwords=passwords,
                    data=UserCreate(username=f"open_officer.{org.code.lower()}",
                                    display_name=name, memberships=[seat]),
                )  # fmt: skip
            actors[org_id] = identity.actor_for_user(uow, user)
    return actors


def load_open_data(
    uow_factory: UowFactory,
    store: Datastore,
    *,
    admin: Actor,
    city: City,
    passwords: PasswordHasher,
    progress: Progress | None = None,
) -> OpenDataSummary:
    """Make and upload a file for each chosen open entry (see the module docstring); a second
    run makes the same files, which the ingest recognises, and stores nothing new."""
    report = progress or (lambda _stage, _done, _total: None)
    targets, skipped, catalogue = _targets(uow_factory, city)
    report(_STAGE, 0, len(targets))
    world = World(city, _register(uow_factory, store, city), catalogue, city.citizens[0].citizen_id)
    uploaders = _uploaders(uow_factory, admin, city, passwords, (t.provider_id for t in targets))
    versions: dict[str, str] = {}
    rows: dict[str, int] = {}
    stored = 0
    with store.lake.scratch() as work:
        for done, target in enumerate(targets, start=1):
            path = work / f"{done:03d}.csv"
            rows[target.entry_id] = _write(path, world, target)
            outcome = ingest_file(
                store, actor=uploaders[target.provider_id], entry_id=target.entry_id, path=path,
                filename=f"{target.name}.csv", note=NOTE,
            )  # fmt: skip
            path.unlink()
            versions[target.entry_id] = outcome.version_id
            stored += outcome.status == "stored"
            report(_STAGE, done, len(targets))
    return OpenDataSummary(versions, rows, stored, skipped)
