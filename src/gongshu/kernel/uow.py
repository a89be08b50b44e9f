"""Unit of work: one transaction per use case, rolled back unless committed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import Executable

from gongshu.kernel.clock import Clock
from gongshu.kernel.events import Event, EventBus

__all__ = ["RequestContext", "UnitOfWork"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestContext:
    """Where a change came from, for the audit trail."""

    request_id: str = "-"
    source_address: str = "-"
    language: str = "zh"


class UnitOfWork:
    """``with uow: … uow.commit()`` — leaving the block without commit rolls everything back.

    Events collected with :meth:`emit` are published after a successful commit, so no
    subscriber ever sees a change that did not happen.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        clock: Clock,
        bus: EventBus,
        context: RequestContext | None = None,
        writes: bool = True,
        aside_factory: sessionmaker[Session] | None = None,
        audit_hooks: Sequence[Callable[[UnitOfWork, Any], None]] = (),
    ) -> None:
        self._session_factory = session_factory
        self._aside_factory = aside_factory or session_factory
        self.writes = writes
        # Called with each audit record inside the transaction (the ledger anchors them).
        self.audit_hooks = tuple(audit_hooks)
        self.clock = clock
        self.bus = bus
        self.context = context or RequestContext()
        self._session: Session | None = None
        self._events: list[Event] = []
        self._before_commit: dict[str, Callable[[UnitOfWork], None]] = {}
        self._batches: dict[str, list[Any]] = {}

    @property
    def session(self) -> Session:
        """The open session; only valid inside the ``with`` block."""
        if self._session is None:
            raise RuntimeError("unit of work used outside its with-block")
        return self._session

    def __enter__(self) -> UnitOfWork:
        if self._session is not None:
            raise RuntimeError("unit of work is not re-entrant")
        self._session = self._session_factory()
        self._events = []
        self._before_commit = {}
        self._batches = {}
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.rollback()
            session.close()
        self._events = []
        self._before_commit = {}
        self._batches = {}

    def emit(self, event: Event) -> None:
        """Queue an event for publication after commit."""
        self._events.append(event)

    def before_commit(self, key: str, callback: Callable[[UnitOfWork], None]) -> None:
        """Run ``callback`` once, inside the transaction, just before it commits.

        Work that is cheaper in one batch (the ledger's appends) registers here under a key;
        registering the same key again in the same transaction is a no-op.
        """
        self._before_commit.setdefault(key, callback)

    def batch(self, key: str, item: Any, flush: Callable[[UnitOfWork, list[Any]], None]) -> None:
        """Queue ``item``; ``flush(uow, items)`` runs once with all of them before commit."""
        items = self._batches.setdefault(key, [])
        items.append(item)
        if len(items) == 1:

            def run(uow: UnitOfWork) -> None:
                flush(uow, self._batches.pop(key, []))

            self._before_commit[f"batch:{key}"] = run

    def commit(self) -> None:
        """Run the before-commit work, commit the transaction, then publish queued events."""
        while self._before_commit:
            key = next(iter(self._before_commit))
            self._before_commit.pop(key)(self)
        self.session.commit()
        events, self._events = self._events, []
        for event in events:
            self.bus.publish(event)

    def aside(self, statement: Executable) -> None:
        """A small write outside the use case (a token's last use, a logged read).

        In a reading unit of work it runs in its own short transaction, so the reader never
        turns writer; failures are logged, not raised. In a writing one it joins the
        transaction and commits what is pending.
        """
        if self.writes:
            self.session.execute(statement)
            self.commit()
            return
        try:
            with self._aside_factory() as session:
                session.execute(statement)
                session.commit()
        except OperationalError:
            log.warning("a side write failed and was skipped", exc_info=True)

    def rollback(self) -> None:
        """Discard everything done since the last commit."""
        self.session.rollback()
        self._events = []
        self._before_commit = {}
        self._batches = {}
