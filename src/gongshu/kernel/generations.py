"""Generation counters: a number per kind of data that goes up with every committed change.

A cache of something derived from many rows (the open catalogue's counts and facets, say)
keeps the generation it was computed at and is valid while the number is the same. The
number lives in the database, so every process sees the same one.

:func:`watch` names the mapped classes whose changes move a generation. A session that flushes
a new, changed or deleted instance of one of them raises the generation as the last
statement before its commit, when the transaction already holds every other lock it will take,
so that two writers never wait on each other through the counter's row.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column

from gongshu.kernel.db import Base

__all__ = ["Generation", "current", "watch"]

_WATCHED: dict[type, str] = {}
_PENDING = "gongshu.generations.pending"


class Generation(Base):
    """How many committed changes a kind of data has seen."""

    __tablename__ = "generation"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger)


def watch(name: str, classes: Iterable[type]) -> None:
    """Changes to instances of ``classes`` move the generation ``name``."""
    for cls in classes:
        _WATCHED[cls] = name


def current(session: Session, name: str) -> int:
    """The generation ``name`` as this session's transaction sees it (0 before any change)."""
    found = session.scalar(sa.select(Generation.value).where(Generation.name == name))
    return int(found or 0)


def _touched(session: Session) -> set[str]:
    names = set()
    for instance in (*session.new, *session.dirty, *session.deleted):
        name = _WATCHED.get(type(instance))
        if name is not None:
            names.add(name)
    return names


@event.listens_for(Session, "before_flush")
def _note_changes(session: Session, _context: object, _instances: object) -> None:
    if _WATCHED:
        touched = _touched(session)
        if touched:
            session.info.setdefault(_PENDING, set()).update(touched)


@event.listens_for(Session, "before_commit")
def _raise_generations(session: Session) -> None:
    if not _WATCHED:
        return
    session.flush()  # what commit would flush next is noted first
    pending: set[str] = session.info.pop(_PENDING, set())
    for name in sorted(pending):
        bumped = session.execute(
            sa.update(Generation).where(Generation.name == name).values(value=Generation.value + 1)
        )
        if getattr(bumped, "rowcount", 0) == 0:
            session.add(Generation(name=name, value=1))
            session.flush()


@event.listens_for(Session, "after_rollback")
def _forget_changes(session: Session) -> None:
    session.info.pop(_PENDING, None)
