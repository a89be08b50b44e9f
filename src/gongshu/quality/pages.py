"""Quality pages: league tables, the data element registry, an entry's rules — and the dataset
pages, which this router carries with quality's panel on them.

Datastore sits below quality, so its pages (:mod:`gongshu.datastore.pages`) cannot ask for
scores themselves; this router includes theirs with a dependency that puts :data:`PANEL` on
``request.state``. The web adapter therefore mounts only this router for both.

Pages work without JavaScript: plain forms with a CSRF token, a redirect after each POST. Each
page links its JSON twin under ``/api/v1/quality``. The services check every right; ``can``
here only decides which forms to show.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from gongshu.catalog import service as catalog
from gongshu.catalog.models import Entry
from gongshu.catalog.resolve import invalid_from_validation
from gongshu.catalog.vocab import FieldType
from gongshu.datastore import pages as dataset_pages
from gongshu.datastore import service as datastore
from gongshu.datastore.models import DatasetVersion
from gongshu.datastore.pages import mask_value, withheld_fields
from gongshu.identity import Actor, Organisation, can
from gongshu.identity.deps import CurrentActor, UoW, verify_csrf
from gongshu.identity.pages import render, see_other
from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.uow import UnitOfWork
from gongshu.quality import Dimension, FieldSpec, default_rules, elements, league, service
from gongshu.quality.models import DataElement, QualityReport

__all__ = ["PANEL", "DatasetQuality", "router", "trend_points"]

router = APIRouter(include_in_schema=False)

MAX_RULES = 200
_RULE_NUMBER = re.compile(r"^rule (\d+)")
# The trend chart's drawing area (SVG user units): width, height and the left/bottom margins.
_TREND = {"width": 640, "height": 170, "left": 36, "bottom": 24, "top": 10, "right": 16}


def trend_points(scores: Sequence[tuple[int, float | None]]) -> list[dict[str, Any]]:
    """Where each version's overall score sits on the trend chart (None scores: no point)."""
    box = _TREND
    inner_w = box["width"] - box["left"] - box["right"]
    inner_h = box["height"] - box["top"] - box["bottom"]
    step = inner_w / (len(scores) - 1) if len(scores) > 1 else 0
    points = []
    for index, (number, value) in enumerate(scores):
        x = box["left"] + (step * index if len(scores) > 1 else inner_w / 2)
        y = None if value is None else round(box["top"] + inner_h * (1 - float(value) / 100), 1)
        points.append({"number": number, "score": value, "x": round(x, 1), "y": y})
    return points


def _specs(entry: Entry) -> list[FieldSpec]:
    return [
        FieldSpec(name=f.name, type=f.type, flags=frozenset(f.flags), element_code=f.element_code)
        for f in entry.fields
    ]


def _masked(value: Any, field: str, private: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: mask_value(v) if k in private else v for k, v in value.items()}
    return mask_value(value) if field in private and value is not None else value


def _masked_result(result: dict[str, Any], private: frozenset[str]) -> dict[str, Any]:
    """A rule result whose failing samples show private fields' values masked."""
    samples = [
        sample | {"value": _masked(sample.get("value"), str(sample.get("field", "")), private)}
        for sample in result.get("samples") or []
    ]
    return result | {"samples": samples}


def _masked_check(check: dict[str, Any], private: frozenset[str]) -> dict[str, Any]:
    """A one-source finding whose examples show a private field's values masked."""
    field = str(check.get("field", ""))
    examples = [
        example
        | {
            "value": _masked(example.get("value"), field, private),
            "source_value": _masked(example.get("source_value"), field, private),
        }
        for example in check.get("examples") or []
    ]
    return check | {"examples": examples}


class DatasetQuality:
    """The quality panel of the dataset pages: scores, trend, and a version's full report."""

    def for_entry(
        self, uow: UnitOfWork, *, actor: Actor, entry: Entry, version_ids: Sequence[str]
    ) -> dict[str, Any]:
        """Each listed version's overall score and the entry's trend chart."""
        scores: dict[str, float | None] = {}
        if version_ids:
            rows = uow.session.execute(
                sa.select(QualityReport.version_id, QualityReport.overall).where(
                    QualityReport.version_id.in_(version_ids)
                )
            )
            scores = {version_id: overall for version_id, overall in rows}
        trend = service.trend(uow, actor=actor, entry_id=entry.id)
        points = trend_points([(p["number"], (p["scores"] or {}).get("overall")) for p in trend])
        return {"scores": scores, "trend": points, "box": _TREND}

    def for_version(
        self, uow: UnitOfWork, *, actor: Actor, entry: Entry, version: DatasetVersion
    ) -> dict[str, Any] | None:
        """Scores, rule results (private values masked), profile and one-source findings."""
        report = service.report_for(uow, actor=actor, version_id=version.id)
        if report is None:
            return None
        private = withheld_fields(version.columns)
        results = [_masked_result(result, private) for result in report.results or []]
        checks = [
            _masked_check(check, private)
            for check in (report.source_findings or {}).get("checks", [])
        ]
        details = {d["dimension"]: d for d in (report.scores or {}).get("details", [])}
        dimensions = [(str(d), details.get(str(d), {})) for d in Dimension]
        return {
            "report": report,
            "dimensions": dimensions,
            "bars": [(name, None, detail.get("score"), None) for name, detail in dimensions],
            "results": results,
            "columns": (report.profile or {}).get("columns", []),
            "sampled": (report.profile or {}).get("sampled", False),
            "checks": checks,
        }


PANEL = DatasetQuality()


def _install_panel(request: Request) -> None:
    request.state.quality_panel = PANEL


router.include_router(dataset_pages.router, dependencies=[Depends(_install_panel)])


@router.get("/console/quality/league", response_class=HTMLResponse)
def league_page(request: Request, actor: CurrentActor, uow: UoW) -> Response:
    """Quality per department and per district: bar charts and per-dimension columns."""
    tables = {
        "provider": league.league(uow, actor=actor, by="provider"),
        "district": league.league(uow, actor=actor, by="district"),
    }
    bars = {
        by: [(r.organisation_id, r.name, r.overall, f"#org-{by}-{r.organisation_id}") for r in rows]
        for by, rows in tables.items()
    }
    return render(
        request,
        "quality_league.html",
        actor=actor,
        tables=tables,
        bars=bars,
        dimensions=list(league.DIMENSIONS),
    )


# --- data elements ---------------------------------------------------------------------------


def _element_form(uow: UnitOfWork, code: str | None) -> dict[str, Any]:
    element = uow.session.get(DataElement, code) if code else None
    if element is None:
        return {"type": "string"}
    source = uow.session.get(Organisation, element.source_id)
    return {
        "code": element.code,
        "name": element.name,
        "type": element.type,
        "pattern": element.pattern or "",
        "code_list": "\n".join(element.code_list or []),
        "description": element.description,
        "source": source.code if source and source.code else element.source_id,
        "source_entry_id": element.source_entry_id or "",
        "source_key": element.source_key or "",
    }


def _render_elements(
    request: Request,
    actor: Actor,
    uow: UnitOfWork,
    *,
    form: dict[str, Any],
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    registry = elements.list_elements(uow, actor=actor)
    claims = elements.foreign_claims(uow, actor=actor)
    org_ids = (
        {e.source_id for e in registry}
        | {c["provider_id"] for c in claims}
        | {c["source_id"] for c in claims}
    )
    orgs = uow.session.execute(
        sa.select(Organisation.id, Organisation.name).where(Organisation.id.in_(org_ids))
    )
    return render(
        request,
        "quality_elements.html",
        status=status,
        actor=actor,
        registry=registry,
        claims=claims,
        org_names={org_id: name for org_id, name in orgs},
        may_edit=can(actor, "element.edit"),
        types=[str(t) for t in FieldType],
        form=form,
        error=error,
    )


@router.get("/console/quality/elements", response_class=HTMLResponse)
def elements_page(
    request: Request, actor: CurrentActor, uow: UoW, edit: str | None = None
) -> Response:
    """The data element registry, the bureau's form, and entries claiming others' elements."""
    return _render_elements(request, actor, uow, form=_element_form(uow, edit))


Short = Annotated[str, Form(max_length=500)]


@router.post("/console/quality/elements", response_class=HTMLResponse)
def save_element(
    request: Request,
    actor: CurrentActor,
    uow: UoW,
    csrf_token: Short = "",
    code: Short = "",
    name: Short = "",
    type_: Annotated[str, Form(alias="type", max_length=20)] = "string",
    pattern: Short = "",
    code_list: Annotated[str, Form(max_length=200_000)] = "",
    description: Annotated[str, Form(max_length=1000)] = "",
    source: Short = "",
    source_entry_id: Short = "",
    source_key: Short = "",
) -> Response:
    """Register or change a data element (bureau); errors come back on the same page."""
    verify_csrf(request, csrf_token)
    form = {
        "code": code, "name": name, "type": type_, "pattern": pattern, "code_list": code_list,
        "description": description, "source": source, "source_entry_id": source_entry_id,
        "source_key": source_key,
    }  # fmt: skip
    codes = [c.strip() for c in re.split(r"[\n,，、]", code_list) if c.strip()]
    try:
        data = elements.ElementInput.model_validate(
            {
                "code": code.strip(), "name": name.strip(), "type": type_,
                "pattern": pattern.strip() or None, "code_list": codes,
                "description": description.strip(), "source": source.strip(),
                "source_entry_id": source_entry_id.strip() or None,
                "source_key": source_key.strip() or None,
            }
        )  # fmt: skip
        elements.save_element(uow, actor=actor, data=data)
    except ValidationError as exc:
        message = invalid_from_validation(exc, "element").message
    except InvalidInput as exc:
        message = exc.message
    else:
        uow.commit()
        return see_other(f"/console/quality/elements?saved={data.code}#element-{data.code}")
    uow.rollback()
    return _render_elements(request, actor, uow, form=form, error=message, status=422)


# --- an entry's rules ------------------------------------------------------------------------


def _render_rules(
    request: Request,
    actor: Actor,
    uow: UnitOfWork,
    entry_id: str,
    *,
    text: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    entry = datastore.entry_for(uow, actor=actor, entry_id=entry_id, action="dataset.read")
    specs = _specs(entry)
    found = elements.specs_for(uow, [s.element_code for s in specs])
    rules = datastore.settings_for(uow, entry_id).rules or []
    return render(
        request,
        "quality_rules.html",
        status=status,
        actor=actor,
        entry=entry,
        text=text if text is not None else json.dumps(rules, ensure_ascii=False, indent=2),
        defaults=[rule.to_json() for rule in default_rules(specs, elements=found)],
        may_edit=can(actor, "dataset.settings", catalog.resource(entry)),
        error=error,
    )


@router.get("/console/quality/{entry_id}/rules", response_class=HTMLResponse)
def rules_page(request: Request, entry_id: str, actor: CurrentActor, uow: UoW) -> Response:
    """The entry's own rules as JSON (keepers edit them) and the default rules it inherits."""
    return _render_rules(request, actor, uow, entry_id)


def parse_rules_text(text: str) -> list[dict[str, Any]]:
    """The rules textarea as a list of rule objects; errors say the line and column or rule."""
    try:
        rules = json.loads(text) if text.strip() else []
    except json.JSONDecodeError as exc:
        raise InvalidInput.field(
            "rules",
            f"第 {exc.lineno} 行第 {exc.colno} 列不是合法的 JSON：{exc.msg} "
            f"(invalid JSON at line {exc.lineno}, column {exc.colno})",
        ) from exc
    if not isinstance(rules, list):
        raise InvalidInput.field("rules", "规则须为 JSON 数组 [ … ] (the rules must be a list)")
    if len(rules) > MAX_RULES:
        raise InvalidInput.field("rules", f"最多 {MAX_RULES} 条规则 (at most {MAX_RULES} rules)")
    return rules


@router.post("/console/quality/{entry_id}/rules", response_class=HTMLResponse)
def save_rules(
    request: Request,
    entry_id: str,
    actor: CurrentActor,
    uow: UoW,
    csrf_token: Short = "",
    rules: Annotated[str, Form(max_length=500_000)] = "",
) -> Response:
    """Replace the entry's own rules; a wrong rule is named (number and field) on the page."""
    verify_csrf(request, csrf_token)
    try:
        service.update_rules(uow, actor=actor, entry_id=entry_id, rules=parse_rules_text(rules))
    except InvalidInput as exc:
        uow.rollback()
        first = exc.details[0] if isinstance(exc.details, list) and exc.details else {}
        number = _RULE_NUMBER.match(str(first.get("path", "")))
        lead = f"第 {number[1]} 条规则有误：" if number else ""
        return _render_rules(
            request, actor, uow, entry_id, text=rules, error=lead + exc.message, status=422
        )
    uow.commit()
    return see_other(f"/console/quality/{entry_id}/rules?saved=1")
