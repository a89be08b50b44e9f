"""The stored ledger on both databases: appends, roots, proofs, checkpoints."""

from __future__ import annotations

import pytest

from gongshu.bootstrap import Platform
from gongshu.kernel.crypto import Ed25519Signer, Hasher, Sm2Signer
from gongshu.ledger import service as ledger
from gongshu.ledger.checkpoint import verify_note
from gongshu.ledger.errors import ProofOutOfRange
from gongshu.ledger.merkle import MerkleTree, leaf_hash, verify_consistency, verify_inclusion
from gongshu.ledger.service import LedgerKeys, Pending


@pytest.fixture(scope="module")
def keys() -> LedgerKeys:
    return LedgerKeys(
        hasher=Hasher("sm3"),
        origin="gongshu.test/ledger",
        signers=(("gongshu-test", Sm2Signer.generate()), ("witness", Ed25519Signer.generate())),
    )


def _fill(platform: Platform, keys: LedgerKeys, count: int) -> None:
    with platform.uow() as uow:
        ledger.append_many(
            uow,
            keys=keys,
            items=[
                Pending("grant.create", "grant", f"grt_{n}", {"n": n, "用途": "测试"})
                for n in range(count)
            ],
        )
        uow.commit()


def test_append_assigns_consecutive_indexes_and_rolls_back_with_the_change(
    platform: Platform, keys: LedgerKeys
) -> None:
    with platform.uow() as uow:
        assert (
            ledger.append(uow, keys=keys, kind="k", subject_type="t", subject_id="1", payload={})
            == 0
        )
    with platform.uow() as uow:  # the first block never committed
        assert ledger.tree_size(uow, keys=keys) == 0
        first = ledger.append(
            uow, keys=keys, kind="k", subject_type="t", subject_id="1", payload={"a": 1}
        )
        second = ledger.append(
            uow, keys=keys, kind="k", subject_type="t", subject_id="2", payload={"a": 2}
        )
        uow.commit()
    assert (first, second) == (0, 1)


def test_roots_and_proofs_match_an_in_memory_tree(platform: Platform, keys: LedgerKeys) -> None:
    _fill(platform, keys, 37)
    with platform.uow() as uow:
        bodies = [e.body for e in ledger.entries(uow, start=0, end=100)]
        tree = MerkleTree(keys.hasher, bodies)
        for size in (1, 2, 3, 16, 17, 36, 37):
            assert ledger.root(uow, keys=keys, size=size) == tree.root(size)
        for index, size in [(0, 37), (36, 37), (16, 17), (5, 16)]:
            proof = ledger.inclusion(uow, keys=keys, index=index, size=size)
            assert verify_inclusion(
                keys.hasher,
                leaf_hash(keys.hasher, bodies[index]),
                index,
                size,
                proof,
                tree.root(size),
            )
        for first, second in [(1, 37), (16, 37), (20, 33), (37, 37)]:
            proof = ledger.consistency(uow, keys=keys, first=first, second=second)
            assert verify_consistency(
                keys.hasher, first, second, tree.root(first), tree.root(second), proof
            )
        entry = ledger.entry_by_hash(uow, leaf=leaf_hash(keys.hasher, bodies[7]).hex())
        assert entry.index == 7
        with pytest.raises(ProofOutOfRange):
            ledger.inclusion(uow, keys=keys, index=37, size=37)
        with pytest.raises(ProofOutOfRange):
            ledger.root(uow, keys=keys, size=38)


def test_entries_are_canonical_json_with_their_index(platform: Platform, keys: LedgerKeys) -> None:
    _fill(platform, keys, 2)
    with platform.uow() as uow:
        body = ledger.entries(uow, start=1, end=2)[0].body
    assert body.startswith(b'{"at":"2026-11-25T02:00:00+00:00","index":1,"kind":"grant.create"')
    assert "测试".encode() in body


def test_checkpoints_are_signed_notes_once_per_size(platform: Platform, keys: LedgerKeys) -> None:
    _fill(platform, keys, 5)
    with platform.uow() as uow:
        first = ledger.make_checkpoint(uow, keys=keys)
        again = ledger.make_checkpoint(uow, keys=keys)
        assert again.note == first.note
        checkpoint = verify_note(first.note, keys.verifiers(), origin=keys.origin)
        assert checkpoint.size == 5
        assert checkpoint.root == ledger.root(uow, keys=keys, size=5)
        latest = ledger.latest_checkpoint(uow)
        assert latest is not None and latest.size == 5


def test_a_log_hashed_one_way_refuses_the_other(platform: Platform, keys: LedgerKeys) -> None:
    _fill(platform, keys, 1)
    other = LedgerKeys(Hasher("sha256"), keys.origin, keys.signers)
    with platform.uow() as uow, pytest.raises(Exception, match="hashed with sm3"):
        ledger.append(uow, keys=other, kind="k", subject_type="t", subject_id="x", payload={})
