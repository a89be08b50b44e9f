"""The dataset and quality pages without a browser: who sees what, the plain upload, CSRF."""

from __future__ import annotations

import re
from datetime import date

import pytest
from fastapi.testclient import TestClient

from gongshu.bootstrap import Platform
from gongshu.catalog import service as catalog
from gongshu.kernel.identifiers import make_citizen_id
from gongshu.quality.pages import trend_points
from tests.factories import HEALTH, TRANSPORT, City, entry_input, publish
from tests.web.test_catalog_pages import main_text
from tests.web.test_pages import sign_in

FIELDS = [
    {"name": "站点编号", "type": "string"},
    {"name": "站点名称", "type": "string"},
    {"name": "经度", "type": "decimal"},
    {"name": "开通日期", "type": "date"},
    {"name": "负责人身份证号", "type": "string", "flags": ["identifier"]},
]
GOOD_ID = make_citizen_id("110105", date(1980, 1, 2), 12)
BAD_ID = GOOD_ID[:-1] + ("0" if GOOD_ID[-1] != "0" else "1")  # a wrong check character
HEADER = "站点编号,站点名称,经度,开通日期,负责人身份证号,备注\n"
# Row 3 has two bad cells (a longitude and a date); row 5 a citizen ID with a wrong check digit.
CSV = (
    HEADER
    + f"S1,天安门东,116.40,2020-01-02,{GOOD_ID},\n"
    + f"S2,王府井,东经116,2020-02-30,{GOOD_ID},\n"
    + f"S3,,116.50,2021-03-04,{GOOD_ID},\n"
    + f"S4,西单,116.37,2021-05-06,{BAD_ID},\n"
).encode()


@pytest.fixture
def entry_id(platform: Platform, city: City) -> str:
    """A published entry of the transport commission with an identifier field."""
    with platform.uow() as uow:
        entry = catalog.create_entry(
            uow,
            actor=city.officer,
            data=entry_input(fields=FIELDS, open_type="none", legal_basis="含个人信息"),
        )
        uow.commit()
        made = entry.id
    publish(platform, city, made)
    return made


def upload(client: TestClient, csrf: str, entry_id: str, content: bytes = CSV, **form: str) -> str:
    """Post a file through the form without JavaScript; the redirect's location."""
    answer = client.post(
        f"/console/datasets/{entry_id}/upload",
        data={"csrf_token": csrf, **form},
        files={"file": ("stops.csv", content, "text/csv")},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def test_the_plain_upload_ingests_and_shows_the_report_then_the_version(
    client: TestClient, entry_id: str
) -> None:
    csrf = sign_in(client, "officer")
    location = upload(client, csrf, entry_id, note="首版")
    assert re.fullmatch(rf"/console/datasets/{entry_id}\?run=run_\w+#run", location)

    page = client.get(location)
    assert page.status_code == 200
    report = page.text.split('data-testid="run-report"', 1)[1].split("</section>", 1)[0]
    assert 'data-status="stored"' in page.text
    assert re.search(r'data-testid="rows-stored">3<', report)
    assert re.search(r'data-testid="rows-quarantined">1', report)
    located = re.findall(r'<tr data-row="(\d+)" data-column="([^"]+)">', report)
    assert located == [("3", "开通日期"), ("3", "经度")]
    assert "东经116" in report and "2020-02-30" in report
    assert "备注" in report  # the unmapped column is named
    version_id = re.search(
        r'href="/console/datasets/versions/(ver_\w+)" data-testid="version-link"', page.text
    )
    assert version_id

    row = re.search(r'<tr data-version="1".*?</tr>', page.text, re.S)
    assert row and "首个版本" in row[0] and 'data-testid="version-score"' in row[0]
    assert 'data-chart="quality-trend"' in page.text

    version = client.get(f"/console/datasets/versions/{version_id[1]}")
    assert version.status_code == 200
    text = main_text(version.text)
    assert "v1" in text and "stops.csv" in text and "首版" in text
    overall = re.search(r'data-testid="overall-score" data-score="([\d.]+)"', version.text)
    assert overall and 0 < float(overall[1]) < 100
    assert 'data-chart="quality-dimensions"' in version.text
    # The failing citizen ID is shown masked; the identifier's profile withholds its values.
    assert BAD_ID not in version.text and BAD_ID[:4] + "*" * 10 + BAD_ID[-4:] in version.text
    assert 'data-field="负责人身份证号" data-withheld="identifier"' in version.text
    assert GOOD_ID not in version.text
    assert (
        f'href="/console/objections/new?entry_id={entry_id}&amp;version_id={version_id[1]}"'
        in version.text
    )


def test_a_second_version_shows_its_difference_by_key(client: TestClient, entry_id: str) -> None:
    csrf = sign_in(client, "officer")
    saved = client.post(
        f"/console/datasets/{entry_id}/settings",
        data={"csrf_token": csrf, "on_error": "quarantine", "key_fields": ["站点编号"],
              "aliases": "站点名称：站名、名称\n"},
        follow_redirects=False,
    )  # fmt: skip
    assert saved.status_code == 303
    first = HEADER + f"S1,天安门东,116.40,2020-01-02,{GOOD_ID},\nS2,王府井,116.41,2020-02-03,,\n"
    second = (
        "站点编号,站名,经度,开通日期,负责人身份证号\n"
        f"S1,天安门东,116.40,2020-01-02,{GOOD_ID}\nS2,王府井站,116.41,2020-02-03,\n"
        "S3,西单,116.37,2021-05-06,\n"
    )
    upload(client, csrf, entry_id, first.encode())
    upload(client, csrf, entry_id, second.encode())
    page = client.get(f"/console/datasets/{entry_id}")
    row = re.search(r'<tr data-version="2".*?</tr>', page.text, re.S)
    assert row is not None
    cells = dict(re.findall(r'data-diff="(\w+)">([^<]+)<', row[0]))
    assert cells == {"added": "+1", "removed": "−0", "changed": "1", "unchanged": "1"}
    assert 'value="站点编号" checked' in page.text and "站点名称：站名、名称" in page.text


def test_the_reject_policy_refuses_the_file_and_lists_its_errors(
    client: TestClient, entry_id: str
) -> None:
    csrf = sign_in(client, "officer")
    client.post(
        f"/console/datasets/{entry_id}/settings",
        data={"csrf_token": csrf, "on_error": "reject"},
        follow_redirects=False,
    )
    page = client.get(upload(client, csrf, entry_id))
    assert 'data-status="refused"' in page.text and "整版拒收" in page.text
    assert len(re.findall(r"<tr data-row=", page.text)) == 2
    assert 'data-testid="version-link"' not in page.text
    assert "还没有数据版本" in page.text


def test_settings_errors_name_the_line_or_the_field(client: TestClient, entry_id: str) -> None:
    csrf = sign_in(client, "officer")
    url = f"/console/datasets/{entry_id}/settings"
    no_colon = client.post(url, data={"csrf_token": csrf, "aliases": "站点名称：站名\n只有名字"})
    assert no_colon.status_code == 422 and "aliases.line2" in no_colon.text
    assert "只有名字" in no_colon.text  # what was typed comes back
    unknown = client.post(url, data={"csrf_token": csrf, "aliases": "站号：编号"})
    assert unknown.status_code == 422 and "aliases.站号" in unknown.text
    policy = client.post(url, data={"csrf_token": csrf, "on_error": "ignore"})
    assert policy.status_code == 422 and "settings.on_error" in policy.text


def test_the_pages_show_forms_only_to_keepers_and_refuse_outsiders(
    client: TestClient, platform: Platform, city: City, entry_id: str
) -> None:
    csrf = sign_in(client, "officer")
    upload(client, csrf, entry_id)
    mine = client.get(f"/console/datasets/{entry_id}")
    assert 'data-uploader data-entry="' in mine.text and 'name="on_error"' in mine.text
    assert f'value="{csrf}"' in mine.text and 'id="uploader-text"' in mine.text
    catalogue = client.get(f"/console/catalog/{entry_id}")
    assert f'href="/console/datasets/{entry_id}" data-testid="datasets-link"' in catalogue.text
    assert 'href="/console/quality/league"' not in catalogue.text  # not in the officer's menu

    sign_in(client, "health_officer")
    other = client.get(f"/console/datasets/{entry_id}")
    assert other.status_code == 200 and 'data-version="1"' in other.text
    assert "data-uploader" not in other.text and 'name="on_error"' not in other.text
    assert "隔离出错的行，其余入库" in main_text(other.text)  # the settings, read-only
    theirs = client.cookies["gongshu_csrf"]
    refused = client.post(
        f"/console/datasets/{entry_id}/upload",
        data={"csrf_token": theirs},
        files={"file": ("stops.csv", CSV, "text/csv")},
    )
    assert refused.status_code == 403
    assert 'data-version="2"' not in client.get(f"/console/datasets/{entry_id}").text

    sign_in(client, "citizen")
    assert client.get(f"/console/datasets/{entry_id}").status_code == 403
    version_id = re.search(r"/console/datasets/versions/(ver_\w+)", mine.text)
    assert version_id
    assert client.get(f"/console/datasets/versions/{version_id[1]}").status_code == 404

    client.cookies.clear()
    anonymous = client.get(
        f"/console/datasets/{entry_id}", headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


def test_every_form_needs_the_csrf_token(client: TestClient, entry_id: str) -> None:
    sign_in(client, "admin")
    refused = [
        client.post(
            f"/console/datasets/{entry_id}/upload",
            files={"file": ("stops.csv", CSV, "text/csv")},
        ),
        client.post(f"/console/datasets/{entry_id}/settings", data={"on_error": "reject"}),
        client.post(f"/console/quality/{entry_id}/rules", data={"rules": "[]"}),
        client.post(
            "/console/quality/elements",
            data={"code": "DE1", "name": "x", "source": TRANSPORT, "csrf_token": "forged"},
        ),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403, 403]
    page = client.get(f"/console/datasets/{entry_id}")
    assert "还没有数据版本" in page.text and 'value="quarantine" checked' in page.text
    elements = client.get("/console/quality/elements")
    assert 'data-element="DE1"' not in elements.text


def test_rules_are_edited_as_json_with_errors_naming_rule_and_field(
    client: TestClient, entry_id: str
) -> None:
    csrf = sign_in(client, "officer")
    url = f"/console/quality/{entry_id}/rules"
    page = client.get(url)
    assert '<textarea id="rules" name="rules"' in page.text
    assert 'data-kind="citizen_id"' in page.text  # a default rule it inherits

    broken = client.post(url, data={"csrf_token": csrf, "rules": '[{"kind": "range",]'})
    assert broken.status_code == 422 and "第 1 行第 19 列" in broken.text
    wrong = client.post(
        url,
        data={"csrf_token": csrf, "rules": '[{"kind": "unique", "fields": ["站点编号"]},\n'
              ' {"kind": "range", "fields": ["海拔"], "params": {"min": 0}}]'},
    )  # fmt: skip
    assert wrong.status_code == 422
    assert (
        "第 2 条规则有误" in wrong.text and "海拔" in wrong.text and "rule 2.fields" in wrong.text
    )
    good = client.post(
        url,
        data={"csrf_token": csrf, "rules": '[{"kind": "range", "fields": ["经度"], '
              '"params": {"min": 73, "max": 136}}]'},
        follow_redirects=False,
    )  # fmt: skip
    assert good.status_code == 303
    assert "&#34;max&#34;: 136" in client.get(url).text

    sign_in(client, "health_officer")
    readonly = client.get(url)
    assert 'data-testid="rules-json"' in readonly.text and "<textarea" not in readonly.text
    csrf = client.cookies["gongshu_csrf"]
    assert client.post(url, data={"csrf_token": csrf, "rules": "[]"}).status_code == 403


def test_the_league_is_for_the_bureau_and_auditors(
    client: TestClient, entry_id: str, city: City
) -> None:
    csrf = sign_in(client, "officer")
    upload(client, csrf, entry_id)
    assert client.get("/console/quality/league").status_code == 403

    for who in ("admin", "auditor"):
        sign_in(client, who)
        page = client.get("/console/quality/league")
        assert page.status_code == 200
        assert 'href="/console/quality/league">数据质量</a>' in page.text  # in the menu
        table = page.text.split('data-testid="league-table-provider"', 1)[1].split("</table>")[0]
        row = re.search(rf'data-organisation="{city.orgs[TRANSPORT]}".*?</tr>', table, re.S)
        assert row and "市交通委" in row[0] and f"/console/datasets/{entry_id}" in row[0]
        assert 'data-chart="league-provider"' in page.text
        assert len(re.findall(r'data-dimension="\w+"', row[0])) == 5


def test_the_bureau_keeps_data_elements_and_sees_foreign_claims(
    client: TestClient, platform: Platform, city: City
) -> None:
    with platform.uow() as uow:  # its 站点编号 names the data element DE10001
        catalog.create_entry(uow, actor=city.officer, data=entry_input())
        uow.commit()
    csrf = sign_in(client, "admin")
    form = {"csrf_token": csrf, "code": "DE10001", "name": "站点编号", "type": "string",
            "pattern": "^S[0-9]+$", "code_list": "", "source": "nowhere"}  # fmt: skip
    unknown = client.post("/console/quality/elements", data=form)
    assert (
        unknown.status_code == 422
        and "source" in unknown.text
        and 'value="DE10001"' in unknown.text
    )
    saved = client.post(
        "/console/quality/elements", data=form | {"source": HEALTH}, follow_redirects=False
    )
    assert saved.status_code == 303
    page = client.get("/console/quality/elements")
    assert 'data-element="DE10001"' in page.text and "市卫生健康委" in page.text
    claims = page.text.split('data-testid="claims"', 1)[1].split("</table>")[0]
    # The factory's entry claims DE10001 for 站点编号 but is kept by transport, not health.
    assert "市交通委" in claims and "DE10001" in claims
    edit = client.get("/console/quality/elements?edit=DE10001")
    assert 'value="^S[0-9]+$"' in edit.text and f'value="{HEALTH}"' in edit.text

    csrf = sign_in(client, "officer")
    officer = client.get("/console/quality/elements")
    assert 'data-element="DE10001"' in officer.text and 'id="element-form"' not in officer.text
    form = form | {"csrf_token": csrf, "source": TRANSPORT}
    assert client.post("/console/quality/elements", data=form).status_code == 403


def test_a_file_that_cannot_be_read_comes_back_on_the_page(
    client: TestClient, entry_id: str
) -> None:
    csrf = sign_in(client, "officer")
    empty = client.post(
        f"/console/datasets/{entry_id}/upload",
        data={"csrf_token": csrf},
        files={"file": ("stops.csv", b"", "text/csv")},
    )
    assert empty.status_code == 422
    error = re.search(r'data-testid="form-error">([^<]+)<', empty.text)
    assert error and "stops.csv" in error[1]
    assert "还没有数据版本" in empty.text


def test_trend_points_scale_scores_between_the_margins() -> None:
    points = trend_points([(1, 100.0), (2, None), (3, 50.0)])
    assert [p["number"] for p in points] == [1, 2, 3]
    xs = [p["x"] for p in points]
    assert xs[0] < xs[1] < xs[2] and xs[1] - xs[0] == xs[2] - xs[1]
    top, middle = points[0]["y"], points[2]["y"]
    assert points[1]["y"] is None and top is not None and middle is not None
    assert top < middle  # SVG y grows downwards: 100 sits above 50
    single = trend_points([(7, 80.0)])
    assert single[0]["x"] == xs[1]  # one version is drawn in the middle


def test_the_uploader_s_api_calls_carry_the_page_s_token(client: TestClient, entry_id: str) -> None:
    csrf = sign_in(client, "officer")
    page = client.get(f"/console/datasets/{entry_id}")
    token = re.search(r'data-uploader.*?name="csrf_token" value="([^"]+)"', page.text, re.S)
    assert token and token[1] == csrf
    start = {"entry_id": entry_id, "filename": "stops.csv", "size": len(CSV)}
    assert client.post("/api/v1/datasets/uploads", json=start).status_code == 403
    started = client.post(
        "/api/v1/datasets/uploads", json=start, headers={"X-CSRF-Token": token[1]}
    )
    assert started.status_code == 201, started.text
    sent = client.patch(
        f"/api/v1/datasets/uploads/{started.json()['data']['id']}",
        content=CSV,
        headers={"X-CSRF-Token": token[1], "Upload-Offset": "0",
                 "Content-Type": "application/offset+octet-stream"},
    )  # fmt: skip
    assert sent.status_code == 200 and sent.json()["data"]["received"] == len(CSV)
