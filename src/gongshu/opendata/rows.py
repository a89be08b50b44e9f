"""The row API's query language, read into a :class:`RowQuery` and built as DuckDB SQL.

``col=v`` or ``col__exact=v``, ``__gt``, ``__gte``, ``__lt``, ``__lte``, ``__in`` (a comma list),
``__contains`` (text) and ``__isnull`` (``true``/``false``); ``_sort=col`` or ``-col``;
``_fields=a,b``; ``_size`` (1–1000, default 100); ``_cursor``; ``_format=json|csv|ndjson``;
``_total=exact``. Values are read as the field's type, so ``价格__gt=abc`` is refused before any
query runs, and reach DuckDB only as bound parameters; field names only as quoted identifiers.

Paging is by keyset: the cursor carries the sort (field and direction), the last row's sort
value and its ``file_row_number`` (the tie-breaker, unique per version), so every page costs
the same however deep it is. Unsorted pages follow file order and need no ORDER BY at all, and
so do sorted pages read from a copy stored in the sort's order (see :mod:`serving`): their
cursors also carry the row's position there (``__pos``) and the version it belongs to.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from gongshu.catalog.vocab import FieldType
from gongshu.datastore.duck import quote
from gongshu.opendata.access import OpenAccess, OpenField
from gongshu.opendata.errors import (
    BadFilterValue,
    DataNotAvailable,
    MalformedCursor,
    PageSizeOutOfRange,
    UnknownField,
    UnknownOperator,
    UnknownParameter,
    parameter_error,
)

if TYPE_CHECKING:
    from gongshu.opendata.serving import RowStore

__all__ = [
    "DEFAULT_SIZE",
    "FORMATS",
    "KEY_PARAMETER",
    "MAX_SIZE",
    "OPERATORS",
    "POSITION_COLUMN",
    "ROW_COLUMN",
    "Filter",
    "RowPage",
    "RowQuery",
    "count_sql",
    "dumps",
    "encode_cursor_for",
    "operators_for",
    "order_sql",
    "page_sql",
    "parse_query",
    "parse_value",
    "read_page",
    "stream_rows",
    "stream_sql",
    "where_sql",
]

ROW_COLUMN = "__row"  # the Parquet file_row_number, kept in the serving copy
POSITION_COLUMN = "__pos"  # a row's place in a sorted copy
CURSOR_TAG = 12  # characters of the version's file hash a position cursor carries
DEFAULT_SIZE = 100
MAX_SIZE = 1000
MAX_IN = 100
FORMATS = ("json", "csv", "ndjson")
KEY_PARAMETER = "app_key"
OPERATORS = ("exact", "gt", "gte", "lt", "lte", "in", "contains", "isnull")
_COMPARE = {"exact": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_ORDERED = ("exact", "gt", "gte", "lt", "lte", "in", "isnull")
_BY_TYPE: dict[str, tuple[str, ...]] = {
    FieldType.STRING: OPERATORS,
    FieldType.BOOLEAN: ("exact", "in", "isnull"),
    FieldType.BINARY: ("isnull",),
}
_RESERVED = ("_sort", "_fields", "_size", "_cursor", "_format", "_total")
_TRUE = ("true", "1", "yes", "t")
_FALSE = ("false", "0", "no", "f")
_BEIJING = timezone(timedelta(hours=8))
_INT64 = 2**63


def operators_for(field: OpenField) -> tuple[str, ...]:
    """The filter operators a field's type supports."""
    return _BY_TYPE.get(field.type, _ORDERED)


@dataclass(frozen=True)
class Filter:
    """One filter: ``field op value`` (a list for ``in``, a bool for ``isnull``)."""

    field: OpenField
    op: str
    value: Any
    parameter: str


@dataclass(frozen=True)
class RowQuery:
    """A parsed row request."""

    fields: tuple[OpenField, ...]
    filters: tuple[Filter, ...]
    sort: OpenField | None
    descending: bool
    size: int
    size_given: bool
    after: tuple[Any, int] | None  # (sort value, file row number) of the last row seen
    format: str
    exact_total: bool
    # (version tag, position) of the last row seen in a sorted copy, when it came from one
    after_position: tuple[str, int] | None = None


def parse_value(field: OpenField, text: str, parameter: str, *, strict: bool = True) -> Any:
    """``text`` read as the field's type, or :class:`BadFilterValue` naming the parameter."""
    kind = field.type
    try:
        value: Any
        if kind == FieldType.INTEGER:
            value = int(text.strip())
            if not -_INT64 <= value < _INT64:
                raise ValueError("out of range")
        elif kind == FieldType.DECIMAL:
            value = float(text)
            if strict and not math.isfinite(value):
                raise ValueError("not finite")
        elif kind == FieldType.MONEY:
            value = Decimal(text.strip())
            if not value.is_finite():
                raise ValueError("not finite")
        elif kind == FieldType.DATE:
            value = date.fromisoformat(text.strip())
        elif kind == FieldType.DATETIME:
            value = datetime.fromisoformat(text.strip())
            if value.tzinfo is not None:  # stored as naive Beijing time
                value = value.astimezone(_BEIJING).replace(tzinfo=None)
        elif kind == FieldType.BOOLEAN:
            lowered = text.strip().lower()
            if lowered not in _TRUE + _FALSE:
                raise ValueError("not a boolean")
            value = lowered in _TRUE
        else:
            value = text
    except (ValueError, InvalidOperation) as exc:
        raise parameter_error(
            BadFilterValue,
            parameter,
            f"“{text}”不是{field.name}的有效值 (not a valid {kind} value)",
            type=kind,
        ) from exc
    return value


def _field(by_name: dict[str, OpenField], name: str, parameter: str) -> OpenField:
    found = by_name.get(name)
    if found is None:
        raise parameter_error(
            UnknownField, parameter, f"没有可用的数据项“{name}” (no such field: {name})"
        )
    return found


def _filter(by_name: dict[str, OpenField], parameter: str, text: str) -> Filter:
    if parameter in by_name:
        name, op = parameter, "exact"
    else:
        name, sep, op = parameter.rpartition("__")
        if not sep or name not in by_name:
            # Neither a field nor field__op: say "unknown field" (hidden fields look the same).
            raise parameter_error(
                UnknownField,
                parameter,
                f"没有可用的数据项“{name or parameter}” (no such field: {name or parameter})",
            )
    field = by_name[name]
    if op not in OPERATORS:
        raise parameter_error(
            UnknownOperator,
            parameter,
            f"不支持的运算符 {op} (unknown operator {op!r}; use one of {', '.join(OPERATORS)})",
        )
    if op not in operators_for(field):
        raise parameter_error(
            UnknownOperator,
            parameter,
            f"{field.type} 类型的数据项不支持 {op} (operator {op!r} not for {field.type} fields)",
        )
    value: Any
    if op == "isnull":
        value = parse_value(
            OpenField(field.name, FieldType.BOOLEAN, "", frozenset()), text, parameter
        )
    elif op == "in":
        items = [item for item in text.split(",") if item != ""]
        if not items or len(items) > MAX_IN:
            raise parameter_error(
                BadFilterValue, parameter, f"需要 1–{MAX_IN} 个值 (give 1 to {MAX_IN} values)"
            )
        value = [parse_value(field, item, parameter) for item in items]
    else:
        value = parse_value(field, text, parameter)
    return Filter(field, op, value, parameter)


def _size(text: str | None) -> int:
    if text is None:
        return DEFAULT_SIZE
    try:
        size = int(text)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_SIZE:
        raise parameter_error(
            PageSizeOutOfRange, "_size", f"每页 1–{MAX_SIZE} 行 (must be 1 to {MAX_SIZE})"
        )
    return size


def parse_query(params: Sequence[tuple[str, str]], fields: Sequence[OpenField]) -> RowQuery:
    """Read the row API's query parameters against the fields the caller may see."""
    if not fields:
        raise DataNotAvailable("没有可提供的数据项 (no fields are available to this caller)")
    by_name = {f.name: f for f in fields}
    reserved: dict[str, str] = {}
    filters: list[Filter] = []
    for name, text in params:
        if name == KEY_PARAMETER:
            continue
        if name.startswith("_"):
            if name not in _RESERVED:
                raise parameter_error(
                    UnknownParameter,
                    name,
                    f"未知参数 {name} (unknown parameter; use {', '.join(_RESERVED)})",
                )
            reserved[name] = text
            continue
        filters.append(_filter(by_name, name, text))
    selected = tuple(fields)
    if "_fields" in reserved:
        names = [n.strip() for n in reserved["_fields"].split(",") if n.strip()]
        if not names:
            raise parameter_error(UnknownField, "_fields", "至少列出一个数据项 (list a field)")
        selected = tuple(dict.fromkeys(_field(by_name, n, "_fields") for n in names))
    sort, descending = None, False
    if reserved.get("_sort"):
        text = reserved["_sort"]
        descending = text.startswith("-")
        sort = _field(by_name, text.lstrip("-"), "_sort")
        if sort.type == FieldType.BINARY:
            raise parameter_error(UnknownOperator, "_sort", "二进制数据项不能排序 (cannot sort)")
    after, position = _decode_cursor(reserved.get("_cursor"), sort, descending)
    fmt = reserved.get("_format", "json")
    if fmt not in FORMATS:
        raise parameter_error(
            UnknownParameter, "_format", f"格式应为 {'/'.join(FORMATS)} (use one of {FORMATS})"
        )
    total = reserved.get("_total", "estimate")
    if total not in ("estimate", "exact"):
        raise parameter_error(UnknownParameter, "_total", "应为 estimate 或 exact")
    return RowQuery(
        fields=selected,
        filters=tuple(filters),
        sort=sort,
        descending=descending,
        size=_size(reserved.get("_size")),
        size_given="_size" in reserved,
        after=after,
        format=fmt,
        exact_total=total == "exact",
        after_position=position,
    )


# --- cursors ---------------------------------------------------------------------------------


def _bad_cursor(reason: str) -> MalformedCursor:
    error = parameter_error(
        MalformedCursor, "_cursor", f"游标无效 (not a cursor this server issued: {reason})"
    )
    assert isinstance(error, MalformedCursor)
    return error


def _cursor_text(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    return str(value)  # Decimal


def encode_cursor_for(
    query: RowQuery, sort_value: Any, row: int, position: tuple[str, int] | None = None
) -> str:
    """The opaque cursor that continues after a row (at ``position`` of a sorted copy)."""
    key = [
        query.sort.name if query.sort else None,
        int(query.descending),
        _cursor_text(sort_value),
        row,
        *(position or ()),
    ]
    raw = json.dumps(key, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(
    cursor: str | None, sort: OpenField | None, descending: bool
) -> tuple[tuple[Any, int] | None, tuple[str, int] | None]:
    """The keyset (sort value, row number) and, when the cursor has one, its sorted position."""
    if not cursor:
        return None, None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise _bad_cursor("undecodable") from exc
    if not isinstance(key, list) or len(key) not in (4, 6):
        raise _bad_cursor("wrong shape")
    name, desc, value, row = key[:4]
    if name != (sort.name if sort else None) or desc != int(descending):
        raise _bad_cursor("made for another sort")
    position = None
    if len(key) == 6:
        tag, place = key[4:]
        if sort is None or not isinstance(tag, str) or not _is_count(place):
            raise _bad_cursor("bad position")
        position = (tag, int(place))
    return _keyset_after(sort, value, row), position


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _keyset_after(sort: OpenField | None, value: Any, row: Any) -> tuple[Any, int]:
    if not _is_count(row):
        raise _bad_cursor("bad row number")
    if sort is None or value is None:
        if value is not None:
            raise _bad_cursor("unexpected sort value")
        return None, row
    if isinstance(value, bool) and sort.type == FieldType.BOOLEAN:
        return value, row
    if isinstance(value, int) and not isinstance(value, bool) and sort.type == FieldType.INTEGER:
        return value, row
    if not isinstance(value, str):
        raise _bad_cursor("bad sort value")
    try:
        return parse_value(sort, value, "_cursor", strict=False), row
    except BadFilterValue as exc:
        raise _bad_cursor("bad sort value") from exc


# --- SQL -------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    # As DuckDB casts a stored value to VARCHAR: booleans are lower case.
    return str(value).lower() if isinstance(value, bool) else str(value)


def where_sql(filters: Sequence[Filter], access: OpenAccess) -> tuple[list[str], list[Any]]:
    """The predicates of the filters and of the grant's row filter, with their parameters."""
    parts: list[str] = []
    params: list[Any] = []
    for item in filters:
        column, kind = quote(item.field.name), item.field.sql_type
        if item.op == "isnull":
            parts.append(f"{column} IS {'' if item.value else 'NOT '}NULL")
        elif item.op == "in":
            marks = ", ".join(f"CAST(? AS {kind})" for _ in item.value)
            parts.append(f"{column} IN ({marks})")
            params.extend(item.value)
        elif item.op == "contains":
            parts.append(f"contains({column}, ?)")
            params.append(item.value)
        else:
            parts.append(f"{column} {_COMPARE[item.op]} CAST(? AS {kind})")
            params.append(item.value)
    if access.row_filter:
        present = {f.name for f in access.entry.fields}
        for name, values in sorted(access.row_filter.items()):
            listed = values if isinstance(values, list) else [values]
            if name not in present or not listed:
                # A filter on a field the version lacks matches nothing: deny rather than widen.
                parts.append("FALSE")
                continue
            marks = ", ".join("?" for _ in listed)
            parts.append(f"CAST({quote(name)} AS VARCHAR) IN ({marks})")
            params.extend(_text(v) for v in listed)
    return parts, params


def _json_cell(field: OpenField) -> str:
    """A field as DuckDB should write it in JSON (ISO times, base64 bytes, no NaN)."""
    column = quote(field.name)
    if field.type == FieldType.DECIMAL:
        return f"CASE WHEN isfinite({column}) THEN {column} END"
    if field.type == FieldType.DATETIME:
        return f"replace(CAST({column} AS VARCHAR), ' ', 'T')"
    if field.type == FieldType.BINARY:
        return f"base64({column})"
    return column


def _select(query: RowQuery, *, output: str, ordered: bool = False) -> str:
    """The select list: the row (as JSON text, as text or as values), the sort value, __row
    (and, from a sorted copy, __pos)."""
    if output == "json":
        packed = ", ".join(f"{quote(f.name)} := {_json_cell(f)}" for f in query.fields)
        columns = [f"CAST(to_json(struct_pack({packed})) AS VARCHAR)"]
    elif output == "text":
        columns = [f"CAST({quote(f.name)} AS VARCHAR)" for f in query.fields]
    else:
        columns = [quote(f.name) for f in query.fields]
    if query.sort is not None:
        columns.append(quote(query.sort.name))
    columns.append(quote(ROW_COLUMN))
    if ordered:
        columns.append(quote(POSITION_COLUMN))
    return ", ".join(columns)


def order_sql(column: str, *, descending: bool) -> str:
    """The order of a sort on ``column``: NULLs last either way, the row number breaks ties."""
    direction = "DESC" if descending else "ASC"
    return f"{quote(column)} {direction} NULLS LAST, {quote(ROW_COLUMN)}"


def _keyset(query: RowQuery, ordered: str | None) -> tuple[list[str], list[Any], str]:
    """The continuation predicate, its parameters and the ORDER BY.

    The row number comes from a validated cursor as an int and is written into the SQL:
    DuckDB plans a literal faster than a bound parameter (and this runs on every page). From a
    sorted copy of the version tagged ``ordered`` no ORDER BY is needed, and a cursor made on
    that copy continues from its position.
    """
    row = quote(ROW_COLUMN)
    if query.sort is None:
        if query.after is None:
            return [], [], ""
        return [f"{row} > {int(query.after[1])}"], [], ""
    column, kind = quote(query.sort.name), query.sort.sql_type
    sort_order = order_sql(query.sort.name, descending=query.descending)
    order = "" if ordered else f" ORDER BY {sort_order}"
    if query.after is None:
        return [], [], order
    if ordered and query.after_position and query.after_position[0] == ordered:
        return [f"{quote(POSITION_COLUMN)} > {int(query.after_position[1])}"], [], order
    value, last = query.after
    if value is None:  # in the tail of NULLs, which sorts last either way
        return [f"({column} IS NULL AND {row} > {int(last)})"], [], order
    beyond = "<" if query.descending else ">"
    predicate = (
        f"({column} {beyond} CAST(? AS {kind}) OR {column} IS NULL"
        f" OR ({column} = CAST(? AS {kind}) AND {row} > {int(last)}))"
    )
    return [predicate], [value, value], order


def _assemble(table: str, select: str, parts: list[str], order: str, limit: str) -> str:
    where = f" WHERE {' AND '.join(parts)}" if parts else ""
    return f"SELECT {select} FROM {table}{where}{order}{limit}"


def _rows_sql(
    table: str,
    query: RowQuery,
    access: OpenAccess,
    *,
    output: str,
    limit: int | None,
    ordered: str | None,
) -> tuple[str, list[Any]]:
    """The rows from the cursor on, ``limit`` of them.

    A sorted, limited query on the version's own copy picks the page's sort keys and row
    numbers first, then reads and formats just those rows: sorting every column of every
    matching row to keep a hundred costs several times more.
    """
    parts, params = where_sql(query.filters, access)
    after, after_params, order = _keyset(query, ordered)
    limited = f" LIMIT {int(limit)}" if limit is not None else ""
    select = _select(query, output=output, ordered=bool(ordered))
    if query.sort is not None and limit is not None and not ordered:
        keys = ", ".join(quote(name) for name in dict.fromkeys([query.sort.name, ROW_COLUMN]))
        inner = _assemble(table, keys, parts + after, order, limited)
        chosen = [f"{quote(ROW_COLUMN)} IN (SELECT {quote(ROW_COLUMN)} FROM ({inner}))"]
        return _assemble(table, select, chosen, order, ""), [*params, *after_params]
    sql = _assemble(table, select, parts + after, order, limited)
    return sql, [*params, *after_params]


def page_sql(
    table: str,
    query: RowQuery,
    access: OpenAccess,
    *,
    output: str = "json",
    ordered: str | None = None,
) -> tuple[str, list[Any]]:
    """One page plus one row (the extra row says whether there is a next page).

    ``ordered`` is the version tag when ``table`` is the version's copy in the sort's order.
    """
    limit = query.size + 1
    return _rows_sql(table, query, access, output=output, limit=limit, ordered=ordered)


def stream_sql(
    table: str, query: RowQuery, access: OpenAccess, *, output: str, ordered: str | None = None
) -> tuple[str, list[Any]]:
    """Every matching row from the cursor on (up to ``_size`` when given), for streaming."""
    limit = query.size if query.size_given else None
    return _rows_sql(table, query, access, output=output, limit=limit, ordered=ordered)


def count_sql(table: str, query: RowQuery, access: OpenAccess) -> tuple[str, list[Any]]:
    """How many rows match the filters (whatever the cursor)."""
    parts, params = where_sql(query.filters, access)
    return _assemble(table, "count(*)", parts, "", ""), params


# --- reading ---------------------------------------------------------------------------------


def dumps(document: Any) -> bytes:
    """Compact UTF-8 JSON (for the envelope; rows are written as JSON by DuckDB)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str).encode()


@dataclass(frozen=True)
class RowPage:
    """One page of rows (each already JSON text), with its paging and total."""

    rows_json: list[str]
    next_cursor: str | None
    total: int
    total_exact: bool
    total_note: str

    @property
    def data(self) -> list[dict[str, Any]]:
        """The rows as dictionaries (for callers that render rather than relay them)."""
        return [json.loads(row) for row in self.rows_json]

    def body(self, meta: dict[str, Any], links: dict[str, Any]) -> bytes:
        """The ``{"data", "meta", "links"}`` document, rows spliced in as DuckDB wrote them."""
        rows = ",".join(self.rows_json).encode()
        return b'{"data":[' + rows + b'],"meta":' + dumps(meta) + b',"links":' + dumps(links) + b"}"


def _total(
    store: RowStore, table: str, query: RowQuery, access: OpenAccess, seen: int, more: bool
) -> tuple[int, bool, str]:
    if query.exact_total:
        sql, params = count_sql(table, query, access)
        return int(store.fetch(sql, params)[0][0]), True, "精确计数 (exact count)"
    if not query.filters and not access.filtered:
        return access.version.rows, True, "数据版本的总行数 (the version's row count)"
    if query.after is None and not more:
        return seen, True, "全部结果在本页 (every match is on this page)"
    return (
        access.version.rows,
        False,
        "估计值：有筛选条件时为数据版本总行数（上限），精确计数请加 _total=exact "
        "(estimate: with filters, the version's row count as an upper bound; "
        "add _total=exact for an exact count)",
    )


def _source(store: RowStore, access: OpenAccess, query: RowQuery) -> tuple[str, str | None]:
    """The table to read and, when it is a copy in the sort's order, the version's tag.

    An unsorted page with an ``exact`` filter reads the copy in that field's ascending order
    when there is one: the matching rows lie together there, in file order, so DuckDB skips
    the rest by its zone maps instead of scanning for them.
    """
    version = access.version
    if query.sort is not None:
        copy = store.sorted_table(
            version.file_hash, version.rows, query.sort.name, descending=query.descending
        )
        if copy is not None:
            return copy, version.file_hash[:CURSOR_TAG]
    else:
        exact = next((f for f in query.filters if f.op == "exact"), None)
        if exact is not None:
            copy = store.sorted_table(
                version.file_hash, version.rows, exact.field.name, descending=False
            )
            if copy is not None:
                return copy, None
    return store.table(version.file_hash, version.rows), None


def read_page(store: RowStore, access: OpenAccess, query: RowQuery) -> RowPage:
    """One page of rows, the next cursor and the total."""
    table, ordered = _source(store, access, query)
    sql, params = page_sql(table, query, access, ordered=ordered)
    rows = store.fetch(sql, params)
    more = len(rows) > query.size
    rows = rows[: query.size]
    next_cursor = None
    if more:
        last = rows[-1]
        position = (ordered, int(last[-1])) if ordered else None
        row = last[-2] if ordered else last[-1]
        next_cursor = encode_cursor_for(query, last[1] if query.sort else None, row, position)
    total, exact, note = _total(store, table, query, access, len(rows), more)
    return RowPage([row[0] for row in rows], next_cursor, total, exact, note)


def stream_rows(
    store: RowStore, access: OpenAccess, query: RowQuery, on_done: Callable[[int], None]
) -> Iterator[bytes]:
    """Every matching row as CSV (header first) or NDJSON; ``on_done`` hears the row count.

    The table is prepared before the first byte, so a failure is an error response, not a
    broken stream.
    """
    table, ordered = _source(store, access, query)
    as_csv = query.format == "csv"
    output = "text" if as_csv else "json"
    sql, params = stream_sql(table, query, access, output=output, ordered=ordered)
    names = [f.name for f in query.fields]
    width = len(names)

    def csv_lines(rows: list[Any]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows(rows)
        return buffer.getvalue().encode()

    def generate() -> Iterator[bytes]:
        sent = 0
        try:
            if as_csv:
                yield csv_lines([names])
            for batch in store.stream(sql, params):
                sent += len(batch)
                if as_csv:
                    yield csv_lines([row[:width] for row in batch])
                else:
                    yield "".join(row[0] + "\n" for row in batch).encode()
        finally:
            on_done(sent)

    return generate()
