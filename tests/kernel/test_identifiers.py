"""Tests for the citizen-ID and USCC check-character rules."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from gongshu.kernel.identifiers import (
    CITIZEN_ID_WEIGHTS,
    KNOWN_USCC_PREFIXES,
    USCC_ALPHABET,
    USCC_WEIGHTS,
    IdentifierProblem,
    Sex,
    citizen_id_birth_date,
    citizen_id_check_char,
    citizen_id_sex,
    full_width_to_half_width,
    is_valid_citizen_id,
    is_valid_uscc,
    make_citizen_id,
    make_uscc,
    organisation_code_check_char,
    sex_from_sequence,
    uscc_check_char,
    uscc_warnings,
    validate_citizen_id,
    validate_uscc,
)

VALID_CITIZEN_ID = "11010519491231002X"
VALID_USCC = "91110000802100433B"
DIGITS = "0123456789"


def _code(problem: IdentifierProblem | None) -> str | None:
    return None if problem is None else problem.code


# --- citizen ID ------------------------------------------------------------------------------


def test_citizen_id_weights_match_the_standard() -> None:
    assert CITIZEN_ID_WEIGHTS == (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def test_known_valid_citizen_id() -> None:
    assert citizen_id_check_char(VALID_CITIZEN_ID[:17]) == "X"
    assert validate_citizen_id(VALID_CITIZEN_ID) is None
    assert is_valid_citizen_id(VALID_CITIZEN_ID)
    assert citizen_id_birth_date(VALID_CITIZEN_ID) == date(1949, 12, 31)
    assert citizen_id_sex(VALID_CITIZEN_ID) is Sex.FEMALE


def test_lower_case_x_is_accepted() -> None:
    assert validate_citizen_id(VALID_CITIZEN_ID.lower()) is None


def test_full_width_and_spaced_input_is_accepted() -> None:
    full_width = "１１０１０５１９４９１２３１００２ｘ"
    assert full_width_to_half_width(full_width) == "11010519491231002x"
    assert validate_citizen_id(full_width) is None
    assert validate_citizen_id(" 110105\u300019491231 002X\n") is None
    assert validate_uscc("９１１１００００８０２１００４３３Ｂ") is None


def test_full_width_to_half_width_leaves_other_text_alone() -> None:
    assert full_width_to_half_width("ＡＢＣ　ｘｙｚ，中文") == "ABC xyz,中文"


@pytest.mark.parametrize(
    ("value", "code", "position"),
    [
        ("", "wrong_length", None),
        ("11010519491231002", "wrong_length", None),
        ("11010519491231002X1", "wrong_length", None),
        ("1101051949123100AX", "invalid_character", 17),
        ("A1010519491231002X", "invalid_character", 1),
        ("11010519491231002Y", "invalid_character", 18),
        ("110105194902300021", "invalid_birth_date", 7),
        ("110105194913010021", "invalid_birth_date", 7),
        ("110105000012310021", "invalid_birth_date", 7),
        ("110105194912310021", "bad_check_character", 18),
    ],
)
def test_citizen_id_problems(value: str, code: str, position: int | None) -> None:
    problem = validate_citizen_id(value)
    assert problem is not None
    assert problem.code == code
    assert problem.position == position
    assert problem.message


def test_check_problem_message_is_bilingual() -> None:
    problem = validate_citizen_id("110105194912310021")
    assert problem is not None
    assert problem.message == "校验码错误 (bad check character): expected X, got 1"


def test_future_birth_date_is_rejected_only_when_today_is_given() -> None:
    future = make_citizen_id("110105", date(2030, 1, 1), 7)
    assert validate_citizen_id(future) is None
    assert _code(validate_citizen_id(future, today=date(2025, 6, 1))) == "birth_date_in_future"
    assert validate_citizen_id(future, today=date(2030, 1, 1)) is None
    assert not is_valid_citizen_id(future, today=date(2029, 12, 31))


def test_leap_day_births() -> None:
    assert is_valid_citizen_id(make_citizen_id("110101", date(2000, 2, 29), 1))
    bad = "1101011900022900" + "1"
    assert _code(validate_citizen_id(bad + citizen_id_check_char(bad))) == "invalid_birth_date"


def test_generated_citizen_ids_validate() -> None:
    rng = random.Random(11643)
    for _ in range(2000):
        division = f"{rng.randrange(110000, 660000):06d}"
        birth = date(1900, 1, 1) + timedelta(days=rng.randrange(45_000))
        sequence = rng.randrange(1000)
        value = make_citizen_id(division, birth, sequence)
        assert len(value) == 18
        assert validate_citizen_id(value, today=date(2030, 1, 1)) is None, value
        assert citizen_id_birth_date(value) == birth
        assert citizen_id_sex(value) is sex_from_sequence(sequence)


def test_sex_follows_the_parity_of_the_17th_digit() -> None:
    assert sex_from_sequence(1) is Sex.MALE
    assert sex_from_sequence(0) is Sex.FEMALE
    assert citizen_id_sex(make_citizen_id("110101", date(1990, 5, 5), 123)) is Sex.MALE
    assert citizen_id_sex(make_citizen_id("110101", date(1990, 5, 5), 124)) is Sex.FEMALE


def test_every_single_digit_substitution_is_detected() -> None:
    rng = random.Random(7)
    samples = [VALID_CITIZEN_ID] + [
        make_citizen_id("110108", date(1950, 1, 1) + timedelta(days=rng.randrange(20_000)), n)
        for n in range(0, 1000, 97)
    ]
    for value in samples:
        for index in range(18):
            alphabet = DIGITS + "X" if index == 17 else DIGITS
            for char in alphabet:
                if char == value[index]:
                    continue
                corrupted = value[:index] + char + value[index + 1 :]
                assert validate_citizen_id(corrupted) is not None, corrupted


def test_every_check_character_substitution_is_detected() -> None:
    for char in DIGITS + "X":
        corrupted = VALID_CITIZEN_ID[:17] + char
        expected = None if char == "X" else "bad_check_character"
        assert _code(validate_citizen_id(corrupted)) == expected


@pytest.mark.parametrize(
    ("division", "birth", "sequence"),
    [
        ("11010", date(1990, 1, 1), 1),
        ("11010A", date(1990, 1, 1), 1),
        ("110101", date(1990, 1, 1), -1),
        ("110101", date(1990, 1, 1), 1000),
        ("110101", date(999, 1, 1), 1),
    ],
)
def test_make_citizen_id_rejects_bad_parts(division: str, birth: date, sequence: int) -> None:
    with pytest.raises(ValueError):
        make_citizen_id(division, birth, sequence)


def test_helpers_reject_invalid_ids() -> None:
    with pytest.raises(ValueError):
        citizen_id_check_char("1234")
    with pytest.raises(ValueError):
        citizen_id_sex("110105194912310021")
    with pytest.raises(ValueError):
        citizen_id_birth_date("short")


# --- USCC ------------------------------------------------------------------------------------


def test_uscc_weights_match_the_standard() -> None:
    assert USCC_WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    assert len(USCC_ALPHABET) == 31
    assert not set("IOZSV") & set(USCC_ALPHABET)


def test_known_valid_uscc() -> None:
    assert organisation_code_check_char("80210043") == "3"
    assert uscc_check_char(VALID_USCC[:17]) == "B"
    assert validate_uscc(VALID_USCC) is None
    assert is_valid_uscc(VALID_USCC.lower())
    assert uscc_warnings(VALID_USCC) == []


def test_organisation_code_check_maps_10_and_11() -> None:
    # Brute-force bodies until both special cases (10 -> X, 11 -> 0) have been seen.
    seen: set[str] = set()
    for number in range(10_000_000, 10_000_200):
        seen.add(organisation_code_check_char(str(number)))
    assert "X" in seen
    assert "0" in seen
    assert seen <= set(DIGITS + "X")
    assert organisation_code_check_char("D2143569") == "X"  # GB 11714 worked example


@pytest.mark.parametrize(
    ("value", "code", "position"),
    [
        ("91110000802100433", "wrong_length", None),
        ("91110000802100433BB", "wrong_length", None),
        ("91110000802100433I", "invalid_character", 18),
        ("9111000080210O433B", "invalid_character", 14),
        ("911100A0802100433B", "invalid_division_code", 7),
        ("91110000802100434B", "bad_organisation_code_check", 17),
        ("91110000802100433C", "bad_check_character", 18),
    ],
)
def test_uscc_problems(value: str, code: str, position: int | None) -> None:
    problem = validate_uscc(value)
    assert problem is not None
    assert problem.code == code
    assert problem.position == position


def test_generated_usccs_validate() -> None:
    rng = random.Random(32100)
    prefixes = sorted(KNOWN_USCC_PREFIXES)
    for _ in range(2000):
        prefix = rng.choice(prefixes)
        division = f"{rng.randrange(110000, 660000):06d}"
        body = "".join(rng.choices(USCC_ALPHABET, k=8))
        value = make_uscc(prefix, division, body)
        assert validate_uscc(value) is None, value
        assert uscc_warnings(value) == []


def test_every_single_character_uscc_substitution_is_detected() -> None:
    rng = random.Random(31)
    samples = [VALID_USCC] + [
        make_uscc("91", "110108", "".join(rng.choices(USCC_ALPHABET, k=8))) for _ in range(10)
    ]
    for value in samples:
        for index in range(18):
            for char in USCC_ALPHABET + "IOZSV":
                if char == value[index]:
                    continue
                corrupted = value[:index] + char + value[index + 1 :]
                assert validate_uscc(corrupted) is not None, corrupted


def test_unknown_prefix_is_a_warning_not_a_problem() -> None:
    value = make_uscc("F7", "110105", "MA01ABCD")
    assert validate_uscc(value) is None
    warnings = uscc_warnings(value)
    assert len(warnings) == 1
    assert "F7" in warnings[0]


def test_known_prefixes_cover_the_common_registrars() -> None:
    assert {"11", "12", "13", "19", "51", "52", "53", "59", "91", "92", "93"} <= KNOWN_USCC_PREFIXES
    assert all(len(prefix) == 2 for prefix in KNOWN_USCC_PREFIXES)


@pytest.mark.parametrize(
    ("prefix", "division", "body"),
    [
        ("9", "110105", "MA01ABCD"),
        ("9I", "110105", "MA01ABCD"),
        ("91", "11010", "MA01ABCD"),
        ("91", "11010A", "MA01ABCD"),
        ("91", "110105", "MA01ABC"),
        ("91", "110105", "MA01ABCO"),
    ],
)
def test_make_uscc_rejects_bad_parts(prefix: str, division: str, body: str) -> None:
    with pytest.raises(ValueError):
        make_uscc(prefix, division, body)


def test_check_char_helpers_reject_bad_input() -> None:
    with pytest.raises(ValueError):
        organisation_code_check_char("8021004")
    with pytest.raises(ValueError):
        organisation_code_check_char("8021004a")
    with pytest.raises(ValueError):
        uscc_check_char("9111000080210043")
