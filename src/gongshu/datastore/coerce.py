"""Text cells to field types as DuckDB SQL: a typed expression and a "bad cell" flag per type.

Everything is one SQL expression over a whole column: no Python per value. Each type takes its
cheapest path first — a cast of the raw text when a regex finds it in the plain shape clean
exports use — and only the rest is normalised (trimmed of spaces incl. U+3000 and NBSP,
full-width letters, digits and punctuation folded to ASCII, blank → NULL) and matched against
the other forms people write ("1,234", "￥1,234.50", "1.2万", "2024年1月2日", Excel serials …).
The guards matter: DuckDB's casts alone read "1.5" as the integer 2, "2024-01-02 junk" as a date
and drop "-05:00" from a timestamp.

Laziness is kept on purpose: CASE and COALESCE run a branch only for the rows that reach it, but
AND in a projection runs every operand, and DuckDB's common-subexpression pass hoists a repeated
expression out of a branch to run it for every row — so costly parts are bound once (``_let``).

Datetimes are Beijing time: a value with a UTC offset ("Z", "+05:00") is converted to UTC+8.

Amounts are DECIMAL(38,6), or — asked for with ``narrow`` — DECIMAL(18,6), which takes every
amount below 10^12 yuan and which DuckDB writes to Parquet five times cheaper (an 8-byte
integer, not a 16-byte array); typed narrow, a larger amount raises DuckDB's error with
:data:`TOO_WIDE` in its message (:func:`too_wide`), and the caller types the file again wide.
"""

from __future__ import annotations

from gongshu.catalog.vocab import FieldType
from gongshu.kernel.errors import InvalidInput

__all__ = [
    "EXCEL_SERIAL_MAX",
    "MONEY_LIMIT",
    "NARROW_MONEY",
    "SPACES",
    "TOO_WIDE",
    "coerce_sql",
    "duckdb_type",
    "reason",
    "too_wide",
]

EXCEL_SERIAL_MAX = 2_958_465  # 9999-12-31 in Excel's 1900 date system
NARROW_MONEY = "DECIMAL(18,6)"  # amounts when every one of a version is below MONEY_LIMIT
MONEY_LIMIT = 10**12
TOO_WIDE = "gongshu: an amount of 10^12 yuan or more"

_TYPES = {
    FieldType.STRING: "VARCHAR",
    FieldType.INTEGER: "BIGINT",
    FieldType.DECIMAL: "DOUBLE",
    FieldType.MONEY: "DECIMAL(38,6)",
    FieldType.DATE: "DATE",
    FieldType.DATETIME: "TIMESTAMP",
    FieldType.BOOLEAN: "BOOLEAN",
    FieldType.BINARY: "BLOB",
}
_REASONS = {
    FieldType.STRING: "无法读取的文本 (unreadable text)",
    FieldType.INTEGER: "不是整数，应如 1234、1,234 (not an integer such as 1234 or 1,234)",
    FieldType.DECIMAL: (
        "不是数值，应如 1234.5、-3.5、1,234.5、1.2万 (not a number such as 1234.5, -3.5, "
        "1,234.5 or 1.2万)"
    ),
    FieldType.MONEY: (
        "不是金额，应如 1234.50、￥1,234.50、1.2万 (not an amount such as 1234.50, ￥1,234.50 "
        "or 1.2万)"
    ),
    FieldType.DATE: (
        "不是日期，应如 2024-01-02、2024/1/2、2024.1.2、2024年1月2日、20240102 "
        "(not a date such as 2024-01-02, 2024/1/2, 2024.1.2, 2024年1月2日 or 20240102)"
    ),
    FieldType.DATETIME: (
        "不是日期时间，应如 2024-01-02 08:30:00、2024年1月2日 8时30分 (not a date and time "
        "such as 2024-01-02 08:30:00 or 2024年1月2日 8时30分)"
    ),
    FieldType.BOOLEAN: (
        "不是是/否值，应为 是、否、有、无、true、false、Y、N、1、0 (not a yes/no value: 是, 否, "
        "有, 无, true, false, Y, N, 1 or 0)"
    ),
    FieldType.BINARY: "不是 Base64 编码的二进制内容 (not base64-encoded binary content)",
}

# Full-width ASCII (U+FF01-U+FF5E) folds to ASCII; the ideographic space and NBSP to spaces.
_FULL = "".join(chr(code) for code in range(0xFF01, 0xFF5F))
_HALF = "".join(chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F))
_WIDE = "[\uff01-\uff5e]"
SPACES = " \t\r\n\u3000\u00a0\ufeff"  # trimmed from either end of a cell
_BLANK = "[\\s\u3000\u00a0\ufeff]*"

# The plain shapes that go straight to a cast.
_PLAIN_INTEGER = r"[+-]?\d{1,19}"
_PLAIN_NUMBER = r"[+-]?(\d{1,300}(\.\d*)?|\.\d{1,300})"  # 300 digits cannot overflow a DOUBLE
_PLAIN_DATE = r"\d{4}[-/]\d{1,2}[-/]\d{1,2}"
_PLAIN_DATETIME = _PLAIN_DATE + r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?"
# The usual forms of the plain date and date-time shapes ("2024-01-05", "2024-01-05 08:30:00")
# pass a gate far cheaper than the regex (a GLOB of the digits cost 1,200 instructions a
# value): LIKE for the punctuation, a digit first and, for date-times, no "." or "Z" last
# (the TIMESTAMP cast reads "…:1." as second 1 and "…:1Z" as UTC). A date is read by the
# TIMESTAMP cast, which refuses the junk the DATE cast takes after a date ("2024-01-1a").
_USUAL_GATES = {
    "DATE": "{e} LIKE '____-__-__' AND {e} >= '1' AND {e} < ':'",
    "TIMESTAMP": (
        "{e} LIKE '____-__-__ __:__:__' AND {e} >= '0' AND {e} < ':' "
        "AND NOT suffix({e}, '.') AND NOT suffix({e}, 'Z')"
    ),
}
_BASE64 = "([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"

# The other forms, matched after normalising.
_GROUPED_INTEGER = r"[+-]?(\d{1,3}(,\d{3})+|\d+)(\.0*)?"
_NUMBER = (  # [\s\v]: RE2's \s leaves out the vertical tab, which DuckDB's casts skip
    r"^([+-]?)[\s\v]*(?:[￥¥$]|RMB|CNY)?[\s\v]*([+-]?)"
    r"(\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+(?:\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?[\s\v]*(万|亿)?[\s\v]*元?$"
)
_NUMBER_GROUPS = "['s1', 's2', 'num', 'exp', 'unit']"
# y-m-d with -, /, . or 年月日, then an optional time (: or 时/点 分 秒) and UTC offset.
_DATETIME = (
    r"^(\d{4})\s*(?:[-/.]|年)\s*(\d{1,2})\s*(?:[-/.]|月)\s*(\d{1,2})\s*日?"
    r"(?:(?:\s*T\s*|\s+)?(\d{1,2})\s*(?::|时|点)\s*(\d{1,2})"
    r"(?:\s*(?::|分)\s*(\d{1,2}(?:\.\d{1,9})?)\s*秒?|\s*分)?"
    r"\s*(Z|([+-])(\d{2}):?(\d{2})?)?)?$"
)
_DATETIME_GROUPS = "['y', 'mo', 'd', 'h', 'mi', 's', 'tz', 'sign', 'tzh', 'tzm']"
_COMPACT = r"\d{8}|\d{12}|\d{14}"
_SERIAL = r"\d{1,7}(\.\d+)?"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _let(value: str, name: str, body: str) -> str:
    """``body`` with ``name`` bound to ``value``, evaluated once (DuckDB has no LET)."""
    return f"list_transform([{value}], lambda {name}: {body})[1]"


def _normal(expr: str) -> str:
    """Trimmed, full-width folded, blank → NULL."""
    # translate() with a 94-letter map costs ~5 µs a value: a regex gate skips it for most.
    folded = (
        f"CASE WHEN regexp_matches({expr}, {_lit(_WIDE)}) "
        f"THEN translate({expr}, {_lit(_FULL)}, {_lit(_HALF)}) ELSE {expr} END"
    )
    spaced = f"replace(replace({folded}, '\u3000', ' '), '\u00a0', ' ')"
    return _let(f"trim({spaced}, {_lit(SPACES)})", "t", "CASE WHEN t = '' THEN NULL ELSE t END")


def _cast(text: str, sql_type: str) -> str:
    """TRY_CAST; to DECIMAL(38,6) through DECIMAL(18,6), 100× faster below 10^12."""
    if sql_type != "DECIMAL(38,6)":
        return f"TRY_CAST({text} AS {sql_type})"
    narrow = f"CAST(TRY_CAST({text} AS DECIMAL(18,6)) AS DECIMAL(38,6))"
    return f"coalesce({narrow}, TRY_CAST({text} AS DECIMAL(38,6)))"


def _plain(e: str, shape: str, sql_type: str) -> str:
    """The cheap path: a cast of text in exactly this shape, else NULL.

    Dates and date-times in their usual form take a gate before the regex (``_USUAL_GATES``);
    the forms are the shape's, so the result is the same. Tests hold each gate to a GLOB of
    the usual form's digits over random text of its shape.
    """
    cast = _cast(e, sql_type)
    first = ""
    if sql_type in _USUAL_GATES:
        gate = _USUAL_GATES[sql_type].format(e=e)
        read = f"CAST(TRY_CAST({e} AS TIMESTAMP) AS DATE)" if sql_type == "DATE" else cast
        first = f"WHEN {gate} THEN {read} "
    return f"CASE {first}WHEN regexp_full_match({e}, {_lit(shape)}) THEN {cast} END"


def _plain_money(e: str, *, narrow: bool = False) -> str:
    """The cheap path for amounts: text that starts with a digit and has no underscore and no
    exponent goes straight to the DECIMAL cast, the rest of the plain shape behind its regex.

    No regex for most amounts: it cost twice the gate. What the cast takes beyond the plain
    shape among such text (spaces and the vertical tab at the end) the other forms take too,
    as the same number; but it reads "1_000" as 1000, "3E " as 3 and a sign followed by
    spaces as 0, which the gate keeps from it. A test holds both paths to the same values.
    """
    absent = " AND ".join(f"NOT contains({e}, '{char}')" for char in "_eE")
    gate = f"{e} >= '0' AND {e} < ':' AND {absent}"
    cast = f"TRY_CAST({e} AS {NARROW_MONEY})" if narrow else _cast(e, _TYPES[FieldType.MONEY])
    shaped = f"regexp_full_match({e}, {_lit(_PLAIN_NUMBER)})"
    return f"CASE WHEN {gate} THEN {cast} WHEN {shaped} THEN {cast} END"


def _number(n: str, sql_type: str) -> str:
    """The number in normalised text ``n``: grouping commas, ￥/元, sign, exponent, 万/亿."""
    magnitude = _cast("replace(m.num, ',', '') || m.exp", sql_type)
    unit = "CASE m.unit WHEN '万' THEN 10000 WHEN '亿' THEN 100000000 ELSE 1 END"
    scaled = f"try({magnitude} * {unit})"
    signed = f"CASE WHEN m.s1 = '-' OR m.s2 = '-' THEN -{scaled} ELSE {scaled} END"
    body = f"CASE WHEN m.num <> '' AND NOT (m.s1 <> '' AND m.s2 <> '') THEN {signed} END"
    return _let(f"regexp_extract({n}, {_lit(_NUMBER)}, {_NUMBER_GROUPS})", "m", body)


def _moment(n: str, *, with_time: bool) -> str:
    """A TIMESTAMP from normalised text ``n``: y-m-d forms, compact digits, Excel serials."""
    clock = (
        "concat(m.y, '-', m.mo, '-', m.d, ' ', coalesce(nullif(m.h, ''), '0'), ':', "
        "coalesce(nullif(m.mi, ''), '0'), ':', coalesce(nullif(m.s, ''), '0'))"
    )
    stamp = f"TRY_CAST({clock} AS TIMESTAMP)"
    if with_time:  # to Beijing time (UTC+8, 480 minutes)
        offset = (
            "CASE WHEN m.tz = '' THEN 0 WHEN m.tz = 'Z' THEN 480 ELSE 480 - "
            "(CASE m.sign WHEN '-' THEN -1 ELSE 1 END) * (CAST(m.tzh AS INTEGER) * 60 "
            "+ coalesce(TRY_CAST(nullif(m.tzm, '') AS INTEGER), 0)) END"
        )
        stamp = f"{stamp} + to_minutes({offset})"
    parts = _let(
        f"regexp_extract({n}, {_lit(_DATETIME)}, {_DATETIME_GROUPS})",
        "m",
        f"CASE WHEN m.y <> '' THEN {stamp} END",
    )
    if with_time:
        compact = (
            f"CASE length({n}) WHEN 8 THEN try_strptime({n}, '%Y%m%d') "
            f"WHEN 12 THEN try_strptime({n}, '%Y%m%d%H%M') "
            f"WHEN 14 THEN try_strptime({n}, '%Y%m%d%H%M%S') END"
        )
        since = "to_milliseconds(CAST(round(d * 86400000) AS BIGINT))"
    else:
        compact = f"CASE length({n}) WHEN 8 THEN try_strptime({n}, '%Y%m%d') END"
        since = "to_days(CAST(floor(d) AS INTEGER))"
    excel = _let(
        f"TRY_CAST({n} AS DOUBLE)",
        "d",
        f"CASE WHEN d BETWEEN 1 AND {EXCEL_SERIAL_MAX} THEN TIMESTAMP '1899-12-30' + {since} END",
    )
    moment = (
        f"CASE WHEN regexp_full_match({n}, {_lit(_COMPACT)}) THEN {compact} "
        f"WHEN regexp_full_match({n}, {_lit(_SERIAL)}) THEN {excel} ELSE {parts} END"
    )
    return _let(moment, "t", "CASE WHEN year(t) BETWEEN 1 AND 9999 THEN t END")


def _edged(e: str) -> str:
    """True when text is empty or starts or ends with one of the spaces trimmed — and for some
    other text, which the trimmed path then leaves as it is (a control character at either end).

    The end needs the last character, ``substring(e, -1)``, taken once (DuckDB binds the
    repeated expression once) and compared. The start takes comparisons only: ``e < '!'`` is
    the empty text and every first byte below "!", and a wide space first is a range (UTF-8
    keeps code point order byte for byte: text starting with c lies in [c, c + 1)). DuckDB
    decides a comparison from the four bytes it keeps inline; prefix() and suffix() cost
    about fifty instructions a value each. Counted with callgrind on the benchmark's text
    columns (``bench/ingest_instructions.py``): 451 instructions a value, against 608 for a
    prefix() or suffix() per space — and 1,100 for this test with the ranges first (DuckDB
    then seems to evaluate the substring more than once), so the order stays.
    """
    wide = [char for char in SPACES if ord(char) > 0x7F]
    last = f"substring({e}, -1)"
    listed = ", ".join(_lit(char) for char in wide)
    starts = " OR ".join(f"({e} >= {_lit(c)} AND {e} < {_lit(chr(ord(c) + 1))})" for c in wide)
    return f"({last} < '!' OR {last} IN ({listed}) OR {e} < '!' OR {starts})"


def _narrow_money(e: str) -> str:
    """An amount as DECIMAL(18,6): the plain path cast straight to it; the rest (and a plain
    amount too large for it) through the other forms, wide, then narrowed — or DuckDB's error
    (:data:`TOO_WIDE`) for an amount that does not fit.

    The other forms type every plain amount as the plain path does (a test holds them
    together), so the fallback leaves out the wide plain path: repeated, its gate's parts are
    hoisted by DuckDB's common-subexpression pass and cost 430 instructions a value.
    """
    wide = _TYPES[FieldType.MONEY]
    slow = f"CAST({_let(_normal(e), 'n', _number('n', wide))} AS {wide})"
    fits = (
        f"CASE WHEN abs(w) >= {MONEY_LIMIT} THEN error({_lit(TOO_WIDE)}) "
        f"ELSE CAST(w AS {NARROW_MONEY}) END"
    )
    return f"coalesce({_plain_money(e, narrow=True)}, {_let(slow, 'w', fits)})"


def _typed(e: str, kind: FieldType) -> str:
    """The typed expression for raw text expression ``e``: the plain path, else the others."""
    sql_type = _TYPES[kind]
    n = _normal(e)
    if kind is FieldType.STRING:
        trimmed = _let(f"trim({e}, {_lit(SPACES)})", "t", "CASE WHEN t = '' THEN NULL ELSE t END")
        return f"CASE WHEN {_edged(e)} THEN {trimmed} ELSE {e} END"
    if kind is FieldType.INTEGER:
        slow = (
            f"CASE WHEN regexp_full_match(n, {_lit(_GROUPED_INTEGER)}) "
            r"THEN TRY_CAST(regexp_replace(n, ',|\.0*$', '', 'g') AS BIGINT) END"
        )
        return f"coalesce({_plain(e, _PLAIN_INTEGER, sql_type)}, {_let(n, 'n', slow)})"
    if kind in (FieldType.DECIMAL, FieldType.MONEY):
        slow = _number("n", sql_type)
        if kind is FieldType.DECIMAL:  # "1e400" is a DOUBLE infinity
            slow = _let(slow, "v", "CASE WHEN isfinite(v) THEN v END")
        plain = _plain_money(e) if kind is FieldType.MONEY else _plain(e, _PLAIN_NUMBER, sql_type)
        return f"coalesce({plain}, {_let(n, 'n', slow)})"
    if kind is FieldType.DATE:
        slow = f"CAST({_moment('n', with_time=False)} AS DATE)"
        return f"coalesce({_plain(e, _PLAIN_DATE, sql_type)}, {_let(n, 'n', slow)})"
    if kind is FieldType.DATETIME:
        slow = _moment("n", with_time=True)
        return f"coalesce({_plain(e, _PLAIN_DATETIME, sql_type)}, {_let(n, 'n', slow)})"
    if kind is FieldType.BOOLEAN:
        choice = (
            "CASE WHEN {v} IN ('是', '有') THEN true WHEN {v} IN ('否', '无') THEN false "
            "ELSE TRY_CAST({v} AS BOOLEAN) END"
        )
        return f"coalesce({choice.format(v=e)}, {_let(n, 'n', choice.format(v='n'))})"
    # binary: base64, also with line breaks, URL-safe letters or a data: URI prefix. try()
    # costs an exception per refusal, so only text shaped like base64 reaches it.
    decode = (
        f"CASE WHEN b <> '' AND regexp_full_match(b, {_lit(_BASE64)}) THEN try(from_base64(b)) END"
    )
    cleaned = r"translate(regexp_replace(n, '^data:[^,]*;base64,|\s+', '', 'g'), '-_', '+/')"
    return f"coalesce({_let(e, 'b', decode)}, {_let(n, 'n', _let(cleaned, 'b', decode))})"


def _kind(field_type: str) -> FieldType:
    try:
        return FieldType(field_type)
    except ValueError:
        known = ", ".join(kind.value for kind in FieldType)
        raise InvalidInput.field(
            "field_type", f"unknown field type {field_type!r}; known: {known}"
        ) from None


def coerce_sql(expr: str, field_type: str, *, narrow: bool = False) -> tuple[str, str]:
    """(typed DuckDB expression, "bad" expression: the text had a value and did not convert).

    With ``narrow`` an amount is typed as :data:`NARROW_MONEY` (see the module docstring)."""
    kind = _kind(field_type)
    e = f"({expr})"
    if narrow and kind is FieldType.MONEY:
        typed = f"CAST({_narrow_money(e)} AS {NARROW_MONEY})"
    else:
        typed = f"CAST({_typed(e, kind)} AS {_TYPES[kind]})"
    if kind is FieldType.STRING:
        return typed, "false"
    bad = (
        f"CASE WHEN {typed} IS NOT NULL OR {e} IS NULL THEN false "
        f"ELSE NOT regexp_full_match({e}, {_lit(_BLANK)}) END"
    )
    return typed, bad


def duckdb_type(field_type: str, *, narrow: bool = False) -> str:
    """The DuckDB column type a field type is stored as."""
    kind = _kind(field_type)
    return NARROW_MONEY if narrow and kind is FieldType.MONEY else _TYPES[kind]


def too_wide(error: BaseException) -> bool:
    """Whether ``error`` is DuckDB's refusal of an amount typed narrow that does not fit."""
    return TOO_WIDE in str(error)


def reason(field_type: str) -> str:
    """Why a cell of this field type was refused, in Chinese and English."""
    return _REASONS[_kind(field_type)]
