"""Tables about organisations: licences, lists, procurement, deals and registrations.

Enterprises named here are the register's own (name, USCC and legal representative as uploaded,
so the assessment's source checks agree); other bodies get fresh codes of the right kind.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from gongshu.demo.open_data.registers import abnormal, schools
from gongshu.demo.open_data.transport import SUBURBAN_BUS
from gongshu.demo.open_data.world import AS_OF, Firm, Gen, Row, office, short, words, yuan

__all__ = [
    "abnormal_rows",
    "annual_reports",
    "bank_branches",
    "credit_profiles",
    "food_licences",
    "high_tech",
    "land_supply",
    "law_firms",
    "procurement",
    "property_deals",
    "registrations",
    "shops",
    "specialised",
]


def abnormal_rows(g: Gen) -> list[Row]:
    """经营异常名录信息."""
    return abnormal(g.world)


def food_licences(g: Gen) -> list[Row]:
    """食品经营许可信息: restaurants and shops (many of them individual businesses, USCC 92)
    and school canteens."""
    foods = ("面馆", "饺子馆", "小吃店", "快餐店", "烤鸭店", "涮肉馆", "包子铺", "烘焙坊", "茶饮店")
    shops = ("便利店", "超市", "食品店", "副食店", "粮油店")
    items = {
        "餐饮服务经营者": "热食类食品制售；冷食类食品制售；自制饮品制售",
        "食品销售经营者": "预包装食品（含冷藏冷冻食品）销售；散装食品（含冷藏冷冻食品）销售",
        "单位食堂": "热食类食品制售",
    }
    rows: list[Row] = []
    for number in range(1, 1401):
        place = g.place()
        kind = g.weighted({"餐饮服务经营者": 55, "食品销售经营者": 40, "单位食堂": 5})
        if kind == "单位食堂":
            school = g.pick(*schools(g.world))
            firm = g.body("12", school["学校名称"], school["_place"])
            place = school["_place"]
        elif g.chance(0.6):  # an individual business, named after its keeper
            keeper = g.person()
            trade = g.pick(*(foods if kind == "餐饮服务经营者" else shops))
            name = f"{place.district.name}{keeper[0]}记{trade}"
            firm = Firm(g.uscc("92", place.district), name, keeper, place.district)
        else:
            trade = "餐饮管理有限公司" if kind == "餐饮服务经营者" else "商贸有限公司"
            name = f"北京{g.trade()}{trade}{short(place.street.name)}{g.pick('分店', '分公司')}"
            firm = g.body("91", name, place)
        if g.unique(lambda f: f.name, firm) is None:
            continue
        rows.append({
            "许可证编号": f"JY{1 if kind == '食品销售经营者' else 2}{place.district.division_code}"
                         f"{number:07d}",
            "经营者名称": firm.name, "主体业态": kind, "经营项目": items[kind],
            "有效期至": g.day(date(2026, 6, 1), date(2031, 3, 31)), "经营场所": place.address,
            "_place": place, "_firm": firm,
        })  # fmt: skip
    return rows


def annual_reports(g: Gen) -> list[Row]:
    """企业年度报告公示信息: every registered enterprise's 2024 report, a third of 2025's."""
    rows: list[Row] = []
    for firm in g.world.firms:
        for year in (2024, 2025):
            if (firm.founded and firm.founded.year > year) or (year == 2025 and g.chance(0.65)):
                continue  # 2025 reports are due by the end of June 2026: a third are in
            staff = round(math.exp(g.rng.gauss(math.log(float(firm.capital) / 20 + 3), 0.6)))
            domain = f"{firm.uscc[-6:].lower()}.com.cn"
            rows.append({
                "报告年度": str(year), "企业通信地址": firm.address,
                "企业电子邮箱": f"{g.pick('info', 'service', 'hr', 'contact')}@{domain}",
                "从业人数": max(1, staff),
                "网站或网店": f"https://www.{domain}" if g.chance(0.45) else "无",
                "对外担保情况": "有" if g.chance(0.06) else "无", "_firm": firm,
            })  # fmt: skip
    return rows


def credit_profiles(g: Gen) -> list[Row]:
    """企业信用画像服务: scores that count the enterprise's listing for abnormal operations."""
    flagged = {row["_firm"].uscc for row in abnormal(g.world) if not row["移出日期"]}
    rows: list[Row] = []
    for firm in g.world.firms:
        listed = firm.uscc in flagged
        score = round(min(980, max(320, g.rng.gauss(690, 90) - (180 if listed else 0))))
        rows.append({
            "信用评分": score, "风险等级": "高" if score < 520 else "中" if score < 680 else "低",
            "经营稳定性指数": g.between(0.2 if listed else 0.45, 0.98),
            "合规记录摘要": f"行政处罚{g.weighted({0: 90, 1: 8, 2: 2})}条，经营异常{int(listed)}条",
            "画像生成时间": datetime.combine(AS_OF, datetime.min.time()) + timedelta(hours=2),
            "_firm": firm,
        })  # fmt: skip
    return rows


_PRODUCTS = {
    "C": ("精密减速器", "医用影像探测器", "工业传感器", "锂电池检测设备"),
    "I": ("工业控制软件", "数据库管理系统", "智能网联车载系统", "隐私计算平台"),
    "M": ("基因测序服务", "材料检测服务", "创新药临床前研究服务", "卫星遥感解译服务"),
}


def specialised(g: Gen) -> list[Row]:
    """专精特新中小企业名单: established manufacturers, software and research firms."""
    rows: list[Row] = []
    for firm in g.firms(48, industries="CIM"):
        if firm.founded and firm.founded.year > 2021:
            continue
        rows.append({
            "认定类型": g.weighted({"专精特新": 85, "小巨人": 15}),
            "认定年度": g.pick("2024", "2025"),
            "所属区": firm.district.name, "主导产品": g.pick(*_PRODUCTS[firm.industry[:1]]),
            "_firm": firm,
        })  # fmt: skip
    return rows


def high_tech(g: Gen) -> list[Row]:
    """高新技术企业认定信息: certificates valid for three years."""
    rows: list[Row] = []
    for firm in g.firms(70, industries="CIM"):
        year = g.pick(2023, 2024, 2025)
        batch = g.pick("第一批", "第二批", "第三批")
        issued = date(year, {"第一批": 10, "第二批": 11, "第三批": 12}[batch], g.rng.randint(5, 28))
        rows.append({
            "证书编号": f"GR{year}11{g.rng.randrange(10**6):06d}", "认定批次": f"{year}年{batch}",
            "发证日期": issued, "有效期至": issued.replace(year=year + 3), "_firm": firm,
        })  # fmt: skip
    return rows


# What is bought: the range of budgets (万元) and the industries (GB/T 4754) that supply it.
_PURCHASES = {
    "办公设备": (5, 80, "FC"), "政务云服务": (100, 3000, "I"), "物业管理服务": (50, 800, "KO"),
    "信息系统运维服务": (30, 600, "I"), "公务用车": (20, 200, "FG"), "绿化养护服务": (20, 500, "E"),
    "课桌椅": (10, 150, "CF"), "医疗设备": (50, 2000, "CF"), "图书": (5, 60, "FR"),
    "安保服务": (30, 400, "LO"), "食堂餐饮服务": (20, 300, "H"), "会议服务": (5, 50, "LH"),
    "印刷服务": (3, 40, "RC"), "数据治理服务": (50, 1200, "IM"), "监测设备": (20, 600, "CM"),
}  # fmt: skip
_METHODS = {
    "公开招标": 50,
    "竞争性磋商": 25,
    "竞争性谈判": 7,
    "单一来源": 5,
    "询价": 7,
    "框架协议": 6,
}


def procurement(g: Gen) -> list[Row]:
    """政府采购项目公告信息: departments and street offices buying from registered firms."""
    buyers = [d.name for d in g.world.city.departments]
    buyers += [office(a.street, g.world.district_of(a.street))
               for areas in g.world.areas_of.values() for a in areas]  # fmt: skip
    rows: list[Row] = []
    for number in range(1, 1201):
        item = g.pick(*_PURCHASES)
        low, high, industries = _PURCHASES[item]
        supplier = (g.firms(1, industries=industries) or g.firms(1))[0]
        budget = round(math.exp(g.rng.uniform(math.log(low), math.log(high))) * 10000, -3)
        method, buyer = g.weighted(_METHODS), g.pick(*buyers)
        rows.append({
            "项目编号": f"11000025{'GK' if method == '公开招标' else 'FG'}{number:05d}",
            "项目名称": f"{buyer}{item}采购项目", "采购单位": buyer, "采购方式": method,
            "预算金额": yuan(budget), "中标供应商": supplier.name,
            "中标金额": yuan(budget * g.rng.uniform(0.84, 0.995)),
            "公告日期": g.day(date(2025, 1, 6), AS_OF),
        })  # fmt: skip
    return rows


def property_deals(g: Gen) -> list[Row]:
    """国有产权交易信息: shares, buildings and equipment; a few still waiting for a buyer."""
    kinds = ("国有资产经营有限责任公司", "投资控股集团有限公司", "城市建设开发集团有限公司")
    owners = [f"北京市{g.trade()}{g.pick(*kinds)}" for _ in range(18)]
    rows: list[Row] = []
    for number in range(1, 221):
        kind = g.weighted({"股权": 45, "房产": 35, "车辆": 10, "设备": 10})
        if kind == "股权":
            target = f"{g.pick(*g.world.firms).name}{g.pick(10, 20, 30, 35, 49, 51, 100)}%股权"
            price = math.exp(g.rng.uniform(math.log(200), math.log(60000)))
        elif kind == "房产":
            place = g.place()
            target = f"{place.address}房产（建筑面积{g.rng.randint(60, 3000)}平方米）"
            price = math.exp(g.rng.uniform(math.log(150), math.log(9000)))
        else:
            target = "公务车辆一批" if kind == "车辆" else "闲置生产设备一批"
            price = g.rng.uniform(5, 120)
        listed = g.day(date(2025, 1, 6), date(2026, 3, 10))
        sold = g.chance(0.82) and listed < date(2026, 2, 1)
        rows.append({
            "项目编号": f"G32025BJ1{number:06d}", "标的名称": target, "转让方": g.pick(*owners),
            "挂牌价格": yuan(price), "挂牌日期": listed,
            "成交价格": yuan(price * g.rng.uniform(1.0, 1.25)) if sold else None,
            "成交日期": listed + timedelta(days=g.rng.randint(21, 60)) if sold else None,
        })  # fmt: skip
    return rows


def registrations(g: Gen) -> list[Row]:
    """公共数据资源登记公示信息: notices for the catalogue's own open entries."""
    rows: list[Row] = []
    for number, (name, provider, uscc) in enumerate(g.world.catalogue, start=1):
        kind = g.weighted({"首次": 86, "变更": 10, "更正": 4})
        start = g.day(date(2025, 3, 3), date(2026, 3, 16))
        rows.append({
            "登记编号": f"BJDJ{start.year}{number:06d}", "登记主体": provider,
            "统一社会信用代码": uscc, "数据资源名称": name, "登记类型": kind,
            "公示开始日期": start, "公示结束日期": start + timedelta(days=14),
        })  # fmt: skip
    return rows


# Use: (planned use, land price against a residential plot's, who takes it (industries, or
# allocated to a school / the bus company), its share of plots in the centre and outside).
_LAND_USES = {
    "住宅用地": ("R2二类居住用地", 1.0, "KE", (10, 30)),
    "商服用地": ("B4综合性商业金融服务业用地", 0.7, "KFL", (45, 15)),
    "工业用地": ("M1一类工业用地", 0.03, "CM", (0, 35)),
    "公共管理与公共服务用地": ("A33基础教育用地", 0.0, "school", (30, 12)),
    "交通运输用地": ("S4交通场站用地", 0.0, "bus", (15, 8)),
}  # fmt: skip
_LAND_PRICE = {"核心区": 90000, "城区": 52000, "新城": 26000, "生态涵养区": 11000}  # 元/平方米


def land_supply(g: Gen) -> list[Row]:
    """国有建设用地供应信息: plots sold by listing or allocated (划拨: no price) to schools."""
    rows: list[Row] = []
    for number in range(1, 301):
        place = g.place()
        kind = g.world.profiles[place.district.name].kind
        outer = kind in ("新城", "生态涵养区")
        use = g.weighted({name: shares[outer] for name, (*_, shares) in _LAND_USES.items()})
        plan, factor, takers, _ = _LAND_USES[use]
        area = g.between(0.4, 18 if use == "工业用地" else 9, 4)
        way = (
            "划拨" if factor == 0 else g.weighted({"挂牌出让": 75, "招标出让": 10, "协议出让": 15})
        )
        if takers == "school":
            local = [s for s in schools(g.world) if s["_place"].district == place.district]
            taker = g.pick(*(local or schools(g.world)))["学校名称"]
        elif takers == "bus":
            taker = SUBURBAN_BUS if outer else "北京公共交通控股（集团）有限公司"
        else:
            taker = (g.firms(1, industries=takers) or g.firms(1))[0].name
        price = area * _LAND_PRICE[kind] * factor  # 万元: hectares × 元 a square metre
        rows.append({
            "宗地编号": f"{place.district.division_code}-2025-{number:03d}",
            "项目名称": f"{place.district.name}{short(place.street.name)}"
                        f"{g.pick('', '北区', '南区', '西区')}{plan}项目",
            "土地位置": f"{place.district.name}{place.street.name}，"
                        f"{place.road}以{g.pick(*'东南西北')}",
            "土地面积": area, "土地用途": use, "供地方式": way, "受让单位": taker,
            "成交价格": yuan(price * g.rng.uniform(0.9, 1.3)),
            "签订日期": g.day(date(2025, 1, 10), date(2026, 3, 27)),
        })  # fmt: skip
    return rows


def law_firms(g: Gen) -> list[Row]:
    """律师事务所执业信息: most in the central districts; 个人所 named after their head."""
    weights = {d: w * (3 if g.world.profiles[d.name].kind in ("核心区", "城区") else 1)
               for d, w in g.world.population.items()}  # fmt: skip
    rows: list[Row] = []
    for _ in range(480):
        place = g.place(g.weighted(weights))
        form = g.weighted({"普通合伙": 70, "特殊的普通合伙": 8, "个人": 22})
        head = g.person()
        name = g.unique(lambda f, h: f"北京{h if f == '个人' else g.trade()}律师事务所", form, head)
        if name is None:
            continue
        rows.append({
            "统一社会信用代码": g.uscc("31", place.district), "律所名称": name,
            "组织形式": form, "负责人": head, "详细地址": place.address,
            "执业许可证号": f"31110000{g.rng.randrange(10**8, 10**9)}",
            "律师人数": g.rng.randint(1, 3) if form == "个人"
                        else max(3, round(math.exp(g.rng.gauss(2.6, 0.9)))),
        })  # fmt: skip
    return rows


def bank_branches(g: Gen) -> list[Row]:
    """银行网点信息: branches named after the road or street they are on."""
    banks = [w.name for w in words("银行")]
    rows: list[Row] = []
    for _ in range(1150):
        place = g.place()
        bank = g.pick(*banks)
        name = g.unique(
            lambda b, p: f"{b}北京{g.pick(p.road, short(p.street.name))}支行", bank, place
        )
        if name is not None:
            rows.append({
                "网点名称": name,
                "所属机构": bank if bank.startswith("北京") else f"{bank}北京分行",
                "营业时间": g.weighted({"周一至周五 09:00-17:00": 6, "周一至周日 09:00-17:00": 4}),
                "适老化服务": g.chance(0.85), "_place": place,
            })  # fmt: skip
    return rows


_SHOPS = {
    "蔬菜零售": ("蔬菜店", "菜站", "生鲜店"), "早餐": ("早餐店", "包子铺", "早点铺"),
    "便利店": ("便利店",), "家政服务": ("家政服务站",), "美容美发": ("理发店", "美发店"),
    "洗染": ("洗衣店",), "维修": ("便民维修点", "修鞋配钥匙店"), "末端配送": ("快递驿站",),
    "综合超市": ("超市",),
}  # fmt: skip


def shops(g: Gen) -> list[Row]:
    """便民商业网点信息: the community's shops, named after it."""
    rows: list[Row] = []
    for _ in range(2200):
        place = g.place()
        kind = g.weighted({k: 3 if k in ("蔬菜零售", "早餐", "便利店") else 1 for k in _SHOPS})
        name = g.unique(
            lambda p, k: f"{short(p.community.name)}{g.pick('', p.road)}{g.pick(*_SHOPS[k])}",
            place, kind,
        )  # fmt: skip
        if name is not None:
            rows.append({"网点名称": name, "业态类型": kind, "_place": place})
    return rows
