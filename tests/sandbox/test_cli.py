"""`gongshu sandbox`: a guarded query, the grants and the history in the terminal."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from gongshu.cli import sandbox  # noqa: F401  (commands register on import)
from gongshu.cli.main import app
from tests.sandbox.conftest import K, World


def _cli(world: World, monkeypatch: pytest.MonkeyPatch, *args: str, code: int = 0) -> Any:
    settings = world.platform.settings
    monkeypatch.setenv("GONGSHU_HOME", str(settings.home))
    monkeypatch.setenv("GONGSHU_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("GONGSHU_ACTOR", "operator")
    result = CliRunner().invoke(app, ["--json", *args])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if result.stdout.strip() else None


def test_a_query_from_the_terminal_is_guarded_and_recorded(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    grants = _cli(world, monkeypatch, "sandbox", "grants")
    assert {g["id"] for g in grants} == {world.aggregate, world.jobs_grant, world.dp}
    sql = f'SELECT 区划, count(*) AS n FROM "{world.persons_code}" GROUP BY 区划'
    result = _cli(world, monkeypatch, "sandbox", "query", "--grant", world.aggregate, "--sql", sql)
    assert all(n >= K for _, n in result["rows"])
    assert result["suppressed_groups"] == 1
    refused = CliRunner().invoke(
        app, ["sandbox", "query", "-g", world.aggregate, "--sql", "INSTALL httpfs"]
    )
    assert refused.exit_code != 0 and "statement_not_allowed" in refused.output
    history = _cli(world, monkeypatch, "sandbox", "history")
    assert [q["outcome"] for q in history] == ["refused", "released"]
