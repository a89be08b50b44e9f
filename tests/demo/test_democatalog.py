"""Tests for the demo city's catalogue rows: valid, consistent with the rules, deterministic."""

from __future__ import annotations

from collections import Counter

import pytest

from gongshu.catalog.schemas import COLUMN_OF, EntryInput
from gongshu.catalog.sheets import SheetRow, row_to_input
from gongshu.catalog.vocab import (
    THEMES,
    Column,
    EntryKind,
    FieldFlag,
    Grade,
    OpenType,
    ShareType,
    grade_for,
)
from gongshu.demo.catalog import demo_catalog
from gongshu.demo.citydata import City, build_city

Row = dict[Column, str]


def to_input(row: Row) -> EntryInput:
    """What the importer does with a row: labels to codes (its own parser), then the model."""
    values, errors = row_to_input(SheetRow(2, row))
    assert not errors, errors
    assert values is not None
    return EntryInput.model_validate(values)


@pytest.fixture(scope="module")
def city() -> City:
    return build_city()


@pytest.fixture(scope="module")
def rows(city: City) -> list[Row]:
    return demo_catalog(city)


@pytest.fixture(scope="module")
def entries(rows: list[Row]) -> list[EntryInput]:
    return [to_input(row) for row in rows]


def _grade(entry: EntryInput) -> Grade:
    return entry.grade or grade_for(dict(entry.impact))


def _flags(entry: EntryInput) -> set[FieldFlag]:
    return {flag for item in entry.fields for flag in item.flags}


def test_about_three_hundred_entries(rows: list[Row]) -> None:
    assert 280 <= len(rows) <= 320


def test_rows_carry_every_entry_column(rows: list[Row]) -> None:
    for row in rows:
        assert set(row) == set(COLUMN_OF.values())
        assert all(isinstance(value, str) for value in row.values())


def test_every_row_is_a_valid_entry_input(rows: list[Row], entries: list[EntryInput]) -> None:
    assert len(entries) == len(rows)


def test_same_city_gives_the_same_catalogue(city: City, rows: list[Row]) -> None:
    assert demo_catalog(city) == rows
    assert demo_catalog(build_city()) == rows


def test_names_are_unique(entries: list[EntryInput]) -> None:
    per_provider = Counter((entry.provider, entry.name) for entry in entries)
    assert [key for key, count in per_provider.items() if count > 1] == []
    # Unique across providers too, so a related name always resolves to one entry.
    names = Counter(entry.name for entry in entries)
    assert [name for name, count in names.items() if count > 1] == []


def test_related_entries_exist(entries: list[EntryInput]) -> None:
    names = {entry.name for entry in entries}
    links = [(entry.name, ref) for entry in entries for ref in entry.related]
    assert len(links) >= 30
    assert [link for link in links if link[1] not in names or link[1] == link[0]] == []


def test_not_shared_entries_cite_the_law_and_stay_closed(entries: list[EntryInput]) -> None:
    closed = [entry for entry in entries if entry.share_type is ShareType.NONE]
    assert len(closed) >= 10
    for entry in closed:
        assert entry.legal_basis is not None
        assert "《" in entry.legal_basis, entry.name
        assert entry.open_type is OpenType.NONE, entry.name
        assert entry.delivery == [], entry.name


def test_conditions_state_scope_and_purpose(entries: list[EntryInput]) -> None:
    for entry in entries:
        if entry.share_type is ShareType.CONDITIONAL:
            assert entry.share_conditions is not None
            assert len(entry.share_conditions) >= 15, entry.name
        else:
            assert entry.share_conditions is None, entry.name
        if entry.open_type is OpenType.CONDITIONAL:
            assert entry.open_conditions is not None
            assert len(entry.open_conditions) >= 10, entry.name
        else:
            assert entry.open_conditions is None, entry.name
        if entry.share_type is not ShareType.NONE:
            assert entry.delivery, entry.name


def test_personal_data_is_never_opened_unconditionally(entries: list[EntryInput]) -> None:
    personal = {FieldFlag.IDENTIFIER, FieldFlag.SENSITIVE}
    for entry in entries:
        if entry.open_type is OpenType.UNCONDITIONAL:
            assert not personal & _flags(entry), entry.name
            assert entry.share_type is ShareType.UNCONDITIONAL, entry.name
        if FieldFlag.IDENTIFIER in _flags(entry):
            assert entry.open_type is OpenType.NONE, entry.name


def test_core_and_important_data_is_never_opened(entries: list[EntryInput]) -> None:
    high = [entry for entry in entries if _grade(entry) in (Grade.CORE, Grade.IMPORTANT)]
    assert {_grade(entry) for entry in high} == {Grade.CORE, Grade.IMPORTANT}
    assert [entry.name for entry in high if entry.open_type is not OpenType.NONE] == []


def test_a_few_grades_are_raised_with_a_reason(entries: list[EntryInput]) -> None:
    raised = [entry for entry in entries if entry.grade is not None]
    assert 4 <= len(raised) <= 8
    for entry in raised:
        assert entry.grade is not None
        assert entry.grade.rank > grade_for(dict(entry.impact)).rank, entry.name
        assert entry.grade_reason, entry.name


def test_open_types_are_mixed_as_planned(entries: list[EntryInput]) -> None:
    counts = Counter(entry.open_type for entry in entries)
    share = {open_type: counts[open_type] / len(entries) for open_type in OpenType}
    assert share[OpenType.UNCONDITIONAL] == pytest.approx(0.40, abs=0.05)
    assert share[OpenType.CONDITIONAL] == pytest.approx(0.25, abs=0.05)
    assert share[OpenType.NONE] == pytest.approx(0.35, abs=0.05)
    assert set(Counter(entry.share_type for entry in entries)) == set(ShareType)


def test_every_theme_and_a_mix_of_frequencies_and_formats(entries: list[EntryInput]) -> None:
    assert {entry.theme for entry in entries} == set(THEMES)
    frequencies = Counter(entry.update_frequency for entry in entries)
    assert len(frequencies) >= 7
    assert max(frequencies.values()) < len(entries) / 3
    assert len({entry.format for entry in entries}) >= 6


def test_every_department_the_bureau_and_districts_provide(
    city: City, entries: list[EntryInput]
) -> None:
    providers = Counter(entry.provider for entry in entries)
    departments = [dep.name for dep in city.departments if dep.kind == "department"]
    assert [name for name in departments if providers[name] < 3] == []
    assert providers[city.bureau.name] >= 3
    district_rows = [entry for entry in entries if entry.district]
    assert 50 <= len(district_rows) <= 70
    assert len({entry.district for entry in district_rows}) >= 8
    districts = {district.name for district in city.districts}
    for entry in district_rows:
        assert entry.provider == entry.district, entry.name
        assert entry.district in districts
        assert entry.duty and entry.system and entry.table, entry.name
    municipal = [entry for entry in entries if not entry.district]
    assert [entry.name for entry in municipal if entry.duty or entry.system or entry.table] == []


def test_operators_provide_products_and_services(city: City, entries: list[EntryInput]) -> None:
    operators = {operator.name for operator in city.operators}
    offers = [entry for entry in entries if entry.kind is not EntryKind.RESOURCE]
    assert 12 <= len(offers) <= 18
    assert {entry.kind for entry in offers} == {EntryKind.PRODUCT, EntryKind.SERVICE}
    assert {entry.provider for entry in offers} == operators
    assert [entry.name for entry in entries if entry.provider in operators] == [
        entry.name for entry in offers
    ]
    assert all(entry.related for entry in offers)


def test_resources_list_realistic_data_items(entries: list[EntryInput]) -> None:
    for entry in entries:
        assert 3 <= len(entry.fields) <= 15, entry.name
        assert 2 <= len(entry.keywords) <= 8, entry.name


def test_data_elements_keep_one_code_per_name(entries: list[EntryInput]) -> None:
    seen: dict[str, set[tuple[str, str, tuple[FieldFlag, ...]]]] = {}
    for entry in entries:
        for item in entry.fields:
            if item.element_code:
                seen.setdefault(item.element_code, set()).add(
                    (item.name, item.type, tuple(item.flags))
                )
    assert len(seen) >= 30
    assert {code: uses for code, uses in seen.items() if len(uses) > 1} == {}
    citizen_ids = {
        item.element_code for e in entries for item in e.fields if item.name == "公民身份号码"
    }
    assert citizen_ids == {"DE00001"}
