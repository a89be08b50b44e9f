"""The text-edge check the CSV fast path relies on: which columns need trimming."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gongshu.datastore.coerce import SPACES, coerce_sql
from gongshu.datastore.edges import edged, edged_columns

_WIDE = [char for char in SPACES if ord(char) > 0x7F]
# The spaces, characters whose UTF-8 shares a first or last byte with a wide space, control
# characters, CJK and ASCII.
_ALPHABET = [
    *SPACES, "\u3001", "\u3100", "\u2000", "\u0080", "\u00a1", "\u00c2", "\ufefe", "\ufeff",
    "\uffbf", "\u30c0", "\x01", "\x1f", "!", "a", "0", "名", "称", "\U0001f600", "\u00e9",
]  # fmt: skip


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as connection:
        yield connection


def _expected(value: str | None) -> bool:
    if value is None:
        return False
    return not value or value[0] < "!" or value[-1] < "!" or value[0] in _WIDE or value[-1] in _WIDE


def test_a_value_is_edged_exactly_when_a_trim_may_change_it() -> None:
    # Random short arrays, with NULLs, as plain text, sliced, and as a dictionary, against the
    # definition; and every value the string type would change is edged.
    rng = random.Random("edges")
    for _ in range(3000):
        values: list[str | None] = [
            None
            if rng.random() < 0.1
            else "".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(0, 5)))
            for _ in range(rng.randrange(1, 5))
        ]
        want = any(_expected(value) for value in values)
        array = pa.array(values, type=pa.string())
        assert edged(array) is want, values
        assert edged(pa.array([None, "x", *values])[2:]) is want, values
        assert edged(array.dictionary_encode()) is want, values
        for value in values:
            if value is not None and value.strip(SPACES) != value:
                assert _expected(value), repr(value)


def test_the_string_type_changes_no_value_the_check_lets_pass(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rng = random.Random("edges-vs-sql")
    values = [
        "".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(1, 5))) for _ in range(20_000)
    ]
    typed, _bad = coerce_sql("v", "string")
    found = con.execute(f"SELECT v, {typed} FROM (SELECT unnest(?) AS v)", [values]).fetchall()
    for value, stored in found:
        if stored != value:
            assert edged(pa.array([value])), repr(value)


def test_the_columns_that_need_trimming_are_found_in_any_row_group(tmp_path: Path) -> None:
    # Low-cardinality text is dictionary-encoded (judged by its dictionary), identifiers are
    # not (judged value by value); an edged value hides in one late row group of each.
    path = tmp_path / "version.parquet"
    with duckdb.connect() as con:
        con.execute(
            "COPY (SELECT "
            "CASE WHEN i = 250000 THEN '东城区\u3000' ELSE '西城区' END AS district, "
            "'区' || (i % 16) AS clean_district, "
            "CASE WHEN i = 170001 THEN '\u00a0' || md5(i::VARCHAR) ELSE md5(i::VARCHAR) END AS id, "
            "md5(i::VARCHAR) AS clean_id, "
            "CASE WHEN i % 3 = 0 THEN NULL ELSE 'x' || i END AS sparse "
            f"FROM range(300000) t(i)) TO '{path}' (FORMAT parquet, "
            "PARQUET_VERSION V2, ROW_GROUP_SIZE 50000)"
        )
    metadata = pq.read_metadata(path)
    assert metadata.num_row_groups == 6
    group = metadata.row_group(5)
    coded = [set(group.column(i).encodings) == {"RLE_DICTIONARY"} for i in range(4)]
    assert coded == [True, True, False, False]
    columns = ["district", "clean_district", "id", "clean_id", "sparse"]
    assert edged_columns(path, columns) == {"district", "id"}
    assert edged_columns(path, columns, threads=1) == {"district", "id"}
    assert edged_columns(path, ["clean_id", "sparse"]) == set()
    assert edged_columns(path, []) == set()
