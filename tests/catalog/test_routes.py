"""The catalogue over HTTP: JSON API, spreadsheets, and DCAT-AP documents for harvesters."""

from __future__ import annotations

import io

import openpyxl
import pytest
from fastapi.testclient import TestClient
from rdflib import Graph
from rdflib.namespace import DCAT, DCTERMS, RDF

from gongshu.bootstrap import Platform
from gongshu.catalog.sheets import write_xlsx
from gongshu.catalog.vocab import Column
from tests.conftest import require_or_skip
from tests.factories import City, auth, token_for

# rdflib's JSON-LD parser uses its own deprecated ConjunctiveGraph when reading documents back.
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")

ENTRY = {
    "name": "公交站点基础信息",
    "summary": "全市公交站点的名称、位置与线路",
    "keywords": ["公交", "站点"],
    "provider": "transport",
    "fields": [{"name": "站点编号"}, {"name": "站点名称"}],
    "format": "database",
    "update_frequency": "monthly",
    "share_type": "unconditional",
    "delivery": ["api"],
    "open_type": "unconditional",
    "theme": "04",
    "impact": {"public_interest": "general"},
}


def _published(
    client: TestClient, officer: dict[str, str], admin: dict[str, str], **extra: object
) -> str:
    created = client.post(
        "/api/v1/catalog/entries?submit=true", json=ENTRY | extra, headers=officer
    )
    assert created.status_code == 201, created.text
    entry_id = str(created.json()["id"])
    approved = client.post(
        f"/api/v1/catalog/entries/{entry_id}/approve", json={"publish": True}, headers=admin
    )
    assert approved.json()["status"] == "published"
    return entry_id


def test_entry_lifecycle_search_versions_and_diff(
    client: TestClient, city: City, platform: Platform
) -> None:
    officer = auth(token_for(platform, "officer"))
    admin = auth(token_for(platform, "admin"))
    created = client.post("/api/v1/catalog/entries", json=ENTRY, headers=officer)
    assert created.status_code == 201
    body = created.json()
    assert (body["status"], body["grade"], body["provider_name"]) == (
        "draft",
        "general-4",
        "市交通委",
    )
    entry_id = body["id"]
    submitted = client.post(f"/api/v1/catalog/entries/{entry_id}/submit", headers=officer).json()
    assert submitted["review_due"] == "2026-11-27"
    queue = client.get("/api/v1/catalog/review-queue", headers=admin).json()["data"]
    assert [e["id"] for e in queue] == [entry_id]
    assert client.get("/api/v1/catalog/review-queue", headers=officer).status_code == 403
    client.post(
        f"/api/v1/catalog/entries/{entry_id}/approve", json={"publish": True}, headers=admin
    )
    changed = ENTRY | {"summary": "全市公交站点的名称与位置", "keywords": ["公交"]}
    assert (
        client.put(f"/api/v1/catalog/entries/{entry_id}", json=changed, headers=officer).json()[
            "status"
        ]
        == "draft"
    )
    client.post(f"/api/v1/catalog/entries/{entry_id}/submit", headers=officer)
    client.post(
        f"/api/v1/catalog/entries/{entry_id}/approve", json={"publish": True}, headers=admin
    )
    versions = client.get(f"/api/v1/catalog/entries/{entry_id}/versions", headers=officer).json()
    assert [v["number"] for v in versions["data"]] == [2, 1]
    diff = client.get(
        f"/api/v1/catalog/entries/{entry_id}/diff?from=1&to=2", headers=officer
    ).json()["data"]
    assert {c["key"] for c in diff} == {"summary", "keywords"}
    found = client.get("/api/v1/catalog/entries", params={"q": "公交站"}, headers=officer).json()
    assert found["meta"]["total"] == 1
    assert "<mark>" in found["data"][0]["name_html"]
    assert {f["value"]: f["count"] for f in found["meta"]["facets"]["theme"]} == {"04": 1}


def test_api_errors_name_the_field(client: TestClient, city: City, platform: Platform) -> None:
    officer = auth(token_for(platform, "officer"))
    bad = client.post(
        "/api/v1/catalog/entries", json=ENTRY | {"share_type": "none", "delivery": []},
        headers=officer,
    )  # fmt: skip
    assert bad.status_code == 422
    assert "legal_basis" in bad.text
    punct = client.get("/api/v1/catalog/entries", params={"q": "？？！"}, headers=officer)
    assert punct.status_code == 422 and punct.json()["error"]["details"][0]["path"] == "q"
    long = client.get("/api/v1/catalog/entries", params={"q": "数" * 5000}, headers=officer)
    assert long.status_code == 422
    assert client.get("/api/v1/catalog/entries/ent_nope", headers=officer).status_code == 404
    citizen = auth(token_for(platform, "citizen"))
    assert client.get("/api/v1/catalog/entries", headers=citizen).status_code == 403


def test_import_and_export_over_http(client: TestClient, city: City, platform: Platform) -> None:
    officer = auth(token_for(platform, "officer"))
    row = {
        Column.NAME: "出租车运营数据", Column.SUMMARY: "巡游出租车运营里程与营收",
        Column.PROVIDER: "市交通委", Column.FIELDS: "车牌号\n营运里程|数值型",
        Column.FORMAT: "数据库", Column.FREQUENCY: "每日", Column.SHARE_TYPE: "无条件共享",
        Column.DELIVERY: "批量交换", Column.OPEN_TYPE: "不予开放", Column.THEME: "04",
    }  # fmt: skip
    files = {"file": ("taxi.xlsx", write_xlsx([row]), "application/octet-stream")}
    dry = client.post("/api/v1/catalog/imports", files=files, headers=officer).json()["data"]
    assert (dry["ok"], dry["dry_run"], dry["created"]) == (True, True, 0)
    done = client.post(
        "/api/v1/catalog/imports", files=files, data={"dry_run": "false"}, headers=officer
    ).json()["data"]
    assert done["created"] == 1
    exported = client.get("/api/v1/catalog/export.xlsx", headers=officer)
    sheet = openpyxl.load_workbook(io.BytesIO(exported.content), read_only=True).active
    assert sheet is not None
    values = [cell for row in sheet.iter_rows(values_only=True) for cell in row]
    assert "出租车运营数据" in values
    csv = client.get("/api/v1/catalog/export.csv?encoding=gb18030", headers=officer)
    assert "出租车运营数据".encode("gb18030") in csv.content
    template = client.get("/api/v1/catalog/template.xlsx", headers=officer)
    assert template.content[:2] == b"PK"


def test_dcat_shows_published_open_entries_to_everyone(
    client: TestClient, city: City, platform: Platform
) -> None:
    officer = auth(token_for(platform, "officer"))
    admin = auth(token_for(platform, "admin"))
    open_id = _published(client, officer, admin)
    closed_id = _published(
        client, officer, admin, name="道路交通事故信息", open_type="none",
        share_type="conditional", share_conditions="仅用于交通安全研判",
    )  # fmt: skip
    draft = client.post("/api/v1/catalog/entries", json=ENTRY | {"name": "草稿"}, headers=officer)
    anonymous = client.get("/catalog.ttl")
    assert anonymous.status_code == 200
    assert anonymous.headers["content-type"].startswith("text/turtle")
    graph = Graph().parse(data=anonymous.text, format="turtle")
    datasets = {str(s) for s in graph.subjects(RDF.type, DCAT.Dataset)}
    assert any(open_id in s for s in datasets)
    assert not any(closed_id in s or draft.json()["id"] in s for s in datasets)
    staff = Graph().parse(
        data=client.get("/catalog.jsonld", headers=officer).text, format="json-ld"
    )
    assert len(set(staff.subjects(RDF.type, DCAT.Dataset))) == 2
    one = client.get(f"/dataset/{open_id}.ttl")
    dataset = Graph().parse(data=one.text, format="turtle")
    titles = {str(o) for o in dataset.objects(None, DCTERMS.title)}
    assert "公交站点基础信息" in titles
    assert client.get(f"/dataset/{closed_id}.ttl").status_code == 404
    rdf = client.get("/catalog.rdf")
    assert rdf.headers["content-type"].startswith("application/rdf+xml")
    Graph().parse(data=rdf.text, format="xml")


def test_entry_iris_negotiate_between_page_and_rdf(
    client: TestClient, city: City, platform: Platform
) -> None:
    officer = auth(token_for(platform, "officer"))
    entry_id = _published(client, officer, auth(token_for(platform, "admin")))
    turtle = client.get(f"/catalog/{entry_id}", headers={"Accept": "text/turtle"},
                        follow_redirects=False)  # fmt: skip
    assert turtle.headers["location"] == f"/dataset/{entry_id}.ttl"
    json_ld = client.get(f"/catalog/{entry_id}", headers={"Accept": "application/ld+json"},
                         follow_redirects=False)  # fmt: skip
    assert json_ld.headers["location"] == f"/dataset/{entry_id}.jsonld"
    staff = client.get(f"/catalog/{entry_id}", headers=officer | {"Accept": "text/html"},
                       follow_redirects=False)  # fmt: skip
    assert staff.headers["location"] == f"/console/catalog/{entry_id}"


def test_the_served_catalogue_conforms_to_dcat_ap(
    client: TestClient, city: City, platform: Platform
) -> None:
    """End to end: what /catalog.ttl and /dataset/{id}.jsonld serve passes the SHACL shapes."""
    from pyshacl import validate

    from tests.catalog.test_dcat import SHAPES

    if not SHAPES.is_file():
        require_or_skip(f"DCAT-AP tests: the reference shapes are missing at {SHAPES}")
    officer = auth(token_for(platform, "officer"))
    admin = auth(token_for(platform, "admin"))
    entry_id = _published(client, officer, admin, district="110105")
    _published(
        client, officer, admin, name="道路交通事故信息", open_type="none",
        share_type="conditional", share_conditions="仅用于交通安全研判", delivery=["sandbox"],
    )  # fmt: skip
    shapes = Graph().parse(SHAPES, format="turtle")
    served = [
        Graph().parse(data=client.get("/catalog.ttl", headers=officer).text, format="turtle"),
        Graph().parse(data=client.get(f"/dataset/{entry_id}.jsonld").text, format="json-ld"),
    ]
    for graph in served:
        conforms, _report_graph, report = validate(graph, shacl_graph=shapes, inference="none")
        assert conforms, report


def test_facets_can_be_left_out(client: TestClient, city: City, platform: Platform) -> None:
    officer = auth(token_for(platform, "officer"))
    _published(client, officer, auth(token_for(platform, "admin")))
    with_facets = client.get("/api/v1/catalog/entries", params={"q": "公交"}, headers=officer)
    without = client.get(
        "/api/v1/catalog/entries", params={"q": "公交", "facets": "false"}, headers=officer
    )
    assert with_facets.json()["meta"]["facets"]["theme"] == [{"value": "04", "count": 1}]
    assert without.json()["meta"]["facets"] == {}
    assert without.json()["meta"]["total"] == 1
