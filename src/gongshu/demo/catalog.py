"""About 300 catalogue entries of the demo city, as the rows departments type into their sheets.

The entries are data, kept in ``gongshu/demo/data/catalog-*.csv`` in a compact authoring form
that this module expands into exchange rows (``Column`` → the cell text the importer reads):

- ``catalog-elements.csv``: the common data elements (数据元) with their codes, so the same
  element carries the same code, type and flags in every entry.
- ``catalog-municipal.csv``: entries of the municipal bodies, the provider by short name.
- ``catalog-districts.csv``: the districts' four-level catalogue (duty → data → system → table);
  one row lists the districts that keep it and ``{区}`` stands for the district's name.
- ``catalog-products.csv``: the operators' data products and services.

Compact cells: 影响评估 is ``国家安全/公共利益/权益`` harm labels (``无/无/一般``); 数据项 is a
``;``-separated list whose items are either a data element's name or ``名称|类型|说明|标记``.
An empty 共享方式 gets a default from the format; an empty condition of a conditional entry
gets a generic one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources

from gongshu.catalog.schemas import COLUMN_OF
from gongshu.catalog.vocab import (
    COLUMNS,
    DELIVERY_LABELS,
    FLAG_LABELS,
    FORMAT_LABELS,
    FREQUENCY_LABELS,
    GRADE_LABELS,
    HARM_LABELS,
    IMPACT_LABELS,
    KIND_LABELS,
    OPEN_LABELS,
    SHARE_LABELS,
    THEMES,
    TYPE_LABELS,
    Column,
    DataFormat,
    EntryKind,
    ImpactObject,
    OpenType,
    ShareType,
)
from gongshu.demo.citydata import City

__all__ = ["demo_catalog"]

_DATA_PACKAGE = "gongshu.demo"
_SEPARATOR = "、"  # between keywords, delivery methods, flags and related entries in a cell
_PLACEHOLDER = "{区}"  # the district's name in the district templates
_ELEMENTS_FILE = "catalog-elements.csv"
_MUNICIPAL_FILE = "catalog-municipal.csv"
_DISTRICTS_FILE = "catalog-districts.csv"
_PRODUCTS_FILE = "catalog-products.csv"

# The exchange columns an entry is imported from (resource code and dates are the platform's).
_ENTRY_COLUMNS: tuple[Column, ...] = tuple(c for c in COLUMNS if c in COLUMN_OF.values())
_IMPACT_ORDER = (ImpactObject.NATIONAL_SECURITY, ImpactObject.PUBLIC_INTEREST, ImpactObject.RIGHTS)
_THEME_LABELS = frozenset(label for label, _english in THEMES.values())
_HARMS = frozenset(HARM_LABELS.values())
_FLAGS = tuple(FLAG_LABELS.values())
_TYPES = frozenset(TYPE_LABELS.values())

# Where a department has not said how it delivers: bulk stores by API and exchange, files as files.
_DEFAULT_DELIVERY = {
    FORMAT_LABELS[DataFormat.DATABASE]: ("api", "batch"),
    FORMAT_LABELS[DataFormat.API]: ("api",),
    FORMAT_LABELS[DataFormat.GEO]: ("batch", "file"),
}
_DEFAULT_SHARE_CONDITIONS = (
    "限于政务部门依法履行职责需要，按“一事一申请”提出并说明使用依据、场景和所需数据项，"
    "仅用于申请事项，不得向第三方提供"
)
_DEFAULT_OPEN_CONDITIONS = (
    "实名注册并签署数据使用协议后在线申请，说明用途；限于科学研究、公益服务和经审核的开发利用，"
    "不得用于识别特定个人或企业"
)


@dataclass(frozen=True, slots=True)
class _Element:
    """A common data element: one code, type, description and flags wherever it is used."""

    code: str
    name: str
    type: str
    description: str
    flags: tuple[str, ...]


@cache
def _read_csv(name: str) -> tuple[dict[str, str], ...]:
    text = resources.files(_DATA_PACKAGE).joinpath("data", name).read_text(encoding="utf-8")
    rows: list[dict[str, str]] = []
    for number, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        if None in row:  # more cells than headers: an unquoted comma in the text
            raise ValueError(f"{name} row {number}: more cells than columns")
        rows.append({key: (value or "").strip() for key, value in row.items()})
    return tuple(rows)


def _split(text: str, separator: str = _SEPARATOR) -> list[str]:
    return [part.strip() for part in text.split(separator) if part.strip()]


def _flags(text: str, where: str) -> tuple[str, ...]:
    given = _split(text)
    unknown = [flag for flag in given if flag not in _FLAGS]
    if unknown:
        raise ValueError(f"{where}: unknown flag {unknown[0]!r}")
    return tuple(flag for flag in _FLAGS if flag in given)


@cache
def _elements() -> dict[str, _Element]:
    elements: dict[str, _Element] = {}
    for row in _read_csv(_ELEMENTS_FILE):
        where = f"{_ELEMENTS_FILE} {row['编码']}"
        if row["类型"] not in _TYPES:
            raise ValueError(f"{where}: unknown type {row['类型']!r}")
        elements[row["名称"]] = _Element(
            row["编码"], row["名称"], row["类型"], row["说明"], _flags(row["标记"], where)
        )
    return elements


def _field(text: str, where: str) -> str:
    """One data item as ``名称|类型|说明|数据元编码|标记``; an element's name brings its code."""
    parts = [part.strip() for part in text.split("|")]
    name = parts[0]
    element = _elements().get(name)
    if len(parts) == 1:
        if element is None:
            raise ValueError(f"{where}: {name!r} is no data element; write 名称|类型|说明|标记")
        parts = [name, element.type]
    if len(parts) > 4:
        raise ValueError(f"{where}: data item {text!r} has more than 名称|类型|说明|标记")
    type_label, description, flag_text = [*parts[1:], "", ""][:3]
    if type_label not in _TYPES:
        raise ValueError(f"{where}: data item {name!r} has unknown type {type_label!r}")
    if description and set(_split(description)) <= set(_FLAGS):
        raise ValueError(f"{where}: data item {name!r} has flags where its description goes")
    flags = _flags(flag_text, where)
    code = ""
    if element is not None:
        if type_label != element.type:
            raise ValueError(f"{where}: data element {name!r} is {element.type}, not {type_label}")
        code = element.code
        description = description or element.description
        flags = tuple(flag for flag in _FLAGS if flag in flags or flag in element.flags)
    return "|".join((name, type_label, description, code, _SEPARATOR.join(flags)))


def _fields(text: str, where: str) -> str:
    return "\n".join(_field(item, where) for item in _split(text, ";"))


def _impact(text: str, where: str) -> str:
    harms = _split(text, "/")
    if len(harms) != len(_IMPACT_ORDER) or not set(harms) <= _HARMS:
        raise ValueError(f"{where}: 影响评估 {text!r} is not three harm labels like 无/无/一般")
    return "；".join(
        f"{IMPACT_LABELS[obj]}:{harm}" for obj, harm in zip(_IMPACT_ORDER, harms, strict=True)
    )


def _check_label(value: str, labels: Collection[str], column: str, where: str) -> None:
    if value not in labels:
        raise ValueError(f"{where}: unknown {column} {value!r}")


def _entry(
    source: dict[str, str], *, provider: str, district: str, where: str
) -> dict[Column, str]:
    """Expand one authored row into an exchange row, checking every label it uses."""
    row = {column: source.get(column.value, "") for column in _ENTRY_COLUMNS}
    row[Column.PROVIDER] = provider
    row[Column.DISTRICT] = district
    row[Column.KIND] = row[Column.KIND] or KIND_LABELS[EntryKind.RESOURCE]
    _check_label(row[Column.KIND], KIND_LABELS.values(), "目录类型", where)
    _check_label(row[Column.THEME], _THEME_LABELS, "分类", where)
    _check_label(row[Column.FORMAT], FORMAT_LABELS.values(), "数据格式", where)
    _check_label(row[Column.FREQUENCY], FREQUENCY_LABELS.values(), "更新频率", where)
    _check_label(row[Column.SHARE_TYPE], SHARE_LABELS.values(), "共享属性", where)
    _check_label(row[Column.OPEN_TYPE], OPEN_LABELS.values(), "开放属性", where)
    if row[Column.GRADE]:
        _check_label(row[Column.GRADE], GRADE_LABELS.values(), "分级", where)
    if bool(row[Column.GRADE]) != bool(row[Column.GRADE_REASON]):
        raise ValueError(f"{where}: 分级 and 定级理由 go together")
    for delivery in _split(row[Column.DELIVERY]):
        _check_label(delivery, DELIVERY_LABELS.values(), "共享方式", where)
    row[Column.IMPACT] = _impact(row[Column.IMPACT], where)
    row[Column.FIELDS] = _fields(row[Column.FIELDS], where)
    _complete_conditions(row, where)
    return row


def _complete_conditions(row: dict[Column, str], where: str) -> None:
    """Fill the default delivery and conditions; refuse conditions on the wrong kind of entry."""
    share = row[Column.SHARE_TYPE]
    if share == SHARE_LABELS[ShareType.NONE]:
        if row[Column.DELIVERY] or not row[Column.LEGAL_BASIS]:
            raise ValueError(f"{where}: 不予共享 cites 不予共享依据 and has no 共享方式")
    elif row[Column.LEGAL_BASIS]:
        raise ValueError(f"{where}: only 不予共享 entries cite 不予共享依据")
    elif not row[Column.DELIVERY]:
        modes = _DEFAULT_DELIVERY.get(row[Column.FORMAT], ("file",))
        row[Column.DELIVERY] = _SEPARATOR.join(DELIVERY_LABELS[mode] for mode in modes)
    if share == SHARE_LABELS[ShareType.CONDITIONAL]:
        row[Column.SHARE_CONDITIONS] = row[Column.SHARE_CONDITIONS] or _DEFAULT_SHARE_CONDITIONS
    elif row[Column.SHARE_CONDITIONS]:
        raise ValueError(f"{where}: 共享条件 belong to 有条件共享 entries")
    if row[Column.OPEN_TYPE] == OPEN_LABELS[OpenType.CONDITIONAL]:
        row[Column.OPEN_CONDITIONS] = row[Column.OPEN_CONDITIONS] or _DEFAULT_OPEN_CONDITIONS
    elif row[Column.OPEN_CONDITIONS]:
        raise ValueError(f"{where}: 开放条件 belong to 有条件开放 entries")


def _providers(city: City) -> dict[str, str]:
    """Full names of the public bodies and operators, by short and by full name."""
    bodies = [(body.short_name, body.name) for body in city.departments]
    bodies += [(operator.short_name, operator.name) for operator in city.operators]
    return {ref: name for short_name, name in bodies for ref in (short_name, name)}


def _rows(city: City) -> Iterator[dict[Column, str]]:
    providers = _providers(city)
    for filename in (_MUNICIPAL_FILE, _PRODUCTS_FILE):
        for number, source in enumerate(_read_csv(filename), start=2):
            where = f"{filename} row {number}"
            provider = providers.get(source["提供单位"])
            if provider is None:
                raise ValueError(f"{where}: unknown provider {source['提供单位']!r}")
            yield _entry(source, provider=provider, district="", where=where)
    districts = {district.name for district in city.districts}
    for number, source in enumerate(_read_csv(_DISTRICTS_FILE), start=2):
        for district in _split(source["所属区"]):
            where = f"{_DISTRICTS_FILE} row {number} ({district})"
            if district not in districts:
                raise ValueError(f"{where}: unknown district")
            cells = {k: v.replace(_PLACEHOLDER, district) for k, v in source.items()}
            yield _entry(cells, provider=district, district=district, where=where)


def demo_catalog(city: City) -> list[dict[Column, str]]:
    """The demo city's catalogue: one exchange row per entry, as the importer reads them."""
    return list(_rows(city))
