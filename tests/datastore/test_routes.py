"""The dataset API: multipart upload, resumable chunks, background runs, settings, versions."""

from __future__ import annotations

import time
from io import BytesIO

import openpyxl
import pytest
from fastapi.testclient import TestClient

from gongshu.bootstrap import Platform
from gongshu.catalog import service as catalog
from tests.factories import City, auth, entry_input, publish, token_for

FIELDS = [
    {"name": "站点编号", "type": "string"},
    {"name": "站点名称", "type": "string"},
    {"name": "经度", "type": "decimal"},
    {"name": "纬度", "type": "decimal"},
]
CSV = "站点编号,站点名称,经度,纬度\nS1,天安门东,116.40,39.91\nS2,王府井,116.41,39.92\n".encode()


@pytest.fixture
def entry_id(platform: Platform, city: City) -> str:
    with platform.uow() as uow:
        entry = catalog.create_entry(uow, actor=city.officer, data=entry_input(fields=FIELDS))
        uow.commit()
        entry_id = entry.id
    publish(platform, city, entry_id)
    return entry_id


@pytest.fixture
def officer(platform: Platform, city: City) -> dict[str, str]:
    return auth(token_for(platform, "officer"))


def test_a_multipart_upload_stores_a_version_that_the_api_lists(
    client: TestClient, entry_id: str, officer: dict[str, str]
) -> None:
    answer = client.post(
        f"/api/v1/datasets/{entry_id}/versions", headers=officer,
        files={"file": ("stops.csv", CSV, "text/csv")}, data={"note": "首版"},
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    body = answer.json()["data"]
    assert body["status"] == "stored" and body["report"]["rows_stored"] == 2
    listed = client.get(f"/api/v1/datasets/{entry_id}/versions", headers=officer).json()["data"]
    assert [(v["number"], v["rows"], v["note"]) for v in listed] == [(1, 2, "首版")]
    one = client.get(f"/api/v1/datasets/versions/{listed[0]['id']}", headers=officer).json()
    assert one["data"]["source_name"] == "stops.csv"
    run = client.get(f"/api/v1/datasets/runs/{body['run_id']}", headers=officer).json()["data"]
    assert run["status"] == "stored" and run["version_id"] == listed[0]["id"]


def test_a_resumable_upload_resumes_at_the_right_byte_and_ingests_in_the_background(
    client: TestClient, entry_id: str, officer: dict[str, str]
) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "站点"
    sheet.append(["北京市公交站点（2025年）"])
    sheet.merge_cells("A1:D1")
    sheet.append(["站点编号", "站点名称", "经度", "纬度"])
    for n in range(50):
        sheet.append([f"S{n}", f"站{n}", 116 + n / 100, 39.9])
    data = BytesIO()
    book.save(data)
    raw = data.getvalue()
    started = client.post(
        "/api/v1/datasets/uploads", headers=officer,
        json={"entry_id": entry_id, "filename": "stops.xlsx", "size": len(raw), "sheet": "站点"},
    )  # fmt: skip
    assert started.status_code == 201, started.text
    upload_id = started.json()["data"]["id"]
    half = len(raw) // 2
    sent = client.patch(
        f"/api/v1/datasets/uploads/{upload_id}",
        headers=officer | {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        content=raw[:half],
    )  # fmt: skip
    assert sent.json()["data"]["received"] == half
    early = client.post(f"/api/v1/datasets/uploads/{upload_id}/ingest", headers=officer)
    assert early.status_code == 409
    wrong = client.patch(
        f"/api/v1/datasets/uploads/{upload_id}",
        headers=officer | {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        content=raw[half:],
    )  # fmt: skip
    assert wrong.status_code == 409 and wrong.json()["error"]["details"]["received"] == half
    where = client.get(f"/api/v1/datasets/uploads/{upload_id}", headers=officer).json()["data"]
    rest = client.patch(
        f"/api/v1/datasets/uploads/{upload_id}",
        headers=officer | {"Upload-Offset": str(where["received"]),
                           "Content-Type": "application/offset+octet-stream"},
        content=raw[where["received"]:],
    )  # fmt: skip
    assert rest.json()["data"]["received"] == len(raw)
    queued = client.post(f"/api/v1/datasets/uploads/{upload_id}/ingest?wait=false", headers=officer)
    assert queued.status_code == 202, queued.text
    run_id = queued.json()["data"]["run_id"]
    for _ in range(200):
        run = client.get(f"/api/v1/datasets/runs/{run_id}", headers=officer).json()["data"]
        if run["status"] != "running" and not run["phase"]:  # stored, and assessed
            break
        time.sleep(0.05)
    assert run["status"] == "stored", run
    assert run["report"]["rows_stored"] == 50 and run["report"]["header_rows"] == 1
    gone = client.get(f"/api/v1/datasets/uploads/{upload_id}", headers=officer)
    assert gone.status_code == 404


def test_settings_are_checked_against_the_entry_s_fields(
    client: TestClient, entry_id: str, officer: dict[str, str], platform: Platform
) -> None:
    bad = client.put(
        f"/api/v1/datasets/{entry_id}/settings", headers=officer,
        json={"on_error": "reject", "key_fields": ["站号"]},
    )  # fmt: skip
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["path"] == "key_fields.0"
    good = client.put(
        f"/api/v1/datasets/{entry_id}/settings", headers=officer,
        json={"on_error": "reject", "key_fields": ["站点编号"], "aliases": {"站点名称": ["站名"]}},
    )  # fmt: skip
    assert good.status_code == 200
    read = client.get(f"/api/v1/datasets/{entry_id}/settings", headers=officer).json()["data"]
    assert read["on_error"] == "reject" and read["aliases"] == {"站点名称": ["站名"]}
    health = auth(token_for(platform, "health_officer"))
    refused = client.put(
        f"/api/v1/datasets/{entry_id}/settings", headers=health, json={"on_error": "quarantine"}
    )
    assert refused.status_code == 403
    upload = client.post(
        f"/api/v1/datasets/{entry_id}/versions", headers=health,
        files={"file": ("stops.csv", CSV, "text/csv")},
    )  # fmt: skip
    assert upload.status_code == 403
