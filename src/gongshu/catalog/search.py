"""Chinese full-text search over the catalogue, one interface over SQLite FTS5 and PostgreSQL.

Text is segmented in Python (:mod:`gongshu.catalog.textsearch`) and stored as terms, so both
engines match exactly the same terms and return the same entries: FTS5 keeps the terms in a
virtual table keyed by the entry's ``seq``; PostgreSQL keeps a ``tsvector`` built from a
literal (no parser in between) under a GIN index. Relevance is each engine's own ranking
(bm25 / ts_rank) with the name weighted above the rest; ties and date order are identical.
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
FACET_SAMPLE = 5000
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


def _matches(uow: UnitOfWork, query: Query, *, ranked: bool = True) -> sa.Subquery:
    """The matching entries' seq, with the engine's relevance when ``ranked`` (counting and
    facets skip it: scoring every match is most of a broad query's cost)."""
    if _dialect(uow) == "postgresql":
        rank = "ts_rank(document, CAST(:q AS tsquery))" if ranked else "0.0"
        stmt = sa.text(
            f"SELECT seq, {rank} AS rank FROM catalog_search "  # noqa: S608
            "WHERE document @@ CAST(:q AS tsquery)"
        ).bindparams(q=to_tsquery(query))
    else:
        rank = f"-bm25(catalog_search, {_NAME_WEIGHT}, 1.0)" if ranked else "0.0"
        stmt = sa.text(
            f"SELECT rowid AS seq, {rank} AS rank "  # noqa: S608
            "FROM catalog_search WHERE catalog_search MATCH :q"
        ).bindparams(q=to_fts5(query))
    return stmt.columns(seq=sa.BigInteger, rank=sa.Float).subquery("hits")


def _visibility(actor: Actor) -> Any:
    if can(actor, "catalog.review"):
        return sa.true()
    return sa.or_(
        Entry.status != EntryStatus.DRAFT.value,
        Entry.published_version.is_not(None),
        Entry.provider_id.in_(actor.organisation_ids),
        Entry.district_id.in_(actor.organisation_ids),
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
    conditions: list[Any] = [_visibility(actor)]
    for name, accepted in (filters or SearchFilters()).values.items():
        conditions.append(FACETS[name].in_(accepted))
    rank_col: Any = sa.literal(0.0)
    base = sa.select(Entry.id).select_from(Entry)
    if query is not None:
        hits_sub = _matches(uow, query)
        base = base.join(hits_sub, hits_sub.c.seq == Entry.seq)
        rank_col = hits_sub.c.rank
    base = base.where(*conditions)
    counted = sa.select(Entry.id).select_from(Entry)
    if query is not None:
        plain = _matches(uow, query, ranked=False)
        counted = counted.join(plain, plain.c.seq == Entry.seq)
    counted = counted.where(*conditions)
    if sort == "relevance" and query is not None:
        order = [rank_col.desc(), Entry.updated_at.desc(), Entry.id.desc()]
    elif sort == "name":
        order = [Entry.name, Entry.id]
    else:
        order = [Entry.updated_at.desc(), Entry.id.desc()]
    page_stmt = base.add_columns(rank_col.label("rank")).order_by(*order)
    page = uow.session.execute(page_stmt.offset(offset).limit(limit + 1)).all()
    ids = [row[0] for row in page[:limit]]
    ranks = {row[0]: float(row[1] or 0.0) for row in page[:limit]}
    counts: dict[str, list[tuple[str, int]]] = {}
    exact = True
    total: int | None = None
    if facets:
        counts, total = _facet_counts(uow, counted)
        exact = total is not None
    if total is None:
        total = uow.session.scalar(sa.select(sa.func.count()).select_from(counted.subquery())) or 0
    if not exact:
        _scale(counts, total)
    entries = {e.id: e for e in uow.session.scalars(sa.select(Entry).where(Entry.id.in_(ids)))}
    hits = [
        Hit(
            entry=entries[i],
            rank=ranks[i],
            name_html=highlight(entries[i].name, query)
            if query
            else Markup.escape(entries[i].name),
            summary_html=(
                highlight(entries[i].summary, query, max_chars=120)
                if query
                else Markup.escape(entries[i].summary[:120])
            ),
        )
        for i in ids
    ]
    more = len(page) > limit
    return SearchResult(
        hits=hits,
        total=total,
        facets=counts,
        facets_exact=exact,
        next_cursor=encode_cursor([offset + limit]) if more else None,
        query=query,
    )


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
