"""State changes reach the ledger in their own transaction; anyone can check the proofs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gongshu.bootstrap import Platform
from gongshu.cli import admin, ledger, setup  # noqa: F401  (commands register on import)
from gongshu.cli.main import app
from gongshu.identity import grants as grant_service
from gongshu.kernel.crypto import Hasher
from gongshu.ledger import service as ledger_service
from gongshu.ledger.checkpoint import verify_note
from gongshu.ledger.merkle import verify_consistency, verify_inclusion
from gongshu.ledger.models import LedgerEntry
from tests.factories import City, make_grant


def _kinds(platform: Platform) -> list[str]:
    with platform.uow() as uow:
        return list(uow.session.scalars(sa.select(LedgerEntry.kind).order_by(LedgerEntry.index)))


def test_grant_changes_are_anchored_and_refused_changes_are_not(
    platform: Platform, city: City
) -> None:
    before = _kinds(platform)
    assert before.count("organisation.create") == 10 and "user.create" not in before
    grant_id = make_grant(platform, city.admin)
    with platform.uow() as uow, pytest.raises(Exception, match="revoked"):
        grant_service.revoke_grant(uow, actor=city.admin, grant_id=grant_id, reason="一")
        grant_service.revoke_grant(uow, actor=city.admin, grant_id=grant_id, reason="二")
    assert _kinds(platform)[len(before) :] == ["grant.create", "grant.revoke"]
    with platform.uow() as uow:
        last = ledger_service.entries(uow, start=len(before) + 1, end=len(before) + 2)[0]
        body = json.loads(last.body)
    assert body["subject"] == {"type": "grant", "id": grant_id}
    assert body["payload"]["after"]["status"] == "revoked"


def test_anyone_checks_proofs_over_http(platform: Platform, city: City, client: TestClient) -> None:
    make_grant(platform, city.admin)
    with platform.uow() as uow:
        ledger_service.make_checkpoint(uow, keys=platform.ledger_keys)
    checkpoint = client.get("/api/v1/ledger/checkpoint").json()  # no credentials needed
    keys = client.get("/api/v1/ledger/keys").json()
    verifiers = {
        n: (k["algorithm"], bytes.fromhex(k["public_key"])) for n, k in keys["keys"].items()
    }
    signed = verify_note(checkpoint["note"], verifiers, origin=keys["origin"])
    size = signed.size
    hasher = Hasher(keys["hash_algorithm"])
    entry = client.get("/api/v1/ledger/entries", params={"start": size - 1, "end": size}).json()[
        "data"
    ][0]
    proof = client.get(
        "/api/v1/ledger/proof/inclusion", params={"hash": entry["leaf_hash"], "size": size}
    ).json()
    assert proof["index"] == size - 1
    assert verify_inclusion(
        hasher,
        bytes.fromhex(entry["leaf_hash"]),
        size - 1,
        size,
        [bytes.fromhex(p) for p in proof["proof"]],
        signed.root,
    )
    consistency = client.get(
        "/api/v1/ledger/proof/consistency", params={"first": 3, "second": size}
    ).json()
    assert verify_consistency(
        hasher,
        3,
        size,
        bytes.fromhex(consistency["first_root"]),
        signed.root,
        [bytes.fromhex(p) for p in consistency["proof"]],
    )
    out_of_range = client.get(
        "/api/v1/ledger/proof/inclusion", params={"index": size, "size": size}
    )
    assert out_of_range.status_code == 422


def test_cli_checkpoint_export_and_verify(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GONGSHU_HOME", str(tmp_path / "var"))
    monkeypatch.setenv("GONGSHU_DATABASE_URL", database_url)
    monkeypatch.setenv("GONGSHU_PASSWORD_HASH_PROFILE", "fast")
    monkeypatch.setenv("GONGSHU_LEDGER_WITNESS", "true")
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> dict[str, object]:
        result = runner.invoke(app, ["--json", *args])
        assert result.exit_code == code, (result.stdout, result.stderr)
        parsed: dict[str, object] = json.loads(result.stdout)
        return parsed

    runner.invoke(app, ["init"])
    runner.invoke(app, ["demo"])
    note = run("ledger", "checkpoint")["note"]
    assert isinstance(note, str) and "\n— gongshu " in note and "\n— witness " in note
    assert run("ledger", "verify")["ok"]
    exported = tmp_path / "export"
    assert run("ledger", "export", str(exported))["entries"] == run("ledger", "status")["entries"]
    assert run("ledger", "verify", "--export", str(exported))["ok"]
    lines = (exported / "entries.ndjson").read_bytes().splitlines()
    lines[100] = lines[100].replace(b'"organisation.create"', b'"organisation.delete"')
    (exported / "entries.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    broken = run("ledger", "verify", "--export", str(exported), code=9)
    assert str(broken["first_problem"]).startswith("entry 100:")


def test_the_public_entry_page_checks_the_proof(
    platform: Platform, city: City, client: TestClient
) -> None:
    pending = client.get("/ledger/3", headers={"Accept": "text/html"})
    assert pending.status_code == 200 and 'data-testid="pending"' in pending.text
    with platform.uow() as uow:
        ledger_service.make_checkpoint(uow, keys=platform.ledger_keys)
    page = client.get("/ledger/3", headers={"Accept": "text/html"}).text
    assert 'data-testid="verified"' in page and "organisation.create" in page
    english = client.get("/ledger/3", params={"lang": "en"}).text
    assert "Verified: this entry is included" in english
    assert client.get("/ledger/999", headers={"Accept": "text/html"}).status_code == 404
