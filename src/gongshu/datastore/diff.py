"""Difference statistics between two versions: rows added, removed, changed and unchanged.

With key fields, rows are matched by key and compared by a hash of their other shared
fields; keys that repeat are reported, since they make "changed" ambiguous. Without keys the
versions are compared as multisets of whole-row hashes (changed is then not defined).
Fields present in only one version are listed and left out of the comparison. A field stored
as another type in the other version (amounts as DECIMAL(18,6) in one, DECIMAL(38,6) in the
other: :mod:`coerce`) is compared as text, since DuckDB hashes the same value of two types
differently.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import duckdb

from gongshu.datastore.duck import quote, sql_string

__all__ = ["diff_versions"]


def _row_hash(names: Sequence[str], alias: str, as_text: Collection[str]) -> str:
    if not names:
        return "0"
    columns = [
        f"CAST({alias}.{quote(n)} AS VARCHAR)" if n in as_text else f"{alias}.{quote(n)}"
        for n in names
    ]
    return f"hash({', '.join(columns)})"


def _retyped(con: duckdb.DuckDBPyConnection, a: str, b: str) -> set[str]:
    """The columns whose stored types differ between the two files."""
    types = [
        {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        for source in (a, b)
    ]
    return {name for name, kind in types[0].items() if types[1].get(name, kind) != kind}


def diff_versions(
    con: duckdb.DuckDBPyConnection,
    *,
    old: Path,
    new: Path,
    old_fields: Sequence[str],
    new_fields: Sequence[str],
    keys: Sequence[str] = (),
) -> dict[str, Any]:
    """Counts of added, removed, changed and unchanged rows from ``old`` to ``new``."""
    shared = [name for name in new_fields if name in old_fields]
    keys = [key for key in keys if key in shared]
    values = [name for name in shared if name not in keys]
    a = f"read_parquet({sql_string(str(old))})"
    b = f"read_parquet({sql_string(str(new))})"
    retyped = _retyped(con, a, b)
    result: dict[str, Any] = {
        "keys": list(keys),
        "fields_added": [n for n in new_fields if n not in old_fields],
        "fields_removed": [n for n in old_fields if n not in new_fields],
    }
    if keys:
        key_list = ", ".join(quote(k) for k in keys)
        on = " AND ".join(f"o.{quote(k)} IS NOT DISTINCT FROM n.{quote(k)}" for k in keys)
        row = con.execute(
            f"""
            WITH o AS (SELECT {key_list}, {_row_hash(values, "t", retyped)} AS h FROM {a} AS t),
                 n AS (SELECT {key_list}, {_row_hash(values, "t", retyped)} AS h FROM {b} AS t)
            SELECT
              count(*) FILTER (WHERE o.h IS NULL),
              count(*) FILTER (WHERE n.h IS NULL),
              count(*) FILTER (WHERE o.h IS NOT NULL AND n.h IS NOT NULL AND o.h <> n.h),
              count(*) FILTER (WHERE o.h = n.h)
            FROM o FULL OUTER JOIN n ON {on}
            """
        ).fetchone()
        duplicated = con.execute(
            f"SELECT count(*) FROM (SELECT {key_list} FROM {b} GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()
        assert row is not None and duplicated is not None
        added, removed, changed, unchanged = (int(v) for v in row)
        result.update(
            added=added,
            removed=removed,
            changed=changed,
            unchanged=unchanged,
            duplicate_keys=int(duplicated[0]),
        )
        return result
    hashed = _row_hash(shared, "t", retyped)
    row = con.execute(
        f"""
        WITH o AS (SELECT {hashed} AS h, count(*) AS k FROM {a} AS t GROUP BY 1),
             n AS (SELECT {hashed} AS h, count(*) AS k FROM {b} AS t GROUP BY 1)
        SELECT
          coalesce(sum(greatest(coalesce(n.k, 0) - coalesce(o.k, 0), 0)), 0),
          coalesce(sum(greatest(coalesce(o.k, 0) - coalesce(n.k, 0), 0)), 0),
          coalesce(sum(least(coalesce(o.k, 0), coalesce(n.k, 0))), 0)
        FROM o FULL OUTER JOIN n ON o.h = n.h
        """
    ).fetchone()
    assert row is not None
    added, removed, unchanged = (int(v) for v in row)
    result.update(added=added, removed=removed, changed=None, unchanged=unchanged)
    return result
