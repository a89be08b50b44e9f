"""Header rows of uploaded sheets and CSV/TSV files: where the header is and what it names.

A department's file may open with a title, put the header a few rows down, wrap a name over
two lines, or stack two rows of merged cells into one header. The first rows are searched for
the row (or stacked pair) that names the most columns; its names are cleaned, and a header
with an empty or repeated name is refused, naming the column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from openpyxl.utils import get_column_letter

from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.tabular import HEADER_SCAN, cell_text, file_error, join_header

__all__ = ["clean_cell", "detect_header", "only_header"]

_NOT_A_NAME = re.compile(r"[\d\s.,:/%+\-年月日时分秒]*")  # numbers, dates and times
_BREAK = re.compile(r"\s*\n\s*")
_WIDE_CHAR = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]")
_SPACE_RUN = re.compile(r"\s+")
_WIDE_GAP = re.compile(r"(?<=[\u2e80-\u9fff\uf900-\ufaff])\s+(?=[\u2e80-\u9fff\uf900-\ufaff])")


def clean_cell(text: str) -> str:
    """Header text: trimmed, full-width folded, a wrapped header's lines joined."""
    text = cell_text(text.replace("\u00a0", " "))
    if "\n" in text:
        parts = _BREAK.split(text)
        text = parts[0]
        for part in parts[1:]:
            wide = _WIDE_CHAR.match(text[-1:]) or _WIDE_CHAR.match(part[:1])
            text += part if wide else f" {part}"
    # "姓　名" (spaced out to line up in a form) is 姓名; "Phone  number" keeps one space.
    return _SPACE_RUN.sub(" ", _WIDE_GAP.sub("", text))


def _name_of(text: str) -> str | None:
    """A cell that could be a column name: text, not a number or a date."""
    return text if text and not _NOT_A_NAME.fullmatch(text) else None


def _joined(upper: Sequence[str], lower: Sequence[str]) -> list[str]:
    """A two-row header as one: the lower cell, else the merged cell above spanning down.

    Repeated lower names ("收入" under both "2023年" and "2024年") take the merged cell above
    them as a prefix: "2023年收入", "2024年收入".
    """
    repeated = {text for text in lower if text and list(lower).count(text) > 1}
    return join_header(upper, lower, lambda text: text not in repeated)


def _stacked(upper: Sequence[str], lower: Sequence[str]) -> bool:
    """Whether two rows look like one header of merged cells (not a header and a data row).

    The lower row holds only names, sits under empty (horizontally merged) cells of the upper
    row, and either leaves some upper cell alone (merged down) or the upper row is mostly empty.
    """
    width = max(len(upper), len(lower))
    cells = [
        (upper[i] if i < len(upper) else "", lower[i] if i < len(lower) else "")
        for i in range(width)
    ]
    if any(low and _name_of(low) is None for _, low in cells):
        return False
    across = any(low and not up for up, low in cells)
    down = any(up and not low for up, low in cells)
    filled = sum(1 for up, _ in cells if up)
    return across and (down or 2 * filled <= width)


def _find_header(top: Sequence[Sequence[str]]) -> tuple[int, int, list[str]] | None:
    """The row or stacked row pair among the first that names the most columns.

    On a tie a single row beats a pair and an earlier row a later one, so a title row above a
    header, or text data below it, does not win. (``tabular.find_header`` suits known
    vocabularies; with any text a name, its joins would take a data row for a second row.)
    """
    best: tuple[tuple[int, bool, int], int, int, list[str]] | None = None
    for index in range(min(HEADER_SCAN, len(top))):
        options = [(1, list(top[index]))]
        if index + 1 < len(top) and _stacked(top[index], top[index + 1]):
            options.append((2, _joined(top[index], top[index + 1])))
        for height, names in options:
            named = sum(1 for name in names if _name_of(name) is not None)
            score = (named, height == 1, -index)
            if named and (best is None or score > best[0]):
                best = (score, index, height, names)
    return None if best is None else best[1:]


def detect_header(
    top: Sequence[Sequence[str]], *, filename: str, sheet: str = ""
) -> tuple[int, int, list[str]]:
    """(first header row, header height, column names), refusing empty and repeated names."""
    found = _find_header(top)
    if found is None:
        message = (
            f"前 {HEADER_SCAN} 行没有表头 (no header row in the first {HEADER_SCAN} rows: "
            "a header names the columns with text)"
        )
        raise file_error(filename, message, sheet=sheet)
    index, height, names = found
    while names and not names[-1]:
        names.pop()
    row = index + height
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        column = get_column_letter(position + 1)
        if not name:
            message = f"第 {column} 列没有表头 (column {column} has no header)"
            raise file_error(filename, message, sheet=sheet, row=row, column=column)
        earlier = seen.setdefault(name.casefold(), position)
        if earlier != position:
            first = get_column_letter(earlier + 1)
            message = (
                f"第 {first} 列和第 {column} 列的表头都是“{name}” "
                f"(columns {first} and {column} are both headed {name!r})"
            )
            raise file_error(filename, message, sheet=sheet, row=row, column=f"{first}, {column}")
    return index, height, names


def only_header(filename: str, sheet: str = "") -> InvalidInput:
    """The refusal of a file (or sheet) with a header but no data rows."""
    return file_error(filename, "只有表头，没有数据行 (a header but no data rows)", sheet=sheet)
