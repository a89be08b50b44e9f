"""Domain events: past-tense dataclasses published only after the transaction commits."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Event", "EventBus", "Handler"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Base of all events (``UserCreated``, ``GrantRevoked`` …)."""


Handler = Callable[[Event], None]


class EventBus:
    """In-process publish/subscribe; a failing handler is logged, never undoes a commit."""

    def __init__(self) -> None:
        self._handlers: dict[type[Event], list[Handler]] = defaultdict(list)

    def subscribe(self, kind: type[Event], handler: Handler) -> None:
        """Call ``handler`` for every published event of ``kind`` (or a subclass)."""
        self._handlers[kind].append(handler)

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to its subscribers."""
        for kind in type(event).__mro__:
            for handler in self._handlers.get(kind, ()):
                try:
                    handler(event)
                except Exception:
                    log.exception("event handler failed for %s", type(event).__name__)
