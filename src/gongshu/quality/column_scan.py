"""Whole-column rules in numpy: citizen-ID and USCC check characters, and key uniqueness.

These rules cost more than every other row rule together when written in SQL: an identifier
needs 17 characters weighed one by one (8 of 10 s on ten million rows), and a unique key over
ten million strings builds a hash table as large as the column. Here each column is read once
from the Parquet file with pyarrow, row group by row group on every core, and serves every rule
on it.

Identifiers: the values of the right byte length are read in place as an ``(n, 18)`` byte
array, taken two bytes at a time: one lookup per byte pair and position in a table of the
65,536 pairs gives that pair's share of the weighted sum (or marks a byte the position refuses),
so a check is nine lookups and a few whole-array operations. The verdicts are those of
``gongshu.quality.checks.citizen_id_valid_sql`` and ``uscc_valid_sql`` (tests hold the three to
the kernel's scalar checks): NULLs are not checked, anything not exactly 18 ASCII characters of
the right shape is invalid, letters may be lower case, whitespace and full-width characters are
not folded.

Keys: each value is packed into one 64-bit integer without loss — integers and dates as they
are, text of up to 8 bytes byte by byte, longer text of digits (up to 19) or of digits and ``X``
(up to 18: citizen IDs) by its digits — within a class named by its length and alphabet, so two
values are equal exactly when class and integer are. Sorting the integers counts the repeats.
A column with a value that does not pack (a USCC, a name) is left to SQL: ``None``.
"""

from __future__ import annotations

import functools
import heapq
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from gongshu.kernel.identifiers import USCC_ALPHABET
from gongshu.quality.checks import atom_bytes, fixed_ascii_atoms

__all__ = [
    "IDENTIFIER_KINDS",
    "PATTERN",
    "ColumnCount",
    "KeyTally",
    "ScanResult",
    "TextCheck",
    "TextTally",
    "citizen_id_valid",
    "pack_keys",
    "repeats",
    "scan",
    "uscc_valid",
]

WIDTH = 18
_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))  # 7 9 10 5 8 4 2 1 6 3 7 9 10 …
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_INVALID = 1 << 15  # a character's value where the position refuses it; sums stay below


def _chars(alphabet: str, weight: int = 1) -> np.ndarray:
    """A 256-entry byte → value table: ``weight`` times the character's position in
    ``alphabet`` (letters in either case), else _INVALID."""
    table = np.full(256, _INVALID, dtype=np.int64)
    for value, char in enumerate(alphabet):
        table[ord(char)] = table[ord(char.lower())] = value * weight
    return table


_PAIR_CODES = np.arange(1 << 16)


def _pair_table(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """A table over the 65,536 little-endian byte pairs: first[low byte] + second[high byte],
    _INVALID where either refuses its byte."""
    summed = first[_PAIR_CODES & 0xFF] + second[_PAIR_CODES >> 8]
    return np.asarray(np.minimum(summed, _INVALID), dtype=np.uint16)


def _pair_columns(text: np.ndarray) -> np.ndarray:
    """The ``(width / 2, n)`` 16-bit byte pairs of an ``(n, width)`` byte array, each position's
    pairs side by side (``take`` over them is twice as fast as over strided ones)."""
    return np.ascontiguousarray(text.view("<u2").T)


def _summed(tables: Sequence[np.ndarray], pairs: np.ndarray) -> np.ndarray:
    """Σ tables[p][pairs[p]] in 32 bits: ≥ _INVALID when a character is refused."""
    total = np.zeros(pairs.shape[1], dtype=np.uint32)
    for table, column in zip(tables, pairs, strict=True):
        total += np.take(table, column)
    return total


_DIGITS = "0123456789"
_ALPHANUMERIC = _DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Citizen IDs: pair p weighs characters 2p and 2p+1; the last pair adds the check character as
# the amount that makes a right sum a multiple of 11. Dates read two digits at a time.
_ID_CHECK = np.array(
    [(11 - value) % 11 if value < _INVALID else value for value in _chars("10X98765432")]
)
_ID_CHARS = [_chars(_DIGITS, weight) for weight in _ID_WEIGHTS] + [_ID_CHECK]
_ID_PAIRS = [_pair_table(_ID_CHARS[2 * p], _ID_CHARS[2 * p + 1]) for p in range(WIDTH // 2)]
_TWO_DIGITS = _pair_table(_chars(_DIGITS, 10), _chars(_DIGITS))
_MONTH_DAYS = np.zeros(1 << 16, dtype=np.uint16)
_MONTH_DAYS[1:13] = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# USCCs: the MOD 31 sum with the shape in it (characters 3-8 digits), and the organisation
# code's sum (characters 9-16, pairs 4-7); the 17th character's value is looked up alone.
_USCC_CHARS = [
    _chars(_DIGITS if 2 <= i <= 7 else USCC_ALPHABET, _USCC_WEIGHTS[i] if i < 17 else 1)
    for i in range(WIDTH)
]
_USCC_PAIRS = [_pair_table(_USCC_CHARS[2 * p], _USCC_CHARS[2 * p + 1]) for p in range(WIDTH // 2)]
_ORG_CHARS = [np.minimum(_chars(_ALPHANUMERIC, weight), 0xFFF) for weight in _ORG_WEIGHTS]
_ORG_PAIRS = [_pair_table(_ORG_CHARS[2 * k], _ORG_CHARS[2 * k + 1]) for k in range(4)]
_ORG_CHECK_VALUE = _pair_table(_chars(USCC_ALPHABET), np.zeros(256, dtype=np.int64))

# Keys: digits and upper-case X (base 11), two characters at a time (base 121), 255 refused.
_DIGIT_X = np.full(256, 255, dtype=np.uint8)
_DIGIT_X[ord("0") : ord("9") + 1] = np.arange(10)
_DIGIT_X[ord("X")] = 10
_DIGIT_X_PAIRS = np.where(
    (_DIGIT_X[_PAIR_CODES & 0xFF] < 11) & (_DIGIT_X[_PAIR_CODES >> 8] < 11),
    _DIGIT_X[_PAIR_CODES & 0xFF].astype(np.uint16) * 11 + _DIGIT_X[_PAIR_CODES >> 8],
    255,
).astype(np.uint8)


def citizen_id_valid(text: np.ndarray) -> np.ndarray:
    """For an ``(n, 18)`` byte array of citizen IDs: a bool per ID (GB 11643).

    17 digits and a check character (X in either case), a real birth date (characters 7-14),
    and the check character the weighted digit sum calls for. Two characters at a time: one
    table lookup per byte pair and position (``_ID_PAIRS``).
    """
    pairs = _pair_columns(text)
    total = _summed(_ID_PAIRS, pairs)
    ok = (total < _INVALID) & (total % 11 == 0)
    # Where a byte is no digit these are nonsense, but ``ok`` is false there.
    high, low, month, day = (np.take(_TWO_DIGITS, pairs[p]) for p in (3, 4, 5, 6))
    year = high.astype(np.uint32) * 100 + low
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = _MONTH_DAYS[month] + ((month == 2) & leap)
    ok &= (year >= 1) & (day >= 1) & (day <= month_days)
    return np.asarray(ok, dtype=bool)


def uscc_valid(text: np.ndarray) -> np.ndarray:
    """For an ``(n, 18)`` byte array of USCCs: a bool per code (GB 32100).

    The shape (2 alphabet characters, 6 digits, 10 alphabet characters; letters in either
    case), the organisation code's check character (GB 11714, characters 9-17) and the
    MOD 31 check character; one table lookup per byte pair and position.
    """
    pairs = _pair_columns(text)
    total = _summed(_USCC_PAIRS, pairs)
    ok = (total < _INVALID) & (total % 31 == 0)
    organisation = _summed(_ORG_PAIRS, pairs[4:8])
    org_check = 11 - organisation % 11  # 1..11: '1'..'9', 10 'X', 11 '0'
    ok &= np.take(_ORG_CHECK_VALUE, pairs[8]) == org_check % 11 + 19 * (org_check == 10)
    return np.asarray(ok, dtype=bool)


IDENTIFIER_KINDS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "citizen_id": citizen_id_valid,
    "uscc": uscc_valid,
}
PATTERN = "pattern"


@functools.lru_cache(maxsize=64)
def _pattern_valid(pattern: str) -> tuple[int, Callable[[np.ndarray], np.ndarray]] | None:
    """(width, check) for a regex of fixed-width ASCII atoms (``checks.fixed_ascii_atoms``):
    for an ``(n, width)`` byte array, one lookup per byte pair and position in a table of the
    pairs both atoms take. None for another regex."""
    atoms = fixed_ascii_atoms(pattern)
    if atoms is None:
        return None
    tables = []
    for atom in atoms:
        table = np.zeros(256, dtype=np.int64)
        table[sorted(atom_bytes(atom))] = 1
        tables.append(table)
    width = len(atoms)
    even = width - width % 2
    pairs = [_pair_table(tables[p], tables[p + 1]) == 2 for p in range(0, even, 2)]
    last = tables[-1].astype(bool)

    def check(text: np.ndarray) -> np.ndarray:
        ok = np.ones(len(text), dtype=bool)
        if even:
            for table, column in zip(pairs, _pair_columns(text[:, :even]), strict=True):
                ok &= np.take(table, column)
        if width % 2:
            ok &= last[text[:, -1]]
        return ok

    return width, check


@dataclass(frozen=True)
class TextCheck:
    """One rule to run: a key to report it under, the column, and the kind — ``citizen_id``,
    ``uscc``, or ``pattern`` with a regex of fixed-width ASCII atoms."""

    key: int
    column: str
    kind: str
    pattern: str = ""

    def checker(self) -> tuple[int, Callable[[np.ndarray], np.ndarray]]:
        """(the byte width a valid value has, its check over an ``(n, width)`` array)."""
        if self.kind in IDENTIFIER_KINDS:
            return WIDTH, IDENTIFIER_KINDS[self.kind]
        found = _pattern_valid(self.pattern) if self.kind == PATTERN else None
        if found is None:
            raise ValueError(f"not a column-scan check: {self.kind!r} {self.pattern!r}")
        return found


@dataclass
class TextTally:
    """Values checked (not NULL), how many failed, and the first failing rows (0-based)."""

    checked: int = 0
    failed: int = 0
    rows: list[int] = field(default_factory=list)


def _text_rows(array: pa.Array, rows: np.ndarray | None, width: int) -> np.ndarray:
    """The ``(n, width)`` bytes of the values at ``rows`` (None: all, and no copy), each
    ``width`` bytes long."""
    chosen = array if rows is None else array.take(pa.array(rows))
    offsets = np.frombuffer(
        chosen.buffers()[1], dtype=np.int32, count=len(chosen) + 1, offset=4 * chosen.offset
    )
    data = np.frombuffer(
        chosen.buffers()[2], dtype=np.uint8, count=len(chosen) * width, offset=int(offsets[0])
    )
    return data.reshape(len(chosen), width)


def _text_matrix(array: pa.Array, rows: np.ndarray | None, width: int) -> np.ndarray:
    """The ``(width, n)`` byte matrix of the values at ``rows`` (None: all), each ``width``
    bytes long."""
    return np.ascontiguousarray(_text_rows(array, rows, width).T)


def _verdicts(array: pa.Array, width: int, check: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """A bool per value of a string array: True when it fails (NULLs never fail; a value not
    ``width`` bytes long always does)."""
    offsets = np.frombuffer(
        array.buffers()[1], dtype=np.int32, count=len(array) + 1, offset=4 * array.offset
    )
    fits = np.diff(offsets) == width
    valid = np.asarray(array.is_valid()) if array.null_count else None
    if valid is not None:
        fits &= valid
    if fits.all():  # the usual case: every value checked, none copied
        return np.asarray(~check(_text_rows(array, None, width)), dtype=bool)
    # Every present value fails unless it has the width and passes.
    failed = np.ones(len(array), dtype=bool) if valid is None else valid
    rows = np.flatnonzero(fits)
    if len(rows):
        failed[rows] = ~check(_text_rows(array, rows, width))
    return failed


@dataclass
class KeyTally:
    """A unique key's rows with a value (checked), the rows repeating an earlier row's value
    (failed), and for the first repeated values by first row: their last row (``rows``) and
    first row (``duplicate_of``), 0-based."""

    checked: int = 0
    failed: int = 0
    rows: list[int] = field(default_factory=list)
    duplicate_of: list[int] = field(default_factory=list)


# Key classes (uint8), each a function of the value: text of length L ≤ 8, by its bytes → L;
# of length 9 to 18, of digits and X (in base 11) → 64 + L; of 19 digits (base 10) → 32 + L;
# integers and dates → 128; NULL → 255.
_RAW_MAX, _DIGITS_MAX, _DIGITS_X_MAX = 8, 19, 18  # 10^19 and 11^18 stay below 2^64
_NUMBER_CLASS, _NULL_CLASS = 128, 255


def _horner(digits: Sequence[np.ndarray], base: int) -> np.ndarray:
    """Σ digits[i] · base^(width-1-i) in 64 bits (less than 2^64 by the caller's choice of
    width and base); the last digits that fit are summed in 32 bits, half the work."""
    width = len(digits)
    low = 1
    while low < width and base ** (low + 1) < 2**32:
        low += 1
    tail = np.zeros(len(digits[0]), dtype=np.uint32)
    for row in digits[width - low :]:
        tail *= np.uint32(base)
        tail += row
    if low == width:
        return tail.astype(np.uint64)
    head = np.zeros(len(digits[0]), dtype=np.uint64)
    for row in digits[: width - low]:
        head *= np.uint64(base)
        head += row
    head *= np.uint64(base**low)
    head += tail
    return head


def _digits_x(array: pa.Array, rows: np.ndarray | None, width: int) -> np.ndarray | None:
    """The base-11 keys of values of ``width`` digits and X (9 to 18), or None when a value
    has another character.

    Two characters at a time: each little-endian byte pair is looked up as one base-121 digit
    (``_DIGIT_X_PAIRS``), read straight from the array's bytes: half the lookups and Horner
    steps of one character at a time, for the same number.
    """
    text = _text_rows(array, rows, width)
    odd = width % 2
    pairs = np.take(_DIGIT_X_PAIRS, text[:, odd:].view("<u2"))
    if pairs.max() >= 121:
        return None
    digits = list(pairs.T)
    if odd:
        first = _DIGIT_X[text[:, 0]]
        if first.max() >= 11:
            return None
        digits.insert(0, first)
    return _horner(digits, 121)


def pack_keys(array: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """(class, key) per value of an array (see the module docstring), or None when a value
    does not pack."""
    count = len(array)
    valid = np.asarray(array.is_valid(), dtype=bool)
    classes = np.where(valid, np.uint8(0), np.uint8(_NULL_CLASS))
    if pa.types.is_date(array.type):  # days (or milliseconds) since 1970
        array = array.view(pa.int32() if pa.types.is_date32(array.type) else pa.int64())
    if pa.types.is_integer(array.type):
        numbers = array.cast(pa.int64()).fill_null(0)
        return np.where(valid, _NUMBER_CLASS, classes).astype(np.uint8), np.asarray(numbers).view(
            np.uint64
        )
    if not pa.types.is_string(array.type):
        return None
    keys = np.zeros(count, dtype=np.uint64)
    measured = pc.binary_length(array)
    lengths = np.asarray(measured.fill_null(-1))
    span = pc.min_max(measured).as_py()
    if span["min"] is None:
        return classes, keys  # every value NULL
    widths = [span["min"]] if span["min"] == span["max"] else pc.unique(measured).to_pylist()
    for width in sorted(w for w in widths if w):  # width 0 is class 0, key 0: the empty text
        rows = np.flatnonzero(lengths == width) if len(widths) > 1 or not valid.all() else None
        if width <= _RAW_MAX:
            packed = _horner(list(_text_matrix(array, rows, width)), 256)
            _assign(classes, keys, rows, width, packed)
        elif width <= _DIGITS_X_MAX:
            found = _digits_x(array, rows, width)
            if found is None:
                return None
            _assign(classes, keys, rows, 64 + width, found)
        else:
            values = _text_matrix(array, rows, width) - np.uint8(ord("0"))  # not digits: ≥ 10
            if width > _DIGITS_MAX or values.max() >= 10:
                return None
            _assign(classes, keys, rows, 32 + width, _horner(list(values), 10))
    return classes, keys


def _assign(
    classes: np.ndarray, keys: np.ndarray, rows: np.ndarray | None, kind: int, packed: np.ndarray
) -> None:
    """Set the class and key of ``rows`` (None: all)."""
    if rows is None:
        classes[:], keys[:] = kind, packed
    else:
        classes[rows], keys[rows] = kind, packed


_BUCKET_BITS = 12
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _bucket(values: np.ndarray) -> np.ndarray:
    """A 12-bit hash of 64-bit keys (Fibonacci hashing; the product wraps round)."""
    return np.asarray((values * _GOLDEN) >> np.uint64(64 - _BUCKET_BITS), dtype=np.intp)


def _members(part: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Positions in ``part`` of the keys that are among the sorted ``values``."""
    if len(values) > 64:
        where = np.minimum(np.searchsorted(values, part), len(values) - 1)
        return np.flatnonzero(values[where] == part)
    # A few values: a bucket table passes the few candidates on to the exact test.
    table = np.zeros(1 << _BUCKET_BITS, dtype=bool)
    table[_bucket(values)] = True
    candidates = np.flatnonzero(table[_bucket(part)])
    return candidates[np.isin(part[candidates], values)]


def _first_seen(
    keys: np.ndarray, repeated: np.ndarray, wanted: int, *, backwards: bool = False
) -> dict[int, int]:
    """Position of the first (or last) occurrence in ``keys`` of up to ``wanted`` of the sorted
    values ``repeated``, in chunks from the start (or the end) until enough are found."""
    found: dict[int, int] = {}
    chunk = 1 << 16
    starts = range(0, len(keys), chunk)
    for start in reversed(starts) if backwards else starts:
        part = keys[start : start + chunk]
        hits = _members(part, repeated)
        if backwards:
            hits = hits[::-1]
        values, first = np.unique(part[hits], return_index=True)
        order = np.argsort(first)  # in the order met
        for value, index in zip(values[order].tolist(), first[order].tolist(), strict=True):
            found.setdefault(value, start + int(hits[index]))
        if len(found) >= min(wanted, len(repeated)):
            break
    return dict(sorted(found.items(), key=lambda item: item[1], reverse=backwards)[:wanted])


_PARALLEL_SORT = 1 << 20  # values from which two halves are sorted at once


def _sorted_parts(values: np.ndarray) -> list[np.ndarray]:
    """``values`` sorted, as ascending parts that share no value.

    numpy sorts on one core: from a million values, those below a pivot (the median of a
    sample) and the rest are sorted at once on two, which halves the longest single-core step
    of the assessment. Equal values fall in the same part, so each part's repeats are its own.
    """
    if len(values) < _PARALLEL_SORT or (os.cpu_count() or 1) < 2:
        return [np.sort(values)]
    sample = np.sort(values[:: len(values) // 4096])
    below = values < sample[len(sample) // 2]
    parts = [values[below], values[~below]]
    with ThreadPoolExecutor(1, thread_name_prefix="key-sort") as pool:
        upper = pool.submit(parts[1].sort)  # numpy lets go of the GIL while it sorts
        parts[0].sort()
        upper.result()
    return parts


def repeats(classes: np.ndarray, keys: np.ndarray, samples: int) -> KeyTally:
    """The tally of one packed key column (see :class:`KeyTally`)."""
    tally = KeyTally()
    pairs: list[tuple[int, int]] = []
    present = np.flatnonzero(np.bincount(classes, minlength=256)).tolist()
    for kind in present:
        if kind == _NULL_CLASS:
            continue
        rows = None if len(present) == 1 else np.flatnonzero(classes == kind)
        chosen = keys if rows is None else keys[rows]
        runs = [part[1:][part[1:] == part[:-1]] for part in _sorted_parts(chosen)]
        repeated = runs[0] if len(runs) == 1 else np.concatenate(runs)
        tally.checked += len(chosen)
        tally.failed += len(repeated)
        if not samples or not len(repeated):
            continue
        # Sorted (the parts ascend and share no value): keep the first of each run.
        repeated = repeated[np.concatenate(([True], repeated[1:] != repeated[:-1]))]
        firsts = _first_seen(chosen, repeated, samples)
        picked = np.array(sorted(firsts), dtype=np.uint64)
        lasts = _first_seen(chosen, picked, len(picked), backwards=True)
        for value, first in firsts.items():
            last = lasts[value]
            pairs.append((first, last) if rows is None else (int(rows[first]), int(rows[last])))
    pairs.sort()
    tally.duplicate_of = [first for first, _ in pairs[:samples]]
    tally.rows = [last for _, last in pairs[:samples]]
    return tally


@dataclass(frozen=True)
class ColumnCount:
    """A column's values (not NULL), and how many distinct values hash into the sampled part of
    the range (below 2^64 / share): times the share, an unbiased estimate of its distinct
    values (the profile's hash sampling, over the bytes the scan has read anyway)."""

    present: int
    sampled: int


class ScanResult(NamedTuple):
    """A tally per check key; per key column a tally or None (did not pack); and the count of
    every column read, when asked for (columns of other types are left out)."""

    tallies: dict[int, TextTally]
    keys: dict[str, KeyTally | None]
    counts: dict[str, ColumnCount]


_MIX = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))
_STEP = np.uint64(0x9E3779B97F4A7C15)


def _finish(hashes: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, in place: every input bit reaches every output bit."""
    hashes ^= hashes >> np.uint64(30)
    hashes *= _MIX[0]
    hashes ^= hashes >> np.uint64(27)
    hashes *= _MIX[1]
    hashes ^= hashes >> np.uint64(31)
    return hashes


def _hashes(array: pa.Array) -> np.ndarray | None:
    """A 64-bit hash of each value that is not NULL, in no particular order; None for a type
    not hashed here (only text, integers and dates are)."""
    if pa.types.is_date(array.type):
        array = array.view(pa.int32() if pa.types.is_date32(array.type) else pa.int64())
    if pa.types.is_integer(array.type):
        numbers = np.asarray(array.drop_null().cast(pa.int64())).view(np.uint64)
        return _finish(numbers * _STEP)
    if not pa.types.is_string(array.type):
        return None
    offsets = np.frombuffer(
        array.buffers()[1], dtype=np.int32, count=len(array) + 1, offset=4 * array.offset
    )
    lengths = np.diff(offsets)
    valid = np.asarray(array.is_valid()) if array.null_count else None
    present = lengths if valid is None else lengths[valid]
    if not len(present):
        return np.zeros(0, dtype=np.uint64)
    low, high = int(present.min()), int(present.max())
    pieces = []
    for width in [low] if low == high else np.unique(present).tolist():
        chosen = lengths == width
        if valid is not None:
            chosen &= valid
        rows = None if valid is None and low == high else np.flatnonzero(chosen)
        words = _words(array, width) if rows is None else _padded_words(array, rows, width)
        hashes = np.full(len(array) if rows is None else len(rows), width, dtype=np.uint64)
        for word in words:
            hashes ^= word
            hashes *= _STEP
            hashes ^= hashes >> np.uint64(29)
        pieces.append(_finish(hashes))
    return np.concatenate(pieces) if len(pieces) > 1 else pieces[0]


def _padded_words(array: pa.Array, rows: np.ndarray, width: int) -> np.ndarray:
    """The ``width``-byte values at ``rows`` as little-endian 64-bit words, the last one
    padded with zero bytes: one row of words per word position."""
    text = _text_rows(array, rows, width)
    padded = np.zeros((len(text), -(-width // 8) * 8), dtype=np.uint8)
    padded[:, :width] = text
    return padded.view("<u8").T


def _words(array: pa.Array, width: int) -> list[np.ndarray]:
    """The same words as :func:`_padded_words` for every value of an array whose values are all
    ``width`` bytes long, read in place: the full words through strided views of the data
    buffer (no copy of the column), the last bytes gathered into one word."""
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32, count=1, offset=4 * array.offset)
    data, start, count = array.buffers()[2], int(offsets[0]), len(array)
    full, rest = divmod(width, 8)
    words = [
        np.ndarray((count,), dtype="<u8", buffer=data, offset=start + 8 * i, strides=(width,))
        for i in range(full)
    ]
    if rest:
        tail = np.zeros(count, dtype=np.uint64)
        for i in range(rest):
            byte = np.ndarray(
                (count,), dtype=np.uint8, buffer=data, offset=start + 8 * full + i, strides=(width,)
            )
            tail |= byte.astype(np.uint64) << np.uint64(8 * i)
        words.append(tail)
    return words


@dataclass
class _Part:
    """What one row group gave: check tallies, and each column's values and sampled distinct
    hashes (None: not hashed). Key packings go straight into the file's arrays."""

    tallies: dict[int, TextTally]
    hashed: dict[str, tuple[int, np.ndarray] | None]


def _row_group(
    parquet: pq.ParquetFile,
    group: int,
    first_row: int,
    checks: Sequence[TextCheck],
    keys: Sequence[str],
    samples: int,
    packings: Mapping[str, tuple[np.ndarray, np.ndarray]],
    unpacked: set[str],
    below: int | None,
) -> _Part:
    """The tallies of one row group, its key packings written into ``packings`` at its rows
    (``unpacked``: key columns that did not pack in another row group, skipped here; one that
    does not pack here is added), and with ``below`` each column's distinct hashes under it."""
    columns = list(dict.fromkeys([check.column for check in checks] + list(keys)))
    table = parquet.read_row_group(group, columns=columns)
    out: dict[int, TextTally] = {}
    for check in checks:
        tally = out[check.key] = TextTally()
        position = first_row
        for chunk in table.column(check.column).chunks:
            array = chunk if chunk.type == pa.string() else chunk.cast(pa.string())
            failed = _verdicts(array, *check.checker())
            tally.checked += len(array) - array.null_count
            tally.failed += int(failed.sum())
            if samples and len(tally.rows) < samples:
                found = np.flatnonzero(failed)[: samples - len(tally.rows)]
                tally.rows.extend(int(row) + position for row in found)
            position += len(array)
    for column in keys:
        if column in unpacked:
            continue
        array = table.column(column).combine_chunks()
        if pa.types.is_large_string(array.type) or pa.types.is_string_view(array.type):
            array = array.cast(pa.string())
        packed = pack_keys(array)
        if packed is None:
            unpacked.add(column)
            continue
        classes, values = packings[column]
        classes[first_row : first_row + len(array)] = packed[0]
        values[first_row : first_row + len(array)] = packed[1]
    hashed: dict[str, tuple[int, np.ndarray] | None] = {}
    limit = None if below is None else np.uint64(below)
    for column in columns if limit is not None else ():
        array = table.column(column).combine_chunks()
        hashes = _hashes(array)
        present = len(array) - array.null_count
        hashed[column] = None if hashes is None else (present, np.unique(hashes[hashes < limit]))
    return _Part(out, hashed)


def scan(
    path: str,
    checks: Sequence[TextCheck],
    *,
    keys: Sequence[str] = (),
    samples: int = 20,
    threads: int | None = None,
    distinct_share: int = 0,
    on_counts: Callable[[Mapping[str, ColumnCount]], None] | None = None,
) -> ScanResult:
    """Run the checks and count the repeats of the single-column ``keys`` over a Parquet file
    (see :class:`ScanResult`); with a ``distinct_share``, also count every column read (see
    :class:`ColumnCount`), handed to ``on_counts`` as soon as they are known, before the keys'
    repeats are counted.

    Row groups are read and checked in ``threads`` threads (pyarrow and numpy release the GIL
    for the work that matters); the first ``samples`` failing rows are the file's first.
    """
    for check in checks:
        check.checker()  # a ValueError for a check it cannot run
    keys = list(dict.fromkeys(keys))
    if not checks and not keys:
        if on_counts is not None:
            on_counts({})
        return ScanResult({}, {}, {})
    below = 2**64 // distinct_share if distinct_share else None
    metadata = pq.read_metadata(path)
    starts, rows = [], 0
    for group in range(metadata.num_row_groups):
        starts.append(rows)
        rows += metadata.row_group(group).num_rows
    workers = max(1, min(threads or os.cpu_count() or 1, metadata.num_row_groups or 1))
    local = threading.local()
    unpacked: set[str] = set()
    # Every key column's class and packed value by file row, filled in by the row groups.
    packings = {
        column: (np.empty(rows, dtype=np.uint8), np.empty(rows, dtype=np.uint64)) for column in keys
    }

    def one(group: int) -> _Part:
        if not hasattr(local, "parquet"):
            local.parquet = pq.ParquetFile(path, metadata=metadata)
        return _row_group(
            local.parquet, group, starts[group], checks, keys, samples, packings, unpacked, below
        )

    with ThreadPoolExecutor(workers, thread_name_prefix="column-scan") as pool:
        parts = list(pool.map(one, range(metadata.num_row_groups)))
    totals: dict[int, TextTally] = {}
    for check in checks:
        tally = totals[check.key] = TextTally()
        for part in parts:
            tally.checked += part.tallies[check.key].checked
            tally.failed += part.tallies[check.key].failed
        failing = (part.tallies[check.key].rows for part in parts)
        tally.rows = heapq.nsmallest(samples, (row for group in failing for row in group))
    counts: dict[str, ColumnCount] = {}
    for column in parts[0].hashed if parts else ():
        hashed = [part.hashed[column] for part in parts]
        kept = [item for item in hashed if item is not None]
        if len(kept) == len(hashed):
            distinct = np.unique(np.concatenate([hashes for _, hashes in kept])).size
            counts[column] = ColumnCount(sum(present for present, _ in kept), int(distinct))
    if on_counts is not None:
        on_counts(counts)
    counted: dict[str, KeyTally | None] = {}
    for column in keys:
        classes, values = packings.pop(column)
        counted[column] = None if column in unpacked else repeats(classes, values, samples)
    return ScanResult(totals, counted, counts)
