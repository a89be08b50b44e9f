"""Ingest end to end through the service: versions, errors, policies, duplicates, diffs, safety."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa

from gongshu.bootstrap import Platform
from gongshu.catalog import service as catalog
from gongshu.catalog.errors import EntryNotFound
from gongshu.datastore import service
from gongshu.datastore.errors import VersionRefused
from gongshu.datastore.models import DatasetVersion, IngestRun
from gongshu.datastore.schemas import SettingsInput
from gongshu.kernel.audit import AuditRecord
from gongshu.kernel.errors import InvalidInput, PermissionDenied
from gongshu.kernel.identifiers import make_citizen_id
from gongshu.ledger.models import LedgerEntry
from tests.factories import City, entry_input, publish

FIELDS = [
    {"name": "公民身份号码", "type": "string", "flags": ["identifier"]},
    {"name": "姓名", "type": "string", "flags": ["sensitive"]},
    {"name": "乘车次数", "type": "integer"},
    {"name": "办卡日期", "type": "date"},
]


def _ids(n: int) -> list[str]:
    from datetime import date

    return [make_citizen_id("110105", date(1980 + i % 30, 1 + i % 12, 1 + i % 28), 10 + i)
            for i in range(n)]  # fmt: skip


@pytest.fixture
def entry_id(platform: Platform, city: City) -> str:
    with platform.uow() as uow:
        entry = catalog.create_entry(
            uow, actor=city.officer,
            data=entry_input(name="公交卡持卡人信息", fields=FIELDS, open_type="none",
                             impact={"rights": "serious"}),
        )  # fmt: skip
        uow.commit()
        entry_id = entry.id
    publish(platform, city, entry_id)
    return entry_id


def _csv(path: Path, rows: list[list[str]], *, encoding: str = "utf-8") -> Path:
    header = "公民身份号码,姓名,乘车次数,办卡日期\n"
    body = "".join(",".join(row) + "\n" for row in rows)
    path.write_bytes((header + body).encode(encoding))
    return path


def _ingest(platform: Platform, city: City, entry_id: str, path: Path, **kw: Any) -> Any:
    return service.ingest_file(
        platform.datastore, actor=kw.pop("actor", city.officer), entry_id=entry_id, path=path,
        filename=path.name, **kw,
    )  # fmt: skip


def _rows(platform: Platform, version_id: str) -> list[tuple[Any, ...]]:
    with platform.uow() as uow:
        version = uow.session.get(DatasetVersion, version_id)
        assert version is not None
        path = platform.datastore.path_of(version)
    return duckdb.sql(f"SELECT * FROM read_parquet('{path}') ORDER BY 1").fetchall()


def test_a_gb18030_csv_becomes_a_typed_version_with_its_ledger_entry(
    platform: Platform, city: City, entry_id: str, tmp_path: Path
) -> None:
    ids = _ids(3)
    rows = [[ids[0], "张三", "１２", "2024/1/2"], [ids[1], "李四", "3", "2024年3月4日"],
            [ids[2], "王五", "0", "20240506"]]  # fmt: skip
    outcome = _ingest(platform, city, entry_id, _csv(tmp_path / "持卡人.csv", rows,
                                                     encoding="gb18030"))  # fmt: skip
    assert outcome.status == "stored" and outcome.number == 1
    assert outcome.report["encoding"] == "gb18030" and outcome.report["rows_stored"] == 3
    stored = _rows(platform, outcome.version_id)
    assert [r[2] for r in stored] == [12, 3, 0] or sorted(r[2] for r in stored) == [0, 3, 12]
    assert {str(r[3]) for r in stored} == {"2024-01-02", "2024-03-04", "2024-05-06"}
    with platform.uow() as uow:
        version = uow.session.get(DatasetVersion, outcome.version_id)
        assert version is not None and version.rows == 3
        assert Path(platform.datastore.path_of(version)).name == f"{version.file_hash}.parquet"
        record = uow.session.scalar(
            sa.select(AuditRecord).where(AuditRecord.action == "dataset.version_stored")
        )
        assert record is not None and record.after["file_hash"] == version.file_hash
        anchored = uow.session.scalars(sa.select(LedgerEntry)).all()
        assert any(version.file_hash in entry.body.decode() for entry in anchored)


def test_bad_cells_are_quarantined_with_their_place_and_the_rest_is_kept(
    platform: Platform, city: City, entry_id: str, tmp_path: Path
) -> None:
    ids = _ids(4)
    rows = [[ids[0], "甲", "1", "2024-01-01"], [ids[1], "乙", "很多", "2024-01-02"],
            [ids[2], "丙", "2", "2024-02-30"], [ids[3], "丁", "3", "2024-01-04"]]  # fmt: skip
    outcome = _ingest(platform, city, entry_id, _csv(tmp_path / "cards.csv", rows))
    report = outcome.report
    assert report["rows_stored"] == 2 and report["rows_quarantined"] == 2
    assert report["error_totals"] == {"乘车次数": 1, "办卡日期": 1}
    first, second = report["errors"]
    assert (first["row"], first["column"], first["value"]) == (3, "乘车次数", "很多")
    assert (second["row"], second["column"], second["value"]) == (4, "办卡日期", "2024-02-30")
    with platform.uow() as uow:
        version = uow.session.get(DatasetVersion, outcome.version_id)
        assert version is not None and version.quarantined_rows == 2
        quarantine = platform.datastore.lake.path_of(version.quarantine_hash or "")
    kept = duckdb.sql(f"SELECT _row, 乘车次数, _bad_fields FROM read_parquet('{quarantine}') "
                      "ORDER BY _row").fetchall()  # fmt: skip
    assert kept == [(3, "很多", ["乘车次数"]), (4, "2", ["办卡日期"])]


def _reject_bad_versions(platform: Platform, city: City, entry_id: str) -> None:
    """Set the entry's policy to refuse a whole version when any row is bad."""
    with platform.uow() as uow:
        service.update_settings(
            uow, actor=city.officer, entry_id=entry_id, data=SettingsInput(on_error="reject")
        )
        uow.commit()


def test_the_reject_policy_refuses_the_whole_version_and_stores_nothing(
    platform: Platform, city: City, entry_id: str, tmp_path: Path
) -> None:
    _reject_bad_versions(platform, city, entry_id)
    ids = _ids(2)
    path = _csv(
        tmp_path / "cards.csv", [[ids[0], "甲", "x", "2024-01-01"], [ids[1], "乙", "1", ""]]
    )
    with pytest.raises(VersionRefused) as refused:
        _ingest(platform, city, entry_id, path)
    assert refused.value.report["errors"][0]["column"] == "乘车次数"
    with platform.uow() as uow:
        assert uow.session.scalar(sa.select(sa.func.count()).select_from(DatasetVersion)) == 0
        run = uow.session.scalar(sa.select(IngestRun))
        assert run is not None and run.status == "refused"
    assert not any(platform.datastore.lake.files())


def test_the_same_file_again_is_stored_once_and_a_new_one_is_diffed_by_key(
    platform: Platform, city: City, entry_id: str, tmp_path: Path
) -> None:
    ids = _ids(4)
    first = [[ids[0], "甲", "1", "2024-01-01"], [ids[1], "乙", "2", "2024-01-02"],
             [ids[2], "丙", "3", "2024-01-03"]]  # fmt: skip
    path = _csv(tmp_path / "v1.csv", first)
    stored = _ingest(platform, city, entry_id, path)
    again = _ingest(platform, city, entry_id, path)
    assert again.status == "duplicate" and again.version_id == stored.version_id
    with platform.uow() as uow:
        service.update_settings(
            uow, actor=city.officer, entry_id=entry_id,
            data=SettingsInput(key_fields=["公民身份号码"]),
        )  # fmt: skip
        uow.commit()
    second = [[ids[0], "甲", "1", "2024-01-01"], [ids[1], "乙", "9", "2024-01-02"],
              [ids[3], "丁", "4", "2024-01-04"]]  # fmt: skip
    outcome = _ingest(platform, city, entry_id, _csv(tmp_path / "v2.csv", second))
    with platform.uow() as uow:
        versions, _ = service.list_versions(uow, actor=city.admin, entry_id=entry_id)
        assert [v.number for v in versions] == [2, 1]
        assert versions[0].id == outcome.version_id
        diff = versions[0].diff or {}
    assert (diff["added"], diff["removed"], diff["changed"], diff["unchanged"]) == (1, 1, 1, 1)
    assert diff["previous"] == 1 and diff["keys"] == ["公民身份号码"]


def test_columns_map_by_alias_and_unmapped_or_missing_ones_are_reported(
    platform: Platform, city: City, entry_id: str, tmp_path: Path
) -> None:
    with platform.uow() as uow:
        service.update_settings(
            uow, actor=city.officer, entry_id=entry_id,
            data=SettingsInput(aliases={"公民身份号码": ["身份证号"]}),
        )  # fmt: skip
        uow.commit()
    ids = _ids(1)
    path = tmp_path / "alias.csv"
    path.write_text(f"身份证号,姓 名*,备注\n{ids[0]},甲,无\n", encoding="utf-8")
    report = _ingest(platform, city, entry_id, path).report
    assert report["mapping"]["unmapped"] == ["备注"]
    assert report["mapping"]["missing"] == ["乘车次数", "办卡日期"]


def test_only_the_entry_s_keepers_may_upload(
    platform: Platform, city: City, entry_id: str, tmp_path: Path
) -> None:
    path = _csv(tmp_path / "x.csv", [[_ids(1)[0], "甲", "1", "2024-01-01"]])
    for actor in (city.health_officer, city.citizen):
        with pytest.raises((PermissionDenied, EntryNotFound)):
            _ingest(platform, city, entry_id, path, actor=actor)


def test_a_failure_mid_way_leaves_no_version_and_no_scratch(
    platform: Platform, city: City, entry_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _csv(tmp_path / "x.csv", [[_ids(1)[0], "甲", "1", "2024-01-01"]])

    def crash(*_args: object, **_kw: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(platform.datastore.lake, "put", crash)
    with pytest.raises(OSError, match="disk full"):
        _ingest(platform, city, entry_id, path)
    with platform.uow() as uow:
        assert uow.session.scalar(sa.select(sa.func.count()).select_from(DatasetVersion)) == 0
        run = uow.session.scalar(sa.select(IngestRun))
        assert run is not None and run.status == "failed" and "disk full" in (run.error or "")
    scratch = platform.datastore.lake.scratch_root
    assert [p.name for p in scratch.iterdir() if p.name not in ("spill",)] == []


def test_scratch_left_by_a_killed_process_is_removed_at_the_next_start(
    platform: Platform, tmp_path: Path
) -> None:
    lake = platform.datastore.lake
    dead = lake.scratch_root / "999999999-1"
    dead.mkdir(parents=True)
    (dead / ".owner").write_text("999999999")
    (dead / "stage.parquet").write_bytes(b"half")
    mine = lake.scratch_root / f"{os.getpid()}-2"
    mine.mkdir()
    (mine / ".owner").write_text(str(os.getpid()))
    assert lake.clean_scratch() == 1
    assert not dead.exists() and mine.exists()


def test_an_empty_or_header_only_file_is_a_located_error(
    platform: Platform, city: City, entry_id: str, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    header = tmp_path / "header.csv"
    header.write_text("公民身份号码,姓名,乘车次数,办卡日期\n", encoding="utf-8")
    for path in (empty, header):
        with pytest.raises(InvalidInput) as error:
            _ingest(platform, city, entry_id, path)
        assert path.name in error.value.message
    with platform.uow() as uow:
        assert uow.session.scalar(sa.select(sa.func.count()).select_from(DatasetVersion)) == 0


def test_a_csv_whose_cells_all_convert_is_typed_straight_into_the_version(
    platform: Platform, city: City, entry_id: str, tmp_path: Path
) -> None:
    # Blank cells in typed columns are looked at again and found blank, not bad; the record
    # with every cell empty is left out; no row numbers are needed, so nothing is loaded.
    ids = _ids(3)
    rows = [[ids[0], "甲", "", "2024-01-01"], ["", "", "", ""],
            [ids[1], "乙", "2", "\u3000"], [ids[2], " 丙 ", "3", "2024-01-03"]]  # fmt: skip
    outcome = _ingest(platform, city, entry_id, _csv(tmp_path / "cards.csv", rows))
    report = outcome.report
    assert (report["rows_read"], report["rows_stored"], report["rows_quarantined"]) == (3, 3, 0)
    assert report["errors"] == [] and report["error_totals"] == {}
    assert "type+write" in report["seconds"] and "load" not in report["seconds"]
    assert [(r[1], r[2], None if r[3] is None else str(r[3]))
            for r in _rows(platform, outcome.version_id)] == sorted(
        [("甲", None, "2024-01-01"), ("乙", 2, None), ("丙", 3, "2024-01-03")],
        key=lambda r: ids[["甲", "乙", "丙"].index(r[0])],
    )  # fmt: skip


def test_malformed_records_alone_keep_the_fast_path_and_are_located(
    platform: Platform, city: City, entry_id: str, tmp_path: Path
) -> None:
    ids = _ids(3)
    path = tmp_path / "cards.csv"
    path.write_text(
        "公民身份号码,姓名,乘车次数,办卡日期\n"
        f"{ids[0]},甲,1,2024-01-01\n{ids[1]},乙,2\n{ids[2]},丙,3,2024-01-03\n",
        encoding="utf-8",
    )
    outcome = _ingest(platform, city, entry_id, path)
    report = outcome.report
    assert (report["rows_stored"], report["rows_structural"], report["rows_read"]) == (2, 1, 3)
    assert [(e["row"], e["column"]) for e in report["errors"]] == [(3, "办卡日期")]
    assert "load" not in report["seconds"]
    assert sorted(r[2] for r in _rows(platform, outcome.version_id)) == [1, 3]
    with platform.uow() as uow:
        version = uow.session.get(DatasetVersion, outcome.version_id)
        assert version is not None and version.quarantined_rows == 1


def test_the_reject_policy_refuses_malformed_records_found_on_the_fast_path(
    platform: Platform, city: City, entry_id: str, tmp_path: Path
) -> None:
    _reject_bad_versions(platform, city, entry_id)
    ids = _ids(2)
    path = tmp_path / "cards.csv"
    path.write_text(
        f"公民身份号码,姓名,乘车次数,办卡日期\n{ids[0]},甲,1,2024-01-01\n{ids[1]},乙,2,x,y\n",
        encoding="utf-8",
    )
    with pytest.raises(VersionRefused) as refused:
        _ingest(platform, city, entry_id, path)
    assert [e["row"] for e in refused.value.report["errors"]] == [3]
    assert not any(platform.datastore.lake.files())
    assert not any(platform.datastore.lake.scratch_root.glob("*/version.parquet"))


def test_a_bad_cell_after_a_malformed_record_is_located_by_the_general_path(
    platform: Platform, city: City, entry_id: str, tmp_path: Path
) -> None:
    # The typed-in-place version is dropped; the file is read again with row numbers.
    ids = _ids(4)
    path = tmp_path / "cards.csv"
    path.write_text(
        "公民身份号码,姓名,乘车次数,办卡日期\n"
        f"{ids[0]},甲,1,2024-01-01\n{ids[1]},乙\n\n{ids[2]},丙,很多,2024-01-03\n"
        f"{ids[3]},丁,4,\n",
        encoding="utf-8",
    )
    outcome = _ingest(platform, city, entry_id, path)
    report = outcome.report
    assert "load" in report["seconds"]
    assert [(e["row"], e["column"], e["value"]) for e in report["errors"]] == [
        (3, "乘车次数", f"{ids[1]},乙"),  # DuckDB names each missing column
        (3, "办卡日期", f"{ids[1]},乙"),
        (4, "乘车次数", "很多"),  # the blank line before it is not counted (see sources)
    ]
    assert (report["rows_stored"], report["rows_quarantined"], report["rows_structural"]) == (
        2, 1, 1,
    )  # fmt: skip


def test_the_upload_is_hashed_while_read_unless_it_may_repeat_a_version(
    platform: Platform, city: City, entry_id: str, tmp_path: Path
) -> None:
    # Hashed beside the read (no version of this size yet), and first when one is: a same-size
    # file with other content is compared, found new, and stored; the same file is not.
    from gongshu.datastore.lake import file_digest

    ids = _ids(2)
    first = _csv(tmp_path / "a.csv", [[ids[0], "甲", "1", "2024-01-01"]])
    other = _csv(tmp_path / "b.csv", [[ids[1], "乙", "2", "2024-01-02"]])
    assert first.stat().st_size == other.stat().st_size
    stored = [_ingest(platform, city, entry_id, path) for path in (first, other, first)]
    assert [o.status for o in stored] == ["stored", "stored", "duplicate"]
    assert stored[2].version_id == stored[0].version_id
    with platform.uow() as uow:
        versions, _ = service.list_versions(uow, actor=city.admin, entry_id=entry_id)
        assert {v.source_hash for v in versions} == {file_digest(first)[0], file_digest(other)[0]}


def test_a_large_file_keeps_its_row_order_in_the_version(tmp_path: Path) -> None:
    # Read in parallel, typed and written in one COPY: the rows must stay in file order (an
    # IN list in the text typing once let DuckDB reorder them through a join).
    from gongshu.datastore import duck, ingest

    rows, texts = 300_000, 7
    path = tmp_path / "big.csv"
    named = ", ".join(
        f"CASE WHEN i % 7 = {k} THEN ' 名' || i ELSE '名' || (i * {k + 1}) END AS 名称{k}"
        for k in range(texts)
    )
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT i AS 序号, {named} FROM range({rows}) t(i)) "
            f"TO '{path}' (FORMAT csv, HEADER true)"
        )
    plans = [ingest.FieldPlan("序号", "integer")] + [
        ingest.FieldPlan(f"名称{k}", "string") for k in range(texts)
    ]
    work = tmp_path / "work"
    work.mkdir()
    with duck.connect(memory_limit="500MB", threads=2, spill=work / "spill") as con:
        staged = ingest.read_file(con, path=path, filename="big.csv", workdir=work, fields=plans)
        assert staged.version_file is not None and "load" not in staged.seconds
        out_of_order = con.execute(
            f"SELECT count(*) FILTER (WHERE 序号 <> file_row_number), count(*) FROM "
            f"read_parquet('{staged.version_file}', file_row_number = true)"
        ).fetchone()
        # Every text column had values with a space in front, from its first records: trimmed.
        untrimmed = con.execute(
            "SELECT "
            + ", ".join(f"count(*) FILTER (WHERE 名称{k} LIKE ' %')" for k in range(texts))
            + f" FROM read_parquet('{staged.version_file}')"
        ).fetchone()
    assert out_of_order == (0, rows)
    assert untrimmed == (0,) * texts and "edges" in staged.seconds


def test_text_is_trimmed_in_the_copy_where_the_first_records_need_it_and_after_it_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 早 has a spaced value among the first records: trimmed in the COPY, not read back. 晚's
    # one spaced value comes late: stored as read, found by the read-back, trimmed by writing
    # the file again. 净 needs nothing; the read-back only looks at 晚 and 净.
    from gongshu.datastore import duck, ingest

    monkeypatch.setattr(ingest, "EDGE_SAMPLE_ROWS", 100)
    asked: list[list[str]] = []
    real = ingest.edged_columns

    def edged_columns(path: Path, names: list[str], *, threads: int) -> set[str]:
        asked.append(sorted(names))
        assert threads == 2  # the connection's
        return real(path, names, threads=threads)

    monkeypatch.setattr(ingest, "edged_columns", edged_columns)
    early = {3: "\u3000"}  # after 甲3
    late = {900: "\u00a0"}  # before 乙900
    rows = [[str(i), f"甲{i}{early.get(i, '')}", f"{late.get(i, '')}乙{i}", f"丙{i}"]
            for i in range(1000)]  # fmt: skip
    path = tmp_path / "spaced.csv"
    path.write_text("序号,早,晚,净\n" + "".join(",".join(row) + "\n" for row in rows), "utf-8")
    plans = [ingest.FieldPlan("序号", "integer")] + [
        ingest.FieldPlan(name, "string") for name in ("早", "晚", "净")
    ]
    work = tmp_path / "work"
    work.mkdir()
    with duck.connect(memory_limit="500MB", threads=2, spill=work / "spill") as con:
        staged = ingest.read_file(con, path=path, filename=path.name, workdir=work, fields=plans)
        assert staged.version_file is not None and "load" not in staged.seconds
        stored = con.execute(
            f"SELECT * FROM read_parquet('{staged.version_file}') ORDER BY 序号"
        ).fetchall()
    assert asked == [["净", "晚"]]
    assert stored == [(i, f"甲{i}", f"乙{i}", f"丙{i}") for i in range(1000)]


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, (8 << 20) + 12345])
@pytest.mark.parametrize("where", ["disk", "shm"])
def test_a_direct_read_digest_is_the_files_sha256(tmp_path: Path, size: int, where: str) -> None:
    # Direct reads (the upload hashed beside its ingest) need aligned buffers and offsets, and
    # the file's tail is shorter than a block; tmpfs may refuse them, then reads go as usual.
    import hashlib

    from gongshu.datastore.lake import file_digest

    root = Path("/dev/shm") if where == "shm" and Path("/dev/shm").is_dir() else tmp_path
    path = root / f"digest-{os.getpid()}-{size}.bin"
    content = random.Random(size).randbytes(size)
    path.write_bytes(content)
    try:
        expected = (hashlib.sha256(content).hexdigest(), size)
        assert file_digest(path, direct=True) == expected
        assert file_digest(path) == expected
    finally:
        path.unlink()


def test_a_direct_read_refused_midway_goes_on_the_usual_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    from gongshu.datastore import lake

    content = random.Random(7).randbytes((8 << 20) * 2 + 99)
    path = tmp_path / "big.bin"
    path.write_bytes(content)
    calls = []
    real = os.preadv

    def refuse_second(fd: int, buffers: Any, offset: int) -> int:
        calls.append(offset)
        if len(calls) == 2:
            raise OSError(22, "Invalid argument")
        return real(fd, buffers, offset)

    monkeypatch.setattr(lake.os, "preadv", refuse_second)
    assert lake.file_digest(path, direct=True) == (
        hashlib.sha256(content).hexdigest(),
        len(content),
    )
    assert calls == [0, 8 << 20]


@pytest.mark.parametrize("large", ["none", "early", "late", "bad-cell", "bad-cell-and-early"])
def test_amounts_are_stored_narrow_unless_one_of_the_version_reaches_a_trillion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, large: str
) -> None:
    # DECIMAL(18,6) holds every amount below 10^12 yuan; one larger amount makes the whole
    # version DECIMAL(38,6). Seen among the first records, the COPY types wide at once; seen
    # later, the narrow COPY stops at it and the file is typed again; on the general path (a
    # bad cell) the staged amounts decide. The values are the same either way.
    from decimal import Decimal

    from gongshu.datastore import duck, ingest

    monkeypatch.setattr(ingest, "EDGE_SAMPLE_ROWS", 100)
    typed: list[bool] = []
    real = ingest._typed_sql

    def typed_sql(*args: Any, narrow: bool = True) -> str:
        typed.append(narrow)
        return real(*args, narrow=narrow)

    monkeypatch.setattr(ingest, "_typed_sql", typed_sql)
    amounts = {i: f"{i}.25" for i in range(1000)}
    amounts |= {5: "999999999999.999999", 6: "-1.2万", 7: "￥1,234.50", 8: ""}
    if large.endswith("early"):
        amounts[50] = "1000000000000"
    elif large == "late":
        amounts[900] = "-1000000000000.5"
    bad = large.startswith("bad-cell")
    counts = {i: "x" if bad and i == 600 else str(i) for i in range(1000)}
    path = tmp_path / "amounts.csv"
    body = "".join(f'{i},{counts[i]},"{amounts[i]}"\n' for i in range(1000))
    path.write_text("序号,次数,金额\n" + body, "utf-8")
    plans = [ingest.FieldPlan(name, kind) for name, kind in
             [("序号", "integer"), ("次数", "integer"), ("金额", "money")]]  # fmt: skip
    work = tmp_path / "work"
    work.mkdir()
    with duck.connect(memory_limit="500MB", threads=2, spill=work / "spill") as con:
        staged = ingest.read_file(con, path=path, filename=path.name, workdir=work, fields=plans)
        assert staged.version_file is not None
        source = f"read_parquet('{staged.version_file}')"
        kind = con.execute(f"SELECT typeof(金额) FROM {source} LIMIT 1").fetchone()
        stored = dict(con.execute(f"SELECT 序号, 金额 FROM {source}").fetchall())
    written = {"-1.2万": "-12000", "￥1,234.50": "1234.50"}
    expected = {
        i: None if text == "" else Decimal(written.get(text, text))
        for i, text in amounts.items()
        if not (bad and i == 600)
    }
    assert stored == expected
    assert kind == ("DECIMAL(38,6)" if large.endswith(("early", "late")) else "DECIMAL(18,6)",)
    # The fast path's COPYs: narrow, wide, or narrow then wide (then the general path if bad).
    assert typed == [not large.endswith("early")] + [False] * (large == "late")


def test_a_diff_sees_the_same_amounts_stored_narrow_and_wide_as_unchanged(tmp_path: Path) -> None:
    from gongshu.datastore.diff import diff_versions

    paths = {}
    with duckdb.connect() as con:
        for width in (18, 38):
            paths[width] = tmp_path / f"v{width}.parquet"
            con.execute(
                f"COPY (SELECT i AS 序号, CAST(i * 1.5 - 7 AS DECIMAL({width},6)) AS 金额, "
                f"'名' || i AS 名称 FROM range(1000) t(i)) TO '{paths[width]}' (FORMAT parquet)"
            )
        names = ["序号", "金额", "名称"]
        by_key = diff_versions(con, old=paths[38], new=paths[18], old_fields=names,
                               new_fields=names, keys=["序号"])  # fmt: skip
        whole = diff_versions(con, old=paths[18], new=paths[38], old_fields=names,
                              new_fields=names)  # fmt: skip
    assert (by_key["added"], by_key["removed"], by_key["changed"]) == (0, 0, 0)
    assert by_key["unchanged"] == 1000 and whole["unchanged"] == 1000
