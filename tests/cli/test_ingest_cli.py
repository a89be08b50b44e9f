"""``gongshu ingest`` end to end on both databases: a version stored, a refusal reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gongshu.bootstrap import Platform
from gongshu.catalog import service as catalog
from gongshu.cli import ingest  # noqa: F401  (the command registers on import)
from gongshu.cli.main import app
from gongshu.datastore import service as datastore
from gongshu.datastore.schemas import SettingsInput
from tests.factories import City, entry_input


@pytest.fixture
def entry(platform: Platform, city: City, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    settings = platform.settings
    monkeypatch.setenv("GONGSHU_HOME", str(settings.home))
    monkeypatch.setenv("GONGSHU_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("GONGSHU_PASSWORD_HASH_PROFILE", "fast")
    monkeypatch.setenv("GONGSHU_SECRET_KEY", settings.secret_key.get_secret_value())
    monkeypatch.setenv("GONGSHU_ENV", "test")
    with platform.uow() as uow:
        made = catalog.create_entry(uow, actor=city.officer, data=entry_input())
        uow.commit()
        return made.id, made.resource_code


def test_ingest_stores_a_version_by_resource_code_and_reports_it(
    entry: tuple[str, str], tmp_path: Path, platform: Platform, city: City
) -> None:
    entry_id, code = entry
    path = tmp_path / "站点.csv"
    path.write_text("站点编号,站点名称,经度,纬度\nS1,天安门东,116.40,39.91\nS2,王府井,东经,39.92\n",
                    encoding="gb18030")  # fmt: skip
    result = CliRunner().invoke(app, ["--as", "officer", "--json", "ingest", code, str(path)])
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    assert outcome["status"] == "stored" and outcome["version"] == 1
    with platform.uow() as uow:
        versions, _ = datastore.list_versions(uow, actor=city.officer, entry_id=entry_id)
        assert [(v.rows, v.quarantined_rows) for v in versions] == [(1, 1)]


def test_a_refused_version_exits_non_zero_with_the_bad_cells(
    entry: tuple[str, str], tmp_path: Path, platform: Platform, city: City
) -> None:
    entry_id, _code = entry
    with platform.uow() as uow:
        datastore.update_settings(
            uow, actor=city.officer, entry_id=entry_id, data=SettingsInput(on_error="reject")
        )
        uow.commit()
    path = tmp_path / "stops.csv"
    path.write_text("站点编号,站点名称,经度,纬度\nS1,天安门东,abc,39.91\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["--as", "officer", "ingest", entry_id, str(path)])
    assert result.exit_code == 2
    assert "abc" in result.output and "经度" in result.output
