"""The identifier rules over whole columns: citizen-ID and USCC check characters, in numpy.

These two rules cost more than every other row rule together when written in SQL: each value
needs 17 characters weighed one by one (8 of 10 s on ten million rows). Here a column is read
from the Parquet file with pyarrow, row group by row group on every core; the values of the
right byte length are laid side by side as an ``(18, n)`` byte matrix (no copy per value), and
each check is a few dozen whole-array operations on it: a byte → value lookup table, weighted
sums by position, one comparison with the check character.

The verdicts are those of ``gongshu.quality.checks.citizen_id_valid_sql`` and
``uscc_valid_sql`` (tests hold the three to the kernel's scalar checks): NULLs are not checked,
anything not exactly 18 ASCII characters of the right shape is invalid, letters may be lower
case, whitespace and full-width characters are not folded.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from gongshu.kernel.identifiers import USCC_ALPHABET

__all__ = [
    "IDENTIFIER_KINDS",
    "IdentifierCheck",
    "IdentifierTally",
    "citizen_id_valid",
    "scan",
    "uscc_valid",
]

WIDTH = 18
_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))  # 7 9 10 5 8 4 2 1 6 3 7 9 10 …
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_BAD = 99  # the value of a byte outside an alphabet (the shape checks refuse it)


def _table(alphabet: str, *, fold_case: bool) -> np.ndarray:
    """A 256-entry byte → value table: a character's position in ``alphabet``, else _BAD."""
    table = np.full(256, _BAD, dtype=np.uint8)
    for value, char in enumerate(alphabet):
        table[ord(char)] = value
        if fold_case:
            table[ord(char.lower())] = value
    return table


_USCC_VALUES = _table(USCC_ALPHABET, fold_case=True)
_ALPHANUMERIC = _table("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", fold_case=True)
_ID_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
_UPPER = np.arange(256, dtype=np.uint8)
_UPPER[ord("a") : ord("z") + 1] -= 32
_MONTH_DAYS = np.zeros(256, dtype=np.uint16)
_MONTH_DAYS[1:13] = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _weighted(values: np.ndarray, weights: Sequence[int]) -> np.ndarray:
    """Σ values[i] · weights[i] over the first len(weights) rows of a (positions, n) byte matrix.

    In 16 bits: 17 bytes of at most 255 times a weight of at most 10 (citizen IDs), or of at most
    _BAD (99) times at most 30 (USCCs), stay below 2^16.
    """
    total = np.zeros(values.shape[1], dtype=np.uint16)
    term = np.empty_like(total)
    for row, weight in zip(values, weights, strict=False):
        np.multiply(row, np.uint16(weight), out=term)
        total += term
    return total


def citizen_id_valid(chars: np.ndarray) -> np.ndarray:
    """For an ``(18, n)`` byte matrix of citizen IDs: a bool per ID (GB 11643).

    17 digits and a check character (X in either case), a real birth date (characters 7-14),
    and the check character the weighted digit sum calls for.
    """
    digits = chars[:17] - np.uint8(ord("0"))  # bytes below "0" wrap round to 208 and more
    ok = digits.max(axis=0) < 10
    expected = _ID_CHECK[_weighted(digits, _ID_WEIGHTS) % 11]
    ok &= expected == _UPPER[chars[17]]
    # Sums in 16 bits: where a byte is no digit they are nonsense, but ``ok`` is false there.
    wide = digits[6:14].astype(np.uint16)
    year = wide[0] * 1000 + wide[1] * 100 + wide[2] * 10 + wide[3]
    month = wide[4] * 10 + wide[5]
    day = wide[6] * 10 + wide[7]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = _MONTH_DAYS[np.minimum(month, 255)] + ((month == 2) & leap)
    ok &= (year >= 1) & (day >= 1) & (day <= month_days)
    return np.asarray(ok, dtype=bool)


def uscc_valid(chars: np.ndarray) -> np.ndarray:
    """For an ``(18, n)`` byte matrix of USCCs: a bool per code (GB 32100).

    The shape (2 alphabet characters, 6 digits, 10 alphabet characters; letters in either
    case), the organisation code's check character (GB 11714, characters 9-17) and the
    MOD 31 check character.
    """
    values = _USCC_VALUES[chars]
    ok = (values.max(axis=0) <= 30) & (values[2:8].max(axis=0) <= 9)
    ok &= (_weighted(values, _USCC_WEIGHTS) + values[17]) % 31 == 0
    organisation = _weighted(_ALPHANUMERIC[chars[8:16]], _ORG_WEIGHTS)
    org_check = 11 - organisation % 11  # 1..11: '1'..'9', 10 'X', 11 '0'
    ok &= values[16] == org_check % 11 + 19 * (org_check == 10)
    return np.asarray(ok, dtype=bool)


IDENTIFIER_KINDS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "citizen_id": citizen_id_valid,
    "uscc": uscc_valid,
}


@dataclass(frozen=True)
class IdentifierCheck:
    """One rule to run: a key to report it under, the column, and ``citizen_id`` or ``uscc``."""

    key: int
    column: str
    kind: str


@dataclass
class IdentifierTally:
    """Values checked (not NULL), how many failed, and the first failing rows (0-based)."""

    checked: int = 0
    failed: int = 0
    rows: list[int] = field(default_factory=list)


def _verdicts(array: pa.Array, check: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """A bool per value of a string array: True when it fails (NULLs never fail)."""
    lengths = pc.binary_length(array)
    fits = pc.fill_null(pc.equal(lengths, WIDTH), False)
    failed = np.asarray(array.is_valid())  # every present value fails unless it passes below
    rows = np.flatnonzero(np.asarray(fits))
    if not len(rows):
        return failed
    # Filtering copies the 18-byte values into one contiguous buffer: an (n, 18) matrix as is.
    chosen = array.filter(fits)
    offsets = np.frombuffer(chosen.buffers()[1], dtype=np.int32, count=len(chosen) + 1)
    start = int(offsets[0])
    data = np.frombuffer(chosen.buffers()[2], dtype=np.uint8, count=len(rows) * WIDTH, offset=start)
    chars = np.ascontiguousarray(data.reshape(len(rows), WIDTH).T)
    failed[rows] = ~check(chars)
    return failed


def _row_group(
    path: str,
    metadata: pq.FileMetaData,
    group: int,
    first_row: int,
    checks: Sequence[IdentifierCheck],
    samples: int,
) -> dict[int, IdentifierTally]:
    """The tallies of one row group."""
    columns = list(dict.fromkeys(check.column for check in checks))
    table = pq.ParquetFile(path, metadata=metadata).read_row_group(group, columns=columns)
    out: dict[int, IdentifierTally] = {}
    for check in checks:
        tally = out[check.key] = IdentifierTally()
        position = first_row
        for chunk in table.column(check.column).chunks:
            array = chunk if chunk.type == pa.string() else chunk.cast(pa.string())
            failed = _verdicts(array, IDENTIFIER_KINDS[check.kind])
            tally.checked += len(array) - array.null_count
            tally.failed += int(failed.sum())
            if samples and len(tally.rows) < samples:
                found = np.flatnonzero(failed)[: samples - len(tally.rows)]
                tally.rows.extend(int(row) + position for row in found)
            position += len(array)
    return out


def scan(
    path: str, checks: Sequence[IdentifierCheck], *, samples: int = 20, threads: int | None = None
) -> dict[int, IdentifierTally]:
    """Run the identifier checks over a Parquet file: a tally per check key.

    Row groups are read and checked in ``threads`` threads (pyarrow and numpy release the GIL
    for the work that matters); the first ``samples`` failing rows are the file's first.
    """
    for check in checks:
        if check.kind not in IDENTIFIER_KINDS:
            raise ValueError(f"not an identifier check: {check.kind!r}")
    if not checks:
        return {}
    metadata = pq.read_metadata(path)
    starts, first = [], 0
    for group in range(metadata.num_row_groups):
        starts.append(first)
        first += metadata.row_group(group).num_rows
    workers = max(1, min(threads or os.cpu_count() or 1, metadata.num_row_groups or 1))
    with ThreadPoolExecutor(workers, thread_name_prefix="identifier-scan") as pool:
        parts = list(
            pool.map(
                lambda group: _row_group(path, metadata, group, starts[group], checks, samples),
                range(metadata.num_row_groups),
            )
        )
    totals: dict[int, IdentifierTally] = {}
    for check in checks:
        tally = totals[check.key] = IdentifierTally()
        for part in parts:
            tally.checked += part[check.key].checked
            tally.failed += part[check.key].failed
        rows = (part[check.key].rows for part in parts)
        tally.rows = heapq.nsmallest(samples, (row for group in rows for row in group))
    return totals
