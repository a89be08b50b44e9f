"""Catalogue search: Chinese terms, fallbacks, facets, visibility, paging — on both databases."""

from __future__ import annotations

import pytest

from gongshu.bootstrap import Platform
from gongshu.catalog import search
from gongshu.catalog import service as catalog
from gongshu.kernel.errors import InvalidInput
from tests.factories import City, entry_input, publish

ENTRIES = [
    dict(name="公交站点基础信息", summary="全市公交站点位置与线路", keywords=["公交", "出行"]),
    dict(name="地铁客流统计数据", summary="各地铁站进出站客流小时统计", keywords=["地铁", "客流"],
         update_frequency="daily"),
    dict(name="共享单车停放区域", summary="共享单车电子围栏与停放秩序", keywords=["单车"],
         format="geo", open_type="conditional", open_conditions="实名注册用户申请"),
    dict(name="道路交通事故信息", summary="交通事故发生地点、类型与处理结果", keywords=["事故"],
         share_type="conditional", share_conditions="仅用于交通安全研判", open_type="none",
         impact={"public_interest": "serious"}),
    dict(name="停车场泊位信息", summary="公共停车场位置、泊位数与收费标准", keywords=["停车"],
         update_frequency="realtime", format="api"),
]  # fmt: skip


@pytest.fixture
def catalogue(platform: Platform, city: City) -> dict[str, str]:
    """Five transport entries, four published; the last stays a draft."""
    ids: dict[str, str] = {}
    for number, overrides in enumerate(ENTRIES):
        with platform.uow() as uow:
            entry = catalog.create_entry(uow, actor=city.officer, data=entry_input(**overrides))
            ids[entry.name] = entry.id
        if number < 4:
            publish(platform, city, entry.id)
    with platform.uow() as uow:  # another department's entry
        entry = catalog.create_entry(
            uow,
            actor=city.health_officer,
            data=entry_input(
                provider="health", name="医疗机构基本信息", summary="医院、社区卫生服务中心名录",
                keywords=["医院"], theme="05",
            ),
        )  # fmt: skip
        ids[entry.name] = entry.id
    publish(platform, city, entry.id)
    return ids


def _names(platform: Platform, actor: object, q: str | None, **kwargs: object) -> list[str]:
    with platform.uow() as uow:
        result = search.search_entries(uow, actor=actor, q=q, **kwargs)  # type: ignore[arg-type]
        return [hit.entry.name for hit in result.hits]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("公交站点", {"公交站点基础信息"}),
        ("公交", {"公交站点基础信息"}),
        ("客流", {"地铁客流统计数据"}),
        ("客", {"地铁客流统计数据"}),  # one character: unigram fallback
        ("交通事故", {"道路交通事故信息"}),
        ("交通事故处理", {"道路交通事故信息"}),
        ("共享單車", {"共享单车停放区域"}),  # Traditional input
        ("医院 名录", {"医疗机构基本信息"}),
        ("市交通委", {"公交站点基础信息", "地铁客流统计数据", "共享单车停放区域",
                      "道路交通事故信息"}),
        ("卫星遥感", set()),
    ],
)  # fmt: skip
def test_chinese_queries_find_the_right_entries(
    platform: Platform, city: City, catalogue: dict[str, str], q: str, expected: set[str]
) -> None:
    assert set(_names(platform, city.health_officer, q)) == expected


def test_results_are_highlighted_and_ranked_by_name_first(
    platform: Platform, city: City, catalogue: dict[str, str]
) -> None:
    with platform.uow() as uow:
        result = search.search_entries(uow, actor=city.admin, q="停车")
        assert [h.entry.name for h in result.hits] == ["停车场泊位信息"]
        assert "<mark>停车</mark>" in str(result.hits[0].name_html)
        result = search.search_entries(uow, actor=city.admin, q="公交")
        assert result.hits[0].entry.name == "公交站点基础信息"


def test_drafts_are_found_only_by_their_keepers(
    platform: Platform, city: City, catalogue: dict[str, str]
) -> None:
    assert _names(platform, city.health_officer, "停车") == []
    assert _names(platform, city.officer, "停车") == ["停车场泊位信息"]
    assert _names(platform, city.admin, "停车") == ["停车场泊位信息"]


def test_facets_count_and_filter(platform: Platform, city: City, catalogue: dict[str, str]) -> None:
    with platform.uow() as uow:
        result = search.search_entries(uow, actor=city.health_officer)
        assert result.total == 5
        assert dict(result.facets["theme"]) == {"04": 4, "05": 1}
        assert dict(result.facets["open_type"]) == {"unconditional": 3, "conditional": 1,
                                                    "none": 1}  # fmt: skip
        filters = search.SearchFilters.of(theme=["04"], open_type=["unconditional", "conditional"])
        result = search.search_entries(uow, actor=city.health_officer, filters=filters)
        assert {h.entry.name for h in result.hits} == {"公交站点基础信息", "地铁客流统计数据",
                                                       "共享单车停放区域"}  # fmt: skip
        assert dict(result.facets["theme"]) == {"04": 3}
        with pytest.raises(InvalidInput, match="colour"):
            search.SearchFilters.of(colour=["red"])


def test_cursor_paging_walks_every_hit_once(
    platform: Platform, city: City, catalogue: dict[str, str]
) -> None:
    seen: list[str] = []
    cursor = None
    with platform.uow() as uow:
        while True:
            result = search.search_entries(
                uow, actor=city.admin, sort="modified", cursor=cursor, limit=2
            )
            seen.extend(h.entry.id for h in result.hits)
            cursor = result.next_cursor
            if cursor is None:
                break
    assert sorted(seen) == sorted(catalogue.values())


@pytest.mark.parametrize("q", ["！！？？。。", "   ", "公" * 10_240])
def test_bad_queries_are_refused_with_a_located_error(
    platform: Platform, city: City, q: str
) -> None:
    with platform.uow() as uow, pytest.raises(InvalidInput) as info:
        search.search_entries(uow, actor=city.admin, q=q)
    assert info.value.details[0]["path"] == "q"


def test_reindex_rebuilds_the_same_index(
    platform: Platform, city: City, catalogue: dict[str, str]
) -> None:
    before = _names(platform, city.admin, "交通", sort="name")
    with platform.uow() as uow:
        assert search.reindex_all(uow) == 6
        uow.commit()
    assert _names(platform, city.admin, "交通", sort="name") == before


def test_facets_past_the_sample_size_are_scaled_and_marked_approximate(
    platform: Platform, city: City, catalogue: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "FACET_SAMPLE", 2)
    with platform.uow() as uow:
        result = search.search_entries(uow, actor=city.health_officer)
    assert result.total == 5 and not result.facets_exact
    assert 4 <= sum(n for _value, n in result.facets["theme"]) <= 6  # 2 sampled, scaled ×2.5


@pytest.mark.parametrize("actor_name", ["health_officer", "officer", "admin"])
def test_ranking_from_the_index_gives_the_same_pages_as_ranking_every_match(
    platform: Platform,
    city: City,
    catalogue: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    actor_name: str,
) -> None:
    """Past the one-pass size the page is taken from the index's best few matches and falls
    back to ranking every match when too few of them are visible; totals count the index less
    the hidden drafts. The reference pages come from the one pass, which ranks every match."""
    actor = getattr(city, actor_name)

    def walk(**kwargs: object) -> tuple[list[str], list[int]]:
        names: list[str] = []
        totals: list[int] = []
        cursor = None
        with platform.uow() as uow:
            while True:
                result = search.search_entries(
                    uow, actor=actor, q="市", cursor=cursor, limit=1, **kwargs
                )  # type: ignore[arg-type]
                names += [hit.entry.name for hit in result.hits]
                totals.append(result.total)
                cursor = result.next_cursor
                if cursor is None:
                    return names, totals

    monkeypatch.setattr(search, "TOP_PREFETCH", 10_000)
    everything = walk(facets=False)
    filtered = walk(filters=search.SearchFilters.of(open_type=["unconditional"]))
    monkeypatch.setattr(search, "ONE_PASS_MAX", 0)  # the path for queries with many matches
    monkeypatch.setattr(search, "TOP_PREFETCH", 1)
    monkeypatch.setattr(search, "PREFETCH_FACTOR", 1)
    ranked = search._ranked
    calls: list[int] = []

    def spy(*args: object, **kwargs: object) -> list[object]:
        calls.append(1)
        return ranked(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(search, "_ranked", spy)
    assert walk(facets=False) == everything
    assert walk(filters=search.SearchFilters.of(open_type=["unconditional"])) == filtered
    assert len(calls) > len(everything[0]) + len(filtered[0])  # some pages fell back
    assert len(everything[0]) == everything[1][0] == (6 if actor_name != "health_officer" else 5)
