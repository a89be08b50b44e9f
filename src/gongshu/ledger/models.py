"""Ledger tables: entries (leaves), the perfect subtree nodes above them, signed checkpoints.

Only perfect (complete) subtrees are stored; any root or proof for any size is built from
O(log n) of them, so proofs stay fast at millions of leaves and no node is ever rewritten.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.kernel.db import Base

__all__ = ["LedgerCheckpoint", "LedgerEntry", "LedgerHead", "LedgerNode"]


class LedgerHead(Base):
    """The one row that says how many entries the log holds; appends lock it."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    hash_algorithm: Mapped[str] = mapped_column(sa.String(10))


class LedgerEntry(Base):
    """One appended change, as the exact canonical JSON bytes that were hashed."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        sa.Index("ix_ledger_entry_leaf_hash", "leaf_hash"),
        sa.Index("ix_ledger_entry_subject", "subject_type", "subject_id"),
    )

    index: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(sa.String(80))
    subject_type: Mapped[str] = mapped_column(sa.String(40))
    subject_id: Mapped[str] = mapped_column(sa.String(80))
    body: Mapped[bytes] = mapped_column(sa.LargeBinary)
    leaf_hash: Mapped[str] = mapped_column(sa.String(64))


class LedgerNode(Base):
    """The hash of a perfect subtree: leaves [index·2^level, (index+1)·2^level)."""

    __tablename__ = "ledger_node"

    level: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(sa.String(64))


class LedgerCheckpoint(Base):
    """A signed statement of the tree's size and root, in signed-note text form."""

    __tablename__ = "ledger_checkpoint"

    size: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[str] = mapped_column(sa.String(64))
    note: Mapped[str] = mapped_column(sa.Text)
    at: Mapped[datetime]
