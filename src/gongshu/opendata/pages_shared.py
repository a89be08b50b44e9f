"""What every page of the open data portal uses: its layout's context, lists of open datasets,
names of organisations, and the figures of themes and departments.

Lists show an entry as its published version describes it and only while it is open
(:func:`gongshu.opendata.plan.is_open`): a 不予开放 entry is never listed, whatever its working
copy says. They page by an offset cursor; a list is a few hundred entries at most per theme or
department, so counting past them costs nothing worth a keyset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from gongshu.catalog.models import Entry, EntryVersion
from gongshu.catalog.pages_shared import when
from gongshu.catalog.resolve import invalid_from_validation
from gongshu.catalog.vocab import THEMES
from gongshu.identity import Actor, Organisation, OrgKind
from gongshu.identity.deps import get_platform
from gongshu.identity.pages import render
from gongshu.kernel.errors import Conflict, InvalidInput, NotFound
from gongshu.kernel.pagination import Page, decode_cursor, encode_cursor
from gongshu.kernel.uow import UnitOfWork
from gongshu.opendata.models import DownloadCount
from gongshu.opendata.plan import is_open

__all__ = [
    "ORDERS",
    "SHOWN_ON_PAGE",
    "FormError",
    "OpenCard",
    "base_url",
    "department_counts",
    "district_by_code",
    "district_counts",
    "list_open",
    "login_url",
    "open_page",
    "page_url",
    "refusal",
    "theme_counts",
    "when",
]

ORDERS = ("newest", "downloads", "name")
# Refusals a form shows above itself, the page kept; anything else is the error page.
SHOWN_ON_PAGE = (ValidationError, InvalidInput, Conflict)


@dataclass(frozen=True)
class FormError:
    """A form's refusal: which form (``target``) and why."""

    target: str
    message: str
    status: int = 422


def refusal(target: str, error: Exception) -> FormError:
    """The refusal of a form from a validation error or an expected service error."""
    if isinstance(error, ValidationError):
        return FormError(target, invalid_from_validation(error, "form").message)
    if isinstance(error, InvalidInput | Conflict):
        return FormError(target, error.message, error.status)
    raise error


def page_url(path: str, params: list[tuple[str, str]]) -> str:
    """A path with its query string, if any."""
    return f"{path}?{urlencode(params)}" if params else path


def login_url(request: Request) -> str:
    """The sign-in page, coming back here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return page_url("/login", [("next", here)])


def base_url(request: Request) -> str:
    """The platform's public address, for the copy-ready API calls."""
    configured = get_platform(request).settings.base_url
    return (configured or str(request.base_url)).rstrip("/")


def open_page(
    request: Request, name: str, *, actor: Actor | None, status: int = 200, **context: Any
) -> HTMLResponse:
    """Render a portal page with what the public layout needs (the user, the sign-in link)."""
    return render(
        request,
        name,
        status=status,
        actor=actor,
        login_href=login_url(request),
        path=request.url.path,
        when=when,
        **context,
    )


@dataclass(frozen=True)
class OpenCard:
    """An open dataset in a list: its published name and summary, provider, theme, downloads."""

    id: str
    name: str
    summary: str
    provider_id: str
    provider_name: str
    theme: str
    open_type: str
    published_at: datetime | None
    downloads: int


def _downloads() -> sa.Subquery:
    return (
        sa.select(
            DownloadCount.entry_id.label("entry_id"),
            sa.func.sum(DownloadCount.count).label("downloads"),
        )
        .group_by(DownloadCount.entry_id)
        .subquery("downloads")
    )


def list_open(
    uow: UnitOfWork,
    *,
    theme: str | None = None,
    provider_id: str | None = None,
    district_id: str | None = None,
    order: str = "newest",
    cursor: str | None = None,
    limit: int = 20,
) -> Page[OpenCard]:
    """Open datasets, newest, most downloaded or by name, filtered by theme or organisation."""
    downloads = _downloads()
    count = sa.func.coalesce(downloads.c.downloads, 0)
    stmt = (
        sa.select(Entry.id, Entry.theme, Entry.open_type, Entry.first_published_at,
                  EntryVersion.document, Organisation.name, count)
        .join(EntryVersion, sa.and_(EntryVersion.entry_id == Entry.id,
                                    EntryVersion.number == Entry.published_version))
        .join(Organisation, Organisation.id == Entry.provider_id)
        .outerjoin(downloads, downloads.c.entry_id == Entry.id)
        .where(is_open())
    )  # fmt: skip
    if theme:
        stmt = stmt.where(Entry.theme == theme)
    if provider_id:
        stmt = stmt.where(Entry.provider_id == provider_id)
    if district_id:
        stmt = stmt.where(Entry.district_id == district_id)
    if order == "downloads":
        stmt = stmt.order_by(count.desc(), Entry.first_published_at.desc(), Entry.id)
    elif order == "name":
        stmt = stmt.order_by(Entry.name, Entry.id)
    else:
        stmt = stmt.order_by(Entry.first_published_at.desc(), Entry.id.desc())
    key = decode_cursor(cursor, arity=1)
    offset = max(0, int(key[0])) if key and isinstance(key[0], int) else 0
    rows = uow.session.execute(stmt.offset(offset).limit(limit + 1)).all()
    cards = [
        OpenCard(
            id=entry_id, name=str(doc["name"]), summary=str(doc.get("summary") or ""),
            provider_id=str(doc["provider"]["id"]), provider_name=provider_name,
            theme=theme_code, open_type=_stricter(open_type, str(doc.get("open_type"))),
            published_at=published_at, downloads=int(n or 0),
        )
        for entry_id, theme_code, open_type, published_at, doc, provider_name, n in rows[:limit]
    ]  # fmt: skip
    more = encode_cursor([offset + limit]) if len(rows) > limit else None
    return Page(cards, more, limit)


def _stricter(working: str, published: str) -> str:
    return "conditional" if "conditional" in (working, published) else working


def theme_counts(uow: UnitOfWork) -> dict[str, int]:
    """Open datasets per theme code (themes without any left out)."""
    rows = uow.session.execute(
        sa.select(Entry.theme, sa.func.count()).where(is_open()).group_by(Entry.theme)
    )
    return {theme: int(n) for theme, n in rows if theme in THEMES}


def department_counts(uow: UnitOfWork) -> list[tuple[str, str, int]]:
    """(organisation id, name, open datasets) of every providing body, most datasets first."""
    rows = uow.session.execute(
        sa.select(Organisation.id, Organisation.name, sa.func.count())
        .join(Entry, Entry.provider_id == Organisation.id)
        .where(is_open())
        .group_by(Organisation.id, Organisation.name)
    )
    return sorted(((i, name, int(n)) for i, name, n in rows), key=lambda r: (-r[2], r[1]))


def district_counts(uow: UnitOfWork) -> list[tuple[str, str, int]]:
    """(code, name, open datasets) of every district with district catalogues open."""
    code = sa.func.coalesce(Organisation.division_code, Organisation.code)
    rows = uow.session.execute(
        sa.select(code, Organisation.name, sa.func.count())
        .join(Entry, Entry.district_id == Organisation.id)
        .where(is_open(), Organisation.kind == OrgKind.DISTRICT.value)
        .group_by(code, Organisation.name)
    )
    return sorted((str(c), name, int(n)) for c, name, n in rows)


def district_by_code(uow: UnitOfWork, code: str) -> Organisation:
    """The district with this code or division code, or a 404."""
    found = uow.session.scalar(
        sa.select(Organisation)
        .where(
            Organisation.kind == OrgKind.DISTRICT.value,
            sa.or_(Organisation.code == code, Organisation.division_code == code),
        )
        .order_by(Organisation.code)
        .limit(1)
    )
    if found is None:
        raise NotFound(f"没有区 {code} (no district {code!r})")
    return found
