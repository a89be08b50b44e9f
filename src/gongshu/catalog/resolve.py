"""Catalogue input resolution: turn what a form, the API or a spreadsheet says into checked facts.

An ``EntryInput`` names organisations and related entries by id, code or name; ``resolve``
finds them, checks the provider's right and the grade rules, and returns a ``Resolved`` the
use cases in ``service`` store. Resource codes and counters are assigned here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects import postgresql, sqlite

from gongshu.catalog.models import CatalogSequence, Entry
from gongshu.catalog.schemas import EntryInput
from gongshu.catalog.vocab import EntryKind, FieldFlag, Grade, OpenType, grade_for
from gongshu.identity import Actor, Organisation, OrgKind, Resource, authorize
from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.uow import UnitOfWork

__all__ = [
    "OrgIndex",
    "Resolved",
    "invalid_from_validation",
    "next_value",
    "resolve",
    "resource_code",
]

# Which kinds of organisation may provide which kind of entry.
_KEEPER_KINDS = {
    EntryKind.RESOURCE: frozenset(
        {
            OrgKind.BUREAU,
            OrgKind.DEPARTMENT,
            OrgKind.DISTRICT,
            OrgKind.REGISTRAR,
            OrgKind.AUTHORITY,
            OrgKind.PRICE_REGULATOR,
            OrgKind.AUDIT_OFFICE,
            OrgKind.SECURITY_AGENCY,
            OrgKind.STREET,
        }
    ),
    EntryKind.PRODUCT: frozenset({OrgKind.OPERATOR}),
    EntryKind.SERVICE: frozenset({OrgKind.OPERATOR}),
}


class OrgIndex:
    """Organisations by id, code and name, loaded once for a batch of entries."""

    def __init__(self, organisations: Iterable[Organisation]) -> None:
        self.by_id: dict[str, Organisation] = {}
        self._by_ref: dict[str, Organisation] = {}
        for org in organisations:
            self.by_id[org.id] = org
            for ref in (org.id, org.code, org.name):
                self._by_ref.setdefault(ref, org)

    @classmethod
    def load(cls, uow: UnitOfWork, refs: Iterable[str] = ()) -> OrgIndex:
        """Load the organisations named by ``refs`` (or all but enterprises and the public)."""
        wanted = {ref for ref in refs if ref}
        stmt = sa.select(Organisation)
        if wanted:
            stmt = stmt.where(
                sa.or_(
                    Organisation.id.in_(wanted),
                    Organisation.code.in_(wanted),
                    Organisation.name.in_(wanted),
                )
            )
        else:
            stmt = stmt.where(Organisation.kind.not_in([OrgKind.ENTERPRISE, OrgKind.PUBLIC]))
        return cls(uow.session.scalars(stmt))

    def find(self, ref: str | None) -> Organisation | None:
        """The organisation ``ref`` names, if any."""
        return self._by_ref.get(ref) if ref else None

    def name_of(self, org_id: str | None) -> str | None:
        """An organisation's name by id."""
        return self.by_id[org_id].name if org_id and org_id in self.by_id else None


def invalid_from_validation(error: ValidationError, prefix: str = "body") -> InvalidInput:
    """Turn pydantic's errors into one InvalidInput whose details name each field path."""
    details = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        path = ".".join(str(part) for part in item["loc"])
        if not path and ": " in message:
            path, message = message.split(": ", 1)
        details.append({"path": f"{prefix}.{path}" if path else prefix, "message": message})
    first = details[0]
    return InvalidInput(f"{first['path']}: {first['message']}", details=details)


@dataclass
class Resolved:
    """An input whose organisation and related-entry references are resolved."""

    data: EntryInput
    provider: Organisation
    district: Organisation | None
    related_ids: list[str]
    computed_grade: Grade
    grade: Grade


def resolve(
    uow: UnitOfWork,
    *,
    actor: Actor,
    data: EntryInput,
    orgs: OrgIndex,
    related_lookup: dict[str, str] | None = None,
) -> Resolved:
    """Check an input against the city: provider, district, rights, grade, related entries.

    Errors name the input field (``provider``, ``grade_reason`` …); the importer maps them
    to spreadsheet columns.
    """
    provider = orgs.find(data.provider)
    if provider is None:
        raise InvalidInput.field("provider", f"unknown provider {data.provider!r}")
    if provider.kind not in _KEEPER_KINDS[EntryKind(data.kind)]:
        raise InvalidInput.field(
            "provider",
            f"{provider.name} ({provider.kind}) cannot provide a {data.kind} entry",
        )
    district = None
    if data.district:
        district = orgs.find(data.district)
        if district is None or district.kind != OrgKind.DISTRICT:
            raise InvalidInput.field("district", f"unknown district {data.district!r}")
    elif provider.kind == OrgKind.DISTRICT:
        district = provider
    owners = frozenset({provider.id} | ({district.id} if district else set()))
    authorize(actor, "catalog.edit", Resource("catalog_entry", None, owners))
    computed = grade_for(dict(data.impact))
    grade = Grade(data.grade) if data.grade else computed
    if grade is not computed and not data.grade_reason:
        raise InvalidInput.field(
            "grade_reason",
            f"grade {grade.value} differs from the assessed {computed.value}: give the reason",
        )
    if grade in (Grade.CORE, Grade.IMPORTANT) and data.open_type is not OpenType.NONE:
        raise InvalidInput.field("open_type", f"{grade.value} data is never opened to the public")
    personal = {FieldFlag.IDENTIFIER, FieldFlag.SENSITIVE}
    if data.open_type is OpenType.UNCONDITIONAL and any(
        personal & set(item.flags) for item in data.fields
    ):
        raise InvalidInput.field(
            "open_type", "identifier or sensitive data items cannot be opened unconditionally"
        )
    related_ids = _resolve_related(uow, data.related, provider, related_lookup or {})
    return Resolved(data, provider, district, related_ids, computed, grade)


def _resolve_related(
    uow: UnitOfWork, refs: Sequence[str], provider: Organisation, lookup: dict[str, str]
) -> list[str]:
    ids: list[str] = []
    for ref in refs:
        found = lookup.get(ref)
        if found is None:
            rows = uow.session.execute(
                sa.select(Entry.id, Entry.provider_id).where(
                    sa.or_(Entry.id == ref, Entry.resource_code == ref, Entry.name == ref)
                )
            ).all()
            own = [row.id for row in rows if row.provider_id == provider.id]
            candidates = own or [row.id for row in rows]
            if len(candidates) != 1:
                problem = "matches several entries" if candidates else "is not in the catalogue"
                raise InvalidInput.field("related", f"related entry {ref!r} {problem}")
            found = candidates[0]
        ids.append(found)
    return list(dict.fromkeys(ids))


def next_value(uow: UnitOfWork, key: str) -> int:
    """Take the next value of a named counter, atomically on both databases."""
    dialect = uow.session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = (
        module.insert(CatalogSequence)
        .values(key=key, value=1)
        .on_conflict_do_update(
            index_elements=[CatalogSequence.key], set_={"value": CatalogSequence.value + 1}
        )
        .returning(CatalogSequence.value)
    )
    return int(uow.session.execute(stmt).scalar_one())


def resource_code(
    uow: UnitOfWork, data: EntryInput, provider: Organisation, district: Organisation | None
) -> str:
    """class (1) + item (2: theme) + subitem (3: provider) + detail (2: district) / sequence."""
    cls = "3" if data.kind == EntryKind.RESOURCE else "5"
    provider_key = f"provider:{provider.id}"
    number = uow.session.scalar(
        sa.select(CatalogSequence.value).where(CatalogSequence.key == provider_key)
    )
    if number is None:
        number = next_value(uow, "providers")
        uow.session.add(CatalogSequence(key=provider_key, value=number))
    detail = (district.division_code or "")[-2:] if district else "00"
    prefix = f"{cls}{data.theme}{number:03d}{detail or '99'}"
    return f"{prefix}/{next_value(uow, 'code:' + prefix):06d}"
