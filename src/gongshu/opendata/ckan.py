"""The CKAN-compatible Action API (``/api/3/action/…``): the actions and their parameters.

So that ``ckanapi``, CKAN harvesters and other open-data tools work unchanged, every open
entry (:func:`gongshu.opendata.ckan_query.open_clause`) is a CKAN dataset
(:mod:`gongshu.opendata.ckan_packages` says how fields map), every provider of one an
organisation, every theme a group. Parameters are read as CKAN's validators read them, GET
strings included; bad ones raise :class:`InvalidInput` naming the parameter.

Organisations appear only while they provide an open entry: personal organisations of public
accounts and bodies with nothing open stay out of every list.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

import gongshu
from gongshu.catalog.models import Entry
from gongshu.catalog.textsearch import Query
from gongshu.catalog.vocab import THEMES
from gongshu.identity import Organisation
from gongshu.kernel.errors import InvalidInput, MalformedRequest, NotFound
from gongshu.kernel.uow import UnitOfWork
from gongshu.opendata import ckan_query as cq
from gongshu.opendata.ckan_counts import SearchCountCache, SearchCounts
from gongshu.opendata.ckan_packages import group_dict, organization_dict, packages
from gongshu.opendata.errors import DatasetNotFound

__all__ = [
    "ACTIONS",
    "CKAN_VERSION",
    "Params",
    "UnknownAction",
    "call_action",
]

# The CKAN release whose Action API shapes this one follows.
CKAN_VERSION = "2.10.0"
ROWS_DEFAULT = 10
ROWS_MAX = 1000  # CKAN's ckan.search.rows_max: larger requests get this many
FACET_LIMIT_DEFAULT = 50


class UnknownAction(MalformedRequest):
    """The action is not one this API offers."""

    code = "action_not_known"


# --- parameters -----------------------------------------------------------------------------


class Params:
    """An action's ``data_dict``, read the way CKAN's validators read it (GET strings too)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    def text(self, key: str) -> str | None:
        """A string parameter, or None when absent or empty."""
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, list):
            value = value[0] if value else None
        return None if value is None else str(value)

    def natural(self, key: str, default: int | None, *, maximum: int | None = None) -> int | None:
        """A natural number (0, 1, …), capped at ``maximum`` as CKAN caps ``rows``."""
        value = self.data.get(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            raise InvalidInput.field(key, "不是整数 (Invalid integer)")
        try:
            number = int(str(value).strip())
        except ValueError:
            raise InvalidInput.field(key, "不是整数 (Invalid integer)") from None
        if number < 0:
            raise InvalidInput.field(key, "必须是非负整数 (Must be a natural number)")
        return min(number, maximum) if maximum is not None else number

    def integer(self, key: str, default: int) -> int:
        """Any integer (``facet.limit`` takes -1 for no limit)."""
        value = self.data.get(key)
        if value is None or value == "":
            return default
        try:
            return int(str(value).strip())
        except ValueError:
            raise InvalidInput.field(key, "不是整数 (Invalid integer)") from None

    def flag(self, key: str) -> bool:
        """A boolean: true, yes, on or 1 (any case) is true, as CKAN's ``asbool``."""
        value = self.data.get(key)
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("true", "yes", "on", "1", "y", "t")

    def strings(self, key: str) -> list[str]:
        """A list of strings: a JSON list, a list, or one string."""
        value = self.data.get(key)
        if value is None or value == "":
            return []
        if isinstance(value, str) and value.lstrip().startswith("["):
            try:
                value = json.loads(value)
            except ValueError:
                raise InvalidInput.field(key, "不是合法的 JSON 列表 (not a JSON list)") from None
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, str) for item in items):
            raise InvalidInput.field(key, "必须是字符串列表 (must be a list of strings)")
        return list(items)

    def identifier(self, key: str = "id") -> str:
        """A required id or name."""
        value = self.text(key)
        if value is None:
            raise InvalidInput.field(key, "缺少必填项 (Missing value)")
        return value


# --- packages -------------------------------------------------------------------------------


def _open_entry_id(uow: UnitOfWork, entry_id: str) -> str:
    found = uow.session.scalar(sa.select(Entry.id).where(Entry.id == entry_id, cq.open_clause()))
    if found is None:
        raise DatasetNotFound(f"未找到数据集 {entry_id!r} (dataset not found)")
    return found


def package_show(uow: UnitOfWork, *, params: Params, base_url: str) -> dict[str, Any]:
    """One open dataset by id or name."""
    entry_id = _open_entry_id(uow, params.identifier("id"))
    return packages(uow, [entry_id], base_url)[0]


def package_list(uow: UnitOfWork, *, params: Params, base_url: str) -> list[str]:
    """The names of every open dataset, sorted; ``limit`` and ``offset`` page it."""
    limit = params.natural("limit", None)
    offset = params.natural("offset", 0) or 0
    stmt = sa.select(Entry.id).where(cq.open_clause(open_type_index=False)).order_by(Entry.id)
    if limit:  # as in CKAN, 0 means no limit
        stmt = stmt.limit(limit)
    return list(uow.session.scalars(stmt.offset(offset)))


def package_search(
    uow: UnitOfWork, *, params: Params, base_url: str, counts: SearchCountCache | None = None
) -> dict[str, Any]:
    """Full-text search (the catalogue's Chinese matching) with ``fq`` filters, sort, paging
    by ``rows``/``start`` and facets; the total and the facets from ``counts`` when given and
    still current (see :mod:`ckan_counts`)."""
    rows = params.natural("rows", ROWS_DEFAULT, maximum=ROWS_MAX) or 0
    start = params.natural("start", 0) or 0
    fields = params.strings("facet.field")
    unknown = [f for f in fields if f not in cq.FACET_FIELDS]
    if unknown:
        message = f"不能按 {unknown[0]!r} 分面 (facet on {', '.join(cq.FACET_FIELDS)})"
        raise InvalidInput.field("facet.field", message)
    query = cq.parse_query_text(params.text("q"))  # InvalidInput naming q when unsearchable
    sort_text = params.text("sort")
    keys = cq.parse_sort(sort_text)
    fq = [text for text in (*params.strings("fq"), *params.strings("fq_list")) if text.strip()]
    filters = cq.filter_clause(uow, fq)
    base = sa.select(Entry.id).where(cq.open_clause(), filters)
    if query is not None:
        plain = cq.index_hits(uow, query, ranked=False)
        base = base.join(plain, plain.c.seq == Entry.seq)

    def compute() -> SearchCounts:
        if query is None and not fq:
            count = cq.count_open(uow)
        else:
            counted = sa.select(sa.func.count()).select_from(base.subquery())
            count = int(uow.session.scalar(counted) or 0)
        return SearchCounts(count, cq.facet_counts(uow, base, fields, limit=-1, mincount=1))

    key = (params.text("q") or "", tuple(fq), tuple(fields))
    found = counts.get(uow, key, compute) if counts is not None else compute()
    count = found.count
    ids = _page(uow, query, filters, keys, start=start, rows=rows, count=count)
    facets = found.limited(
        limit=params.integer("facet.limit", FACET_LIMIT_DEFAULT),
        mincount=params.integer("facet.mincount", 1),
    )
    names = _facet_names(uow, facets)
    return {
        "count": count,
        "sort": sort_text or "score desc, metadata_modified desc",
        "results": packages(uow, ids, base_url),
        "facets": {field: dict(values) for field, values in facets.items()},
        "search_facets": {
            field: {"title": field, "items": [
                {"name": value, "display_name": names.get((field, value), value), "count": n}
                for value, n in values
            ]}
            for field, values in facets.items()
        },
    }  # fmt: skip


def _page(
    uow: UnitOfWork,
    query: Query | None,
    filters: Any,
    keys: list[cq.SortKey],
    *,
    start: int,
    rows: int,
    count: int,
) -> list[str]:
    """The ids of one page. By relevance, the best few hundred matches are taken from the
    index first; only when too few of them are open does the page rank every match."""
    if rows == 0 or start >= count:
        return []
    conditions = [cq.open_clause(open_type_index=False), filters]
    if query is None or not keys or keys[0].field != "score":
        stmt = sa.select(Entry.id).where(*conditions)
        rank = None
        if query is not None and any(k.field == "score" for k in keys):
            hits = cq.index_hits(uow, query, ranked=True)
            stmt, rank = stmt.join(hits, hits.c.seq == Entry.seq), hits.c.rank
        elif query is not None:
            plain = cq.index_hits(uow, query, ranked=False)
            stmt = stmt.join(plain, plain.c.seq == Entry.seq)
        stmt = stmt.order_by(*cq.order_by(keys, rank)).offset(start).limit(rows)
        return list(uow.session.scalars(stmt))
    # Relevance first: ties broken newest-first by catalogue number, as the catalogue does.
    wanted = start + rows
    for top in (max(200, 4 * wanted), None):
        hits = cq.index_hits(uow, query, ranked=True, top=top)
        stmt = (
            sa.select(Entry.id)
            .join(hits, hits.c.seq == Entry.seq)
            .where(*conditions)
            .order_by(hits.c.rank.desc(), Entry.seq.desc())
            .offset(start)
            .limit(rows)
        )
        ids = list(uow.session.scalars(stmt))
        if len(ids) == min(rows, count - start):
            return ids
    return ids


def _facet_names(
    uow: UnitOfWork, facets: dict[str, list[tuple[str, int]]]
) -> dict[tuple[str, str], str]:
    """Display names, and CKAN names in place of the raw codes the counts come with."""
    names: dict[tuple[str, str], str] = {}
    if "organization" in facets:
        ids = [value for value, _ in facets["organization"]]
        orgs = {o.id: o for o in uow.session.scalars(
            sa.select(Organisation).where(Organisation.id.in_(ids)))}  # fmt: skip
        renamed = []
        for value, n in facets["organization"]:
            org = orgs[value]
            renamed.append((org.code, n))
            names[("organization", org.code)] = org.name
        facets["organization"] = renamed
    if "groups" in facets:
        facets["groups"] = [(cq.group_name(code), n) for code, n in facets["groups"]]
        for code in THEMES:
            names[("groups", cq.group_name(code))] = THEMES[code][0]
    if "license_id" in facets:
        facets["license_id"] = [(cq.LICENCES[t].id, n) for t, n in facets["license_id"]]
        for licence in cq.LICENCES.values():
            names[("license_id", licence.id)] = licence.title
    return names


def current_package_list_with_resources(
    uow: UnitOfWork, *, params: Params, base_url: str
) -> list[dict[str, Any]]:
    """Open datasets with their resources, most recently modified first, paged by
    ``limit``/``offset`` (or the deprecated ``page``)."""
    limit = params.natural("limit", ROWS_DEFAULT, maximum=ROWS_MAX) or ROWS_DEFAULT
    offset = params.natural("offset", None)
    if offset is None:
        page = params.natural("page", None)
        offset = (page - 1) * limit if page else 0
    stmt = (
        sa.select(Entry.id)
        .where(cq.open_clause(open_type_index=False))
        .order_by(Entry.updated_at.desc(), Entry.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return packages(uow, list(uow.session.scalars(stmt)), base_url)


# --- organisations, themes, tags ------------------------------------------------------------


def _provider_counts(uow: UnitOfWork) -> dict[str, int]:
    stmt = (
        sa.select(Entry.provider_id, sa.func.count())
        .where(cq.open_clause())
        .group_by(Entry.provider_id)
    )
    return {provider: int(n) for provider, n in uow.session.execute(stmt)}


def _sorted(items: list[dict[str, Any]], sort: str | None, params: Params) -> list[dict[str, Any]]:
    """CKAN's list sort (``title``, ``name`` or ``package_count``, asc or desc) and paging,
    in Python: the lists are short, and Chinese titles then sort alike on both databases."""
    words = (sort or "title asc").split()
    field = {"packages": "package_count"}.get(words[0], words[0]) if words else "title"
    if field not in ("title", "name", "package_count") or words[1:] not in ([], ["asc"], ["desc"]):
        raise InvalidInput.field("sort", "按 title、name 或 package_count 排序 (sort by title, "
                                 "name or package_count, asc or desc)")  # fmt: skip
    descending = words[1:] == ["desc"] or (field == "package_count" and len(words) == 1)
    ordered = sorted(items, key=lambda g: (g[field], g["name"]), reverse=descending)
    offset = params.natural("offset", 0) or 0
    limit = params.natural("limit", None)
    return ordered[offset : offset + limit] if limit else ordered[offset:]


def _org_list(uow: UnitOfWork) -> list[dict[str, Any]]:
    counts = _provider_counts(uow)
    orgs = uow.session.scalars(sa.select(Organisation).where(Organisation.id.in_(counts)))
    return [organization_dict(org, counts[org.id]) for org in orgs]


def _listed(items: list[dict[str, Any]], params: Params, only: str) -> list[Any]:
    wanted = set(params.strings(only))
    q = (params.text("q") or "").casefold()
    items = [i for i in items if (not wanted or i["name"] in wanted)
             and (not q or q in i["name"].casefold() or q in i["title"].casefold())]  # fmt: skip
    items = _sorted(items, params.text("sort") or params.text("order_by"), params)
    return items if params.flag("all_fields") else [i["name"] for i in items]


def organization_list(uow: UnitOfWork, *, params: Params, base_url: str) -> list[Any]:
    """Providers of open data: names, or dictionaries with ``all_fields``."""
    return _listed(_org_list(uow), params, "organizations")


def organization_show(uow: UnitOfWork, *, params: Params, base_url: str) -> dict[str, Any]:
    """One provider of open data by id or name, with its datasets on ``include_datasets``."""
    key = params.identifier("id")
    found = next((o for o in _org_list(uow) if key in (o["id"], o["name"])), None)
    if found is None:
        raise NotFound(f"未找到组织 {key!r} (Organization was not found)")
    if params.flag("include_datasets"):
        search = Params({"fq": f'owner_org:"{found["id"]}"', "rows": ROWS_MAX,
                         "sort": "metadata_modified desc"})  # fmt: skip
        found["packages"] = package_search(uow, params=search, base_url=base_url)["results"]
    return found


def _group_list(uow: UnitOfWork) -> list[dict[str, Any]]:
    stmt = sa.select(Entry.theme, sa.func.count()).where(cq.open_clause()).group_by(Entry.theme)
    counts = {theme: int(n) for theme, n in uow.session.execute(stmt)}
    return [group_dict(code, counts.get(code, 0)) for code in THEMES]


def group_list(uow: UnitOfWork, *, params: Params, base_url: str) -> list[Any]:
    """The themes (分类) as CKAN groups: names, or dictionaries with ``all_fields``."""
    return _listed(_group_list(uow), params, "groups")


def group_show(uow: UnitOfWork, *, params: Params, base_url: str) -> dict[str, Any]:
    """One theme by code or name, with its datasets on ``include_datasets``."""
    key = params.identifier("id")
    code = cq.group_code(key)
    if code is None:
        raise NotFound(f"未找到分类 {key!r} (Group was not found)")
    found = next(g for g in _group_list(uow) if g["id"] == code)
    if params.flag("include_datasets"):
        search = Params({"fq": f"groups:{code}", "rows": ROWS_MAX,
                         "sort": "metadata_modified desc"})  # fmt: skip
        found["packages"] = package_search(uow, params=search, base_url=base_url)["results"]
    return found


def tag_list(uow: UnitOfWork, *, params: Params, base_url: str) -> list[Any]:
    """Keywords of open datasets, sorted; ``query`` keeps those containing it."""
    if params.text("vocabulary_id"):
        raise NotFound("未找到词表 (Could not find vocabulary)")
    rows, keyword = cq.keyword_rows(uow)
    stmt = rows.add_columns(keyword).where(cq.open_clause()).distinct()
    query = params.text("query")
    words = sorted(str(w) for w in uow.session.scalars(stmt))
    if query:
        folded = query.casefold()
        words = [w for w in words if folded in w.casefold()]
    if params.flag("all_fields"):
        return [{"id": w, "name": w, "display_name": w, "vocabulary_id": None} for w in words]
    return words


# --- resources and the site -----------------------------------------------------------------


def resource_show(uow: UnitOfWork, *, params: Params, base_url: str) -> dict[str, Any]:
    """One resource (``{entry id}-{csv|xlsx|json|parquet|api}``) of an open dataset."""
    key = params.identifier("id")
    entry_id, _, _ = key.rpartition("-")
    try:
        package = package_show(uow, params=Params({"id": entry_id}), base_url=base_url)
    except DatasetNotFound:
        package = {"resources": []}
    found = next((r for r in package["resources"] if r["id"] == key), None)
    if found is None:
        raise NotFound(f"未找到资源 {key!r} (Resource was not found)")
    return dict(found)


def status_show(uow: UnitOfWork, *, params: Params, base_url: str) -> dict[str, Any]:
    """The site: which CKAN API it speaks, its title and address."""
    return {
        "ckan_version": CKAN_VERSION,
        "gongshu_version": gongshu.__version__,
        "site_url": base_url,
        "site_title": "公共数据开放平台",
        "site_description": "城市公共数据开放：检索、预览、下载和接口调用 (city open data portal)",
        "error_emails_to": None,
        "locale_default": "zh_Hans_CN",
        "extensions": [],
    }


def help_show(uow: UnitOfWork, *, params: Params, base_url: str) -> str:
    """The documentation of an action (what the envelope's ``help`` URL points to)."""
    name = params.identifier("name")
    if name not in ACTIONS:
        raise NotFound(f"未找到接口 {name!r} (Action function not found)")
    return ACTIONS[name].__doc__ or ""


Action = Callable[..., Any]
ACTIONS: dict[str, Action] = {
    action.__name__: action
    for action in (
        package_search, package_show, package_list, current_package_list_with_resources,
        organization_list, organization_show, group_list, group_show, tag_list,
        resource_show, status_show, help_show,
    )
}  # fmt: skip


def call_action(
    uow: UnitOfWork,
    *,
    name: str,
    data: Mapping[str, Any],
    base_url: str,
    counts: SearchCountCache | None = None,
) -> Any:
    """Run one action on its ``data_dict``; :class:`UnknownAction` for a name not offered.

    ``package_search`` keeps its totals and facets in ``counts`` between calls."""
    action = ACTIONS.get(name)
    if action is None:
        raise UnknownAction(f"Action name not known: {name}")
    params, base = Params(data), base_url.rstrip("/")
    if action is package_search:
        return package_search(uow, params=params, base_url=base, counts=counts)
    return action(uow, params=params, base_url=base)
