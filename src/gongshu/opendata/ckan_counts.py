"""Counts and facets of ``package_search``, remembered until the catalogue changes.

Counting the open entries a search matches and grouping them by provider, theme, licence,
keyword and format reads every match — over half a second for all 58,000 open entries of a
100,000-entry catalogue — while the answer only changes when an entry, its published version
or its data does. So the counts are kept per (q, fq, facet fields) with the catalogue's
generation (:mod:`gongshu.kernel.generations`) they were computed at, and are computed again
when the generation has moved: a search never answers from a catalogue older than the one
its own transaction reads. The page of results is always read fresh.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from gongshu.catalog.models import CATALOG_GENERATION
from gongshu.kernel.generations import current
from gongshu.kernel.uow import UnitOfWork

__all__ = ["SearchCountCache", "SearchCounts"]

Facets = dict[str, list[tuple[str, int]]]


@dataclass(frozen=True)
class SearchCounts:
    """How many open entries a search matches and every facet value's count (most first)."""

    count: int
    facets: Facets

    def limited(self, *, limit: int, mincount: int) -> Facets:
        """The facets as asked: values counted at least ``mincount`` times, ``limit`` each."""
        out: Facets = {}
        for field, values in self.facets.items():
            kept = [value for value in values if value[1] >= mincount]
            out[field] = kept if limit < 0 else kept[:limit]
        return out


class SearchCountCache:
    """The last ``size`` searches' counts, each valid for one catalogue generation."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, tuple[int, SearchCounts]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(
        self, uow: UnitOfWork, key: Hashable, compute: Callable[[], SearchCounts]
    ) -> SearchCounts:
        """The counts for ``key`` at the generation ``uow`` sees, computed when not known."""
        generation = current(uow.session, CATALOG_GENERATION)
        with self._lock:
            known = self._items.get(key)
            if known is not None and known[0] == generation:
                self._items.move_to_end(key)
                self.hits += 1
                return known[1]
            self.misses += 1
        counts = compute()
        with self._lock:
            self._items[key] = (generation, counts)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return counts
