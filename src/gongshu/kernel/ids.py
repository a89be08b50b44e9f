"""Identifiers: time-ordered, URL-safe, prefixed by kind (``usr_01J9…``).

ULID-style: 48 bits of milliseconds then 80 random bits, Crockford base32. Within one
process ids are strictly increasing even inside one millisecond (or under a frozen test
clock), so "newest first" by id is always well defined.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["new_id"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80
_lock = threading.Lock()
_last = (0, 0)


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_CROCKFORD[rem])
    return "".join(reversed(chars))


def new_id(prefix: str, *, at_ms: int | None = None) -> str:
    """A new id; later calls in this process always sort after earlier ones."""
    global _last
    ms = int(time.time() * 1000) if at_ms is None else at_ms
    with _lock:
        last_ms, last_random = _last
        if ms <= last_ms:
            # Same (or an earlier, frozen) millisecond: continue from the last id.
            ms, randomness = last_ms, last_random + 1 + (int.from_bytes(os.urandom(2), "big"))
        else:
            randomness = int.from_bytes(os.urandom(_RANDOM_BITS // 8), "big") >> 1
        if randomness >= 1 << _RANDOM_BITS:
            ms, randomness = ms + 1, int.from_bytes(os.urandom(_RANDOM_BITS // 8), "big") >> 1
        _last = (ms, randomness)
    return f"{prefix}_{_encode(ms, 10)}{_encode(randomness, 16)}"
