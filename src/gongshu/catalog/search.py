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


def _matches(uow: UnitOfWork, query: Query) -> sa.Subquery:
    if _dialect(uow) == "postgresql":
        stmt = sa.text(
            "SELECT seq, ts_rank(document, CAST(:q AS tsquery)) AS rank FROM catalog_search "
            "WHERE document @@ CAST(:q AS tsquery)"
        ).bindparams(q=to_tsquery(query))
    else:
        stmt = sa.text(
            f"SELECT rowid AS seq, -bm25(catalog_search, {_NAME_WEIGHT}, 1.0) AS rank "  # noqa: S608
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
    matching = sa.select(Entry.id, Entry.updated_at, Entry.name).select_from(Entry)
    if query is not None:
        hits_sub = _matches(uow, query)
        matching = matching.join(hits_sub, hits_sub.c.seq == Entry.seq)
        rank_col = hits_sub.c.rank
    facet_columns = {name: column.label(f"facet_{name}") for name, column in FACETS.items()}
    matching = matching.add_columns(rank_col.label("rank"), *facet_columns.values())
    # The matches are found once (a materialised CTE) and the page, the total and every facet
    # are drawn from them in one statement: repeating the full-text match per facet was most
    # of a search's time on a large catalogue.
    found = matching.where(*conditions).cte("found").prefix_with("MATERIALIZED")
    rows = uow.session.execute(
        _page_total_and_facets(found, sort, query is not None, offset, limit, facets)
    ).all()
    page = sorted((row for row in rows if row.part == "page"), key=lambda row: row.position)
    ids = [str(row.value) for row in page[:limit]]
    ranks = {str(row.value): float(row.rank or 0.0) for row in page[:limit]}
    total = next((int(row.n) for row in rows if row.part == "total"), 0)
    counts: dict[str, list[tuple[str, int]]] = {name: [] for name in FACETS} if facets else {}
    for row in rows:
        if row.part.startswith("facet:") and row.value is not None:
            counts[row.part.removeprefix("facet:")].append((str(row.value), int(row.n)))
    for values in counts.values():
        values.sort(key=lambda item: (-item[1], item[0]))
    entries = {
        e.id: e
        for e in uow.session.scalars(
            sa.select(Entry).where(Entry.id.in_(ids)).options(sa.orm.selectinload(Entry.fields))
        )
    }
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
        next_cursor=encode_cursor([offset + limit]) if more else None,
        query=query,
    )


def _page_total_and_facets(
    found: sa.CTE, sort: str, by_rank: bool, offset: int, limit: int, facets: bool
) -> sa.CompoundSelect[Any]:
    """One UNION ALL over the materialised matches: the page (with its order), the total,
    and each facet's counts, as rows of (part, value, rank, n, position)."""
    c = found.c
    order: list[Any]
    if sort == "relevance" and by_rank:
        order = [c.rank.desc(), c.updated_at.desc(), c.id.desc()]
    elif sort == "name":
        order = [c.name, c.id]
    else:
        order = [c.updated_at.desc(), c.id.desc()]
    position = sa.func.row_number().over(order_by=order)
    page = (
        sa.select(c.id, c.rank, position.label("position"))
        .order_by(*order)
        .offset(offset)
        .limit(limit + 1)
        .subquery("page")
    )
    no_int = sa.cast(sa.null(), sa.BigInteger)
    no_rank = sa.cast(sa.null(), sa.Float)
    parts: list[sa.Select[Any]] = [
        sa.select(
            sa.literal("page").label("part"),
            sa.cast(page.c.id, sa.String).label("value"),
            page.c.rank.label("rank"),
            no_int.label("n"),
            page.c.position.label("position"),
        ),
        sa.select(
            sa.literal("total"), sa.cast(sa.null(), sa.String), no_rank, sa.func.count(), no_int
        ).select_from(found),
    ]
    if facets:
        for name in FACETS:
            column = c[f"facet_{name}"]
            parts.append(
                sa.select(
                    sa.literal(f"facet:{name}"),
                    sa.cast(column, sa.String),
                    no_rank,
                    sa.func.count(),
                    no_int,
                ).group_by(column)
            )
    return sa.union_all(*parts)
