"""Match a file's columns to the entry's fields, by name or alias, and say what did not match.

Names are compared after folding what departments' files vary in: full-width letters and
digits, spaces, case, brackets and the marks people add to headers (``*`` for required,
``（必填）``, a trailing colon). Two columns that land on the same field are an error naming
both; columns that match nothing and fields that no column fills are reported, not fatal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.identifiers import full_width_to_half_width

__all__ = ["ColumnMapping", "fold_name", "map_columns"]

_NOISE = re.compile(r"[\s\u3000*＊:：()（）\[\]【】<>《》\"'“”‘’_\-·.,，、/\\|]+")
_MARKS = re.compile(r"[(（【\[](必填|选填|必须|可选|required|optional)[)）】\]]", re.IGNORECASE)


def fold_name(name: str) -> str:
    """The form two names are compared in."""
    text = full_width_to_half_width(name)
    text = _MARKS.sub("", text)
    return _NOISE.sub("", text).lower()


@dataclass(frozen=True)
class ColumnMapping:
    """Which source column (by position) fills each field, and what matched nothing."""

    sources: dict[str, int]
    unmapped: tuple[str, ...]
    missing: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        """The mapping as the ingest report shows it."""
        return {
            "sources": dict(self.sources),
            "unmapped": list(self.unmapped),
            "missing": list(self.missing),
        }


def map_columns(
    headers: Sequence[str],
    fields: Sequence[str],
    *,
    aliases: Mapping[str, Sequence[str]] | None = None,
    filename: str = "",
) -> ColumnMapping:
    """Map ``headers`` to ``fields``; an error when nothing matches or two columns collide."""
    wanted: dict[str, str] = {}
    for name in fields:
        for alias in [name, *(aliases or {}).get(name, ())]:
            key = fold_name(alias)
            if key and wanted.setdefault(key, name) != name:
                raise InvalidInput.field(
                    f"aliases.{name}",
                    f"别名“{alias}”同时指向“{wanted[key]}”和“{name}” "
                    f"(alias {alias!r} names two fields)",
                )
    sources: dict[str, int] = {}
    unmapped: list[str] = []
    for position, header in enumerate(headers):
        found = wanted.get(fold_name(header))
        if found is None:
            unmapped.append(header)
            continue
        name = found
        if name in sources:
            first = headers[sources[name]]
            raise InvalidInput.field(
                "columns",
                f"{filename}：第 {sources[name] + 1} 列“{first}”和第 {position + 1} 列“{header}”"
                f"都对应数据项“{name}” (columns {sources[name] + 1} and {position + 1} both "
                f"fill field {name!r})",
            )
        sources[name] = position
    if not sources:
        raise InvalidInput.field(
            "columns",
            f"{filename}：没有一列与目录的数据项对应；文件的列为 {'、'.join(headers[:20])}，"
            f"目录的数据项为 {'、'.join(fields[:20])} (no column matches a field of the entry)",
        )
    missing = tuple(name for name in fields if name not in sources)
    return ColumnMapping(sources=sources, unmapped=tuple(unmapped), missing=missing)
