"""The queries behind the CKAN-compatible API: open entries, Solr-style filters, sort, facets.

Everything here is set-based SQL over the catalogue tables, so paging through 100,000 entries
reads one page at a time. Filters and facets use the entry's indexed columns (provider, theme,
open type), which equal the published version's except while an entry is under revision;
keywords (tags) come from the published version itself, so a revision's new keywords never
show before the bureau publishes them.

``fq`` understands the part of Solr's syntax CKAN clients and harvesters send::

    organization:transport  groups:transport  tags:"公交 站点"  res_format:CSV
    license_id:cc-by-4.0  name:ent_…  id:ent_…  owner_org:org_…  capacity:public
    -organization:health  organization:(transport OR health)  a:x AND (b:y OR c:z)
    metadata_modified:[2026-01-01T00:00:00Z TO *]  metadata_created:{* TO NOW}  *:*

Clauses side by side must all hold (CKAN's default operator is AND).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import aliased

from gongshu.catalog.models import Entry, EntryVersion
from gongshu.catalog.search import analyzer
from gongshu.catalog.textsearch import Query, to_fts5, to_tsquery
from gongshu.catalog.vocab import THEMES, EntryStatus, OpenType
from gongshu.datastore.models import DatasetVersion
from gongshu.identity import Organisation
from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.uow import UnitOfWork

__all__ = [
    "FACET_FIELDS",
    "LICENCES",
    "OPEN_TYPES",
    "RESOURCE_FORMATS",
    "Licence",
    "SearchQueryInvalid",
    "SortKey",
    "count_open",
    "facet_counts",
    "filter_clause",
    "group_code",
    "group_name",
    "index_hits",
    "keyword_rows",
    "open_clause",
    "order_by",
    "parse_query_text",
    "parse_sort",
]

OPEN_TYPES = (OpenType.UNCONDITIONAL.value, OpenType.CONDITIONAL.value)
# What a package's resources offer once its entry has data (the API last, as a service).
RESOURCE_FORMATS = ("CSV", "XLSX", "JSON", "Parquet", "API")
FACET_FIELDS = ("organization", "groups", "tags", "res_format", "license_id")
# The catalogue search weighs a hit in the name five times one in the body (search.py).
_NAME_WEIGHT = 5.0


class SearchQueryInvalid(InvalidInput):
    """``fq`` cannot be parsed or names an unknown field (CKAN's "Search Query Error")."""

    code = "search_query_invalid"
    status = 400


@dataclass(frozen=True, slots=True)
class Licence:
    """A CKAN licence: id, title, URL and whether the Open Definition counts it as open."""

    id: str
    title: str
    url: str | None
    is_open: bool


# Unconditional open data may be used by anyone who names the source: CC BY 4.0 says exactly
# that, and CKAN's register knows it. Conditional data is used under an agreement signed with
# the provider, which is not open in the Open Definition's sense.
LICENCES: dict[str, Licence] = {
    OpenType.UNCONDITIONAL.value: Licence(
        "cc-by-4.0",
        "知识共享署名 4.0 (Creative Commons Attribution 4.0)",
        "https://creativecommons.org/licenses/by/4.0/",
        True,
    ),
    OpenType.CONDITIONAL.value: Licence(
        "other-closed",
        "有条件开放使用协议 (Other, not open: conditional use agreement)",
        None,
        False,
    ),
}


def open_clause(*, open_type_index: bool = True) -> Any:
    """Entries the public may see: published, not deprecated, open by the entry and by its
    published version (a revision under review may neither widen nor keep what it narrows).

    Without ``open_type_index`` the open-type test is worded so that no index serves it:
    SQLite then walks the index of a page's sort order (modified, id) and stops at the page,
    instead of fetching every open entry through the open-type index and sorting them all.
    """
    version = aliased(EntryVersion)  # the statement may join the published version itself
    published_open = sa.exists().where(
        _published_version(version), version.document["open_type"].as_string().in_(OPEN_TYPES)
    )
    open_type = Entry.open_type if open_type_index else Entry.open_type.concat("")
    return sa.and_(
        Entry.published_version.is_not(None),
        Entry.status != EntryStatus.DEPRECATED.value,
        open_type.in_(OPEN_TYPES),
        # Only a revision can differ from its published version; the published one is checked
        # then alone, so the common case never reads a document.
        sa.or_(Entry.status == EntryStatus.PUBLISHED.value, published_open),
    )


def count_open(uow: UnitOfWork) -> int:
    """How many entries are open, from two index searches instead of reading every entry:
    all entries of an open type (the open-type index alone), less those of them that are
    not public, all of which are outside status ``published`` (a few: drafts, reviews,
    revisions and deprecated ones, found through the status index)."""
    of_open_type = sa.select(sa.func.count()).where(Entry.open_type.in_(OPEN_TYPES))
    unpublished = [status.value for status in EntryStatus if status != EntryStatus.PUBLISHED]
    hidden = sa.select(sa.func.count()).where(
        Entry.status.in_(unpublished),
        Entry.open_type.concat("").in_(OPEN_TYPES),
        sa.not_(open_clause(open_type_index=False)),
    )
    return int(uow.session.scalar(of_open_type) or 0) - int(uow.session.scalar(hidden) or 0)


# --- themes as CKAN groups ------------------------------------------------------------------


def group_name(code: str) -> str:
    """A theme's CKAN group name: its English label as a slug (``04`` → ``transport``)."""
    return re.sub(r"[^a-z0-9]+", "-", THEMES[code][1].lower()).strip("-")


def group_code(name_or_code: str) -> str | None:
    """The theme code of a CKAN group name or id, or None."""
    if name_or_code in THEMES:
        return name_or_code
    return next((code for code in THEMES if group_name(code) == name_or_code), None)


# --- full text ------------------------------------------------------------------------------


def parse_query_text(q: str | None) -> Query | None:
    """The catalogue's parse of ``q``; empty and Solr's match-all mean no text condition."""
    text = (q or "").strip()
    if text in ("", "*", "*:*"):
        return None
    return analyzer().parse_query(text)


def index_hits(
    uow: UnitOfWork, query: Query, *, ranked: bool, top: int | None = None
) -> sa.Subquery:
    """Matching entries' ``seq`` (and relevance) from the catalogue's search index, asked the
    way :mod:`gongshu.catalog.search` asks it, so both APIs find the same entries. With
    ``top``, only the best ``top`` by (rank, seq), taken inside the index."""
    if uow.session.get_bind().dialect.name == "postgresql":
        rank = "ts_rank(document, CAST(:q AS tsquery))" if ranked else "0.0"
        sql = (
            f"SELECT seq, {rank} AS rank FROM catalog_search WHERE document @@ CAST(:q AS tsquery)"
        )
        params: dict[str, Any] = {"q": to_tsquery(query)}
    else:
        rank = f"-bm25(catalog_search, {_NAME_WEIGHT}, 1.0)" if ranked else "0.0"
        sql = (
            f"SELECT rowid AS seq, {rank} AS rank FROM catalog_search WHERE catalog_search MATCH :q"
        )
        params = {"q": to_fts5(query)}
    if top is not None:
        sql += " ORDER BY rank DESC, seq DESC LIMIT :top"
        params["top"] = top
    stmt = sa.text(sql).bindparams(**params)
    return stmt.columns(seq=sa.BigInteger, rank=sa.Float).subquery("hits")


# --- keywords of published versions ---------------------------------------------------------


def _published_version(version: Any) -> Any:
    return sa.and_(version.entry_id == Entry.id, version.number == Entry.published_version)


def _keywords(uow: UnitOfWork) -> Any:
    """The published keywords of each :class:`Entry` as a one-column table (``value``),
    correlated to the entry. A published entry's own column holds them (its working copy is
    its published version); only one under revision reads its published document."""
    version = aliased(EntryVersion)
    postgres = uow.session.get_bind().dialect.name == "postgresql"
    published = (
        version.document["keywords"] if postgres
        else sa.func.json_extract(version.document, "$.keywords")
    )  # fmt: skip
    frozen = sa.select(published).where(_published_version(version)).correlate(Entry)
    own = sa.cast(Entry.keywords, JSONB) if postgres else Entry.keywords
    words = sa.case(
        (Entry.status == EntryStatus.PUBLISHED.value, own), else_=frozen.scalar_subquery()
    )
    if postgres:
        return sa.func.jsonb_array_elements_text(words).table_valued("value").alias("kw")
    return sa.func.json_each(words).table_valued("value").alias("kw")


def keyword_rows(uow: UnitOfWork) -> tuple[sa.Select[Any], Any]:
    """``SELECT … FROM catalog_entry JOIN its published keywords`` (no columns yet) and the
    keyword column."""
    keywords = _keywords(uow)
    stmt = sa.select().select_from(Entry).join(keywords, sa.true())
    return stmt, sa.cast(keywords.c.value, sa.String)


def _has_keyword(uow: UnitOfWork, word: str) -> Any:
    keywords = _keywords(uow)
    found = sa.select(sa.literal(1)).select_from(keywords).where(keywords.c.value == word)
    return sa.exists(found.correlate(Entry))


def _has_data() -> Any:
    return sa.exists().where(DatasetVersion.entry_id == Entry.id)


# --- fq -------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lpar>\() | (?P<rpar>\)) |
        (?P<sign>[+-])(?=[^\s)]) |
        (?P<range>[\[{][^\]}]*[\]}]) |
        (?P<quoted>"(?:[^"\\]|\\.)*") |
        (?P<word>(?:[^\s()"\[\]{}\\]|\\.)+)
    )""",
    re.VERBOSE,
)
_ESCAPE = re.compile(r"\\(.)")
_Token = tuple[str, str]


def _bad(message: str) -> SearchQueryInvalid:
    return SearchQueryInvalid(message, details=[{"path": "fq", "message": message}])


class _Tokens:
    """The tokens of one ``fq`` string and the parser's position in them."""

    def __init__(self, text: str) -> None:
        self.items: list[_Token] = []
        self.at = 0
        text = text.rstrip()
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:
                rest = text[position:][:40]
                raise _bad(f"无法解析筛选条件 {rest!r} (cannot parse the filter query)")
            kind = match.lastgroup or ""
            self.items.append((kind, match.group(kind)))
            position = match.end()

    def peek(self) -> _Token | None:
        return self.items[self.at] if self.at < len(self.items) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise _bad("筛选条件不完整 (the filter query ends too early)")
        self.at += 1
        return token

    def keyword(self, word: str) -> bool:
        if self.peek() == ("word", word):
            self.at += 1
            return True
        return False


class _Filters:
    """Turns ``field:value`` and ``field:[a TO b]`` clauses into conditions on :class:`Entry`."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.fields: dict[str, Callable[[str], Any]] = {
            "organization": self._organization,
            "owner_org": lambda v: Entry.provider_id == v,
            "groups": self._group,
            "tags": lambda v: _has_keyword(uow, v),
            "res_format": self._format,
            "license_id": self._licence,
            "name": lambda v: Entry.id == v,
            "id": lambda v: Entry.id == v,
            # Constant in CKAN for every dataset anonymous callers can see.
            "capacity": lambda v: sa.true() if v == "public" else sa.false(),
            "dataset_type": lambda v: sa.true() if v == "dataset" else sa.false(),
            "state": lambda v: sa.true() if v == "active" else sa.false(),
        }

    def equals(self, field: str, value: str) -> Any:
        if field == "*" or value == "*":
            if field != "*" and field not in self.fields and field not in _RANGES:
                raise self._unknown(field)
            return sa.true()
        if field not in self.fields:
            raise self._unknown(field)
        return self.fields[field](value)

    def _unknown(self, field: str) -> SearchQueryInvalid:
        known = ", ".join([*FACET_FIELDS, "name", "id", *_RANGES])
        return _bad(f"未知的筛选字段 {field!r} (unknown filter field; use {known})")

    @staticmethod
    def _organization(value: str) -> Any:
        ids = sa.select(Organisation.id).where(
            sa.or_(Organisation.code == value, Organisation.id == value)
        )
        return Entry.provider_id.in_(ids)

    @staticmethod
    def _group(value: str) -> Any:
        code = group_code(value)
        return Entry.theme == code if code else sa.false()

    @staticmethod
    def _format(value: str) -> Any:
        known = {name.casefold() for name in RESOURCE_FORMATS}
        return _has_data() if value.casefold() in known else sa.false()

    @staticmethod
    def _licence(value: str) -> Any:
        types = [open_type for open_type, lic in LICENCES.items() if lic.id == value]
        return Entry.open_type.in_(types) if types else sa.false()

    def between(self, field: str, text: str) -> Any:
        if field not in _RANGES:
            if field in self.fields:
                raise _bad(f"字段 {field!r} 不支持范围筛选 (no range filter on this field)")
            raise self._unknown(field)
        parts = text[1:-1].split()
        if len(parts) != 3 or parts[1] != "TO":
            raise _bad(f"范围应写成 [起 TO 止] (write a range as [from TO to]): {text!r}")
        column = _RANGES[field]
        conditions = []
        if parts[0] != "*":
            low = self._moment(parts[0])
            conditions.append(column >= low if text[0] == "[" else column > low)
        if parts[2] != "*":
            high = self._moment(parts[2])
            conditions.append(column <= high if text[-1] == "]" else column < high)
        return sa.and_(sa.true(), *conditions)

    def _moment(self, text: str) -> datetime:
        if text == "NOW":
            return self.uow.clock.now()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as exc:
            message = f"无法识别的时间 {text!r} (use ISO 8601, e.g. 2026-01-01T00:00:00Z)"
            raise _bad(message) from exc
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_RANGES: dict[str, Any] = {
    "metadata_modified": Entry.updated_at,
    "metadata_created": Entry.first_published_at,
}


def filter_clause(uow: UnitOfWork, fq: Sequence[str]) -> Any:
    """The SQL condition of CKAN ``fq`` strings (all of them must hold)."""
    filters = _Filters(uow)
    clauses = []
    for text in fq:
        tokens = _Tokens(text)
        if tokens.peek() is None:
            continue
        clauses.append(_or(tokens, filters))
        if (extra := tokens.peek()) is not None:
            raise _bad(f"多余的 {extra[1]!r} (unexpected token in the filter query)")
    return sa.and_(sa.true(), *clauses)


def _or(tokens: _Tokens, filters: _Filters) -> Any:
    parts = [_and(tokens, filters)]
    while tokens.keyword("OR"):
        parts.append(_and(tokens, filters))
    return parts[0] if len(parts) == 1 else sa.or_(*parts)


def _and(tokens: _Tokens, filters: _Filters) -> Any:
    parts = [_unary(tokens, filters)]
    while (token := tokens.peek()) is not None and token[0] != "rpar" and token != ("word", "OR"):
        tokens.keyword("AND")
        parts.append(_unary(tokens, filters))
    return parts[0] if len(parts) == 1 else sa.and_(*parts)


def _unary(tokens: _Tokens, filters: _Filters) -> Any:
    kind, text = tokens.take()
    if kind == "lpar":
        inner = _or(tokens, filters)
        if tokens.take()[0] != "rpar":
            raise _bad("括号不配对 (unbalanced parentheses)")
        return inner
    if kind == "sign" or (kind, text) == ("word", "NOT"):
        inner = _unary(tokens, filters)
        return inner if text == "+" else sa.not_(inner)
    field, value = _split_field(text) if kind == "word" else ("", "")
    if not field:
        raise _bad(f"筛选条件须写成 字段:值 (write filters as field:value): {text!r}")
    if value:
        return filters.equals(field, value)
    return _values(tokens, filters, field)


def _split_field(word: str) -> tuple[str, str]:
    """``field:value`` split at the first colon not escaped; ``("", "")`` without one."""
    match = re.match(r"((?:[^:\\]|\\.)+):(.*)", word)
    if match is None:
        return "", ""
    return match.group(1), _ESCAPE.sub(r"\1", match.group(2))


def _values(tokens: _Tokens, filters: _Filters, field: str) -> Any:
    """The value after ``field:``: a quoted string, a range or a parenthesised group."""
    kind, text = tokens.take()
    if kind == "quoted":
        return filters.equals(field, _ESCAPE.sub(r"\1", text[1:-1]))
    if kind == "range":
        return filters.between(field, text)
    if kind != "lpar":
        raise _bad(f"字段 {field!r} 缺少值 (a value must follow {field}:)")
    alternatives: list[Any] = []
    joined_by_or = False
    while (token := tokens.take())[0] != "rpar":
        kind, text = token
        negated = kind == "sign"
        if negated:
            kind, text = tokens.take()
        if (kind, text) == ("word", "OR"):
            joined_by_or = True
        elif (kind, text) != ("word", "AND"):
            if kind not in ("word", "quoted"):
                raise _bad(f"字段 {field!r} 的取值无法解析 (cannot parse a value of {field})")
            value = _ESCAPE.sub(r"\1", text[1:-1] if kind == "quoted" else text)
            condition = filters.equals(field, value)
            alternatives.append(sa.not_(condition) if negated else condition)
    if not alternatives:
        raise _bad(f"字段 {field!r} 的括号内没有值 (empty value group)")
    return sa.or_(*alternatives) if joined_by_or else sa.and_(*alternatives)


# --- sort -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SortKey:
    """One sort term: a CKAN field and its direction."""

    field: str
    descending: bool


_SORTABLE = {
    "score": None,
    "metadata_modified": Entry.updated_at,
    "metadata_created": Entry.first_published_at,
    "name": Entry.id,
    "id": Entry.id,
    "title_string": Entry.name,
    "title": Entry.name,
}


def parse_sort(text: str | None) -> list[SortKey]:
    """CKAN's ``sort`` (``score desc, metadata_modified desc`` by default)."""
    keys: list[SortKey] = []
    for part in (text or "score desc, metadata_modified desc").split(","):
        words = part.split()
        if not words:
            continue
        if words[0] not in _SORTABLE or len(words) > 2 or words[1:] not in ([], ["asc"], ["desc"]):
            raise InvalidInput.field(
                "sort",
                f"无法排序 {part.strip()!r} (sort by score, metadata_modified, metadata_created, "
                "name, id or title_string, each asc or desc)",
            )
        keys.append(SortKey(words[0], words[1:] == ["desc"]))
    return keys


def order_by(keys: Sequence[SortKey], rank: Any | None) -> list[Any]:
    """ORDER BY terms for ``keys`` (score only where there is a rank), ending with the entry
    id so that the order is total and pages never overlap or skip."""
    terms: list[Any] = []
    descending = False
    for key in keys:
        column = rank if key.field == "score" else _SORTABLE[key.field]
        if column is None:
            continue
        terms.append(column.desc() if key.descending else column.asc())
        descending = key.descending
    # The id goes the way of the last term: (modified desc, id desc) is an index, read backwards.
    return [*terms, Entry.id.desc() if descending else Entry.id.asc()]


# --- facets ---------------------------------------------------------------------------------


def facet_counts(
    uow: UnitOfWork, base: sa.Select[Any], fields: Sequence[str], *, limit: int, mincount: int
) -> dict[str, list[tuple[str, int]]]:
    """(value, count) per requested facet over the entries ``base`` selects, most frequent
    first; values are the raw codes (provider id, theme, open type), the caller names them.

    Provider, theme and licence come from one grouped pass over the matches.
    """
    columns = {"organization": Entry.provider_id, "groups": Entry.theme,
               "license_id": Entry.open_type}  # fmt: skip
    counts: dict[str, Counter[str]] = {field: Counter() for field in fields}
    grouped = [field for field in fields if field in columns]
    if grouped:
        chosen = [columns[field] for field in grouped]
        by_value = base.with_only_columns(*chosen, sa.func.count()).group_by(*chosen)
        for row in uow.session.execute(by_value):
            for field, value in zip(grouped, row[:-1], strict=True):
                counts[field][str(value)] += int(row[-1])
    if "tags" in fields:
        keywords = _keywords(uow)
        word = sa.cast(keywords.c.value, sa.String)
        by_word = base.join(keywords, sa.true()).with_only_columns(word, sa.func.count())
        for value, n in uow.session.execute(by_word.group_by(word)):
            counts["tags"][str(value)] += int(n)
    if "res_format" in fields:  # every entry with data offers every format
        with_data = base.where(_has_data()).with_only_columns(sa.func.count())
        n = int(uow.session.scalar(with_data) or 0)
        counts["res_format"].update(dict.fromkeys(RESOURCE_FORMATS, n) if n else {})
    result: dict[str, list[tuple[str, int]]] = {}
    for field in fields:
        values = sorted((v for v in counts[field].items() if v[1] >= mincount),
                        key=lambda v: (-v[1], v[0]))  # fmt: skip
        result[field] = values if limit < 0 else values[:limit]
    return result
