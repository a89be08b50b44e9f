"""Tests for catalogue text analysis: one matching set on SQLite FTS5 and on PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from gongshu.catalog.textsearch import (
    MAX_QUERY_CHARS,
    Analyzer,
    Query,
    highlight,
    normalise,
    to_fts5,
    to_tsquery,
    to_tsvector_literal,
)
from gongshu.kernel.errors import InvalidInput
from tests.conftest import PG_ENV, require_or_skip

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEPARTMENTS = ["拱墅区数据资源管理局", "数据局", "拱墅区湖墅街道社区卫生服务中心"]

# Catalogue entries of a city (name, summary), some typed in Traditional or full-width forms.
DOCUMENTS: list[tuple[str, str]] = [
    ("公交站点基础信息", "全市公交站点的名称、位置、途经线路和站点类型，按月更新。"),
    ("公交线路实时到站数据", "公交车辆GPS实时位置与到站预测，通过API接口提供，每30秒刷新。"),
    ("地铁站点客流统计", "地铁各站点进出站客流量，按小时统计，数据来源于地铁集团。"),
    ("公共自行车租赁点", "公共自行车租赁点位置、桩位数量及可借车辆数。"),
    ("共享单车停放区域", "共享单车（互联网租赁自行车）规范停放区域及电子围栏。"),
    ("新能源汽车充电桩分布", "全区充电桩、充电站的位置、功率、运营单位和收费标准。"),
    ("公共停车场泊位信息", "公共停车场及路内停车泊位的数量、收费标准和实时空余泊位。"),
    ("交通運輸行政許可信息", "道路運輸經營許可證核發、變更和註銷信息，由市交通運輸局提供。"),
    ("道路交通事故统计", "交通事故发生时间、路段、类型和伤亡人数的统计数据（脱敏）。"),
    ("机动车驾驶证信息核验", "驾驶证状态、准驾车型和有效期核验接口，仅限共享。"),
    ("企业营业执照信息", "营业执照信息，含统一社会信用代码、名称、法定代表人和经营范围。"),
    ("个体工商户登记信息", "个体工商户的注册登记、变更和注销信息。"),
    ("食品经营许可证信息", "食品经营许可证的发证日期、有效期和经营项目。"),
    ("企业经营异常名录", "列入和移出经营异常名录的企业及原因。"),
    ("行政处罚信息公示", "市场监督管理局作出的行政处罚决定书摘要。"),
    ("公共信用信息", "企业和个人的公共信用信息，含守信激励和失信惩戒记录。"),
    ("社保缴费记录", "职工基本养老保险、医疗保险、失业保险的社保缴费明细。"),
    ("参保人员基本信息", "城乡居民养老保险参保登记信息，由人力社保局维护。"),
    ("医保定点医疗机构名录", "医保定点医疗机构和定点零售药店的名称、地址和等级。"),
    ("异地就医备案信息", "参保人员异地就医备案登记及结算信息。"),
    ("医疗机构执业许可信息", "医院、卫生院、社区卫生服务中心的执业许可证信息。"),
    ("预防接种门诊信息", "疫苗接种门诊的地址、开放时间和可预约疫苗种类。"),
    ("中小学学籍信息", "义务教育阶段学生学籍信息，用于入学和转学办理。"),
    ("幼儿园名录", "全区幼儿园名称、办学性质、地址和招生范围。"),
    ("学区划分信息", "2024年义务教育学区（施教区）划分。"),
    ("户籍人口统计", "按街道统计的户籍人口、常住人口和流动人口。"),
    ("居住证办理信息", "居住证申领、签注和办理网点信息。"),
    ("婚姻登记信息核验", "结婚登记和离婚登记状态核验，仅限政府部门共享使用。"),
    ("最低生活保障对象名单", "低保、特困人员和临时救助对象的公示信息（已脱敏）。"),
    ("养老机构名录", "养老机构、居家养老服务中心及老年食堂的名称、床位数和地址。"),
    ("社区网格划分", "社区网格边界、网格员姓名及联系方式，用于基层治理。"),
    ("12345市民服务热线工单", "12345热线受理的市民诉求工单、办理部门和办结时间。"),
    ("城市管理案件", "数字城管系统上报的占道经营、违章建筑等案件。"),
    ("不动产登记信息", "不动产权证书、抵押登记和查封登记信息，由不动产登记中心提供。"),
    ("商品房预售许可", "商品房预售许可证编号、项目名称和可售套数。"),
    ("老旧小区改造项目", "老旧小区改造项目清单、加装电梯和进度。"),
    ("建设工程施工许可", "建设工程施工许可证信息，含建设单位和施工单位。"),
    ("空气质量实时监测", "各监测站点PM2.5、PM10、臭氧和空气质量指数（AQI）的小时数据。"),
    ("空氣質量日報", "全市環境空氣質量日報，每日發佈。"),
    ("地表水水质监测", "地表水断面水质类别和主要污染指标。"),
    ("重点排污单位名录", "重点排污单位名称、排污许可证编号和主要污染物。"),
    ("垃圾分类收运点位", "生活垃圾分类投放点、厨余垃圾和可回收物收运点位。"),
    ("公共厕所分布", "公共厕所位置、开放时间和无障碍设施。"),
    ("气象预警信息", "台风、暴雨预警等气象预警信号的发布与解除。"),
    ("应急避难场所", "应急避难场所的位置、面积和可容纳人数。"),
    ("消防设施分布", "消火栓、微型消防站等消防设施的位置。"),
    ("旅游景区客流", "A级旅游景区实时游客流量和最大承载量。"),
    ("文物保护单位名录", "各级文物保护单位的名称、年代和保护范围。"),
    ("ＡＰＩ服务目录", "拱墅区数据资源管理局对外提供的ＡＰＩ接口清单，支持JSON和CSV。"),
    ("政府采购公告", "政府采购项目的招标公告、中标结果和合同信息。"),
    ("企业纳税信用等级", "纳税信用A级、B级企业名单，由税务局按年发布。"),
    ("GB/T 2260行政区划代码", "县级以上行政区划代码，依据GB/T 2260标准。"),
]

QUERIES = [
    "公交",
    "站",
    "公交站点",
    "交站",
    "交通運輸",
    "營業執照",
    "统一社会信用代码",
    "ＡＰＩ",
    "api 接口",
    "PM2.5",
    "pm2.5 监测",
    "12345热线",
    "１２３４５",
    "空气质量",
    "空氣質量 監測",
    "不动产登记",
    "社保缴费",
    "医保定点",
    "学籍",
    "户籍人口",
    "网格",
    "垃圾分类",
    "充电桩",
    "共享单车",
    "拱墅区数据资源管理局",
    "数据局",
    "2024年",
    "实时",
    "地铁 客流",
    "食品 许可",
    "许可证",
    "医院",
    "驾驶证",
    "企业信用",
    "停车",
    "养老",
    "csv",
    "GB/T 2260",
    "的信息",
    "climate",
    "地铁站点客流",
    "消防设施",
    "水质",
    "台风预警",
    "社区卫生服务中心",
    "A级",
]


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    """One analyzer for the module, knowing the city's department names."""
    return Analyzer(extra_words=DEPARTMENTS)


@pytest.fixture(scope="module")
def indexed(analyzer: Analyzer) -> list[tuple[list[str], list[str]]]:
    """Name and summary terms of every sample document."""
    return [(analyzer.index_terms(name), analyzer.index_terms(body)) for name, body in DOCUMENTS]


@pytest.fixture(scope="module")
def fts5(indexed: list[tuple[list[str], list[str]]]) -> Iterator[Callable[[Query], set[int]]]:
    """Search the sample documents in an in-memory SQLite FTS5 table."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE docs USING fts5(name, body)")
    db.executemany(
        "INSERT INTO docs (rowid, name, body) VALUES (?, ?, ?)",
        [(i, " ".join(name), " ".join(body)) for i, (name, body) in enumerate(indexed)],
    )

    def search(query: Query) -> set[int]:
        rows = db.execute("SELECT rowid FROM docs WHERE docs MATCH ?", (to_fts5(query),))
        return {row[0] for row in rows}

    yield search
    db.close()


@pytest.fixture(scope="module")
def pg() -> Iterator[sa.Connection]:
    """A PostgreSQL connection whose transaction is rolled back at the end."""
    url = os.environ.get(PG_ENV) or PG_DEFAULT
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        conn = engine.connect()
    except sa.exc.OperationalError as exc:
        engine.dispose()
        require_or_skip(f"PostgreSQL tests: cannot reach {url}: {exc.orig}")
    transaction = conn.begin()
    yield conn
    transaction.rollback()
    conn.close()
    engine.dispose()


@pytest.fixture(scope="module")
def pg_search(
    pg: sa.Connection, indexed: list[tuple[list[str], list[str]]]
) -> Callable[[Query], set[int]]:
    """Search the sample documents as ``tsvector`` rows in PostgreSQL."""
    pg.execute(sa.text("CREATE TEMP TABLE docs (id int PRIMARY KEY, document tsvector)"))
    pg.execute(
        sa.text(
            "INSERT INTO docs VALUES (:id, setweight(CAST(:name AS tsvector), 'A')"
            " || setweight(CAST(:body AS tsvector), 'B'))"
        ),
        [
            {"id": i, "name": to_tsvector_literal(name), "body": to_tsvector_literal(body)}
            for i, (name, body) in enumerate(indexed)
        ],
    )

    def search(query: Query) -> set[int]:
        stmt = sa.text("SELECT id FROM docs WHERE document @@ CAST(:q AS tsquery)")
        return set(pg.execute(stmt, {"q": to_tsquery(query)}).scalars())

    return search


def expected(query: Query, indexed: list[tuple[list[str], list[str]]]) -> set[int]:
    """The documents the query's groups select, evaluated in Python."""
    found = set()
    for i, (name, body) in enumerate(indexed):
        terms = set(name) | set(body)
        if all(any(all(t in terms for t in alt) for alt in group) for group in query.groups):
            found.add(i)
    return found


def names(found: set[int]) -> set[str]:
    return {DOCUMENTS[i][0] for i in found}


# --- normalising -------------------------------------------------------------------------


def test_normalise_folds_width_case_traditional_and_spaces() -> None:
    assert normalise("ＡＰＩ　接口") == "api 接口"
    assert normalise("１２３４５热线") == "12345热线"
    assert normalise("交通運輸局發佈") == "交通运输局发布"
    assert normalise("  Café\t\n  PM2.5 ") == "cafe pm2.5"


def test_normalise_keeps_one_character_per_traditional_character() -> None:
    paragraph = "乾隆年間，臺灣的頭髮與後來的麼、於是一目瞭然"
    assert len(normalise(paragraph)) == len(paragraph)
    # the same character folds the same way alone and inside a phrase
    assert normalise("乾隆")[0] == normalise("乾")


def test_normalise_is_idempotent() -> None:
    sample = "".join(chr(c) for c in range(0x20, 0x30000, 7) if not 0xD800 <= c < 0xE000)
    once = normalise(sample)
    assert normalise(once) == once


# --- loading -----------------------------------------------------------------------------


def test_import_and_construction_do_no_work() -> None:
    code = (
        "import sys\n"
        "from gongshu.catalog.textsearch import Analyzer\n"
        "Analyzer(['数据局'])\n"
        "assert 'jieba' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True)


def test_first_use_loads_once_quietly_from_many_threads(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = Analyzer(extra_words=["湖墅南路社区"])
    loads: list[object] = []
    load = fresh._load
    monkeypatch.setattr(fresh, "_load", lambda: loads.append(load()) or loads[-1])
    start = threading.Barrier(4)
    results: list[list[str]] = []

    def index() -> None:
        start.wait()
        results.append(fresh.index_terms("湖墅南路社区公交站点"))

    threads = [threading.Thread(target=index) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1
    assert len(results) == 4
    assert all(r == results[0] for r in results)
    assert "湖墅南路社区" in results[0]
    out, err = capfd.readouterr()
    assert out == err == ""


# --- segmenting and indexing -------------------------------------------------------------


def test_city_dictionary_and_department_names_stay_whole(analyzer: Analyzer) -> None:
    terms = analyzer.index_terms("拱墅区数据资源管理局归集的统一社会信用代码和营业执照")
    assert {"拱墅区数据资源管理局", "统一社会信用代码", "营业执照"} <= set(terms)
    query = analyzer.parse_query("拱墅区数据资源管理局 统一社会信用代码")
    assert [group[0] for group in query.groups] == [
        ("拱墅区数据资源管理局",),
        ("统一社会信用代码",),
    ]


def test_words_added_later_are_segmented_whole(analyzer: Analyzer) -> None:
    before = analyzer.parse_query("米市巷街道办事处")
    analyzer.add_words(["米市巷街道办事处"])
    after = analyzer.parse_query("米市巷街道办事处")
    assert after.groups[0][0] == ("米市巷街道办事处",)
    assert before != after


def test_index_terms_hold_unigrams_bigrams_and_latin_words(analyzer: Analyzer) -> None:
    terms = set(analyzer.index_terms("公交站点的PM2.5数据，ＡＰＩ访问"))
    assert {"公", "站", "公交", "交站", "站点", "公交站点", "pm2", "5", "api"} <= terms
    assert "的" not in terms  # a stopword
    assert not any(c in t for t in terms for c in " ，.、")


def test_every_term_survives_the_fts5_tokenizer(analyzer: Analyzer) -> None:
    sample = "".join(chr(c) for c in range(0x20, 0x30000, 5) if not 0xD800 <= c < 0xE000)
    terms = analyzer.index_terms(sample + " " + DOCUMENTS[1][1])
    for tokenize in ["unicode61", "unicode61 remove_diacritics 0", "unicode61 remove_diacritics 2"]:
        db = sqlite3.connect(":memory:")
        db.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize = '{tokenize}')")
        db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'row')")
        db.execute("INSERT INTO t (x) VALUES (?)", (" ".join(terms),))
        assert {row[0] for row in db.execute("SELECT term FROM v")} == set(terms), tokenize
        db.close()


# --- parsing queries ---------------------------------------------------------------------


def test_short_cjk_tokens_need_their_ngram_and_long_words_fall_back_to_bigrams(
    analyzer: Analyzer,
) -> None:
    assert analyzer.parse_query("站").groups == ((("站",),),)
    assert analyzer.parse_query("公交").groups == ((("公交",),),)
    assert analyzer.parse_query("公交站点").groups == ((("公交站点",), ("公交", "站点")),)
    assert analyzer.parse_query("拱墅区数据资源管理局").groups == (
        (("拱墅区数据资源管理局",), ("拱墅", "墅区", "数据", "资源", "管理", "理局")),
    )


def test_traditional_full_width_and_mixed_queries(analyzer: Analyzer) -> None:
    assert analyzer.parse_query("交通運輸").terms == analyzer.parse_query("交通运输").terms
    assert analyzer.parse_query("ＡＰＩ").groups == ((("api",),),)
    assert analyzer.parse_query("１２３４５热线").terms == ("12345", "热线")
    assert analyzer.parse_query("PM2.5").terms == ("pm2", "5")
    assert analyzer.parse_query("PM2.5").text == "pm2.5"


@pytest.mark.parametrize(
    "q", ["", "   ", "！？。，、", "...---///", "的", "the of", "a" * 10_240], ids=repr
)
def test_unsearchable_queries_are_rejected_on_q(analyzer: Analyzer, q: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        analyzer.parse_query(q)
    assert [d["path"] for d in caught.value.details] == ["q"]
    if len(q) > MAX_QUERY_CHARS:
        assert "10240" in caught.value.message
        assert str(MAX_QUERY_CHARS) in caught.value.message


def test_stopwords_are_not_required(analyzer: Analyzer) -> None:
    assert analyzer.parse_query("公交的数据").terms == ("公交", "数据")


def test_fast_after_warm_up(analyzer: Analyzer) -> None:
    text = "".join(f"{name}：{body}" for name, body in DOCUMENTS)[:300]
    assert len(text) == 300
    analyzer.index_terms(text)

    def best(work: Callable[[], object], runs: int = 50) -> float:
        # this thread's CPU time, so other processes on a busy machine do not count
        timings = []
        for _ in range(5):
            start = time.thread_time()
            for _ in range(runs):
                work()
            timings.append((time.thread_time() - start) / runs)
        return min(timings)

    assert best(lambda: analyzer.index_terms(text)) < 0.001
    assert best(lambda: analyzer.parse_query("交通運輸局 公交站点实时数据 PM2.5")) < 0.001


# --- engines -----------------------------------------------------------------------------


def test_fts5_and_postgresql_return_the_same_documents(
    analyzer: Analyzer,
    indexed: list[tuple[list[str], list[str]]],
    fts5: Callable[[Query], set[int]],
    pg_search: Callable[[Query], set[int]],
) -> None:
    assert len(DOCUMENTS) >= 50
    assert len(QUERIES) >= 30
    unmatched = set()
    for q in QUERIES:
        query = analyzer.parse_query(q)
        want = expected(query, indexed)
        assert fts5(query) == want, q
        assert pg_search(query) == want, q
        if not want:
            unmatched.add(q)
    assert unmatched == {"climate", "数据局"}  # a short name is not an alias of the full one


@pytest.mark.parametrize(
    ("q", "wanted", "unwanted"),
    [
        ("公交", {"公交站点基础信息", "公交线路实时到站数据"}, {"地铁站点客流统计"}),
        ("站", {"公交站点基础信息", "地铁站点客流统计", "空气质量实时监测"}, set()),
        ("交通運輸", {"交通運輸行政許可信息"}, set()),
        ("空气质量", {"空气质量实时监测", "空氣質量日報"}, set()),
        ("ＡＰＩ", {"公交线路实时到站数据", "ＡＰＩ服务目录"}, set()),
        ("PM2.5", {"空气质量实时监测"}, set()),
        ("12345热线", {"12345市民服务热线工单"}, set()),
        ("拱墅区数据资源管理局", {"ＡＰＩ服务目录"}, set()),
        ("企业信用", {"公共信用信息", "企业纳税信用等级"}, set()),
        ("公交站点", {"公交站点基础信息"}, {"地铁站点客流统计"}),
        ("climate", set(), set(names(set(range(len(DOCUMENTS)))))),
    ],
)
def test_queries_find_what_a_user_expects(
    analyzer: Analyzer,
    fts5: Callable[[Query], set[int]],
    q: str,
    wanted: set[str],
    unwanted: set[str],
) -> None:
    found = names(fts5(analyzer.parse_query(q)))
    assert wanted <= found
    assert not unwanted & found


def test_tsvector_and_tsquery_literals_quote_awkward_terms(pg: sa.Connection) -> None:
    awkward = ["it's", "a\\b", "x y", "&|!", ":*", "'"]
    vector = to_tsvector_literal(awkward)
    for term in awkward:
        query = Query(text=term, groups=(((term,),),))
        stmt = sa.text("SELECT CAST(:v AS tsvector) @@ CAST(:q AS tsquery)")
        assert pg.execute(stmt, {"v": vector, "q": to_tsquery(query)}).scalar() is True, term
    assert pg.execute(sa.text("SELECT length(CAST(:v AS tsvector))"), {"v": vector}).scalar() == 6


def test_fts5_expression_nests_alternatives(analyzer: Analyzer) -> None:
    query = analyzer.parse_query("公交站点 实时")
    assert to_fts5(query) == '("公交站点" OR ("公交" AND "站点")) AND "实时"'
    assert to_tsquery(query) == "('公交站点' | ('公交' & '站点')) & '实时'"


# --- highlighting ------------------------------------------------------------------------


def test_highlight_escapes_text_and_marks_terms(analyzer: Analyzer) -> None:
    query = analyzer.parse_query("alert 交通运输")
    html = highlight("<script>alert(1)</script>由市交通運輸局提供", query)
    assert str(html) == (
        "&lt;script&gt;<mark>alert</mark>(1)&lt;/script&gt;由市<mark>交通運輸</mark>局提供"
    )


def test_highlight_marks_full_width_and_whole_latin_words_only(analyzer: Analyzer) -> None:
    html = highlight("ＡＰＩ接口 rapid api", analyzer.parse_query("api"))
    assert str(html) == "<mark>ＡＰＩ</mark>接口 rapid <mark>api</mark>"


def test_highlight_merges_overlapping_terms(analyzer: Analyzer) -> None:
    html = highlight("全市公交站点分布", analyzer.parse_query("公交站点 站点分布"))
    assert str(html) == "全市<mark>公交站点分布</mark>"


def test_highlight_snippet_windows_the_first_match(analyzer: Analyzer) -> None:
    text = "本数据集" + "包括各类信息" * 10 + "公交站点" + "以及其他说明" * 10
    html = str(highlight(text, analyzer.parse_query("公交站点"), max_chars=20))
    assert html.startswith("…") and html.endswith("…")
    assert "<mark>公交站点</mark>" in html
    assert len(html.replace("<mark>", "").replace("</mark>", "")) == 22
    head = str(highlight(text, analyzer.parse_query("气象"), max_chars=20))
    assert head == text[:20] + "…"
    assert str(highlight("短文本", analyzer.parse_query("公交"), max_chars=20)) == "短文本"
