"""The audit trail: one row per state change, written in the changing transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.kernel.db import Base
from gongshu.kernel.ids import new_id
from gongshu.kernel.uow import UnitOfWork

__all__ = ["AuditRecord", "record", "snapshot"]


class AuditRecord(Base):
    """Who did what to which thing, from where, with the state before and after."""

    __tablename__ = "audit_record"
    __table_args__ = (
        sa.Index("ix_audit_record_at", "at"),
        sa.Index("ix_audit_record_actor_id_at", "actor_id", "at"),
        sa.Index("ix_audit_record_subject", "subject_type", "subject_id"),
        sa.Index("ix_audit_record_action", "action"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    at: Mapped[datetime]
    actor_id: Mapped[str | None] = mapped_column(sa.String(40))
    actor_label: Mapped[str] = mapped_column(sa.String(200))
    actor_roles: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    action: Mapped[str] = mapped_column(sa.String(80))
    subject_type: Mapped[str] = mapped_column(sa.String(40))
    subject_id: Mapped[str] = mapped_column(sa.String(80))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    request_id: Mapped[str] = mapped_column(sa.String(80))
    source_address: Mapped[str] = mapped_column(sa.String(200))


def record(
    uow: UnitOfWork,
    *,
    actor_id: str | None,
    actor_label: str,
    actor_roles: list[str],
    action: str,
    subject_type: str,
    subject_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    aside: bool = False,
) -> AuditRecord:
    """Add the audit row to the current transaction; it lands only if the change lands.

    ``aside`` is for recording a read (no change to tie it to): the row is written by
    :meth:`UnitOfWork.aside` so a reading request stays a reader.
    """
    now = uow.clock.now()
    row = AuditRecord(
        id=new_id("aud", at_ms=int(now.timestamp() * 1000)),
        at=now,
        actor_id=actor_id,
        actor_label=actor_label,
        actor_roles=sorted(actor_roles),
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        before=before,
        after=after,
        request_id=uow.context.request_id,
        source_address=uow.context.source_address,
    )
    if aside:
        values = {c.key: getattr(row, c.key) for c in AuditRecord.__table__.columns}
        uow.aside(sa.insert(AuditRecord).values(**values))
    else:
        uow.session.add(row)
        for hook in uow.audit_hooks:
            hook(uow, row)
    return row


_SECRET_COLUMNS = frozenset({"password_hash", "secret_hash"})


def snapshot(row: Base) -> dict[str, Any]:
    """A JSON-safe copy of a row's columns for before/after, secrets left out."""
    out: dict[str, Any] = {}
    for column in row.__table__.columns:
        if column.key in _SECRET_COLUMNS:
            continue
        value = getattr(row, column.key)
        out[column.key] = value.isoformat() if hasattr(value, "isoformat") else value
    return out
