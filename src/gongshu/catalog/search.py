"""Chinese full-text search over the catalogue, one interface over SQLite FTS5 and PostgreSQL.

Text is segmented in Python (:mod:`gongshu.catalog.textsearch`) and stored as terms, so both
engines match exactly the same terms and return the same entries: FTS5 keeps the terms in a
virtual table keyed by the entry's ``seq``; PostgreSQL keeps a ``tsvector`` built from a
literal (no parser in between) under a GIN index. Relevance is each engine's own ranking
(bm25 / ts_rank) with the name weighted above the rest; ties (newest first) and date order
are identical.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from markupsafe import Markup

from gongshu.catalog.models import Entry
from gongshu.catalog.textsearch import (
    Analyzer,
    Query,
    highlight,
    to_fts5,
    to_tsquery,
    to_tsvector_literal,
)
from gongshu.catalog.vocab import EntryStatus
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
FACET_SAMPLE = 1000
TOP_PREFETCH = 200
PREFETCH_FACTOR = 4
_NAME_WEIGHT = 5.0

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
    """One result: the entry, its rank, and highlighted name and summary snippet."""

    entry: Entry
    rank: float
    name_html: Markup
    summary_html: Markup


@dataclass
class SearchResult:
    """A page of hits, the total, facet counts and the next page's cursor."""

    hits: list[Hit]
    total: int
    facets: dict[str, list[tuple[str, int]]]
    next_cursor: str | None
    query: Query | None
    facets_exact: bool = True


def _matches(
    uow: UnitOfWork, query: Query, *, ranked: bool = True, top: int | None = None
) -> sa.Subquery:
    """The matching entries' seq, with the engine's relevance when ``ranked`` (counting and
    facets skip it: scoring every match is most of a broad query's cost). With ``top``, only the
    ``top`` best by (rank, seq) — taken inside the index, before any join."""
    if _dialect(uow) == "postgresql":
        rank = "ts_rank(document, CAST(:q AS tsquery))" if ranked else "0.0"
        sql = (
            f"SELECT seq, {rank} AS rank FROM catalog_search "  # noqa: S608
            "WHERE document @@ CAST(:q AS tsquery)"
        )
        params: dict[str, Any] = {"q": to_tsquery(query)}
    else:
        rank = f"-bm25(catalog_search, {_NAME_WEIGHT}, 1.0)" if ranked else "0.0"
        sql = (
            f"SELECT rowid AS seq, {rank} AS rank "  # noqa: S608
            "FROM catalog_search WHERE catalog_search MATCH :q"
        )
        params = {"q": to_fts5(query)}
    if top is not None:
        sql += " ORDER BY rank DESC, seq DESC LIMIT :top"
        params["top"] = top
    stmt = sa.text(sql).bindparams(**params)
    return stmt.columns(seq=sa.BigInteger, rank=sa.Float).subquery("hits")


def _match_count(uow: UnitOfWork, query: Query) -> int:
    """How many entries match, from the index alone."""
    if _dialect(uow) == "postgresql":
        stmt = sa.text(
            "SELECT count(*) FROM catalog_search WHERE document @@ CAST(:q AS tsquery)"
        ).bindparams(q=to_tsquery(query))
    else:
        stmt = sa.text(
            "SELECT count(*) FROM catalog_search WHERE catalog_search MATCH :q"
        ).bindparams(q=to_fts5(query))
    return int(uow.session.scalar(stmt) or 0)


def _visibility(actor: Actor) -> Any:
    if can(actor, "catalog.review"):
        return sa.true()
    return sa.or_(
        Entry.status != EntryStatus.DRAFT.value,
        Entry.published_version.is_not(None),
        Entry.provider_id.in_(actor.organisation_ids),
        Entry.district_id.in_(actor.organisation_ids),
    )


def _hidden(actor: Actor) -> Any:
    """The exact complement of :func:`_visibility` (NULL districts included)."""
    return sa.and_(
        Entry.status == EntryStatus.DRAFT.value,
        Entry.published_version.is_(None),
        Entry.provider_id.not_in(actor.organisation_ids),
        sa.or_(Entry.district_id.is_(None), Entry.district_id.not_in(actor.organisation_ids)),
    )


def search_entries(
    uow: UnitOfWork,
    *,
    actor: Actor,
    q: str | None = None,
    filters: SearchFilters | None = None,
    sort: str = "relevance",
    cursor: str | None = None,
    limit: int = 20,
    facets: bool = True,
) -> SearchResult:
    """Search the catalogue the actor may see, with facet counts and cursor paging."""
    authorize(actor, "catalog.read")
    if sort not in ("relevance", "modified", "name"):
        raise InvalidInput.field("sort", "use relevance, modified or name")
    limit = max(1, min(limit, MAX_LIMIT))
    query = analyzer().parse_query(q) if q else None
    offset = 0
    if cursor:
        key = decode_cursor(cursor, arity=1)
        offset = int(key[0]) if key else 0
    chosen = (filters or SearchFilters()).values
    conditions: list[Any] = [_visibility(actor)]
    conditions += [FACETS[name].in_(accepted) for name, accepted in chosen.items()]
    counted = sa.select(Entry.id).select_from(Entry)
    if query is not None:
        plain = _matches(uow, query, ranked=False)
        counted = counted.join(plain, plain.c.seq == Entry.seq)
    counted = counted.where(*conditions)
    counts: dict[str, list[tuple[str, int]]] = {}
    total: int | None = None
    if facets:
        counts, total = _facet_counts(uow, counted)
    exact = not facets or total is not None
    if total is None:
        total = _total(uow, actor, query, counted, filtered=bool(chosen))
    if not exact:
        _scale(counts, total)
    page = _page(uow, query, conditions, sort=sort, offset=offset, limit=limit, total=total)
    ids = [row[0] for row in page[:limit]]
    ranks = {row[0]: float(row[1] or 0.0) for row in page[:limit]}
    entries = {e.id: e for e in uow.session.scalars(sa.select(Entry).where(Entry.id.in_(ids)))}
    hits = [_hit(entries[i], ranks[i], query) for i in ids]
    more = len(page) > limit
    return SearchResult(
        hits=hits,
        total=total,
        facets=counts,
        facets_exact=exact,
        next_cursor=encode_cursor([offset + limit]) if more else None,
        query=query,
    )


def _hit(entry: Entry, rank: float, query: Query | None) -> Hit:
    if query is None:
        return Hit(entry, rank, Markup.escape(entry.name), Markup.escape(entry.summary[:120]))
    return Hit(
        entry,
        rank,
        highlight(entry.name, query),
        highlight(entry.summary, query, max_chars=120),
    )


def _total(
    uow: UnitOfWork, actor: Actor, query: Query | None, counted: sa.Select[Any], *, filtered: bool
) -> int:
    """The number of visible matches. Without filters it is the index's own count less the
    hidden drafts among the matches: far cheaper than joining every match to its entry."""
    if query is None or filtered:
        return uow.session.scalar(sa.select(sa.func.count()).select_from(counted.subquery())) or 0
    found = _match_count(uow, query)
    if can(actor, "catalog.review") or not found:
        return found
    plain = _matches(uow, query, ranked=False)
    hidden = uow.session.scalar(
        sa.select(sa.func.count())
        .select_from(Entry)
        .where(_hidden(actor), Entry.seq.in_(sa.select(plain.c.seq)))
    )
    return found - int(hidden or 0)


def _page(
    uow: UnitOfWork,
    query: Query | None,
    conditions: list[Any],
    *,
    sort: str,
    offset: int,
    limit: int,
    total: int,
) -> list[Any]:
    """The page's (id, rank) rows plus one more when there is a next page.

    By relevance the best matches are taken from the index first (a few times the rows the
    page needs), then joined and filtered; only when too few of them are visible does the
    page rank every match. The order (rank, then newest ``seq``) is total, so both ways give
    the same rows.
    """
    wanted = offset + limit + 1
    if query is not None and sort == "relevance":
        top = max(TOP_PREFETCH, PREFETCH_FACTOR * wanted)
        rows = _ranked(uow, _matches(uow, query, top=top), conditions, offset, limit)
        if len(rows) == limit + 1 or offset + len(rows) >= total:
            return rows
        return _ranked(uow, _matches(uow, query), conditions, offset, limit)
    stmt = sa.select(Entry.id, sa.literal(0.0).label("rank")).select_from(Entry)
    if query is not None:
        hits_sub = _matches(uow, query, ranked=False)
        stmt = stmt.join(hits_sub, hits_sub.c.seq == Entry.seq)
    by_name = sort == "name"
    order = [Entry.name, Entry.id] if by_name else [Entry.updated_at.desc(), Entry.id.desc()]
    stmt = stmt.where(*conditions).order_by(*order).offset(offset).limit(limit + 1)
    return list(uow.session.execute(stmt).all())


def _ranked(
    uow: UnitOfWork, hits_sub: sa.Subquery, conditions: list[Any], offset: int, limit: int
) -> list[Any]:
    stmt = (
        sa.select(Entry.id, hits_sub.c.rank)
        .join(hits_sub, hits_sub.c.seq == Entry.seq)
        .where(*conditions)
        .order_by(hits_sub.c.rank.desc(), Entry.seq.desc())
        .offset(offset)
        .limit(limit + 1)
    )
    return list(uow.session.execute(stmt).all())


def _facet_counts(
    uow: UnitOfWork, base: sa.Select[Any]
) -> tuple[dict[str, list[tuple[str, int]]], int | None]:
    """Counts per facet value, all drawn in one statement from one materialised set, and the
    total when the counts are exact (every match is an entry with a status, so the status
    counts add up to it and no separate count is needed).

    Past ``FACET_SAMPLE`` matches the counts come from the first ``FACET_SAMPLE`` of them and
    the total is None: the caller counts and scales (:func:`_scale`). Exact facets over tens of
    thousands of matches cost far more than the search itself.
    """
    labelled = [column.label(f"facet_{name}") for name, column in FACETS.items()]
    found = (
        base.add_columns(*labelled).limit(FACET_SAMPLE + 1).cte("found").prefix_with("MATERIALIZED")
    )
    parts = [
        sa.select(
            sa.literal(name).label("facet"),
            sa.cast(found.c[f"facet_{name}"], sa.String).label("value"),
            sa.func.count().label("n"),
        ).group_by(found.c[f"facet_{name}"])
        for name in FACETS
    ]
    counts: dict[str, list[tuple[str, int]]] = {name: [] for name in FACETS}
    for facet, value, n in uow.session.execute(sa.union_all(*parts)):
        if value is not None:
            counts[facet].append((str(value), int(n)))
    for values in counts.values():
        values.sort(key=lambda item: (-item[1], item[0]))
    sampled = sum(n for _value, n in counts["status"])
    return counts, (sampled if sampled <= FACET_SAMPLE else None)


def _scale(counts: dict[str, list[tuple[str, int]]], total: int) -> None:
    """Scale sampled facet counts to the total (approximate, at least 1 each)."""
    sampled = sum(n for _value, n in counts["status"]) or 1
    for name, values in counts.items():
        counts[name] = [(value, max(1, round(n * total / sampled))) for value, n in values]
