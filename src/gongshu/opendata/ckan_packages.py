"""Open entries as CKAN 2.10 packages, with their organisation, group and resources.

Each open entry is shown from its latest published version:

* ``id`` and ``name`` are the entry id (already URL-safe); ``title`` its name, ``notes`` its
  summary, ``tags`` its keywords, ``url`` its page on the portal;
* ``organization`` is the provider (CKAN ``name`` = organisation code, ``title`` = its name);
* ``groups`` is its theme (CKAN ``id`` = theme code, ``name`` = English slug, ``title`` = 中文);
* ``license_id`` is ``cc-by-4.0`` for 无条件开放 and ``other-closed`` for 有条件开放 (why: see
  :data:`gongshu.opendata.ckan_query.LICENCES`);
* ``metadata_created`` is the first publication, ``metadata_modified`` the entry's last
  change (the column the catalogue sorts "modified" by), both UTC as CKAN writes them;
* ``extras`` carry the resource code, update frequency, open type, grade and kind;
* ``resources``, once the entry has data, are one download per format of its latest dataset
  version (``/api/v1/open/datasets/{id}/download.{fmt}``) and the row API. Sizes are left
  out: a download is made on request and its size is not known beforehand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from gongshu.catalog.models import Entry, EntryVersion
from gongshu.catalog.vocab import OPEN_LABELS, THEMES, OpenType
from gongshu.datastore.models import DatasetVersion
from gongshu.identity import Organisation
from gongshu.kernel.uow import UnitOfWork
from gongshu.opendata import ckan_query as cq

__all__ = ["ckan_time", "group_dict", "organization_dict", "packages"]

_FORMATS = {
    "CSV": ("csv", "text/csv", "CSV 文件 (CSV file)"),
    "XLSX": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             "Excel 文件 (Excel workbook)"),
    "JSON": ("json", "application/json", "JSON 文件 (JSON file)"),
    "Parquet": ("parquet", "application/vnd.apache.parquet", "Parquet 文件 (Parquet file)"),
}  # fmt: skip


def ckan_time(moment: datetime | None) -> str | None:
    """A timestamp as CKAN writes it: UTC, no zone, microseconds."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def organization_dict(org: Organisation, count: int | None = None) -> dict[str, Any]:
    """A provider as a CKAN organisation (with ``package_count`` when counted)."""
    result: dict[str, Any] = {
        "id": org.id,
        "name": org.code,
        "title": org.name,
        "display_name": org.name,
        "description": org.name_en or "",
        "type": "organization",
        "is_organization": True,
        "state": "active",
        "approval_status": "approved",
        "image_url": "",
        "image_display_url": "",
        "created": ckan_time(org.created_at),
    }
    if count is not None:
        result["package_count"] = count
    return result


def group_dict(code: str, count: int | None = None) -> dict[str, Any]:
    """A theme as a CKAN group: the short form packages carry, the full one when counted."""
    chinese, english = THEMES[code]
    result: dict[str, Any] = {
        "id": code,
        "name": cq.group_name(code),
        "title": chinese,
        "display_name": chinese,
        "description": english,
        "image_display_url": "",
    }
    if count is not None:
        result |= {"type": "group", "is_organization": False, "state": "active",
                   "approval_status": "approved", "image_url": "", "created": None,
                   "package_count": count}  # fmt: skip
    return result


@dataclass(frozen=True)
class _Published:
    """What a package is made of: the published document, the entry's dates, and the open
    type in force (the stricter of the published one and a revision's, as access checks)."""

    version: EntryVersion
    first_published_at: datetime | None
    updated_at: datetime
    open_type: str


def _resources(
    entry_id: str, title: str, data: DatasetVersion | None, open_type: str, base_url: str
) -> list[dict[str, Any]]:
    if data is None:
        return []
    root = f"{base_url}/api/v1/open/datasets/{entry_id}"
    access = (
        "需申请并获批后凭 App Key 访问 (apply first, then call with an app key)"
        if open_type == OpenType.CONDITIONAL
        else "无需申请 (no application needed)"
    )
    common = {"package_id": entry_id, "state": "active", "size": None, "hash": "",
              "created": ckan_time(data.created_at), "last_modified": ckan_time(data.created_at),
              "metadata_modified": ckan_time(data.created_at), "datastore_active": False,
              "url_type": None, "cache_url": None, "mimetype_inner": None}  # fmt: skip
    resources = []
    for position, (fmt, (ext, mimetype, label)) in enumerate(_FORMATS.items()):
        resources.append(common | {
            "id": f"{entry_id}-{ext}", "name": f"{title} · {label}", "format": fmt,
            "mimetype": mimetype, "url": f"{root}/download.{ext}", "position": position,
            "resource_type": "file",
            "description": f"第 {data.number} 版数据下载，{access}",
        })  # fmt: skip
    resources.append(common | {
        "id": f"{entry_id}-api", "name": f"{title} · 数据接口 (row API)", "format": "API",
        "mimetype": "application/json", "url": f"{root}/rows", "position": len(_FORMATS),
        "resource_type": "api",
        "description": f"按条件查询数据行，{access}；接口说明 (OpenAPI): {root}/openapi.json",
    })  # fmt: skip
    return resources


def _package(
    item: _Published, org: Organisation | None, data: DatasetVersion | None, base_url: str
) -> dict[str, Any]:
    doc = item.version.document
    entry_id = doc["id"]
    open_type = item.open_type
    licence = cq.LICENCES[open_type]
    keywords = list(doc.get("keywords") or ())
    provider = doc["provider"]
    extras = {"resource_code": doc["resource_code"], "update_frequency": doc["update_frequency"],
              "open_type": open_type, "open_type_label": OPEN_LABELS[OpenType(open_type)],
              "grade": doc["grade"], "kind": doc["kind"]}  # fmt: skip
    if doc.get("district"):
        extras["district"] = doc["district"]["name"] or doc["district"]["id"]
    if doc.get("open_conditions"):
        extras["open_conditions"] = doc["open_conditions"]
    resources = _resources(entry_id, doc["name"], data, open_type, base_url)
    return {
        "id": entry_id,
        "name": entry_id,
        "title": doc["name"],
        "notes": doc["summary"],
        "type": "dataset",
        "state": "active",
        "private": False,
        "author": provider["name"],
        "author_email": None,
        "maintainer": provider["name"],
        "maintainer_email": None,
        "creator_user_id": None,
        "url": f"{base_url}/open/datasets/{entry_id}",
        "version": str(item.version.number),
        "license_id": licence.id,
        "license_title": licence.title,
        "license_url": licence.url,
        "isopen": licence.is_open,
        "metadata_created": ckan_time(item.first_published_at),
        "metadata_modified": ckan_time(item.updated_at),
        "owner_org": provider["id"],
        "organization": organization_dict(org) if org is not None else None,
        "groups": [group_dict(doc["theme"])],
        "tags": [
            {
                "id": word,
                "name": word,
                "display_name": word,
                "state": "active",
                "vocabulary_id": None,
            }
            for word in keywords
        ],
        "num_tags": len(keywords),
        "extras": [{"key": key, "value": value} for key, value in extras.items()],
        "resources": resources,
        "num_resources": len(resources),
        "relationships_as_object": [],
        "relationships_as_subject": [],
    }


def packages(uow: UnitOfWork, ids: Sequence[str], base_url: str) -> list[dict[str, Any]]:
    """Packages for entry ids, in the given order: four queries whatever the page size."""
    if not ids:
        return []
    stmt = (
        sa.select(EntryVersion, Entry.first_published_at, Entry.updated_at, Entry.open_type)
        .join(Entry, sa.and_(Entry.id == EntryVersion.entry_id,
                             Entry.published_version == EntryVersion.number))
        .where(Entry.id.in_(ids))
    )  # fmt: skip
    published = {
        version.entry_id: _Published(version, first, updated, _stricter(working, version))
        for version, first, updated, working in uow.session.execute(stmt)
    }
    providers = {p.version.document["provider"]["id"] for p in published.values()}
    orgs = {o.id: o for o in uow.session.scalars(
        sa.select(Organisation).where(Organisation.id.in_(providers)))}  # fmt: skip
    data = _latest_data(uow, ids)
    return [
        _package(item, orgs.get(item.version.document["provider"]["id"]), data.get(i), base_url)
        for i in ids
        if (item := published.get(i)) is not None
    ]


def _stricter(working: str, version: EntryVersion) -> str:
    published = str(version.document["open_type"])
    conditional = OpenType.CONDITIONAL.value
    return conditional if conditional in (working, published) else published


def _latest_data(uow: UnitOfWork, ids: Sequence[str]) -> dict[str, DatasetVersion]:
    """Each entry's latest dataset version (``datastore.service.latest_version``, batched)."""
    latest = (
        sa.select(DatasetVersion.entry_id, sa.func.max(DatasetVersion.number).label("number"))
        .where(DatasetVersion.entry_id.in_(ids))
        .group_by(DatasetVersion.entry_id)
        .subquery()
    )
    stmt = sa.select(DatasetVersion).join(
        latest,
        sa.and_(DatasetVersion.entry_id == latest.c.entry_id,
                DatasetVersion.number == latest.c.number),
    )  # fmt: skip
    return {v.entry_id: v for v in uow.session.scalars(stmt)}
