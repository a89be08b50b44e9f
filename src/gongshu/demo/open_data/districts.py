"""District catalogues ({区}…): each table is about the generator's district only.

Where a district table describes something a municipal table also lists, it is the same thing:
community health centres come from the medical institutions' register (same registration
number), kindergartens' places from the kindergartens' register (same identifier and classes).
"""

from __future__ import annotations

from datetime import date, timedelta

from gongshu.demo.citydata import District
from gongshu.demo.open_data.registers import hospitals, kindergartens
from gongshu.demo.open_data.world import Area, Firm, Gen, Row, short, yuan

__all__ = [
    "care_stations",
    "collectives",
    "community_health",
    "homestays",
    "kindergarten_places",
    "renovations",
]


def _district(g: Gen) -> District:
    assert g.district is not None, "a district catalogue is made for a district"
    return g.district


def _areas(g: Gen) -> list[Area]:
    return g.world.areas_of[_district(g).name]


_CARE = ("助餐、助洁、助浴、助医", "助餐、助医", "助餐、助洁、呼叫服务、精神慰藉")


def care_stations(g: Gen) -> list[Row]:
    """{区}养老服务驿站信息: one to three in each community, run by the district's firms."""
    district = _district(g)
    operators = g.firms(3, industries="QO", district=district)
    operators += [  # the district's care firms, and new ones where it has too few
        g.body("91", f"北京{g.trade()}养老服务有限公司", g.place(district))
        for _ in range(4 - len(operators))
    ]
    rows: list[Row] = []
    for area in _areas(g):
        for community in area.communities:
            for tail in ("", "第二", "第三")[: g.rng.randint(1, 3)]:
                firm = g.pick(*operators)
                rows.append({
                    "驿站名称": f"{short(community.name)}{tail}养老服务驿站",
                    "运营单位": firm.name, "统一社会信用代码": firm.uscc,
                    "服务项目": g.pick(*_CARE), "床位数": g.rng.randint(0, 12),
                    "_place": g.place(area=area),
                })  # fmt: skip
    return rows


def community_health(g: Gen) -> list[Row]:
    """{区}社区卫生服务机构信息: each street's centre and a station in each community."""
    district = _district(g)
    rows: list[Row] = []
    for centre in hospitals(g.world):
        place = centre["_place"]
        if centre["_kind"] != "社区卫生服务中心" or place.district != district:
            continue
        rows.append({"机构名称": centre["机构名称"], "机构类型": "社区卫生服务中心",
                     "医疗机构登记号": centre["医疗机构登记号"], "_place": place,
                     "家庭医生团队数": g.rng.randint(8, 30),
                     "门诊时间": "周一至周五 08:00-17:00，周六 08:00-12:00"})  # fmt: skip
        area = next(a for a in _areas(g) if a.street == place.street)
        for number, community in enumerate(area.communities, start=1):
            rows.append({
                "机构名称": f"{centre['机构名称'].removesuffix('中心')}站（{community.name}）",
                "机构类型": "社区卫生服务站", "门诊时间": "周一至周五 08:00-17:00",
                "医疗机构登记号": f"{centre['医疗机构登记号']}-{number:02d}",
                "家庭医生团队数": g.rng.randint(1, 4), "_place": g.place(area=area),
            })  # fmt: skip
    return rows


def kindergarten_places(g: Gen) -> list[Row]:
    """{区}普惠性幼儿园学位信息: the district's public and inclusive private kindergartens."""
    district = _district(g)
    rows: list[Row] = []
    for school in kindergartens(g.world):
        if school["_place"].district != district or school["办园性质"] == "非普惠性民办":
            continue
        places = school["班级数"] * 30  # 25 to 35 a class from the youngest to the oldest
        enrolled = min(places, school["_pupils"])
        rows.append({
            "学校标识码": school["学校标识码"], "幼儿园名称": school["幼儿园名称"],
            "办园性质": school["办园性质"], "核定学位数": places, "在园幼儿数": enrolled,
            "剩余学位数": places - enrolled, "收费标准": school["收费标准"],
            "_place": school["_place"],
        })  # fmt: skip
    return rows


_HOMESTAY_HEADS = (
    "山里",
    "云上",
    "长城脚下",
    "溪畔",
    "栗香",
    "望山",
    "隐庐",
    "花间",
    "石头",
    "星空",
)
_HOMESTAY_TAILS = ("小院", "民宿", "山居", "精品民宿", "客舍")


def homestays(g: Gen) -> list[Row]:
    """{区}乡村民宿登记信息: kept by villagers (individual businesses) or small companies."""
    district = _district(g)
    rows: list[Row] = []
    for _ in range(130):
        place = g.place(district)
        village = short(place.community.name)
        name = g.unique(
            lambda v: f"{v if g.chance(0.5) else ''}{g.pick(*_HOMESTAY_HEADS)}"
                      f"{g.pick(*_HOMESTAY_TAILS)}", village,
        )  # fmt: skip
        if name is None:
            continue
        keeper = g.person()
        firm = (
            Firm(g.uscc("92", district), keeper, keeper, district) if g.chance(0.55)
            else g.body("91", f"北京{g.trade()}民宿管理有限公司", place)
        )  # fmt: skip
        rows.append({
            "民宿名称": name, "经营者名称": firm.name, "客房数": g.rng.randint(3, 14),
            "星级评定": g.weighted({"五星级": 1, "四星级": 3, "三星级": 4, "未评定": 6}),
            "_place": place, "_firm": firm,
        })  # fmt: skip
    return rows


_WORKS = ("节能改造", "加装电梯", "管线改造", "屋面防水", "楼道整治", "增设停车位", "无障碍改造")


def renovations(g: Gen) -> list[Row]:
    """{区}老旧小区综合整治项目信息: compounds (…号院) under way, done or being prepared."""
    district = _district(g)
    builders = g.firms(8, industries="E") or g.firms(8)
    rows: list[Row] = []
    for _ in range(70):
        place = g.place(district)
        name = g.unique(lambda p: f"{p.road}{g.rng.randint(1, 60)}号院", place)
        if name is None:
            continue
        status = g.weighted({"已完工": 45, "施工中": 40, "前期准备": 15})
        started = g.day(date(2023, 3, 1), date(2025, 12, 31)) if status != "前期准备" else None
        done = None
        if status == "已完工" and started is not None:
            done = started + timedelta(days=g.rng.randint(120, 420))
        rows.append({
            "项目名称": f"{district.name}{name}综合整治项目", "小区名称": name,
            "楼栋数": g.rng.randint(2, 30), "建筑面积": g.between(4000, 160000, 1),
            "改造内容": "、".join(g.rng.sample(_WORKS, g.rng.randint(2, 4))),
            "实施单位": g.pick(*builders).name, "开工日期": started, "项目状态": status,
            "完工日期": done,
            "_place": place,
        })  # fmt: skip
    return rows


def collectives(g: Gen) -> list[Row]:
    """{区}农村集体经济组织信息: a shareholding co-operative for each village and community."""
    district = _district(g)
    rows: list[Row] = []
    for area in _areas(g):
        for community in area.communities:
            income = g.between(80, 3000)  # 万元
            rows.append({
                "集体经济组织名称": f"{district.name}{area.street.name}"
                                    f"{short(community.name)}股份经济合作社",
                "统一社会信用代码": g.uscc("N2", district), "社区村代码": community.code,
                "成员数": g.rng.randint(300, 2600), "资产总额": yuan(income * g.rng.uniform(3, 12)),
                "年经营收入": yuan(income), "负责人": g.person(),
            })  # fmt: skip
    return rows
