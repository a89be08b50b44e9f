"""Identifiers: time-ordered, URL-safe, prefixed by kind (``usr_01J9…``)."""

from __future__ import annotations

import os
import time

__all__ = ["new_id"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_CROCKFORD[rem])
    return "".join(reversed(chars))


def new_id(prefix: str, *, at_ms: int | None = None) -> str:
    """A ULID-style id: 48-bit millisecond time + 80 random bits, sortable by creation."""
    ms = int(time.time() * 1000) if at_ms is None else at_ms
    randomness = int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{_encode(ms, 10)}{_encode(randomness, 16)}"
