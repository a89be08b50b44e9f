"""A sliding-window rate limiter, per process (each API worker limits its own share)."""

from __future__ import annotations

import threading
import time
from collections import deque

from gongshu.kernel.errors import RateLimited

__all__ = ["RateLimiter"]


class RateLimiter:
    """At most ``limit`` hits per ``window`` seconds for each key."""

    def __init__(self, window_seconds: float = 60.0) -> None:
        self.window = window_seconds
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int) -> None:
        """Count one hit for ``key``; raise :class:`RateLimited` past the limit."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= self.window:
                hits.popleft()
            if len(hits) >= limit:
                retry = int(self.window - (now - hits[0])) + 1
                raise RateLimited(
                    f"请求过于频繁 (rate limit of {limit} per {int(self.window)} s exceeded)",
                    details={"retry_after_seconds": retry, "limit": limit},
                )
            hits.append(now)
