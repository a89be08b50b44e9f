"""What the open-data files describe: the city's places, organisations and vocabulary.

:class:`World` is the city as open data sees it — each street gets a centre near its district's
centre and roads named after it, enterprises come from the uploaded register — and
:class:`Gen` is one seeded generator over it: every table draws from its own, so the same city
gives the same files whatever else is generated.
"""

from __future__ import annotations

import csv
import io
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import cache, cached_property
from importlib import resources
from typing import Any

from gongshu.demo.citydata import City, Community, District, Street
from gongshu.kernel.identifiers import USCC_ALPHABET, make_uscc

__all__ = [
    "AS_OF",
    "MONTHS",
    "QUARTERS",
    "YEARS",
    "Area",
    "Firm",
    "Gen",
    "Place",
    "Row",
    "Word",
    "World",
    "at",
    "coded",
    "office",
    "short",
    "words",
    "yuan",
]

Row = dict[str, Any]
"""A generated record: field name → value; ``_place`` and ``_firm`` fill the common fields."""

AS_OF = date(2026, 3, 31)  # the last day the files describe
MONTHS = [f"{2025 + m // 12}{m % 12 + 1:02d}" for m in range(14)]  # 202501 … 202602
QUARTERS = [f"{y}Q{q}" for y in (2024, 2025) for q in (1, 2, 3, 4)]
YEARS = ["2023", "2024", "2025"]

_DATA_PACKAGE = "gongshu.demo"
_VOCABULARY = "open-data-vocabulary.csv"
# How far streets spread around their district's centre (degrees), by functional class.
_SPREAD = {"核心区": 0.022, "城区": 0.055, "新城": 0.06, "生态涵养区": 0.07}
_ROAD_SUFFIXES = ("路", "大街", "东路", "西路", "南路", "北路", "中路", "南街", "北街", "东街")


# --- fixed vocabulary ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Word:
    """One line of the vocabulary: a named thing, its district and place, a category, a number."""

    name: str
    district: str
    lon: float
    lat: float
    kind: str
    value: float


def _read(name: str) -> str:
    return resources.files(_DATA_PACKAGE).joinpath("data", name).read_text("utf-8")


@cache
def _vocabulary() -> dict[str, tuple[Word, ...]]:
    found: dict[str, list[Word]] = {}
    for row in csv.DictReader(io.StringIO(_read(_VOCABULARY))):
        found.setdefault(row["词表"], []).append(
            Word(row["名称"], row["区"], float(row["经度"] or 0), float(row["纬度"] or 0),
                 row["类别"], float(row["数值"] or 0))
        )  # fmt: skip
    return {kind: tuple(items) for kind, items in found.items()}


@cache
def _trade_names() -> tuple[str, ...]:
    return tuple(line.strip() for line in _read("trade-names.txt").splitlines() if line.strip())


def words(kind: str) -> tuple[Word, ...]:
    """The vocabulary's words of one kind (区县, 空气站, 景区, 公园 …), in file order."""
    return _vocabulary()[kind]


def short(name: str) -> str:
    """A street, community or village name without its level: 望京街道 → 望京."""
    for suffix in ("街道", "社区", "地区", "镇", "乡", "村"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def office(street: Street, district: District) -> str:
    """The street's government: a 街道办事处 or a 镇人民政府."""
    kind = "人民政府" if street.name.endswith(("镇", "乡")) else "办事处"
    return f"北京市{district.name}{street.name}{kind}"


def yuan(amount: float) -> Decimal:
    """An amount of money to the fen."""
    return Decimal(round(amount, 2)).quantize(Decimal("0.01"))


# --- places and organisations ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    """A spot in the city: its district, street and community, coordinates and road."""

    district: District
    street: Street
    community: Community
    lon: float
    lat: float
    road: str
    number: int

    @property
    def address(self) -> str:
        """The postal address, on a road named after the street."""
        return f"北京市{self.district.name}{self.road}{self.number}号"


@dataclass(frozen=True, slots=True)
class Area:
    """A street with its centre, roads and communities."""

    street: Street
    lon: float
    lat: float
    roads: tuple[str, ...]
    communities: tuple[Community, ...]


@dataclass(frozen=True, slots=True)
class Firm:
    """An organisation that appears in open data: a registered enterprise or another body."""

    uscc: str
    name: str
    legal: str
    district: District
    industry: str = ""  # GB/T 4754 section letter, for registered enterprises
    capital: Decimal = Decimal(0)
    founded: date | None = None
    address: str = ""


@dataclass
class World:
    """The city as open data sees it; registers shared by several tables are built once."""

    city: City
    firms: tuple[Firm, ...]
    catalogue: tuple[tuple[str, str, str], ...]  # open entry, provider name, provider USCC
    seed: str
    _shared: dict[str, Any] = field(default_factory=dict)

    def gen(self, key: str, district: District | None = None) -> Gen:
        """A generator seeded by ``key``: the same key always draws the same values."""
        return Gen(random.Random(f"open-data/{key}/{self.seed}"), self, district)

    def shared(self, key: str, build: Callable[[Gen], Any]) -> Any:
        """A register built once (from its own generator) and shared by the tables using it."""
        if key not in self._shared:
            self._shared[key] = build(self.gen(key))
        return self._shared[key]

    @cached_property
    def profiles(self) -> dict[str, Word]:
        """Each district's centre, functional class and population (万人), by name."""
        return {w.name: w for w in words("区县")}

    @cached_property
    def population(self) -> dict[District, float]:
        """Districts with their population, as weights."""
        return {d: self.profiles[d.name].value for d in self.city.districts}

    def district_of(self, street: Street) -> District:
        """The district a street belongs to."""
        return next(d for d in self.city.districts if d.name == street.district_name)

    def district_named(self, name: str) -> District:
        """The district with this name."""
        return next(d for d in self.city.districts if d.name == name)

    @cached_property
    def areas_of(self) -> dict[str, list[Area]]:
        """Each district's streets with a centre and roads (fixed by the street's code)."""
        communities: dict[str, list[Community]] = {}
        for community in self.city.communities:
            communities.setdefault(community.street_code, []).append(community)
        areas: dict[str, list[Area]] = {}
        for street in self.city.streets:
            rng = random.Random(f"area-{street.code}")
            centre = self.profiles[street.district_name]
            reach = _SPREAD[centre.kind] * math.sqrt(rng.random())
            angle = rng.uniform(0, 2 * math.pi)
            name = short(street.name)
            stem = name[:-1] if name[-1] in "街路" and len(name) > 2 else name
            areas.setdefault(street.district_name, []).append(
                Area(street, round(centre.lon + reach * math.cos(angle) * 1.3, 6),
                     round(centre.lat + reach * math.sin(angle), 6),
                     tuple(stem + suffix for suffix in rng.sample(_ROAD_SUFFIXES, 4)),
                     tuple(communities[street.code]))
            )  # fmt: skip
        return areas


@dataclass
class Gen:
    """One seeded generator over the world: random helpers, places and organisations."""

    rng: random.Random
    world: World
    district: District | None = None
    used: set[str] = field(default_factory=set)

    def pick(self, *options: Any) -> Any:
        """One of the options, uniformly."""
        return self.rng.choice(options)

    def weighted(self, options: Mapping[Any, float]) -> Any:
        """One of the keys, weighted by its value."""
        return self.rng.choices(list(options), weights=list(options.values()))[0]

    def chance(self, p: float) -> bool:
        """True with probability ``p``."""
        return self.rng.random() < p

    def between(self, low: float, high: float, places: int = 2) -> float:
        """A uniform number, rounded."""
        return round(self.rng.uniform(low, high), places)

    def day(self, first: date, last: date) -> date:
        """A day between the two, inclusive."""
        return first + timedelta(days=self.rng.randrange((last - first).days + 1))

    def phone(self) -> str:
        """A Beijing landline number."""
        return f"010-{self.rng.choice('68')}{self.rng.randrange(10**6, 10**7)}"

    def person(self) -> str:
        """A citizen's name."""
        return self.rng.choice(self.world.city.citizens).name

    def trade(self) -> str:
        """A trade name for a fictional organisation."""
        return self.rng.choice(_trade_names())

    def unique(self, make: Callable[..., str], *args: Any) -> str | None:
        """A value of ``make(*args)`` this generator has not given before (None after 40 tries:
        the names are used up)."""
        for _ in range(40):
            value = make(*args)
            if value not in self.used:
                self.used.add(value)
                return value
        return None

    def districts(self) -> list[District]:
        """The entry's district, or every district of the city."""
        return [self.district] if self.district else list(self.world.city.districts)

    def area(self, district: District | None = None) -> Area:
        """A street of the district (or of the entry's, or of one picked by population)."""
        if district is None:
            district = self.district or self.weighted(self.world.population)
        return self.rng.choice(self.world.areas_of[district.name])

    def place(self, district: District | None = None, *, area: Area | None = None) -> Place:
        """A spot on a street of the district, near the street's centre."""
        area = area or self.area(district)
        return Place(
            district=self.world.district_of(area.street),
            street=area.street,
            community=self.rng.choice(area.communities),
            lon=round(area.lon + self.rng.gauss(0, 0.006), 6),
            lat=round(area.lat + self.rng.gauss(0, 0.005), 6),
            road=self.rng.choice(area.roads),
            number=self.rng.randint(1, 199),
        )

    def uscc(self, prefix: str, district: District) -> str:
        """A fresh USCC: ``91``/``92`` enterprises and businesses, ``12`` public institutions,
        ``31`` law firms, ``52`` private non-enterprise units, ``N2`` village collectives."""
        if prefix in ("12", "31"):
            body = ("4" if prefix == "12" else "E") + f"{self.rng.randrange(10**7):07d}"
        else:
            head = "MJ0" if prefix == "52" else "MA0"
            body = head + "".join(self.rng.choices(USCC_ALPHABET, k=5))
        return make_uscc(prefix, district.division_code, body)

    def body(self, prefix: str, name: str, place: Place) -> Firm:
        """A new organisation at a place, with a legal representative."""
        return Firm(self.uscc(prefix, place.district), name, self.person(), place.district)

    def firms(
        self, count: int, *, industries: str = "", district: District | None = None
    ) -> list[Firm]:
        """Registered enterprises, in the industries (section letters) and district given."""
        pool = [
            f for f in self.world.firms
            if (not industries or f.industry[:1] in industries)
            and (district is None or f.district == district)
        ]  # fmt: skip
        return self.rng.sample(pool, min(count, len(pool)))


def at(g: Gen, word: Word) -> Place:
    """A place in the word's district at the word's own coordinates."""
    place = g.place(g.world.district_named(word.district))
    return Place(place.district, place.street, place.community, word.lon, word.lat,
                 place.road, place.number)  # fmt: skip


def coded(g: Gen) -> list[District]:
    """The districts with a division code of their own (statistics are published for these)."""
    return [d for d in g.districts() if d.code]
