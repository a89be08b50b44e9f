"""The ``gongshu`` command end to end on both databases: init, demo, admin verbs, failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gongshu.cli import admin, ledger, setup  # noqa: F401  (commands register on import)
from gongshu.cli.main import app
from gongshu.migrations import __file__ as migrations_file

# The newest migration: `init` brings a fresh database to it.
HEAD = max(p.name[:4] for p in (Path(migrations_file).parent / "versions").glob("0*.py"))


@pytest.fixture
def env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "GONGSHU_HOME": str(tmp_path / "var"),
        "GONGSHU_DATABASE_URL": database_url,
        "GONGSHU_PASSWORD_HASH_PROFILE": "fast",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GONGSHU_ACTOR", raising=False)
    return values


def run(*args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, (result.output, result.stderr if result.stderr else "")
    return result


def run_json(*args: str, code: int = 0) -> Any:
    return json.loads(run("--json", *args, code=code).stdout)


def test_init_demo_and_admin_verbs(env: dict[str, str], tmp_path: Path) -> None:
    first = run_json("init")
    assert first["schema_to"] == HEAD and first["calendar_years_seeded"].startswith("2004")
    assert first["signing_key"].startswith("sm2 ")
    assert (tmp_path / "var" / "keys" / "sm2-signing.key").stat().st_mode & 0o077 == 0
    assert run_json("init")["schema_from"] == HEAD

    demo = run_json("demo")
    assert demo["loaded"] and len(demo["personas"]) == 10
    assert not run_json("demo")["loaded"]

    districts = run_json(
        "--as", "bureau_admin", "org", "list", "--kind", "district", "--limit", "50"
    )
    assert len(districts) == 17
    assert {"110105", "bda"} <= {d["code"] for d in districts}

    grant = run_json(
        "--as",
        "bureau_admin",
        "grant",
        "create",
        "--organisation",
        "110105",
        "--entry",
        "demo.bus-stops",
        "--field",
        "stop_id",
        "--field",
        "name",
        "--purpose",
        "公交站点服务评估",
        "--mode",
        "api",
        "--days",
        "30",
    )
    assert grant["effective_status"] == "active"
    allowed = run_json(
        "--as",
        "district_officer",
        "grant",
        "check",
        "--entry",
        "demo.bus-stops",
        "--field",
        "name",
        "--mode",
        "api",
    )
    assert allowed["allowed"] and allowed["grant_id"] == grant["id"]
    run_json("--as", "bureau_admin", "grant", "revoke", grant["id"], "--reason", "评估结束")
    denied = run_json(
        "--as",
        "district_officer",
        "grant",
        "check",
        "--entry",
        "demo.bus-stops",
        "--field",
        "name",
        "--mode",
        "api",
        code=4,
    )
    assert not denied["allowed"]

    token = run_json("--as", "dept_officer", "token", "create", "script", "--scope", "read")
    assert token["token"].startswith("gs_tok_")
    assert [t["name"] for t in run_json("--as", "dept_officer", "token", "list")] == ["script"]

    trail = run_json("--as", "auditor", "audit", "search", "--action", "grant.")
    assert {r["action"] for r in trail} == {"grant.create", "grant.revoke", "grant.suspend"}


def test_permission_and_identity_errors_are_one_clear_line(env: dict[str, str]) -> None:
    run("init")
    run("demo")
    no_actor = run("org", "list", code=3)
    assert "--as" in no_actor.stderr
    refused = run("--as", "dept_officer", "org", "create", "x1", "私设机构", "department", code=4)
    assert "permission_denied" in refused.stderr and "Traceback" not in refused.output
    duty = run("--as", "bureau_admin", "user", "add-role", "auditor", "dept_officer@110105", code=4)
    assert "duty_conflict" in duty.stderr


def test_calendar_import_reads_gb18030_files(env: dict[str, str], tmp_path: Path) -> None:
    run("init")
    run("demo")
    schedule = tmp_path / "2027.csv"
    schedule.write_bytes(
        "日期,类型,名称\n2027-01-01,休,元旦\n2027-02-07,班,春节调休\n".encode("gb18030")
    )
    result = run_json("--as", "bureau_admin", "calendar", "import", "2027", str(schedule))
    assert (result["holidays"], result["makeup_workdays"]) == (1, 1)
    due = run_json("--as", "dept_officer", "calendar", "deadline", "2026-12-31", "1")
    assert due["due"] == "2027-01-04" and due["warnings"] == []


def test_an_unreachable_database_is_one_line_and_a_non_zero_exit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GONGSHU_HOME", str(tmp_path))
    monkeypatch.setenv(
        "GONGSHU_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/nowhere?connect_timeout=2"
    )
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 8
    assert "database_unavailable" in result.stderr and "127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) <= 2
