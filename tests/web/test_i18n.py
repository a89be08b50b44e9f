"""Message catalogs: every string the pages show has an English translation, every keyed
label has a Chinese one, and the language is picked from ``?lang``, the cookie or the
``Accept-Language`` header."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from jinja2 import nodes

from gongshu.bootstrap import Platform
from gongshu.catalog.vocab import (
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
    STATUS_LABELS,
    THEMES,
    TYPE_LABELS,
)
from gongshu.identity.models import DeliveryMode, GrantStatus, OrgKind, Role
from gongshu.identity.pages import CONSOLE_CHARTS, CONSOLE_TILES
from gongshu.web.app import TEMPLATES, Renderer
from gongshu.web.i18n import LOCALE_DIR, load_translations
from tests.factories import PASSWORD, build_city, make_grant

# The catalogue's coded values: their Chinese labels live in catalog.vocab, once.
CATALOG_LABELS: dict[str, dict[str, str]] = {
    "目录状态:": dict(STATUS_LABELS),
    "目录类型:": dict(KIND_LABELS),
    "共享属性:": dict(SHARE_LABELS),
    "开放属性:": dict(OPEN_LABELS),
    "分级:": dict(GRADE_LABELS),
    "更新频率:": dict(FREQUENCY_LABELS),
    "数据格式:": dict(FORMAT_LABELS),
    "分类:": {code: label for code, (label, _english) in THEMES.items()},
    "共享方式:": dict(DELIVERY_LABELS),
    "字段类型:": dict(TYPE_LABELS),
    "数据项标记:": dict(FLAG_LABELS),
    "影响对象:": dict(IMPACT_LABELS),
    "影响程度:": dict(HARM_LABELS),
}
# Labels the templates build at run time: ``_("角色:" + role)`` and so on, with every value.
KEYED: dict[str, tuple[str, ...]] = {
    "角色:": tuple(Role),
    "机构类型:": tuple(OrgKind),
    "授权状态:": tuple(GrantStatus),
    "方式:": tuple(DeliveryMode),
    **{prefix: tuple(str(code) for code in labels) for prefix, labels in CATALOG_LABELS.items()},
}
# Variables the templates translate whose values come from CONSOLE_TILES.
TILE_VARIABLES = {"title", "description"}
# The same options the renderer gives its Jinja environment.
EXTRACT_OPTIONS = {"extensions": "jinja2.ext.i18n", "trim_blocks": "True", "lstrip_blocks": "True"}
GETTEXT_NAMES = {"_", "gettext"}
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")


# ------------------------------------------------------------------ what must be translated


def template_messages() -> dict[str, list[str]]:
    """Every literal message in the templates, with where it is used."""
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(TEMPLATES),
        method_map=[("**.html", "jinja2.ext.babel_extract")],
        options_map={"**.html": EXTRACT_OPTIONS},
    ):
        assert isinstance(message, str), (filename, lineno, message)
        found.setdefault(message, []).append(f"{filename}:{lineno}")
    return found


def tile_messages() -> set[str]:
    """Titles and descriptions of every role's console tiles."""
    tiles = {text for tiles in CONSOLE_TILES.values() for t, d, _link in tiles for text in (t, d)}
    return tiles | {title for title, _prefix, _link in CONSOLE_CHARTS.values()}


def keyed_labels() -> set[str]:
    """Every label the templates can build from an enum value."""
    return {prefix + value for prefix, values in KEYED.items() for value in values}


def required_messages() -> set[str]:
    return set(template_messages()) | tile_messages() | keyed_labels()


def read_catalog(language: str) -> Catalog:
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        catalog: Catalog = read_po(fh, locale=language, abort_invalid=True)
    return catalog


def entries(catalog: Catalog) -> dict[str, str]:
    """msgid → msgstr of the catalog's messages (the header left out)."""
    return {str(m.id): str(m.string) for m in catalog if m.id}


def _gettext_calls(template: Path) -> Iterator[nodes.Call]:
    env = Renderer("zh").env
    tree = env.parse(template.read_text(encoding="utf-8"), template.name, str(template))
    for call in tree.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name in GETTEXT_NAMES:
            yield call


# ------------------------------------------------------------------ extraction


def test_chart_labels_are_keyed_labels() -> None:
    assert all(prefix in KEYED for _title, prefix, _link in CONSOLE_CHARTS.values())


def test_extraction_reads_the_templates() -> None:
    found = template_messages()
    assert len(found) > 50
    assert "登录" in found
    assert any(loc.startswith("login.html:") for loc in found["登录"])


def test_every_gettext_call_is_extracted_or_a_known_dynamic_label() -> None:
    """A dynamic ``_()`` no test knows about would escape the completeness checks below."""
    literals: set[str] = set()
    unknown: list[str] = []
    for template in sorted(TEMPLATES.glob("*.html")):
        for call in _gettext_calls(template):
            where = f"{template.name}:{call.lineno}"
            if len(call.args) != 1 or call.kwargs or call.dyn_args or call.dyn_kwargs:
                unknown.append(f"{where}: gettext with other than one positional argument")
                continue
            arg = call.args[0]
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                literals.add(arg.value)
            elif (
                (
                    isinstance(arg, nodes.Add)
                    and isinstance(arg.left, nodes.Const)
                    and arg.left.value in KEYED
                )
                or (
                    template.name == "console.html"
                    and isinstance(arg, nodes.Name)
                    and arg.name in TILE_VARIABLES
                )
                or (
                    # The chart macro: its title and bar labels come from CONSOLE_CHARTS.
                    template.name == "_charts.html"
                    and (
                        (isinstance(arg, nodes.Name) and arg.name == "title")
                        or (
                            isinstance(arg, nodes.Add)
                            and isinstance(arg.left, nodes.Name)
                            and arg.left.name == "label_prefix"
                        )
                    )
                )
            ):
                pass
            else:
                unknown.append(f"{where}: {arg!r}")
    assert not unknown, "dynamic messages the catalog tests do not cover:\n" + "\n".join(unknown)
    assert literals == set(template_messages())


# ------------------------------------------------------------------ the catalogs themselves


@pytest.mark.parametrize(("language", "nplurals"), [("en", 2), ("zh", 1)])
def test_catalog_parses_with_a_proper_header(language: str, nplurals: int) -> None:
    catalog = read_catalog(language)
    headers = dict(catalog.mime_headers)
    assert headers["Language"] == language
    assert headers["Content-Type"].lower().replace(" ", "") == "text/plain;charset=utf-8"
    assert headers["Content-Transfer-Encoding"] == "8bit"
    assert headers["Plural-Forms"].startswith(f"nplurals={nplurals};")
    assert catalog.num_plurals == nplurals
    assert not catalog.fuzzy, "the header is marked fuzzy"


def test_english_translates_every_message() -> None:
    catalog = read_catalog("en")
    missing = sorted(
        m
        for m in required_messages()
        if (entry := catalog.get(m)) is None or not str(entry.string).strip()
    )
    assert not missing, "no English translation for:\n" + "\n".join(missing)


def test_english_has_no_fuzzy_entries_and_no_obsolete_entry_still_in_use() -> None:
    catalog = read_catalog("en")
    fuzzy = sorted(str(m.id) for m in catalog if m.id and m.fuzzy)
    assert not fuzzy, f"fuzzy entries are ignored at run time: {fuzzy}"
    revived = sorted(set(catalog.obsolete) & required_messages())
    assert not revived, f"used again but still marked obsolete (#~): {revived}"


def test_english_has_no_stale_entries() -> None:
    stale = sorted(set(entries(read_catalog("en"))) - required_messages())
    assert not stale, f"no longer used anywhere; remove them: {stale}"


def test_english_translations_are_english() -> None:
    untranslated = {
        msgid: text for msgid, text in entries(read_catalog("en")).items() if CJK.search(text)
    }
    assert not untranslated


def _fields(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_translations_keep_placeholders(language: str) -> None:
    # ``translate(message, **values)`` formats the translation with the source's fields.
    broken = {
        msgid: text
        for msgid, text in entries(read_catalog(language)).items()
        if _fields(msgid) != _fields(text)
    }
    assert not broken


def test_chinese_translates_every_keyed_label() -> None:
    catalog = read_catalog("zh")
    problems = []
    for label in sorted(keyed_labels()):
        entry = catalog.get(label)
        if entry is None or not str(entry.string).strip():
            problems.append(f"{label}: missing")
        elif entry.fuzzy:
            problems.append(f"{label}: fuzzy")
        elif not CJK.search(str(entry.string)) and not _latin_in_vocabulary(label):
            problems.append(f"{label}: {entry.string!r} is not Chinese")
    assert not problems, "\n".join(problems)


def _latin_in_vocabulary(label: str) -> bool:
    """Catalogue labels such as 数据格式:csv are "CSV" in Chinese too (catalog.vocab says so)."""
    prefix, _, code = label.partition(":")
    vocabulary = CATALOG_LABELS.get(prefix + ":", {})
    return code in vocabulary and not CJK.search(vocabulary[code])


def test_chinese_catalog_holds_only_keyed_labels() -> None:
    # Chinese is the source language: anything else in zh would silently override a msgid.
    assert set(entries(read_catalog("zh"))) == keyed_labels()


def test_chinese_keyed_labels_follow_the_architecture() -> None:
    zh = load_translations().for_language("zh")
    assert zh("角色:bureau_admin") == "数据管理部门管理员"
    assert zh("角色:security_officer") == "安全保密员"
    assert zh("机构类型:street") == "街道（乡镇）"
    assert zh("授权状态:suspended") == "已暂停"
    assert zh("方式:sandbox") == "沙箱（可用不可见）"


def test_chinese_catalogue_labels_are_the_vocabularys() -> None:
    # The po file repeats catalog.vocab's labels; they must never drift apart.
    zh = load_translations().for_language("zh")
    drifted = [
        f"{prefix}{code}: {zh(prefix + str(code))!r} != {label!r}"
        for prefix, labels in CATALOG_LABELS.items()
        for code, label in labels.items()
        if zh(prefix + str(code)) != label
    ]
    assert not drifted, "\n".join(drifted)


def test_english_theme_labels_are_the_vocabularys() -> None:
    en = load_translations().for_language("en")
    assert {code: en("分类:" + code) for code in THEMES} == {
        code: english for code, (_label, english) in THEMES.items()
    }


def test_loader_sees_every_translation() -> None:
    translations = load_translations()
    assert required_messages() <= set(translations.messages("en"))
    assert keyed_labels() <= set(translations.messages("zh"))
    en = translations.for_language("en")
    assert en("登录") == "Sign in"
    assert en("角色:auditor") == "Auditor"
    assert translations.for_language("zh")("登录") == "登录"


# ------------------------------------------------------------------ pages in each language


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


@pytest.mark.parametrize(
    ("params", "headers", "language"),
    [
        ({}, {}, "zh"),
        ({"lang": "en"}, {}, "en"),
        ({}, {"Accept-Language": "en"}, "en"),
        ({}, {"Accept-Language": "en-GB,en;q=0.9"}, "en"),
        ({}, {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}, "zh"),
        ({"lang": "zh"}, {"Accept-Language": "en"}, "zh"),
    ],
    ids=["default", "query", "header", "header-region", "header-zh", "query-beats-header"],
)
def test_login_page_language(
    platform: Platform, params: dict[str, str], headers: dict[str, str], language: str
) -> None:
    client = TestClient(platform.app)
    response = client.get("/login", params=params, headers=headers)
    assert response.status_code == 200
    html = response.text
    if language == "en":
        assert '<html lang="en">' in html
        assert "<h1>Sign in</h1>" in html
        assert "Username" in html and "Password" in html
        assert "用户名" not in html
    else:
        assert '<html lang="zh-CN">' in html
        assert "<h1>登录</h1>" in html
        assert "用户名" in html
        assert "Sign in" not in html


def test_language_choice_is_remembered(platform: Platform) -> None:
    client = TestClient(platform.app)
    first = client.get("/login", params={"lang": "en"})
    assert first.cookies.get("gongshu_lang") == "en"
    assert "<h1>Sign in</h1>" in client.get("/login").text
    assert "<h1>登录</h1>" in client.get("/login", params={"lang": "zh"}).text
    assert "<h1>登录</h1>" in client.get("/login", headers={"Accept-Language": "en"}).text
    # An unknown language is ignored rather than stored.
    assert "gongshu_lang" not in client.get("/login", params={"lang": "xx"}).cookies


def test_language_switch_keeps_the_query(platform: Platform) -> None:
    client = TestClient(platform.app)
    html = client.get("/login", params={"next": "/console/grants"}).text
    assert 'href="?next=%2Fconsole%2Fgrants&amp;lang=en"' in html


def _signed_in(platform: Platform) -> TestClient:
    client = TestClient(platform.app)
    token = _csrf(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": token, "next": "/console"},
    )
    assert response.status_code == 200
    assert response.url.path == "/console"
    return client


def test_console_labels_in_both_languages(platform: Platform) -> None:
    build_city(platform)
    client = _signed_in(platform)
    zh = client.get("/console", params={"lang": "zh"}).text
    assert "数据管理部门管理员" in zh
    assert "用户与角色" in zh
    en = client.get("/console", params={"lang": "en"}).text
    assert "<h1>Console · 管理员</h1>" in en
    assert "Data bureau administrator" in en
    assert "Users and roles" in en
    assert "Catalogue governance" in en and 'href="/console/catalog/review"' in en
    for html in (zh, en):
        for prefix in KEYED:
            assert prefix not in html, prefix


def test_grant_and_organisation_labels_in_both_languages(platform: Platform) -> None:
    city = build_city(platform)
    make_grant(platform, city.admin)
    client = _signed_in(platform)
    zh = client.get("/console/grants", params={"lang": "zh"}).text
    assert "接口调用" in zh and ">有效" in zh and "沙箱（可用不可见）" in zh
    en = client.get("/console/grants", params={"lang": "en"}).text
    assert "API calls" in en and ">Active" in en and "Sandbox (usable, not visible)" in en
    orgs_zh = client.get("/console/organisations", params={"lang": "zh"}).text
    assert "市级部门" in orgs_zh and "街道（乡镇）" in orgs_zh
    orgs_en = client.get("/console/organisations", params={"lang": "en"}).text
    assert "Municipal department" in orgs_en and "Street (township)" in orgs_en
    for html in (zh, en, orgs_zh, orgs_en):
        for prefix in KEYED:
            assert prefix not in html, prefix
