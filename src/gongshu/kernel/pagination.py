"""Keyset pagination with opaque cursors, and the ``{data, meta, links}`` envelope."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from gongshu.kernel.errors import InvalidInput, MalformedRequest

__all__ = ["MAX_LIMIT", "Page", "decode_cursor", "encode_cursor", "paginate"]

T = TypeVar("T")
MAX_LIMIT = 200


def encode_cursor(key: list[Any]) -> str:
    """Pack the last row's sort key into an opaque URL-safe string."""
    raw = json.dumps(key, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, arity: int) -> list[Any] | None:
    """Unpack a cursor made by :func:`encode_cursor`; a damaged one is a 400."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise MalformedRequest(
            "the cursor is not one this server issued",
            details=[{"path": "query.cursor", "message": "malformed cursor"}],
        ) from exc
    if not isinstance(key, list) or len(key) != arity:
        raise MalformedRequest(
            "the cursor is not one this server issued",
            details=[{"path": "query.cursor", "message": "malformed cursor"}],
        )
    return key


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results and the cursor of the next, if any."""

    items: list[T]
    next_cursor: str | None
    limit: int


def paginate(rows: list[T], limit: int, key: Callable[[T], list[Any]]) -> Page[T]:
    """Turn ``limit + 1`` fetched rows into a page; the extra row only signals "more"."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput.field("query.limit", f"must be between 1 and {MAX_LIMIT}")
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_cursor(key(rows[-1])) if more and rows else None, limit)
