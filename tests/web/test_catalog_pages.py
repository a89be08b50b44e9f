"""The catalogue's pages without a browser: search, the entry form, review, history, import."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from fastapi.testclient import TestClient

from gongshu.bootstrap import Platform
from gongshu.catalog import service as catalog
from gongshu.catalog import sheets
from gongshu.catalog.vocab import Column
from gongshu.kernel.clock import FixedClock
from tests.factories import CHAOYANG, HEALTH, TRANSPORT, City, entry_input, publish
from tests.web.test_i18n import CJK
from tests.web.test_pages import sign_in


def create(platform: Platform, city: City, *, submit: bool = False, **overrides: Any) -> str:
    """An entry of the transport commission (unless overridden), created by its officer."""
    who = city.admin if overrides.get("provider", TRANSPORT) != TRANSPORT else city.officer
    with platform.uow() as uow:
        entry = catalog.create_entry(uow, actor=who, data=entry_input(**overrides), submit=submit)
        return entry.id


def form(csrf: str, **overrides: Any) -> dict[str, Any]:
    """The entry form as a browser posts it."""
    data: dict[str, Any] = {
        "csrf_token": csrf,
        "name": "地铁站出入口信息",
        "kind": "resource",
        "summary": "全市地铁站出入口的位置与无障碍设施",
        "keywords": "地铁、出入口",
        "fields": "出入口编号|字符型||DE20001\n出入口名称\n经度|数值型",
        "format": "database",
        "update_frequency": "monthly",
        "share_type": "unconditional",
        "delivery": ["api", "file"],
        "open_type": "unconditional",
        "theme": "04",
        "impact_public_interest": "general",
    }
    return data | overrides


def main_text(html: str) -> str:
    """The visible text of the page's <main>, without tags, styles or attributes."""
    main = html.split("<main>", 1)[1].split("</main>", 1)[0]
    main = re.sub(r"<style>.*?</style>", " ", main, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main))


# ------------------------------------------------------------------ search


def test_search_highlights_and_facets_filter(
    client: TestClient, platform: Platform, city: City
) -> None:
    bus = create(platform, city)
    publish(platform, city, bus)
    clinic = create(
        platform,
        city,
        name="社区卫生服务中心名录",
        summary="全市社区卫生服务中心的名称、地址和服务时间",
        keywords=["卫生", "社区"],
        provider=HEALTH,
        theme="05",
    )
    sign_in(client, "admin")

    page = client.get("/console/catalog", params={"q": "公交"})
    assert page.status_code == 200
    assert "<mark>公交</mark>站点基础信息" in page.text
    assert f'data-entry="{bus}"' in page.text and f'data-entry="{clinic}"' not in page.text
    assert 'href="/api/v1/catalog/entries?q=%E5%85%AC%E4%BA%A4"' in page.text  # the JSON twin

    everything = client.get("/console/catalog").text
    assert f'data-entry="{bus}"' in everything and f'data-entry="{clinic}"' in everything
    facets = everything.split('data-testid="facets"', 1)[1].split("</aside>", 1)[0]
    assert "市交通委" in facets and "市卫生健康委" in facets  # providers by name, not id
    assert "医疗卫生" in facets and "交通出行" in facets  # themes by label
    assert 'data-chart="catalog_theme"' in everything  # the result set drawn as SVG

    health_id = city.orgs[HEALTH]
    filtered = client.get("/console/catalog", params={"provider": health_id})
    assert f'data-entry="{clinic}"' in filtered.text and f'data-entry="{bus}"' not in filtered.text
    active = filtered.text.split('data-testid="active-filters"', 1)[1].split("</p>", 1)[0]
    assert f'data-value="{health_id}"' in active and 'href="/console/catalog"' in active

    draft_only = client.get("/console/catalog", params={"status": "draft", "sort": "name"}).text
    assert f'data-entry="{clinic}"' in draft_only and f'data-entry="{bus}"' not in draft_only


def test_a_bad_query_is_explained_on_the_page(client: TestClient, city: City) -> None:
    sign_in(client, "officer")
    punctuation = client.get("/console/catalog", params={"q": "！？……"})
    assert punctuation.status_code == 422
    assert 'data-testid="search-error"' in punctuation.text
    assert "enter a word or number" in punctuation.text
    assert 'value="！？……"' in punctuation.text  # the query stays in the box
    too_long = client.get("/console/catalog", params={"q": "公交" * 150})
    assert too_long.status_code == 422 and "limit" in too_long.text


def test_search_pages_by_cursor(client: TestClient, platform: Platform, city: City) -> None:
    for n in range(22):
        create(platform, city, name=f"公交线路第{n:02d}号")
    sign_in(client, "officer")
    first = client.get("/console/catalog", params={"sort": "name"}).text
    assert first.count("data-entry=") == 20
    next_url = re.search(r'href="([^"]+)" rel="next"', first)
    assert next_url
    second = client.get(next_url.group(1).replace("&amp;", "&")).text
    assert second.count("data-entry=") == 2 and 'rel="next"' not in second


# ------------------------------------------------------------------ routing


def test_fixed_paths_are_not_taken_for_an_entry(
    client: TestClient, platform: Platform, city: City
) -> None:
    """Each topic of the pages has its own router; ``catalog.pages`` includes them so that
    ``new``, ``review``, ``import`` and ``district`` (and ``…/edit``, ``import/commit``) win
    over ``/console/catalog/{entry_id}`` and the lifecycle's ``…/{entry_id}/{step}``."""
    entry_id = create(platform, city)
    csrf = sign_in(client, "admin")
    new = client.get("/console/catalog/new")
    assert new.status_code == 200 and 'action="/console/catalog/new"' in new.text
    posted = client.post("/console/catalog/new", data={"csrf_token": csrf})
    assert posted.status_code == 422 and 'action="/console/catalog/new"' in posted.text
    assert 'data-testid="queue"' in client.get("/console/catalog/review").text
    assert 'data-testid="template"' in client.get("/console/catalog/import").text
    unreadable = client.post(
        "/console/catalog/import", data={"csrf_token": csrf}, files={"file": ("a.xlsx", b"x")}
    )
    assert unreadable.status_code == 422 and "not a readable xlsx file" in unreadable.text
    expired = client.post(
        "/console/catalog/import/commit", data={"csrf_token": csrf, "upload": "0" * 64}
    )
    assert expired.status_code == 422 and "upload has expired" in expired.text
    district = client.get("/console/catalog/district", follow_redirects=False)
    assert district.status_code == 200
    assert 'action="/console/catalog/district"' in district.text
    edit = f"/console/catalog/{entry_id}/edit"
    kept = client.post(edit, data={"csrf_token": csrf, "name": ""})
    assert kept.status_code == 422 and f'action="{edit}"' in kept.text
    assert 'data-testid="versions"' in client.get(f"/console/catalog/{entry_id}/history").text


# ------------------------------------------------------------------ the entry form


def test_officer_creates_an_entry_and_errors_keep_the_input(
    client: TestClient, platform: Platform, city: City
) -> None:
    csrf = sign_in(client, "officer")
    blank = client.get("/console/catalog/new").text
    assert f'<option value="{city.orgs[TRANSPORT]}" selected>市交通委</option>' in blank

    bad = client.post(
        "/console/catalog/new",
        data=form(csrf, provider=city.orgs[TRANSPORT], share_type="conditional"),
    )
    assert bad.status_code == 422
    assert 'data-testid="error-share_conditions"' in bad.text and "共享条件" in bad.text
    assert 'value="地铁站出入口信息"' in bad.text  # what was typed is still there
    assert "出入口编号|字符型||DE20001" in bad.text
    assert '<option value="conditional" selected>' in bad.text

    items = client.post(
        "/console/catalog/new",
        data=form(csrf, provider=city.orgs[TRANSPORT], fields="出入口编号|文字型"),
    )
    assert items.status_code == 422 and 'data-testid="error-fields"' in items.text
    assert "文字型" in items.text

    made = client.post(
        "/console/catalog/new",
        data=form(csrf, provider=city.orgs[TRANSPORT], submit="1"),
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text
    page = client.get(made.headers["location"]).text
    assert 'data-status="submitted"' in page and 'data-testid="review-due"' in page
    assert 'data-field="出入口编号"' in page and "DE20001" in page
    assert "/console/catalog/" in page and "/api/v1/catalog/entries/" in page

    again = client.post("/console/catalog/new", data=form(csrf, provider=city.orgs[TRANSPORT]))
    assert again.status_code == 409 and 'data-testid="error-name"' in again.text


def test_the_edit_form_is_filled_and_saves(
    client: TestClient, platform: Platform, city: City
) -> None:
    entry_id = create(
        platform,
        city,
        fields=[
            {"name": "站点编号", "type": "string", "element_code": "DE10001"},
            {"name": "乘客身份证号", "type": "string", "flags": ["identifier"]},
        ],
        open_type="none",
        grade="general-3",
        grade_reason="含个人信息",
        district=CHAOYANG,
        duty="公交运营监管",
    )
    csrf = sign_in(client, "officer")
    page = client.get(f"/console/catalog/{entry_id}/edit").text
    assert "站点编号|字符型||DE10001\n乘客身份证号|字符型|||个人标识" in page
    assert '<option value="general-3" selected>' in page and "含个人信息" in page
    assert 'value="公交、站点、出行"' in page and 'value="公交运营监管"' in page
    assert f'<option value="{city.orgs[CHAOYANG]}" selected>' in page

    fields = "站点编号|字符型||DE10001\n乘客身份证号|字符型|||个人标识\n站点名称"
    saved = client.post(
        f"/console/catalog/{entry_id}/edit",
        data=form(
            csrf,
            name="公交站点基础信息",
            provider=city.orgs[TRANSPORT],
            summary="全市公交站点的名称与位置（修订）",
            fields=fields,
            open_type="none",
            grade="general-3",
            grade_reason="含个人信息",
            district=city.orgs[CHAOYANG],
        ),
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    entry = client.get(f"/console/catalog/{entry_id}").text
    assert "（修订）" in entry and 'data-field="站点名称"' in entry
    assert 'data-flag="identifier"' in entry and "个人标识" in entry
    assert 'data-testid="grade-reason"' in entry and "人工定级" in entry


def test_others_cannot_edit_and_citizens_cannot_browse(
    client: TestClient, platform: Platform, city: City
) -> None:
    entry_id = create(platform, city, submit=True)
    csrf = sign_in(client, "health_officer")
    assert client.get(f"/console/catalog/{entry_id}").status_code == 200  # submitted: visible
    assert client.get(f"/console/catalog/{entry_id}/edit").status_code == 403
    refused = client.post(
        f"/console/catalog/{entry_id}/edit", data=form(csrf, provider=city.orgs[TRANSPORT])
    )
    assert refused.status_code == 403
    page = client.get(f"/console/catalog/{entry_id}").text
    assert 'data-testid="edit"' not in page and "/approve" not in page
    assert client.get("/console/catalog/new").status_code == 200  # their own provider
    citizen = TestClient(platform.app)
    sign_in(citizen, "citizen")
    assert citizen.get("/console/catalog").status_code == 403
    assert citizen.get(f"/console/catalog/{entry_id}").status_code == 403


# ------------------------------------------------------------------ lifecycle on the entry page


def test_the_bureau_approves_and_publishes_from_the_entry_page(
    client: TestClient, platform: Platform, city: City
) -> None:
    entry_id = create(platform, city)
    csrf = sign_in(client, "officer")
    client.post(f"/console/catalog/{entry_id}/submit", data={"csrf_token": csrf})
    client.cookies.clear()
    csrf = sign_in(client, "admin")
    page = client.get(f"/console/catalog/{entry_id}").text
    assert 'data-status="submitted"' in page and "通过并发布" in page

    refused = client.post(f"/console/catalog/{entry_id}/return", data={"csrf_token": csrf})
    assert refused.status_code == 422 and "say what must change" in refused.text

    done = client.post(
        f"/console/catalog/{entry_id}/approve",
        data={"csrf_token": csrf, "note": "同意发布", "publish": "1"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/console/catalog/{entry_id}"
    page = client.get(f"/console/catalog/{entry_id}").text
    assert 'data-status="published"' in page and "同意发布" in page
    assert (
        f'href="/dataset/{entry_id}.ttl"' in page and f'href="/dataset/{entry_id}.jsonld"' in page
    )
    ledger = re.search(r'href="/ledger/(\d+)" data-testid="ledger-link"', page)
    assert ledger
    assert client.get(f"/ledger/{ledger.group(1)}").text.count(entry_id) >= 1
    assert client.get(f"/dataset/{entry_id}.ttl").status_code == 200

    twice = client.post(f"/console/catalog/{entry_id}/publish", data={"csrf_token": csrf})
    assert twice.status_code == 409 and 'data-testid="form-error"' in twice.text
    gone = client.post(
        f"/console/catalog/{entry_id}/deprecate", data={"csrf_token": csrf, "reason": "数据停更"}
    )
    assert gone.status_code == 200 and 'data-status="deprecated"' in gone.text
    assert "数据停更" in gone.text and f"/dataset/{entry_id}.ttl" not in gone.text


def test_history_shows_what_changed_between_publications(
    client: TestClient, platform: Platform, city: City
) -> None:
    entry_id = create(platform, city)
    publish(platform, city, entry_id)
    changed = entry_input(
        summary="全市公交站点的名称、位置和线路信息",
        share_type="conditional",
        share_conditions="仅限交通管理用途",
        fields=[
            {"name": "站点编号", "type": "string", "element_code": "DE10001"},
            {"name": "站点名称", "type": "string"},
            {"name": "所属线路", "type": "string"},
        ],
    )
    with platform.uow() as uow:
        catalog.update_entry(uow, actor=city.officer, entry_id=entry_id, data=changed)
    publish(platform, city, entry_id)
    sign_in(client, "officer")
    page = client.get(f"/console/catalog/{entry_id}/history").text
    assert 'data-version="1"' in page and 'data-version="2"' in page
    rows = dict(re.findall(r'<tr data-key="(\w+)">(.*?)</tr>', page, flags=re.S))
    assert "线路<del>和无障碍设施</del>信息" in rows["summary"]
    assert "无条件共享" in rows["share_type"] and "有条件共享" in rows["share_type"]
    assert 'data-field="所属线路" data-change="added"' in rows["fields"]
    assert 'data-field="经度" data-change="removed"' in rows["fields"]
    assert f"/api/v1/catalog/entries/{entry_id}/diff?from=1&amp;to=2" in page
    same = client.get(f"/console/catalog/{entry_id}/history", params={"from": 2, "to": 2}).text
    assert "两个版本没有差别" in same


# ------------------------------------------------------------------ review queue


def test_the_review_queue_flags_overdue_entries(
    client: TestClient, platform: Platform, city: City, clock: FixedClock
) -> None:
    late = create(platform, city, submit=True)
    other = create(platform, city, name="出租车营运信息", submit=True)
    clock.advance(days=5)
    fresh = create(platform, city, name="共享单车停放区域", submit=True)
    csrf = sign_in(client, "admin")
    page = client.get("/console/catalog/review").text
    assert re.search(r'data-testid="count-overdue">2<', page)
    assert re.findall(r'<tr data-entry="(\w+)"', page) == [late, other, fresh]
    assert re.search(rf'data-entry="{late}" class="overdue" data-overdue="true"', page)
    assert f'data-entry="{fresh}" class="overdue"' not in page
    late_page = client.get(f"/console/catalog/{late}").text
    assert '<dd data-testid="review-due" class="warn" data-overdue="true">' in late_page
    assert 'data-testid="review-overdue"' in late_page

    done = client.post(
        f"/console/catalog/{late}/approve",
        data={"csrf_token": csrf, "publish": "1", "next": "/console/catalog/review"},
        follow_redirects=False,
    )
    assert done.headers["location"] == "/console/catalog/review"
    client.post(
        f"/console/catalog/{other}/return",
        data={"csrf_token": csrf, "note": "请补充数据项说明", "next": "/console/catalog/review"},
    )
    after = client.get("/console/catalog/review").text
    assert late not in after and other not in after and fresh in after
    returned = client.get(f"/console/catalog/{other}").text
    assert 'data-status="draft"' in returned and "请补充数据项说明" in returned
    sign_in(client, "officer")
    assert client.get("/console/catalog/review").status_code == 403


# ------------------------------------------------------------------ import


def sheet(*rows: dict[str, Any]) -> bytes:
    return sheets.write_xlsx([sheets.input_to_row(row) for row in rows])


def row(**overrides: Any) -> dict[str, Any]:
    return entry_input().model_dump(mode="json") | overrides


def test_import_checks_first_then_stores_all(
    client: TestClient, platform: Platform, city: City
) -> None:
    csrf = sign_in(client, "officer")
    assert "/api/v1/catalog/template.xlsx" in client.get("/console/catalog/import").text
    broken = sheet(row(name="公交线路"), row(name="公交票价", theme="99"))
    checked = client.post(
        "/console/catalog/import",
        data={"csrf_token": csrf},
        files={"file": ("目录.xlsx", broken)},
    )
    assert checked.status_code == 422
    errors = re.findall(r'<tr data-row="(\d+)" data-column="([^"]*)">', checked.text)
    assert ("3", Column.THEME.value) in errors
    assert 'data-testid="commit"' not in checked.text
    assert not list((platform.settings.home / "uploads").glob("*"))  # nothing kept to commit

    good = sheet(row(name="公交线路"), row(name="公交票价"))
    checked = client.post(
        "/console/catalog/import",
        data={"csrf_token": csrf, "submit": "1"},
        files={"file": ("目录.xlsx", good)},
    )
    assert checked.status_code == 200 and 'data-testid="clean"' in checked.text
    digest = hashlib.sha256(good).hexdigest()
    assert f'name="upload" value="{digest}"' in checked.text
    assert (platform.settings.home / "uploads" / digest).is_file()

    forged = client.post(
        "/console/catalog/import/commit",
        data={"csrf_token": csrf, "upload": "0" * 64, "filename": "目录.xlsx"},
    )
    assert forged.status_code == 422 and 'data-testid="created"' not in forged.text
    stored = client.post(
        "/console/catalog/import/commit",
        data={"csrf_token": csrf, "upload": digest, "filename": "目录.xlsx", "submit": "1"},
    )
    assert stored.status_code == 200, stored.text
    assert re.search(r'data-testid="created">2<', stored.text)
    assert "公交线路" in stored.text and not (platform.settings.home / "uploads" / digest).exists()
    listed = client.get("/console/catalog", params={"q": "公交票价"}).text
    assert 'data-status="submitted"' in listed

    unreadable = client.post(
        "/console/catalog/import",
        data={"csrf_token": csrf},
        files={"file": ("目录.xlsx", b"PK\x03\x04 not really a workbook")},
    )
    assert unreadable.status_code == 422 and "not a readable xlsx file" in unreadable.text


# ------------------------------------------------------------------ districts and the console


def test_the_district_sees_its_four_level_tree(
    client: TestClient, platform: Platform, city: City
) -> None:
    create(
        platform,
        city,
        name="道路停车泊位",
        district=CHAOYANG,
        duty="静态交通管理",
        system="停车管理系统",
        table="t_parking_berth",
        submit=True,
    )
    create(platform, city, name="全市公交线路", submit=True)
    sign_in(client, "district")
    chaoyang = city.orgs[CHAOYANG]
    console = client.get("/console").text
    assert f'href="/console/catalog/district/{chaoyang}"' in console
    landing = client.get("/console/catalog/district", follow_redirects=False)
    assert landing.headers["location"] == f"/console/catalog/district/{chaoyang}"
    tree = client.get(landing.headers["location"]).text
    assert 'data-duty="静态交通管理"' in tree and "道路停车泊位" in tree
    assert 'data-system="停车管理系统"' in tree and 'data-table="t_parking_berth"' in tree
    assert "全市公交线路" not in tree
    assert client.get(f"/console/catalog/district/{city.orgs[TRANSPORT]}").status_code == 404


def test_console_tiles_and_charts_lead_to_the_catalogue(
    client: TestClient, platform: Platform, city: City
) -> None:
    publish(platform, city, create(platform, city))
    create(platform, city, name="出租车营运信息", submit=True)
    sign_in(client, "officer")
    console = client.get("/console").text
    assert f'href="/console/catalog?provider={city.orgs[TRANSPORT]}"' in console
    assert 'data-chart="catalog_status"' in console
    assert f"/console/catalog?provider={city.orgs[TRANSPORT]}&amp;status=" in console
    client.cookies.clear()
    sign_in(client, "admin")
    admin = client.get("/console").text
    assert 'href="/console/catalog/review"' in admin and 'data-chart="catalog_theme"' in admin
    assert 'href="/console/catalog">' in admin  # the header's catalogue link


def test_the_entry_page_in_english_leaves_only_data_in_chinese(
    client: TestClient, platform: Platform, city: City
) -> None:
    entry_id = create(
        platform,
        city,
        district=CHAOYANG,
        duty="公交运营监管",
        system="公交调度系统",
        table="t_bus_stop",
        share_type="conditional",
        share_conditions="仅限交通管理用途",
        fields=[
            {"name": "站点编号", "type": "string", "element_code": "DE10001"},
            {"name": "站点名称", "type": "string", "description": "站点的标准名称"},
            {"name": "乘客身份证号", "type": "string", "flags": ["identifier"]},
        ],
        open_type="none",
        submit=True,
    )
    sign_in(client, "admin")
    text = main_text(client.get(f"/console/catalog/{entry_id}", params={"lang": "en"}).text)
    with platform.uow() as uow:
        entry = catalog.get_entry(uow, actor=city.admin, entry_id=entry_id)
        data = [entry.name, entry.summary, *entry.keywords, entry.duty, entry.system]
        data += [entry.share_conditions or "", *(f.name for f in entry.fields)]
        data += [f.description for f in entry.fields if f.description]
    for value in sorted(data, key=len, reverse=True):
        text = text.replace(value, " ")
    for name in ("市交通委", "朝阳区"):  # organisations without an English name
        text = text.replace(name, " ")
    assert not CJK.search(text), CJK.findall(text)
    assert "Shared on conditions" in text and "Personal identifier" in text
    assert "Approve and publish" in text and "Review due" in text
