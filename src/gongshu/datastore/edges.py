"""Which text columns of a written version file hold a value that trimming would change.

The CSV fast path (:mod:`ingest`) stores a text field as read unless the file's first records
show it needs trimming, and only the columns this finds are then trimmed. Deciding per value in
SQL (``coerce._edged``: the last character needs a ``substring``) cost about 430 instructions a
value — a quarter of the typing COPY's work on the benchmark's file — where clean exports have
no such value at all. Here the file is read back with pyarrow, row group by row group on
``threads`` threads, and each value is judged by its first and last bytes in numpy: a column
chunk the writer dictionary-encoded (names, districts, codes) by its dictionary alone, the
others (identifiers, phone numbers) value by value.

A value is *edged* when it is empty, or when its first or last byte is below ``!`` (every
ASCII space and control character: a superset, which only costs a needless trim), or when it
starts or ends with one of the wide spaces :data:`coerce.SPACES` names (UTF-8: compared byte by
byte). That is a superset of the text ``coerce``'s string type would change; a test holds the
two together over random text.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from gongshu.datastore.coerce import SPACES

__all__ = ["edged", "edged_columns"]

_WIDE = [np.frombuffer(char.encode(), dtype=np.uint8) for char in SPACES if ord(char) > 0x7F]
_DICTIONARY_ONLY = {"PLAIN_DICTIONARY", "RLE_DICTIONARY", "RLE", "BIT_PACKED"}


def edged(array: pa.Array) -> bool:
    """Whether some value of a text (or dictionary-of-text) array is edged (see above)."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary
    if not pa.types.is_string(array.type):
        array = array.cast(pa.string())
    if len(array) == array.null_count:
        return False
    offsets = np.frombuffer(
        array.buffers()[1], dtype=np.int32, count=len(array) + 1, offset=4 * array.offset
    )
    starts, ends = offsets[:-1], offsets[1:]
    if array.null_count:
        valid = np.asarray(array.is_valid())
        starts, ends = starts[valid], ends[valid]
    if (starts == ends).any():
        return True  # an empty value
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)
    first, last = data[starts], data[ends - 1]
    if (first < 0x21).any() or (last < 0x21).any():
        return True
    for wide in _WIDE:
        size = len(wide)
        lead, tail = np.flatnonzero(first == wide[0]), np.flatnonzero(last == wide[-1])
        for rows, begin in ((lead, starts[lead]), (tail, ends[tail] - size)):
            begin = begin[ends[rows] - starts[rows] >= size]
            match = np.ones(len(begin), dtype=bool)
            for offset, byte in enumerate(wide):
                match &= data[begin + offset] == byte
            if match.any():
                return True
    return False


def edged_columns(path: Path, columns: Sequence[str], *, threads: int | None = None) -> set[str]:
    """The ``columns`` (text, in the Parquet file at ``path``) with an edged value."""
    if not columns:
        return set()
    metadata = pq.read_metadata(path)
    position = {metadata.schema.column(i).name: i for i in range(metadata.num_columns)}
    found: set[str] = set()
    local = threading.local()

    def one(group: int) -> None:
        if not hasattr(local, "plain"):
            local.plain = pq.ParquetFile(path, metadata=metadata, pre_buffer=False)
            local.coded = pq.ParquetFile(
                path, metadata=metadata, pre_buffer=False, read_dictionary=list(columns)
            )
        chunks = metadata.row_group(group)
        left = [name for name in columns if name not in found]
        coded = [
            name
            for name in left
            if chunks.column(position[name]).has_dictionary_page
            and set(chunks.column(position[name]).encodings) <= _DICTIONARY_ONLY
        ]
        plain = [name for name in left if name not in coded]
        for reader, names in ((local.coded, coded), (local.plain, plain)):
            if not names:
                continue
            table = reader.read_row_group(group, columns=names, use_threads=False)
            for name in names:
                if any(edged(chunk) for chunk in table.column(name).chunks):
                    found.add(name)

    workers = max(1, min(threads or os.cpu_count() or 1, metadata.num_row_groups))
    with ThreadPoolExecutor(workers, thread_name_prefix="text-edges") as pool:
        list(pool.map(one, range(metadata.num_row_groups)))
    return found
