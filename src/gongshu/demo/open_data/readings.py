"""Measurements over time: hourly air quality, surface and tap water, forecasts and prices.

Air-quality readings share a regional day-to-day level (an AR(1) process in logs: the weather),
with each station's offset by type and latitude, daily cycles (night-time particles, rush-hour
NO2, afternoon ozone), a dust day and a few calibration gaps; the index and primary pollutant
follow HJ 633-2012.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from decimal import Decimal

from gongshu.demo.open_data.registers import air_stations
from gongshu.demo.open_data.world import AS_OF, Gen, Row, coded, words, yuan

__all__ = [
    "air_readings",
    "air_station_rows",
    "forecasts",
    "price_watch",
    "surface_water",
    "tap_water",
    "wholesale",
]

# 1-hour breakpoints of HJ 633-2012 (PM: the 24-hour ones, as hourly releases use them).
_IAQI = (0, 50, 100, 150, 200, 300, 400, 500)
_BREAKPOINTS = {
    "PM2.5": (0, 35, 75, 115, 150, 250, 350, 500),
    "PM10": (0, 50, 150, 250, 350, 420, 500, 600),
    "NO2": (0, 100, 200, 700, 1200, 2340, 3090, 3840),
    "O3": (0, 160, 200, 300, 400, 800, 1000, 1200),
    "SO2": (0, 150, 500, 650, 800, 1600, 2100, 2620),
    "CO": (0, 5, 10, 35, 60, 90, 120, 150),
}
_POLLUTANT_FIELDS = {
    "PM2.5": "PM2.5浓度", "PM10": "PM10浓度", "NO2": "二氧化氮浓度",
    "O3": "臭氧浓度", "SO2": "二氧化硫浓度", "CO": "一氧化碳浓度",
}  # fmt: skip


def _iaqi(pollutant: str, value: float) -> float:
    points = _BREAKPOINTS[pollutant]
    for i in range(1, len(points)):
        if value <= points[i]:
            low, high = points[i - 1], points[i]
            return _IAQI[i - 1] + (_IAQI[i] - _IAQI[i - 1]) * (value - low) / (high - low)
    return 500.0


def _regional(g: Gen, days: int, swing: float) -> list[float]:
    """A day-by-day regional level (AR(1) in logs): weather that all stations share."""
    level, x = [], 0.0
    for _ in range(days + 1):
        x = 0.65 * x + g.rng.gauss(0, swing)
        level.append(x)
    return level


def air_station_rows(g: Gen) -> list[Row]:
    """空气质量监测站点信息."""
    return air_stations(g.world)


def air_readings(g: Gen) -> list[Row]:
    """空气质量小时监测数据: 30 days at every station, with a dust day and a few gaps."""
    start, days = datetime.combine(AS_OF - timedelta(days=29), datetime.min.time()), 30
    level = _regional(g, days, 0.5)
    dust = g.rng.randrange(6, 26)
    rows: list[Row] = []
    for station in air_stations(g.world):
        kind = station["站点类型"]
        factor = {"交通污染监控点": 1.12, "区域背景点": 0.8}.get(kind, 1.0)
        factor *= (1 + (39.95 - station["纬度"]) * 0.5) * g.rng.uniform(0.92, 1.08)
        traffic = {"交通污染监控点": 1.5, "区域背景点": 0.45, "乡镇街道站": 0.8}.get(kind, 1.0)
        gap = g.rng.randrange(30 * 24 - 8) if g.chance(0.15) else -99
        for h in range(days * 24):
            day, hour = divmod(h, 24)
            smooth = level[day] + (level[day + 1] - level[day]) * hour / 24
            pm25 = 38 * math.exp(smooth + g.rng.gauss(0, 0.15)) * factor
            pm25 *= 1 + 0.18 * math.cos(2 * math.pi * (hour - 23) / 24)
            pm10 = pm25 * g.rng.uniform(1.35, 1.9)
            if day == dust:
                pm10 = pm10 * g.rng.uniform(3, 5) + 150 * (1 - abs(hour - 13) / 13)
            rush = math.exp(-((hour - 8) ** 2) / 6) + math.exp(-((hour - 20) ** 2) / 8)
            no2 = 32 * traffic * (1 + 0.35 * rush) * (0.7 + 0.3 * math.exp(smooth / 2))
            no2 *= math.exp(g.rng.gauss(0, 0.18))
            sun = max(0.0, math.sin(math.pi * (hour - 7) / 13)) if 7 <= hour <= 20 else 0.0
            o3 = (28 + 95 * sun * (1 + day / 60)) * (1.15 if kind == "区域背景点" else 1.0)
            values: dict[str, float] = {
                "PM2.5": round(pm25), "PM10": round(pm10), "NO2": round(no2),
                "O3": round(max(2.0, o3 - 0.45 * no2 + g.rng.gauss(0, 6))),
                "SO2": round(max(2.0, 3.5 * factor + g.rng.gauss(0, 1.0))),
                "CO": round(max(0.1, 0.25 + 0.011 * pm25 + g.rng.gauss(0, 0.05)), 1),
            }  # fmt: skip
            row: Row = {
                "监测站点编码": station["监测站点编码"], "站点名称": station["站点名称"],
                "监测时间": start + timedelta(hours=h),
            }  # fmt: skip
            if gap <= h < gap + 8:  # the analyser was being calibrated: no values
                rows.append(row | {"首要污染物": ""})
                continue
            iaqi = {p: _iaqi(p, v) for p, v in values.items()}
            aqi = math.ceil(max(iaqi.values()))
            primary = [p for p, v in iaqi.items() if math.ceil(v) == aqi]
            row |= {_POLLUTANT_FIELDS[p]: v for p, v in values.items()}
            row |= {"空气质量指数": aqi, "首要污染物": "、".join(primary) if aqi > 50 else "—"}
            rows.append(row)
    return rows


_WATER_CLASSES = ("Ⅰ类", "Ⅱ类", "Ⅲ类", "Ⅳ类", "Ⅴ类", "劣Ⅴ类")
# Upper limits of classes Ⅰ-Ⅴ in GB 3838-2002 (mg/L).
_WATER_LIMITS = {
    "高锰酸盐指数": (2, 4, 6, 10, 15),
    "氨氮": (0.15, 0.5, 1.0, 1.5, 2.0),
    "总磷": (0.02, 0.1, 0.2, 0.3, 0.4),
}


def surface_water(g: Gen) -> list[Row]:
    """地表水水质监测数据: monthly at each section; one parameter decides the class."""
    rows: list[Row] = []
    for number, section in enumerate(words("断面"), start=1):
        for month in range(15):
            taken = datetime(2025 + month // 12, month % 12 + 1, 10, 10)
            grade = min(6, max(1, int(section.value) + g.weighted({-1: 20, 0: 65, 1: 14, 2: 1})))
            driver = g.pick(*_WATER_LIMITS)
            row: Row = {
                "监测站点编码": f"SW{number:03d}", "断面名称": section.name,
                "所在河流": section.kind, "监测时间": taken, "水质类别": _WATER_CLASSES[grade - 1],
            }  # fmt: skip
            for name, limits in _WATER_LIMITS.items():
                top = limits[min(grade, 5) - 1] * (g.rng.uniform(1.05, 1.6) if grade == 6 else 1)
                low = limits[grade - 2] if grade > 1 and name == driver else top * 0.3
                places = 1 if name == "高锰酸盐指数" else 3
                row[name] = round(g.rng.uniform(low, top) if name == driver else
                                  g.rng.uniform(top * 0.3, top * 0.9), places)  # fmt: skip
            rows.append(row)
    return rows


def tap_water(g: Gen) -> list[Row]:
    """供水水质监测信息: daily at each water plant, within the drinking-water standard."""
    rows: list[Row] = []
    for plant in words("水厂"):
        for day in range(90):
            rows.append({
                "水厂名称": plant.name,
                "监测时间": datetime(2026, 1, 1, 8) + timedelta(days=day),
                "浑浊度": g.between(0.05, 0.35), "余氯": g.between(0.3, 0.8),
                "菌落总数": g.weighted({0: 5, 1: 3, 2: 2, g.rng.randint(3, 20): 2}),
                "达标情况": True,
            })  # fmt: skip
    return rows


_SKIES = {"晴": 34, "多云": 26, "晴转多云": 12, "多云转晴": 10, "阴": 9, "小雨": 6, "扬沙": 3}
_WINDS = ("北风", "西北风", "南风", "东南风", "西南风", "东北风")
_FORCES = {"1-2级": 5, "2-3级": 4, "3-4级": 2}


def _temperature(day: int, hour: int, first: date) -> float:
    """A seasonal mean for Beijing (°C) with its daily swing, for day ``day`` after ``first``."""
    doy = (first + timedelta(days=day)).timetuple().tm_yday
    mean = 12.5 - 15.5 * math.cos(2 * math.pi * (doy - 18) / 365)
    return mean + 6 * math.sin(2 * math.pi * (hour - 9) / 24)


def forecasts(g: Gen) -> list[Row]:
    """城市天气预报: issued at 06:00 each day for three days, by district."""
    first = AS_OF - timedelta(days=29)
    rows: list[Row] = []
    for day in range(30):
        issued = datetime.combine(first + timedelta(days=day), datetime.min.time().replace(hour=6))
        for district in coded(g):
            cold = 2.5 if g.world.profiles[district.name].kind == "生态涵养区" else 0.0
            for ahead in range(3):
                sky = g.weighted(_SKIES)
                rain = g.rng.randrange(60, 91, 10) if sky == "小雨" else g.rng.randrange(0, 31, 10)
                high = _temperature(day + ahead, 15, first) - cold + g.rng.gauss(0, 1.5)
                rows.append({
                    "预报发布时间": issued, "行政区划代码": district.code,
                    "预报日期": issued.date() + timedelta(days=ahead), "天气现象": sky,
                    "最高气温": round(high), "最低气温": round(high - g.rng.uniform(9, 14)),
                    "风向风力": f"{g.pick(*_WINDS)}{g.weighted(_FORCES)}", "降水概率": float(rain),
                })  # fmt: skip
    return rows


def price_watch(g: Gen) -> list[Row]:
    """重要商品价格监测数据: weekly retail prices that drift from the reference price."""
    rows: list[Row] = []
    for item in words("商品"):
        grade, unit = item.kind.split("|")
        price = item.value
        for week in range(52):
            before = price
            price = max(item.value * 0.7, price * (1 + g.rng.gauss(0, 0.018)))
            places = 4 if price < 1 else 2
            rows.append({
                "统计日期": AS_OF - timedelta(days=7 * (51 - week) + 2), "商品名称": item.name,
                "规格等级": grade, "计量单位": unit,
                "平均零售价": Decimal(round(price, places)).quantize(Decimal(10) ** -places),
                "环比涨幅": round((price / before - 1) * 100, 2),
            })  # fmt: skip
    return rows


def wholesale(g: Gen) -> list[Row]:
    """农产品批发市场价格信息: daily at each market; varieties share a city-wide trend."""
    first = AS_OF - timedelta(days=29)
    produce = words("农产品")
    trend = {p.name: p.value for p in produce}
    rows: list[Row] = []
    for day in range(30):
        for name in trend:
            trend[name] *= 1 + g.rng.gauss(0, 0.02)
        for market in words("批发市场"):
            for item in produce:
                mean = trend[item.name] * g.rng.uniform(0.95, 1.05)
                rows.append({
                    "统计日期": first + timedelta(days=day), "市场名称": market.name,
                    "品种名称": item.name, "规格": item.kind,
                    "最高价": yuan(mean * g.rng.uniform(1.1, 1.3)),
                    "最低价": yuan(mean * g.rng.uniform(0.7, 0.9)), "平均价": yuan(mean),
                })  # fmt: skip
    return rows
