"""RFC 6962 / RFC 9162 Merkle tree hashing, audit paths and consistency proofs.

The ledger is an append-only log whose integrity anyone can check offline: a signed tree head
commits to every entry, an inclusion proof shows one entry is in it, and a consistency proof shows
a later head extends an earlier one without rewriting history. The tree shape and hashes follow
RFC 9162 §2.1 exactly (domain-separated leaf ``0x00`` and node ``0x01`` prefixes), over either
SM3 or SHA-256, so standard transparency-log tooling verifies our SHA-256 logs unchanged.

Storage contract: proofs read the tree through ``get(level, index)``, which must return the hash
of the *perfect* (complete) subtree covering leaves ``[index * 2**level, (index + 1) * 2**level)``;
level 0 holds the leaf hashes. Functions here only ever ask for nodes that lie entirely inside the
tree size they were given, and such nodes never change once the last covered leaf is appended, so
a store may keep exactly the perfect nodes reported by :func:`perfect_nodes_after_append` (at most
``1 + log2(n)`` per append) and answer proofs for any earlier size from its current state. Hashes
of ragged right-edge subtrees are recomputed from perfect nodes in O(log n) calls.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from typing import TypeAlias

from gongshu.kernel.crypto import Hasher

__all__ = [
    "LEAF_PREFIX",
    "NODE_PREFIX",
    "MerkleTree",
    "NodeGetter",
    "append_nodes",
    "consistency_proof",
    "consistency_proof_nodes",
    "empty_root",
    "inclusion_proof",
    "inclusion_proof_nodes",
    "leaf_hash",
    "node_hash",
    "perfect_nodes_after_append",
    "root_from_leaves",
    "root_nodes",
    "subtree_hash",
    "verify_consistency",
    "verify_inclusion",
]

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"

NodeGetter: TypeAlias = Callable[[int, int], bytes]
"""``get(level, i)``: hash of the perfect subtree over leaves [i * 2**level, (i + 1) * 2**level)."""


def leaf_hash(hasher: Hasher, data: bytes) -> bytes:
    """Return the RFC 9162 leaf hash ``H(0x00 || data)``."""
    return hasher.digest(LEAF_PREFIX + data)


def node_hash(hasher: Hasher, left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash ``H(0x01 || left || right)``."""
    return hasher.digest(NODE_PREFIX + left + right)


def empty_root(hasher: Hasher) -> bytes:
    """Return the root of the empty tree, ``H("")``."""
    return hasher.digest(b"")


def _split(n: int) -> int:
    """Return the largest power of two strictly less than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_perfect(start: int, end: int) -> int | None:
    """Return the level if ``[start, end)`` is one aligned perfect subtree, else None."""
    width = end - start
    if width <= 0 or width & (width - 1) or start % width:
        return None
    return width.bit_length() - 1


def root_from_leaves(hasher: Hasher, leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle tree hash (RFC 9162 §2.1.1 MTH) of a list of leaf hashes."""

    def mth(start: int, end: int) -> bytes:
        if end - start == 1:
            return leaf_hashes[start]
        k = start + _split(end - start)
        return node_hash(hasher, mth(start, k), mth(k, end))

    if not leaf_hashes:
        return empty_root(hasher)
    return mth(0, len(leaf_hashes))


def subtree_hash(start: int, end: int, get: NodeGetter, hasher: Hasher) -> bytes:
    """Return MTH of leaves ``[start, end)`` built from perfect nodes only.

    Every subtree that occurs in RFC 9162 proofs starts at a multiple of the smallest power of
    two not below its width; those take at most ``log2(width) + 1`` calls to ``get``. Other
    ranges are still computed correctly, from the largest aligned perfect nodes they contain.
    """
    if not 0 <= start <= end:
        raise ValueError(f"invalid leaf range [{start}, {end})")
    if start == end:
        return empty_root(hasher)
    level = _is_perfect(start, end)
    if level is not None:
        return get(level, start >> level)
    k = start + _split(end - start)
    return node_hash(hasher, subtree_hash(start, k, get, hasher), subtree_hash(k, end, get, hasher))


def inclusion_proof(index: int, size: int, get: NodeGetter, hasher: Hasher) -> list[bytes]:
    """Return the RFC 9162 §2.1.3.1 audit path for leaf ``index`` in the tree of ``size`` leaves."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:  # descend from the root; siblings are collected top-down
        k = start + _split(end - start)
        if index < k:
            path.append(subtree_hash(k, end, get, hasher))
            end = k
        else:
            path.append(subtree_hash(start, k, get, hasher))
            start = k
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, get: NodeGetter, hasher: Hasher) -> list[bytes]:
    """Return the RFC 9162 §2.1.4.1 consistency proof from ``old_size`` to ``new_size``.

    The proof is empty when ``old_size`` is 0 or equals ``new_size``.
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"cannot prove consistency from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    m, start, end, whole = old_size, 0, new_size, True
    while m != end - start:  # SUBPROOF(m, D[start:end], whole), iteratively
        k = _split(end - start)
        if m <= k:
            proof.append(subtree_hash(start + k, end, get, hasher))
            end = start + k
        else:
            proof.append(subtree_hash(start, start + k, get, hasher))
            m, start, whole = m - k, start + k, False
    if not whole:
        proof.append(subtree_hash(start, end, get, hasher))
    proof.reverse()
    return proof


def _nodes_read(run: Callable[[NodeGetter, Hasher], object]) -> list[tuple[int, int]]:
    """Return the distinct ``(level, index)`` nodes ``run`` reads, in first-read order."""
    read: dict[tuple[int, int], None] = {}

    def record(level: int, index: int) -> bytes:
        read[level, index] = None
        return b""

    run(record, Hasher("sha256"))  # placeholder hashes: only the access pattern matters
    return list(read)


def inclusion_proof_nodes(index: int, size: int) -> list[tuple[int, int]]:
    """Return the ``(level, index)`` perfect nodes :func:`inclusion_proof` reads (batch fetch)."""
    return _nodes_read(lambda get, hasher: inclusion_proof(index, size, get, hasher))


def consistency_proof_nodes(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Return the ``(level, index)`` perfect nodes :func:`consistency_proof` reads."""
    return _nodes_read(lambda get, hasher: consistency_proof(old_size, new_size, get, hasher))


def root_nodes(size: int) -> list[tuple[int, int]]:
    """Return the ``(level, index)`` perfect nodes the root of a ``size``-leaf tree is made of."""
    return _nodes_read(lambda get, hasher: subtree_hash(0, size, get, hasher))


def append_nodes(size: int, count: int) -> list[tuple[int, int]]:
    """Return the ``(level, index)`` stored nodes that appending ``count`` leaves will read.

    These are the left siblings :func:`perfect_nodes_after_append` asks for that already exist
    in the tree of ``size`` leaves (the rest are made by the appends themselves): the perfect
    node at each level ``L`` whose bit is set in ``size``, once the appends complete its
    right-hand sibling, i.e. cross the next multiple of ``2**(L + 1)``.
    """
    if size < 0 or count < 0:
        raise ValueError(f"invalid append of {count} leaves to a tree of size {size}")
    end = size + count
    return [
        (level, (size >> level) - 1)
        for level in range(size.bit_length())
        if size >> level & 1 and end >> (level + 1) != size >> (level + 1)
    ]


def perfect_nodes_after_append(
    size_before: int, leaf_hash: bytes, get: NodeGetter, hasher: Hasher
) -> list[tuple[int, int, bytes]]:
    """Return the ``(level, index, hash)`` nodes completed by appending leaf ``size_before``.

    The first entry is the leaf itself at level 0; one more follows per trailing one bit of
    ``size_before``. ``get`` is asked only for left siblings that were already complete.
    """
    if size_before < 0:
        raise ValueError(f"invalid tree size {size_before}")
    level, index, current = 0, size_before, leaf_hash
    nodes = [(level, index, current)]
    while index & 1:
        current = node_hash(hasher, get(level, index - 1), current)
        level, index = level + 1, index >> 1
        nodes.append((level, index, current))
    return nodes


def _valid_hashes(hasher: Hasher, *hashes: object) -> bool:
    size = hasher.digest_size
    return all(isinstance(h, bytes) and len(h) == size for h in hashes)


def _valid_size(*values: object) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values)


def verify_inclusion(
    hasher: Hasher, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Return whether ``proof`` puts ``leaf_hash`` at ``index`` in the ``size`` tree with ``root``.

    Implements RFC 9162 §2.1.3.2; malformed input yields False, never an exception.
    """
    try:
        proof = list(proof)
    except TypeError:
        return False
    if not _valid_size(index, size) or not _valid_hashes(hasher, leaf_hash, root, *proof):
        return False
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(hasher, p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(hasher, r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and hmac.compare_digest(r, root)


def verify_consistency(
    hasher: Hasher,
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> bool:
    """Return whether ``proof`` shows the ``old_size`` tree is a prefix of the ``new_size`` tree.

    Implements RFC 9162 §2.1.4.2. Equal sizes need an empty proof and equal roots; from size 0
    the proof must be empty and ``old_root`` the empty-tree hash. Malformed input yields False.
    """
    try:
        proof = list(proof)
    except TypeError:
        return False
    if not _valid_size(old_size, new_size) or not _valid_hashes(hasher, old_root, new_root, *proof):
        return False
    if old_size > new_size:
        return False
    if old_size == new_size:
        return not proof and hmac.compare_digest(old_root, new_root)
    if old_size == 0:
        return not proof and hmac.compare_digest(old_root, empty_root(hasher))
    if not proof:
        return False
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a proof node
        proof = [old_root, *proof]
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(hasher, c, fr)
            sr = node_hash(hasher, c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(hasher, sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root)


class MerkleTree:
    """An in-memory append-only Merkle tree keeping only perfect nodes (tests, offline checks)."""

    def __init__(self, hasher: Hasher, leaves: Sequence[bytes] = ()) -> None:
        self.hasher = hasher
        self._levels: list[list[bytes]] = []
        for data in leaves:
            self.append(data)

    def __len__(self) -> int:
        return len(self._levels[0]) if self._levels else 0

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return len(self)

    def get(self, level: int, index: int) -> bytes:
        """Return a stored perfect node; raise IndexError if it is not complete yet."""
        if level < 0 or index < 0 or level >= len(self._levels):
            raise IndexError(f"no perfect node at level {level}, index {index}")
        row = self._levels[level]
        if index >= len(row):
            raise IndexError(f"no perfect node at level {level}, index {index}")
        return row[index]

    def append(self, data: bytes) -> int:
        """Append an entry (hashed as a leaf) and return its index."""
        return self.append_leaf_hash(leaf_hash(self.hasher, data))

    def append_leaf_hash(self, leaf: bytes) -> int:
        """Append an already computed leaf hash and return its index."""
        index = len(self)
        for level, position, value in perfect_nodes_after_append(
            index, leaf, self.get, self.hasher
        ):
            if level == len(self._levels):
                self._levels.append([])
            assert len(self._levels[level]) == position
            self._levels[level].append(value)
        return index

    def leaf_hash(self, index: int) -> bytes:
        """Return the leaf hash at ``index``."""
        return self.get(0, index)

    def _size(self, size: int | None) -> int:
        if size is None:
            return len(self)
        if not 0 <= size <= len(self):
            raise ValueError(f"tree size {size} is outside [0, {len(self)}]")
        return size

    def root(self, size: int | None = None) -> bytes:
        """Return the root hash of the first ``size`` leaves (default: all)."""
        return subtree_hash(0, self._size(size), self.get, self.hasher)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Return the audit path for leaf ``index`` in the tree of ``size`` leaves."""
        return inclusion_proof(index, self._size(size), self.get, self.hasher)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Return the consistency proof from ``old_size`` to ``new_size`` (default: all)."""
        return consistency_proof(old_size, self._size(new_size), self.get, self.hasher)
