"""Dataset use cases: settings, ingest, versions and runs.

An ingest is long, so it is not one transaction: a short one records the run, the file work
happens outside any transaction in a scratch directory (the upload is hashed first when an
earlier version of the entry came from a file of its size — it may be the same file, stored
once — and otherwise on a second core while it is read), and a second short one makes the
version visible — version row, run outcome and the audit record (anchored in the ledger with
the file's content hash) together. A failure at any point leaves the run marked and no
version. :class:`DatasetVersionStored` is published after that commit; quality listens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from gongshu.catalog import service as catalog
from gongshu.catalog.models import Entry
from gongshu.catalog.vocab import EntryStatus
from gongshu.datastore import diff, duck, ingest
from gongshu.datastore.errors import VersionNotFound, VersionRefused
from gongshu.datastore.lake import Lake, file_digest
from gongshu.datastore.models import DatasetSettings, DatasetVersion, IngestRun
from gongshu.datastore.schemas import SettingsInput
from gongshu.identity import Actor, audit, authorize
from gongshu.kernel.errors import GongshuError, InvalidInput
from gongshu.kernel.events import Event
from gongshu.kernel.ids import new_id
from gongshu.kernel.pagination import decode_cursor, encode_cursor
from gongshu.kernel.uow import UnitOfWork

__all__ = [
    "DatasetVersionStored",
    "Datastore",
    "IngestOutcome",
    "entry_for",
    "get_run",
    "get_version",
    "ingest_file",
    "latest_version",
    "list_versions",
    "settings_for",
    "update_settings",
    "version_fields",
]


@dataclass(frozen=True)
class DatasetVersionStored(Event):
    """A new version became visible."""

    version_id: str
    entry_id: str
    actor_id: str | None


@dataclass
class Datastore:
    """What ingest needs besides a unit of work: the lake and DuckDB's limits."""

    uow: Callable[[], UnitOfWork]
    lake: Lake
    memory_limit: str
    threads: int

    def connect(self) -> Any:
        """A DuckDB connection with the limits, spilling into the lake's scratch space."""
        return duck.connect(
            memory_limit=self.memory_limit,
            threads=self.threads,
            spill=self.lake.scratch_root / "spill",
        )

    def path_of(self, version: DatasetVersion) -> Path:
        """The version's Parquet file."""
        return self.lake.path_of(version.file_hash)


@dataclass(frozen=True)
class IngestOutcome:
    """How an ingest ended: ``stored`` (a new version) or ``duplicate`` (an existing one)."""

    status: str
    run_id: str
    version_id: str
    number: int
    report: dict[str, Any]


# --- reading ---------------------------------------------------------------------------------


def entry_for(uow: UnitOfWork, *, actor: Actor, entry_id: str, action: str) -> Entry:
    """The entry, if the actor may see it and do ``action`` on its data."""
    entry = catalog.get_entry(uow, actor=actor, entry_id=entry_id)
    authorize(actor, action, catalog.resource(entry))
    return entry


def settings_for(uow: UnitOfWork, entry_id: str) -> DatasetSettings:
    """The entry's ingest settings (defaults when none were saved; not added to the session)."""
    saved = uow.session.get(DatasetSettings, entry_id)
    if saved is not None:
        return saved
    return DatasetSettings(
        entry_id=entry_id, on_error="quarantine", key_fields=[], aliases={}, rules=[]
    )


def version_fields(entry: Entry) -> list[ingest.FieldPlan]:
    """The entry's fields as a version stores them."""
    return [
        ingest.FieldPlan(name=f.name, type=f.type, flags=frozenset(f.flags)) for f in entry.fields
    ]


def latest_version(uow: UnitOfWork, entry_id: str) -> DatasetVersion | None:
    """The newest version of an entry, or None."""
    return uow.session.scalar(
        sa.select(DatasetVersion)
        .where(DatasetVersion.entry_id == entry_id)
        .order_by(DatasetVersion.number.desc())
        .limit(1)
    )


def list_versions(
    uow: UnitOfWork, *, actor: Actor, entry_id: str, cursor: str | None = None, limit: int = 50
) -> tuple[list[DatasetVersion], str | None]:
    """An entry's versions, newest first, by cursor."""
    entry_for(uow, actor=actor, entry_id=entry_id, action="dataset.read")
    limit = max(1, min(limit, 200))
    stmt = sa.select(DatasetVersion).where(DatasetVersion.entry_id == entry_id)
    if cursor:
        key = decode_cursor(cursor, arity=1)
        if key:
            stmt = stmt.where(DatasetVersion.number < int(key[0]))
    rows = list(uow.session.scalars(stmt.order_by(DatasetVersion.number.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor([rows[-1].number]) if more else None)


def get_version(uow: UnitOfWork, *, actor: Actor, version_id: str) -> DatasetVersion:
    """One version, if the actor may see its entry."""
    version = uow.session.get(DatasetVersion, version_id)
    if version is None:
        raise VersionNotFound(f"no dataset version {version_id!r}")
    try:
        entry_for(uow, actor=actor, entry_id=version.entry_id, action="dataset.read")
    except GongshuError as error:
        raise VersionNotFound(f"no dataset version {version_id!r}") from error
    return version


def get_run(uow: UnitOfWork, *, actor: Actor, run_id: str) -> IngestRun:
    """One ingest run (its phase while running, its report after)."""
    run = uow.session.get(IngestRun, run_id)
    if run is None:
        raise VersionNotFound(f"no ingest run {run_id!r}")
    entry_for(uow, actor=actor, entry_id=run.entry_id, action="dataset.read")
    return run


# --- settings --------------------------------------------------------------------------------


def update_settings(
    uow: UnitOfWork, *, actor: Actor, entry_id: str, data: SettingsInput
) -> DatasetSettings:
    """Save the entry's ingest policy, key fields and aliases (checked against its fields)."""
    entry = entry_for(uow, actor=actor, entry_id=entry_id, action="dataset.settings")
    names = {f.name for f in entry.fields}
    for index, key in enumerate(data.key_fields):
        if key not in names:
            raise InvalidInput.field(f"key_fields.{index}", f"“{key}”不是该目录的数据项")
    for name in data.aliases:
        if name not in names:
            raise InvalidInput.field(f"aliases.{name}", f"“{name}”不是该目录的数据项")
    saved = uow.session.get(DatasetSettings, entry_id)
    before = _settings_doc(saved) if saved else None
    if saved is None:
        saved = DatasetSettings(entry_id=entry_id, rules=[])
        uow.session.add(saved)
    saved.on_error = data.on_error
    saved.key_fields = list(data.key_fields)
    saved.aliases = {k: list(v) for k, v in data.aliases.items()}
    saved.updated_at = uow.clock.now()
    saved.updated_by_id = actor.user_id or None
    audit(
        uow,
        actor,
        "dataset.settings_changed",
        "catalog_entry",
        entry_id,
        before=before,
        after=_settings_doc(saved),
    )
    return saved


def _settings_doc(saved: DatasetSettings) -> dict[str, Any]:
    return {"on_error": saved.on_error, "key_fields": saved.key_fields, "aliases": saved.aliases}


# --- ingest ----------------------------------------------------------------------------------


def ingest_file(
    store: Datastore,
    *,
    actor: Actor,
    entry_id: str,
    path: Path,
    filename: str,
    sheet: str | None = None,
    note: str = "",
    progress: ingest.Progress | None = None,
    on_run: Callable[[str], None] | None = None,
) -> IngestOutcome:
    """Load a file as the entry's next version (see the module docstring); ``on_run`` hears
    the run's id as soon as it is recorded."""
    with store.uow() as uow:
        entry = entry_for(uow, actor=actor, entry_id=entry_id, action="dataset.upload")
        if entry.status == EntryStatus.DEPRECATED:
            raise InvalidInput.field("entry_id", "已废止的目录不能上传数据 (entry is deprecated)")
        plans = version_fields(entry)
        if not plans:
            raise InvalidInput.field("entry_id", "目录没有数据项，无法对应文件的列 (no fields)")
        options = settings_for(uow, entry_id)
        on_error, keys, aliases = options.on_error, list(options.key_fields), dict(options.aliases)
        run = IngestRun(
            id=new_id("run"),
            entry_id=entry_id,
            status="running",
            phase="hashing",
            source_name=filename[:300],
            source_bytes=path.stat().st_size,
            report={},
            started_at=uow.clock.now(),
            started_by_id=actor.user_id or None,
        )
        uow.session.add(run)
        uow.commit()
        run_id = run.id
    if on_run is not None:
        on_run(run_id)
    shown = ["hashing"]

    def tell(phase: str, percent: float | None) -> None:
        # The run row follows the phase (for pages polling it); the caller hears every tick.
        if phase != shown[0]:
            shown[0] = phase
            _phase(store, run_id, phase)
        if progress is not None:
            progress(phase, percent)

    hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gongshu-digest")
    try:
        columns = [{"name": p.name, "type": p.type, "flags": sorted(p.flags)} for p in plans]
        hashing: Future[tuple[str, int]] | None = None
        if _may_repeat(store, entry_id, path.stat().st_size):
            tell("hashing", None)
            source_hash, source_bytes = file_digest(path)
            same = _same_source(store, entry_id, source_hash, columns)
            if same is not None:
                same_id, same_number = same
                report = {"duplicate_of": same_number}
                _finish(store, run_id, "duplicate", version_id=same_id, report=report)
                return IngestOutcome("duplicate", run_id, same_id, same_number, report)
        else:
            # No stored version came from a file of this size, so this one repeats none: it is
            # hashed (for the record) on another core while it is read.
            hashing = hasher.submit(file_digest, path, direct=True)
        with store.lake.scratch() as work, store.connect() as con:
            tell("reading", None)
            staged = ingest.read_file(
                con,
                path=path,
                filename=filename,
                workdir=work,
                fields=plans,
                aliases=aliases,
                on_error=on_error,
                sheet=sheet,
                progress=tell,
            )
            if hashing is not None:
                source_hash, source_bytes = hashing.result()
            report = staged.report()
            if staged.version_file is None:
                _finish(store, run_id, "refused", report=report)
                raise VersionRefused(
                    f"{filename}：{staged.rows_bad + staged.rows_structural} 行有错误，"
                    f"按该目录的规则整版拒收 ({staged.rows_bad + staged.rows_structural} rows "
                    "have errors and the entry's policy rejects such versions)",
                    report=report,
                    run_id=run_id,
                )
            tell("storing", None)
            file_hash, file_bytes = store.lake.put(staged.version_file)
            quarantine_hash = None
            if staged.quarantine_file is not None:
                quarantine_hash, _size = store.lake.put(staged.quarantine_file)
            tell("comparing", None)
            changes = _diff(store, con, entry_id, file_hash, [p.name for p in plans], keys)
        version = _commit_version(
            store,
            actor=actor,
            run_id=run_id,
            entry_id=entry_id,
            values={
                "file_hash": file_hash,
                "file_bytes": file_bytes,
                "rows": staged.rows_good,
                "quarantined_rows": staged.rows_bad + staged.rows_structural,
                "quarantine_hash": quarantine_hash,
                "columns": columns,
                "key_fields": keys,
                "source_name": filename[:300],
                "source_hash": source_hash,
                "source_bytes": source_bytes,
                "source_format": staged.source.format,
                "diff": changes,
                "note": note[:1000],
            },
            report=report,
        )
        return IngestOutcome("stored", run_id, version.id, version.number, report)
    except VersionRefused:
        raise
    except BaseException as error:
        message = error.message if isinstance(error, GongshuError) else repr(error)
        _finish(store, run_id, "failed", error=message[:4000])
        raise
    finally:
        hasher.shutdown(wait=True)


def _may_repeat(store: Datastore, entry_id: str, size: int) -> bool:
    """Whether a stored version of the entry came from a file of ``size`` bytes: only then can
    an upload repeat one, and it is hashed and compared before anything is read."""
    with store.uow() as uow:
        found = uow.session.scalar(
            sa.select(DatasetVersion.id)
            .where(DatasetVersion.entry_id == entry_id, DatasetVersion.source_bytes == size)
            .limit(1)
        )
    return found is not None


def _same_source(
    store: Datastore, entry_id: str, source_hash: str, columns: list[dict[str, Any]]
) -> tuple[str, int] | None:
    """(id, number) of a version made from the same bytes with the same fields, if any."""
    with store.uow() as uow:
        for version in uow.session.scalars(
            sa.select(DatasetVersion).where(
                DatasetVersion.entry_id == entry_id, DatasetVersion.source_hash == source_hash
            )
        ):
            if version.columns == columns and store.lake.has(version.file_hash):
                return version.id, version.number
    return None


def _diff(
    store: Datastore,
    con: Any,
    entry_id: str,
    file_hash: str,
    names: Sequence[str],
    keys: Sequence[str],
) -> dict[str, Any] | None:
    with store.uow() as uow:
        previous = latest_version(uow, entry_id)
        if previous is None or not store.lake.has(previous.file_hash):
            return None
        old_names = [c["name"] for c in previous.columns]
        number, old_hash = previous.number, previous.file_hash
    result = diff.diff_versions(
        con,
        old=store.lake.path_of(old_hash),
        new=store.lake.path_of(file_hash),
        old_fields=old_names,
        new_fields=names,
        keys=keys,
    )
    result["previous"] = number
    return result


def _commit_version(
    store: Datastore,
    *,
    actor: Actor,
    run_id: str,
    entry_id: str,
    values: dict[str, Any],
    report: dict[str, Any],
) -> DatasetVersion:
    with store.uow() as uow:
        entry = uow.session.get(Entry, entry_id, with_for_update=True)
        if entry is None or entry.status == EntryStatus.DEPRECATED:
            raise InvalidInput.field("entry_id", "目录已废止或删除 (entry gone or deprecated)")
        number = (
            uow.session.scalar(
                sa.select(sa.func.max(DatasetVersion.number)).where(
                    DatasetVersion.entry_id == entry_id
                )
            )
            or 0
        ) + 1
        now = uow.clock.now()
        version = DatasetVersion(
            id=new_id("ver"),
            entry_id=entry_id,
            number=number,
            created_at=now,
            created_by_id=actor.user_id or None,
            **values,
        )
        uow.session.add(version)
        entry.data_updated_at = now
        run = uow.session.get(IngestRun, run_id)
        assert run is not None
        # Stored and visible now; quality clears "assessing" when its report is saved.
        run.status, run.phase, run.version_id = "stored", "assessing", version.id
        run.report, run.finished_at = report, now
        audit(
            uow,
            actor,
            "dataset.version_stored",
            "dataset_version",
            version.id,
            after={
                "entry_id": entry_id,
                "number": number,
                "file_hash": version.file_hash,
                "rows": version.rows,
                "quarantined_rows": version.quarantined_rows,
                "source_hash": version.source_hash,
                "source_name": version.source_name,
            },
        )
        uow.emit(DatasetVersionStored(version.id, entry_id, actor.user_id or None))
        uow.commit()
        return version


def _phase(store: Datastore, run_id: str, phase: str) -> None:
    with store.uow() as uow:
        uow.session.execute(sa.update(IngestRun).where(IngestRun.id == run_id).values(phase=phase))
        uow.commit()


def _finish(
    store: Datastore,
    run_id: str,
    status: str,
    *,
    version_id: str | None = None,
    report: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    with store.uow() as uow:
        run = uow.session.get(IngestRun, run_id)
        if run is None:
            return
        run.status, run.phase, run.version_id = status, "", version_id
        run.report = report or {}
        run.error = error
        run.finished_at = uow.clock.now()
        uow.commit()
