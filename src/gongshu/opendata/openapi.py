"""A per-dataset OpenAPI 3.1 document: the row endpoint with the dataset's fields and filters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gongshu.catalog.vocab import FieldType
from gongshu.opendata.access import OpenEntry, OpenField
from gongshu.opendata.rows import DEFAULT_SIZE, FORMATS, KEY_PARAMETER, MAX_SIZE, operators_for

__all__ = ["dataset_openapi", "field_schema", "rows_path"]

_SCHEMAS: dict[str, dict[str, Any]] = {
    FieldType.STRING: {"type": "string"},
    FieldType.INTEGER: {"type": "integer", "format": "int64"},
    FieldType.DECIMAL: {"type": "number", "format": "double"},
    FieldType.MONEY: {"type": "number"},
    FieldType.DATE: {"type": "string", "format": "date"},
    FieldType.DATETIME: {"type": "string", "format": "date-time"},
    FieldType.BOOLEAN: {"type": "boolean"},
    FieldType.BINARY: {"type": "string", "contentEncoding": "base64"},
}
_OPERATORS = {
    "exact": "等于 (equals)",
    "gt": "大于 (greater than)",
    "gte": "大于等于 (at least)",
    "lt": "小于 (less than)",
    "lte": "小于等于 (at most)",
    "in": "属于逗号分隔的列表 (one of a comma-separated list)",
    "contains": "包含文本 (contains the text)",
    "isnull": "为空 true / 不为空 false (is null: true or false)",
}


def rows_path(entry_id: str) -> str:
    """The row endpoint's path."""
    return f"/api/v1/open/datasets/{entry_id}/rows"


def field_schema(field: OpenField, *, nullable: bool = True) -> dict[str, Any]:
    """The JSON Schema of a field's values in the JSON output."""
    schema = dict(_SCHEMAS.get(field.type, {"type": "string"}))
    if nullable:
        schema["type"] = [schema["type"], "null"]
    if field.description:
        schema["description"] = field.description
    return schema


def _filters(fields: Sequence[OpenField]) -> list[dict[str, Any]]:
    out = []
    for field in fields:
        for op in operators_for(field):
            if op == "isnull":
                schema: dict[str, Any] = {"type": "boolean"}
            elif op in ("in", "contains"):
                schema = {"type": "string"}
            else:
                schema = field_schema(field, nullable=False)
                schema.pop("description", None)
            out.append(
                {
                    "name": f"{field.name}__{op}",
                    "in": "query",
                    "required": False,
                    "description": f"{field.name}：{_OPERATORS[op]}",
                    "schema": schema,
                }
            )
    return out


def _controls(fields: Sequence[OpenField]) -> list[dict[str, Any]]:
    names = [f.name for f in fields]
    sortable = [n for f, n in zip(fields, names, strict=True) if f.type != FieldType.BINARY]
    return [
        {
            "name": "_sort",
            "in": "query",
            "description": "排序数据项，前加 - 为降序 (sort field; prefix - for descending)",
            "schema": {"type": "string", "enum": [*sortable, *(f"-{n}" for n in sortable)]},
        },
        {
            "name": "_fields",
            "in": "query",
            "description": f"逗号分隔的数据项 (comma-separated fields): {', '.join(names)}",
            "schema": {"type": "string"},
        },
        {
            "name": "_size",
            "in": "query",
            "description": "每页行数 (rows per page)",
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_SIZE,
                "default": DEFAULT_SIZE,
            },
        },
        {
            "name": "_cursor",
            "in": "query",
            "description": "上一页返回的 next_cursor (the next_cursor of the previous page)",
            "schema": {"type": "string"},
        },
        {
            "name": "_format",
            "in": "query",
            "description": "json 分页；csv、ndjson 流式返回全部匹配行 (csv, ndjson: every match)",
            "schema": {"type": "string", "enum": list(FORMATS), "default": "json"},
        },
        {
            "name": "_total",
            "in": "query",
            "description": "总数：估计或精确 (total: estimated or exact)",
            "schema": {"type": "string", "enum": ["estimate", "exact"], "default": "estimate"},
        },
    ]


def _error() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {},
                },
            }
        },
    }


def dataset_openapi(
    entry: OpenEntry, fields: Sequence[OpenField], *, server_url: str, granted: bool
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the dataset's row endpoint, for these fields."""
    version = entry.version.number if entry.version else 0
    conditional = entry.open_type == "conditional"
    note = (
        "有条件开放：需应用密钥所属组织持有有效授权，仅返回授权的数据项。"
        "(Conditionally open: the app key's organisation needs an active grant; only granted "
        "fields are returned.)"
        if conditional
        else "无条件开放 (unconditionally open)."
    )
    if conditional and not granted:
        note += " 此处列出已发布的全部数据项 (this lists every published field)."
    row = {
        "type": "object",
        "properties": {f.name: field_schema(f) for f in fields},
        "additionalProperties": False,
    }
    page = {
        "type": "object",
        "required": ["data", "meta", "links"],
        "properties": {
            "data": {"type": "array", "items": {"$ref": "#/components/schemas/Row"}},
            "meta": {
                "type": "object",
                "properties": {
                    "fields": {"type": "array", "items": {"type": "object"}},
                    "total": {"type": "integer"},
                    "total_exact": {"type": "boolean"},
                    "total_note": {"type": "string"},
                    "next_cursor": {"type": ["string", "null"]},
                },
            },
            "links": {
                "type": "object",
                "properties": {"next": {"type": ["string", "null"], "format": "uri"}},
            },
        },
    }
    error = {"$ref": "#/components/responses/Error"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{entry.name} — 行数据接口 (row API)",
            "version": f"{version}",
            "description": f"{entry.summary}\n\n提供单位 (provider): {entry.provider_name}. {note}",
        },
        "servers": [{"url": server_url}],
        "security": [{"appKeyHeader": []}, {"appKeyQuery": []}],
        "paths": {
            rows_path(entry.id): {
                "get": {
                    "operationId": "listRows",
                    "summary": f"查询{entry.name}的数据行 (query the rows)",
                    "description": "筛选、排序、选择与分页 (filters, sort, fields, paging)",
                    "parameters": [*_filters(fields), *_controls(fields)],
                    "responses": {
                        "200": {
                            "description": "一页数据 (a page of rows), or a CSV / NDJSON stream",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/RowPage"}
                                },
                                "text/csv": {"schema": {"type": "string"}},
                                "application/x-ndjson": {"schema": {"type": "string"}},
                            },
                        },
                        "400": error,
                        "401": error,
                        "403": error,
                        "404": error,
                        "422": error,
                        "429": error,
                    },
                }
            }
        },
        "components": {
            "securitySchemes": {
                "appKeyHeader": {"type": "apiKey", "in": "header", "name": "X-App-Key"},
                "appKeyQuery": {"type": "apiKey", "in": "query", "name": KEY_PARAMETER},
            },
            "schemas": {"Row": row, "RowPage": page, "Error": _error()},
            "responses": {
                "Error": {
                    "description": "错误 (error): code, message and the parameter at fault",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
            },
        },
    }
