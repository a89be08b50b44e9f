"""Message catalogs: Chinese is the source language, English is a real gettext catalog.

Catalogs are read from ``locale/<lang>/LC_MESSAGES/messages.po`` with Babel once at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from babel.messages.pofile import read_po

__all__ = ["LANGUAGES", "Translations", "load_translations"]

LANGUAGES = {"zh": "中文", "en": "English"}
LOCALE_DIR = Path(__file__).parent / "locale"


class Translations:
    """Look up a message in a language; missing messages fall back to the Chinese source."""

    def __init__(self, catalogs: dict[str, dict[str, str]]) -> None:
        self._catalogs = catalogs

    def gettext(self, language: str, message: str) -> str:
        """``message`` translated into ``language``."""
        return self._catalogs.get(language, {}).get(message) or message

    def for_language(self, language: str) -> Callable[[str], str]:
        """A ``_`` function bound to one language, for templates."""
        catalog = self._catalogs.get(language, {})

        def translate(message: str, **values: object) -> str:
            text = catalog.get(message) or message
            return text.format(**values) if values else text

        return translate

    def messages(self, language: str) -> dict[str, str]:
        """Every translated message of a language."""
        return dict(self._catalogs.get(language, {}))


def load_translations(directory: Path = LOCALE_DIR) -> Translations:
    """Read every catalog under ``directory``."""
    catalogs: dict[str, dict[str, str]] = {}
    for po in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        language = po.parent.parent.name
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=language)
        catalogs[language] = {
            str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy
        }
    return (catalogs and Translations(catalogs)) or Translations({})
