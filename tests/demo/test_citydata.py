"""Tests for the deterministic demo city."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from gongshu.demo.citydata import (
    DEMO_PASSWORD,
    DEPARTMENT_KINDS,
    DEVELOPMENT_AREA_DIVISION_CODE,
    ROLES,
    City,
    build_city,
)
from gongshu.kernel.identifiers import (
    Sex,
    citizen_id_birth_date,
    citizen_id_sex,
    uscc_warnings,
    validate_citizen_id,
    validate_uscc,
)

EXPECTED_DISTRICT_CODES = [
    "110101", "110102", "110105", "110106", "110107", "110108", "110109", "110111",
    "110112", "110113", "110114", "110115", "110116", "110117", "110118", "110119", None,
]  # fmt: skip


@pytest.fixture(scope="module")
def city() -> City:
    return build_city()


def test_same_seed_gives_the_same_city(city: City) -> None:
    assert build_city(2025) == city
    assert build_city(7) == build_city(7)


def test_different_seed_changes_people_but_not_institutions(city: City) -> None:
    other = build_city(2026)
    assert other.citizens != city.citizens
    assert other.enterprises != city.enterprises
    assert other.districts == city.districts
    assert other.streets == city.streets
    assert other.communities == city.communities
    assert other.departments == city.departments
    assert other.operators == city.operators


def test_districts(city: City) -> None:
    assert [district.code for district in city.districts] == EXPECTED_DISTRICT_CODES
    assert city.districts[2].name == "朝阳区"
    development_area = city.districts[-1]
    assert development_area.name == "北京经济技术开发区"
    assert development_area.name_en == "Beijing Economic-Technological Development Area"
    assert development_area.division_code == DEVELOPMENT_AREA_DIVISION_CODE


def test_streets_and_communities_belong_to_existing_parents(city: City) -> None:
    districts = {district.name: district for district in city.districts}
    streets = {street.code: street for street in city.streets}
    assert len(streets) == len(city.streets)
    for street in city.streets:
        district = districts[street.district_name]
        assert street.district_code == district.code
        assert len(street.code) == 9
        assert street.code.isdigit()
        assert street.code.startswith(district.division_code)
    per_district = Counter(street.district_name for street in city.streets)
    assert set(per_district) == set(districts)
    assert all(2 <= count <= 3 for count in per_district.values())
    codes = [community.code for community in city.communities]
    assert len(set(codes)) == len(codes)
    for community in city.communities:
        assert community.street_code in streets
        assert len(community.code) == 12
        assert community.code.startswith(community.street_code)
    per_street = Counter(community.street_code for community in city.communities)
    assert set(per_street) == set(streets)
    assert set(per_street.values()) == {2}


def test_known_streets(city: City) -> None:
    names = {(street.district_name, street.name) for street in city.streets}
    assert {("东城区", "景山街道"), ("朝阳区", "望京街道"), ("海淀区", "中关村街道")} <= names
    assert ("北京经济技术开发区", "荣华街道") in names


def test_departments(city: City) -> None:
    assert len(city.departments) >= 30
    codes = [department.code for department in city.departments]
    assert len(set(codes)) == len(codes)
    assert len({department.name for department in city.departments}) == len(codes)
    for department in city.departments:
        assert validate_uscc(department.code) is None
        assert uscc_warnings(department.code) == []
        assert department.code[2:8] == "110000"
        assert department.kind in DEPARTMENT_KINDS
        assert department.name and department.short_name and department.name_en
        assert department.duties
    kinds = Counter(department.kind for department in city.departments)
    for kind in DEPARTMENT_KINDS - {"department"}:
        assert kinds[kind] == 1, kind
    assert city.bureau.name == "北京市政务服务和数据管理局"
    assert city.department_of_kind("price_regulator").name == "北京市发展和改革委员会"
    assert city.department_of_kind("audit_office").name == "北京市审计局"
    assert city.department_of_kind("registrar").name == "北京市大数据中心"
    assert city.department_named("北京市交通委员会").kind == "department"
    with pytest.raises(LookupError):
        city.department_of_kind("nonexistent")


def test_operators(city: City) -> None:
    assert 3 <= len(city.operators) <= 4
    assert len({operator.zone for operator in city.operators}) == len(city.operators)
    district_codes = {district.code for district in city.districts}
    for operator in city.operators:
        assert operator.kind == "operator"
        assert operator.code.startswith("91")
        assert validate_uscc(operator.code) is None
        assert operator.district_code in district_codes
        assert operator.zone.endswith("专区")


def test_enterprises(city: City) -> None:
    assert len(city.enterprises) == 200
    districts = {district.name: district for district in city.districts}
    usccs = [enterprise.uscc for enterprise in city.enterprises]
    usccs += [operator.code for operator in city.operators]
    assert len(set(usccs)) == len(usccs)
    assert len({enterprise.name for enterprise in city.enterprises}) == len(city.enterprises)
    for enterprise in city.enterprises:
        assert validate_uscc(enterprise.uscc) is None, enterprise
        assert uscc_warnings(enterprise.uscc) == []
        district = districts[enterprise.district_name]
        assert enterprise.district_code == district.code
        assert enterprise.uscc[2:8] == district.division_code
        assert enterprise.name.endswith("有限公司")
        assert enterprise.industry and enterprise.industry_code
        assert date(1995, 1, 1) <= enterprise.registered_on <= date(2024, 12, 31)
        assert enterprise.registered_capital_fen > 0
        assert enterprise.registered_capital_fen % 100 == 0


def test_citizens(city: City) -> None:
    assert len(city.citizens) == 1000
    ids = [citizen.citizen_id for citizen in city.citizens]
    assert len(set(ids)) == len(ids)
    districts = {district.name: district for district in city.districts}
    streets = {street.code: street for street in city.streets}
    communities = {community.code: community for community in city.communities}
    for citizen in city.citizens:
        assert validate_citizen_id(citizen.citizen_id, today=date(2025, 1, 1)) is None
        assert citizen_id_sex(citizen.citizen_id) is citizen.sex
        assert citizen_id_birth_date(citizen.citizen_id) == citizen.birth_date
        assert date(1940, 1, 1) <= citizen.birth_date <= date(2008, 12, 31)
        district = districts[citizen.district_name]
        assert citizen.district_code == district.code
        assert citizen.citizen_id[:6] == district.division_code
        assert streets[citizen.street_code].district_name == citizen.district_name
        assert communities[citizen.community_code].street_code == citizen.street_code
        assert 2 <= len(citizen.name) <= 4
    sexes = Counter(citizen.sex for citizen in city.citizens)
    assert sexes[Sex.MALE] > 300
    assert sexes[Sex.FEMALE] > 300
    assert any(citizen.district_code is None for citizen in city.citizens)


def test_one_persona_per_role(city: City) -> None:
    assert [persona.role for persona in city.personas] == list(ROLES)
    usernames = [persona.username for persona in city.personas]
    assert len(set(usernames)) == len(usernames)
    for persona in city.personas:
        assert persona.username == persona.role
        assert persona.password == DEMO_PASSWORD == "gongshu-demo"
        assert persona.display_name


def test_personas_work_where_the_brief_says(city: City) -> None:
    by_role = {persona.role: persona for persona in city.personas}
    expected_names = {
        "bureau_admin": "北京市政务服务和数据管理局",
        "dept_officer": "北京市交通委员会",
        "district_officer": "朝阳区",
        "registrar": "北京市大数据中心",
        "authority": city.department_of_kind("authority").name,
        "operator": city.operators[0].name,
        "price_regulator": "北京市发展和改革委员会",
        "auditor": "北京市审计局",
        "security_officer": "中共北京市委网络安全和信息化委员会办公室",
    }
    for role, name in expected_names.items():
        assert by_role[role].organisation_name == name, role
    assert by_role["bureau_admin"].organisation_code == city.bureau.code
    assert by_role["district_officer"].organisation_code == "110105"
    assert by_role["operator"].organisation_code == city.operators[0].code
    public = by_role["public"]
    assert public.organisation_code is None
    assert public.citizen_id == city.citizens[0].citizen_id
    assert public.display_name == city.citizens[0].name
