"""A readable difference between two versions of an entry's document.

Attributes are compared one by one; text is diffed character by character (Chinese has no
spaces to diff words by) and shown with ``<del>``/``<ins>``; lists of keywords and data items
are compared as sets keyed by name, so a reordering is not reported as a change.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

__all__ = ["Change", "FieldChange", "diff_documents", "inline_diff"]

# Attribute order and the keys that are lists of names, not text.
ATTRIBUTES = (
    "name", "kind", "summary", "keywords", "provider", "district", "format", "update_frequency",
    "share_type", "share_conditions", "delivery", "legal_basis", "open_type", "open_conditions",
    "theme", "impact", "grade", "grade_reason", "related", "duty", "system", "table",
)  # fmt: skip
_SET_KEYS = {"keywords", "delivery", "related"}


@dataclass(frozen=True)
class FieldChange:
    """A data item added, removed or changed between versions."""

    name: str
    kind: str  # added | removed | changed
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class Change:
    """One attribute that differs: text as inline markup, lists as added/removed items."""

    key: str
    old: str
    new: str
    inline: Markup | None = None
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    fields: tuple[FieldChange, ...] = field(default_factory=tuple)


def inline_diff(old: str, new: str) -> Markup:
    """Character-level diff of two texts as HTML with <del> and <ins>."""
    out: list[str] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            out.append(str(escape(old[a0:a1])))
            continue
        if op in ("delete", "replace"):
            out.append(f"<del>{escape(old[a0:a1])}</del>")
        if op in ("insert", "replace"):
            out.append(f"<ins>{escape(new[b0:b1])}</ins>")
    return Markup("".join(out))  # noqa: S704  (every piece above is escaped)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict) and "name" in value:
        return str(value.get("name") or "")
    if isinstance(value, dict):
        return "；".join(f"{k}:{v}" for k, v in sorted(value.items()))
    if isinstance(value, list):
        return "、".join(str(item) for item in value)
    return str(value)


def _field_changes(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[FieldChange]:
    before = {item["name"]: item for item in old}
    after = {item["name"]: item for item in new}
    changes = [FieldChange(name, "removed") for name in before if name not in after]
    for name, item in after.items():
        if name not in before:
            changes.append(FieldChange(name, "added"))
            continue
        details = tuple(
            f"{key}: {_text(before[name].get(key))} → {_text(item.get(key))}"
            for key in ("type", "description", "element_code", "flags")
            if before[name].get(key) != item.get(key)
        )
        if details:
            changes.append(FieldChange(name, "changed", details))
    return changes


def diff_documents(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Every attribute that differs between two entry documents, in display order."""
    changes: list[Change] = []
    for key in ATTRIBUTES:
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key in _SET_KEYS:
            a_items, b_items = list(a or []), list(b or [])
            if set(a_items) == set(b_items):
                continue
            changes.append(
                Change(
                    key,
                    _text(a),
                    _text(b),
                    added=tuple(i for i in b_items if i not in a_items),
                    removed=tuple(i for i in a_items if i not in b_items),
                )
            )
            continue
        old_text, new_text = _text(a), _text(b)
        changes.append(Change(key, old_text, new_text, inline=inline_diff(old_text, new_text)))
    field_changes = _field_changes(old.get("fields") or [], new.get("fields") or [])
    if field_changes:
        changes.append(Change("fields", "", "", fields=tuple(field_changes)))
    return changes
