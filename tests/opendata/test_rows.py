"""The row API: paging, typed filters, sort, fields, streams, totals, access and bad input."""

from __future__ import annotations

import base64
import csv
import io
import json
import threading
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate as validate_openapi

from gongshu.bootstrap import Platform
from gongshu.opendata.runtime import runtime_for
from tests.factories import City
from tests.opendata.open_world import (
    STOPS,
    OpenWorld,
    build_open_world,
    grant_to,
    ingest,
    sign_in,
    write_csv,
)


@pytest.fixture
def world(platform: Platform, city: City, tmp_path: Path) -> OpenWorld:
    return build_open_world(platform, city, tmp_path)


def _rows(client: TestClient, world: OpenWorld, entry: str | None = None, **params: Any) -> Any:
    return client.get(
        f"/api/v1/open/datasets/{entry or world.stops}/rows",
        params=params,
        headers={"X-App-Key": world.key},
    )


def _walk(client: TestClient, world: OpenWorld, **params: Any) -> list[dict[str, Any]]:
    """Every row, following next links page by page."""
    seen: list[dict[str, Any]] = []
    answer = _rows(client, world, **params)
    while True:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        seen.extend(body["data"])
        if body["links"]["next"] is None:
            assert body["meta"]["next_cursor"] is None
            return seen
        assert len(body["data"]) == params.get("_size", 100)
        answer = client.get(body["links"]["next"], headers={"X-App-Key": world.key})


def _json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _ids(rows: list[dict[str, Any]]) -> list[str]:
    return [r["站点编号"] for r in rows]


def test_pages_follow_file_order_and_cover_every_row_once(
    client: TestClient, world: OpenWorld
) -> None:
    seen = _walk(client, world, _size=37)
    expected = [{k: _json(v) for k, v in row.items()} for row in world.stop_rows]
    assert seen == expected
    first = _rows(client, world, _size=10).json()
    assert first["meta"]["total"] == 250 and first["meta"]["total_exact"] is True
    assert [f["name"] for f in first["meta"]["fields"]] == [f["name"] for f in STOPS]
    assert first["meta"]["fields"][0]["description"] == "站点的唯一编号"


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"站点编号": "S0007"}, lambda r: r["站点编号"] == "S0007"),
        ({"站点名称__contains": "国贸"}, lambda r: "国贸" in r["站点名称"]),
        ({"线路数__gt": "9"}, lambda r: r["线路数"] is not None and r["线路数"] > 9),
        ({"线路数__lte": "2"}, lambda r: r["线路数"] is not None and r["线路数"] <= 2),
        ({"线路数__isnull": "true"}, lambda r: r["线路数"] is None),
        ({"线路数__isnull": "false", "线路数__lt": "3"},
         lambda r: r["线路数"] is not None and r["线路数"] < 3),
        ({"线路数__in": "1,5,12"}, lambda r: r["线路数"] in (1, 5, 12)),
        ({"启用日期__gte": "2024-06-01"}, lambda r: r["启用日期"] >= date(2024, 6, 1)),
        ({"更新时间__lt": "2026-01-15T00:00:00"},
         lambda r: r["更新时间"] < datetime(2026, 1, 15)),
        ({"票价__gt": "2.00"}, lambda r: r["票价"] > Decimal("2")),
        ({"票价": "2.5"}, lambda r: r["票价"] == Decimal("2.5")),
        ({"无障碍": "true", "经度__gt": "116.45"}, lambda r: r["无障碍"] and r["经度"] > 116.45),
        ({"站点名称__contains": "'); DROP TABLE rows; --"}, lambda r: False),
    ],
)  # fmt: skip
def test_filters_are_typed_by_the_field_and_match_what_python_finds(
    client: TestClient, world: OpenWorld, params: dict[str, str], keep: Any
) -> None:
    expected = [r["站点编号"] for r in world.stop_rows if keep(r)]
    assert _ids(_walk(client, world, _size=40, **params)) == expected
    exact = _rows(client, world, _total="exact", **params).json()["meta"]
    assert exact["total"] == len(expected) and exact["total_exact"] is True


def _sort_key(row: dict[str, Any], index: int, field: str, descending: bool) -> tuple[Any, ...]:
    value = row[field]
    if value is None:
        return (1, 0, index)
    return (0, -value if descending else value, index)


def _sorted_copies(
    client: TestClient, world: OpenWorld, monkeypatch: pytest.MonkeyPatch, mode: str
) -> Any:
    """Make the row store sort per request, read the sorted copies, or switch every call."""
    store = runtime_for(client.app.state, world.platform).rows  # type: ignore[attr-defined]
    build = store.sorted_table
    calls = iter(range(10_000))

    def choose(file_hash: str, rows: int, column: str, *, descending: bool) -> str | None:
        if mode == "per_request" or (mode == "mixed" and next(calls) % 2):
            return None
        return build(file_hash, rows, column, descending=descending, wait=True)

    monkeypatch.setattr(store, "sorted_table", choose)
    return store


@pytest.mark.parametrize("mode", ["per_request", "sorted_copy", "mixed"])
@pytest.mark.parametrize("descending", [False, True])
def test_sorted_keyset_paging_keeps_ties_in_file_order_and_nulls_last(
    client: TestClient,
    world: OpenWorld,
    monkeypatch: pytest.MonkeyPatch,
    descending: bool,
    mode: str,
) -> None:
    store = _sorted_copies(client, world, monkeypatch, mode)
    order = sorted(
        range(len(world.stop_rows)),
        key=lambda i: _sort_key(world.stop_rows[i], i, "线路数", descending),
    )
    sort = "-线路数" if descending else "线路数"
    seen = _walk(client, world, _sort=sort, _size=23)
    assert _ids(seen) == [world.stop_rows[i]["站点编号"] for i in order]
    by_date = _walk(client, world, _sort="-启用日期", _size=50, 无障碍="false")
    dates = [r["启用日期"] for r in by_date]
    assert dates == sorted(dates, reverse=True) and len(dates) == 166
    copies = {path.name for path in store.root.glob("*.*.*.duckdb")}
    if mode == "per_request":
        assert copies == set()
    else:  # one per field and direction asked for, named by the version's file hash
        file_hash = next(iter(copies)).split(".")[0]
        assert copies == {
            store.sorted_path(file_hash, "线路数", descending=descending).name,
            store.sorted_path(file_hash, "启用日期", descending=True).name,
        }


def test_the_first_sorted_call_builds_the_sorted_copy_in_the_background(
    client: TestClient, world: OpenWorld
) -> None:
    first = _rows(client, world, _sort="-线路数", _size=5)
    assert first.status_code == 200
    store = runtime_for(client.app.state, world.platform).rows  # type: ignore[attr-defined]
    version = store.root.glob("*.duckdb")
    base = next(path for path in version if path.name.count(".") == 1)
    file_hash = base.name.split(".")[0]
    copy = store.sorted_path(file_hash, "线路数", descending=True)
    for _ in range(200):  # the build takes a moment on its own thread
        if copy.is_file():
            break
        threading.Event().wait(0.05)
    assert copy.is_file()
    again = _rows(client, world, _sort="-线路数", _size=5)
    assert again.json()["data"] == first.json()["data"]
    cursor = again.json()["meta"]["next_cursor"]
    decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert decoded[4] == file_hash[:12] and decoded[5] == 4  # the copy's position, 0-based


@pytest.mark.parametrize("mode", ["per_request", "sorted_copy"])
def test_exact_filters_read_the_fields_sorted_copy_in_file_order(
    client: TestClient, world: OpenWorld, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    store = _sorted_copies(client, world, monkeypatch, mode)
    for params, keep in [
        ({"线路数": "3"}, lambda r: r["线路数"] == 3),
        ({"无障碍": "true", "线路数__gte": "5"},
         lambda r: r["无障碍"] and r["线路数"] is not None and r["线路数"] >= 5),
        ({"启用日期__exact": str(world.stop_rows[7]["启用日期"]), "线路数__in": "2,4,6"},
         lambda r: r["启用日期"] == world.stop_rows[7]["启用日期"] and r["线路数"] in (2, 4, 6)),
        ({"票价": "2.5", "站点名称__contains": "站"},
         lambda r: r["票价"] == Decimal("2.5") and "站" in r["站点名称"]),
    ]:  # fmt: skip
        expected = [r["站点编号"] for r in world.stop_rows if keep(r)]
        assert _ids(_walk(client, world, _size=7, **params)) == expected, params
    copies = {path.name.split(".")[2] for path in store.root.glob("*.*.*.duckdb")}
    assert copies == (set() if mode == "per_request" else {"asc"})


def test_fields_select_and_order_the_columns(client: TestClient, world: OpenWorld) -> None:
    body = _rows(client, world, _fields="票价,站点编号", _size=2, _sort="票价").json()
    assert [list(r) for r in body["data"]] == [["票价", "站点编号"]] * 2
    assert [f["name"] for f in body["meta"]["fields"]] == ["票价", "站点编号"]
    nxt = client.get(body["links"]["next"], headers={"X-App-Key": world.key}).json()
    assert list(nxt["data"][0]) == ["票价", "站点编号"]


def test_estimated_totals_say_so_and_exact_ones_count(client: TestClient, world: OpenWorld) -> None:
    many = _rows(client, world, 无障碍="false", _size=10).json()["meta"]
    assert many["total"] == 250 and many["total_exact"] is False
    assert "_total=exact" in many["total_note"]
    few = _rows(client, world, 站点名称__contains="国贸1").json()["meta"]
    expected = sum("国贸1" in r["站点名称"] for r in world.stop_rows)
    assert few["total"] == expected and few["total_exact"] is True


def test_csv_and_ndjson_stream_every_match(client: TestClient, world: OpenWorld) -> None:
    answer = _rows(client, world, _format="csv", 无障碍="true")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(answer.text)))
    expected = [r for r in world.stop_rows if r["无障碍"]]
    assert table[0] == [f["name"] for f in STOPS]
    assert [line[0] for line in table[1:]] == [r["站点编号"] for r in expected]
    assert table[1][7] == "true" and table[1][8] == str(expected[0]["票价"]) + "0000"
    lines = _rows(client, world, _format="ndjson", _sort="-站点编号", _size=5).text.splitlines()
    assert [json.loads(x)["站点编号"] for x in lines] == [
        "S0249",
        "S0248",
        "S0247",
        "S0246",
        "S0245",
    ]
    runtime = runtime_for(client.app.state, world.platform)  # type: ignore[attr-defined]
    runtime.usage.flush()
    sign_in(client, world.citizen.username)
    usage = client.get("/api/v1/open/usage").json()["data"]
    assert usage[0]["calls"] == 2 and usage[0]["rows"] == len(expected) + 5


def _error(answer: Any) -> tuple[int, str, str | None]:
    error = answer.json()["error"]
    details = error.get("details")
    path = details[0]["path"] if isinstance(details, list) and details else None
    return answer.status_code, error["code"], path


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"站点__gt": "1"}, (422, "unknown_field", "query.站点__gt")),
        ({"nonsense": "1"}, (422, "unknown_field", "query.nonsense")),
        ({"线路数__like": "1"}, (422, "unknown_operator", "query.线路数__like")),
        ({"线路数__contains": "1"}, (422, "unknown_operator", "query.线路数__contains")),
        ({"线路数__gt": "abc"}, (422, "invalid_filter_value", "query.线路数__gt")),
        ({"启用日期": "2024-13-01"}, (422, "invalid_filter_value", "query.启用日期")),
        ({"无障碍": "maybe"}, (422, "invalid_filter_value", "query.无障碍")),
        ({"线路数__isnull": "yes please"}, (422, "invalid_filter_value", "query.线路数__isnull")),
        ({"_size": "0"}, (422, "page_size_out_of_range", "query._size")),
        ({"_size": "1001"}, (422, "page_size_out_of_range", "query._size")),
        ({"_size": "ten"}, (422, "page_size_out_of_range", "query._size")),
        ({"_cursor": "%%%"}, (400, "malformed_cursor", "query._cursor")),
        ({"_cursor": "W251bGwsMCxudWxsXQ"}, (400, "malformed_cursor", "query._cursor")),
        ({"_fields": "站点编号,密码"}, (422, "unknown_field", "query._fields")),
        ({"_sort": '-"; DROP'}, (422, "unknown_field", "query._sort")),
        ({"_limit": "5"}, (422, "unknown_parameter", "query._limit")),
        ({"_format": "xml"}, (422, "unknown_parameter", "query._format")),
        ({"_total": "roughly"}, (422, "unknown_parameter", "query._total")),
    ],
)
def test_bad_input_is_refused_naming_the_parameter(
    client: TestClient, world: OpenWorld, params: dict[str, str], expected: tuple[Any, ...]
) -> None:
    assert _error(_rows(client, world, **params)) == expected


def test_a_cursor_only_continues_the_sort_it_was_made_for(
    client: TestClient, world: OpenWorld
) -> None:
    cursor = _rows(client, world, _sort="线路数", _size=5).json()["meta"]["next_cursor"]
    assert _error(_rows(client, world, _sort="-线路数", _cursor=cursor))[:2] == (
        400,
        "malformed_cursor",
    )
    forged = base64.urlsafe_b64encode(b'["\\u7ebf\\u8def\\u6570",0,"x",3]').decode()
    assert _error(_rows(client, world, _sort="线路数", _cursor=forged))[1] == "malformed_cursor"


def test_entries_that_are_not_open_are_not_found_and_say_nothing_more(
    client: TestClient, world: OpenWorld
) -> None:
    answers = [_rows(client, world, e) for e in (world.closed, world.draft, "ent_nope")]
    assert {(a.status_code, a.json()["error"]["code"]) for a in answers} == {
        (404, "dataset_not_found")
    }
    empty = _rows(client, world, world.empty)
    assert (empty.status_code, empty.json()["error"]["code"]) == (404, "data_not_available")


def test_conditional_entries_need_a_grant_and_show_only_granted_fields_and_rows(
    client: TestClient, world: OpenWorld
) -> None:
    refused = _rows(client, world, world.firms)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "access_not_granted")
    grant_to(
        world.platform, world.city, world.citizen, world.firms, row_filter={"区划": ["110105"]}
    )
    answer = _rows(client, world, world.firms, _size=100)
    rows = answer.json()["data"]
    expected = [r for r in world.firm_rows if r["区划"] == "110105"]
    assert [r["企业名称"] for r in rows] == [r["企业名称"] for r in expected]
    assert set(rows[0]) == {"企业名称", "注册资本", "区划"}
    assert "法定代表人" not in answer.text and "统一社会信用代码" not in answer.text
    hidden = _rows(client, world, world.firms, 法定代表人="法人001")
    assert _error(hidden)[:2] == (422, "unknown_field")
    widened = _rows(client, world, world.firms, 区划="110101")
    assert widened.json()["data"] == []


def test_a_file_only_grant_does_not_open_the_row_api(client: TestClient, world: OpenWorld) -> None:
    grant_to(world.platform, world.city, world.citizen, world.firms, delivery_modes=["file"])
    answer = _rows(client, world, world.firms)
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "access_not_granted")


def test_a_new_version_is_served_at_once(
    client: TestClient, world: OpenWorld, tmp_path: Path
) -> None:
    assert _rows(client, world, _size=1).json()["meta"]["total"] == 250
    fresh = world.stop_rows[:40]
    ingest(
        world.platform,
        world.city.officer,
        world.stops,
        write_csv(tmp_path / "v2.csv", STOPS, fresh),
    )
    answer = _rows(client, world, _size=100).json()
    assert answer["meta"]["total"] == 40 and len(answer["data"]) == 40


def test_each_thread_keeps_one_duckdb_cursor(client: TestClient, world: OpenWorld) -> None:
    assert _rows(client, world, _size=1).status_code == 200
    runtime = runtime_for(client.app.state, world.platform)  # type: ignore[attr-defined]
    store = runtime.rows
    mine = store.cursor()
    assert store.cursor() is mine
    other: list[Any] = []
    worker = threading.Thread(target=lambda: other.append(store.cursor()))
    worker.start()
    worker.join()
    assert other[0] is not mine
    copies = list(store.root.glob("*.duckdb"))
    assert len(copies) == 1  # built once, reused by every call


def test_the_dataset_openapi_document_is_valid_and_lists_the_real_filters(
    client: TestClient, world: OpenWorld
) -> None:
    document = client.get(f"/api/v1/open/datasets/{world.stops}/openapi.json").json()
    validate_openapi(document)
    assert document["openapi"] == "3.1.0"
    operation = document["paths"][f"/api/v1/open/datasets/{world.stops}/rows"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert params["线路数__gte"]["schema"]["type"] == "integer"
    assert params["启用日期__lt"]["schema"]["format"] == "date"
    assert params["站点名称__contains"]["schema"]["type"] == "string"
    assert "线路数__contains" not in params and "无障碍__gt" not in params
    assert params["_size"]["schema"]["maximum"] == 1000
    row = document["components"]["schemas"]["Row"]["properties"]
    assert list(row) == [f["name"] for f in STOPS]
    firms = client.get(f"/api/v1/open/datasets/{world.firms}/openapi.json").json()
    validate_openapi(firms)
    assert "grant" in firms["info"]["description"]
    closed = client.get(f"/api/v1/open/datasets/{world.closed}/openapi.json")
    assert closed.status_code == 404
