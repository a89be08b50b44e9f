"""Transport tables: bus lines and the stops they serve, car parks, a traffic index.

Stops are named after the roads and communities of their street; a line runs through a few
neighbouring streets, taking stops in order along its direction, so its length, fare scheme and
terminals follow from its route and every stop lists the lines that really serve it.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from itertools import pairwise
from typing import cast

from gongshu.demo.open_data.registers import car_parks
from gongshu.demo.open_data.world import AS_OF, Area, Gen, Row, World, short

__all__ = [
    "SUBURBAN_BUS",
    "bus_lines",
    "bus_network",
    "bus_stop_rows",
    "car_park_rows",
    "traffic_index",
]

SUBURBAN_BUS = "北京市八方达客运有限责任公司"
_BUS_COMPANIES = tuple(f"北京公交集团第{n}客运分公司" for n in "一二三四五六七八")
_LINE_PREFIX = {
    "门头沟区": "门", "房山区": "房", "通州区": "通", "顺义区": "顺", "昌平区": "昌",
    "大兴区": "兴", "怀柔区": "怀", "平谷区": "平", "密云区": "密", "延庆区": "延",
    "北京经济技术开发区": "亦",
}  # fmt: skip
_STOP_TAILS = ("", "", "口", "东口", "西口", "南口", "北口", "路口东", "路口西", "南站", "北站")
_STOPS_PER_STREET = {"核心区": 26, "城区": 34, "新城": 30, "生态涵养区": 22}


def bus_network(world: World) -> tuple[list[Row], list[Row]]:
    """Bus lines and the stops they serve."""
    return cast(tuple[list[Row], list[Row]], world.shared("bus", _bus_network))


def bus_lines(g: Gen) -> list[Row]:
    """公交线路基础信息."""
    return bus_network(g.world)[0]


def bus_stop_rows(g: Gen) -> list[Row]:
    """公交站点基础信息: the stops some line serves, with those lines."""
    return bus_network(g.world)[1]


def car_park_rows(g: Gen) -> list[Row]:
    """公共停车场备案信息."""
    return car_parks(g.world)


def _km(a: Row, b: Row) -> float:
    dx = (a["经度"] - b["经度"]) * 111.32 * math.cos(math.radians(a["纬度"]))
    return math.hypot(dx, (a["纬度"] - b["纬度"]) * 110.57)


def _bus_stops(g: Gen) -> dict[str, list[Row]]:
    """Stops on each street, named after its roads and communities (unique in the city)."""
    stops: dict[str, list[Row]] = {}
    taken: set[str] = set()
    for district, areas in g.world.areas_of.items():
        count = _STOPS_PER_STREET[g.world.profiles[district].kind]
        for area in areas:
            stems = [*area.roads, *(short(c.name) for c in area.communities)]
            made: list[Row] = []
            for _ in range(count * 3):
                name = g.pick(*stems, short(area.street.name)) + g.pick(*_STOP_TAILS)
                if name in taken:
                    continue
                taken.add(name)
                place = g.place(area=area)
                made.append({
                    "站点编号": f"{area.street.code}{len(made) + 1:03d}", "站点名称": name,
                    "经度": place.lon, "纬度": place.lat,
                    "行政区划代码": place.district.division_code, "无障碍站台": g.chance(0.7),
                    "_lines": [],
                })  # fmt: skip
                if len(made) == count:
                    break
            stops[area.street.code] = made
    return stops


def _line_name(g: Gen, numbers: dict[str, int], kind: str, district: str) -> str:
    """夜12路, 专35路, 快速直达专线8, 顺21路 (suburban) or 468路: numbers rise with gaps."""
    prefix = kind or (_LINE_PREFIX.get(district, "") if g.chance(0.8) else "")
    numbers[prefix] = numbers.get(prefix, 0) + g.rng.randint(1, 3 if prefix else 2)
    return f"{prefix}{numbers[prefix]}" + ("" if prefix == "快速直达专线" else "路")


def _bus_network(g: Gen) -> tuple[list[Row], list[Row]]:
    """Lines that run through neighbouring streets, and the stops that lines serve."""
    world = g.world
    stops = _bus_stops(g)
    areas = [a for d in world.city.districts for a in world.areas_of[d.name]]

    def apart(a: Area, b: Area) -> float:
        return math.hypot((a.lon - b.lon) * 0.77, a.lat - b.lat)

    near = {a.street.code: sorted((b for b in areas if b is not a), key=lambda b: apart(a, b))[:4]
            for a in areas}  # fmt: skip
    weights = {a: world.population[world.district_of(a.street)] for a in areas}
    numbers: dict[str, int] = {}
    lines: list[Row] = []
    for index in range(540):
        path = [g.weighted(weights)]
        kind = g.weighted({"": 84, "夜": 4, "专": 7, "快速直达专线": 5})
        name = _line_name(g, numbers, kind, path[0].street.district_name)
        for _ in range(g.rng.randint(2, 7) if kind else g.rng.randint(1, 4)):
            options = [a for a in near[path[-1].street.code] if a not in path]
            if not options:
                break
            path.append(g.pick(*options))
        dx, dy = path[-1].lon - path[0].lon, path[-1].lat - path[0].lat
        if dx == dy == 0:  # a line within one street: any direction will do
            dx, dy = math.cos(index), math.sin(index)
        route: list[Row] = []
        for area in path:
            served = stops[area.street.code]
            chosen = g.rng.sample(served, min(len(served), g.rng.randint(3, 8)))
            route += sorted(chosen, key=lambda s: s["经度"] * dx + s["纬度"] * dy)
        if len(route) < 5:
            continue
        length = round(sum(_km(a, b) for a, b in pairwise(route)) * 1.3, 1)  # roads wind
        for stop in route:
            stop["_lines"].append(name)
        first = f"0{g.rng.randint(5, 6)}:{g.pick('00', '10', '20', '30')}"
        last = f"{g.rng.randint(21, 23)}:{g.pick('00', '30')}"
        suburban = name[0] in _LINE_PREFIX.values()
        lines.append({
            "线路编号": f"XL{index + 1:05d}", "线路名称": name, "起点站": route[0]["站点名称"],
            "终点站": route[-1]["站点名称"], "首班时间": "23:00" if kind == "夜" else first,
            "末班时间": "04:30" if kind == "夜" else last, "线路长度": length,
            "票制": "分段计价" if length > 10 else "一票制",  # Beijing: flat fare up to 10 km
            "运营单位": SUBURBAN_BUS if suburban else g.pick(*_BUS_COMPANIES),
        })  # fmt: skip
    served = [s for street in world.city.streets for s in stops[street.code] if s["_lines"]]
    for stop in served:
        stop["所属线路"] = "、".join(stop["_lines"])
    return lines, served


def _congestion(index: float) -> str:
    for limit, label in ((2, "畅通"), (4, "基本畅通"), (6, "轻度拥堵"), (8, "中度拥堵")):
        if index < limit:
            return label
    return "严重拥堵"


_HOT_SPOTS = ("国贸CBD", "中关村", "金融街", "望京", "回龙观", "天通苑", "亦庄", "城市副中心")


def traffic_index(g: Gen) -> list[Row]:
    """交通出行指数产品: hourly for two weeks, by district and busy area, with rush hours."""
    regions = [(d.division_code, d.name, g.world.profiles[d.name].kind)
               for d in g.world.city.districts if d.code]  # fmt: skip
    regions += [(f"HA{n:02d}", name, "核心区") for n, name in enumerate(_HOT_SPOTS, start=1)]
    busy = {"核心区": 5.4, "城区": 4.6, "新城": 3.2, "生态涵养区": 1.8}
    start = datetime.combine(AS_OF - timedelta(days=13), datetime.min.time())
    rows: list[Row] = []
    for code, name, kind in regions:
        for h in range(14 * 24):
            when = start + timedelta(hours=h)
            peak = math.exp(-((when.hour - 8) ** 2) / 2) + math.exp(-((when.hour - 18) ** 2) / 3)
            scale = 0.55 if when.weekday() >= 5 else 1.0
            night = 0.25 if when.hour < 6 or when.hour > 22 else 1.0
            index = busy[kind] * night * (0.6 + 0.9 * peak * scale) + g.rng.gauss(0, 0.35)
            index = round(min(9.9, max(0.3, index)), 1)
            rows.append({
                "区域编码": code, "区域名称": name, "交通指数": index,
                "拥堵等级": _congestion(index), "发布时间": when,
                "平均车速": round(max(8.0, 46 - 3.4 * index + g.rng.gauss(0, 1.5)), 1),
            })  # fmt: skip
    return rows
