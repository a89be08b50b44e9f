"""Ledger use cases: append inside the changing transaction, roots, proofs, checkpoints.

An entry's leaf is the RFC 8785 canonical JSON of ``{index, at, kind, subject, payload}``;
its index is part of what is hashed, so a deleted, inserted or reordered entry cannot hide.
Appends lock the head row, so entries get consecutive indexes on both databases.

Speed: an append batch reads only the few stored nodes its new nodes combine with, in one
query, and writes its entry and node rows with one Core ``executemany`` each; a proof or root
reads all its nodes in one query.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa

from gongshu.kernel.crypto import Hasher, SignatureAlgorithm, Signer
from gongshu.kernel.uow import UnitOfWork
from gongshu.ledger.canonical import canonical_json
from gongshu.ledger.checkpoint import Checkpoint, sign_checkpoint
from gongshu.ledger.errors import EntryNotFound, LedgerMismatch, ProofOutOfRange
from gongshu.ledger.merkle import (
    append_nodes,
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


# Hot paths run as Core statements on the session's connection (same transaction): the ORM's
# per-statement work cost more than the database did. Head and node rows are never loaded as
# ORM objects, so the session can hold no stale copy of the head.
_HEAD = cast(sa.Table, LedgerHead.__table__)
_ENTRY = cast(sa.Table, LedgerEntry.__table__)
_NODE = cast(sa.Table, LedgerNode.__table__)
_READ_HEAD = sa.select(_HEAD.c.size, _HEAD.c.hash_algorithm).where(_HEAD.c.id == HEAD_ID)
_LOCK_HEAD = _READ_HEAD.with_for_update()
_NODES_PER_QUERY = 200  # 400 bound values, far below either database's limit


@functools.cache
def _nodes_query(count: int) -> sa.TextClause:
    """``count`` primary-key lookups of ``ledger_node`` in one statement (cached per count).

    A UNION ALL of plain ``level = ? AND "index" = ?`` parts: each is one index search on both
    databases (a row-value ``IN`` makes SQLite scan the table), and as text the statement skips
    SQLAlchemy's per-call construction and cache-key work, which cost more than the lookups.
    """
    part = 'SELECT level, "index", hash FROM ledger_node WHERE level = :l{n} AND "index" = :i{n}'
    return sa.text(" UNION ALL ".join(part.format(n=n) for n in range(count)))


class _Nodes:
    """Perfect-subtree hashes read from the store, cached for one operation."""

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection
        self._cache: dict[tuple[int, int], bytes] = {}

    def prefetch(self, wanted: Sequence[tuple[int, int]]) -> None:
        """Load the given nodes in one round trip (one primary-key lookup each)."""
        missing = list(dict.fromkeys(key for key in wanted if key not in self._cache))
        for start in range(0, len(missing), _NODES_PER_QUERY):
            chunk = missing[start : start + _NODES_PER_QUERY]
            params: dict[str, int] = {}
            for n, (level, index) in enumerate(chunk):
                params[f"l{n}"] = level
                params[f"i{n}"] = index
            for level, index, value in self._connection.execute(_nodes_query(len(chunk)), params):
                self._cache[(level, index)] = bytes.fromhex(value)

    def remember(self, level: int, index: int, value: bytes) -> None:
        self._cache[(level, index)] = value

    def get(self, level: int, index: int) -> bytes:
        key = (level, index)
        if key not in self._cache:
            self.prefetch([key])
            if key not in self._cache:
                raise LookupError(f"ledger node ({level}, {index}) is missing")
        return self._cache[key]


def _head_size(uow: UnitOfWork, keys: LedgerKeys, *, lock: bool) -> int:
    """The log's size from the head row (locked for appending), checking the hash algorithm."""
    connection = uow.session.connection()
    row = connection.execute(_LOCK_HEAD if lock else _READ_HEAD).one_or_none()
    if row is None:
        # Normally made by the migration; recreate it if the tables were emptied.
        try:
            with uow.session.begin_nested():
                connection.execute(sa.insert(_HEAD).values(id=HEAD_ID, size=0, hash_algorithm=""))
        except sa.exc.IntegrityError:
            pass  # another transaction made it first
        row = connection.execute(_LOCK_HEAD if lock else _READ_HEAD).one()
    size, algorithm = row
    if algorithm and algorithm != keys.hasher.name:
        raise LedgerMismatch(
            f"the ledger is hashed with {algorithm}, settings say {keys.hasher.name}"
        )
    return int(size)


def _body(index: int, at: str, item: Pending) -> bytes:
    return canonical_json(
        {
            "index": index,
            "at": at,
            "kind": item.kind,
            "subject": {"type": item.subject_type, "id": item.subject_id},
            "payload": item.payload,
        }
    )


def entry_body(index: int, at: datetime, item: Pending) -> bytes:
    """The exact bytes a leaf commits to."""
    return _body(index, at.isoformat(), item)


def append_many(uow: UnitOfWork, *, keys: LedgerKeys, items: Sequence[Pending]) -> list[int]:
    """Append changes in the caller's transaction; they land only if the change lands."""
    uow.session.flush()  # the caller's pending rows go first, as an ORM query would autoflush
    first = _head_size(uow, keys, lock=True)
    end = first + len(items)
    connection = uow.session.connection()
    hasher = keys.hasher
    now = uow.clock.now()
    at = now.isoformat()
    nodes = _Nodes(connection)
    nodes.prefetch(append_nodes(first, len(items)))  # the left siblings already stored
    entry_rows: list[dict[str, Any]] = []
    node_rows: list[dict[str, Any]] = []
    for index, item in enumerate(items, start=first):
        body = _body(index, at, item)
        leaf = leaf_hash(hasher, body)
        for level, position, value in perfect_nodes_after_append(index, leaf, nodes.get, hasher):
            nodes.remember(level, position, value)
            node_rows.append({"level": level, "index": position, "hash": value.hex()})
        entry_rows.append(
            {
                "index": index,
                "at": now,
                "kind": item.kind,
                "subject_type": item.subject_type,
                "subject_id": item.subject_id,
                "body": body,
                "leaf_hash": leaf.hex(),
            }
        )
    if entry_rows:
        connection.execute(sa.insert(_ENTRY), entry_rows)
        connection.execute(sa.insert(_NODE), node_rows)
    connection.execute(
        sa.update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(size=end, hash_algorithm=hasher.name)
    )
    return list(range(first, end))


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
    return _head_size(uow, keys, lock=False)


def _check_size(uow: UnitOfWork, keys: LedgerKeys, size: int) -> None:
    current = tree_size(uow, keys=keys)
    if not 0 <= size <= current:
        raise ProofOutOfRange.field("query.size", f"must be between 0 and {current}")


def root(uow: UnitOfWork, *, keys: LedgerKeys, size: int) -> bytes:
    """The tree head for the first ``size`` entries."""
    _check_size(uow, keys, size)
    if size == 0:
        return empty_root(keys.hasher)
    nodes = _Nodes(uow.session.connection())
    nodes.prefetch(root_nodes(size))
    return subtree_hash(0, size, nodes.get, keys.hasher)


def inclusion(uow: UnitOfWork, *, keys: LedgerKeys, index: int, size: int) -> list[bytes]:
    """The audit path of entry ``index`` in the tree of ``size`` entries."""
    _check_size(uow, keys, size)
    if not 0 <= index < size:
        raise ProofOutOfRange.field("query.index", f"must be below the tree size {size}")
    nodes = _Nodes(uow.session.connection())
    nodes.prefetch(inclusion_proof_nodes(index, size))
    return inclusion_proof(index, size, nodes.get, keys.hasher)


def consistency(uow: UnitOfWork, *, keys: LedgerKeys, first: int, second: int) -> list[bytes]:
    """The proof that the tree of ``second`` entries extends the tree of ``first``."""
    _check_size(uow, keys, second)
    if not 0 <= first <= second:
        raise ProofOutOfRange.field("query.first", f"must be between 0 and {second}")
    nodes = _Nodes(uow.session.connection())
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
    "dataset.",
    "element.",
    "objection.",
    "sandbox.",
    "grant.",
    "open.",
    "organisation.",
    "role.",
    "calendar.import",
    "calendar.set_day",
)


def anchor_audit_record(keys: LedgerKeys) -> Callable[[UnitOfWork, Any], None]:
    """An audit hook that appends anchored actions to the ledger in the same transaction.

    The entries are queued and appended in one batch just before the transaction commits, so a
    use case that records many changes (an import of thousands of entries) pays for one
    append, not thousands; they still land only if the change lands.
    """

    def flush(uow: UnitOfWork, items: list[Pending]) -> None:
        append_many(uow, keys=keys, items=items)

    def hook(uow: UnitOfWork, record: Any) -> None:
        if not record.action.startswith(ANCHORED_ACTIONS):
            return
        payload = {"audit_record": record.id, "before": record.before, "after": record.after}
        uow.batch(
            "ledger", Pending(record.action, record.subject_type, record.subject_id, payload), flush
        )

    return hook
