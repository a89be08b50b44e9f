"""The demo city's base data: data elements with their sources, registers and departmental copies.

After the catalogue, the bureau registers the data elements of ``catalog-elements.csv`` with the
sources in ``basedata-sources.csv`` (one department per element; the registers hold the
authoritative values of persons', enterprises' and city components' elements). Each department's
officer then uploads, through the ordinary ingest, what its systems would export, generated from
the city: 市公安局's population register (a GB18030 CSV), 市市场监管局's enterprise register (an
xlsx under a merged title row) and 市城市管理委's city-component register — each with the
repeated, mistyped and blank keys real registers have — and three copies with planted errors:

* 市教委's enrolment list: wrong birth dates and a mistyped name against the population register;
* 市生态环境局's penalties: a USCC with a wrong check character and one that is not registered;
* 朝阳区's elderly-care stations: a USCC typed in full-width digits and a row whose bed count is
  words, which the ingest quarantines.

Three objections on the copies are left in different states (flagged, corrected, raised). Files
are written to the lake's scratch space and removed afterwards; the same city gives the same files.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from openpyxl import Workbook

from gongshu.catalog.models import Entry
from gongshu.catalog.vocab import TYPE_LABELS
from gongshu.datastore.service import Datastore, ingest_file
from gongshu.demo.citydata import Citizen, City, Enterprise
from gongshu.demo.sandbox import load_sandbox_demo
from gongshu.identity import service as identity
from gongshu.identity.authz import Actor
from gongshu.identity.models import Role, User
from gongshu.identity.passwords import PasswordHasher
from gongshu.identity.schemas import MembershipIn, UserCreate
from gongshu.kernel.identifiers import Sex, make_uscc
from gongshu.kernel.uow import UnitOfWork
from gongshu.quality import objections
from gongshu.quality import service as quality
from gongshu.quality.elements import ElementInput, save_element
from gongshu.quality.models import Objection
from gongshu.quality.objections import EvidenceItem, EvidenceStore, Finding, ObjectionInput

__all__ = ["BaseDataSummary", "load_base_data"]

UowFactory = Callable[[], UnitOfWork]
Progress = Callable[[str, int, int], None]

POPULATION = "常住人口基本信息"
ENTERPRISES = "企业登记注册信息"
COMPONENTS = "城市管理部件信息"
ENROLMENT = "义务教育入学登记信息"
PENALTIES = "生态环境行政处罚信息"
STATIONS = "朝阳区养老服务驿站信息"
_STAGE = "base data"
_STEPS = 9
_DATA_PACKAGE = "gongshu.demo"
_AS_OF = date(2025, 6, 30)  # the date the generated exports describe
# Departments' officers who upload their data (no sign-in: the demo acts for them).
_OFFICERS = (
    ("市公安局", "police_officer", "张立新"),
    ("市市场监管局", "market_officer", "李秀英"),
    ("市城市管理委", "urban_officer", "王建国"),
    ("市教委", "education_officer", "周敏"),
    ("市生态环境局", "ecology_officer", "孙海涛"),
)
_DISTRICT_OFFICER = "district_officer"  # the 朝阳区 persona
# GB/T 30428.2 classes: major, minor, name, owner ("{区}" is the district).
_COMPONENT_TYPES = (
    ("01", "01", "上水井盖", "北京市自来水集团有限责任公司"),
    ("01", "02", "污水井盖", "北京城市排水集团有限责任公司"),
    ("01", "03", "雨水井盖", "北京城市排水集团有限责任公司"),
    ("01", "07", "电力井盖", "国网北京市电力公司"),
    ("01", "21", "消防栓", "北京市自来水集团有限责任公司"),
    ("02", "04", "公交站亭", "北京公共交通控股（集团）有限公司"),
    ("02", "22", "路灯", "北京市城市照明管理中心"),
    ("03", "07", "果皮箱", "{区}环境卫生服务中心"),
    ("04", "07", "行道树", "{区}园林绿化局"),
    ("06", "04", "健身设施", "{区}体育局"),
)
_MAJOR = {"01": "公用设施", "02": "道路交通", "03": "市容环境", "04": "园林绿化", "06": "其他设施"}
_COMPONENT_DISTRICTS = ("东城区", "西城区", "朝阳区", "海淀区")


@dataclass(frozen=True)
class BaseDataSummary:
    """What was loaded: elements, the stored versions by entry name, objections by status."""

    elements: int
    versions: dict[str, str]
    objections: dict[str, str]


@dataclass
class _Sheet:
    """A generated export: header and text rows, and the planted errors to object to."""

    header: tuple[str, ...]
    rows: list[list[str]]
    planted: dict[str, Any] = field(default_factory=dict)


# --- reading the sources ---------------------------------------------------------------------


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files(_DATA_PACKAGE).joinpath("data", name).read_text(encoding="utf-8")
    return [
        {k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))
    ]


def _element_inputs(city: City, entries: dict[str, str]) -> list[ElementInput]:
    """The catalogue's data elements, each with its source department and entry."""
    described = {row["编码"]: row for row in _read_csv("catalog-elements.csv")}
    types = {label: str(kind) for kind, label in TYPE_LABELS.items()}
    departments = {d.short_name: d.code for d in city.departments}
    items = []
    for number, row in enumerate(_read_csv("basedata-sources.csv"), start=2):
        where = f"basedata-sources.csv row {number}"
        element = described.get(row["编码"])
        if element is None or row["来源单位"] not in departments:
            raise ValueError(f"{where}: unknown element or department")
        entry = row["权威目录"]
        if entry and entry not in entries:
            raise ValueError(f"{where}: unknown entry {entry!r}")
        items.append(
            ElementInput(
                code=row["编码"], name=element["名称"], type=types[element["类型"]],
                pattern=row["模式"] or None, description=element["说明"],
                source=departments[row["来源单位"]],
                source_entry_id=entries[entry] if entry else None,
                source_key=row["主键"] or None,
            )
        )  # fmt: skip
    missing = set(described) - {item.code for item in items}
    if missing:
        raise ValueError(f"basedata-sources.csv: no source for {sorted(missing)}")
    return items


# --- generating the exports ------------------------------------------------------------------


def _places(city: City) -> tuple[dict[str, str], dict[str, str]]:
    return {s.code: s.name for s in city.streets}, {c.code: c.name for c in city.communities}


def _address(
    rng: random.Random, citizen: Citizen, streets: dict[str, str], places: dict[str, str]
) -> str:
    building, unit, room = rng.randint(1, 30), rng.randint(1, 6), rng.randint(1, 18)
    return (
        f"北京市{citizen.district_name}{streets[citizen.street_code]}"
        f"{places[citizen.community_code]}{building}号楼{unit}单元{room}0{rng.randint(1, 4)}室"
    )


def _person_row(rng: random.Random, citizen: Citizen, address: str) -> list[str]:
    age = (_AS_OF - citizen.birth_date).days // 365
    married = rng.choices(("已婚", "未婚", "离婚", "丧偶"), (70, 20, 7, 3 if age < 60 else 15))[0]
    moved_in = citizen.birth_date
    if rng.random() < 0.4:
        moved_in = min(citizen.birth_date + timedelta(days=365 * rng.randint(18, 30)), _AS_OF)
    return [
        citizen.citizen_id, citizen.name, "男" if citizen.sex is Sex.MALE else "女",
        citizen.birth_date.isoformat(),
        rng.choices(("汉族", "满族", "回族", "蒙古族"), (95, 3, 1.5, 0.5))[0], address,
        "未婚" if age < 22 else married,
        rng.choice(("初中", "高中", "中等专科", "大学专科", "大学本科", "硕士研究生")),
        rng.choices(("家庭户", "集体户"), (92, 8))[0], moved_in.isoformat(),
    ]  # fmt: skip


def _population(city: City) -> _Sheet:
    """市公安局's register: three people re-registered later, a mistyped and a missing ID."""
    rng = random.Random(f"population-{city.citizens[0].citizen_id}")
    streets, places = _places(city)
    header = _columns(
        "公民身份号码 姓名 性别 出生日期 民族 户籍地址 婚姻状况 学历 户口类别 迁入本市日期"
    )
    rows = [_person_row(rng, c, _address(rng, c, streets, places)) for c in city.citizens]
    moved = [3, 5, 8]
    for index in moved:  # the later record (a new address) supersedes the earlier one
        rows.append([*rows[index][:5], _address(rng, city.citizens[index], streets, places),
                     *rows[index][6:]])  # fmt: skip
    mistyped = [*rows[11]]
    mistyped[0] = _wrong_check(mistyped[0])
    rows.insert(40, mistyped)
    rows.insert(90, ["", *rows[90][1:5], "待补录", *rows[90][6:]])
    truth = {row[0]: row for row in rows}
    return _Sheet(
        header, rows, {"moved": {city.citizens[i].citizen_id for i in moved}, "truth": truth}
    )


def _columns(names: str) -> tuple[str, ...]:
    return tuple(names.split())


def _wrong_check(code: str) -> str:
    return code[:-1] + ("1" if code[-1] != "1" else "2")


def _enterprises(city: City) -> _Sheet:
    """市市场监管局's register; one enterprise renamed, its later record last."""
    rng = random.Random(f"enterprises-{city.enterprises[0].uscc}")
    header = _columns(
        "统一社会信用代码 企业名称 企业类型 法定代表人 注册资本 "
        "成立日期 住所 经营范围 登记机关 登记状态 国民经济行业代码"
    )
    people = [c.name for c in city.citizens]

    def row(e: Enterprise, name: str) -> list[str]:
        return [
            e.uscc, name, "有限责任公司（自然人投资或控股）", rng.choice(people),
            str(e.registered_capital_fen // 1_000_000), e.registered_on.isoformat(),
            f"北京市{e.district_name}{rng.choice(('科创', '望京', '丽泽', '金融'))}大街"
            f"{rng.randint(1, 200)}号", e.industry, f"北京市{e.district_name}市场监督管理局",
            rng.choices(("存续", "吊销", "注销"), (94, 2, 4))[0], e.industry_code,
        ]  # fmt: skip

    rows = [row(e, e.name) for e in city.enterprises]
    renamed = city.enterprises[7]
    rows.append(row(renamed, renamed.name.replace("有限公司", "集团有限公司")))
    return _Sheet(header, rows)


def _components(city: City) -> _Sheet:
    """市城市管理委's census of components; two re-surveyed, one short code, one without."""
    rng = random.Random("components")
    header = _columns(
        "部件标识码 部件名称 部件大类 部件小类 行政区划代码 街道乡镇代码 "
        "经度 纬度 权属单位 养护单位 部件状态 普查日期"
    )
    districts = {d.name: d for d in city.districts if d.name in _COMPONENT_DISTRICTS}
    streets = [s for s in city.streets if s.district_name in districts]
    numbers: dict[str, int] = {}
    rows = []
    for _ in range(240):
        street = rng.choice(streets)
        district = districts[street.district_name]
        major, minor, name, owner = rng.choice(_COMPONENT_TYPES)
        prefix = f"{district.division_code}{major}{minor}"
        numbers[prefix] = numbers.get(prefix, 0) + 1
        owner = owner.replace("{区}", district.name)
        surveyed = date(2024, 1, 1) + timedelta(days=rng.randrange(330))
        rows.append([
            f"{prefix}{numbers[prefix]:06d}", name, _MAJOR[major], name, district.division_code,
            street.code, f"{116.25 + rng.random() * 0.3:.6f}", f"{39.82 + rng.random() * 0.2:.6f}",
            owner, owner, rng.choices(("完好", "破损", "丢失", "占用"), (90, 6, 2, 2))[0],
            surveyed.isoformat(),
        ])  # fmt: skip
    for index in (17, 60):
        rows.append([*rows[index][:10], "破损", "2025-03-18"])
    rows[100][0] = rows[100][0][:-1]
    rows[150][0] = ""
    return _Sheet(header, rows)


def _enrolment(city: City, register: _Sheet) -> _Sheet:
    """市教委's list: the youngest registered people, three birth dates wrong, one name mistyped."""
    rng = random.Random("enrolment")
    truth, moved = register.planted["truth"], register.planted["moved"]
    header = _columns(
        "公民身份号码 姓名 出生日期 户籍地址 居住地址 监护人姓名 监护人联系电话 登记区 登记类别"
    )
    young = sorted(
        (c for c in city.citizens if c.citizen_id not in moved), key=lambda c: c.birth_date
    )
    rows = []
    for citizen in reversed(young[-60:]):
        home = truth[citizen.citizen_id][5]
        rows.append([
            citizen.citizen_id, citizen.name, citizen.birth_date.isoformat(), home, home,
            rng.choice(city.citizens).name, f"13{rng.randrange(10**9):09d}", citizen.district_name,
            "本市户籍",
        ])  # fmt: skip
    for index in (4, 21, 37):
        born = date.fromisoformat(rows[index][2])
        rows[index][2] = (born + timedelta(days=rng.choice((1, 30, 365)))).isoformat()
    right = rows[12][1]
    wrong = right[:-1] + ("晓" if right[-1] != "晓" else "小")
    rows[12][1] = wrong
    return _Sheet(header, rows, {"name": (rows[12][0], wrong, right)})


def _penalties(city: City) -> _Sheet:
    """市生态环境局's penalties: one USCC with a wrong check character, one not registered."""
    rng = random.Random("penalties")
    header = _columns(
        "行政处罚决定书文号 当事人名称 统一社会信用代码 违法事实 "
        "处罚依据 处罚内容 罚款金额 处罚日期"
    )
    facts = (
        ("超标排放大气污染物", "《中华人民共和国大气污染防治法》第九十九条"),
        ("未按规定安装使用污染源自动监测设备", "《中华人民共和国大气污染防治法》第一百条"),
        ("危险废物贮存不符合规范", "《中华人民共和国固体废物污染环境防治法》第一百一十二条"),
        ("夜间施工噪声超标", "《中华人民共和国噪声污染防治法》第七十七条"),
    )
    rows = []
    for number, firm in enumerate(rng.sample(city.enterprises, 24), start=1):
        fact, basis = rng.choice(facts)
        day = date(2025, 1, 6) + timedelta(days=rng.randrange(170))
        rows.append([
            f"京环罚字〔2025〕{100 + number}号", firm.name, firm.uscc, fact, basis, "罚款",
            f"{rng.choice((2, 5, 10, 20, 50)) * 10000}.00", day.isoformat(),
        ])  # fmt: skip
    right = rows[5][2]
    rows[5][2] = _wrong_check(right)
    registered = {e.uscc for e in city.enterprises}
    stranger = next(
        code
        for body in ("MA01W7Q3", "MA01W7Q4")
        if (code := make_uscc("91", "110108", body)) not in registered
    )
    rows[14][1], rows[14][2] = "北京某某环保工程有限公司", stranger
    return _Sheet(header, rows, {"uscc": (rows[5][0], rows[5][2], right)})


def _stations(city: City) -> _Sheet:
    """朝阳区's elderly-care stations: one USCC in full-width digits, one bed count in words."""
    rng = random.Random("stations")
    header = _columns(
        "驿站名称 运营单位 统一社会信用代码 街道乡镇代码 详细地址 "
        "经度 纬度 服务项目 床位数 服务电话"
    )
    firms = [e for e in city.enterprises if e.district_name == "朝阳区"]
    streets = {s.code: s for s in city.streets if s.district_name == "朝阳区"}
    # One station per street office and per community of 朝阳区.
    places = [(s.name, s.code) for s in streets.values()]
    places += [(c.name, c.street_code) for c in city.communities if c.street_code in streets]
    rows = []
    for number, (place, street_code) in enumerate(places):
        firm = firms[number % len(firms)]
        rows.append([
            f"{place}养老服务驿站", firm.name, firm.uscc, street_code,
            f"北京市朝阳区{streets[street_code].name}{place if place.endswith('社区') else ''}"
            f"{rng.randint(1, 99)}号",
            f"{116.42 + rng.random() * 0.1:.6f}", f"{39.90 + rng.random() * 0.1:.6f}",
            "助餐、助洁、助浴、助医", str(rng.randint(4, 30)),
            f"010-{rng.randrange(10**7, 10**8)}",
        ])  # fmt: skip
    right = rows[3][2]
    rows[3][2] = right.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    rows[6][8] = "十二张"
    return _Sheet(header, rows, {"uscc": (rows[3][0], right)})


def _write_csv(path: Path, sheet: _Sheet, encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(sheet.header)
        writer.writerows(sheet.rows)
    return path


def _write_xlsx(path: Path, sheet: _Sheet, title: str = "北京市企业登记注册信息") -> Path:
    book = Workbook()
    page = book.active
    assert page is not None
    page.append([title])
    page.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(sheet.header))
    page.append(list(sheet.header))
    for row in sheet.rows:
        page.append(row)
    book.save(path)
    return path


# --- loading ---------------------------------------------------------------------------------


def _officers(
    uow_factory: UowFactory, admin: Actor, city: City, passwords: PasswordHasher
) -> dict[str, Actor]:
    """The departments' officers by department short name (created without a password, so
    they cannot sign in), and 朝阳区's persona."""
    codes = {d.short_name: d.code for d in city.departments}
    users = []
    for short_name, username, display_name in _OFFICERS:
        seat = MembershipIn(organisation_code=codes[short_name], role=Role.DEPT_OFFICER)
        with uow_factory() as uow:
            users.append(
                identity.create_user(
                    uow, actor=admin, passwords=passwords,
                    data=UserCreate(username=username, display_name=display_name,
                                    memberships=[seat]),
                )
            )  # fmt: skip
    with uow_factory() as uow:
        district = uow.session.scalar(sa.select(User).where(User.username == _DISTRICT_OFFICER))
        assert district is not None
        actors = {
            short_name: identity.actor_for_user(uow, user)
            for (short_name, _, _), user in zip(_OFFICERS, users, strict=True)
        }
        actors["朝阳区"] = identity.actor_for_user(uow, district)
    return actors


def _entries(uow_factory: UowFactory) -> dict[str, str]:
    """Entry ids by name (names are unique in the demo catalogue)."""
    with uow_factory() as uow:
        return {
            name: entry_id
            for entry_id, name in uow.session.execute(sa.select(Entry.id, Entry.name))
        }


def _ingest(store: Datastore, actor: Actor, entry_id: str, path: Path, note: str) -> str:
    outcome = ingest_file(
        store, actor=actor, entry_id=entry_id, path=path, filename=path.name, note=note
    )
    return outcome.version_id


def _registry_rule(field_name: str, kind: str) -> dict[str, Any]:
    return {"kind": "reference", "fields": [field_name],
            "params": {"registry": kind, "column": field_name}}  # fmt: skip


def load_base_data(
    uow_factory: UowFactory,
    store: Datastore,
    *,
    admin: Actor,
    city: City,
    passwords: PasswordHasher,
    progress: Progress | None = None,
) -> BaseDataSummary:
    """Register the data elements, upload the registers and copies, and file objections."""
    report = progress or (lambda _stage, _done, _total: None)
    entries = _entries(uow_factory)
    items = _element_inputs(city, entries)
    with uow_factory() as uow:
        for item in items:
            save_element(uow, actor=admin, data=item)
        uow.commit()
    report(_STAGE, 1, _STEPS)
    officers = _officers(uow_factory, admin, city, passwords)
    report(_STAGE, 2, _STEPS)
    for short_name, name, field_name, kind in (
        ("市教委", ENROLMENT, "公民身份号码", "person"),
        ("市生态环境局", PENALTIES, "统一社会信用代码", "enterprise"),
        ("朝阳区", STATIONS, "统一社会信用代码", "enterprise"),
    ):
        with uow_factory() as uow:
            quality.update_rules(
                uow, actor=officers[short_name], entry_id=entries[name],
                rules=[_registry_rule(field_name, kind)],
            )  # fmt: skip
            uow.commit()
    register = _population(city)
    sheets = {
        ENROLMENT: _enrolment(city, register),
        PENALTIES: _penalties(city),
        STATIONS: _stations(city),
    }
    versions: dict[str, str] = {}
    with store.lake.scratch() as work:
        uploads = [
            ("市公安局", POPULATION, _write_csv(work / "常住人口.csv", register, "gb18030")),
            ("市市场监管局", ENTERPRISES, _write_xlsx(work / "企业登记.xlsx", _enterprises(city))),
            (
                "市城市管理委",
                COMPONENTS,
                _write_csv(work / "部件.csv", _components(city), "utf-8-sig"),
            ),
            ("市教委", ENROLMENT, _write_csv(work / "入学登记.csv", sheets[ENROLMENT])),
            ("市生态环境局", PENALTIES, _write_csv(work / "行政处罚.csv", sheets[PENALTIES])),
            ("朝阳区", STATIONS, _write_csv(work / "养老驿站.csv", sheets[STATIONS])),
        ]
        for step, (short_name, name, path) in enumerate(uploads, start=3):
            versions[name] = _ingest(store, officers[short_name], entries[name], path, "演示数据")
            report(_STAGE, step, _STEPS)
    filed = _objections(uow_factory, store, officers, entries, versions, sheets)
    with uow_factory() as uow:
        codes = dict(
            uow.session.execute(
                sa.select(Entry.id, Entry.resource_code).where(
                    Entry.id.in_([entries[POPULATION], entries[ENROLMENT]])
                )
            ).all()
        )
    load_sandbox_demo(
        uow_factory, store, admin=admin, city=city, police=officers["市公安局"],
        entries={"population": entries[POPULATION], "enrolment": entries[ENROLMENT]},
        codes={"population": codes[entries[POPULATION]]},
    )  # fmt: skip
    report(_STAGE, _STEPS, _STEPS)
    return BaseDataSummary(len(items), versions, filed)


def _objections(
    uow_factory: UowFactory,
    store: Datastore,
    officers: dict[str, Actor],
    entries: dict[str, str],
    versions: dict[str, str],
    sheets: dict[str, _Sheet],
) -> dict[str, str]:
    """Three objections on the copies, left flagged, corrected and raised; status by id."""
    evidence = EvidenceStore.under(store.lake.root.parent)  # text evidence only: nothing stored
    person, wrong, right = sheets[ENROLMENT].planted["name"]
    document, bad, good = sheets[PENALTIES].planted["uscc"]
    station, code = sheets[STATIONS].planted["uscc"]

    def text(value: str) -> list[EvidenceItem]:
        return [EvidenceItem(kind="text", value=value)]

    filings = [
        (officers["市公安局"], ObjectionInput(
            entry_id=entries[ENROLMENT], version_id=versions[ENROLMENT],
            record_key={"公民身份号码": person}, field_name="姓名",
            claim="该学生姓名与常住人口登记不一致，疑为录入错误", proposed=right,
            evidence=text(f"常住人口基本信息中该公民身份号码登记的姓名为「{right}」，"
                          f"入学登记名单中为「{wrong}」"),
        )),
        (officers["市市场监管局"], ObjectionInput(
            entry_id=entries[PENALTIES], version_id=versions[PENALTIES],
            record_key={"行政处罚决定书文号": document}, field_name="统一社会信用代码",
            claim="当事人统一社会信用代码校验位错误，企业登记注册信息中查无此代码", proposed=good,
            evidence=text(f"按 GB 32100 校验，{bad} 的校验位应为 {good[-1]}；"
                          f"企业登记注册信息中该企业的代码为 {good}"),
        )),
        (officers["市市场监管局"], ObjectionInput(
            entry_id=entries[STATIONS], version_id=versions[STATIONS],
            record_key={"驿站名称": station}, field_name="统一社会信用代码",
            claim="运营单位的统一社会信用代码使用了全角数字，无法与企业登记注册信息比对",
            proposed=code, evidence=text(f"企业登记注册信息中该运营单位的代码为 {code}"),
        )),
    ]  # fmt: skip
    filed = []
    for actor, data in filings:
        with uow_factory() as uow:
            filed.append(objections.raise_objection(uow, actor=actor, data=data, store=evidence).id)
            uow.commit()
    with uow_factory() as uow:
        objections.accept(
            uow, actor=officers["市教委"], objection_id=filed[0], note="已受理，正与学校核对"
        )
        uow.commit()
    ecology = officers["市生态环境局"]
    with uow_factory() as uow:
        objections.accept(uow, actor=ecology, objection_id=filed[1], note="已受理")
        objections.verify(
            uow, actor=ecology, objection_id=filed[1], finding=Finding.CONFIRMED,
            note="核对处罚决定书原件，系录入时末位抄错",
        )  # fmt: skip
        objections.answer(
            uow, actor=ecology, objection_id=filed[1],
            text=f"经核实为录入错误，正确代码为 {good}，下一版数据一并更正",
        )  # fmt: skip
        objections.correct(
            uow, actor=ecology, objection_id=filed[1],
            erratum=f"{document} 的当事人统一社会信用代码更正为 {good}",
        )  # fmt: skip
        uow.commit()
    with uow_factory() as uow:
        found = uow.session.execute(
            sa.select(Objection.id, Objection.status).where(Objection.id.in_(filed))
        )
        return {objection_id: status for objection_id, status in found}
