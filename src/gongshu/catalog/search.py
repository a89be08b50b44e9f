"""Chinese full-text search over the catalogue, one interface over SQLite FTS5 and PostgreSQL.

Text is segmented in Python (:mod:`gongshu.catalog.textsearch`) and stored as terms, so both
engines match exactly the same terms and return the same entries: FTS5 keeps the terms in a
virtual table keyed by the entry's ``seq``; PostgreSQL keeps a ``tsvector`` built from a
literal (no parser in between) under a GIN index. Relevance is each engine's own ranking
(bm25 / ts_rank) with the name weighted above the rest; ties (newest first) and date order
are identical.

A search first counts the index's matches (cheap: no entry is read). None: the answer is
empty. Up to ``ONE_PASS_MAX``: one statement materialises the visible matches once and
returns the page, the exact total and every facet count from them. More: the facets come from
a sample of the first ``FACET_SAMPLE`` visible matches, the total from the index's count less
the hidden drafts, and the page from the index's best few matches (see :func:`_page`).

Statements are built once per shape (engine, visibility, which filters) and cached with
their values as bound parameters: building and keying them cost more than running them for
a typical query.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple, TypeAlias

import sqlalchemy as sa
from markupsafe import Markup

from gongshu.catalog.models import Entry, EntryVersion
from gongshu.catalog.textsearch import (
    Analyzer,
    Query,
    highlight,
    to_fts5,
    to_tsquery,
    to_tsvector_literal,
)
from gongshu.catalog.vocab import EntryStatus, OpenType
from gongshu.identity import Actor, Organisation, authorize, can
from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.pagination import decode_cursor, encode_cursor
from gongshu.kernel.uow import UnitOfWork

__all__ = [
    "FACETS",
    "Hit",
    "SearchFilters",
    "SearchResult",
    "analyzer",
    "index_entry",
    "reindex_all",
    "search_entries",
]

# Facet name → the entry column it counts.
FACETS: dict[str, Any] = {
    "provider": Entry.provider_id,
    "district": Entry.district_id,
    "theme": Entry.theme,
    "grade": Entry.grade,
    "share_type": Entry.share_type,
    "open_type": Entry.open_type,
    "format": Entry.format,
    "update_frequency": Entry.update_frequency,
    "status": Entry.status,
    "kind": Entry.kind,
}
MAX_LIMIT = 100
ONE_PASS_MAX = 1000
FACET_SAMPLE = 1000
# Up to this many matches, joining them all to count the visible ones is cheaper than
# finding the hidden drafts among them (a scan of every draft).
JOIN_COUNT_MAX = 3000
TOP_PREFETCH = 200
PREFETCH_FACTOR = 4
_NAME_WEIGHT = 5.0
_DRAFT = EntryStatus.DRAFT.value
_Counts: TypeAlias = dict[str, list[tuple[str, int]]]  # facet → (value, count), most first

_lock = threading.Lock()
_analyzers: list[Analyzer] = []


def analyzer() -> Analyzer:
    """The process's analyzer (jieba with the city dictionary), built on first use."""
    if not _analyzers:
        with _lock:
            if not _analyzers:
                _analyzers.append(Analyzer())
    return _analyzers[0]


def _dialect(uow: UnitOfWork) -> str:
    return uow.session.get_bind().dialect.name


def _terms(entry: Entry, provider_name: str) -> tuple[list[str], list[str]]:
    engine = analyzer()
    engine.add_words([provider_name])
    body_text = " ".join(
        [entry.summary, " ".join(entry.keywords), provider_name]
        + [item.name for item in entry.fields]
    )
    return engine.index_terms(entry.name), engine.index_terms(body_text)


def index_entry(uow: UnitOfWork, entry: Entry, *, provider_name: str) -> None:
    """(Re)index one entry in the current transaction."""
    name_terms, body_terms = _terms(entry, provider_name)
    _write(uow, [(entry.seq, name_terms, body_terms)])


def _write(uow: UnitOfWork, rows: Sequence[tuple[int, list[str], list[str]]]) -> None:
    if not rows:
        return
    session = uow.session
    seqs = [{"seq": seq} for seq, _, _ in rows]
    if _dialect(uow) == "postgresql":
        session.execute(sa.text("DELETE FROM catalog_search WHERE seq = :seq"), seqs)
        session.execute(
            sa.text(
                "INSERT INTO catalog_search (seq, document) VALUES (:seq, setweight("
                "CAST(:name AS tsvector), 'A') || setweight(CAST(:body AS tsvector), 'B'))"
            ),
            [
                {"seq": seq, "name": to_tsvector_literal(name), "body": to_tsvector_literal(body)}
                for seq, name, body in rows
            ],
        )
    else:
        session.execute(sa.text("DELETE FROM catalog_search WHERE rowid = :seq"), seqs)
        session.execute(
            sa.text("INSERT INTO catalog_search (rowid, name, body) VALUES (:seq, :name, :body)"),
            [
                {"seq": seq, "name": " ".join(name), "body": " ".join(body)}
                for seq, name, body in rows
            ],
        )


def reindex_all(uow: UnitOfWork, *, batch: int = 1000) -> int:
    """Rebuild the whole index (after a dictionary change); returns the number of entries."""
    rows = uow.session.execute(sa.select(Organisation.id, Organisation.name))
    names: dict[str, str] = {org_id: name for org_id, name in rows}
    analyzer().add_words(names.values())
    uow.session.execute(sa.text("DELETE FROM catalog_search"))
    last = -1
    done = 0
    while True:
        entries = list(
            uow.session.scalars(
                sa.select(Entry)
                .where(Entry.seq > last)
                .order_by(Entry.seq)
                .limit(batch)
                .options(sa.orm.selectinload(Entry.fields))
            )
        )
        if not entries:
            return done
        _write(uow, [(e.seq, *_terms(e, names.get(e.provider_id, ""))) for e in entries])
        last = entries[-1].seq
        done += len(entries)


@dataclass(frozen=True)
class SearchFilters:
    """Facet filters: each is a set of accepted values (empty: no filter)."""

    values: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, **filters: Sequence[str] | str | None) -> SearchFilters:
        """Build from keyword arguments; unknown facet names are an error naming the facet."""
        values: dict[str, frozenset[str]] = {}
        for name, value in filters.items():
            if name not in FACETS:
                raise InvalidInput.field(name, f"unknown filter {name!r}")
            if value:
                values[name] = frozenset([value] if isinstance(value, str) else value)
        return cls(values)


@dataclass(frozen=True)
class Hit:
    """One result: the entry, its rank, highlighted name and summary snippet, provider's name."""

    entry: Entry
    rank: float
    name_html: Markup
    summary_html: Markup
    provider_name: str | None = None


@dataclass
class SearchResult:
    """A page of hits, the total, facet counts and the next page's cursor."""

    hits: list[Hit]
    total: int
    facets: dict[str, list[tuple[str, int]]]
    next_cursor: str | None
    query: Query | None
    facets_exact: bool = True


class _Shape(NamedTuple):
    """What a statement's SQL depends on; every value travels as a bound parameter."""

    dialect: str
    reviewer: bool  # sees every entry: no visibility condition
    filters: tuple[str, ...]  # the facets filtered on, in FACETS order
    public: bool = False  # the open data portal: open entries only, no actor


def search_entries(
    uow: UnitOfWork,
    *,
    actor: Actor | None,
    q: str | None = None,
    filters: SearchFilters | None = None,
    sort: str = "relevance",
    cursor: str | None = None,
    limit: int = 20,
    facets: bool = True,
    public: bool = False,
) -> SearchResult:
    """Search the catalogue the actor may see, with facet counts and cursor paging.

    ``public=True`` is the open data portal's search: no actor, and only published entries
    whose open type — in the working copy and in the published version — is 无条件开放 or
    有条件开放 (a 不予开放 entry never appears).
    """
    if not public:
        if actor is None:
            raise ValueError("search_entries needs an actor unless public=True")
        authorize(actor, "catalog.read")
    if sort not in ("relevance", "modified", "name"):
        raise InvalidInput.field("sort", "use relevance, modified or name")
    limit = max(1, min(limit, MAX_LIMIT))
    query = analyzer().parse_query(q) if q else None
    offset = 0
    if cursor:
        key = decode_cursor(cursor, arity=1)
        offset = max(0, int(key[0])) if key else 0
    chosen = (filters or SearchFilters()).values
    shape = _Shape(
        _dialect(uow),
        not public and actor is not None and can(actor, "catalog.review"),
        tuple(name for name in FACETS if name in chosen),
        public,
    )
    params: dict[str, Any] = {f"filter_{name}": sorted(chosen[name]) for name in shape.filters}
    if not shape.reviewer and not shape.public and actor is not None:
        params["orgs"] = sorted(actor.organisation_ids)
    found: int | None = None
    if query is not None:
        params["q"] = to_tsquery(query) if shape.dialect == "postgresql" else to_fts5(query)
        found = int(uow.session.scalar(_count_stmt(shape.dialect), params) or 0)
        if not found:
            empty: _Counts = {name: [] for name in FACETS}
            return SearchResult([], 0, empty if facets else {}, None, query)
        if found <= ONE_PASS_MAX:
            one_pass = _one_pass(uow, shape, params, sort, offset, limit, facets)
            return _result(uow, *one_pass, True, query, offset, limit)
    counts: _Counts = {}
    total: int | None = None
    if facets:
        counts, total = _facet_counts(uow, shape, params, with_query=found is not None)
    exact = not facets or total is not None
    if total is None:
        total = _total(uow, shape, params, found)
    if not exact:
        _scale(counts, total)
    page = _page(
        uow, shape, params, with_query=found is not None, sort=sort, offset=offset, limit=limit,
        total=total,
    )  # fmt: skip
    return _result(uow, page, total, counts, exact, query, offset, limit)


def _result(
    uow: UnitOfWork, page: Sequence[Any], total: int, counts: _Counts, exact: bool,
    query: Query | None, offset: int, limit: int,
) -> SearchResult:  # fmt: skip
    """The result of a page's ``(id, rank)`` rows (one more than ``limit`` when there is more)."""
    return SearchResult(
        hits=_hits(uow, page[:limit], query),
        total=total,
        facets=counts,
        facets_exact=exact,
        next_cursor=encode_cursor([offset + limit]) if len(page) > limit else None,
        query=query,
    )


def _hits(uow: UnitOfWork, page: Sequence[Any], query: Query | None) -> list[Hit]:
    """The page's entries, with their providers' names read in the same statement."""
    if not page:
        return []
    rows = uow.session.execute(_hits_stmt(), {"ids": [row[0] for row in page]})
    loaded: dict[str, tuple[Entry, str]] = {entry.id: (entry, name) for entry, name in rows}
    # An entry deleted since the page was read (PostgreSQL reads each statement afresh) is left
    # out rather than failing the search.
    return [
        _hit(*loaded[entry_id], float(rank or 0.0), query)
        for entry_id, rank in page
        if entry_id in loaded
    ]


def _hit(entry: Entry, provider_name: str, rank: float, query: Query | None) -> Hit:
    if query is None:
        name_html, summary_html = Markup.escape(entry.name), Markup.escape(entry.summary[:120])
    else:
        name_html = highlight(entry.name, query)
        summary_html = highlight(entry.summary, query, max_chars=120)
    return Hit(entry, rank, name_html, summary_html, provider_name)


def _one_pass(
    uow: UnitOfWork, shape: _Shape, params: dict[str, Any], sort: str, offset: int, limit: int,
    facets: bool,
) -> tuple[list[tuple[str, float]], int, _Counts]:  # fmt: skip
    """Page rows, exact total and facet counts of a query with few matches, in one statement."""
    counts: _Counts = {name: [] for name in FACETS} if facets else {}
    numbered: list[tuple[int, str, float]] = []
    total = 0
    stmt = _one_pass_stmt(shape, sort, facets)
    for part, value, n, rank in uow.session.execute(
        stmt, params | {"offset": offset, "end": offset + limit + 1}
    ):
        if part == "page":
            numbered.append((int(n), value, float(rank or 0.0)))
        elif part == "total":
            total = int(n)
        elif value is not None:
            counts[part].append((str(value), int(n)))
    _sort_counts(counts)
    numbered.sort()
    return [(entry_id, rank) for _n, entry_id, rank in numbered], total, counts


def _facet_counts(
    uow: UnitOfWork, shape: _Shape, params: dict[str, Any], *, with_query: bool
) -> tuple[_Counts, int | None]:
    """Counts per facet value, all drawn in one statement from one materialised set, and the
    total when the counts are exact (every match is an entry with a status, so the status
    counts add up to it and no separate count is needed).

    Past ``FACET_SAMPLE`` matches the counts come from the first ``FACET_SAMPLE`` of them and
    the total is None: the caller counts and scales (:func:`_scale`). Exact facets over tens of
    thousands of matches cost far more than the search itself.
    """
    counts: _Counts = {name: [] for name in FACETS}
    stmt = _sample_stmt(shape, with_query)
    for facet, value, n, _rank in uow.session.execute(stmt, params | {"sample": FACET_SAMPLE + 1}):
        if value is not None:
            counts[facet].append((str(value), int(n)))
    _sort_counts(counts)
    sampled = sum(n for _value, n in counts["status"])
    return counts, (sampled if sampled <= FACET_SAMPLE else None)


def _sort_counts(counts: _Counts) -> None:
    for values in counts.values():
        values.sort(key=lambda item: (-item[1], item[0]))


def _scale(counts: _Counts, total: int) -> None:
    """Scale sampled facet counts to the total (approximate, at least 1 each)."""
    sampled = sum(n for _value, n in counts["status"]) or 1
    for name, values in counts.items():
        counts[name] = [(value, max(1, round(n * total / sampled))) for value, n in values]


def _total(uow: UnitOfWork, shape: _Shape, params: dict[str, Any], found: int | None) -> int:
    """The number of visible matches (``found``: the index's count, None without a query).

    Without filters it is the index's own count less the hidden drafts among the matches:
    for broad queries far cheaper than joining every match to its entry.
    """
    if shape.reviewer and not shape.filters and found is not None:
        return found
    if found is None or shape.filters or shape.public or found <= JOIN_COUNT_MAX:
        stmt = _count_visible_stmt(shape, found is not None)
        return int(uow.session.scalar(stmt, params) or 0)
    return found - int(uow.session.scalar(_hidden_stmt(shape.dialect), params) or 0)


def _page(
    uow: UnitOfWork, shape: _Shape, params: dict[str, Any], *, with_query: bool, sort: str,
    offset: int, limit: int, total: int,
) -> list[Any]:  # fmt: skip
    """The page's (id, rank) rows plus one more when there is a next page.

    By relevance the best matches are taken from the index first (a few times the rows the
    page needs), then joined and filtered; only when too few of them are visible does the
    page rank every match. The order (rank, then newest ``seq``) is total, so both ways give
    the same rows.
    """
    window = params | {"offset": offset, "rows": limit + 1}
    if with_query and sort == "relevance":
        top = max(TOP_PREFETCH, PREFETCH_FACTOR * (offset + limit + 1))
        rows = _ranked(uow, shape, window | {"top": top}, top=True)
        if len(rows) == limit + 1 or offset + len(rows) >= total:
            return rows
        return _ranked(uow, shape, window, top=False)
    order = "name" if sort == "name" else "modified"
    return list(uow.session.execute(_ordered_stmt(shape, order, with_query), window).all())


def _ranked(uow: UnitOfWork, shape: _Shape, params: dict[str, Any], *, top: bool) -> list[Any]:
    return list(uow.session.execute(_ranked_stmt(shape, top), params).all())


# ------------------------------------------------------------------ statements, once per shape


def _matches(dialect: str, *, ranked: bool, top: bool = False) -> sa.Subquery:
    """The matching entries' seq (parameter ``q``), with the engine's relevance when ``ranked``
    (counting and facets skip it: scoring every match is most of a broad query's cost). With
    ``top``, only the best ``:top`` by (rank, seq), taken inside the index before any join."""
    if dialect == "postgresql":
        rank = "ts_rank(document, CAST(:q AS tsquery))" if ranked else "0.0"
        sql = (
            f"SELECT seq, {rank} AS rank FROM catalog_search "  # noqa: S608
            "WHERE document @@ CAST(:q AS tsquery)"
        )
    else:
        rank = f"-bm25(catalog_search, {_NAME_WEIGHT}, 1.0)" if ranked else "0.0"
        sql = (
            f"SELECT rowid AS seq, {rank} AS rank "  # noqa: S608
            "FROM catalog_search WHERE catalog_search MATCH :q"
        )
    if top:
        sql += " ORDER BY rank DESC, seq DESC LIMIT :top"
    return sa.text(sql).columns(seq=sa.BigInteger, rank=sa.Float).subquery("hits")


def _conditions(shape: _Shape) -> list[Any]:
    """Visibility (parameter ``orgs``: the actor's organisations) and the facet filters
    (``filter_<facet>``)."""
    conditions: list[Any] = []
    if shape.public:
        conditions += _open_conditions()
    elif not shape.reviewer:
        orgs: sa.BindParameter[list[str]] = sa.bindparam("orgs", expanding=True)
        conditions.append(
            sa.or_(
                Entry.status != _DRAFT,
                Entry.published_version.is_not(None),
                Entry.provider_id.in_(orgs),
                Entry.district_id.in_(orgs),
            )
        )
    conditions += [
        FACETS[name].in_(sa.bindparam(f"filter_{name}", expanding=True)) for name in shape.filters
    ]
    return conditions


_OPEN_TYPES = (OpenType.UNCONDITIONAL.value, OpenType.CONDITIONAL.value)


def _open_conditions() -> list[Any]:
    """Published, not deprecated, and open in the working copy and in the published version
    (an entry under revision counts as the stricter of the two)."""
    published_open = (
        sa.select(EntryVersion.entry_id)
        .where(
            EntryVersion.entry_id == Entry.id,
            EntryVersion.number == Entry.published_version,
            EntryVersion.document["open_type"].as_string().in_(_OPEN_TYPES),
        )
        .exists()
    )
    return [
        Entry.published_version.is_not(None),
        Entry.status != EntryStatus.DEPRECATED.value,
        Entry.open_type.in_(_OPEN_TYPES),
        published_open,
    ]


def _entries(shape: _Shape, *columns: Any, with_query: bool) -> sa.Select[Any]:
    """The visible entries (matching ``q`` when ``with_query``), unranked."""
    stmt = sa.select(*columns).select_from(Entry)
    if with_query:
        hits = _matches(shape.dialect, ranked=False)
        stmt = stmt.join(hits, hits.c.seq == Entry.seq)
    return stmt.where(*_conditions(shape))


def _part(name: str, value: Any, n: Any, rank: Any = None) -> sa.Select[Any]:
    """One member of a union answering several questions: (part, value, n, rank)."""
    return sa.select(
        sa.literal_column(f"'{name}'").label("part"),
        sa.cast(value, sa.String).label("value"),
        n.label("n"),
        # REAL, as ts_rank returns it: a wider type would read back more digits than the
        # general path's pages show.
        sa.cast(rank, sa.REAL()).label("rank"),
    )


@lru_cache(maxsize=4)
def _count_stmt(dialect: str) -> sa.TextClause:
    """How many entries match ``q``, from the index alone."""
    if dialect == "postgresql":
        return sa.text("SELECT count(*) FROM catalog_search WHERE document @@ CAST(:q AS tsquery)")
    return sa.text("SELECT count(*) FROM catalog_search WHERE catalog_search MATCH :q")


@lru_cache(maxsize=256)
def _one_pass_stmt(shape: _Shape, sort: str, facets: bool) -> sa.CompoundSelect[Any]:
    """The visible matches materialised once; from them the page (rows ``:offset`` < n ≤
    ``:end`` in the sort order), the total, and a group per facet value."""
    ranked = sort == "relevance"
    hits = _matches(shape.dialect, ranked=ranked)
    key = {"relevance": hits.c.rank, "modified": Entry.updated_at, "name": Entry.name}[sort]
    columns: list[Any] = [Entry.id.label("id"), Entry.seq.label("seq"), key.label("sort_key")]
    found = (
        sa.select(*columns, *(_facet_columns() if facets else []))
        .select_from(Entry)
        .join(hits, hits.c.seq == Entry.seq)
        .where(*_conditions(shape))
        .cte("found")
        .prefix_with("MATERIALIZED")
    )
    # The same orders as _page's statements: the result does not depend on the path.
    order: list[Any] = [found.c.sort_key, found.c.id]
    if sort == "relevance":
        order = [found.c.sort_key.desc(), found.c.seq.desc()]
    elif sort == "modified":
        order = [found.c.sort_key.desc(), found.c.id.desc()]
    numbered = sa.select(
        found.c.id, found.c.sort_key, sa.func.row_number().over(order_by=order).label("n")
    ).subquery("numbered")
    position = numbered.c.n
    page = _part("page", numbered.c.id, position, numbered.c.sort_key if ranked else None)
    page = page.where(
        position > sa.bindparam("offset", type_=sa.Integer),
        position <= sa.bindparam("end", type_=sa.Integer),
    )
    total = _part("total", None, sa.func.count()).select_from(found)
    return sa.union_all(page, total, *(_facet_parts(found) if facets else ()))


@lru_cache(maxsize=256)
def _sample_stmt(shape: _Shape, with_query: bool) -> sa.CompoundSelect[Any]:
    """Facet counts over the first ``:sample`` visible matches, one group per value."""
    found = (
        _entries(shape, *_facet_columns(), with_query=with_query)
        .limit(sa.bindparam("sample", type_=sa.Integer))
        .cte("found")
        .prefix_with("MATERIALIZED")
    )
    return sa.union_all(*_facet_parts(found))


def _facet_columns() -> list[Any]:
    return [column.label(f"facet_{name}") for name, column in FACETS.items()]


def _facet_parts(found: sa.CTE) -> list[sa.Select[Any]]:
    """A group per value of each facet: (facet, value, count, NULL)."""
    return [
        _part(name, found.c[f"facet_{name}"], sa.func.count()).group_by(found.c[f"facet_{name}"])
        for name in FACETS
    ]


@lru_cache(maxsize=256)
def _count_visible_stmt(shape: _Shape, with_query: bool) -> sa.Select[Any]:
    visible = _entries(shape, Entry.id, with_query=with_query).subquery()
    return sa.select(sa.func.count()).select_from(visible)


@lru_cache(maxsize=4)
def _hidden_stmt(dialect: str) -> sa.Select[Any]:
    """How many matches are drafts the actor may not see: the exact complement of the
    visibility condition (NULL districts included)."""
    orgs: sa.BindParameter[list[str]] = sa.bindparam("orgs", expanding=True)
    hits = _matches(dialect, ranked=False)
    return (
        sa.select(sa.func.count())
        .select_from(Entry)
        .where(
            Entry.status == _DRAFT,
            Entry.published_version.is_(None),
            Entry.provider_id.not_in(orgs),
            sa.or_(Entry.district_id.is_(None), Entry.district_id.not_in(orgs)),
            Entry.seq.in_(sa.select(hits.c.seq)),
        )
    )


@lru_cache(maxsize=256)
def _ranked_stmt(shape: _Shape, top: bool) -> sa.Select[Any]:
    """Rows ``:offset`` … ``:offset + :rows`` by relevance (of the index's best ``:top``)."""
    hits = _matches(shape.dialect, ranked=True, top=top)
    return (
        sa.select(Entry.id, hits.c.rank)
        .join(hits, hits.c.seq == Entry.seq)
        .where(*_conditions(shape))
        .order_by(hits.c.rank.desc(), Entry.seq.desc())
        .offset(sa.bindparam("offset", type_=sa.Integer))
        .limit(sa.bindparam("rows", type_=sa.Integer))
    )


@lru_cache(maxsize=256)
def _ordered_stmt(shape: _Shape, sort: str, with_query: bool) -> sa.Select[Any]:
    """Rows ``:offset`` … ``:offset + :rows`` by name or newest change."""
    order = [Entry.name, Entry.id] if sort == "name" else [Entry.updated_at.desc(), Entry.id.desc()]
    rank: Any = sa.literal_column("0.0").label("rank")
    return (
        _entries(shape, Entry.id, rank, with_query=with_query)
        .order_by(*order)
        .offset(sa.bindparam("offset", type_=sa.Integer))
        .limit(sa.bindparam("rows", type_=sa.Integer))
    )


@lru_cache(maxsize=1)
def _hits_stmt() -> sa.Select[Entry, str]:
    """The entries ``:ids`` with their providers' names."""
    return (
        sa.select(Entry, Organisation.name)
        .join(Organisation, Organisation.id == Entry.provider_id)
        .where(Entry.id.in_(sa.bindparam("ids", expanding=True)))
    )
