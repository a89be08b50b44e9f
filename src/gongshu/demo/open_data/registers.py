"""Registers several open tables share: medical institutions, schools, kindergartens, car
parks, air-quality stations and the enterprises listed for abnormal operations.

Each is built once per world from its own generator (:meth:`World.shared`), so a hospital keeps
its registration number in 医疗机构执业登记信息, 医保定点医药机构信息 and its district's
社区卫生服务机构信息, and a kindergarten its classes in the district's 普惠性幼儿园学位信息.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import cast

from gongshu.demo.open_data.world import Gen, Place, Row, World, short, words

__all__ = ["abnormal", "air_stations", "car_parks", "hospitals", "kindergartens", "schools"]


def hospitals(world: World) -> list[Row]:
    """Medical institutions, with one community health centre per street (``_kind``: the kind
    of institution, ``_firm``: the body with its USCC and legal representative)."""
    return cast(list[Row], world.shared("hospitals", _hospitals))


def schools(world: World) -> list[Row]:
    """Primary and secondary schools."""
    return cast(list[Row], world.shared("schools", _schools))


def kindergartens(world: World) -> list[Row]:
    """Kindergartens (``_pupils``: the children enrolled)."""
    return cast(list[Row], world.shared("kindergartens", _kindergartens))


def car_parks(world: World) -> list[Row]:
    """Registered public car parks, run by registered enterprises."""
    return cast(list[Row], world.shared("car-parks", _car_parks))


def air_stations(world: World) -> list[Row]:
    """Air-quality stations: the 35 of the city network and 35 street stations."""
    return cast(list[Row], world.shared("air-stations", _air_stations))


def abnormal(world: World) -> list[Row]:
    """Registered enterprises put on the list of abnormal operations."""
    return cast(list[Row], world.shared("abnormal", _abnormal))


# --- medical institutions --------------------------------------------------------------------

# Kind: (机构类别, code in the registration number, 诊疗科目).
_KINDS = {
    "综合医院": ("综合医院", "A1", "内科；外科；妇产科；儿科；眼科；口腔科；急诊医学科"),
    "中医医院": ("中医医院", "A3", "中医科；针灸科；推拿科；康复医学科；医学检验科；医学影像科"),
    "专科医院": ("专科医院", "A5", ""),
    "妇幼保健院": ("妇幼保健院", "A6", "妇产科；儿科；妇女保健科；儿童保健科；医学检验科"),
    "社区卫生服务中心": ("社区卫生服务中心", "B1", "全科医疗科；中医科；预防保健科；康复医学科"),
    "门诊部": ("门诊部", "D1", "内科；外科；口腔科；中医科；医学检验科"),
    "诊所": ("诊所", "E1", "全科医疗科"),
}  # fmt: skip
_SPECIALTIES = {
    "口腔医院": "口腔科；医学影像科", "眼科医院": "眼科；麻醉科；医学检验科",
    "妇产医院": "妇产科；麻醉科；医学检验科", "骨科医院": "骨科；康复医学科；医学影像科",
    "康复医院": "康复医学科；内科；中医科", "皮肤病医院": "皮肤科；医学检验科",
}  # fmt: skip


def _hospitals(g: Gen) -> list[Row]:
    rows: list[Row] = []

    def add(
        name: str, kind: str, grade: str, prefix: str, place: Place, subjects: str = ""
    ) -> None:
        category, code, usual = _KINDS[kind]
        rows.append({
            "医疗机构登记号": f"{g.rng.randrange(10**7, 10**8)}{place.district.division_code}"
                             f"{code}{1001 + len(rows)}",
            "机构名称": name, "机构类别": category, "医院等级": grade,
            "经营性质": "营利性" if prefix == "91" else "非营利性", "诊疗科目": subjects or usual,
            "有效期至": g.day(date(2026, 6, 1), date(2031, 5, 31)),
            "_place": place, "_firm": g.body(prefix, name, place), "_kind": kind,
        })  # fmt: skip

    for district in g.world.city.districts:
        title = f"北京市{district.name}"
        for area in g.world.areas_of[district.name]:
            centre = f"{title}{area.street.name}社区卫生服务中心"
            add(centre, "社区卫生服务中心", "一级", "12", g.place(area=area))
        if district.code is None:
            continue
        add(f"{title}中医医院", "中医医院", "三级甲等", "12", g.place(district))
        add(f"{title}妇幼保健院", "妇幼保健院", "二级甲等", "12", g.place(district))
        for ordinal in ("第一", "第二")[: 2 if g.world.population[district] > 100 else 1]:
            grade = g.pick("三级甲等", "三级乙等", "二级甲等")
            add(f"{title}{ordinal}医院", "综合医院", grade, "12", g.place(district))
    clinics = {
        "门诊部": ("综合门诊部", "口腔门诊部", "中医门诊部"),
        "诊所": ("口腔诊所", "中医诊所", "内科诊所", "诊所", "医疗美容诊所"),
        "综合医院": ("医院", "综合医院", "中西医结合医院"), "专科医院": tuple(_SPECIALTIES),
    }  # fmt: skip
    for _ in range(760):
        place = g.place()
        kind = g.weighted({"综合医院": 8, "专科医院": 14, "门诊部": 30, "诊所": 48})
        tail = g.pick(*clinics[kind])
        name = g.unique(lambda t: f"北京{g.trade()}{t}", tail)
        if name is not None:
            grade = g.pick("二级", "一级") if kind.endswith("医院") else "未定级"
            prefix = "91" if g.chance(0.8) else "52"
            add(name, kind, grade, prefix, place, _SPECIALTIES.get(tail, ""))
    return rows


# --- schools ---------------------------------------------------------------------------------


def _school_name(g: Gen, place: Place, tail: str) -> str | None:
    stem = g.pick(short(place.street.name), short(place.community.name), place.road)
    order = {"": 4, "第一": 2, "第二": 2, "第三": 1, "实验": 2, "中心": 1}
    return g.unique(lambda: f"北京市{place.district.name}{stem}{g.weighted(order)}{tail}")


def _schools(g: Gen) -> list[Row]:
    kinds = {"小学": ("小学", 55), "初级中学": ("中学", 10), "完全中学": ("中学", 12),
             "高级中学": ("高级中学", 4), "九年一贯制学校": ("学校", 13),
             "十二年一贯制学校": ("学校", 3), "特殊教育学校": ("特殊教育学校", 3)}  # fmt: skip
    rows: list[Row] = []
    for _ in range(1150):
        place = g.place()
        kind = g.weighted({k: w for k, (_, w) in kinds.items()})
        private = g.chance(0.09) and kind != "特殊教育学校"
        name = (
            g.unique(lambda: f"北京{g.trade()}{g.pick('实验学校', '外国语学校', '双语学校')}")
            if private else _school_name(g, place, kinds[kind][0])
        )  # fmt: skip
        if name is None:
            continue
        classes = g.rng.randint(6, 18) if "中学" in kind else g.rng.randint(12, 42)
        classes = g.rng.randint(6, 12) if kind == "特殊教育学校" else classes
        rows.append({
            "学校标识码": f"11{place.district.division_code[2:]}{len(rows) + 1:04d}",
            "学校名称": name, "办学类型": kind, "举办者类型": "民办" if private else "公办",
            "班级数": classes, "在校生数": classes * g.rng.randint(26, 42), "_place": place,
        })  # fmt: skip
    return rows


def _kindergartens(g: Gen) -> list[Row]:
    rows: list[Row] = []
    for _ in range(950):
        place = g.place()
        nature = g.weighted({"公办": 55, "普惠性民办": 30, "非普惠性民办": 15})
        if nature == "公办":  # Beijing's fee for a first-class public kindergarten is 750 a month
            name, fee = _school_name(g, place, "幼儿园"), g.pick(750, 750, 700, 650, 550)
        else:
            tail = g.pick("幼儿园", "双语幼儿园", "艺术幼儿园")
            name = g.unique(lambda t: f"北京{g.trade()}{t}", tail)
            fee = 750 if nature == "普惠性民办" else g.rng.randrange(2800, 9800, 100)
        if name is None:
            continue
        classes = g.rng.randint(3, 15)
        rows.append({
            "学校标识码": f"11{place.district.division_code[2:]}{5001 + len(rows):04d}",
            "幼儿园名称": name, "办园性质": nature, "班级数": classes, "收费标准": Decimal(fee),
            "_place": place, "_pupils": classes * g.rng.randint(20, 30),
        })  # fmt: skip
    return rows


# --- car parks, abnormal operations, air-quality stations ------------------------------------


def _car_parks(g: Gen) -> list[Row]:
    operators = g.firms(40, industries="LKG")
    rows: list[Row] = []
    for number in range(1, 461):
        place = g.place()
        core = g.world.profiles[place.district.name].kind in ("核心区", "城区")
        first, then = (10, 15) if core else (g.pick(5, 6), g.pick(2, 2.5, 3))
        stem = g.pick(place.road, short(place.community.name), short(place.street.name))
        name = g.unique(lambda s: f"{s}{g.pick('', '地下', '立体', '西侧', '东侧')}停车场", stem)
        if name is None:
            continue
        spaces = {
            g.rng.randint(40, 200): 6,
            g.rng.randint(200, 800): 3,
            g.rng.randint(800, 2000): 1,
        }
        rows.append({
            "停车场编号": f"P{place.district.division_code}{number:05d}", "停车场名称": name,
            "泊位数": g.weighted(spaces),
            "收费标准": f"首小时{first}元，之后每小时{then}元" if core else f"每小时{first}元",
            "开放时间": g.pick("00:00-24:00", "00:00-24:00", "06:00-23:00"),
            "_place": place, "_firm": g.pick(*operators),
        })  # fmt: skip
    return rows


def _abnormal(g: Gen) -> list[Row]:
    reasons = {
        "未按规定期限公示年度报告": 60, "通过登记的住所或者经营场所无法联系": 30,
        "公示企业信息隐瞒真实情况、弄虚作假": 6, "未在责令的期限内公示有关企业信息": 4,
    }  # fmt: skip
    rows: list[Row] = []
    for firm in g.firms(28):
        listed = g.day(date(2024, 7, 1), date(2026, 3, 20))
        removed = g.chance(0.4) and listed < date(2026, 1, 1)
        rows.append({
            "列入原因": g.weighted(reasons), "列入日期": listed,
            "作出决定机关": f"北京市{firm.district.name}市场监督管理局",
            "移出原因": "补报未报年份的年度报告并公示" if removed else "",
            "移出日期": listed + timedelta(days=g.rng.randint(30, 200)) if removed else None,
            "_firm": firm,
        })  # fmt: skip
    return rows


def _air_stations(g: Gen) -> list[Row]:
    rows: list[Row] = [
        {"站点名称": w.name, "站点类型": w.kind, "经度": w.lon, "纬度": w.lat,
         "_district": g.world.district_named(w.district)}
        for w in words("空气站")
    ]  # fmt: skip
    areas = sorted(
        (a for areas in g.world.areas_of.values() for a in areas), key=lambda a: a.street.code
    )
    for area in g.rng.sample(areas, 35):
        place = g.place(area=area)
        rows.append({
            "站点名称": f"{area.street.name}站", "站点类型": "乡镇街道站",
            "经度": place.lon, "纬度": place.lat, "_district": place.district,
        })  # fmt: skip
    for number, row in enumerate(rows):
        built = (
            (date(2012, 1, 1), date(2013, 12, 31))
            if number < 35
            else (date(2017, 6, 1), date(2019, 12, 31))
        )
        row["监测站点编码"] = f"{1001 + number}A"
        row["行政区划代码"] = row["_district"].division_code
        row["建成日期"] = g.day(*built)
    return rows
