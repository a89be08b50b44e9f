"""The open data portal's search: no actor, open published entries only."""

from __future__ import annotations

from gongshu.bootstrap import Platform
from gongshu.catalog import service as catalog
from gongshu.catalog.search import SearchFilters, search_entries
from tests.factories import City, entry_input, publish


def _entry(platform: Platform, city: City, name: str, open_type: str, *, published: bool) -> str:
    extra = {"open_conditions": "实名注册并签署协议"} if open_type == "conditional" else {}
    with platform.uow() as uow:
        entry = catalog.create_entry(
            uow, actor=city.officer,
            data=entry_input(name=name, open_type=open_type, keywords=["公交", "开放"], **extra),
        )  # fmt: skip
        uow.commit()
    if published:
        publish(platform, city, entry.id)
    return entry.id


def test_the_public_search_sees_only_open_published_entries(platform: Platform, city: City) -> None:
    shown = {
        _entry(platform, city, "公交站点开放数据", "unconditional", published=True),
        _entry(platform, city, "公交客流条件开放", "conditional", published=True),
    }
    hidden = {
        _entry(platform, city, "公交内部调度数据", "none", published=True),
        _entry(platform, city, "公交线路草稿", "unconditional", published=False),
    }
    with platform.uow() as uow:
        for q in ("公交", None):
            result = search_entries(uow, actor=None, public=True, q=q)
            found = {hit.entry.id for hit in result.hits}
            assert found == shown and result.total == 2
        narrowed = search_entries(
            uow, actor=None, public=True, q="公交",
            filters=SearchFilters.of(open_type=["conditional"]),
        )  # fmt: skip
        assert narrowed.total == 1
        staff = search_entries(uow, actor=city.admin, q="公交")
        assert {hit.entry.id for hit in staff.hits} == shown | hidden
