"""HTTP routes of quality under ``/api/v1/quality``: reports, rules, trends, league, elements."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body

from gongshu.datastore import service as datastore
from gongshu.datastore.pages import withheld_fields
from gongshu.datastore.routes import Store
from gongshu.identity.deps import CurrentActor, UoW
from gongshu.kernel.errors import NotFound
from gongshu.kernel.text import mask_value
from gongshu.quality import elements, league, service

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/quality", tags=["quality"])


def _masked_results(report: Any, private: frozenset[str]) -> list[dict[str, Any]]:
    """Rule results with the sample values of identifier and sensitive fields masked."""
    out = []
    for result in report.results:
        samples = []
        for sample in result.get("samples", []):
            value = sample.get("value")
            if isinstance(value, dict):
                value = {k: mask_value(v) if k in private else v for k, v in value.items()}
            elif sample.get("field") in private and value is not None:
                value = mask_value(value)
            samples.append(sample | {"value": value})
        out.append(result | {"samples": samples})
    return out


def report_json(report: Any, columns: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A quality report as the API shows it (values of private fields masked)."""
    private = withheld_fields(columns or [])
    return {
        "version_id": report.version_id,
        "entry_id": report.entry_id,
        "rows": report.rows,
        "overall": report.overall,
        "scores": report.scores,
        "results": _masked_results(report, private),
        "profile": report.profile,
        "source_findings": report.source_findings,
        "assessed_at": report.assessed_at.isoformat(),
        "seconds": report.seconds,
    }


@router.get("/versions/{version_id}")
def get_report(version_id: str, actor: CurrentActor, uow: UoW) -> dict[str, Any]:
    """A version's profile, rule results and scores."""
    report = service.report_for(uow, actor=actor, version_id=version_id)
    if report is None:
        raise NotFound(f"version {version_id!r} has not been assessed yet")
    version = datastore.get_version(uow, actor=actor, version_id=version_id)
    return {"data": report_json(report, version.columns)}


@router.post("/versions/{version_id}/assess")
def assess(version_id: str, actor: CurrentActor, uow: UoW, store: Store) -> dict[str, Any]:
    """Assess the version again (after its entry's rules or the data elements changed)."""
    version = datastore.get_version(uow, actor=actor, version_id=version_id)
    datastore.entry_for(uow, actor=actor, entry_id=version.entry_id, action="dataset.settings")
    columns = list(version.columns)
    uow.rollback()
    report = service.assess_version(store, version_id=version_id)
    return {"data": report_json(report, columns)}


@router.get("/entries/{entry_id}/rules")
def get_rules(entry_id: str, actor: CurrentActor, uow: UoW) -> dict[str, Any]:
    """The entry's own rules (the defaults are added to them at each assessment)."""
    datastore.entry_for(uow, actor=actor, entry_id=entry_id, action="dataset.read")
    return {"data": list(datastore.settings_for(uow, entry_id).rules)}


@router.put("/entries/{entry_id}/rules")
def put_rules(
    entry_id: str,
    actor: CurrentActor,
    uow: UoW,
    rules: Annotated[list[dict[str, Any]], Body(max_length=200)],
) -> dict[str, Any]:
    """Replace the entry's own rules; every rule is checked before any is saved."""
    saved = service.update_rules(uow, actor=actor, entry_id=entry_id, rules=rules)
    uow.commit()
    return {"data": saved}


@router.get("/entries/{entry_id}/trend")
def get_trend(entry_id: str, actor: CurrentActor, uow: UoW) -> dict[str, Any]:
    """Scores of the entry's latest versions, oldest first."""
    return {"data": service.trend(uow, actor=actor, entry_id=entry_id)}


@router.get("/league")
def get_league(
    actor: CurrentActor, uow: UoW, by: Literal["provider", "district"] = "provider"
) -> dict[str, Any]:
    """Quality per department or district (the bureau and auditors)."""
    return {"data": [asdict(row) for row in league.league(uow, actor=actor, by=by)]}


@router.get("/elements")
def list_elements(actor: CurrentActor, uow: UoW) -> dict[str, Any]:
    """The data element registry."""
    return {
        "data": [
            {c.key: getattr(e, c.key) for c in e.__table__.columns}
            | {"updated_at": e.updated_at.isoformat()}
            for e in elements.list_elements(uow, actor=actor)
        ]
    }


@router.put("/elements/{code}")
def put_element(
    code: str, data: elements.ElementInput, actor: CurrentActor, uow: UoW
) -> dict[str, Any]:
    """Register or change a data element and its authoritative source (bureau)."""
    if data.code != code:
        data = data.model_copy(update={"code": code})
    element = elements.save_element(uow, actor=actor, data=data)
    uow.commit()
    return {"data": {"code": element.code, "source_id": element.source_id}}


@router.get("/elements/claims")
def foreign_claims(actor: CurrentActor, uow: UoW) -> dict[str, Any]:
    """Fields that claim an element from a department that is not its source."""
    return {"data": elements.foreign_claims(uow, actor=actor)}
