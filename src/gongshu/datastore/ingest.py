"""The file work of an ingest: source → typed version (and quarantine) Parquet files.

CSV/TSV (the large uploads) take a fast path first: one ``COPY`` reads the file in place with
DuckDB's parallel ``read_csv``, types every field (:mod:`coerce`) and writes the version file —
no temporary table, no staging file, no row numbers. Whether any cell failed to convert is
then found cheaply: a failed cell is stored as NULL, so only the typed columns that hold NULLs
are suspects, and only those are typed again from the source, to tell a blank cell (fine) from
a bad one. Malformed records come from DuckDB's reject log of the same read. Text is trimmed in
the COPY only in the columns whose first records need it; the other text columns are stored as
read, then read back in numpy (:mod:`edges`), and any that needs trimming after all is trimmed by
writing the file again. Amounts are typed narrow (DECIMAL(18,6), :mod:`coerce`) unless the first
records hold one of 10^12 yuan or more; one found later stops the COPY, and the file is typed
again wide (DECIMAL(38,6)), so that a version's amounts have one type.

Only when a cell did not convert — rare, and the case where row numbers are needed — does the
file take the general path (the in-place read is then wasted work), which every other format
takes: the source is opened with
``_row`` (:mod:`sources`) and one pass writes a staging file with every field typed, the row
number, and — only for cells that did not convert — the original text beside it. Everything
after reads that columnar file: error totals and the first located errors, then the version
file (good rows, fields only; amounts narrow when every staged one fits) and, under the
quarantine policy, the set-aside rows with their original text. No database is touched here;
:mod:`service` records the outcome.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from gongshu.catalog.vocab import FieldType
from gongshu.datastore.coerce import MONEY_LIMIT, coerce_sql, duckdb_type, reason, too_wide
from gongshu.datastore.duck import quote, run_with_progress, sql_string
from gongshu.datastore.edges import edged_columns
from gongshu.datastore.mapping import ColumnMapping, map_columns
from gongshu.datastore.sources import (
    RawSource,
    TextScan,
    load_text,
    open_source,
    read_text,
    rejected_lines,
    rejects_sql,
    scan_text,
)
from gongshu.kernel.errors import InvalidInput

__all__ = ["MAX_ERRORS", "CellError", "FieldPlan", "Progress", "Staged", "read_file"]

MAX_ERRORS = 1000
ROW_GROUP_ROWS = 122_880
EDGE_SAMPLE_ROWS = 50_000  # the first records, whose text columns decide where the COPY trims

# (phase, percent or None when unknown)
Progress = Callable[[str, float | None], None]


@dataclass(frozen=True)
class FieldPlan:
    """One field of the entry as the version stores it."""

    name: str
    type: str
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CellError:
    """One cell that did not convert, located as the person who made the file sees it."""

    row: int
    column: str
    field: str
    value: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        """For the report."""
        return {
            "row": self.row,
            "column": self.column,
            "field": self.field,
            "value": self.value,
            "reason": self.reason,
        }


@dataclass
class Staged:
    """What the file work produced, before anything is recorded."""

    source: RawSource
    mapping: ColumnMapping
    rows_read: int
    rows_good: int
    rows_bad: int
    rows_structural: int
    error_totals: dict[str, int]
    errors: list[CellError]
    version_file: Path | None
    quarantine_file: Path | None
    seconds: dict[str, float] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        """The ingest report: counts, mapping, totals and the first located errors."""
        source = self.source
        return {
            "format": source.format,
            "encoding": source.encoding,
            "delimiter": source.delimiter,
            "sheet": source.sheet,
            "header_rows": source.header_rows,
            "rows_read": self.rows_read,
            "rows_stored": self.rows_good,
            "rows_quarantined": self.rows_bad,
            "rows_structural": self.rows_structural,
            "mapping": self.mapping.to_json(),
            "error_totals": dict(self.error_totals),
            "errors": [error.to_json() for error in self.errors],
            "errors_shown": len(self.errors),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def _stage_sql(raw: RawSource, plans: Sequence[FieldPlan], mapping: ColumnMapping) -> str:
    """Each cell typed once (inner select), then its "bad" flag and original text (outer)."""
    inner: list[str] = ["src._row AS _row"]
    typed: list[str] = []
    kept: list[str] = []
    bad_any: list[str] = []
    for index, plan in enumerate(plans):
        position = mapping.sources.get(plan.name)
        if position is None:
            typed.append(f"CAST(NULL AS {duckdb_type(plan.type)}) AS {quote(plan.name)}")
            continue
        column = f"src.{quote(f'c{position}')}"
        value, bad = coerce_sql(column, plan.type)
        inner += [f"{column} AS {quote(f'r{index}')}", f"{value} AS {quote(f't{index}')}"]
        typed.append(f"{quote(f't{index}')} AS {quote(plan.name)}")
        if bad == "false":  # text cannot fail to be text
            kept.append(f"CAST(NULL AS VARCHAR) AS {quote(f'_e{index}')}")
            continue
        # The flag reads the typed column instead of typing the cell a second time.
        assert value in bad, "coerce's bad-cell flag must test its typed expression"
        flag = bad.replace(value, quote(f"t{index}")).replace(column, quote(f"r{index}"))
        kept.append(f"CASE WHEN {flag} THEN {quote(f'r{index}')} END AS {quote(f'_e{index}')}")
        bad_any.append(f"coalesce({flag}, false)")
    flag = " OR ".join(bad_any) if bad_any else "false"
    columns = ", ".join(["_row", *typed, *kept, f"({flag}) AS _bad"])
    return f"SELECT {columns} FROM (SELECT {', '.join(inner)} FROM ({raw.sql}) AS src)"


def _copy(select: str, target: Path) -> str:
    # zstd level 1, not DuckDB's default 3: 30 % less CPU to write, and on the benchmark's
    # 12 columns the file came out 5 % smaller, not larger. Format version 2 (its delta and
    # byte-stream-split encodings, which pyarrow, polars and Spark 3 read): 3 % less time to
    # write and 6 % smaller again.
    return (
        f"COPY ({select}) TO {sql_string(str(target))} (FORMAT parquet, COMPRESSION zstd, "
        f"COMPRESSION_LEVEL 1, PARQUET_VERSION V2, ROW_GROUP_SIZE {ROW_GROUP_ROWS})"
    )


def read_file(
    con: duckdb.DuckDBPyConnection,
    *,
    path: Path,
    filename: str,
    workdir: Path,
    fields: Sequence[FieldPlan],
    aliases: Mapping[str, Sequence[str]] | None = None,
    on_error: str = "quarantine",
    sheet: str | None = None,
    progress: Progress | None = None,
) -> Staged:
    """Read ``path`` into a typed version file under ``workdir`` (see the module docstring).

    Under ``on_error="reject"`` any bad cell or malformed record leaves ``version_file`` None.
    """
    if on_error not in ("reject", "quarantine"):
        raise InvalidInput.field("on_error", "use reject or quarantine")
    tell = progress or (lambda _phase, _pct: None)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    tell("reading", None)
    reading = _share_to_percent(lambda pct: tell("reading", pct))
    scan = scan_text(path, filename=filename, workdir=workdir, progress=reading)
    if scan is None:
        raw = open_source(
            con, path, filename=filename, workdir=workdir, sheet=sheet, progress=reading
        )
        seconds["open"] = time.perf_counter() - started
        return _read_staged(
            con, raw, filename=filename, fields=fields, aliases=aliases, on_error=on_error,
            workdir=workdir, tell=tell, seconds=seconds,
        )  # fmt: skip
    try:
        seconds["open"] = time.perf_counter() - started
        mapping = map_columns(
            scan.headers, [p.name for p in fields], aliases=aliases, filename=filename
        )
        fast = _read_in_place(con, scan, mapping, fields, on_error, workdir, tell, seconds)
        if fast is not None:
            return fast
        step = time.perf_counter()
        raw = load_text(con, scan, progress=reading)
        seconds["load"] = time.perf_counter() - step
    finally:
        scan.discard()
    return _read_staged(
        con, raw, filename=filename, fields=fields, aliases=aliases, on_error=on_error,
        workdir=workdir, tell=tell, seconds=seconds,
    )  # fmt: skip


def _share_to_percent(
    tell: Callable[[float | None], None],
) -> Callable[[int, int], None]:
    return lambda done, total: tell(100.0 * done / total if total else None)


def _typed_sql(
    select: str,
    width: int,
    plans: Sequence[FieldPlan],
    mapping: ColumnMapping,
    trimmed: Collection[str] = (),
    *,
    narrow: bool = True,
) -> str:
    """Every field typed from the ``width`` text columns of ``select`` — text fields as read,
    untrimmed, unless ``trimmed`` names them (see :func:`_read_in_place`), amounts ``narrow``
    or not (:mod:`coerce`); rows with every cell empty are left out."""
    typed = []
    for plan in plans:
        position = mapping.sources.get(plan.name)
        if position is None:
            value = f"CAST(NULL AS {duckdb_type(plan.type, narrow=narrow)})"
        elif plan.type == FieldType.STRING and plan.name not in trimmed:
            value = quote(f"c{position}")
        else:
            value = coerce_sql(quote(f"c{position}"), plan.type, narrow=narrow)[0]
        typed.append(f"{value} AS {quote(plan.name)}")
    listed = ", ".join(quote(f"c{i}") for i in range(width))
    return f"SELECT {', '.join(typed)} FROM ({select}) AS src WHERE coalesce({listed}) IS NOT NULL"


def _mapped(
    fields: Sequence[FieldPlan], mapping: ColumnMapping, kind: FieldType
) -> list[FieldPlan]:
    """The fields of type ``kind`` that a column of the file fills."""
    return [p for p in fields if p.type == kind and p.name in mapping.sources]


def _first_records(
    con: duckdb.DuckDBPyConnection,
    scan: TextScan,
    fields: Sequence[FieldPlan],
    mapping: ColumnMapping,
) -> tuple[set[str], bool]:
    """Among the first ``EDGE_SAMPLE_ROWS`` records of the file: the text fields with a value
    that trimming changes, and whether an amount there is too large to type narrow."""
    texts = _mapped(fields, mapping, FieldType.STRING)
    amounts = _mapped(fields, mapping, FieldType.MONEY)
    if not texts and not amounts:
        return set(), False
    column = {plan.name: quote(f"c{mapping.sources[plan.name]}") for plan in texts + amounts}
    changed = [
        f"bool_or({coerce_sql(column[plan.name], plan.type)[0]} IS DISTINCT FROM "
        f"{column[plan.name]})"
        for plan in texts
    ]
    large = [
        f"coalesce(bool_or(abs({coerce_sql(column[plan.name], plan.type)[0]}) >= {MONEY_LIMIT}), "
        "false)"
        for plan in amounts
    ]
    first = f"SELECT * FROM ({scan.select(uuid.uuid4().hex)}) LIMIT {EDGE_SAMPLE_ROWS}"
    found = read_text(
        con, f"SELECT {', '.join(changed + large)} FROM ({first})", filename=scan.filename
    )[0]
    edged = {plan.name for plan, flag in zip(texts, found[: len(texts)], strict=True) if flag}
    return edged, any(found[len(texts) :])


def _read_in_place(
    con: duckdb.DuckDBPyConnection,
    scan: TextScan,
    mapping: ColumnMapping,
    fields: Sequence[FieldPlan],
    on_error: str,
    workdir: Path,
    tell: Progress,
    seconds: dict[str, float],
) -> Staged | None:
    """The fast path for CSV/TSV: one COPY from the file to the version file; None (and no
    file) when some cell did not convert, which needs the general path's row numbers.

    Text is trimmed of the spaces at its ends (:data:`coerce.SPACES`). Deciding that per value
    costs a quarter of the COPY (the gate needs the last character), and clean exports have no
    such value at all: a text column is trimmed in the COPY only when the file's first records
    show it needs it; the others are stored as read, and :func:`_trim_edged` then reads them
    back (cheaply, in numpy) and trims the few that do need it after all.
    """
    step = time.perf_counter()
    version = workdir / "version.parquet"
    trimmed, wide = _first_records(con, scan, fields, mapping)
    while True:
        tag = uuid.uuid4().hex
        select = _typed_sql(
            scan.select(tag), len(scan.headers), fields, mapping, trimmed, narrow=not wide
        )
        try:
            copied = read_text(
                con,
                _copy(select, version),
                filename=scan.filename,
                progress=lambda pct: tell("typing", pct),
            )
            break
        except InvalidInput as exc:  # a large amount after the first records: type it again
            version.unlink(missing_ok=True)
            if wide or not too_wide(exc):
                raise
            wide = True
    rows = int(copied[0][0]) if copied else 0
    seconds["type+write"] = time.perf_counter() - step
    step = time.perf_counter()
    tell("storing", None)
    try:
        rejected = rejected_lines(con, scan, tag)
        if _any_bad_cell(con, scan, version, fields, mapping):
            version.unlink()
            seconds["check"] = time.perf_counter() - step
            return None
    except BaseException:
        version.unlink(missing_ok=True)
        raise
    structural, rows_structural = _structural(con, rejects_sql(scan, tag)) if rejected else ([], 0)
    seconds["check"] = time.perf_counter() - step
    kept = rows > 0 and not (on_error == "reject" and rows_structural)
    step = time.perf_counter()
    try:
        if kept:
            _trim_edged(
                con,
                version,
                fields,
                [p for p in _mapped(fields, mapping, FieldType.STRING) if p.name not in trimmed],
            )
    except BaseException:
        version.unlink(missing_ok=True)
        raise
    seconds["edges"] = time.perf_counter() - step
    source = scan.source("", None)  # read in place: no SELECT with row numbers to hand on
    result = Staged(
        source=source,
        mapping=mapping,
        rows_read=rows + rows_structural,
        rows_good=rows,
        rows_bad=0,
        rows_structural=rows_structural,
        error_totals={},
        errors=sorted(structural, key=lambda e: (e.row, e.column))[:MAX_ERRORS],
        version_file=version,
        quarantine_file=None,
        seconds=seconds,
    )
    if not kept:
        version.unlink()
        result.version_file = None
    if rows == 0 and not (on_error == "reject" and rows_structural):
        raise _nothing_stored(scan.filename, 0)
    return result


def _trim_edged(
    con: duckdb.DuckDBPyConnection,
    version: Path,
    fields: Sequence[FieldPlan],
    texts: Sequence[FieldPlan],
) -> None:
    """Trim the ``texts`` columns of the version file that need it, as the general path types
    text (:func:`coerce.coerce_sql`): the file is written again, those columns trimmed, only
    when :func:`edges.edged_columns` finds such a column."""
    setting = con.execute("SELECT current_setting('threads')").fetchone()
    threads = int(setting[0]) if setting else None
    edged = edged_columns(version, [plan.name for plan in texts], threads=threads)
    if not edged:
        return
    columns = ", ".join(
        f"{coerce_sql(quote(plan.name), plan.type)[0]} AS {quote(plan.name)}"
        if plan.name in edged
        else quote(plan.name)
        for plan in fields
    )
    trimmed = version.with_name(f"trimmed-{version.name}")
    try:
        con.execute(
            _copy(f"SELECT {columns} FROM read_parquet({sql_string(str(version))})", trimmed)
        )
        os.replace(trimmed, version)
    finally:
        trimmed.unlink(missing_ok=True)


def _any_bad_cell(
    con: duckdb.DuckDBPyConnection,
    scan: TextScan,
    version: Path,
    fields: Sequence[FieldPlan],
    mapping: ColumnMapping,
) -> bool:
    """Whether a cell of the source did not convert (it was stored as NULL).

    Text always converts, and a typed column without NULLs had none; the other typed columns
    are typed again from the source to tell blank cells from bad ones.
    """
    typed = [
        (plan, mapping.sources[plan.name])
        for plan in fields
        if plan.name in mapping.sources and coerce_sql("x", plan.type)[1] != "false"
    ]
    if not typed:
        return False
    stored = f"read_parquet({sql_string(str(version))})"
    nulls_sql = ", ".join(f"count(*) - count({quote(plan.name)})" for plan, _ in typed)
    counted = con.execute(f"SELECT {nulls_sql} FROM {stored}").fetchone() or ()
    suspects = [column for (_plan, column), n in zip(typed, counted, strict=True) if n]
    if not suspects:
        return False
    plans = dict((column, plan) for plan, column in typed)
    flags = " OR ".join(
        f"coalesce({coerce_sql(quote(f'c{c}'), plans[c].type)[1]}, false)" for c in suspects
    )
    select = scan.select(uuid.uuid4().hex)
    found = read_text(
        con, f"SELECT count(*) FILTER (WHERE {flags}) FROM ({select})", filename=scan.filename
    )
    return bool(found and found[0][0])


def _structural(con: duckdb.DuckDBPyConnection, rejects: str) -> tuple[list[CellError], int]:
    """The first located malformed records and how many rows they are."""
    structural = [
        CellError(int(row), str(column or ""), "", str(value or "")[:200], str(why))
        for row, column, value, why in con.execute(
            f"SELECT * FROM ({rejects}) ORDER BY 1 LIMIT {MAX_ERRORS}"
        ).fetchall()
    ]
    total = con.execute(f"SELECT count(DISTINCT r) FROM ({rejects}) AS t(r, c, v, w)").fetchone()
    return structural, int(total[0]) if total else 0


def _nothing_stored(filename: str, rows_bad: int) -> InvalidInput:
    return InvalidInput.field(
        "file",
        f"{filename}：没有一行数据可以入库（{rows_bad} 行有错误）"
        f" (no row of the file could be stored: {rows_bad} rows have errors)",
    )


def _read_staged(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    *,
    filename: str,
    fields: Sequence[FieldPlan],
    aliases: Mapping[str, Sequence[str]] | None,
    on_error: str,
    workdir: Path,
    tell: Progress,
    seconds: dict[str, float],
) -> Staged:
    """The general path: source with row numbers → staging file → version and quarantine."""
    mapping = map_columns(raw.headers, [p.name for p in fields], aliases=aliases, filename=filename)
    stage = workdir / "stage.parquet"
    step = time.perf_counter()
    run_with_progress(
        con,
        _copy(_stage_sql(raw, fields, mapping), stage),
        lambda pct: tell("typing", pct),
    )
    seconds["typing"] = time.perf_counter() - step

    step = time.perf_counter()
    staged = f"read_parquet({sql_string(str(stage))})"
    error_columns = [
        (index, plan) for index, plan in enumerate(fields) if plan.name in mapping.sources
    ]
    counts_sql = ", ".join(
        ["count(*)", "count(*) FILTER (WHERE _bad)"]
        + [f"count({quote(f'_e{index}')})" for index, _ in error_columns]
    )
    counted = con.execute(f"SELECT {counts_sql} FROM {staged}").fetchone()
    assert counted is not None
    rows_read, rows_bad, *per_field = (int(value) for value in counted)
    totals = {plan.name: n for (_index, plan), n in zip(error_columns, per_field, strict=True) if n}
    errors = _first_errors(con, staged, raw, mapping, error_columns) if rows_bad else []
    structural, rows_structural = _structural(con, raw.rejects_sql) if raw.rejects_sql else ([], 0)
    seconds["errors"] = time.perf_counter() - step

    result = Staged(
        source=raw,
        mapping=mapping,
        rows_read=rows_read + rows_structural,
        rows_good=rows_read - rows_bad,
        rows_bad=rows_bad,
        rows_structural=rows_structural,
        error_totals=totals,
        errors=sorted(structural + errors, key=lambda e: (e.row, e.column))[:MAX_ERRORS],
        version_file=None,
        quarantine_file=None,
        seconds=seconds,
    )
    if on_error == "reject" and (rows_bad or rows_structural):
        return result
    if rows_read - rows_bad == 0:
        raise _nothing_stored(filename, rows_bad)
    step = time.perf_counter()
    narrow = _amounts_fit(con, staged, fields)
    names = ", ".join(
        f"CAST({quote(plan.name)} AS {duckdb_type(plan.type, narrow=True)}) AS {quote(plan.name)}"
        if narrow and plan.type == FieldType.MONEY
        else quote(plan.name)
        for plan in fields
    )
    good = f"SELECT {names} FROM {staged}" + (" WHERE NOT _bad" if rows_bad else "")
    result.version_file = workdir / "version.parquet"
    run_with_progress(con, _copy(good, result.version_file), lambda pct: tell("storing", pct))
    if rows_bad:
        result.quarantine_file = workdir / "quarantine.parquet"
        con.execute(_copy(_quarantine_sql(staged, fields, error_columns), result.quarantine_file))
    seconds["storing"] = time.perf_counter() - step
    stage.unlink(missing_ok=True)
    return result


def _amounts_fit(con: duckdb.DuckDBPyConnection, staged: str, fields: Sequence[FieldPlan]) -> bool:
    """Whether every amount staged is below ``MONEY_LIMIT``: stored narrow (:mod:`coerce`)."""
    amounts = [quote(plan.name) for plan in fields if plan.type == FieldType.MONEY]
    if not amounts:
        return True
    largest = ", ".join(f"max(abs({name}))" for name in amounts)
    found = con.execute(f"SELECT greatest({largest}) FROM {staged}").fetchone()
    return found is None or found[0] is None or found[0] < MONEY_LIMIT


def _first_errors(
    con: duckdb.DuckDBPyConnection,
    staged: str,
    raw: RawSource,
    mapping: ColumnMapping,
    error_columns: Sequence[tuple[int, FieldPlan]],
) -> list[CellError]:
    parts = [
        f"SELECT _row, {index} AS field_index, {quote(f'_e{index}')} AS value FROM {staged} "
        f"WHERE {quote(f'_e{index}')} IS NOT NULL"
        for index, _plan in error_columns
    ]
    sql = (
        f"SELECT * FROM ({' UNION ALL '.join(parts)}) ORDER BY _row, field_index LIMIT {MAX_ERRORS}"
    )
    plans = dict(error_columns)
    found: list[CellError] = []
    for row, index, value in con.execute(sql).fetchall():
        plan = plans[int(index)]
        found.append(
            CellError(
                row=int(row),
                column=raw.headers[mapping.sources[plan.name]],
                field=plan.name,
                value=str(value)[:200],
                reason=reason(plan.type),
            )
        )
    return found


def _quarantine_sql(
    staged: str, fields: Sequence[FieldPlan], error_columns: Sequence[tuple[int, FieldPlan]]
) -> str:
    """Set-aside rows: the source row, every field as text (the original text where it did
    not convert) and the names of the bad fields."""
    texts = []
    for index, plan in enumerate(fields):
        cast = f"CAST({quote(plan.name)} AS VARCHAR)"
        if any(i == index for i, _ in error_columns):
            cast = f"coalesce({quote(f'_e{index}')}, {cast})"
        texts.append(f"{cast} AS {quote(plan.name)}")
    flags = ", ".join(
        f"CASE WHEN {quote(f'_e{index}')} IS NOT NULL THEN {sql_string(plan.name)} END"
        for index, plan in error_columns
    )
    bad_fields = f"list_filter([{flags}], x -> x IS NOT NULL)" if flags else "[]"
    return f"SELECT _row, {', '.join(texts)}, {bad_fields} AS _bad_fields FROM {staged} WHERE _bad"
