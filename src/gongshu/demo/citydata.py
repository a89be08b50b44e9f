"""The demo city: districts, streets, public bodies, operators, enterprises and people.

Geography, public bodies and operators are fixed (read from ``gongshu/demo/data``); the
enterprises and citizens are generated from a seed, so ``build_city(seed)`` is deterministic.
Everything is plain frozen data: turning it into database rows is someone else's job.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from importlib import resources

from gongshu.kernel.identifiers import USCC_ALPHABET, Sex, make_citizen_id, make_uscc

__all__ = [
    "DEMO_PASSWORD",
    "DEPARTMENT_KINDS",
    "DEVELOPMENT_AREA_DIVISION_CODE",
    "ROLES",
    "Citizen",
    "City",
    "Community",
    "Department",
    "District",
    "Enterprise",
    "Operator",
    "Persona",
    "Street",
    "build_city",
]

DEMO_PASSWORD = "gongshu-demo"
"""Password of every demo persona (printed on start-up; never use outside the demo)."""

DEVELOPMENT_AREA_DIVISION_CODE = "110115"
"""Division code used for the development area, which has no code of its own (Daxing's)."""

ROLES: tuple[str, ...] = (
    "bureau_admin", "dept_officer", "district_officer", "registrar", "authority", "operator",
    "price_regulator", "auditor", "security_officer", "public",
)  # fmt: skip
"""Demo role codes; each has exactly one persona whose username is the role code."""

DEPARTMENT_KINDS: frozenset[str] = frozenset(
    {"bureau", "department", "price_regulator", "audit_office", "security_agency", "registrar",
     "authority"}
)  # fmt: skip

_DATA_PACKAGE = "gongshu.demo"
_MUNICIPAL_DIVISION_CODE = "110000"
_CITIZEN_COUNT = 1000
_ENTERPRISE_COUNT = 200
_BIRTH_RANGE = (date(1940, 1, 1), date(2008, 12, 31))
_REGISTRATION_RANGE = (date(1995, 1, 1), date(2024, 12, 31))
_USCC_INTRODUCED = date(2015, 10, 1)
_CAPITALS_WAN_YUAN = (10, 30, 50, 100, 200, 300, 500, 1000, 2000, 5000)
# Enterprises cluster where the business is; unlisted districts weigh 1.
_ENTERPRISE_DISTRICT_WEIGHTS = {"海淀区": 5, "朝阳区": 5, "北京经济技术开发区": 3, "西城区": 3,
                                "东城区": 2, "丰台区": 2, "通州区": 2}  # fmt: skip


# --- data types ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class District:
    """A district (区); the development area has no division code."""

    code: str | None
    name: str
    name_en: str

    @property
    def division_code(self) -> str:
        """Return the 6-digit code used in identifiers (Daxing's for the development area)."""
        return self.code if self.code is not None else DEVELOPMENT_AREA_DIVISION_CODE


@dataclass(frozen=True, slots=True)
class Street:
    """A township-level unit (街道/镇) with a 9-digit code; districts are keyed by name."""

    code: str
    name: str
    district_code: str | None
    district_name: str


@dataclass(frozen=True, slots=True)
class Community:
    """A village-level unit (社区/村) with a 12-digit code."""

    code: str
    name: str
    street_code: str


@dataclass(frozen=True, slots=True)
class Department:
    """A municipal public body; ``kind`` is one of DEPARTMENT_KINDS, ``code`` its USCC."""

    code: str
    name: str
    short_name: str
    name_en: str
    kind: str
    duties: str


@dataclass(frozen=True, slots=True)
class Operator:
    """A licensed (fictional) operator of one public-data zone (专区)."""

    code: str
    name: str
    short_name: str
    name_en: str
    kind: str
    zone: str
    zone_code: str
    district_code: str


@dataclass(frozen=True, slots=True)
class Enterprise:
    """A fictional enterprise; the district code is None in the development area."""

    uscc: str
    name: str
    district_code: str | None
    district_name: str
    industry: str
    industry_code: str
    registered_on: date
    registered_capital_fen: int


@dataclass(frozen=True, slots=True)
class Citizen:
    """A fictional resident; the district code is None in the development area."""

    citizen_id: str
    name: str
    sex: Sex
    birth_date: date
    district_code: str | None
    district_name: str
    street_code: str
    community_code: str


@dataclass(frozen=True, slots=True)
class Persona:
    """A demo login; ``organisation_code`` is a USCC, a district code, or None for the public."""

    username: str
    display_name: str
    role: str
    organisation_code: str | None
    organisation_name: str
    password: str
    citizen_id: str | None = None


@dataclass(frozen=True, slots=True)
class City:
    """Everything the demo city contains."""

    districts: tuple[District, ...]
    streets: tuple[Street, ...]
    communities: tuple[Community, ...]
    departments: tuple[Department, ...]
    operators: tuple[Operator, ...]
    enterprises: tuple[Enterprise, ...]
    citizens: tuple[Citizen, ...]
    personas: tuple[Persona, ...]

    @property
    def bureau(self) -> Department:
        """Return the city data bureau."""
        return self.department_of_kind("bureau")

    def department_of_kind(self, kind: str) -> Department:
        """Return the first public body of the given kind."""
        for department in self.departments:
            if department.kind == kind:
                return department
        raise LookupError(f"no department of kind {kind!r}")

    def department_named(self, name: str) -> Department:
        """Return the public body with the given full Chinese name."""
        for department in self.departments:
            if department.name == name:
                return department
        raise LookupError(f"no department named {name!r}")


# --- fixed data (lazy, cached) ---------------------------------------------------------------


def _read_text(name: str) -> str:
    return resources.files(_DATA_PACKAGE).joinpath("data", name).read_text(encoding="utf-8")


def _read_csv(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(_read_text(name))))


@cache
def _lines(name: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in _read_text(name).splitlines() if line.strip())


@cache
def _districts() -> tuple[District, ...]:
    return tuple(
        District(code=row["code"] or None, name=row["name"], name_en=row["name_en"])
        for row in _read_csv("beijing-districts.csv")
    )


@cache
def _streets() -> tuple[Street, ...]:
    by_name = {district.name: district for district in _districts()}
    return tuple(
        Street(
            code=row["code"],
            name=row["name"],
            district_code=by_name[row["district_name"]].code,
            district_name=row["district_name"],
        )
        for row in _read_csv("streets.csv")
    )


@cache
def _communities() -> tuple[Community, ...]:
    return tuple(
        Community(code=row["code"], name=row["name"], street_code=row["street_code"])
        for row in _read_csv("communities.csv")
    )


@cache
def _departments() -> tuple[Department, ...]:
    departments: list[Department] = []
    for index, row in enumerate(_read_csv("departments.csv")):
        body = f"0000{1101 + 7 * index:04d}"
        departments.append(
            Department(
                code=make_uscc(row["authority_and_type"], _MUNICIPAL_DIVISION_CODE, body),
                name=row["name"],
                short_name=row["short_name"],
                name_en=row["name_en"],
                kind=row["kind"],
                duties=row["duties"],
            )
        )
    return tuple(departments)


@cache
def _operators() -> tuple[Operator, ...]:
    return tuple(
        Operator(
            code=make_uscc("91", row["division_code"], row["org_body"]),
            name=row["name"],
            short_name=row["short_name"],
            name_en=row["name_en"],
            kind="operator",
            zone=row["zone"],
            zone_code=row["zone_code"],
            district_code=row["division_code"],
        )
        for row in _read_csv("operators.csv")
    )


@cache
def _industries() -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    return tuple(
        (row["code"], row["name"], tuple(row["suffixes"].split("|")))
        for row in _read_csv("industries.csv")
    )


@cache
def _surnames() -> tuple[tuple[str, ...], tuple[float, ...]]:
    names = _lines("surnames.txt")  # in rough order of frequency
    return names, tuple(1.0 / (rank + 4) for rank in range(len(names)))


# --- generated data --------------------------------------------------------------------------


def _random_date(rng: random.Random, bounds: tuple[date, date]) -> date:
    start, end = bounds
    return start + timedelta(days=rng.randrange((end - start).days + 1))


def _person_name(rng: random.Random, sex: Sex) -> str:
    names, weights = _surnames()
    surname = rng.choices(names, weights=weights)[0]
    pool = _lines("given-name-male.txt" if sex is Sex.MALE else "given-name-female.txt")
    length = 1 if rng.random() < 0.3 else 2
    return surname + "".join(rng.sample(pool, length))


def _generate_citizens(rng: random.Random) -> tuple[Citizen, ...]:
    districts = {district.name: district for district in _districts()}
    streets = {street.code: street for street in _streets()}
    communities = _communities()
    seen: set[str] = set()
    citizens: list[Citizen] = []
    while len(citizens) < _CITIZEN_COUNT:
        community = rng.choice(communities)
        street = streets[community.street_code]
        district = districts[street.district_name]
        sex = Sex.MALE if rng.random() < 0.5 else Sex.FEMALE
        birth = _random_date(rng, _BIRTH_RANGE)
        sequence = rng.randrange(500) * 2 + (1 if sex is Sex.MALE else 0)
        citizen_id = make_citizen_id(district.division_code, birth, sequence)
        if citizen_id in seen:
            continue
        seen.add(citizen_id)
        citizens.append(
            Citizen(
                citizen_id=citizen_id,
                name=_person_name(rng, sex),
                sex=sex,
                birth_date=birth,
                district_code=district.code,
                district_name=district.name,
                street_code=street.code,
                community_code=community.code,
            )
        )
    return tuple(citizens)


def _organisation_body(rng: random.Random, registered_on: date) -> str:
    if registered_on >= _USCC_INTRODUCED:
        return "MA01" + "".join(rng.choices(USCC_ALPHABET, k=4))
    return rng.choice("15678") + "".join(rng.choices("0123456789", k=7))


def _generate_enterprises(rng: random.Random) -> tuple[Enterprise, ...]:
    districts = _districts()
    weights = [_ENTERPRISE_DISTRICT_WEIGHTS.get(district.name, 1) for district in districts]
    trade_names = _lines("trade-names.txt")
    industries = _industries()
    used_bodies = {operator.code[8:16] for operator in _operators()}
    used_names = {operator.name for operator in _operators()}
    enterprises: list[Enterprise] = []
    while len(enterprises) < _ENTERPRISE_COUNT:
        district = rng.choices(districts, weights=weights)[0]
        industry_code, industry, suffixes = rng.choice(industries)
        name = f"北京{rng.choice(trade_names)}{rng.choice(suffixes)}有限公司"
        registered_on = _random_date(rng, _REGISTRATION_RANGE)
        body = _organisation_body(rng, registered_on)
        if name in used_names or body in used_bodies:
            continue
        used_names.add(name)
        used_bodies.add(body)
        enterprises.append(
            Enterprise(
                uscc=make_uscc("91", district.division_code, body),
                name=name,
                district_code=district.code,
                district_name=district.name,
                industry=industry,
                industry_code=industry_code,
                registered_on=registered_on,
                registered_capital_fen=rng.choice(_CAPITALS_WAN_YUAN) * 10_000 * 100,
            )
        )
    return tuple(enterprises)


# --- personas --------------------------------------------------------------------------------


def _personas(
    districts: Sequence[District],
    departments: Sequence[Department],
    operators: Sequence[Operator],
    citizens: Sequence[Citizen],
) -> tuple[Persona, ...]:
    # personas.csv names each persona's organisation by department kind, department or
    # district name, "operator" (the first operator) or "citizen" (the first citizen).
    organisations: dict[str, tuple[str | None, str]] = {}
    for department in departments:
        organisations.setdefault(department.kind, (department.code, department.name))
        organisations[department.name] = (department.code, department.name)
    for district in districts:
        organisations[district.name] = (district.code, district.name)
    organisations["operator"] = (operators[0].code, operators[0].name)
    public = citizens[0]
    personas: list[Persona] = []
    for row in _read_csv("personas.csv"):
        role = row["role"]
        if row["organisation"] == "citizen":
            persona = Persona(
                role, public.name, role, None, "公众", DEMO_PASSWORD, citizen_id=public.citizen_id
            )
        else:
            code, name = organisations[row["organisation"]]
            persona = Persona(role, row["display_name"], role, code, name, DEMO_PASSWORD)
        personas.append(persona)
    return tuple(personas)


def build_city(seed: int = 2025) -> City:
    """Build the demo city; the same seed always gives the same city."""
    rng = random.Random(seed)
    districts = _districts()
    departments = _departments()
    operators = _operators()
    citizens = _generate_citizens(rng)
    enterprises = _generate_enterprises(rng)
    return City(
        districts=districts,
        streets=_streets(),
        communities=_communities(),
        departments=departments,
        operators=operators,
        enterprises=enterprises,
        citizens=citizens,
        personas=_personas(districts, departments, operators, citizens),
    )
