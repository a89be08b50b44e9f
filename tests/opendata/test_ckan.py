"""The CKAN-compatible Action API, driven by the real ``ckanapi`` client over real HTTP.

A small open-data world: two transport datasets (one with data), a conditionally open health
register with data, nine road-works notices — and five entries that must never appear
anywhere: a 不予开放 one, a draft, a deprecated one, and two published entries whose working
copies changed their open type (narrowed, and widened but not yet republished). Each of the
hidden ones mentions 公交, so a search that failed to exclude them would find them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ckanapi
import httpx
import pytest

from gongshu.bootstrap import Platform
from gongshu.catalog import search
from gongshu.catalog import service as catalog
from gongshu.datastore import service as datastore
from gongshu.identity.authz import Actor
from tests.factories import HEALTH, TRANSPORT, City, entry_input, publish
from tests.live import serving

BUS_FIELDS = [
    {"name": "站点编号", "type": "string"},
    {"name": "站点名称", "type": "string"},
    {"name": "经度", "type": "decimal"},
    {"name": "纬度", "type": "decimal"},
]
HOSPITAL_FIELDS = [
    {"name": "机构名称", "type": "string"},
    {"name": "机构等级", "type": "string"},
]
SECRET_WORD = "司机体检"  # a keyword only the 不予开放 entry has


@dataclass
class World:
    """Entry ids by role, and the address of a live server."""

    bus: str
    metro: str
    hospitals: str
    roads: list[str]
    hidden: dict[str, str]  # why hidden → entry id
    url: str

    @property
    def open_ids(self) -> set[str]:
        """Every entry the public may see."""
        return {self.bus, self.metro, self.hospitals, *self.roads}

    def client(self, **kwargs: Any) -> ckanapi.RemoteCKAN:
        """A ckanapi client of the live server."""
        return ckanapi.RemoteCKAN(self.url, **kwargs)


def _create(platform: Platform, actor: Actor, **data: Any) -> str:
    with platform.uow() as uow:
        entry = catalog.create_entry(uow, actor=actor, data=entry_input(**data))
        uow.commit()
        return entry.id


def _published(platform: Platform, city: City, actor: Actor, **data: Any) -> str:
    entry_id = _create(platform, actor, **data)
    publish(platform, city, entry_id)
    # Each publication a minute later, so "most recently modified" is a strict order.
    platform.clock.advance(minutes=1)  # type: ignore[attr-defined]
    return entry_id


def _ingest(platform: Platform, actor: Actor, entry_id: str, path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    datastore.ingest_file(
        platform.datastore, actor=actor, entry_id=entry_id, path=path, filename=path.name
    )


def _revise(platform: Platform, actor: Actor, entry_id: str, **data: Any) -> None:
    with platform.uow() as uow:
        catalog.update_entry(uow, actor=actor, entry_id=entry_id, data=entry_input(**data))


def build_world(platform: Platform, city: City, tmp_path: Path) -> tuple[World, list[str]]:
    """The entries of the module docstring; returns the world (without a URL) and the
    ids of hidden entries that the catalogue's own search finds for 公交."""
    officer, health = city.officer, city.health_officer
    bus = _published(platform, city, officer, name="公交站点基础信息", fields=BUS_FIELDS)
    stops = ["站点编号,站点名称,经度,纬度", "S001,朝阳门,116.43,39.92", "S002,东四,116.42,39.93"]
    _ingest(platform, officer, bus, tmp_path / "bus.csv", stops)
    metro = _published(
        platform, city, officer, name="地铁线网客流统计", summary="各地铁线路的日客流量",
        keywords=["地铁", "客流", "出行"], fields=[{"name": "线路", "type": "string"}],
    )  # fmt: skip
    hospitals = _published(
        platform, city, health, name="医疗机构名录", summary="全市医疗机构的名称与等级",
        keywords=["医院", "医疗"], provider=HEALTH, theme="05", fields=HOSPITAL_FIELDS,
        open_type="conditional", open_conditions="仅限科研与公益用途",
    )  # fmt: skip
    _ingest(platform, health, hospitals, tmp_path / "hospitals.csv",
            ["机构名称,机构等级", "朝阳医院,三级甲等"])  # fmt: skip
    roads = [
        _published(
            platform,
            city,
            officer,
            name=f"道路施工公告第{i}批",
            summary="道路施工占道信息",
            keywords=["道路", "施工"],
            theme="18",
            fields=[{"name": "路段", "type": "string"}],
        )
        for i in range(1, 10)
    ]
    hidden = {
        "not open": _published(
            platform, city, health, name="公交司机健康档案", summary="公交司机体检结果",
            keywords=["公交", SECRET_WORD], provider=HEALTH, theme="05", open_type="none",
            fields=HOSPITAL_FIELDS,
        ),
        "draft": _create(platform, officer, name="公交线路规划草案", fields=BUS_FIELDS),
        "deprecated": _published(platform, city, officer, name="公交旧站点", fields=BUS_FIELDS),
        "narrowed": _published(platform, city, officer, name="公交票价信息", fields=BUS_FIELDS),
        "widened": _published(
            platform, city, officer, name="公交调度日志", fields=BUS_FIELDS, open_type="none"
        ),
    }  # fmt: skip
    with platform.uow() as uow:
        catalog.deprecate_entry(uow, actor=city.admin, entry_id=hidden["deprecated"],
                                reason="站点已调整")  # fmt: skip
    _revise(platform, officer, hidden["narrowed"], name="公交票价信息", fields=BUS_FIELDS,
            open_type="none")  # fmt: skip
    _revise(platform, officer, hidden["widened"], name="公交调度日志", fields=BUS_FIELDS)
    with platform.uow() as uow:
        found = search.search_entries(uow, actor=city.admin, q="公交", limit=100, facets=False)
        found_ids = [hit.entry.id for hit in found.hits]
    return World(bus, metro, hospitals, roads, hidden, url=""), found_ids


@pytest.fixture
def served(platform: Platform) -> Iterator[str]:
    """The platform's app served by uvicorn on a free loopback port, in a thread."""
    with serving(platform.app) as url:
        yield url


@pytest.fixture
def world(platform: Platform, city: City, tmp_path: Path, served: str) -> World:
    """The open-data world on each database, with the live server's address."""
    built, _ = build_world(platform, city, tmp_path)
    built.url = served
    return built


def _ids(results: list[dict[str, Any]]) -> list[str]:
    return [package["id"] for package in results]


def test_the_catalogue_search_itself_would_find_the_hidden_entries(
    platform: Platform, city: City, tmp_path: Path
) -> None:
    """Guard for the tests below: every hidden entry matches 公交 in the catalogue."""
    world, found = build_world(platform, city, tmp_path)
    assert set(world.hidden.values()) <= {*found, world.hidden["draft"]}
    assert world.hidden["not open"] in found and world.hidden["narrowed"] in found


def test_search_uses_chinese_full_text_and_shows_only_open_entries(world: World) -> None:
    ckan = world.client()
    found = ckan.action.package_search(q="公交")
    assert found["count"] == 1
    assert _ids(found["results"]) == [world.bus]
    by_keyword = ckan.action.package_search(q="出行")
    assert sorted(_ids(by_keyword["results"])) == sorted([world.bus, world.metro])
    # Traditional characters fold to Simplified, as in the catalogue search.
    assert _ids(ckan.action.package_search(q="醫療機構")["results"]) == [world.hospitals]
    everything = ckan.action.package_search(rows=1000)
    assert everything["count"] == len(world.open_ids)
    assert set(_ids(everything["results"])) == world.open_ids
    assert ckan.action.package_search(q="*:*")["count"] == len(world.open_ids)
    # The unfiltered count is taken another way (two index searches): both agree.
    assert ckan.action.package_search(fq="*:*", rows=0)["count"] == len(world.open_ids)


def test_fq_filters_on_organisation_theme_tags_formats_and_licence(world: World) -> None:
    ckan = world.client()

    def ids(fq: str) -> set[str]:
        return set(_ids(ckan.action.package_search(fq=fq, rows=100)["results"]))

    transport = {world.bus, world.metro, *world.roads}
    assert ids(f"organization:{TRANSPORT}") == transport
    assert ids(f"-organization:{TRANSPORT}") == {world.hospitals}
    assert ids(f"organization:({TRANSPORT} OR {HEALTH})") == world.open_ids
    assert ids("groups:transport") == {world.bus, world.metro}
    assert ids("groups:04") == {world.bus, world.metro}
    assert ids('tags:"出行"') == {world.bus, world.metro}
    assert ids("tags:道路 AND groups:urban-management") == set(world.roads)
    assert ids(f"tags:{SECRET_WORD}") == set()
    assert ids("res_format:CSV") == {world.bus, world.hospitals}
    assert ids("res_format:api") == {world.bus, world.hospitals}
    assert ids("license_id:other-closed") == {world.hospitals}
    assert ids("license_id:cc-by-4.0") == world.open_ids - {world.hospitals}
    assert ids(f"name:{world.metro}") == {world.metro}
    assert ids(f"id:{world.hidden['not open']}") == set()
    assert ids("metadata_modified:[2000-01-01T00:00:00Z TO *]") == world.open_ids
    assert ids("metadata_modified:[* TO 2000-01-01T00:00:00Z]") == set()
    both = ckan.action.package_search(q="出行", fq=f"organization:{TRANSPORT}", rows=0)
    assert both["count"] == 2 and both["results"] == []


def test_facets_count_the_matches_with_names_and_display_names(world: World) -> None:
    ckan = world.client()
    fields = ["organization", "groups", "tags", "res_format", "license_id"]
    found = ckan.action.package_search(**{"facet.field": fields, "rows": 0})
    facets = found["search_facets"]
    assert set(facets) == set(fields)
    organisations = {
        i["name"]: (i["display_name"], i["count"]) for i in facets["organization"]["items"]
    }
    assert organisations == {TRANSPORT: ("市交通委", 11), HEALTH: ("市卫生健康委", 1)}
    assert found["facets"]["organization"] == {TRANSPORT: 11, HEALTH: 1}
    groups = {i["name"]: (i["display_name"], i["count"]) for i in facets["groups"]["items"]}
    assert groups == {"transport": ("交通出行", 2), "health": ("医疗卫生", 1),
                      "urban-management": ("城市管理", 9)}  # fmt: skip
    tags = {i["name"]: i["count"] for i in facets["tags"]["items"]}
    assert tags["道路"] == 9 and tags["出行"] == 2 and tags["公交"] == 1
    assert SECRET_WORD not in tags
    assert {i["name"]: i["count"] for i in facets["res_format"]["items"]}["CSV"] == 2
    licences = {i["name"]: i["count"] for i in facets["license_id"]["items"]}
    assert licences == {"cc-by-4.0": 11, "other-closed": 1}
    assert facets["organization"]["title"] == "organization"
    narrowed = ckan.action.package_search(q="出行", **{"facet.field": ["tags"], "facet.limit": 2})
    items = narrowed["search_facets"]["tags"]["items"]
    assert [i["name"] for i in items][:1] == ["出行"] and len(items) == 2
    assert ckan.action.package_search(rows=0)["search_facets"] == {}


def test_rows_start_and_sort_page_through_a_stable_order(world: World) -> None:
    ckan = world.client()
    newest_first = _ids(
        ckan.action.package_search(rows=100, sort="metadata_modified desc")["results"]
    )
    assert len(newest_first) == len(world.open_ids)
    # Published a minute apart, in creation order: the road notices are the newest.
    assert newest_first[:9] == list(reversed(world.roads))
    assert newest_first[-1] == world.bus
    pages = [
        _ids(
            ckan.action.package_search(rows=5, start=start, sort="metadata_modified desc")[
                "results"
            ]
        )
        for start in (0, 5, 10)
    ]
    assert [i for page in pages for i in page] == newest_first
    by_name = _ids(ckan.action.package_search(rows=100, sort="name asc")["results"])
    assert by_name == sorted(world.open_ids)
    by_name_desc = _ids(ckan.action.package_search(rows=100, sort="id desc")["results"])
    assert by_name_desc == sorted(world.open_ids, reverse=True)
    oldest = ckan.action.package_search(rows=1, sort="metadata_created asc")
    assert _ids(oldest["results"]) == [world.bus]
    assert oldest["sort"] == "metadata_created asc"
    beyond = ckan.action.package_search(rows=5, start=500)
    assert beyond["results"] == [] and beyond["count"] == len(world.open_ids)
    ranked = ckan.action.package_search(q="道路施工", rows=3, start=3)
    assert len(ranked["results"]) == 3 and set(_ids(ranked["results"])) <= set(world.roads)


def test_package_show_maps_an_entry_to_a_ckan_package(world: World) -> None:
    ckan = world.client()
    bus = ckan.action.package_show(id=world.bus)
    assert bus["name"] == bus["id"] == world.bus
    assert bus["title"] == "公交站点基础信息"
    assert bus["notes"] == "全市公交站点的名称、位置、线路和无障碍设施信息"
    assert [t["name"] for t in bus["tags"]] == ["公交", "站点", "出行"]
    assert bus["organization"]["name"] == TRANSPORT and bus["organization"]["title"] == "市交通委"
    assert bus["owner_org"] == bus["organization"]["id"]
    assert [g["name"] for g in bus["groups"]] == ["transport"]
    assert (bus["license_id"], bus["isopen"]) == ("cc-by-4.0", True)
    assert bus["metadata_created"] <= bus["metadata_modified"]
    extras = {e["key"]: e["value"] for e in bus["extras"]}
    assert extras["open_type"] == "unconditional" and extras["update_frequency"] == "monthly"
    assert extras["resource_code"] and extras["grade"]
    assert bus["url"] == f"{world.url}/open/datasets/{world.bus}"
    formats = [r["format"] for r in bus["resources"]]
    assert formats == ["CSV", "XLSX", "JSON", "Parquet", "API"]
    assert bus["num_resources"] == 5
    root = f"{world.url}/api/v1/open/datasets/{world.bus}"
    assert [r["url"] for r in bus["resources"]] == [
        f"{root}/download.csv", f"{root}/download.xlsx", f"{root}/download.json",
        f"{root}/download.parquet", f"{root}/rows",
    ]  # fmt: skip
    hospitals = ckan.action.package_show(id=world.hospitals)
    assert (hospitals["license_id"], hospitals["isopen"]) == ("other-closed", False)
    assert "App Key" in hospitals["resources"][0]["description"]
    assert ckan.action.package_show(id=world.metro)["resources"] == []
    csv = ckan.action.resource_show(id=f"{world.bus}-csv")
    assert csv == bus["resources"][0] and csv["package_id"] == world.bus


def test_lists_organisations_themes_and_tags(world: World) -> None:
    ckan = world.client()
    assert ckan.action.package_list() == sorted(world.open_ids)
    assert ckan.action.package_list(limit=3, offset=3) == sorted(world.open_ids)[3:6]
    assert ckan.action.organization_list() == [
        TRANSPORT,
        HEALTH,
    ]  # by title: 市交通委, 市卫生健康委
    orgs = ckan.action.organization_list(all_fields=True, sort="package_count desc")
    assert [(o["name"], o["package_count"]) for o in orgs] == [(TRANSPORT, 11), (HEALTH, 1)]
    assert ckan.action.organization_list(organizations=[HEALTH]) == [HEALTH]
    transport = ckan.action.organization_show(id=TRANSPORT, include_datasets=True)
    assert transport["package_count"] == 11 and transport["is_organization"] is True
    assert {p["id"] for p in transport["packages"]} == {world.bus, world.metro, *world.roads}
    assert ckan.action.organization_show(id=transport["id"])["name"] == TRANSPORT
    groups = ckan.action.group_list()
    assert len(groups) == 18 and "transport" in groups and "health" in groups
    counted = {g["name"]: g["package_count"] for g in ckan.action.group_list(all_fields=True)}
    assert counted["transport"] == 2 and counted["economy"] == 0
    health = ckan.action.group_show(id="health", include_datasets=True)
    assert health["title"] == "医疗卫生" and _ids(health["packages"]) == [world.hospitals]
    tags = ckan.action.tag_list()
    assert {"公交", "出行", "道路", "医院"} <= set(tags) and tags == sorted(tags)
    assert SECRET_WORD not in tags
    assert ckan.action.tag_list(query="出") == ["出行"]
    assert ckan.action.tag_list(query="路", all_fields=True)[0]["name"] == "道路"
    assert "fq" in ckan.action.help_show(name="package_search")
    status = ckan.action.status_show()
    assert status["ckan_version"].startswith("2.") and status["site_url"] == world.url


def test_hidden_entries_appear_nowhere(world: World) -> None:
    ckan = world.client()
    hidden = set(world.hidden.values())
    listed = set(ckan.action.package_list())
    searched = set(_ids(ckan.action.package_search(q="公交", rows=1000)["results"]))
    current = set(_ids(ckan.action.current_package_list_with_resources(limit=1000)))
    transport = ckan.action.organization_show(id=TRANSPORT, include_datasets=True)
    assert not hidden & (listed | searched | current | set(_ids(transport["packages"])))
    for why, entry_id in world.hidden.items():
        with pytest.raises(ckanapi.NotFound):
            ckan.action.package_show(id=entry_id)
        with pytest.raises(ckanapi.NotFound):
            ckan.action.resource_show(id=f"{entry_id}-csv")
        assert ckan.action.package_search(fq=f"id:{entry_id}")["count"] == 0, why
    health = ckan.action.organization_show(id=HEALTH)
    assert health["package_count"] == 1  # the 不予开放 register is not counted


def test_errors_have_ckan_shapes(world: World) -> None:
    ckan = world.client()
    with pytest.raises(ckanapi.NotFound):
        ckan.action.package_show(id="ent_missing")
    with pytest.raises(ckanapi.NotFound):
        ckan.action.organization_show(id="nobody")
    with pytest.raises(ckanapi.NotFound):
        ckan.action.group_show(id="nothing")
    for bad in ({"rows": -1}, {"rows": "ten"}, {"start": -5}):
        with pytest.raises(ckanapi.ValidationError) as caught:
            ckan.action.package_search(**bad)
        assert set(bad) <= set(caught.value.error_dict)
    with pytest.raises(ckanapi.ValidationError) as caught:
        ckan.action.package_search(sort="popularity desc")
    assert "sort" in caught.value.error_dict
    with pytest.raises(ckanapi.ValidationError) as caught:
        ckan.action.package_search(q="的")  # only a stopword: nothing to search for
    assert "q" in caught.value.error_dict
    with pytest.raises(ckanapi.ValidationError) as caught:
        ckan.action.package_search(**{"facet.field": ["colour"]})
    assert "facet.field" in caught.value.error_dict
    with pytest.raises(ckanapi.ValidationError) as caught:
        ckan.action.package_show()
    assert "id" in caught.value.error_dict
    with pytest.raises(ckanapi.SearchQueryError):
        ckan.action.package_search(fq="colour:red")
    with pytest.raises(ckanapi.SearchQueryError):
        ckan.action.package_search(fq="metadata_modified:[yesterday TO *]")
    with pytest.raises(ckanapi.SearchQueryError):
        ckan.action.package_search(fq="organization:(transport")
    with pytest.raises(ckanapi.CKANAPIError) as unknown:
        ckan.action.package_delete(id=world.bus)
    assert "Action name not known: package_delete" in str(unknown.value)

    with httpx.Client(base_url=world.url) as http:
        missing = http.get("/api/3/action/package_show", params={"id": world.hidden["not open"]})
        assert missing.status_code == 404
        body = missing.json()
        assert body["success"] is False and body["error"]["__type"] == "Not Found Error"
        assert body["help"] == f"{world.url}/api/3/action/help_show?name=package_show"
        invalid = http.post("/api/3/action/package_search", json={"rows": "x", "start": -1})
        assert invalid.status_code == 409
        error = invalid.json()["error"]
        assert error["__type"] == "Validation Error" and set(error) >= {"rows"}
        nonsense = http.get("/api/3/action/no_such_thing")
        assert nonsense.status_code == 400
        assert nonsense.json() == "Bad request - Action name not known: no_such_thing"
        broken = http.post("/api/3/action/package_search", content=b"{not json",
                           headers={"Content-Type": "application/json"})  # fmt: skip
        assert broken.status_code == 400 and broken.json().startswith("Bad request - JSON Error")
        listed = http.post("/api/3/action/package_search", json=[1, 2])
        assert listed.status_code == 400
        bad_fq = http.get("/api/3/action/package_search", params={"fq": "+"})
        assert bad_fq.status_code == 400
        assert bad_fq.json()["error"]["__type"] == "Search Query Error"


def test_get_and_post_give_the_same_answers(world: World) -> None:
    posted = world.client().action.package_search(
        q="出行", fq=f"organization:{TRANSPORT}", **{"facet.field": ["groups", "tags"]}
    )
    fetched = world.client(get_only=True).action.package_search(
        q="出行", fq=f"organization:{TRANSPORT}", **{"facet.field": ["groups", "tags"]}
    )
    assert posted == fetched and posted["count"] == 2
    with httpx.Client(base_url=world.url) as http:
        # CKAN's own web client sends list parameters as JSON strings.
        raw = http.get("/api/3/action/package_search",
                       params={"q": "出行", "facet.field": '["groups"]', "rows": "1"})  # fmt: skip
        assert raw.status_code == 200
        body = raw.json()
        assert body["success"] is True and len(body["result"]["results"]) == 1
        assert set(body["result"]["search_facets"]) == {"groups"}
        form = http.post("/api/3/action/package_show", data={"id": world.metro})
        assert form.json()["result"]["id"] == world.metro
        assert http.get("/api/3").json() == {"version": 3}


def test_harvesting_current_packages_covers_every_open_entry_exactly_once(world: World) -> None:
    ckan = world.client()
    seen: list[str] = []
    offset = 0
    while True:
        page = ckan.action.current_package_list_with_resources(limit=5, offset=offset)
        if not page:
            break
        assert len(page) <= 5
        seen += _ids(page)
        offset += 5
    assert len(seen) == len(set(seen)) == len(world.open_ids)
    assert set(seen) == world.open_ids
    modified = [
        p["metadata_modified"] for p in ckan.action.current_package_list_with_resources(limit=100)
    ]
    assert modified == sorted(modified, reverse=True)
    by_page = ckan.action.current_package_list_with_resources(limit=5, page=2)
    assert _ids(by_page) == seen[5:10]
    with_data = [
        p for p in ckan.action.current_package_list_with_resources(limit=100) if p["resources"]
    ]
    assert {p["id"] for p in with_data} == {world.bus, world.hospitals}


def test_a_revision_under_review_shows_its_published_version(
    world: World, platform: Platform, city: City
) -> None:
    """An open entry being edited stays listed as published: new keywords, name and a
    stricter open type of its working copy do not leak, and access is never widened."""
    ckan = world.client()
    _revise(platform, city.officer, world.metro, name="地铁线网客流统计（修订中）",
            summary="各地铁线路的日客流量", keywords=["地铁", "未发布词"],
            fields=[{"name": "线路", "type": "string"}], open_type="conditional",
            open_conditions="仅限科研用途")  # fmt: skip
    metro = ckan.action.package_show(id=world.metro)
    assert metro["title"] == "地铁线网客流统计"
    assert [t["name"] for t in metro["tags"]] == ["地铁", "客流", "出行"]
    assert metro["license_id"] == "other-closed"  # the stricter of published and revised
    assert "未发布词" not in ckan.action.tag_list()
    assert ckan.action.package_search(fq="tags:未发布词")["count"] == 0
    assert world.metro in _ids(ckan.action.package_search(fq="tags:客流")["results"])
    tags = ckan.action.package_search(**{"facet.field": ["tags"], "facet.limit": -1})
    assert "未发布词" not in tags["facets"]["tags"] and tags["facets"]["tags"]["客流"] == 1


def test_counts_and_facets_are_remembered_until_the_catalogue_changes(
    world: World, platform: Platform, city: City, tmp_path: Path
) -> None:
    """The same search twice is counted once; a deprecation or new data shows at once."""
    from gongshu.opendata.runtime import runtime_for

    ckan = world.client()
    counts = runtime_for(platform.app.state, platform).ckan_counts
    asked = {"facet.field": ["organization", "groups", "res_format"], "rows": 0}
    first = ckan.action.package_search(**asked)
    misses = counts.misses
    again = ckan.action.package_search(**asked)
    assert again == first and counts.misses == misses and counts.hits >= 1
    assert first["count"] == 12 and first["facets"]["groups"]["urban-management"] == 9
    assert first["facets"]["res_format"]["CSV"] == 2

    with platform.uow() as uow:
        catalog.deprecate_entry(uow, actor=city.admin, entry_id=world.roads[0], reason="停止发布")
    after = ckan.action.package_search(**asked)
    assert after["count"] == 11 and after["facets"]["groups"]["urban-management"] == 8
    assert counts.misses == misses + 1
    _ingest(platform, city.officer, world.metro, tmp_path / "metro.csv", ["线路", "1号线"])
    with_data = ckan.action.package_search(**asked)
    assert with_data["facets"]["res_format"]["CSV"] == 3


def test_a_rolled_back_change_leaves_the_generation_alone(platform: Platform, city: City) -> None:
    from gongshu.catalog.models import CATALOG_GENERATION, Entry
    from gongshu.kernel.generations import current

    entry_id = _create(platform, city.officer, name="公交线路走向")
    with platform.uow() as uow:
        before = current(uow.session, CATALOG_GENERATION)
        entry = uow.session.get(Entry, entry_id)
        assert entry is not None
        entry.summary = "改过但未提交"
        uow.session.flush()
        uow.rollback()
    with platform.uow() as uow:
        assert current(uow.session, CATALOG_GENERATION) == before
    _revise(platform, city.officer, entry_id, name="公交线路走向（新）")
    with platform.uow() as uow:
        assert current(uow.session, CATALOG_GENERATION) > before
