"""Tests for gongshu.ledger.merkle: RFC 6962 vectors, a naive reference, exhaustive tampering."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable

import pytest

from gongshu.kernel.crypto import Hasher
from gongshu.ledger.merkle import (
    MerkleTree,
    append_nodes,
    consistency_proof,
    consistency_proof_nodes,
    empty_root,
    inclusion_proof,
    inclusion_proof_nodes,
    leaf_hash,
    node_hash,
    perfect_nodes_after_append,
    root_from_leaves,
    root_nodes,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)

SHA256 = Hasher("sha256")
SM3 = Hasher("sm3")

# The certificate-transparency reference tree (RFC 6962 test data used by CT implementations).
LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
NODES = [  # NODES[level][index] of the full 8-leaf tree
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]
INCLUSION = [  # (index, size, path)
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


# --- An independent, deliberately naive implementation of RFC 9162 §2.1, straight from the text.


class Naive:
    """RFC 9162 MTH, PATH and PROOF by direct recursion over the entry list."""

    def __init__(self, digest: Callable[[bytes], bytes], entries: list[bytes]) -> None:
        self.digest = digest
        self.entries = entries

    @functools.cache  # noqa: B019 - instances live for one test
    def mth(self, start: int, end: int) -> bytes:
        n = end - start
        if n == 0:
            return self.digest(b"")
        if n == 1:
            return self.digest(b"\x00" + self.entries[start])
        k = 1
        while k * 2 < n:
            k *= 2
        return self.digest(b"\x01" + self.mth(start, start + k) + self.mth(start + k, end))

    def path(self, m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = 1
        while k * 2 < n:
            k *= 2
        if m < k:
            return [*self.path(m, start, start + k), self.mth(start + k, end)]
        return [*self.path(m - k, start + k, end), self.mth(start, start + k)]

    def subproof(self, m: int, start: int, end: int, whole: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if whole else [self.mth(start, end)]
        k = 1
        while k * 2 < n:
            k *= 2
        if m <= k:
            return [*self.subproof(m, start, start + k, whole), self.mth(start + k, end)]
        return [*self.subproof(m - k, start + k, end, False), self.mth(start, start + k)]

    def proof(self, m: int, n: int) -> list[bytes]:
        return [] if m in (0, n) else self.subproof(m, 0, n, True)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def entries(count: int) -> list[bytes]:
    return [f"entry {i}".encode() for i in range(count)]


def flipped(data: bytes, position: int = 0) -> bytes:
    position %= len(data)
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


def checked_getter(
    tree: MerkleTree, size: int, calls: list[tuple[int, int]]
) -> Callable[[int, int], bytes]:
    """A ``get`` that insists on perfect nodes inside ``size`` and records every call."""

    def get(level: int, index: int) -> bytes:
        assert level >= 0 and index >= 0
        assert (index + 1) << level <= size, f"asked for ragged node ({level}, {index}) of {size}"
        calls.append((level, index))
        return tree.get(level, index)

    return get


# --- Hash primitives and the reference vectors.


def test_primitives_match_rfc_definitions() -> None:
    assert leaf_hash(SHA256, b"abc") == sha256(b"\x00abc")
    assert node_hash(SHA256, b"L" * 32, b"R" * 32) == sha256(b"\x01" + b"L" * 32 + b"R" * 32)
    assert empty_root(SHA256).hex() == ROOTS[0]
    assert empty_root(SM3) == SM3.digest(b"")
    assert root_from_leaves(SHA256, []).hex() == ROOTS[0]


def test_reference_roots_for_every_size() -> None:
    tree = MerkleTree(SHA256)
    assert tree.root().hex() == ROOTS[0]
    for size, data in enumerate(LEAVES, start=1):
        assert tree.append(data) == size - 1
        assert tree.root().hex() == ROOTS[size]
    hashes = [leaf_hash(SHA256, data) for data in LEAVES]
    for size, expected in enumerate(ROOTS):
        assert tree.root(size).hex() == expected
        assert root_from_leaves(SHA256, hashes[:size]).hex() == expected
    assert tree.root().hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


def test_reference_perfect_nodes() -> None:
    tree = MerkleTree(SHA256, LEAVES)
    for level, row in enumerate(NODES):
        for index, expected in enumerate(row):
            assert tree.get(level, index).hex() == expected
    with pytest.raises(IndexError):
        tree.get(3, 1)
    with pytest.raises(IndexError):
        tree.get(4, 0)


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_reference_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    tree = MerkleTree(SHA256, LEAVES)
    proof = tree.inclusion_proof(index, size)
    assert [p.hex() for p in proof] == path
    root = bytes.fromhex(ROOTS[size])
    assert verify_inclusion(SHA256, tree.leaf_hash(index), index, size, proof, root)


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_reference_consistency_proofs(old: int, new: int, path: list[str]) -> None:
    tree = MerkleTree(SHA256, LEAVES)
    proof = tree.consistency_proof(old, new)
    assert [p.hex() for p in proof] == path
    old_root, new_root = bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new])
    assert verify_consistency(SHA256, old, new, old_root, new_root, proof)


def test_naive_reference_agrees_with_the_vectors() -> None:
    naive = Naive(sha256, LEAVES)
    assert [naive.mth(0, n).hex() for n in range(9)] == ROOTS
    for index, size, path in INCLUSION:
        assert [p.hex() for p in naive.path(index, 0, size)] == path
    for old, new, path in CONSISTENCY:
        assert [p.hex() for p in naive.proof(old, new)] == path


# --- Exhaustive checks against the naive implementation, sizes 1..64.

MAX = 64


@pytest.fixture(scope="module")
def big() -> tuple[MerkleTree, Naive]:
    data = entries(MAX)
    return MerkleTree(SHA256, data), Naive(sha256, data)


def test_roots_and_arbitrary_subtrees_match_naive(big: tuple[MerkleTree, Naive]) -> None:
    tree, naive = big
    for end in range(MAX + 1):
        assert tree.root(end) == naive.mth(0, end)
        for start in range(end + 1):
            if start == end:
                continue
            assert subtree_hash(start, end, tree.get, SHA256) == naive.mth(start, end)


def test_every_inclusion_proof(big: tuple[MerkleTree, Naive]) -> None:
    tree, naive = big
    for size in range(1, MAX + 1):
        root = naive.mth(0, size)
        proofs = [tree.inclusion_proof(i, size) for i in range(size)]
        for index, proof in enumerate(proofs):
            leaf = tree.leaf_hash(index)
            assert proof == naive.path(index, 0, size)
            assert verify_inclusion(SHA256, leaf, index, size, proof, root)
            # Any flipped byte in the leaf, the root or any proof element is caught.
            assert not verify_inclusion(SHA256, flipped(leaf, index), index, size, proof, root)
            assert not verify_inclusion(SHA256, leaf, index, size, proof, flipped(root, size))
            for position, element in enumerate(proof):
                bad = [*proof]
                bad[position] = flipped(element, index + position)
                assert not verify_inclusion(SHA256, leaf, index, size, bad, root)
            # Truncated, extended or reordered proofs fail.
            if proof:
                assert not verify_inclusion(SHA256, leaf, index, size, proof[:-1], root)
                assert not verify_inclusion(SHA256, leaf, index, size, proof[1:], root)
            assert not verify_inclusion(SHA256, leaf, index, size, [*proof, root], root)
            if len(proof) > 1:
                swapped = [proof[1], proof[0], *proof[2:]]
                assert not verify_inclusion(SHA256, leaf, index, size, swapped, root)
            # A wrong index fails, whether the claimed leaf is this one or the one really there.
            for other in range(size + 2):
                if other != index:
                    assert not verify_inclusion(SHA256, leaf, other, size, proof, root)
                    if other < size:
                        other_leaf = tree.leaf_hash(other)
                        assert not verify_inclusion(SHA256, other_leaf, other, size, proof, root)
            # A wrong size fails against the true root of that size, unless the audit path
            # for that size is literally the same list (the proof then is a valid one).
            for other_size in range(index + 1, min(MAX, size + 3) + 1):
                if other_size != size:
                    other_root = naive.mth(0, other_size)
                    expected = naive.path(index, 0, other_size) == proof
                    assert (
                        verify_inclusion(SHA256, leaf, index, other_size, proof, other_root)
                        is expected
                    )


def test_every_consistency_proof(big: tuple[MerkleTree, Naive]) -> None:
    tree, naive = big
    for new in range(0, MAX + 1):
        new_root = naive.mth(0, new)
        for old in range(0, new + 1):
            old_root = naive.mth(0, old)
            proof = tree.consistency_proof(old, new)
            assert proof == naive.proof(old, new)
            assert verify_consistency(SHA256, old, new, old_root, new_root, proof)
            assert not verify_consistency(SHA256, old, new, flipped(old_root), new_root, proof)
            if old:  # the empty tree is a prefix of every tree, whatever its root
                assert not verify_consistency(SHA256, old, new, old_root, flipped(new_root), proof)
            for position, element in enumerate(proof):
                bad = [*proof]
                bad[position] = flipped(element, old + position)
                assert not verify_consistency(SHA256, old, new, old_root, new_root, bad)
            if proof:
                assert not verify_consistency(SHA256, old, new, old_root, new_root, proof[:-1])
                assert not verify_consistency(SHA256, old, new, old_root, new_root, proof[1:])
            extended = [*proof, new_root]
            assert not verify_consistency(SHA256, old, new, old_root, new_root, extended)
            # Reversed sizes never verify.
            if old != new:
                assert not verify_consistency(SHA256, new, old, new_root, old_root, proof)
            # With the true roots of other sizes, the proof verifies only if it is literally
            # the proof for those sizes.
            for other_old in range(max(0, old - 2), min(new, old + 2) + 1):
                for other_new in range(max(other_old, new - 2), min(MAX, new + 2) + 1):
                    if (other_old, other_new) == (old, new):
                        continue
                    expected = naive.proof(other_old, other_new) == proof
                    ok = verify_consistency(
                        SHA256,
                        other_old,
                        other_new,
                        naive.mth(0, other_old),
                        naive.mth(0, other_new),
                        proof,
                    )
                    assert ok is expected, (old, new, other_old, other_new)


def test_consistency_edge_cases() -> None:
    tree = MerkleTree(SHA256, LEAVES)
    empty, root3, root8 = tree.root(0), tree.root(3), tree.root(8)
    # old_size == new_size: empty proof and equal roots.
    assert verify_consistency(SHA256, 3, 3, root3, root3, [])
    assert not verify_consistency(SHA256, 3, 3, root3, root8, [])
    assert not verify_consistency(SHA256, 3, 3, root3, root3, [root3])
    # old_size == 0: empty proof, and the old root must be the empty-tree hash.
    assert verify_consistency(SHA256, 0, 8, empty, root8, [])
    assert verify_consistency(SHA256, 0, 0, empty, empty, [])
    assert not verify_consistency(SHA256, 0, 8, root3, root8, [])
    assert not verify_consistency(SHA256, 0, 8, empty, root8, [root3])
    # 0 < old < new needs a non-empty proof.
    assert not verify_consistency(SHA256, 3, 8, root3, root8, [])
    assert not verify_consistency(SHA256, 8, 3, root8, root3, tree.consistency_proof(3, 8))


def test_malformed_input_returns_false_never_raises() -> None:
    tree = MerkleTree(SHA256, LEAVES)
    leaf, root = tree.leaf_hash(2), tree.root(5)
    proof = tree.inclusion_proof(2, 5)
    assert verify_inclusion(SHA256, leaf, 2, 5, proof, root)
    bad_inclusion: list[tuple[object, ...]] = [
        (leaf, -1, 5, proof, root),
        (leaf, 2, -5, proof, root),
        (leaf, 5, 5, proof, root),
        (leaf, 0, 0, [], root),
        (leaf, True, 5, proof, root),
        (leaf, 2.0, 5, proof, root),
        (leaf, "2", 5, proof, root),
        (leaf[:-1], 2, 5, proof, root),
        (leaf, 2, 5, proof, root + b"\x00"),
        (leaf, 2, 5, [*proof[:-1], proof[-1][:31]], root),
        (leaf, 2, 5, [*proof[:-1], proof[-1].hex()], root),
        (leaf, 2, 5, [*proof[:-1], None], root),
        (leaf, 2, 5, None, root),
        (leaf, 2, 5, 42, root),
        (None, 2, 5, proof, root),
        (leaf.hex(), 2, 5, proof, root),
        (leaf, 2, 5, proof, None),
    ]
    for args in bad_inclusion:
        assert verify_inclusion(SHA256, *args) is False, args  # type: ignore[arg-type]

    old_root, new_root = tree.root(3), tree.root(7)
    cproof = tree.consistency_proof(3, 7)
    assert verify_consistency(SHA256, 3, 7, old_root, new_root, cproof)
    bad_consistency: list[tuple[object, ...]] = [
        (-3, 7, old_root, new_root, cproof),
        (3, -7, old_root, new_root, cproof),
        (7, 3, new_root, old_root, cproof),
        (True, 7, old_root, new_root, cproof),
        (3, 7.0, old_root, new_root, cproof),
        (3, 7, old_root[:5], new_root, cproof),
        (3, 7, old_root, None, cproof),
        (3, 7, old_root, new_root, None),
        (3, 7, old_root, new_root, [b"x"] * len(cproof)),
        (3, 7, old_root, new_root, [*cproof, None]),
        (3, 2**70, old_root, new_root, cproof),
    ]
    for args in bad_consistency:
        assert verify_consistency(SHA256, *args) is False, args  # type: ignore[arg-type]
    assert not verify_inclusion(SHA256, leaf, 2, 2**70, proof, root)


def test_proof_generation_rejects_bad_ranges() -> None:
    tree = MerkleTree(SHA256, LEAVES)
    for index, size in [(-1, 5), (5, 5), (0, 0)]:
        with pytest.raises(ValueError, match="outside"):
            inclusion_proof(index, size, tree.get, SHA256)
    for old, new in [(-1, 5), (6, 5)]:
        with pytest.raises(ValueError, match="consistency"):
            consistency_proof(old, new, tree.get, SHA256)
    with pytest.raises(ValueError, match="outside"):
        tree.root(9)
    with pytest.raises(ValueError, match="outside"):
        tree.consistency_proof(2, 9)
    with pytest.raises(ValueError, match="range"):
        subtree_hash(5, 4, tree.get, SHA256)
    with pytest.raises(ValueError, match="size"):
        perfect_nodes_after_append(-1, tree.leaf_hash(0), tree.get, SHA256)


# --- The storage contract: only perfect nodes, few calls, O(log n) new nodes per append.


def test_proofs_only_read_perfect_nodes_in_logarithmic_calls() -> None:
    size_limit = 300
    tree = MerkleTree(SHA256, entries(size_limit))
    for size in [*range(1, 70), 127, 128, 129, 255, 256, 257, 299, 300]:
        bound = 2 * size.bit_length() + 2
        calls: list[tuple[int, int]] = []
        get = checked_getter(tree, size, calls)
        assert subtree_hash(0, size, get, SHA256) == tree.root(size)
        assert len(calls) <= size.bit_count()
        assert root_nodes(size) == calls
        for index in {i for i in (0, 1, size // 3, size // 2, size - 2, size - 1) if 0 <= i < size}:
            calls.clear()
            assert inclusion_proof(index, size, get, SHA256) == tree.inclusion_proof(index, size)
            assert len(calls) <= bound, (index, size, calls)
            assert inclusion_proof_nodes(index, size) == list(dict.fromkeys(calls))
        for old in {m for m in (1, 2, size // 3, size // 2, size - 1, size) if m <= size}:
            calls.clear()
            assert consistency_proof(old, size, get, SHA256) == tree.consistency_proof(old, size)
            assert len(calls) <= bound, (old, size, calls)
            assert consistency_proof_nodes(old, size) == list(dict.fromkeys(calls))


def test_perfect_nodes_after_append_builds_exactly_the_perfect_nodes() -> None:
    store: dict[tuple[int, int], bytes] = {}
    data = entries(130)
    for size_before, item in enumerate(data):
        asked: list[tuple[int, int]] = []

        def get(
            level: int, index: int, before: int = size_before, log: list[tuple[int, int]] = asked
        ) -> bytes:
            assert (index + 1) << level <= before  # only nodes that already existed
            log.append((level, index))
            return store[level, index]

        new = perfect_nodes_after_append(size_before, leaf_hash(SHA256, item), get, SHA256)
        trailing_ones = (~size_before & (size_before + 1)).bit_length() - 1
        assert len(new) == 1 + trailing_ones
        assert len(asked) == trailing_ones
        assert new[0] == (0, size_before, leaf_hash(SHA256, item))
        for level, index, value in new:
            assert (level, index) not in store
            store[level, index] = value
        size = size_before + 1
        expected = {
            (level, index) for level in range(size.bit_length()) for index in range(size >> level)
        }
        assert set(store) == expected
        naive = Naive(sha256, data[:size])
        for level, index, _ in new:
            assert store[level, index] == naive.mth(index << level, (index + 1) << level)
        assert subtree_hash(0, size, lambda lv, i: store[lv, i], SHA256) == naive.mth(0, size)


def test_append_leaf_hash_and_sequence_construction() -> None:
    tree = MerkleTree(SHA256)
    for data in LEAVES:
        tree.append_leaf_hash(leaf_hash(SHA256, data))
    assert len(tree) == tree.size == 8
    assert tree.root().hex() == ROOTS[8]
    assert MerkleTree(SHA256, LEAVES).root() == tree.root()


# --- SM3 trees behave identically.


def test_sm3_tree_matches_naive_and_verifies() -> None:
    data = entries(40)
    tree = MerkleTree(SM3, data)
    naive = Naive(SM3.digest, data)
    sha_tree = MerkleTree(SHA256, data)
    assert tree.root() != sha_tree.root()
    for size in range(1, 41):
        root = tree.root(size)
        assert root == naive.mth(0, size)
        assert root == root_from_leaves(SM3, [leaf_hash(SM3, d) for d in data[:size]])
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            assert proof == naive.path(index, 0, size)
            assert verify_inclusion(SM3, tree.leaf_hash(index), index, size, proof, root)
            if proof:
                assert not verify_inclusion(SHA256, tree.leaf_hash(index), index, size, proof, root)
        for old in range(0, size + 1):
            proof = tree.consistency_proof(old, size)
            assert proof == naive.proof(old, size)
            assert verify_consistency(SM3, old, size, tree.root(old), root, proof)
            if proof:
                bad = [flipped(proof[0]), *proof[1:]]
                assert not verify_consistency(SM3, old, size, tree.root(old), root, bad)
    assert empty_root(SM3).hex() == (
        "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"
    )


def from_dict(nodes: dict[tuple[int, int], bytes]) -> Callable[[int, int], bytes]:
    return lambda level, index: nodes[level, index]


def test_batch_fetching_the_listed_nodes_is_enough() -> None:
    tree = MerkleTree(SHA256, entries(1000))
    for index, size in [(0, 1), (17, 1000), (999, 1000), (500, 777)]:
        fetched = {node: tree.get(*node) for node in inclusion_proof_nodes(index, size)}
        proof = inclusion_proof(index, size, from_dict(fetched), SHA256)
        assert verify_inclusion(SHA256, tree.leaf_hash(index), index, size, proof, tree.root(size))
    for old, new in [(0, 5), (5, 5), (1, 1000), (333, 777), (512, 1000)]:
        fetched = {node: tree.get(*node) for node in consistency_proof_nodes(old, new)}
        proof = consistency_proof(old, new, from_dict(fetched), SHA256)
        assert verify_consistency(SHA256, old, new, tree.root(old), tree.root(new), proof)
    assert root_nodes(0) == []
    assert root_nodes(1000) == [(9, 0), (8, 2), (7, 6), (6, 14), (5, 30), (3, 124)]


def _stored_nodes_read(tree: MerkleTree, size: int, count: int) -> list[tuple[int, int]]:
    """Append ``count`` leaves to the first ``size``; the nodes read that the batch did not make."""
    made: set[tuple[int, int]] = set()
    read: dict[tuple[int, int], None] = {}

    def get(level: int, index: int) -> bytes:
        if (level, index) not in made:
            assert (index + 1) << level <= size  # already stored before the batch
            read[level, index] = None
        return tree.get(level, index)

    for position in range(size, size + count):
        for level, index, value in perfect_nodes_after_append(
            position, tree.leaf_hash(position), get, SHA256
        ):
            assert value == tree.get(level, index)
            made.add((level, index))
    return list(read)


def test_append_nodes_lists_exactly_the_stored_nodes_a_batch_of_appends_reads() -> None:
    tree = MerkleTree(SHA256, entries(300))
    for size in range(0, 260):
        for count in (0, 1, 2, 3, 5, 8, 13, 40):
            expected = sorted(_stored_nodes_read(tree, size, count))
            assert sorted(append_nodes(size, count)) == expected, (size, count)
    assert append_nodes(0, 1000) == []
    assert append_nodes(7, 1) == [(0, 6), (1, 2), (2, 0)]
    assert append_nodes(6, 1) == []
    with pytest.raises(ValueError):
        append_nodes(-1, 1)
