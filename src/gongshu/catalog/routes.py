"""HTTP routes of the catalogue under ``/api/v1/catalog`` and the DCAT-AP documents."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile, status
from fastapi.responses import JSONResponse, RedirectResponse

from gongshu.catalog import imports, publication, search, service
from gongshu.catalog.diff import diff_documents
from gongshu.catalog.resolve import OrgIndex
from gongshu.catalog.schemas import (
    EntryInput,
    EntryRead,
    EntrySummary,
    FieldRead,
    Reason,
    ReviewDecision,
    VersionRead,
)
from gongshu.catalog.sheets import template_xlsx, write_csv, write_xlsx
from gongshu.identity import can
from gongshu.identity.deps import CurrentActor, MaybeActor, UoW
from gongshu.kernel.errors import PayloadTooLarge

__all__ = ["dcat_router", "router"]

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"])
dcat_router = APIRouter(tags=["dcat"])
Limit = Annotated[int, Query(ge=1, le=100)]
Multi = Annotated[list[str] | None, Query()]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_IMPORT_BYTES = 64 * 1024 * 1024


def entry_read(uow: Any, entry: Any) -> EntryRead:
    """An entry with names and overdue flags filled in."""
    orgs = OrgIndex.load(uow, [entry.provider_id, entry.district_id or ""])
    now = uow.clock.now()
    values = {column.key: getattr(entry, column.key) for column in entry.__table__.columns}
    return EntryRead.model_validate(
        values
        | {
            "fields": [FieldRead.model_validate(item) for item in entry.fields],
            "provider_name": orgs.name_of(entry.provider_id),
            "district_name": orgs.name_of(entry.district_id),
            "review_overdue": entry.review_overdue(service.today(uow)),
            "data_overdue_since": entry.overdue_since(now),
        }
    )


@router.get("/entries", response_class=JSONResponse)
def search_entries(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    q: Annotated[str | None, Query(max_length=10_000)] = None,
    provider: Multi = None,
    district: Multi = None,
    theme: Multi = None,
    grade: Multi = None,
    share_type: Multi = None,
    open_type: Multi = None,
    format: Multi = None,
    update_frequency: Multi = None,
    status: Multi = None,
    kind: Multi = None,
    sort: Literal["relevance", "modified", "name"] = "relevance",
    cursor: str | None = None,
    limit: Limit = 20,
    facets: bool = True,
) -> JSONResponse:
    """Search and browse the catalogue with facets; ``q`` is Chinese full text.

    ``facets=false`` skips the facet counts (about a third of a search's time) for clients
    that only page through results.
    """
    filters = search.SearchFilters.of(
        provider=provider, district=district, theme=theme, grade=grade, share_type=share_type,
        open_type=open_type, format=format, update_frequency=update_frequency, status=status,
        kind=kind,
    )  # fmt: skip
    result = search.search_entries(
        uow,
        actor=actor,
        q=q,
        filters=filters,
        sort=sort,
        cursor=cursor,
        limit=limit,
        facets=facets,
    )
    items = [
        EntrySummary(
            id=h.entry.id, resource_code=h.entry.resource_code, name=h.entry.name,
            name_html=str(h.name_html), summary_html=str(h.summary_html),
            provider_id=h.entry.provider_id, provider_name=h.provider_name,
            theme=h.entry.theme, grade=h.entry.grade, share_type=h.entry.share_type,
            open_type=h.entry.open_type, format=h.entry.format,
            update_frequency=h.entry.update_frequency, status=h.entry.status,
            published_version=h.entry.published_version, updated_at=h.entry.updated_at,
            rank=h.rank,
        ).model_dump(mode="json")
        for h in result.hits
    ]  # fmt: skip
    links: dict[str, str | None] = {"self": str(request.url), "next": None}
    if result.next_cursor:
        links["next"] = str(request.url.include_query_params(cursor=result.next_cursor))
    # Already JSON-ready: a JSONResponse skips FastAPI's second walk over every value.
    return JSONResponse(
        {
            "data": items,
            "meta": {
                "total": result.total,
                "count": len(items),
                "limit": limit,
                "next_cursor": result.next_cursor,
                "facets_exact": result.facets_exact,
                "facets": {
                    k: [{"value": v, "count": n} for v, n in rows]
                    for k, rows in result.facets.items()
                },
            },
            "links": links,
        }
    )


@router.post("/entries", status_code=status.HTTP_201_CREATED)
def create_entry(
    data: EntryInput, actor: CurrentActor, uow: UoW, submit: bool = False
) -> EntryRead:
    """Register an entry as a draft (``?submit=true`` sends it for review at once)."""
    return entry_read(uow, service.create_entry(uow, actor=actor, data=data, submit=submit))


@router.get("/entries/{entry_id}")
def get_entry(entry_id: str, actor: CurrentActor, uow: UoW) -> EntryRead:
    """One entry's working copy and lifecycle state."""
    return entry_read(uow, service.get_entry(uow, actor=actor, entry_id=entry_id))


@router.put("/entries/{entry_id}")
def update_entry(entry_id: str, data: EntryInput, actor: CurrentActor, uow: UoW) -> EntryRead:
    """Replace the working copy; the entry returns to draft."""
    return entry_read(uow, service.update_entry(uow, actor=actor, entry_id=entry_id, data=data))


@router.post("/entries/{entry_id}/submit")
def submit_entry(entry_id: str, actor: CurrentActor, uow: UoW) -> EntryRead:
    """Send a draft to the bureau for review (2 working days)."""
    return entry_read(uow, service.submit_entry(uow, actor=actor, entry_id=entry_id))


@router.post("/entries/{entry_id}/approve")
def approve_entry(
    entry_id: str, decision: ReviewDecision, actor: CurrentActor, uow: UoW
) -> EntryRead:
    """The bureau approves (and with ``publish`` publishes) a submitted entry."""
    entry = service.approve_entry(
        uow, actor=actor, entry_id=entry_id, note=decision.note, publish=decision.publish
    )
    return entry_read(uow, entry)


@router.post("/entries/{entry_id}/return")
def return_entry(entry_id: str, reason: Reason, actor: CurrentActor, uow: UoW) -> EntryRead:
    """The bureau returns an entry to its provider with what must change."""
    return entry_read(
        uow, service.return_entry(uow, actor=actor, entry_id=entry_id, note=reason.note)
    )


@router.post("/entries/{entry_id}/publish")
def publish_entry(
    entry_id: str, decision: ReviewDecision, actor: CurrentActor, uow: UoW
) -> VersionRead:
    """Publish a reviewed entry as a new version."""
    version = service.publish_entry(uow, actor=actor, entry_id=entry_id, note=decision.note)
    return VersionRead.model_validate(version)


@router.post("/entries/{entry_id}/deprecate")
def deprecate_entry(entry_id: str, reason: Reason, actor: CurrentActor, uow: UoW) -> EntryRead:
    """Withdraw a published entry."""
    return entry_read(
        uow, service.deprecate_entry(uow, actor=actor, entry_id=entry_id, reason=reason.note)
    )


@router.get("/entries/{entry_id}/versions")
def list_versions(entry_id: str, actor: CurrentActor, uow: UoW) -> dict[str, Any]:
    """Published versions, newest first."""
    versions = service.list_versions(uow, actor=actor, entry_id=entry_id)
    return {"data": [VersionRead.model_validate(v).model_dump(mode="json") for v in versions]}


@router.get("/entries/{entry_id}/versions/{number}")
def get_version(entry_id: str, number: int, actor: CurrentActor, uow: UoW) -> VersionRead:
    """One published version's document."""
    version = service.get_version(uow, actor=actor, entry_id=entry_id, number=number)
    return VersionRead.model_validate(version)


@router.get("/entries/{entry_id}/diff")
def diff_versions(
    entry_id: str,
    actor: CurrentActor,
    uow: UoW,
    from_: Annotated[int, Query(alias="from", ge=1)],
    to: Annotated[int, Query(ge=1)],
) -> dict[str, Any]:
    """What changed between two versions, attribute by attribute."""
    old = service.get_version(uow, actor=actor, entry_id=entry_id, number=from_)
    new = service.get_version(uow, actor=actor, entry_id=entry_id, number=to)
    changes = diff_documents(old.document, new.document)
    return {"data": [asdict(change) | {"inline": str(change.inline or "")} for change in changes]}


@router.get("/review-queue")
def review_queue(actor: CurrentActor, uow: UoW) -> dict[str, Any]:
    """Entries waiting for the bureau, earliest deadline first, overdue flagged."""
    return {"data": [entry_read(uow, e).model_dump(mode="json")
                     for e in service.review_queue(uow, actor=actor)]}  # fmt: skip


@router.post("/imports")
async def import_entries(
    actor: CurrentActor,
    uow: UoW,
    file: Annotated[UploadFile, File()],
    dry_run: Annotated[bool, Form()] = True,
    submit: Annotated[bool, Form()] = False,
    sheet: Annotated[str | None, Form()] = None,
) -> dict[str, Any]:
    """Import a spreadsheet: a dry run reports every problem; a commit stores all or nothing."""
    data = await file.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(f"{file.filename}: larger than {MAX_IMPORT_BYTES} bytes")
    report = imports.import_entries(
        uow, actor=actor, data=data, filename=file.filename or "upload",
        sheet=sheet or None, dry_run=dry_run, submit=submit,
    )  # fmt: skip
    return {"data": report.as_dict()}


@router.get("/export.{fmt}")
def export_entries(
    fmt: Literal["xlsx", "csv"], actor: CurrentActor, uow: UoW, encoding: str = "utf-8-sig"
) -> Response:
    """Every entry the caller may see, as a spreadsheet in the exchange format."""
    rows = list(imports.export_rows(uow, actor=actor))
    if fmt == "xlsx":
        body, media = write_xlsx(rows, title="公共数据资源目录"), XLSX
    else:
        body = write_csv(rows, encoding="gb18030" if encoding.lower() == "gb18030" else "utf-8-sig")
        media = "text/csv; charset=" + ("gb18030" if encoding.lower() == "gb18030" else "utf-8")
    disposition = f"attachment; filename=catalogue.{fmt}"
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})


@router.get("/template.xlsx")
def template(actor: CurrentActor) -> Response:
    """The blank import template with dropdowns and instructions."""
    headers = {"Content-Disposition": "attachment; filename=catalogue-template.xlsx"}
    return Response(template_xlsx(), media_type=XLSX, headers=headers)


@dcat_router.get("/catalog.{fmt}")
def dcat_catalog(
    request: Request,
    fmt: Literal["ttl", "jsonld", "rdf"],
    actor: MaybeActor,
    uow: UoW,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """The published catalogue as DCAT-AP 3 (Turtle, JSON-LD or RDF/XML), paged."""
    body, media = publication.catalog_document(
        uow, actor=actor, base_url=str(request.base_url).rstrip("/"), fmt=fmt,
        page=page, page_size=page_size,
    )  # fmt: skip
    return Response(body, media_type=media)


@dcat_router.get("/dataset/{entry_id}.{fmt}")
def dcat_dataset(
    request: Request, entry_id: str, fmt: Literal["ttl", "jsonld", "rdf"], actor: MaybeActor,
    uow: UoW,
) -> Response:  # fmt: skip
    """One published entry as a DCAT-AP 3 dataset."""
    body, media = publication.dataset_document(
        uow, actor=actor, base_url=str(request.base_url).rstrip("/"), entry_id=entry_id, fmt=fmt
    )
    return Response(body, media_type=media)


@dcat_router.get("/catalog/{entry_id}")
def entry_landing(request: Request, entry_id: str, actor: MaybeActor) -> Response:
    """An entry's IRI: people go to its page, harvesters get RDF by content negotiation."""
    accept = request.headers.get("accept", "")
    if "text/turtle" in accept:
        target = f"/dataset/{entry_id}.ttl"
    elif "application/ld+json" in accept or "application/json" in accept:
        target = f"/dataset/{entry_id}.jsonld"
    elif "application/rdf+xml" in accept:
        target = f"/dataset/{entry_id}.rdf"
    elif actor is not None and can(actor, "catalog.read"):
        target = f"/console/catalog/{entry_id}"
    else:
        target = f"/dataset/{entry_id}.ttl"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
