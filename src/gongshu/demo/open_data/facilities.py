"""Places people go to: medical institutions, schools, parks, venues, toilets and offices.

Each row stands at a :class:`~gongshu.demo.open_data.world.Place` (its district, street,
community, coordinates and address fill the entry's place fields); names come from the street,
its roads and communities, or the vocabulary's real landmarks.
"""

from __future__ import annotations

from datetime import date

from gongshu.demo.citydata import District
from gongshu.demo.open_data.registers import hospitals, kindergartens, schools
from gongshu.demo.open_data.world import Gen, Place, Row, at, short, words

__all__ = [
    "care_homes",
    "culture_venues",
    "divisions",
    "hospital_rows",
    "hukou_windows",
    "insured_providers",
    "job_centres",
    "kindergarten_rows",
    "memorials",
    "parks",
    "scenic_spots",
    "school_rows",
    "shelters",
    "sports_venues",
    "toilets",
    "waste_points",
]


def hospital_rows(g: Gen) -> list[Row]:
    """医疗机构执业登记信息."""
    return hospitals(g.world)


def school_rows(g: Gen) -> list[Row]:
    """中小学校基本信息."""
    return schools(g.world)


def kindergarten_rows(g: Gen) -> list[Row]:
    """幼儿园基本信息."""
    return kindergartens(g.world)


def insured_providers(g: Gen) -> list[Row]:
    """医保定点医药机构信息: the hospitals (most clinics too) and chain pharmacies."""
    rows: list[Row] = []
    counters: dict[str, int] = {}

    def code(letter: str, district: District) -> str:  # H/P + division + sequence, as NHSA
        key = letter + district.division_code
        counters[key] = counters.get(key, 0) + 1
        return f"{key}{counters[key]:05d}"

    def since() -> date:  # agreements are renewed every January
        return date(2025, 1, 1) if g.chance(0.5) else g.day(date(2025, 1, 2), date(2026, 3, 1))

    for hospital in hospitals(g.world):
        if hospital["_kind"] != "诊所" or g.chance(0.3):
            firm, place = hospital["_firm"], hospital["_place"]
            rows.append({
                "定点机构编码": code("H", place.district), "机构名称": firm.name,
                "机构类型": "定点医疗机构", "协议起始日期": since(), "_place": place, "_firm": firm,
            })  # fmt: skip
    chains = [w.name for w in words("药店")]
    for _ in range(620):
        place = g.place()
        name = g.unique(lambda p: f"{g.pick(*chains)}{p.road}店", place)
        if name is not None:
            rows.append({
                "定点机构编码": code("P", place.district), "机构名称": name,
                "机构类型": "定点零售药店", "协议起始日期": since(), "_place": place,
                "_firm": g.body("91", name, place),
            })  # fmt: skip
    return rows


_CAPACITY = {"5A": (30000, 80000), "4A": (8000, 40000), "3A": (2000, 10000), "2A": (800, 3000)}
_RURAL_SPOTS = (
    "民俗村",
    "生态园",
    "采摘园",
    "森林公园",
    "花海",
    "农业观光园",
    "滑雪场",
    "湿地公园",
)


def scenic_spots(g: Gen) -> list[Row]:
    """A级旅游景区信息: the vocabulary's real spots and rural 1A-3A ones in the outer districts."""
    rows: list[Row] = []
    for spot in words("景区"):
        price = int(spot.value)
        fee = f"旺季{price}元，淡季{round(price * 0.7)}元" if price >= 20 else f"{price}元"
        rows.append({
            "景区名称": spot.name, "景区等级": spot.kind, "_place": at(g, spot),
            "开放时间": "全天开放" if price == 0 else "旺季08:00-17:00，淡季08:30-16:30",
            "门票价格": "免费" if price == 0 else fee,
            "最大承载量": g.rng.randrange(*_CAPACITY[spot.kind], 500),
        })  # fmt: skip
    rural = [d for d, w in g.world.profiles.items() if w.kind in ("生态涵养区", "新城")]
    for _ in range(150):
        place = g.place(g.world.district_named(g.pick(*rural)))
        name = g.unique(lambda p: f"{short(p.community.name)}{g.pick(*_RURAL_SPOTS)}", place)
        grade = g.weighted({"3A": 40, "2A": 45, "1A": 15})
        if name is not None:
            rows.append({
                "景区名称": name, "景区等级": grade, "_place": place,
                "开放时间": g.pick("08:00-17:30", "08:30-17:00", "全天开放"),
                "门票价格": g.pick("免费", f"{g.rng.randrange(10, 61, 5)}元"),
                "最大承载量": g.rng.randrange(*_CAPACITY.get(grade, (300, 1500)), 100),
            })  # fmt: skip
    return rows


def culture_venues(g: Gen) -> list[Row]:
    """公共图书馆和文化馆信息: the city's, each district's and their street branches."""
    hours = {"图书馆": "周二至周日 09:00-20:00", "文化馆": "周二至周日 09:00-17:00"}

    def venue(name: str, kind: str, grade: str, place: Place, books: int) -> Row:
        return {"场馆名称": name, "场馆类型": kind, "等级": grade, "开放时间": hours[kind],
                "藏书量": books, "_place": place}  # fmt: skip

    chaoyang = g.world.district_named("朝阳区")
    rows = [venue("首都图书馆", "图书馆", "一级", g.place(chaoyang), 1160),
            venue("北京市群众艺术馆", "文化馆", "一级", g.place(chaoyang), 6)]  # fmt: skip
    for district in g.world.city.districts:
        name = district.name
        rows.append(
            venue(f"{name}图书馆", "图书馆", "一级", g.place(district), g.rng.randint(60, 260))
        )
        grade = g.pick("一级", "一级", "二级")
        rows.append(venue(f"{name}文化馆", "文化馆", grade, g.place(district), g.rng.randint(1, 5)))
        for area in g.world.areas_of[name]:
            branch = f"{short(area.street.name)}分馆"
            books = g.rng.randint(1, 6)
            rows.append(
                venue(f"{name}图书馆{branch}", "图书馆", "未定级", g.place(area=area), books)
            )
            rows.append(venue(f"{name}文化馆{branch}", "文化馆", "未定级", g.place(area=area), 1))
    return rows


_SPORTS_FEES = {
    "体育馆": "篮球、羽毛球场地40元/小时", "游泳馆": "成人30元/次，学生15元/次",
    "网球场": "80元/小时", "笼式足球场": "200元/场", "全民健身中心": "免费",
}  # fmt: skip


def sports_venues(g: Gen) -> list[Row]:
    """公共体育场馆信息: each district's centre and the streets' fitness centres and courts."""
    rows: list[Row] = []

    def add(name: str, kind: str, place: Place) -> None:
        fee = _SPORTS_FEES.get(kind, "免费")
        rows.append({
            "场馆名称": name, "场馆类型": kind, "开放时间": "06:00-21:30", "收费标准": fee,
            "是否低免开放": fee == "免费" or g.chance(0.6), "_place": place,
        })  # fmt: skip

    for district in g.world.city.districts:
        add(f"{district.name}体育中心", "体育场", g.place(district))
        add(f"{district.name}全民健身中心", "全民健身中心", g.place(district))
        for area in g.world.areas_of[district.name]:
            add(f"{short(area.street.name)}全民健身中心", "全民健身中心", g.place(area=area))
            for _ in range(g.rng.randint(1, 4)):
                place, kind = g.place(area=area), g.pick(*_SPORTS_FEES)
                name = g.unique(lambda p, k: f"{p.road}{k}", place, kind)
                if name is not None:
                    add(name, kind, place)
    return rows


def toilets(g: Gen) -> list[Row]:
    """公共厕所信息: more first-class ones in the core districts."""
    rows: list[Row] = []
    numbers: dict[str, int] = {}
    for _ in range(2800):
        place = g.place()
        code = place.district.division_code
        numbers[code] = numbers.get(code, 0) + 1
        core = g.world.profiles[place.district.name].kind == "核心区"
        grade = g.weighted({"一类": 3 if core else 1, "二类": 5, "三类": 2 if core else 4})
        stem = g.pick(place.road, short(place.community.name))
        name = g.unique(lambda s: f"{s}{g.pick('', '北口', '南口', '东口', '西口')}公厕", stem)
        rows.append({
            "公厕编号": f"GC{code}{numbers[code]:05d}",
            "公厕名称": name or f"{place.road}{numbers[code]}号公厕", "等级": grade,
            "开放时间": g.weighted({"全天": 7, "06:00-22:00": 3}),
            "无障碍设施": grade != "三类" and g.chance(0.9), "_place": place,
        })  # fmt: skip
    return rows


def waste_points(g: Gen) -> list[Row]:
    """生活垃圾分类收集点信息: a dozen or more in every community, open at set hours."""
    rows: list[Row] = []
    for areas in g.world.areas_of.values():
        for area in areas:
            for community in area.communities:
                for number in range(1, g.rng.randint(12, 36)):
                    spot = g.place(area=area)
                    where = g.pick(f"{g.rng.randint(1, 40)}号楼", "东门", "西门", "南门", "北门")
                    rows.append({
                        "收集点编号": f"LJ{community.code}{number:03d}",
                        "收集点名称": f"{short(community.name)}{where}桶站",
                        "桶站类型": g.weighted({"固定桶站": 85, "临时桶站": 15}),
                        "开放时间": "06:30-09:00，18:00-21:00",
                        "_place": Place(spot.district, spot.street, community, spot.lon, spot.lat,
                                        spot.road, spot.number),
                    })  # fmt: skip
    return rows


def job_centres(g: Gen) -> list[Row]:
    """公共就业服务机构信息: the city's centre, each district's and each street's office."""
    rows: list[Row] = [
        {"机构名称": "北京市公共就业服务中心", "机构层级": "市",
         "_place": g.place(g.world.district_named("朝阳区"))}
    ]  # fmt: skip
    for district in g.world.city.districts:
        rows.append({"机构名称": f"{district.name}人力资源公共服务中心", "机构层级": "区",
                     "_place": g.place(district)})  # fmt: skip
        for area in g.world.areas_of[district.name]:
            rows.append({"机构名称": f"{district.name}{area.street.name}社会保障事务所",
                         "机构层级": "街道（乡镇）", "_place": g.place(area=area)})  # fmt: skip
    for row in rows:
        row["服务时间"] = "周一至周五 09:00-12:00，13:30-17:00"
    return rows


def care_homes(g: Gen) -> list[Row]:
    """养老机构基本信息: public ones named after their street, private ones after a trade name."""
    rows: list[Row] = []
    for _ in range(580):
        place = g.place()
        nature = g.weighted({"公办": 25, "公建民营": 30, "民办": 45})
        if nature == "民办":
            tail = g.pick("养老院", "颐养中心", "护养院", "老年公寓")
            name = g.unique(lambda t: f"北京{g.trade()}{t}", tail)
        else:
            stem = f"北京市{place.district.name}{short(place.street.name)}"
            name = g.unique(lambda s: f"{s}{g.pick('养老照料中心', '敬老院', '养老院')}", stem)
        if name is None:
            continue
        beds = g.weighted({g.rng.randint(30, 150): 6, g.rng.randint(150, 400): 3,
                           g.rng.randint(400, 900): 1})  # fmt: skip
        low = g.rng.randrange(2500, 6000, 500)
        rows.append({
            "机构名称": name, "机构性质": nature, "床位数": beds,
            "护理型床位数": round(beds * g.rng.uniform(0.45, 0.85)),
            "收费区间": f"{low}-{low + g.rng.randrange(2000, 9000, 500)}元/月",
            "星级": g.weighted({1: 10, 2: 35, 3: 35, 4: 15, 5: 5}), "_place": place,
            "_firm": g.body("12" if nature == "公办" else "52", name, place),
        })  # fmt: skip
    return rows


def divisions(g: Gen) -> list[Row]:
    """行政区划及代码信息: the city's own districts, streets and communities (true data)."""
    rows: list[Row] = []
    for district in g.world.city.districts:
        code = district.division_code
        if district.code:
            rows.append({"行政区划代码": code, "名称": district.name, "上级区划代码": "110000"})
        urban = g.world.profiles[district.name].kind in ("核心区", "城区")
        for area in g.world.areas_of[district.name]:
            street = area.street
            rows.append({"行政区划代码": code, "街道乡镇代码": street.code, "名称": street.name,
                         "上级区划代码": code})  # fmt: skip
            for community in area.communities:
                # GB/T 城乡划分代码: 111 main urban area, 121 town centre, 220 village
                kind = "220" if community.name.endswith("村") else "111" if urban else "121"
                rows.append({"行政区划代码": code, "街道乡镇代码": street.code,
                             "社区村代码": community.code, "名称": community.name,
                             "上级区划代码": street.code, "城乡分类代码": kind})  # fmt: skip
    return rows


def shelters(g: Gen) -> list[Row]:
    """应急避难场所信息: the large parks (two square metres a person) and school grounds."""
    rows: list[Row] = []
    for park in words("公园"):
        rows.append({
            "场所名称": f"{park.name}应急避难场所", "场所类型": "室外", "_place": at(g, park),
            "避难级别": "Ⅰ类" if park.value > 100 else "Ⅱ类",
            "可容纳人数": int(min(200000, round(park.value * 10000 * 0.4 / 2, -2))),
        })  # fmt: skip
    for school in g.rng.sample(schools(g.world), 170):
        rows.append({
            "场所名称": f"{school['学校名称']}应急避难场所",
            "场所类型": g.weighted({"室内": 40, "室外": 60}), "避难级别": g.pick("Ⅱ类", "Ⅲ类"),
            "可容纳人数": g.rng.randrange(800, 6000, 100), "_place": school["_place"],
        })  # fmt: skip
    return rows


def hukou_windows(g: Gen) -> list[Row]:
    """户籍业务办理窗口信息: each district's service centre and each police station."""
    rows: list[Row] = []
    for district in g.world.city.districts:
        rows.append({"窗口名称": f"{district.name}政务服务中心公安户政窗口",
                     "办公时间": "周一至周五 09:00-17:00",
                     "_place": g.place(district)})  # fmt: skip
        for area in g.world.areas_of[district.name]:
            station = f"北京市公安局{district.name}分局{short(area.street.name)}派出所"
            rows.append({"窗口名称": f"{station}户籍窗口", "_place": g.place(area=area),
                         "办公时间": "周一至周五 09:00-17:00，周六 09:00-12:00"})  # fmt: skip
    return rows


def memorials(g: Gen) -> list[Row]:
    """烈士纪念设施信息: each district's cemetery and a monument or two in its streets."""
    rows: list[Row] = []
    for district in g.world.city.districts:
        if district.code is None:
            continue
        keeper = f"{district.name}退役军人事务局"
        rows.append({"设施名称": f"{district.name}烈士陵园", "保护级别": g.pick("市级", "区级"),
                     "开放时间": "08:30-16:30", "管理单位": keeper,
                     "_place": g.place(district)})  # fmt: skip
        for area in g.rng.sample(g.world.areas_of[district.name], g.rng.randint(1, 2)):
            rows.append({"设施名称": f"{short(area.street.name)}革命烈士纪念碑",
                         "保护级别": "区级", "开放时间": "全天开放", "管理单位": keeper,
                         "_place": g.place(area=area)})  # fmt: skip
    return rows


_SMALL_PARKS = {
    "休闲公园": "游园",
    "口袋公园": "游园",
    "城市森林公园": "综合公园",
    "滨河公园": "带状公园",
}


def parks(g: Gen) -> list[Row]:
    """公园基本信息: the vocabulary's real parks, a park per community and smaller ones."""
    rows: list[Row] = []
    for park in words("公园"):
        rows.append({"公园名称": park.name, "公园类型": park.kind, "面积": park.value,
                     "开放时间": "06:00-21:00", "_place": at(g, park),
                     "是否收费": park.kind == "综合公园" and g.chance(0.5)})  # fmt: skip
    for areas in g.world.areas_of.values():
        for area in areas:
            for community in area.communities:
                rows.append({"公园名称": f"{short(community.name)}社区公园", "公园类型": "社区公园",
                             "面积": g.between(0.3, 4), "开放时间": "全天开放", "是否收费": False,
                             "_place": g.place(area=area)})  # fmt: skip
            for _ in range(g.rng.randint(1, 3)):
                place, kind = g.place(area=area), g.pick(*_SMALL_PARKS)
                name = g.unique(lambda p, k: f"{p.road}{k}", place, kind)
                if name is not None:
                    rows.append({"公园名称": name, "公园类型": _SMALL_PARKS[kind],
                                 "面积": g.between(0.2, 30), "开放时间": "全天开放",
                                 "是否收费": False, "_place": place})  # fmt: skip
    return rows
