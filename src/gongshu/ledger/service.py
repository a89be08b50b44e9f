"""Ledger use cases: append inside the changing transaction, roots, proofs, checkpoints.

An entry's leaf is the RFC 8785 canonical JSON of ``{index, at, kind, subject, payload}``;
its index is part of what is hashed, so a deleted, inserted or reordered entry cannot hide.
Appends lock the head row, so entries get consecutive indexes on both databases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gongshu.kernel.crypto import Hasher, SignatureAlgorithm, Signer
from gongshu.kernel.uow import UnitOfWork
from gongshu.ledger.canonical import canonical_json
from gongshu.ledger.checkpoint import Checkpoint, sign_checkpoint
from gongshu.ledger.errors import EntryNotFound, LedgerMismatch, ProofOutOfRange
from gongshu.ledger.merkle import (
    consistency_proof,
    consistency_proof_nodes,
    empty_root,
    inclusion_proof,
    inclusion_proof_nodes,
    leaf_hash,
    perfect_nodes_after_append,
    root_nodes,
    subtree_hash,
)
from gongshu.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerHead, LedgerNode

__all__ = [
    "ANCHORED_ACTIONS",
    "HEAD_ID",
    "LedgerKeys",
    "Pending",
    "anchor_audit_record",
    "append",
    "append_many",
    "consistency",
    "entries",
    "entry_by_hash",
    "inclusion",
    "latest_checkpoint",
    "make_checkpoint",
    "root",
    "tree_size",
]

HEAD_ID = 1
MAX_ENTRIES_PER_PAGE = 1000


@dataclass(frozen=True)
class LedgerKeys:
    """How this platform's log hashes and who signs its checkpoints."""

    hasher: Hasher
    origin: str
    signers: tuple[tuple[str, Signer], ...]

    def verifiers(self) -> dict[str, tuple[SignatureAlgorithm, bytes]]:
        """Key name → (algorithm, public key), for verifying notes."""
        return {name: (s.algorithm, s.public_key_bytes()) for name, s in self.signers}


@dataclass(frozen=True)
class Pending:
    """One change to append: what happened to which thing, with its details."""

    kind: str
    subject_type: str
    subject_id: str
    payload: dict[str, Any]


class _Nodes:
    """Perfect-subtree hashes read from the store, cached for one operation."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._cache: dict[tuple[int, int], bytes] = {}

    def prefetch(self, wanted: Sequence[tuple[int, int]]) -> None:
        """Load the given nodes in one round trip (one indexed lookup per level)."""
        by_level: dict[int, list[int]] = {}
        for level, index in wanted:
            if (level, index) not in self._cache:
                by_level.setdefault(level, []).append(index)
        if not by_level:
            return
        # One query, not one per node; per level so each part is a plain primary-key IN
        # (a tuple IN would make SQLite scan the table).
        parts = [
            sa.select(LedgerNode.level, LedgerNode.index, LedgerNode.hash).where(
                LedgerNode.level == level, LedgerNode.index.in_(indexes)
            )
            for level, indexes in by_level.items()
        ]
        query = parts[0] if len(parts) == 1 else sa.union_all(*parts)
        for level, index, value in self._uow.session.execute(query):
            self._cache[(level, index)] = bytes.fromhex(value)

    def remember(self, level: int, index: int, value: bytes) -> None:
        self._cache[(level, index)] = value

    def get(self, level: int, index: int) -> bytes:
        key = (level, index)
        if key not in self._cache:
            value = self._uow.session.scalar(
                sa.select(LedgerNode.hash).where(
                    LedgerNode.level == level, LedgerNode.index == index
                )
            )
            if value is None:
                raise LookupError(f"ledger node ({level}, {index}) is missing")
            self._cache[key] = bytes.fromhex(value)
        return self._cache[key]


def _head(uow: UnitOfWork, keys: LedgerKeys, *, lock: bool) -> LedgerHead:
    stmt = sa.select(LedgerHead).where(LedgerHead.id == HEAD_ID)
    head = uow.session.scalar(stmt.with_for_update() if lock else stmt)
    if head is None:
        # Normally made by the migration; recreate it if the tables were emptied.
        try:
            with uow.session.begin_nested():
                uow.session.add(LedgerHead(id=HEAD_ID, size=0, hash_algorithm=""))
        except sa.exc.IntegrityError:
            pass  # another transaction made it first
        head = uow.session.scalar(stmt.with_for_update() if lock else stmt)
        assert head is not None
    if head.hash_algorithm and head.hash_algorithm != keys.hasher.name:
        raise LedgerMismatch(
            f"the ledger is hashed with {head.hash_algorithm}, settings say {keys.hasher.name}"
        )
    return head


def entry_body(index: int, at: datetime, item: Pending) -> bytes:
    """The exact bytes a leaf commits to."""
    return canonical_json(
        {
            "index": index,
            "at": at.isoformat(),
            "kind": item.kind,
            "subject": {"type": item.subject_type, "id": item.subject_id},
            "payload": item.payload,
        }
    )


def append_many(uow: UnitOfWork, *, keys: LedgerKeys, items: Sequence[Pending]) -> list[int]:
    """Append changes in the caller's transaction; they land only if the change lands."""
    head = _head(uow, keys, lock=True)
    head.hash_algorithm = keys.hasher.name
    nodes = _Nodes(uow)
    now = uow.clock.now()
    size = head.size
    entry_rows: list[dict[str, Any]] = []
    node_rows: list[dict[str, Any]] = []
    for item in items:
        body = entry_body(size, now, item)
        leaf = leaf_hash(keys.hasher, body)
        for level, index, value in perfect_nodes_after_append(size, leaf, nodes.get, keys.hasher):
            nodes.remember(level, index, value)
            node_rows.append({"level": level, "index": index, "hash": value.hex()})
        entry_rows.append(
            {
                "index": size,
                "at": now,
                "kind": item.kind,
                "subject_type": item.subject_type,
                "subject_id": item.subject_id,
                "body": body,
                "leaf_hash": leaf.hex(),
            }
        )
        size += 1
    if entry_rows:
        uow.session.execute(sa.insert(LedgerEntry), entry_rows)
        uow.session.execute(sa.insert(LedgerNode), node_rows)
    first = head.size
    head.size = size
    uow.session.flush()
    return list(range(first, size))


def append(
    uow: UnitOfWork,
    *,
    keys: LedgerKeys,
    kind: str,
    subject_type: str,
    subject_id: str,
    payload: dict[str, Any],
) -> int:
    """Append one change; returns its index."""
    return append_many(uow, keys=keys, items=[Pending(kind, subject_type, subject_id, payload)])[0]


def tree_size(uow: UnitOfWork, *, keys: LedgerKeys) -> int:
    """How many entries the log holds."""
    return _head(uow, keys, lock=False).size


def _check_size(uow: UnitOfWork, keys: LedgerKeys, size: int) -> None:
    current = tree_size(uow, keys=keys)
    if not 0 <= size <= current:
        raise ProofOutOfRange.field("query.size", f"must be between 0 and {current}")


def root(uow: UnitOfWork, *, keys: LedgerKeys, size: int) -> bytes:
    """The tree head for the first ``size`` entries."""
    _check_size(uow, keys, size)
    if size == 0:
        return empty_root(keys.hasher)
    nodes = _Nodes(uow)
    nodes.prefetch(root_nodes(size))
    return subtree_hash(0, size, nodes.get, keys.hasher)


def inclusion(uow: UnitOfWork, *, keys: LedgerKeys, index: int, size: int) -> list[bytes]:
    """The audit path of entry ``index`` in the tree of ``size`` entries."""
    _check_size(uow, keys, size)
    if not 0 <= index < size:
        raise ProofOutOfRange.field("query.index", f"must be below the tree size {size}")
    nodes = _Nodes(uow)
    nodes.prefetch(inclusion_proof_nodes(index, size))
    return inclusion_proof(index, size, nodes.get, keys.hasher)


def consistency(uow: UnitOfWork, *, keys: LedgerKeys, first: int, second: int) -> list[bytes]:
    """The proof that the tree of ``second`` entries extends the tree of ``first``."""
    _check_size(uow, keys, second)
    if not 0 <= first <= second:
        raise ProofOutOfRange.field("query.first", f"must be between 0 and {second}")
    nodes = _Nodes(uow)
    nodes.prefetch(consistency_proof_nodes(first, second))
    return consistency_proof(first, second, nodes.get, keys.hasher)


def entry_by_hash(uow: UnitOfWork, *, leaf: str) -> LedgerEntry:
    """The entry whose leaf hash is ``leaf`` (hex)."""
    found = uow.session.scalar(
        sa.select(LedgerEntry).where(LedgerEntry.leaf_hash == leaf.lower()).limit(1)
    )
    if found is None:
        raise EntryNotFound(f"no ledger entry with leaf hash {leaf}")
    return found


def entries(uow: UnitOfWork, *, start: int, end: int) -> list[LedgerEntry]:
    """Entries with ``start <= index < end`` (at most 1000)."""
    if start < 0 or end < start:
        raise ProofOutOfRange.field("query.start", "need 0 <= start <= end")
    end = min(end, start + MAX_ENTRIES_PER_PAGE)
    return list(
        uow.session.scalars(
            sa.select(LedgerEntry)
            .where(LedgerEntry.index >= start, LedgerEntry.index < end)
            .order_by(LedgerEntry.index)
        )
    )


def make_checkpoint(uow: UnitOfWork, *, keys: LedgerKeys) -> LedgerCheckpoint:
    """Sign the current tree head (once per size) and keep the note."""
    size = tree_size(uow, keys=keys)
    existing = uow.session.get(LedgerCheckpoint, size)
    if existing is not None:
        return existing
    head_root = root(uow, keys=keys, size=size)
    note = sign_checkpoint(Checkpoint(keys.origin, size, head_root), list(keys.signers))
    row = LedgerCheckpoint(size=size, root=head_root.hex(), note=note, at=uow.clock.now())
    uow.session.add(row)
    uow.commit()
    return row


def latest_checkpoint(uow: UnitOfWork) -> LedgerCheckpoint | None:
    """The newest signed checkpoint, if any."""
    return uow.session.scalar(
        sa.select(LedgerCheckpoint).order_by(LedgerCheckpoint.size.desc()).limit(1)
    )


# State changes of public interest are anchored in the ledger. Sign-ins, tokens and user
# records stay out: the ledger is public and must carry no personal data.
ANCHORED_ACTIONS = (
    "catalog.",
    "grant.",
    "organisation.",
    "role.",
    "calendar.import",
    "calendar.set_day",
)


def anchor_audit_record(keys: LedgerKeys) -> Callable[[UnitOfWork, Any], None]:
    """An audit hook that appends anchored actions to the ledger in the same transaction."""

    def hook(uow: UnitOfWork, record: Any) -> None:
        if not record.action.startswith(ANCHORED_ACTIONS):
            return
        append(
            uow,
            keys=keys,
            kind=record.action,
            subject_type=record.subject_type,
            subject_id=record.subject_id,
            payload={"audit_record": record.id, "before": record.before, "after": record.after},
        )

    return hook
