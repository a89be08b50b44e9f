"""Check-character rules for national identifiers.

* Citizen ID (公民身份号码, GB 11643-1999): 6-digit division code, 8-digit birth date,
  3-digit sequence (odd = male, even = female) and an ISO 7064 MOD 11-2 check character.
* Unified social credit code (统一社会信用代码, GB 32100-2015): registration authority,
  entity type, 6-digit division code, 9-character organisation code (GB 11714-1997, with its
  own check character) and a MOD 31 check character.

Validators fold full-width characters to ASCII, drop whitespace and upper-case the input before
checking, and return an :class:`IdentifierProblem` (or ``None`` when the value is valid).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

__all__ = [
    "CITIZEN_ID_WEIGHTS",
    "KNOWN_USCC_PREFIXES",
    "ORGANISATION_CODE_WEIGHTS",
    "USCC_ALPHABET",
    "USCC_WEIGHTS",
    "IdentifierProblem",
    "Sex",
    "citizen_id_birth_date",
    "citizen_id_check_char",
    "citizen_id_sex",
    "full_width_to_half_width",
    "is_valid_citizen_id",
    "is_valid_uscc",
    "make_citizen_id",
    "make_uscc",
    "normalise_identifier",
    "organisation_code_check_char",
    "sex_from_sequence",
    "uscc_check_char",
    "uscc_warnings",
    "validate_citizen_id",
    "validate_uscc",
]

# --- shared ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdentifierProblem:
    """Why an identifier was rejected.

    ``code`` is stable and machine-readable: ``wrong_length``, ``invalid_character``,
    ``invalid_birth_date``, ``birth_date_in_future``, ``invalid_division_code``,
    ``bad_organisation_code_check`` or ``bad_check_character``. ``position`` is 1-based.
    """

    code: str
    message: str
    position: int | None = None


class Sex(StrEnum):
    """Sex encoded by the parity of a citizen ID's 17th digit."""

    MALE = "male"
    FEMALE = "female"


_FULL_WIDTH_OFFSET = 0xFF01 - 0x21
_IDEOGRAPHIC_SPACE = "\u3000"
_WHITESPACE = re.compile(r"\s+")


def full_width_to_half_width(text: str) -> str:
    """Fold full-width ASCII variants (U+FF01-U+FF5E) and the ideographic space to ASCII."""
    out: list[str] = []
    for char in text:
        point = ord(char)
        if 0xFF01 <= point <= 0xFF5E:
            out.append(chr(point - _FULL_WIDTH_OFFSET))
        elif char == _IDEOGRAPHIC_SPACE:
            out.append(" ")
        else:
            out.append(char)
    return "".join(out)


def normalise_identifier(value: str) -> str:
    """Fold full-width characters, remove all whitespace and upper-case an identifier."""
    return _WHITESPACE.sub("", full_width_to_half_width(value)).upper()


def _first_not_in(value: str, allowed: str) -> int | None:
    for index, char in enumerate(value):
        if char not in allowed:
            return index
    return None


_DIGITS = "0123456789"

# --- citizen ID (GB 11643) -------------------------------------------------------------------

CITIZEN_ID_WEIGHTS: tuple[int, ...] = tuple(pow(2, 17 - i, 11) for i in range(17))
_CITIZEN_CHECK = "10X98765432"


def citizen_id_check_char(first17: str) -> str:
    """Return the GB 11643 check character for the first 17 digits of a citizen ID."""
    if len(first17) != 17 or _first_not_in(first17, _DIGITS) is not None:
        raise ValueError(f"expected 17 digits, got {first17!r}")
    total = sum(
        int(char) * weight for char, weight in zip(first17, CITIZEN_ID_WEIGHTS, strict=True)
    )
    return _CITIZEN_CHECK[total % 11]


def _parse_birth_date(digits: str) -> date | None:
    try:
        return date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def validate_citizen_id(value: str, today: date | None = None) -> IdentifierProblem | None:
    """Return the first problem with a citizen ID, or None if it is valid."""
    normalised = normalise_identifier(value)
    if len(normalised) != 18:
        return IdentifierProblem(
            "wrong_length",
            f"长度错误 (wrong length): expected 18 characters, got {len(normalised)}",
        )
    bad = _first_not_in(normalised[:17], _DIGITS)
    if bad is None and normalised[17] not in _DIGITS + "X":
        bad = 17
    if bad is not None:
        return IdentifierProblem(
            "invalid_character",
            f"含有非法字符 (invalid character): {normalised[bad]!r} at position {bad + 1}",
            bad + 1,
        )
    birth = _parse_birth_date(normalised[6:14])
    if birth is None:
        return IdentifierProblem(
            "invalid_birth_date",
            f"出生日期无效 (invalid date of birth): {normalised[6:14]}",
            7,
        )
    if today is not None and birth > today:
        return IdentifierProblem(
            "birth_date_in_future",
            f"出生日期晚于今天 (date of birth in the future): {birth.isoformat()}",
            7,
        )
    expected = citizen_id_check_char(normalised[:17])
    if normalised[17] != expected:
        return IdentifierProblem(
            "bad_check_character",
            f"校验码错误 (bad check character): expected {expected}, got {normalised[17]}",
            18,
        )
    return None


def is_valid_citizen_id(value: str, today: date | None = None) -> bool:
    """Return True if the citizen ID passes every check."""
    return validate_citizen_id(value, today) is None


def sex_from_sequence(sequence: int) -> Sex:
    """Return the sex a citizen-ID sequence number (0..999) encodes: odd male, even female."""
    return Sex.MALE if sequence % 2 else Sex.FEMALE


def citizen_id_sex(value: str) -> Sex:
    """Return the sex encoded in a valid citizen ID (parity of the 17th digit)."""
    normalised = normalise_identifier(value)
    problem = validate_citizen_id(normalised)
    if problem is not None:
        raise ValueError(problem.message)
    return sex_from_sequence(int(normalised[16]))


def citizen_id_birth_date(value: str) -> date:
    """Return the date of birth encoded in a valid citizen ID."""
    normalised = normalise_identifier(value)
    problem = validate_citizen_id(normalised)
    if problem is not None:
        raise ValueError(problem.message)
    birth = _parse_birth_date(normalised[6:14])
    assert birth is not None  # validated above
    return birth


def make_citizen_id(division_code: str, birth: date, sequence: int) -> str:
    """Build a citizen ID from a 6-digit division code, a birth date and a sequence 0..999."""
    if len(division_code) != 6 or _first_not_in(division_code, _DIGITS) is not None:
        raise ValueError(f"division code must be 6 digits, got {division_code!r}")
    if not 0 <= sequence <= 999:
        raise ValueError(f"sequence must be in 0..999, got {sequence}")
    if not 1000 <= birth.year <= 9999:
        raise ValueError(f"birth year must have four digits, got {birth.year}")
    first17 = f"{division_code}{birth:%Y%m%d}{sequence:03d}"
    return first17 + citizen_id_check_char(first17)


# --- unified social credit code (GB 32100) and organisation code (GB 11714) ------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS: tuple[int, ...] = tuple(pow(3, i, 31) for i in range(17))
ORGANISATION_CODE_WEIGHTS: tuple[int, ...] = (3, 7, 9, 10, 5, 8, 4, 2)
_ORGANISATION_BODY_ALPHABET = _DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# Registration-authority code + entity-type code pairs from GB 32100-2015 table 1 (and the later
# additions for the Central Military Commission and rural collective economic organisations).
KNOWN_USCC_PREFIXES: frozenset[str] = frozenset(
    {
        "11", "12", "13", "19",  # 机构编制: 机关, 事业单位, 中央编办管理的群众团体, 其他
        "21", "29",  # 外交: 外国常驻新闻机构, 其他
        "31", "32", "33", "34", "35", "39",  # 司法行政: 律所, 公证处, 基层法服所, 鉴定, 仲裁, 其他
        "41", "49",  # 文化: 外国在华文化中心, 其他
        "51", "52", "53", "59",  # 民政: 社会团体, 民办非企业单位, 基金会, 其他
        "61", "62", "69",  # 旅游: 外国旅游部门常驻代表机构, 港澳台旅游部门常驻代表机构, 其他
        "71", "72", "79",  # 宗教: 宗教活动场所, 宗教院校, 其他
        "81", "89",  # 工会: 基层工会, 其他
        "91", "92", "93",  # 工商 (市场监管): 企业, 个体工商户, 农民专业合作社
        "A1", "A9",  # 中央军委改革和编制办公室: 军队事业单位, 其他
        "N1", "N2", "N3", "N9",  # 农业农村: 组级, 村级, 乡镇级集体经济组织, 其他
        "Y1",  # 其他
    }
)  # fmt: skip


def _uscc_value(char: str) -> int:
    return USCC_ALPHABET.index(char)


def organisation_code_check_char(body8: str) -> str:
    """Return the GB 11714 check character ('0'-'9' or 'X') for an 8-character body."""
    if len(body8) != 8 or _first_not_in(body8, _ORGANISATION_BODY_ALPHABET) is not None:
        raise ValueError(f"expected 8 digits or upper-case letters, got {body8!r}")
    total = sum(
        (int(char) if char.isdigit() else ord(char) - 55) * weight
        for char, weight in zip(body8, ORGANISATION_CODE_WEIGHTS, strict=True)
    )
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def uscc_check_char(first17: str) -> str:
    """Return the GB 32100 check character for the first 17 characters of a USCC."""
    if len(first17) != 17 or _first_not_in(first17, USCC_ALPHABET) is not None:
        raise ValueError(f"expected 17 characters from the USCC alphabet, got {first17!r}")
    total = sum(
        _uscc_value(char) * weight for char, weight in zip(first17, USCC_WEIGHTS, strict=True)
    )
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(value: str) -> IdentifierProblem | None:
    """Return the first problem with a unified social credit code, or None if it is valid."""
    normalised = normalise_identifier(value)
    if len(normalised) != 18:
        return IdentifierProblem(
            "wrong_length",
            f"长度错误 (wrong length): expected 18 characters, got {len(normalised)}",
        )
    bad = _first_not_in(normalised, USCC_ALPHABET)
    if bad is not None:
        return IdentifierProblem(
            "invalid_character",
            f"含有非法字符 (invalid character): {normalised[bad]!r} at position {bad + 1}",
            bad + 1,
        )
    bad = _first_not_in(normalised[2:8], _DIGITS)
    if bad is not None:
        return IdentifierProblem(
            "invalid_division_code",
            f"行政区划码须为数字 (division code must be digits): {normalised[2:8]}",
            bad + 3,
        )
    expected_org = organisation_code_check_char(normalised[8:16])
    if normalised[16] != expected_org:
        return IdentifierProblem(
            "bad_organisation_code_check",
            "组织机构代码校验码错误 (bad organisation-code check character): "
            f"expected {expected_org}, got {normalised[16]}",
            17,
        )
    expected = uscc_check_char(normalised[:17])
    if normalised[17] != expected:
        return IdentifierProblem(
            "bad_check_character",
            f"校验码错误 (bad check character): expected {expected}, got {normalised[17]}",
            18,
        )
    return None


def is_valid_uscc(value: str) -> bool:
    """Return True if the unified social credit code passes every check."""
    return validate_uscc(value) is None


def uscc_warnings(value: str) -> list[str]:
    """Return non-fatal remarks about a USCC, such as an unknown authority/type prefix."""
    normalised = normalise_identifier(value)
    prefix = normalised[:2]
    if len(prefix) == 2 and prefix not in KNOWN_USCC_PREFIXES:
        return [
            "登记管理部门和机构类别代码不在国标表中 "
            f"(unknown registration authority and entity type): {prefix}"
        ]
    return []


def make_uscc(authority_and_type: str, division_code: str, org_body8: str) -> str:
    """Build a USCC from a 2-character prefix, a 6-digit division code and an 8-char body."""
    if len(authority_and_type) != 2 or _first_not_in(authority_and_type, USCC_ALPHABET) is not None:
        raise ValueError(f"prefix must be 2 USCC characters, got {authority_and_type!r}")
    if len(division_code) != 6 or _first_not_in(division_code, _DIGITS) is not None:
        raise ValueError(f"division code must be 6 digits, got {division_code!r}")
    if len(org_body8) != 8 or _first_not_in(org_body8, USCC_ALPHABET) is not None:
        raise ValueError(f"organisation body must be 8 USCC characters, got {org_body8!r}")
    first17 = (
        authority_and_type + division_code + org_body8 + organisation_code_check_char(org_body8)
    )
    return first17 + uscc_check_char(first17)
