"""Dataset pages under ``/console/datasets``: an entry's versions, upload and settings; a version.

Pages work without JavaScript: the upload form posts the file to a page route that ingests it
and redirects to the run's report. With JavaScript the same form streams the file in chunks
through the resumable API (``/api/v1/datasets/uploads``, the session cookie plus the
``X-CSRF-Token`` header), starts the ingest with ``wait=false`` and polls the run. The services
check every right; ``can`` here only decides which forms to show.

Quality sits above datastore in the layers, so these pages never import it: what quality shows
here (each version's score, the trend chart, a version's quality report) comes from a
:class:`QualityPanel` that :mod:`gongshu.quality.pages` puts on ``request.state`` through a
router dependency when it includes this router. Without one the pages show no scores.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Collection, Iterable, Sequence
from typing import Annotated, Any, Protocol

import sqlalchemy as sa
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from gongshu.catalog import service as catalog
from gongshu.catalog.models import Entry
from gongshu.catalog.pages_shared import when
from gongshu.catalog.resolve import invalid_from_validation
from gongshu.catalog.vocab import EntryStatus, FieldFlag
from gongshu.datastore import service
from gongshu.datastore.errors import VersionNotFound, VersionRefused
from gongshu.datastore.models import DatasetSettings, DatasetVersion, IngestRun
from gongshu.datastore.routes import Store
from gongshu.datastore.schemas import SettingsInput
from gongshu.identity import Actor, can
from gongshu.identity.deps import CurrentActor, UoW, verify_csrf
from gongshu.identity.models import User
from gongshu.identity.pages import render, see_other
from gongshu.kernel.errors import Conflict, InvalidInput, PayloadTooLarge
from gongshu.kernel.text import mask_value
from gongshu.kernel.uow import UnitOfWork

__all__ = [
    "ERRORS_SHOWN",
    "PHASES",
    "QualityPanel",
    "format_aliases",
    "mask_value",
    "parse_aliases",
    "router",
    "withheld_fields",
]

router = APIRouter(include_in_schema=False)

VERSIONS_PER_PAGE = 50
ERRORS_SHOWN = 100  # located errors listed on a page (the report keeps up to 1,000)
# The phases of an ingest as the uploader shows them, in order.
PHASES = ("hashing", "reading", "typing", "storing", "comparing", "assessing")
_PRIVATE_FLAGS = frozenset({FieldFlag.IDENTIFIER, FieldFlag.SENSITIVE})
_ALIAS_SPLIT = re.compile(r"[,，、;；]")
_ALIAS_LINE = re.compile(r"^(?P<field>[^:：=]+)[:：=](?P<aliases>.*)$")


class QualityPanel(Protocol):
    """What the quality domain adds to these pages (installed from above; see the docstring)."""

    def for_entry(
        self, uow: UnitOfWork, *, actor: Actor, entry: Entry, version_ids: Sequence[str]
    ) -> dict[str, Any]:
        """``{"scores": {version id: overall}, "trend": [...]}`` for the versions page."""
        ...

    def for_version(
        self, uow: UnitOfWork, *, actor: Actor, entry: Entry, version: DatasetVersion
    ) -> dict[str, Any] | None:
        """The context of ``quality_version.html`` for one version (None: not assessed)."""
        ...


def withheld_fields(columns: Iterable[dict[str, Any]]) -> frozenset[str]:
    """The names of a version's identifier and sensitive fields (their values are masked)."""
    return frozenset(str(c["name"]) for c in columns if _PRIVATE_FLAGS & set(c.get("flags") or ()))


def parse_aliases(text: str) -> dict[str, list[str]]:
    """Aliases typed one field a line, ``数据项：别名1、别名2``; errors name the line."""
    aliases: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        found = _ALIAS_LINE.match(line.strip())
        if found is None:
            raise InvalidInput.field(
                f"aliases.line{number}",
                f"第 {number} 行应写作“数据项：别名1、别名2” (write 'field: alias, alias')",
            )
        name = found["field"].strip()
        names = [a.strip() for a in _ALIAS_SPLIT.split(found["aliases"]) if a.strip()]
        if not names:
            raise InvalidInput.field(
                f"aliases.line{number}", f"第 {number} 行“{name}”没有别名 (no alias given)"
            )
        aliases.setdefault(name, []).extend(names)
    return aliases


def format_aliases(aliases: dict[str, list[str]]) -> str:
    """Aliases as the settings form shows them (the inverse of :func:`parse_aliases`)."""
    return "\n".join(f"{name}：{'、'.join(names)}" for name, names in aliases.items())


def _panel(request: Request) -> QualityPanel | None:
    panel: QualityPanel | None = getattr(request.state, "quality_panel", None)
    return panel


def _people(uow: UnitOfWork, ids: Collection[str | None]) -> dict[str, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = uow.session.execute(sa.select(User.id, User.display_name).where(User.id.in_(wanted)))
    return {user_id: name for user_id, name in rows}


def _settings_form(saved: DatasetSettings) -> dict[str, Any]:
    return {
        "on_error": saved.on_error,
        "key_fields": list(saved.key_fields or []),
        "aliases": format_aliases(dict(saved.aliases or {})),
    }


def _masked_report(report: dict[str, Any], private: frozenset[str]) -> list[dict[str, Any]]:
    """The first located errors of a report, values of private fields masked."""
    return [
        error | {"value": mask_value(error.get("value"))}
        if error.get("field") in private
        else error
        for error in (report.get("errors") or [])[:ERRORS_SHOWN]
    ]


def _run_context(uow: UnitOfWork, actor: Actor, entry: Entry, run_id: str) -> dict[str, Any]:
    run = service.get_run(uow, actor=actor, run_id=run_id)
    if run.entry_id != entry.id:
        raise VersionNotFound(f"no ingest run {run_id!r} for entry {entry.id!r}")
    version = uow.session.get(DatasetVersion, run.version_id) if run.version_id else None
    private = withheld_fields(
        version.columns if version else [{"name": f.name, "flags": f.flags} for f in entry.fields]
    )
    return {"run": run, "version": version, "errors": _masked_report(run.report or {}, private)}


def _render_entry(
    request: Request,
    actor: Actor,
    uow: UnitOfWork,
    entry_id: str,
    *,
    cursor: str | None = None,
    run_id: str | None = None,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    entry = service.entry_for(uow, actor=actor, entry_id=entry_id, action="dataset.read")
    versions, next_cursor = service.list_versions(
        uow, actor=actor, entry_id=entry_id, cursor=cursor, limit=VERSIONS_PER_PAGE
    )
    outcome = _run_context(uow, actor, entry, run_id) if run_id else None
    panel = _panel(request)
    quality = (
        panel.for_entry(uow, actor=actor, entry=entry, version_ids=[v.id for v in versions])
        if panel
        else {}
    )
    owned = catalog.resource(entry)
    who = {v.created_by_id for v in versions} | (
        {outcome["run"].started_by_id} if outcome else set()
    )
    return render(
        request,
        "datasets_entry.html",
        status=status,
        actor=actor,
        entry=entry,
        versions=versions,
        next_cursor=next_cursor,
        outcome=outcome,
        quality=quality,
        people=_people(uow, who),
        may_upload=can(actor, "dataset.upload", owned) and entry.status != EntryStatus.DEPRECATED,
        may_configure=can(actor, "dataset.settings", owned),
        settings=form or _settings_form(service.settings_for(uow, entry_id)),
        chunk_bytes=request.app.state.platform.settings.upload_chunk_bytes,
        phases=PHASES,
        error=error,
        when=when,
    )


@router.get("/console/datasets/versions/{version_id}", response_class=HTMLResponse)
def version_page(request: Request, version_id: str, actor: CurrentActor, uow: UoW) -> Response:
    """One version: its columns, difference, ingest report and quality report."""
    version = service.get_version(uow, actor=actor, version_id=version_id)
    entry = service.entry_for(uow, actor=actor, entry_id=version.entry_id, action="dataset.read")
    run = uow.session.scalar(
        sa.select(IngestRun)
        .where(IngestRun.version_id == version.id, IngestRun.status == "stored")
        .limit(1)
    )
    panel = _panel(request)
    return render(
        request,
        "datasets_version.html",
        actor=actor,
        entry=entry,
        version=version,
        run=run,
        errors=_masked_report(run.report if run else {}, withheld_fields(version.columns)),
        quality=panel.for_version(uow, actor=actor, entry=entry, version=version)
        if panel
        else None,
        people=_people(uow, [version.created_by_id]),
        when=when,
    )


@router.get("/console/datasets/{entry_id}", response_class=HTMLResponse)
def entry_page(
    request: Request,
    entry_id: str,
    actor: CurrentActor,
    uow: UoW,
    cursor: str | None = None,
    run: str | None = None,
) -> Response:
    """An entry's versions with scores and trend, the upload form and the ingest settings."""
    return _render_entry(request, actor, uow, entry_id, cursor=cursor, run_id=run)


@router.post("/console/datasets/{entry_id}/upload")
def upload(
    request: Request,
    entry_id: str,
    actor: CurrentActor,
    uow: UoW,
    store: Store,
    file: Annotated[UploadFile, File()],
    csrf_token: Annotated[str, Form()] = "",
    sheet: Annotated[str, Form(max_length=100)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """The upload without JavaScript: ingest the posted file, then show the run's report."""
    verify_csrf(request, csrf_token)
    # The ingest commits in its own short transactions: end the request's (and, on SQLite, its
    # write lock) first.
    uow.rollback()
    try:
        if not file.filename:
            raise InvalidInput.field("file", "请选择要上传的文件 (choose a file)")
        with store.lake.scratch() as work:
            path = work / "upload"
            with path.open("wb") as target:
                shutil.copyfileobj(file.file, target, length=4 * 1_048_576)
            outcome = service.ingest_file(
                store, actor=actor, entry_id=entry_id, path=path, filename=file.filename,
                sheet=sheet.strip() or None, note=note,
            )  # fmt: skip
    except VersionRefused as refused:
        return see_other(f"/console/datasets/{entry_id}?run={refused.run_id}#run")
    except (InvalidInput, Conflict, PayloadTooLarge) as exc:
        return _render_entry(request, actor, uow, entry_id, error=exc.message, status=exc.status)
    return see_other(f"/console/datasets/{entry_id}?run={outcome.run_id}#run")


@router.post("/console/datasets/{entry_id}/settings")
def save_settings(
    request: Request,
    entry_id: str,
    actor: CurrentActor,
    uow: UoW,
    csrf_token: Annotated[str, Form()] = "",
    on_error: Annotated[str, Form()] = "quarantine",
    key_fields: Annotated[list[str] | None, Form()] = None,
    aliases: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """Save the ingest policy, key fields and column aliases; errors come back on the page."""
    verify_csrf(request, csrf_token)
    keys = [k for k in key_fields or [] if k]
    try:
        data = SettingsInput.model_validate(
            {"on_error": on_error, "key_fields": keys, "aliases": parse_aliases(aliases)}
        )
        service.update_settings(uow, actor=actor, entry_id=entry_id, data=data)
    except ValidationError as exc:
        message = invalid_from_validation(exc, "settings").message
    except InvalidInput as exc:
        message = exc.message
    else:
        uow.commit()
        return see_other(f"/console/datasets/{entry_id}?saved=1#settings")
    uow.rollback()
    form = {"on_error": on_error, "key_fields": keys, "aliases": aliases}
    return _render_entry(request, actor, uow, entry_id, error=message, form=form, status=422)
