"""Profiles of a stored dataset version: counts, ranges, top values and shape patterns per field.

The file's footer gives the row count and, where every row group records them, each column's
NULL count and exact minimum and maximum (a version file's always do: DuckDB writes them). One
aggregate statement over the file gives the rest for all fields together: distinct counts, the
counts and ranges the footer lacks, and means. Top values, patterns and quantiles come from a
sample (the whole file when it is small). Above ``EXACT_DISTINCT_ROWS`` rows, distinct counts
are estimated by hash sampling unless they are small (see ``DISTINCT_SAMPLE``): DuckDB's
HyperLogLog was off by up to 18 % on the benchmark's columns, and took longer.

The sample of a large file is systematic: every k-th row of ``SAMPLE_GROUPS`` row groups spread
evenly through the file, about ``SAMPLE_ROWS`` rows in all. Reading whole row groups (not rows
drawn from every group) keeps it to a tenth of the file: a Bernoulli sample of ten million rows
decoded every column of the file (1.8 s), this one 0.2 s. Groups evenly spaced cover a file
sorted on some field from end to end, so its top values keep their shares. Eight groups, not
sixteen: 0.3 CPU-s less on ten million rows, the same number of rows (a file sorted on a field
is seen at eight points along it instead of sixteen).

Blank text is not counted here (a regex pass over every text column, 0.7 s of CPU per 10M
values): completeness rules count it.

Identifier and sensitive fields never show values: their top values, minimum and maximum are
None and ``withheld`` says why (the flag). Binary fields show no values either.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from gongshu.catalog.vocab import FieldFlag, FieldType
from gongshu.kernel.errors import InvalidInput
from gongshu.quality.checks import NUMERIC_TYPES, quote_ident, quote_literal

__all__ = [
    "DISTINCT_SAMPLE",
    "EXACT_DISTINCT_BELOW",
    "EXACT_DISTINCT_ROWS",
    "PATTERN_LENGTH",
    "PATTERN_ROWS",
    "QUANTILES",
    "SAMPLE_GROUPS",
    "SAMPLE_ROWS",
    "ColumnProfile",
    "FieldSpec",
    "Frequency",
    "Profile",
    "footer_nulls",
    "footer_ranges",
    "parquet_columns",
    "parquet_rows",
    "profile_parquet",
    "withheld_reason",
]

# About this many rows, every k-th of SAMPLE_GROUPS row groups, give the top values.
SAMPLE_ROWS = 200_000
SAMPLE_GROUPS = 8
EXACT_DISTINCT_ROWS = 1_000_000
# Above EXACT_DISTINCT_ROWS rows, distinct values are counted among those whose 64-bit hash lies
# in the lowest 1/DISTINCT_SAMPLE of the range, times DISTINCT_SAMPLE (hash sampling: unbiased,
# about ±0.3 % at ten million distinct values, ±1 % at a million). Estimates under
# EXACT_DISTINCT_BELOW are replaced by an exact count, cheap for so few distinct values.
DISTINCT_SAMPLE = 64
EXACT_DISTINCT_BELOW = 100_000
FEW_VALUES = 10_000  # a dictionary this small in every row group: counted exactly at once
_HASH_SAMPLE_BELOW = 2**64 // DISTINCT_SAMPLE
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
PATTERN_LENGTH = 32  # longer values are shaped on their first 32 characters, then "…"
# Patterns come from about 10,000 rows of that sample (every k-th): four regex passes a value
# cost 0.55 s for twelve columns at 20,000, and the leading shapes' shares move by ±1 % at most.
PATTERN_ROWS = 10_000
# Column types whose footer minimum and maximum are taken as they are; floating point is not
# (NaN is left out of Parquet statistics but is DuckDB's largest value).
_FOOTER_TYPES = ("VARCHAR", "BIGINT", "INTEGER", "DATE", "TIMESTAMP", "BOOLEAN", "DECIMAL")


@dataclass(frozen=True)
class FieldSpec:
    """A field of a stored dataset version: its column name, type, privacy flags and element."""

    name: str
    type: str
    flags: frozenset[str] = frozenset()
    element_code: str | None = None


@dataclass(frozen=True)
class Frequency:
    """A value or pattern and how many (sampled) rows have it."""

    value: str
    count: int

    def to_json(self) -> dict[str, Any]:
        """``{"value", "count"}``."""
        return {"value": self.value, "count": self.count}


@dataclass(frozen=True)
class ColumnProfile:
    """What one field of a version holds; value-revealing parts are None when withheld."""

    name: str
    type: str
    rows: int
    nulls: int
    null_share: float | None
    distinct: int
    distinct_approx: bool
    min: str | None
    max: str | None
    mean: float | None
    quantiles: Mapping[str, float] | None
    top_values: tuple[Frequency, ...] | None
    patterns: tuple[Frequency, ...] | None
    withheld: str | None

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (numbers as numbers, values already text)."""
        return {
            "name": self.name,
            "type": self.type,
            "rows": self.rows,
            "nulls": self.nulls,
            "null_share": self.null_share,
            "distinct": self.distinct,
            "distinct_approx": self.distinct_approx,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "quantiles": None if self.quantiles is None else dict(self.quantiles),
            "top_values": _frequencies_json(self.top_values),
            "patterns": _frequencies_json(self.patterns),
            "withheld": self.withheld,
        }


@dataclass(frozen=True)
class Profile:
    """The profile of one Parquet file: row count, how values were sampled, one entry a field.

    Top values are counted in ``sample_rows`` rows and patterns in ``pattern_rows`` of them;
    both equal ``rows`` when the file is small enough to take whole.
    """

    path: str
    rows: int
    sampled: bool
    sample_rows: int
    pattern_rows: int
    columns: tuple[ColumnProfile, ...]

    def column(self, name: str) -> ColumnProfile:
        """The profile of the field called ``name``."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {
            "path": self.path,
            "rows": self.rows,
            "sampled": self.sampled,
            "sample_rows": self.sample_rows,
            "pattern_rows": self.pattern_rows,
            "columns": [column.to_json() for column in self.columns],
        }


def _frequencies_json(items: tuple[Frequency, ...] | None) -> list[dict[str, Any]] | None:
    return None if items is None else [item.to_json() for item in items]


def withheld_reason(field: FieldSpec) -> str | None:
    """Why a field's values are not shown (``identifier``, ``sensitive``, ``binary``) or None."""
    for flag in (FieldFlag.IDENTIFIER, FieldFlag.SENSITIVE):
        if flag in field.flags:
            return str(flag)
    if field.type == FieldType.BINARY:
        return str(FieldType.BINARY)
    return None


def parquet_columns(
    con: duckdb.DuckDBPyConnection, path: str, names: Sequence[str]
) -> dict[str, str]:
    """The file's column types by name; ``InvalidInput`` naming the file and a missing field."""
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM read_parquet({quote_literal(path)})")
        types = {str(row[0]): str(row[1]) for row in described.fetchall()}
    except duckdb.Error as exc:
        raise InvalidInput(
            f"{path}: 无法读取数据文件 (cannot read the Parquet file): {exc}",
            details=[{"file": path, "row": None, "column": "", "message": str(exc)}],
        ) from exc
    for name in names:
        if name not in types:
            message = f"数据文件中没有字段「{name}」 (the file has no column {name!r})"
            raise InvalidInput(
                f"{path}: {message}",
                details=[{"file": path, "row": None, "column": name, "message": message}],
            )
    return types


def parquet_rows(con: duckdb.DuckDBPyConnection, path: str) -> int:
    """The row count from the Parquet footer (no scan)."""
    row = con.execute(
        f"SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata({quote_literal(path)})"
    ).fetchone()
    return int(row[0]) if row else 0


_SHAPES = (("[0-9]", "9"), ("[A-Z]", "A"), ("[a-z]", "a"), (r"\p{Han}", "汉"))


def _pattern_sql(text: str) -> str:
    """The shape of a text: digits → 9, Latin letters → A / a, CJK ideographs → 汉.

    Four regex passes: DuckDB's translate() did the first three in twice their time.
    """
    shaped = f"left({text}, {PATTERN_LENGTH})"
    for pattern, replacement in _SHAPES:
        shaped = f"regexp_replace({shaped}, '{pattern}', '{replacement}', 'g')"
    return f"({shaped} || CASE WHEN length({text}) > {PATTERN_LENGTH} THEN '…' ELSE '' END)"


def _aggregates(
    index: int,
    field: FieldSpec,
    approx: bool,
    *,
    ranged: bool,
    counted: bool,
    delegated: bool = False,
) -> list[str]:
    """The aggregate expressions of one field, aliased ``c{index}_…`` (``ranged``: min and max
    are known already; ``counted``: so are its NULLs; ``approx``: count the distinct hashes in
    the sampled part of the range, from the column ``__h{index}``; ``delegated``: its counts
    come from elsewhere)."""
    col = quote_ident(field.name)
    if approx:
        below = f"__h{index} < {_HASH_SAMPLE_BELOW} AND {col} IS NOT NULL"
        distinct = f"count(DISTINCT __h{index}) FILTER (WHERE {below}) AS c{index}_sampled"
    else:
        distinct = f"count(DISTINCT {col}) AS c{index}_distinct"
    parts = [] if delegated else [distinct]
    if not counted and not delegated:
        parts.insert(0, f"count({col}) AS c{index}_present")
    if withheld_reason(field) is None and not ranged:
        parts.append(f"CAST(min({col}) AS VARCHAR) AS c{index}_min")
        parts.append(f"CAST(max({col}) AS VARCHAR) AS c{index}_max")
    if field.type in NUMERIC_TYPES:
        parts.append(f"CAST(avg({col}) AS DOUBLE) AS c{index}_mean")
    return parts


def _frequency_queries(index: int, field: FieldSpec, top: int, every: int) -> list[str]:
    """Top-value and pattern queries over the sample ``s`` for one field (patterns from its
    rows whose file row number is a multiple of ``every``)."""
    if field.type == FieldType.BINARY:
        return []
    col = quote_ident(field.name)
    text = f"CAST({col} AS VARCHAR)"
    # Values are grouped as they are and only the top ones turned into text: a DECIMAL(38,6)
    # as text costs a microsecond a value.
    subsample = f"(SELECT {text} AS {col} FROM s WHERE __row % {every} = 0 AND {col} IS NOT NULL)"
    queries = [
        f"(SELECT {index} AS field, 'p' AS kind, {_pattern_sql(col)} AS value, count(*) AS n "
        f"FROM {subsample} GROUP BY value ORDER BY n DESC, value LIMIT {top})"
    ]
    if withheld_reason(field) is None:
        ranked = (
            f"SELECT {col} AS v, count(*) AS n FROM s WHERE {col} IS NOT NULL "
            f"GROUP BY v ORDER BY n DESC, v LIMIT {top}"
        )
        queries.append(
            f"(SELECT {index} AS field, 'v' AS kind, CAST(v AS VARCHAR) AS value, n "
            f"FROM ({ranked}) ORDER BY n DESC, v)"
        )
    if field.type in NUMERIC_TYPES:
        # Exact quantiles of the sample: a t-digest over ten million values cost 0.6 s.
        points = ", ".join(str(q) for q in QUANTILES)
        listed = f"quantile_cont(CAST({col} AS DOUBLE), [{points}])"
        queries.append(
            f"(SELECT {index}, 'q', array_to_string({listed}, ' '), count({col}) FROM s)"
        )
    return queries


def profile_parquet(
    con: duckdb.DuckDBPyConnection,
    path: str,
    fields: Sequence[FieldSpec],
    *,
    top: int = 10,
    counted: Collection[str] = (),
    counts: Callable[[], Mapping[str, Any]] | None = None,
) -> Profile:
    """Profile the given fields of a Parquet file: its footer, one scan and a sample.

    ``counted`` fields are read by someone else at the same time (the rules' numpy scan):
    their values and hash-sampled distinct counts (``present`` and ``sampled`` at
    ``DISTINCT_SAMPLE``) are taken from ``counts()``, called once the rest is done, and
    counted here only where it has none.
    """
    if top < 1:
        raise InvalidInput.field("top", "must be at least 1")
    types = parquet_columns(con, path, [field.name for field in fields])
    source = f"read_parquet({quote_literal(path)})"
    groups = _row_groups(con, path)
    rows = sum(groups)
    approx = rows > EXACT_DISTINCT_ROWS
    # Columns with few values in every row group (booleans; dictionary-coded chunks whose
    # dictionaries are small) are counted exactly at once, without hashing every value.
    few = _few_values(con, path, types) if approx else set()
    sketched = {i for i, field in enumerate(fields) if approx and field.name not in few}
    delegated = {i for i in sketched if counts is not None and fields[i].name in counted}
    hashes = [
        f"hash({quote_ident(fields[i].name)}) AS __h{i}" for i in sorted(sketched - delegated)
    ]
    shown = [field for field in fields if withheld_reason(field) is None]
    footer = footer_ranges(con, path, {field.name: types[field.name] for field in shown})
    values: dict[str, Any] = {
        f"c{index}_{end}": footer[field.name][end == "max"]
        for index, field in enumerate(fields)
        if field.name in footer
        for end in ("min", "max")
    }
    nulls = footer_nulls(con, path)
    values.update(
        (f"c{index}_present", rows - nulls[field.name])
        for index, field in enumerate(fields)
        if field.name in nulls
    )
    aggregates = [
        part
        for index, field in enumerate(fields)
        for part in _aggregates(
            index,
            field,
            index in sketched,
            ranged=field.name in footer,
            counted=field.name in nulls,
            delegated=index in delegated,
        )
    ]
    if aggregates:
        columns = ", ".join(["*", *hashes])
        cursor = con.execute(
            f"SELECT {', '.join(aggregates)} FROM (SELECT {columns} FROM {source})"
        )
        names = [str(d[0]) for d in cursor.description or ()]
        values.update(zip(names, cursor.fetchone() or (), strict=True))

    sampled = rows > SAMPLE_ROWS
    sample_rows = rows
    frequencies: dict[tuple[int, str], list[Frequency]] = {}
    pattern_rows = 0
    step, expected = _sample_step(groups) if sampled else (1, rows)
    every = step * max(1, -(-expected // PATTERN_ROWS))
    queries = [
        q for i, field in enumerate(fields) for q in _frequency_queries(i, field, top, every)
    ]
    if queries and rows:
        columns = ", ".join(
            quote_ident(field.name) for field in fields if field.type != FieldType.BINARY
        )
        where = f" WHERE {_sample_sql(groups)}" if sampled else ""
        statement = (
            f"WITH s AS MATERIALIZED (SELECT file_row_number AS __row, {columns} FROM "
            f"read_parquet({quote_literal(path)}, file_row_number = true){where}) "
            "(SELECT -1, 'rows', NULL, count(*) FROM s) UNION ALL "
            f"(SELECT -2, 'pattern rows', NULL, count(*) FROM s WHERE __row % {every} = 0) "
            "UNION ALL " + " UNION ALL ".join(queries)
        )
        for index, kind, value, count in con.execute(statement).fetchall():
            if index == -1:
                sample_rows = int(count)
                continue
            if index == -2:
                pattern_rows = int(count)
                continue
            if kind == "q":
                if value:
                    values[f"c{index}_q"] = [float(v) for v in str(value).split()]
                continue
            frequencies.setdefault((int(index), str(kind)), []).append(
                Frequency(str(value), int(count))
            )
    if delegated and counts is not None:
        _counted_elsewhere(con, source, fields, delegated, counts(), values)
    estimated = _estimate_distinct(con, source, fields, sketched, values)
    columns_out = tuple(
        _column(index, field, values, rows, index in estimated, frequencies)
        for index, field in enumerate(fields)
    )
    return Profile(
        path=path,
        rows=rows,
        sampled=sampled,
        sample_rows=sample_rows,
        pattern_rows=pattern_rows,
        columns=columns_out,
    )


def _counted_elsewhere(
    con: duckdb.DuckDBPyConnection,
    source: str,
    fields: Sequence[FieldSpec],
    delegated: set[int],
    found: Mapping[str, Any],
    values: dict[str, Any],
) -> None:
    """Take the delegated fields' counts from ``found``; count those it lacks here."""
    missing = []
    for index in sorted(delegated):
        count = found.get(fields[index].name)
        if count is None:
            missing.append(index)
            continue
        values.setdefault(f"c{index}_present", int(count.present))
        values[f"c{index}_sampled"] = int(count.sampled)
    if not missing:
        return
    parts = [
        part
        for index in missing
        for part in _aggregates(
            index, fields[index], True, ranged=True, counted=f"c{index}_present" in values
        )
    ]
    hashes = ", ".join(f"hash({quote_ident(fields[i].name)}) AS __h{i}" for i in missing)
    cursor = con.execute(f"SELECT {', '.join(parts)} FROM (SELECT *, {hashes} FROM {source})")
    names = [str(d[0]) for d in cursor.description or ()]
    values.update(zip(names, cursor.fetchone() or (), strict=True))


def _few_values(con: duckdb.DuckDBPyConnection, path: str, types: Mapping[str, str]) -> set[str]:
    """Columns with few distinct values by the footer: booleans, and columns whose every row
    group is dictionary-coded with at most ``FEW_VALUES`` values."""
    found = con.execute(
        "SELECT path_in_schema, count(*) = count(stats_distinct_count) "
        f"AND max(stats_distinct_count) <= {FEW_VALUES} "
        f"FROM parquet_metadata({quote_literal(path)}) GROUP BY path_in_schema"
    ).fetchall()
    few = {str(name) for name, small in found if small}
    return few | {name for name, kind in types.items() if kind == "BOOLEAN"}


def _estimate_distinct(
    con: duckdb.DuckDBPyConnection,
    source: str,
    fields: Sequence[FieldSpec],
    sketched: set[int],
    values: dict[str, Any],
) -> set[int]:
    """Scale the sampled distinct counts to estimates; count the rest exactly (the fields not
    sketched, and estimates too small to trust).

    Sets ``c{index}_distinct`` for every field that lacks it; returns the estimated indices.
    """
    estimated, exact = set(), []
    for index in range(len(fields)):
        if f"c{index}_distinct" in values:
            continue
        guess = int(values[f"c{index}_sampled"]) * DISTINCT_SAMPLE if index in sketched else 0
        if guess >= EXACT_DISTINCT_BELOW:
            values[f"c{index}_distinct"] = guess
            estimated.add(index)
        else:
            exact.append(index)
    if exact:
        counts = ", ".join(f"count(DISTINCT {quote_ident(fields[index].name)})" for index in exact)
        found = con.execute(f"SELECT {counts} FROM {source}").fetchone() or ()
        for index, count in zip(exact, found, strict=True):
            values[f"c{index}_distinct"] = int(count)
    return estimated


def _row_groups(con: duckdb.DuckDBPyConnection, path: str) -> list[int]:
    """The row count of each row group, in file order (from the footer)."""
    found = con.execute(
        f"SELECT row_group_num_rows FROM parquet_metadata({quote_literal(path)}) "
        "WHERE column_id = 0 ORDER BY row_group_id"
    ).fetchall()
    return [int(row[0]) for row in found]


def _sampled_groups(groups: Sequence[int]) -> list[int]:
    """The indices of the SAMPLE_GROUPS row groups spread evenly through the file."""
    count = min(len(groups), SAMPLE_GROUPS)
    return sorted({(2 * i + 1) * len(groups) // (2 * count) for i in range(count)})


def _sample_step(groups: Sequence[int]) -> tuple[int, int]:
    """(k, about how many rows): every k-th row of the sampled groups makes ~SAMPLE_ROWS."""
    total = sum(groups[g] for g in _sampled_groups(groups))
    step = max(1, -(-total // SAMPLE_ROWS))
    return step, total // step


def _sample_sql(groups: Sequence[int]) -> str:
    """A filter on ``file_row_number``: every k-th row of row groups spread evenly, about
    ``SAMPLE_ROWS`` rows (DuckDB skips the row groups outside the ranges unread)."""
    starts = [sum(groups[:i]) for i in range(len(groups))]
    ranges = " OR ".join(
        f"file_row_number BETWEEN {starts[g]} AND {starts[g] + groups[g] - 1}"
        for g in _sampled_groups(groups)
    )
    return f"({ranges}) AND file_row_number % {_sample_step(groups)[0]} = 0"


def footer_nulls(con: duckdb.DuckDBPyConnection, path: str) -> dict[str, int]:
    """Each top-level column's NULL count, from the footer: only columns whose every row group
    records one."""
    found = con.execute(
        "SELECT path_in_schema, sum(stats_null_count), count(*) = count(stats_null_count) "
        f"FROM parquet_metadata({quote_literal(path)}) GROUP BY path_in_schema"
    ).fetchall()
    return {str(name): int(nulls) for name, nulls, complete in found if complete}


def footer_ranges(
    con: duckdb.DuckDBPyConnection, path: str, types: Mapping[str, str]
) -> dict[str, tuple[str | None, str | None]]:
    """Each named column's (min, max) as text, from the footer's row-group statistics.

    Only columns of plain types whose every row group with a value records an exact minimum
    and maximum; the others are left out (and need a scan). ``types``: DuckDB type by name.
    """
    usable = {
        name: kind
        for name, kind in types.items()
        if kind.startswith(_FOOTER_TYPES) and not kind.endswith("]")
    }
    if not usable:
        return {}
    parts = []
    for index, (name, kind) in enumerate(usable.items()):
        mine = f"path_in_schema = {quote_literal(name)}"
        filled = f"{mine} AND coalesce(stats_null_count, -1) < num_values"
        low, high = (f"TRY_CAST(stats_{end}_value AS {kind})" for end in ("min", "max"))
        exact = "coalesce(min_is_exact AND max_is_exact, false)"
        parts += [
            f"count(*) FILTER (WHERE {mine}) AS n{index}",
            f"count(*) FILTER (WHERE {filled} AND {exact} AND {low} IS NOT NULL "
            f"AND {high} IS NOT NULL OR {mine} AND stats_null_count = num_values) AS ok{index}",
            f"CAST(min({low}) FILTER (WHERE {filled}) AS VARCHAR) AS lo{index}",
            f"CAST(max({high}) FILTER (WHERE {filled}) AS VARCHAR) AS hi{index}",
        ]
    row = con.execute(
        f"SELECT {', '.join(parts)} FROM parquet_metadata({quote_literal(path)})"
    ).fetchone()
    assert row is not None
    out: dict[str, tuple[str | None, str | None]] = {}
    for index, name in enumerate(usable):
        groups, good, low, high = row[4 * index : 4 * index + 4]
        if groups and good == groups:
            out[name] = (low, high)
    return out


def _column(
    index: int,
    field: FieldSpec,
    values: Mapping[str, Any],
    rows: int,
    approx: bool,
    frequencies: Mapping[tuple[int, str], list[Frequency]],
) -> ColumnProfile:
    """Assemble one field's profile from the aggregate row and the sample frequencies."""
    key = f"c{index}_"
    nulls = rows - int(values[key + "present"])
    withheld = withheld_reason(field)
    quantiles: dict[str, float] | None = None
    raw_quantiles = values.get(key + "q")
    if raw_quantiles is not None:
        pairs = zip(QUANTILES, raw_quantiles, strict=True)
        quantiles = {f"p{round(q * 100)}": float(v) for q, v in pairs}
    mean = values.get(key + "mean")
    binary = field.type == FieldType.BINARY
    return ColumnProfile(
        name=field.name,
        type=field.type,
        rows=rows,
        nulls=nulls,
        null_share=nulls / rows if rows else None,
        distinct=int(values[key + "distinct"]),
        distinct_approx=approx,
        min=values.get(key + "min"),
        max=values.get(key + "max"),
        mean=None if mean is None else float(mean),
        quantiles=quantiles,
        top_values=None if withheld else tuple(frequencies.get((index, "v"), ())),
        patterns=None if binary else tuple(frequencies.get((index, "p"), ())),
        withheld=withheld,
    )
