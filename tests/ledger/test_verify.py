"""Verification names the first bad entry for every kind of tampering, live or exported."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from gongshu.bootstrap import Platform
from gongshu.kernel.crypto import Ed25519Signer, Hasher, Sm2Signer
from gongshu.ledger import service as ledger
from gongshu.ledger.models import LedgerEntry
from gongshu.ledger.service import LedgerKeys, Pending
from gongshu.ledger.verify import export_ledger, verify_database, verify_export


@pytest.fixture(scope="module")
def keys() -> LedgerKeys:
    return LedgerKeys(
        Hasher("sm3"),
        "gongshu.test/ledger",
        (("gongshu-test", Sm2Signer.generate()), ("witness", Ed25519Signer.generate())),
    )


@pytest.fixture
def filled(platform: Platform, keys: LedgerKeys) -> Platform:
    for batch in range(3):  # 3 checkpoints: sizes 4, 8, 12
        with platform.uow() as uow:
            ledger.append_many(
                uow,
                keys=keys,
                items=[
                    Pending("grant.create", "grant", f"g{batch}{n}", {"n": n}) for n in range(4)
                ],
            )
            uow.commit()
        with platform.uow() as uow:
            ledger.make_checkpoint(uow, keys=keys)
    return platform


def _verify_db(platform: Platform, keys: LedgerKeys) -> list[str]:
    with platform.uow() as uow:
        return verify_database(uow, keys=keys).problems


def _tamper(platform: Platform, statement: str) -> None:
    with platform.engine.begin() as conn:
        conn.execute(sa.text(statement))


def test_an_untouched_log_verifies(filled: Platform, keys: LedgerKeys) -> None:
    with filled.uow() as uow:
        report = verify_database(uow, keys=keys)
    assert report.ok and (report.entries, report.checkpoints) == (12, 3)


def test_an_edited_payload_is_named(filled: Platform, keys: LedgerKeys) -> None:
    with filled.uow() as uow:
        body = uow.session.get(LedgerEntry, 5)
        assert body is not None
        forged = body.body.replace(b'"n":1', b'"n":9')
    with filled.engine.begin() as conn:
        conn.execute(sa.update(LedgerEntry).where(LedgerEntry.index == 5).values(body=forged))
    assert _verify_db(filled, keys)[0].startswith("entry 5: payload does not match")
    # Rewriting the recorded hash too does not help: the stored tree nodes still disagree.
    leaf = __import__("gongshu.ledger.merkle", fromlist=["leaf_hash"]).leaf_hash(
        keys.hasher, forged
    )
    _tamper(filled, f"UPDATE ledger_entry SET leaf_hash = '{leaf.hex()}' WHERE \"index\" = 5")
    assert _verify_db(filled, keys)[0].startswith("entry 5: stored tree node differs")


def test_a_deleted_entry_is_named(filled: Platform, keys: LedgerKeys) -> None:
    _tamper(filled, 'DELETE FROM ledger_entry WHERE "index" = 3')
    assert _verify_db(filled, keys)[0].startswith("entry 3: carries index 4")


def test_a_forged_checkpoint_is_refused(filled: Platform, keys: LedgerKeys) -> None:
    _tamper(
        filled, "UPDATE ledger_checkpoint SET note = REPLACE(note, '\n8\n', '\n7\n') WHERE size = 8"
    )
    assert _verify_db(filled, keys)[0].startswith("checkpoint 8: invalid")


@pytest.fixture
def exported(filled: Platform, keys: LedgerKeys, tmp_path: Path) -> Path:
    with filled.uow() as uow:
        assert export_ledger(uow, keys=keys, directory=tmp_path / "export") == 12
    return tmp_path / "export"


def _lines(path: Path) -> list[bytes]:
    return (path / "entries.ndjson").read_bytes().splitlines()


def _write(path: Path, lines: list[bytes]) -> None:
    (path / "entries.ndjson").write_bytes(b"".join(line + b"\n" for line in lines))


def test_an_export_verifies_offline(exported: Path) -> None:
    report = verify_export(exported)
    assert report.ok and (report.entries, report.checkpoints) == (12, 3)


def test_export_tampering_is_named(exported: Path, tmp_path: Path) -> None:
    def fresh() -> Path:
        copy = tmp_path / f"copy{len(list(tmp_path.iterdir()))}"
        shutil.copytree(exported, copy)
        return copy

    edited = fresh()
    lines = _lines(edited)
    lines[6] = lines[6].replace(b'"n":2', b'"n":3')
    _write(edited, lines)
    assert verify_export(edited).problems[0].startswith("entry 6: payload does not match")

    (edited / "leaves.txt").unlink()  # no recorded hashes: the checkpoint brackets it
    assert verify_export(edited).problems[0] == (
        "checkpoint 8: root differs from the entries — an entry between 4 and 7 was changed"
    )

    reordered = fresh()
    lines = _lines(reordered)
    lines[2], lines[3] = lines[3], lines[2]
    _write(reordered, lines)
    assert verify_export(reordered).problems[0].startswith("entry 2: carries index 3")

    inserted = fresh()
    lines = _lines(inserted)
    _write(inserted, [*lines[:9], lines[8], *lines[9:]])
    assert verify_export(inserted).problems[0].startswith("entry 9: carries index 8")

    replayed = fresh()
    shutil.copy(replayed / "checkpoints" / "4.note", replayed / "checkpoints" / "12.note")
    assert verify_export(replayed).problems[0].startswith("checkpoint 12: the note says size 4")

    forged = fresh()
    note = (forged / "checkpoints" / "12.note").read_text()
    (forged / "checkpoints" / "12.note").write_text(note.replace("\n12\n", "\n11\n"))
    assert verify_export(forged).problems[0].startswith("checkpoint 12: invalid")
