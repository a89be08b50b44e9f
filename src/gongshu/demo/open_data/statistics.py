"""Statistics by district and period: population, housing sales, patents, the citizens'
hotline, a disease profile and city check-up indicators, in proportion to each district's
population and functional class."""

from __future__ import annotations

from gongshu.demo.open_data.world import MONTHS, QUARTERS, YEARS, Gen, Row, coded, words

__all__ = ["city_checkup", "disease_mix", "hotline", "housing", "patents", "population_stats"]


def population_stats(g: Gen) -> list[Row]:
    """常住人口主要数据: yearly by district, around each district's population."""
    share = {"核心区": 0.2, "城区": 0.36, "新城": 0.33, "生态涵养区": 0.16}
    rows: list[Row] = []
    for year in YEARS:
        for district in coded(g):
            profile = g.world.profiles[district.name]
            people = profile.value * (1 - 0.004 * (2025 - int(year))) * g.rng.uniform(0.995, 1.005)
            urban = 100.0 if profile.kind in ("核心区", "城区") else g.between(62, 92, 1)
            rows.append({
                "统计期": year, "行政区划代码": district.code, "常住人口": round(people, 1),
                "常住外来人口": round(people * share[profile.kind] * g.rng.uniform(0.9, 1.1), 1),
                "城镇化率": urban, "出生率": g.between(4.6, 6.8), "死亡率": g.between(4.8, 7.2),
            })  # fmt: skip
    return rows


def housing(g: Gen) -> list[Row]:
    """房屋交易统计信息: monthly; new homes sell where the city grows, resales in the centre."""
    rows: list[Row] = []
    for month in MONTHS:
        season = 0.6 if month.endswith(("01", "02")) else 1.0
        for district in coded(g):
            profile = g.world.profiles[district.name]
            new_share = {"核心区": 0.05, "城区": 0.6, "新城": 1.4, "生态涵养区": 0.5}[profile.kind]
            base = profile.value * 4.2 * season
            new, old = base * new_share * g.rng.uniform(0.6, 1.4), base * g.rng.uniform(0.7, 1.3)
            rows.append({
                "统计期": month, "行政区划代码": district.code,
                "新建住宅成交套数": round(new),
                "新建住宅成交面积": round(new * g.rng.uniform(92, 118), 1),
                "存量住宅成交套数": round(old),
                "存量住宅成交面积": round(old * g.rng.uniform(62, 84), 1),
            })  # fmt: skip
    return rows


def patents(g: Gen) -> list[Row]:
    """专利授权统计信息: monthly by district, led by 海淀."""
    strength = {"海淀区": 9.0, "朝阳区": 3.0, "北京经济技术开发区": 2.5, "昌平区": 2.2,
                "西城区": 1.6, "东城区": 1.2, "丰台区": 1.4}  # fmt: skip
    rows: list[Row] = []
    for month in MONTHS:
        for district in coded(g):
            people = g.world.profiles[district.name].value
            pull = strength.get(district.name, 0.6)
            invention = people * pull * g.rng.uniform(4.5, 6.5)
            rows.append({
                "统计期": month, "行政区划代码": district.code, "发明专利授权量": round(invention),
                "实用新型授权量": round(invention * g.rng.uniform(0.5, 0.9)),
                "外观设计授权量": round(invention * g.rng.uniform(0.15, 0.35)),
                "每万人发明专利拥有量": round(pull * 72 * g.rng.uniform(0.95, 1.05), 1),
            })  # fmt: skip
    return rows


def hotline(g: Gen) -> list[Row]:
    """市民服务热线诉求统计: monthly by district and kind of request."""
    rows: list[Row] = []
    for month in MONTHS[2:]:
        for district in coded(g):
            people = g.world.profiles[district.name].value
            for kind in words("诉求类别"):
                rows.append({
                    "统计期": month, "行政区划代码": district.code, "诉求类别": kind.name,
                    "受理量": round(people * g.rng.uniform(8, 40)), "响应率": 100.0,
                    "解决率": g.between(91, 98.5, 1), "满意率": g.between(92, 98, 1),
                })  # fmt: skip
    return rows


def disease_mix(g: Gen) -> list[Row]:
    """区域疾病谱分析产品: visits by disease group within each district, quarter and age group."""
    groups = {
        "呼吸系统疾病": 26, "循环系统疾病": 18, "消化系统疾病": 12, "内分泌营养代谢疾病": 9,
        "肌肉骨骼系统疾病": 10, "泌尿生殖系统疾病": 7, "神经系统疾病": 6, "损伤和中毒": 12,
    }  # fmt: skip
    ages = {"0-14岁": 0.13, "15-44岁": 0.42, "45-64岁": 0.28, "65岁及以上": 0.17}
    rows: list[Row] = []
    for quarter in QUARTERS[4:]:
        for district in coded(g):
            people = g.world.profiles[district.name].value * 10000
            for age, share in ages.items():
                visits = {k: w * g.rng.uniform(0.7, 1.3) for k, w in groups.items()}
                total = sum(visits.values())
                for kind, weight in visits.items():
                    rows.append({
                        "统计期": quarter, "行政区划代码": district.code, "疾病大类": kind,
                        "年龄组": age, "就诊人次": round(people * share * 0.9 * weight / total),
                        "构成比": round(100 * weight / total, 2),
                    })  # fmt: skip
    return rows


_INDICATORS = {  # name: (target, typical value, higher is better)
    "公园绿地服务半径覆盖率": (90.0, 88.0, True), "社区养老设施覆盖率": (100.0, 96.0, True),
    "人均公园绿地面积": (16.5, 16.0, True), "轨道站点800米范围通勤比例": (50.0, 45.0, True),
    "新建住宅建筑密度超过30%的比例": (0.0, 2.0, False), "城市道路网密度": (8.0, 6.2, True),
    "完整居住社区覆盖率": (60.0, 52.0, True), "年均空气质量优良天数比例": (80.0, 79.0, True),
    "城市生活污水集中收集率": (85.0, 82.0, True), "万人拥有幼儿园班数": (15.0, 13.5, True),
}  # fmt: skip


def city_checkup(g: Gen) -> list[Row]:
    """城市体检指标数据产品: indicators against their targets, by district and year."""
    rows: list[Row] = []
    for year in YEARS[1:]:
        for district in coded(g):
            for name, (target, typical, higher) in _INDICATORS.items():
                value = round(max(0.0, typical * g.rng.uniform(0.85, 1.12)), 1)
                if name.endswith(("率", "比例")):
                    value = min(value, 100.0)
                met = value >= target if higher else value <= target
                close = abs(value - target) <= max(abs(target) * 0.05, 1)
                rows.append({
                    "统计期": year, "行政区划代码": district.code, "指标名称": name,
                    "指标值": value, "目标值": target,
                    "评价结论": "达标" if met else "接近目标" if close else "未达标",
                })  # fmt: skip
    return rows
