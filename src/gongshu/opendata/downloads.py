"""Downloads of open data: CSV (UTF-8 with BOM, Chinese headers), XLSX, JSON, Parquet, and the
Frictionless Data Package (``datapackage.json`` and ``datapackage.zip``).

A download holds exactly the fields (and rows, under a grant's row filter) the caller may read,
so it is cut from the version's Parquet file by DuckDB — never the stored file itself. The cut
is kept under ``<lake>/open/downloads`` named by a digest of what went into it (version file,
fields, row filter, format), so the second download of the same thing is a file send. Files are
written in scratch space and renamed into place: a file under its final name is complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import threading
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from urllib.parse import quote as url_quote

import openpyxl
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from gongshu.catalog.vocab import FieldType
from gongshu.datastore.duck import quote, sql_string
from gongshu.datastore.lake import Lake
from gongshu.opendata.access import OpenAccess
from gongshu.opendata.errors import DataNotAvailable, FormatNotAvailable
from gongshu.opendata.rows import where_sql

__all__ = [
    "DOWNLOAD_FORMATS",
    "LICENSE",
    "MEDIA_TYPES",
    "XLSX_MAX_ROWS",
    "DownloadFiles",
    "content_disposition",
    "data_package",
    "package_name",
]

DOWNLOAD_FORMATS = ("csv", "xlsx", "json", "parquet")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
    "zip": "application/zip",
}
XLSX_MAX_ROWS = 1_048_575  # one sheet, below the header
LICENSE = {
    "name": "CC-BY-4.0",
    "title": "Creative Commons Attribution 4.0",
    "path": "https://creativecommons.org/licenses/by/4.0/",
}
_BOM = b"\xef\xbb\xbf"
_LAYOUT = 1  # bump when the files' layout changes, so old cuts are not served
_TABLE_SCHEMA_TYPES = {
    FieldType.STRING: "string",
    FieldType.INTEGER: "integer",
    FieldType.DECIMAL: "number",
    FieldType.MONEY: "number",
    FieldType.DATE: "date",
    FieldType.DATETIME: "datetime",
    FieldType.BOOLEAN: "boolean",
    FieldType.BINARY: "string",
}

Connect = Callable[[], AbstractContextManager[Any]]


def package_name(access: OpenAccess) -> str:
    """A Data Package name (lower case, ``[-a-z0-9._/]``) from the resource code."""
    name = re.sub(r"[^-a-z0-9._]", "-", access.entry.resource_code.lower()).strip("-")
    return name or access.entry.id.lower()


def content_disposition(access: OpenAccess, extension: str, *, suffix: str = "") -> str:
    """``attachment`` with an ASCII fallback and the Chinese name (RFC 6266 / 5987)."""
    ascii_name = f"{package_name(access)}{suffix}.{extension}"
    full = f"{access.entry.name}-v{access.version.number}{suffix}.{extension}"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{url_quote(full)}"


class DownloadFiles:
    """Builds and keeps the download files of open versions."""

    def __init__(self, lake: Lake, connect: Connect) -> None:
        self.lake = lake
        self.connect = connect
        self.root = lake.root / "open" / "downloads"
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._checksums: dict[Path, str] = {}

    def checksum(self, path: Path) -> str:
        """The SHA-256 of a download file (files never change, so it is computed once)."""
        known = self._checksums.get(path)
        if known is None:
            known = _sha256(path)
            with self._lock:
                self._checksums[path] = known
        return known

    def _digest(self, access: OpenAccess, fmt: str) -> str:
        recipe = [
            _LAYOUT,
            access.version.file_hash,
            fmt,
            [[f.name, f.type] for f in access.fields],
            access.row_filter,
        ]
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()

    def file_for(self, access: OpenAccess, fmt: str) -> Path:
        """The download file in ``fmt`` (csv, xlsx, json, parquet), built on first request."""
        if fmt == "xlsx" and access.version.rows > XLSX_MAX_ROWS:
            raise FormatNotAvailable(
                f"数据超过 {XLSX_MAX_ROWS} 行，请下载 CSV 或 Parquet "
                f"(more than {XLSX_MAX_ROWS} rows: download CSV or Parquet instead)",
                details=[{"path": "path.format", "message": "too many rows for XLSX"}],
            )
        digest = self._digest(access, fmt)
        target = self.root / digest[:2] / f"{digest}.{fmt}"
        if target.is_file():
            _touch(target)
            return target
        source = self.lake.path_of(access.version.file_hash)
        if not source.is_file():
            raise DataNotAvailable("数据文件缺失 (the version's data file is missing)")
        with self._lock:
            lock = self._locks.setdefault(digest, threading.Lock())
        with lock:
            if not target.is_file():
                self._build(access, fmt, source, target)
        return target

    def prune(self, unused_since: float, sizes: list[int]) -> list[Path]:
        """Delete the download files not asked for since ``unused_since`` (a POSIX time),
        adding their sizes to ``sizes``: each is built again, the same, when next asked for."""
        removed: list[Path] = []
        for path in sorted(self.root.glob("*/*")):
            found = path.stat()
            if path.is_file() and found.st_mtime < unused_since:
                sizes.append(found.st_size)
                path.unlink(missing_ok=True)
                with self._lock:
                    self._checksums.pop(path, None)
                removed.append(path)
        return removed

    def _build(self, access: OpenAccess, fmt: str, source: Path, target: Path) -> None:
        parts, params = where_sql([], access)
        where = f" WHERE {' AND '.join(parts)}" if parts else ""
        columns = ", ".join(quote(f.name) for f in access.fields) or "NULL AS none"
        select = f"SELECT {columns} FROM read_parquet({sql_string(str(source))}){where}"
        target.parent.mkdir(parents=True, exist_ok=True)
        with self.lake.scratch() as work, self.connect() as con:
            staged = work / f"download.{fmt}"
            if fmt == "csv":
                raw = work / "raw.csv"
                con.execute(
                    f"COPY ({select}) TO {sql_string(str(raw))} (FORMAT csv, HEADER true)", params
                )
                # Excel opens UTF-8 reliably only with the byte order mark.
                with staged.open("wb") as out, raw.open("rb") as body:
                    out.write(_BOM)
                    shutil.copyfileobj(body, out, 4 * 1_048_576)
            elif fmt == "json":
                con.execute(
                    f"COPY ({select}) TO {sql_string(str(staged))} (FORMAT json, ARRAY true)",
                    params,
                )
            elif fmt == "parquet":
                options = "FORMAT parquet, COMPRESSION zstd"
                con.execute(f"COPY ({select}) TO {sql_string(str(staged))} ({options})", params)
            else:
                _write_xlsx(con, select, params, [f.name for f in access.fields], staged)
            with staged.open("rb") as handle:
                os.fsync(handle.fileno())
            os.replace(staged, target)

    def package_zip(self, access: OpenAccess, descriptor: dict[str, Any]) -> Path:
        """``datapackage.zip``: the descriptor (pointing at ``data/<name>.csv``) and the CSV."""
        csv_file = self.file_for(access, "csv")
        digest = hashlib.sha256(
            json.dumps([_LAYOUT, csv_file.name, descriptor], sort_keys=True).encode()
        ).hexdigest()
        target = self.root / digest[:2] / f"{digest}.zip"
        if target.is_file():
            _touch(target)
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with self.lake.scratch() as work:
            staged = work / "datapackage.zip"
            with zipfile.ZipFile(staged, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(
                    "datapackage.json", json.dumps(descriptor, ensure_ascii=False, indent=2)
                )
                archive.write(csv_file, descriptor["resources"][0]["path"])
            os.replace(staged, target)
        return target


def _rows(con: Any, select: str, params: list[Any]) -> Iterator[tuple[Any, ...]]:
    con.execute(select, params)
    while batch := con.fetchmany(4096):
        yield from batch


def _cell(sheet: Any, value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        if value.startswith("="):  # text, never a formula
            cell = WriteOnlyCell(sheet, value)
            cell.data_type = "s"
            return cell
    return value


def _write_xlsx(con: Any, select: str, params: list[Any], names: list[str], path: Path) -> None:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("data")
    sheet.append(names)
    for row in _rows(con, select, params):
        sheet.append([_cell(sheet, value) for value in row])
    book.save(path)


def data_package(
    access: OpenAccess,
    *,
    csv_path: str,
    csv_file: tuple[int, str] | None,
    homepage: str,
) -> dict[str, Any]:
    """The Frictionless Data Package descriptor of the dataset's CSV download.

    ``csv_path`` is the CSV's download URL (``datapackage.json``) or its path inside the zip;
    with ``csv_file`` (size, SHA-256) the resource states both, and validators check them.
    """
    entry, version = access.entry, access.version
    fields = [
        {
            "name": f.name,
            "type": _TABLE_SCHEMA_TYPES.get(FieldType(f.type), "string"),
            **({"format": "any"} if f.type == FieldType.DATETIME else {}),
            **({"description": f.description} if f.description else {}),
        }
        for f in access.fields
    ]
    resource: dict[str, Any] = {
        "name": package_name(access),
        "path": csv_path,
        "profile": "tabular-data-resource",
        "title": entry.name,
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "schema": {"fields": fields},
    }
    if csv_file is not None:
        resource["bytes"], digest = csv_file
        resource["hash"] = f"sha256:{digest}"
    return {
        "profile": "tabular-data-package",
        "name": package_name(access),
        "id": entry.id,
        "title": entry.name,
        "description": entry.summary,
        "version": f"{version.number}.0.0",
        "created": version.created_at.isoformat(),
        "homepage": homepage,
        "keywords": list(entry.keywords),
        "licenses": [LICENSE],
        "sources": [{"title": entry.provider_name}],
        "resources": [resource],
    }


def _touch(path: Path) -> None:
    """Mark a download file as used now (its modification time is its last use)."""
    with contextlib.suppress(OSError):
        os.utime(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(4 * 1_048_576):
            digest.update(chunk)
    return digest.hexdigest()
