"""Catalogue search's two paths give the same answers: the one pass (few matches) and the
general path (sampled facets, index counts, the index's best matches first) — on both databases."""

from __future__ import annotations

from typing import Any

import pytest

from gongshu.bootstrap import Platform
from gongshu.catalog import search
from gongshu.catalog import service as catalog
from gongshu.kernel.clock import FixedClock
from gongshu.kernel.pagination import encode_cursor
from tests.factories import CHAOYANG, City, auth, entry_input, publish, token_for

# (overrides, published?) — transport entries unless a provider is given; drafts are hidden
# from other departments unless their district is the reader's.
ENTRIES: list[tuple[dict[str, Any], bool]] = [
    (dict(name="公交站点基础信息", summary="全市公交站点位置与线路信息"), True),
    (dict(name="公交线路运营信息", summary="公交线路、首末班时间", update_frequency="daily",
          open_type="conditional", open_conditions="实名注册用户申请"), True),
    (dict(name="地铁客流统计信息", summary="各地铁站进出站客流", format="api"), True),
    (dict(name="朝阳区公交专用道信息", summary="公交专用道位置与时段", district=CHAOYANG), True),
    (dict(name="朝阳区停车场泊位信息", summary="停车场泊位数与收费信息", district=CHAOYANG,
          format="api", update_frequency="realtime"), False),
    (dict(name="共享单车停放区域信息", summary="单车电子围栏", format="geo"), False),
    (dict(name="道路交通事故信息", summary="交通事故地点与类型", share_type="conditional",
          share_conditions="仅用于交通安全研判", open_type="none"), False),
    (dict(name="出租汽车运营信息", summary="出租汽车里程与营收信息", theme="05"), True),
    (dict(provider="health", name="医疗机构基本信息", summary="医院、社区卫生服务中心名录",
          keywords=["医院"], theme="05"), True),
    (dict(provider="health", name="医院公交接驳信息", summary="医院周边公交站点", theme="05"),
     False),
    (dict(provider="health", name="社区卫生服务中心信息", summary="社区卫生服务中心与公交线路",
          theme="05", district=CHAOYANG), False),
]  # fmt: skip


@pytest.fixture
def catalogue(platform: Platform, city: City, clock: FixedClock) -> list[str]:
    """Eleven entries of two departments, five of them drafts, a minute apart."""
    ids: list[str] = []
    for overrides, published in ENTRIES:
        keeper = city.health_officer if overrides.get("provider") == "health" else city.officer
        with platform.uow() as uow:
            entry = catalog.create_entry(uow, actor=keeper, data=entry_input(**overrides))
            uow.commit()
        ids.append(entry.id)
        if published:
            publish(platform, city, entry.id)
        clock.advance(minutes=1)
    return ids


def _walk(platform: Platform, actor: object, **kwargs: Any) -> list[tuple[Any, ...]]:
    """Every page of a search, two hits at a time: what a reader sees of each page."""
    pages: list[tuple[Any, ...]] = []
    cursor = None
    with platform.uow() as uow:
        while True:
            result = search.search_entries(uow, actor=actor, cursor=cursor, limit=2, **kwargs)  # type: ignore[arg-type]
            hits = [(h.entry.name, h.rank, str(h.name_html), h.provider_name) for h in result.hits]
            pages.append((hits, result.total, result.facets, result.facets_exact))
            cursor = result.next_cursor
            if cursor is None or len(pages) > 20:
                return pages


SEARCHES: list[dict[str, Any]] = [
    {"q": q, "sort": sort, "facets": facets, **extra}
    for q in ("信息", "公交", "卫生 服务")
    for sort in ("relevance", "modified", "name")
    for facets, extra in (
        (True, {}),
        (False, {}),
        (True, {"filters": search.SearchFilters.of(open_type=["unconditional", "none"])}),
    )
]


@pytest.mark.parametrize("persona", ["health_officer", "officer", "district", "admin", "public"])
def test_one_pass_and_general_path_give_the_same_pages_totals_and_facets(
    platform: Platform,
    city: City,
    catalogue: list[str],
    monkeypatch: pytest.MonkeyPatch,
    persona: str,
) -> None:
    """``public``: the open data portal's search, open entries only."""
    actor = None if persona == "public" else getattr(city, persona)
    mode = {"public": True} if persona == "public" else {}

    def walks() -> list[list[tuple[Any, ...]]]:
        return [_walk(platform, actor, **kwargs, **mode) for kwargs in SEARCHES]

    one_pass = walks()
    monkeypatch.setattr(search, "ONE_PASS_MAX", 0)
    general = walks()
    monkeypatch.setattr(search, "JOIN_COUNT_MAX", 0)  # totals: the index less hidden drafts
    by_index = walks()
    for kwargs, a, b, c in zip(SEARCHES, one_pass, general, by_index, strict=True):
        assert a == b == c, kwargs
    # The walks are not trivially equal: readers see different drafts, pages hold hits.
    everything = one_pass[0][0]  # 信息 is in every name; the first page says how many
    visible = {"health_officer": 8, "officer": 9, "district": 8, "admin": 11, "public": 6}[persona]
    assert everything[1] == visible == sum(n for _value, n in everything[2]["status"])
    assert all(walk[0][0] for walk in one_pass)


def test_a_query_past_the_one_pass_size_samples_facets_and_says_so(
    platform: Platform, city: City, catalogue: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "ONE_PASS_MAX", 3)
    monkeypatch.setattr(search, "FACET_SAMPLE", 4)
    with platform.uow() as uow:
        result = search.search_entries(uow, actor=city.health_officer, q="信息")
    assert result.total == 8 and not result.facets_exact
    assert 6 <= sum(n for _value, n in result.facets["theme"]) <= 8  # 4 sampled, scaled


def test_a_query_that_matches_nothing_lists_every_facet_empty(
    platform: Platform, city: City, catalogue: list[str]
) -> None:
    with platform.uow() as uow:
        result = search.search_entries(uow, actor=city.officer, q="卫星遥感")
        bare = search.search_entries(uow, actor=city.officer, q="卫星遥感", facets=False)
    assert (result.hits, result.total, result.next_cursor) == ([], 0, None)
    assert result.facets == {name: [] for name in search.FACETS} and result.facets_exact
    assert bare.facets == {}


def test_hits_carry_their_providers_name_in_process_and_over_http(
    platform: Platform, city: City, catalogue: list[str], client: Any
) -> None:
    with platform.uow() as uow:
        result = search.search_entries(uow, actor=city.admin, q="医院", sort="name")
        assert [(h.entry.name, h.provider_name) for h in result.hits] == [
            ("医疗机构基本信息", "市卫生健康委"),
            ("医院公交接驳信息", "市卫生健康委"),
        ]
    headers = auth(token_for(platform, "officer", ["read"]))
    body = client.get("/api/v1/catalog/entries", params={"q": "地铁"}, headers=headers).json()
    assert [(d["name"], d["provider_name"]) for d in body["data"]] == [
        ("地铁客流统计信息", "市交通委")
    ]


def test_a_cursor_before_the_first_row_reads_the_first_page(
    platform: Platform, city: City, catalogue: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for one_pass in (1000, 0):
        monkeypatch.setattr(search, "ONE_PASS_MAX", one_pass)
        first = _walk(platform, city.admin, q="信息")[0]
        with platform.uow() as uow:
            result = search.search_entries(
                uow, actor=city.admin, q="信息", cursor=encode_cursor([-5]), limit=2
            )
            assert [h.entry.name for h in result.hits] == [name for name, *_ in first[0]]
