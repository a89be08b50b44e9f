"""Downloads: CSV with BOM, XLSX, JSON, Parquet and a Frictionless Data Package that
``frictionless`` validates; anonymous for unconditional data, key and grant for conditional."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import frictionless
import openpyxl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gongshu.bootstrap import Platform
from gongshu.kernel.clock import local_date
from gongshu.opendata.models import DownloadCount, UsageCount
from gongshu.opendata.runtime import runtime_for
from tests.factories import City
from tests.live import serving
from tests.opendata.open_world import STOPS, OpenWorld, build_open_world, grant_to

BOM = b"\xef\xbb\xbf"


@pytest.fixture
def world(platform: Platform, city: City, tmp_path: Path) -> OpenWorld:
    return build_open_world(platform, city, tmp_path)


def _url(world: OpenWorld, name: str, entry: str | None = None) -> str:
    return f"/api/v1/open/datasets/{entry or world.stops}/{name}"


def _flush(client: TestClient, world: OpenWorld) -> None:
    app: Any = client.app
    runtime_for(app.state, world.platform).usage.flush()


def test_csv_has_a_bom_chinese_headers_and_every_row(client: TestClient, world: OpenWorld) -> None:
    answer = client.get(_url(world, "download.csv"))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith("attachment;") and "filename*=UTF-8''" in disposition
    assert answer.content.startswith(BOM)
    table = list(csv.reader(io.StringIO(answer.content[3:].decode("utf-8"))))
    assert table[0] == [f["name"] for f in STOPS]
    assert [r[0] for r in table[1:]] == [r["站点编号"] for r in world.stop_rows]
    again = client.get(_url(world, "download.csv"))
    assert again.content == answer.content  # the same cut, served again


def test_xlsx_json_and_parquet_hold_the_same_rows(client: TestClient, world: OpenWorld) -> None:
    names = [f["name"] for f in STOPS]
    xlsx = client.get(_url(world, "download.xlsx"))
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True).active
    assert sheet is not None
    cells = list(sheet.iter_rows(values_only=True))
    assert list(cells[0]) == names and len(cells) == 251
    first = dict(zip(names, cells[1], strict=True))
    assert first["站点编号"] == "S0000"
    assert first["启用日期"].date() == world.stop_rows[0]["启用日期"]  # Excel keeps dates as times
    assert first["无障碍"] is True and Decimal(str(first["票价"])) == world.stop_rows[0]["票价"]
    data = json.loads(client.get(_url(world, "download.json")).content)
    assert [r["站点编号"] for r in data] == [r["站点编号"] for r in world.stop_rows]
    assert data[0]["线路数"] == world.stop_rows[0]["线路数"]
    parquet = client.get(_url(world, "download.parquet"))
    assert parquet.content[:4] == b"PAR1"
    path = Path(world.platform.settings.home) / "check.parquet"
    path.write_bytes(parquet.content)
    con = duckdb.connect()
    described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
    assert [c[0] for c in described] == names
    total, fares = con.execute(
        f"SELECT count(*), sum(\"票价\") FROM read_parquet('{path}')"
    ).fetchone()
    assert total == 250 and fares == sum(r["票价"] for r in world.stop_rows)
    con.close()


def test_the_zipped_data_package_passes_frictionless_validation(
    client: TestClient, world: OpenWorld, tmp_path: Path
) -> None:
    answer = client.get(_url(world, "datapackage.zip"))
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    target = tmp_path / "package.zip"
    target.write_bytes(answer.content)
    with zipfile.ZipFile(target) as archive:
        descriptor = json.loads(archive.read("datapackage.json"))
        resource = descriptor["resources"][0]
        inner = archive.read(resource["path"])
    assert inner.startswith(BOM)
    assert resource["hash"] == "sha256:" + hashlib.sha256(inner).hexdigest()
    types = {f["name"]: f["type"] for f in resource["schema"]["fields"]}
    assert types == {
        "站点编号": "string", "站点名称": "string", "线路数": "integer", "经度": "number",
        "纬度": "number", "启用日期": "date", "更新时间": "datetime", "无障碍": "boolean",
        "票价": "number",
    }  # fmt: skip
    report = frictionless.validate(str(target))
    assert report.valid, report.flatten(["type", "note"])
    assert report.tasks[0].stats["rows"] == 250


def test_a_broken_package_fails_the_same_validation(tmp_path: Path) -> None:
    """The validation above can fail: a wrong type in the schema is caught."""
    (tmp_path / "data.csv").write_bytes(BOM + "线路数\n3\n三\n".encode())
    descriptor = {
        "name": "broken",
        "resources": [
            {"name": "data", "path": "data.csv", "format": "csv",
             "schema": {"fields": [{"name": "线路数", "type": "integer"}]}},
        ],
    }  # fmt: skip
    (tmp_path / "datapackage.json").write_text(json.dumps(descriptor, ensure_ascii=False))
    assert not frictionless.validate(str(tmp_path / "datapackage.json")).valid


@pytest.fixture
def live(platform: Platform) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, so URLs in descriptors resolve."""
    with serving(platform.app) as url:
        yield url


def test_datapackage_json_points_at_the_csv_download_and_validates_remotely(
    live: str, world: OpenWorld, tmp_path: Path
) -> None:
    import httpx

    with httpx.Client(base_url=live, timeout=30) as http:
        descriptor = http.get(_url(world, "datapackage.json")).json()
        resource = descriptor["resources"][0]
        assert resource["path"] == f"{live}{_url(world, 'download.csv')}"
        assert descriptor["title"] == "公交站点（开放测试）" and descriptor["licenses"]
        csv_bytes = http.get(resource["path"]).content
    assert resource["bytes"] == len(csv_bytes)
    path = tmp_path / "datapackage.json"
    path.write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")
    report = frictionless.validate(str(path))
    assert report.valid, report.flatten(["type", "note"])


def test_conditional_downloads_need_a_key_with_a_file_grant(
    client: TestClient, world: OpenWorld
) -> None:
    url = _url(world, "download.csv", world.firms)
    anonymous = client.get(url)
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (401, "app_key_required")
    keyed = client.get(url, headers={"X-App-Key": world.key})
    assert (keyed.status_code, keyed.json()["error"]["code"]) == (403, "access_not_granted")
    grant_to(world.platform, world.city, world.citizen, world.firms)  # api only
    assert client.get(url, headers={"X-App-Key": world.key}).status_code == 403
    grant_to(
        world.platform, world.city, world.citizen, world.firms,
        delivery_modes=["file"], fields=["企业名称", "区划"], row_filter={"区划": ["110101"]},
    )  # fmt: skip
    answer = client.get(url, headers={"X-App-Key": world.key})
    assert answer.status_code == 200 and answer.headers["cache-control"] == "private, no-store"
    table = list(csv.reader(io.StringIO(answer.content[3:].decode())))
    expected = [r["企业名称"] for r in world.firm_rows if r["区划"] == "110101"]
    assert table[0] == ["企业名称", "区划"] and [r[0] for r in table[1:]] == expected
    assert "法人" not in answer.content.decode()
    package = client.get(
        _url(world, "datapackage.json", world.firms), params={"app_key": world.key}
    )
    fields = package.json()["resources"][0]["schema"]["fields"]
    assert [f["name"] for f in fields] == ["企业名称", "区划"]


def test_non_open_entries_and_unknown_formats_are_not_found(
    client: TestClient, world: OpenWorld
) -> None:
    for entry in (world.closed, world.draft, "ent_nothing"):
        answer = client.get(_url(world, "download.csv", entry))
        assert (answer.status_code, answer.json()["error"]["code"]) == (404, "dataset_not_found")
    assert client.get(_url(world, "download.xml")).status_code == 404
    empty = client.get(_url(world, "datapackage.json", world.empty))
    assert (empty.status_code, empty.json()["error"]["code"]) == (404, "data_not_available")


def test_downloads_are_counted_per_format_and_day(
    client: TestClient, world: OpenWorld, platform: Platform
) -> None:
    for name in ("download.csv", "download.csv", "download.parquet", "datapackage.zip"):
        assert client.get(_url(world, name)).status_code == 200
    assert client.get(_url(world, "download.json"), headers={"X-App-Key": world.key}).is_success
    _flush(client, world)
    with platform.uow() as uow:
        counted = uow.session.execute(
            sa.select(DownloadCount.format, DownloadCount.count, DownloadCount.day).order_by(
                DownloadCount.format
            )
        ).all()
        calls = uow.session.execute(sa.select(UsageCount.calls, UsageCount.rows)).all()
        today = local_date(uow.clock.now())
    assert [tuple(r) for r in counted] == [
        ("csv", 2, today), ("datapackage.zip", 1, today), ("json", 1, today),
        ("parquet", 1, today),
    ]  # fmt: skip
    assert [tuple(c) for c in calls] == [(1, 250)]  # the keyed download is a call too
    stats = client.get("/api/v1/open/stats").json()
    assert stats["downloads"] == 5 and stats["api_calls"] == 1


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def test_json_download_values_are_typed(client: TestClient, world: OpenWorld) -> None:
    data = json.loads(client.get(_url(world, "download.json")).content)
    expected = world.stop_rows[3]
    got = data[3]
    assert got["线路数"] == expected["线路数"]  # None for this row: null, not ""
    assert got["启用日期"] == expected["启用日期"].isoformat()
    assert isinstance(got["经度"], float) and got["无障碍"] is expected["无障碍"]


def test_prune_deletes_superseded_copies_and_unused_downloads_for_cron(
    client: TestClient, world: OpenWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from typer.testing import CliRunner

    from gongshu.cli import opendata as _commands  # noqa: F401  (commands register)
    from gongshu.cli.main import app
    from tests.opendata.open_world import ingest, write_csv

    key = {"X-App-Key": world.key}
    rows = f"/api/v1/open/datasets/{world.stops}/rows"
    # Version 2 has rows no other entry has (version 1's file is also two other entries').
    ingest(world.platform, world.city.officer, world.stops,
           write_csv(tmp_path / "v2.csv", STOPS, world.stop_rows[:40]))  # fmt: skip
    assert client.get(rows, headers=key).json()["meta"]["total"] == 40
    first = client.get(_url(world, "download.csv")).content
    store = runtime_for(client.app.state, world.platform)  # type: ignore[attr-defined]
    [old_copy] = store.rows.root.glob("*.duckdb")
    [download] = store.downloads.root.glob("*/*.csv")
    ingest(world.platform, world.city.officer, world.stops,
           write_csv(tmp_path / "v3.csv", STOPS, world.stop_rows[:30]))  # fmt: skip
    assert client.get(rows, headers=key).json()["meta"]["total"] == 30
    [new_copy] = [p for p in store.rows.root.glob("*.duckdb") if p != old_copy]
    month_ago = time.time() - 31 * 86400
    os.utime(download, (month_ago, month_ago))
    monkeypatch.setenv("GONGSHU_HOME", str(world.platform.settings.home))
    monkeypatch.setenv("GONGSHU_DATABASE_URL", str(world.platform.settings.database_url))
    monkeypatch.setenv("GONGSHU_PASSWORD_HASH_PROFILE", "fast")
    monkeypatch.delenv("GONGSHU_ACTOR", raising=False)

    def prune(*before: str, code: int = 0) -> Any:
        result = CliRunner().invoke(app, ["--json", *before, "open", "prune", "--days", "30"])
        assert result.exit_code == code, result.output
        return json.loads(result.stdout) if code == 0 else None

    prune("--as", "officer", code=4)  # only the bureau or cron
    done = prune()
    assert (done["serving_copies"], done["download_files"]) == (1, 1) and done["bytes"] > 0
    assert not old_copy.exists() and new_copy.exists() and not download.exists()
    assert prune() == {"serving_copies": 0, "download_files": 0, "bytes": 0}
    # What was deleted is built again on demand: the server still reads the latest copy.
    assert client.get(rows, headers=key).json()["meta"]["total"] == 30
    assert client.get(_url(world, "download.csv")).content != first  # the new version's rows
