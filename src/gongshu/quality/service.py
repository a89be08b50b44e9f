"""Quality use cases: assess a version, keep an entry's rules, read reports and trends.

:func:`assess_version` runs after a version is stored (it listens for
:class:`~gongshu.datastore.service.DatasetVersionStored`): it profiles the version's Parquet file,
evaluates the default rules (completeness, identifier check characters, data-element formats)
plus the entry's own, scores them, checks the one-source rule against the data elements, and
saves one :class:`QualityReport`. The file work happens outside any transaction.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from gongshu.catalog.models import Entry
from gongshu.datastore import service as datastore
from gongshu.datastore.errors import VersionNotFound
from gongshu.datastore.models import DatasetSettings, DatasetVersion, IngestRun
from gongshu.datastore.service import DatasetVersionStored, Datastore
from gongshu.identity import Actor, audit
from gongshu.kernel.clock import local_date
from gongshu.kernel.events import Event
from gongshu.kernel.uow import UnitOfWork
from gongshu.quality import elements as element_registry
from gongshu.quality.column_scan import ColumnCount
from gongshu.quality.models import QualityReport
from gongshu.quality.profile import DISTINCT_SAMPLE, FieldSpec, profile_parquet
from gongshu.quality.rules import default_rules, evaluate, parse_rule, scanned_columns
from gongshu.quality.scores import score

__all__ = [
    "assess_version",
    "latest_reports",
    "on_version_stored",
    "report_for",
    "trend",
    "update_rules",
]


def _specs(version: DatasetVersion, entry: Entry) -> list[FieldSpec]:
    codes = {f.name: f.element_code for f in entry.fields}
    return [
        FieldSpec(
            name=column["name"],
            type=column["type"],
            flags=frozenset(column.get("flags", [])),
            element_code=codes.get(column["name"]),
        )
        for column in version.columns
    ]


def assess_version(store: Datastore, *, version_id: str) -> QualityReport:
    """Profile, check and score one stored version; replaces an earlier report of it."""
    started = time.perf_counter()
    with store.uow() as uow:
        version = uow.session.get(DatasetVersion, version_id)
        if version is None:
            raise VersionNotFound(f"no dataset version {version_id!r}")
        entry = uow.session.get(Entry, version.entry_id, options=[selectinload(Entry.fields)])
        assert entry is not None
        specs = _specs(version, entry)
        elements = element_registry.specs_for(
            uow, [s.element_code for s in specs if s.element_code]
        )
        saved = uow.session.get(DatasetSettings, entry.id)
        declared = list(saved.rules) if saved else []
        rules = default_rules(specs, elements=elements) + [
            parse_rule(rule, specs, where=f"rule {index + 1}")
            for index, rule in enumerate(declared)
        ]
        references = element_registry.reference_files(uow, store, rules)
        run = uow.session.scalar(sa.select(IngestRun).where(IngestRun.version_id == version_id))
        type_errors = dict((run.report or {}).get("error_totals", {})) if run else {}
        path = store.path_of(version)
        version_day = local_date(version.created_at)
        today = local_date(uow.clock.now())
        frequency = entry.update_frequency
        owner = (entry.provider_id, entry.district_id)
        entry_id, rows = version.entry_id, version.rows
        sources = element_registry.source_checks(uow, store, entry=entry, version=version)
    # The profile runs beside the rules on a second cursor: each leaves the cores idle at
    # times (single-threaded ends of statements, the numpy key sort), which the other fills.
    # The columns the rules' numpy scan reads it counts for the profile too, read once.
    counts: Future[Mapping[str, ColumnCount]] = Future()
    with (
        store.connect() as con,
        con.cursor() as other,
        ThreadPoolExecutor(1, thread_name_prefix="gongshu-profile") as pool,
    ):
        counted = scanned_columns(con, str(path), rules)
        profiling = pool.submit(
            profile_parquet, other, str(path), specs, counted=counted, counts=counts.result
        )
        try:
            results = evaluate(
                con,
                str(path),
                rules,
                references=references,
                type_errors=type_errors,
                version_date=version_day,
                update_frequency=frequency,
                today=today,
                blank_is_null=True,  # the ingest trims text and stores blank text as NULL
                distinct_share=DISTINCT_SAMPLE,
                on_counts=counts.set_result,
            )
        finally:
            if not counts.done():  # the rules failed first: the profile counts them itself
                counts.set_result({})
        findings = element_registry.run_source_checks(con, str(path), sources)
        profile = profiling.result()
    scores = score(results)
    payload = scores.to_json()
    with store.uow() as uow:
        report = uow.session.get(QualityReport, version_id) or QualityReport(version_id=version_id)
        report.entry_id = entry_id
        report.provider_id, report.district_id = owner
        report.rows = rows
        report.profile = profile.to_json()
        report.results = [_result_json(r) for r in results]
        report.scores = payload
        report.overall = payload.get("overall")
        report.source_findings = findings
        report.assessed_at = uow.clock.now()
        report.seconds = round(time.perf_counter() - started, 3)
        uow.session.merge(report)
        uow.session.execute(
            sa.update(IngestRun)
            .where(IngestRun.version_id == version_id, IngestRun.phase == "assessing")
            .values(phase="")
        )
        uow.commit()
        return report


def _result_json(result: Any) -> dict[str, Any]:
    rule = result.rule
    return {
        "id": rule.id,
        "kind": str(rule.kind),
        "fields": list(rule.fields),
        "params": dict(rule.params),
        "severity": rule.severity,
        "checked": result.checked,
        "failed": result.failed,
        "samples": result.samples,
    }


def on_version_stored(store: Datastore) -> Any:
    """The event handler that assesses each new version right after it is stored."""

    def handle(event: Event) -> None:
        if isinstance(event, DatasetVersionStored):
            assess_version(store, version_id=event.version_id)

    return handle


def update_rules(
    uow: UnitOfWork, *, actor: Actor, entry_id: str, rules: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Replace the entry's own rules (each checked against its fields before anything is saved)."""
    entry = datastore.entry_for(uow, actor=actor, entry_id=entry_id, action="dataset.settings")
    specs = [
        FieldSpec(name=f.name, type=f.type, flags=frozenset(f.flags), element_code=f.element_code)
        for f in entry.fields
    ]
    for index, rule in enumerate(rules):
        parse_rule(rule, specs, where=f"rule {index + 1}")
    saved = uow.session.get(DatasetSettings, entry_id)
    before = list(saved.rules) if saved else []
    if saved is None:
        saved = DatasetSettings(entry_id=entry_id, on_error="quarantine", key_fields=[], aliases={})
        uow.session.add(saved)
    saved.rules = [dict(rule) for rule in rules]
    saved.updated_at = uow.clock.now()
    saved.updated_by_id = actor.user_id or None
    audit(
        uow, actor, "dataset.rules_changed", "catalog_entry", entry_id,
        before={"rules": before}, after={"rules": saved.rules},
    )  # fmt: skip
    return saved.rules


def report_for(uow: UnitOfWork, *, actor: Actor, version_id: str) -> QualityReport | None:
    """The quality report of a version the actor may see (None until it is assessed)."""
    datastore.get_version(uow, actor=actor, version_id=version_id)
    return uow.session.get(QualityReport, version_id)


def trend(uow: UnitOfWork, *, actor: Actor, entry_id: str, limit: int = 30) -> list[dict[str, Any]]:
    """Scores of the entry's latest versions, oldest first (for the trend chart)."""
    datastore.entry_for(uow, actor=actor, entry_id=entry_id, action="dataset.read")
    rows = uow.session.execute(
        sa.select(DatasetVersion.number, DatasetVersion.created_at, QualityReport.scores)
        .join(QualityReport, QualityReport.version_id == DatasetVersion.id)
        .where(DatasetVersion.entry_id == entry_id)
        .order_by(DatasetVersion.number.desc())
        .limit(limit)
    ).all()
    return [
        {"number": n, "created_at": at.isoformat(), "scores": scores}
        for n, at, scores in reversed(rows)
    ]


def latest_reports(uow: UnitOfWork) -> sa.Subquery:
    """Each entry's newest assessed version's report (for league tables)."""
    newest = (
        sa.select(
            QualityReport.entry_id,
            sa.func.max(QualityReport.assessed_at).label("at"),
        )
        .group_by(QualityReport.entry_id)
        .subquery("newest")
    )
    return (
        sa.select(QualityReport)
        .join(
            newest,
            sa.and_(
                newest.c.entry_id == QualityReport.entry_id,
                newest.c.at == QualityReport.assessed_at,
            ),
        )
        .subquery("latest")
    )
