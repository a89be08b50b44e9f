"""The public site's reading pages on both databases: home, lists, the dataset page with its
preview and downloads, the objection form, and a 不予开放 entry that is nowhere to be seen."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gongshu.bootstrap import Platform
from gongshu.catalog import service as catalog
from gongshu.quality.models import Objection
from tests.factories import CHAOYANG, HEALTH, TRANSPORT, City, entry_input, publish
from tests.opendata.open_world import (
    FIRMS,
    STOPS,
    OpenWorld,
    build_open_world,
    ingest,
    make_entry,
    sign_in,
    write_csv,
)


@pytest.fixture
def world(platform: Platform, city: City, tmp_path: Path) -> OpenWorld:
    return build_open_world(platform, city, tmp_path)


@pytest.fixture
def client(platform: Platform) -> TestClient:
    # Pages answer in Chinese unless asked; errors as JSON (no text/html in Accept).
    return TestClient(platform.app)


def csrf(client: TestClient) -> str:
    """The CSRF token the pages set as a cookie (after any page view)."""
    client.get("/open/developers")
    token = client.cookies.get("gongshu_csrf")
    assert token
    return token


def entries_listed(html: str) -> set[str]:
    return set(re.findall(r'data-entry="([^"]+)"', html))


# ------------------------------------------------------------------ home and lists


def test_home_shows_live_figures_highlights_and_themes(
    world: OpenWorld, client: TestClient
) -> None:
    for fmt in ("csv", "json"):
        assert client.get(f"/api/v1/open/datasets/{world.stops}/download.{fmt}").status_code == 200
    answer = client.get("/open")
    assert answer.status_code == 200
    html = answer.text
    figures = dict(re.findall(r'data-figure="(\w+)"><strong>(\d+)</strong>', html))
    # stops, empty (unconditional) and firms (conditional); closed and draft are not open.
    assert figures["open_entries"] == "3"
    assert figures["departments"] == "2"
    assert figures["downloads"] == "2"
    assert figures["app_keys"] == "1"
    newest = html.split('data-testid="newest"')[1].split("</ul>")[0]
    assert entries_listed(newest) == {world.stops, world.firms, world.empty}
    popular = html.split('data-testid="popular"')[1].split("</ul>")[0]
    assert entries_listed(popular) and popular.index(world.stops) < popular.index(world.firms)
    assert 'href="/open/themes/04"' in html and "交通出行" in html


def test_theme_department_and_district_pages_list_only_open_entries(
    platform: Platform, city: City, world: OpenWorld, client: TestClient, tmp_path: Path
) -> None:
    theme = client.get("/open/themes/04")
    assert theme.status_code == 200
    assert entries_listed(theme.text) == {world.stops, world.firms, world.empty}
    transport = client.get(f"/open/departments/{city.orgs[TRANSPORT]}")
    assert entries_listed(transport.text) == {world.stops, world.empty}
    health = client.get(f"/open/departments/{city.orgs[HEALTH]}", params={"order": "downloads"})
    assert entries_listed(health.text) == {world.firms}
    local = make_entry(platform, city, "朝阳区公厕（开放测试）", STOPS, district=CHAOYANG)
    publish(platform, city, local)
    ingest(platform, city.officer, local, write_csv(tmp_path / "local.csv", STOPS, world.stop_rows))
    district = client.get(f"/open/districts/{CHAOYANG}")
    assert district.status_code == 200
    assert entries_listed(district.text) == {local}
    assert client.get("/open/themes/99").status_code == 404
    assert client.get("/open/districts/999999").status_code == 404
    assert client.get("/open/departments/org_nope").status_code == 404


def test_lists_page_by_cursor(
    world: OpenWorld, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gongshu.opendata import pages

    whole = client.get("/open/themes/04", params={"order": "name"}).text
    assert 'data-testid="next-page"' not in whole
    monkeypatch.setattr(pages, "LIST_SIZE", 2)
    page1 = client.get("/open/themes/04", params={"order": "name"}).text
    link = re.search(r'href="([^"]+)" rel="next"', page1)
    assert link
    page2 = client.get(link.group(1).replace("&amp;", "&")).text
    assert len(entries_listed(page1)) == 2 and len(entries_listed(page2)) == 1
    assert entries_listed(page1) | entries_listed(page2) == {world.stops, world.firms, world.empty}


# ------------------------------------------------------------------ 不予开放 is nowhere


def test_an_entry_not_to_be_opened_404s_on_every_public_page(
    world: OpenWorld, client: TestClient, city: City
) -> None:
    token = csrf(client)
    for entry_id in (world.closed, world.draft, "ent_does_not_exist"):
        page = client.get(f"/open/datasets/{entry_id}")
        assert page.status_code == 404 and page.json()["error"]["code"] == "dataset_not_found"
    assert client.get(f"/open/requests/new?entry_id={world.closed}").status_code in (401, 404)
    sign_in(client, "zhangsan")
    token = client.cookies.get("gongshu_csrf") or token
    assert client.get(f"/open/requests/new?entry_id={world.closed}").status_code == 404
    for path, form in (
        (f"/open/datasets/{world.closed}/objection", {"claim": "错", "evidence_text": "见附件"}),
        (f"/open/datasets/{world.closed}/apply", {"purpose": "用途说明", "scenario": "场景"}),
    ):
        posted = client.post(path, data={"csrf_token": token, **form})
        assert posted.status_code == 404, path
    for path in ("/open", "/open/themes/04", f"/open/departments/{city.orgs[TRANSPORT]}",
                 "/open/plan", "/open/requests", "/open/showcase", "/open/account"):  # fmt: skip
        html = client.get(path).text
        assert world.closed not in html and "内部台账" not in html, path


# ------------------------------------------------------------------ the dataset page


def test_dataset_page_shows_metadata_quality_history_ledger_and_api(
    world: OpenWorld, client: TestClient
) -> None:
    html = client.get(f"/open/datasets/{world.stops}").text
    assert '<h1 data-testid="dataset-name">公交站点（开放测试）</h1>' in html
    assert 'data-open-type="unconditional"' in html and "市交通委" in html
    assert re.search(r'href="/ledger/\d+" data-testid="ledger-link"', html)
    assert 'data-testid="quality-score"' in html
    assert 'data-version="1"' in html and '<td class="num">250</td>' in html
    fields = re.findall(r'data-field="([^"]+)"', html)
    assert fields == [f["name"] for f in STOPS]
    rows_url = re.search(r'data-testid="rows-url">([^<]+)<', html)
    assert rows_url and rows_url.group(1).endswith(
        f"/api/v1/open/datasets/{world.stops}/rows?_size=10"
    )
    for fmt in ("csv", "xlsx", "json", "parquet", "datapackage.json", "datapackage.zip"):
        assert f'data-format="{fmt}"' in html
    assert 'curl -H "X-App-Key: $GONGSHU_APP_KEY"' in html
    # Anyone may download what the page links.
    link = f"/api/v1/open/datasets/{world.stops}/download.csv"
    assert f'href="{link}"' in html and client.get(link).status_code == 200


def test_preview_pages_through_the_rows_with_the_row_apis_cursor(
    world: OpenWorld, client: TestClient
) -> None:
    first = client.get(f"/open/datasets/{world.stops}").text
    assert 'data-testid="preview-total">250<' in first
    cells = re.findall(r"<td>(S\d{4})</td>", first)
    assert cells == [f"S{n:04d}" for n in range(20)]
    nxt = re.search(r'href="([^"]+)" rel="next" data-testid="preview-next"', first)
    assert nxt
    second = client.get(nxt.group(1).replace("&amp;", "&")).text
    assert re.findall(r"<td>(S\d{4})</td>", second) == [f"S{n:04d}" for n in range(20, 40)]
    assert (
        client.get(f"/open/datasets/{world.stops}", params={"cursor": "garbage"}).status_code == 400
    )


def test_unconditional_page_withholds_fields_the_stored_data_flags_personal(
    platform: Platform, city: City, client: TestClient, world: OpenWorld
) -> None:
    # The firms' data was stored while 法定代表人 was flagged as an identifier; the entry was
    # then revised to be open without conditions, the flag dropped from its catalogue record.
    # The stored version still flags the column: the page must keep withholding it.
    unflagged = [{"name": f["name"], "type": f["type"]} for f in cast(list[dict[str, Any]], FIRMS)]
    with platform.uow() as uow:
        catalog.update_entry(
            uow, actor=city.health_officer, entry_id=world.firms,
            data=entry_input(name="企业登记（开放测试）", fields=unflagged, provider=HEALTH),
        )  # fmt: skip
        uow.commit()
    publish(platform, city, world.firms)
    html = client.get(f"/open/datasets/{world.firms}").text
    assert 'data-open-type="unconditional"' in html
    shown = re.findall(r'data-field="([^"]+)"', html)
    assert shown == ["统一社会信用代码", "企业名称", "注册资本", "区划"]
    assert "法定代表人" not in html and "法人000" not in html
    assert "<td>测试企业000有限公司</td>" in html


def test_conditional_page_explains_access_and_previews_nothing_without_a_grant(
    world: OpenWorld, client: TestClient
) -> None:
    html = client.get(f"/open/datasets/{world.firms}").text
    assert 'data-open-type="conditional"' in html
    assert 'data-testid="preview-refused"' in html and "测试企业000" not in html
    assert 'data-testid="apply-form"' not in html  # sign in first
    assert 'data-testid="open-conditions">用于信用分析，需申请<' in html
    sign_in(client, "zhangsan")
    html = client.get(f"/open/datasets/{world.firms}").text
    assert 'data-testid="apply-form"' in html
    assert "尚未获得此数据集的授权" in html and "测试企业000" not in html


def test_objection_form_files_a_public_objection(
    platform: Platform, world: OpenWorld, client: TestClient
) -> None:
    sign_in(client, "zhangsan")
    token = client.cookies.get("gongshu_csrf")
    refused = client.post(
        f"/open/datasets/{world.stops}/objection",
        data={"csrf_token": token, "claim": "站点名称有误"},
    )
    assert refused.status_code == 422 and 'data-testid="form-error"' in refused.text
    assert "站点名称有误" in refused.text  # the form keeps what was typed
    filed = client.post(
        f"/open/datasets/{world.stops}/objection",
        data={"csrf_token": token, "field_name": "站点名称", "claim": "S0003 的名称已更改",
              "evidence_text": "现场照片", "evidence_url": "https://example.cn/photo"},
        follow_redirects=False,
    )  # fmt: skip
    assert filed.status_code == 303
    assert filed.headers["location"].startswith(f"/open/datasets/{world.stops}?done=objection:")
    with platform.uow() as uow:
        objection = uow.session.scalar(sa.select(Objection))
        assert objection is not None
        assert (objection.entry_id, objection.channel, objection.field_name) == (
            world.stops, "public", "站点名称",
        )  # fmt: skip
        assert [e["kind"] for e in objection.evidence] == ["text", "url"]
        objection_id = objection.id
    shown = client.get(filed.headers["location"]).text
    assert objection_id in shown and 'data-testid="done"' in shown


def test_objection_needs_a_signed_in_visitor_and_the_csrf_token(
    world: OpenWorld, client: TestClient
) -> None:
    token = csrf(client)
    anonymous = client.post(
        f"/open/datasets/{world.stops}/objection",
        data={"csrf_token": token, "claim": "错", "evidence_text": "证据"},
    )
    assert anonymous.status_code == 401
    sign_in(client, "zhangsan")
    forged = client.post(
        f"/open/datasets/{world.stops}/objection",
        data={"csrf_token": "forged", "claim": "错", "evidence_text": "证据"},
    )
    assert forged.status_code == 403


def test_pages_speak_english_when_asked(world: OpenWorld, client: TestClient) -> None:
    home = client.get("/open", params={"lang": "en"}).text
    assert '<html lang="en">' in home
    assert "Open data portal" in home and "Data requests" in home and "Developers (API)" in home
    assert "数据需求" not in home and "开放计划" not in home
    dataset = client.get(f"/open/datasets/{world.stops}").text  # the cookie remembers
    assert "Data preview" in dataset and "Open unconditionally" in dataset


# ------------------------------------------------------------------ search


def test_search_finds_open_entries_only_with_facets_highlights_and_paging(
    world: OpenWorld, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gongshu.opendata import pages_search

    found = client.get("/open/search", params={"q": "开放测试"})
    assert found.status_code == 200
    hits = entries_listed(found.text.split('data-testid="hits"')[1])
    assert hits == {world.stops, world.firms, world.empty}
    assert (
        "<mark>" in found.text and "内部台账" not in found.text and world.closed not in found.text
    )
    facets = found.text.split('data-testid="facets"')[1].split("</aside>")[0]
    assert 'data-facet="open_type"' in facets and 'data-value="none"' not in facets
    narrowed = client.get("/open/search", params={"q": "开放测试", "open_type": "conditional"})
    assert entries_listed(narrowed.text.split('data-testid="hits"')[1]) == {world.firms}
    assert 'data-testid="active-filters"' in narrowed.text

    monkeypatch.setattr(pages_search, "PAGE_SIZE", 2)
    first = client.get("/open/search", params={"q": "开放测试", "sort": "name"}).text
    link = re.search(r'href="([^"]+)" rel="next"', first)
    assert link
    second = client.get(link.group(1).replace("&amp;", "&")).text
    seen = entries_listed(first.split('data-testid="hits"')[1])
    seen |= entries_listed(second.split('data-testid="hits"')[1])
    assert seen == {world.stops, world.firms, world.empty}


def test_a_bad_search_is_explained_on_the_page(world: OpenWorld, client: TestClient) -> None:
    answer = client.get("/open/search", params={"q": "公交", "cursor": "not-a-cursor"})
    assert answer.status_code == 400 and 'data-testid="search-error"' in answer.text
