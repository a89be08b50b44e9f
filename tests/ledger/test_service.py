"""The stored ledger on both databases: appends, roots, proofs, checkpoints."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from gongshu.bootstrap import Platform
from gongshu.kernel.crypto import Ed25519Signer, Hasher, Sm2Signer
from gongshu.ledger import service as ledger
from gongshu.ledger.canonical import _exact
from gongshu.ledger.checkpoint import verify_note
from gongshu.ledger.errors import ProofOutOfRange
from gongshu.ledger.merkle import MerkleTree, leaf_hash, verify_consistency, verify_inclusion
from gongshu.ledger.models import LedgerEntry, LedgerHead, LedgerNode
from gongshu.ledger.service import LedgerKeys, Pending
from gongshu.ledger.verify import verify_database


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


def _stored(platform: Platform) -> tuple[list[tuple[int, bytes, str]], dict[tuple[int, int], str]]:
    with platform.uow() as uow:
        rows = uow.session.execute(
            sa.select(LedgerEntry.index, LedgerEntry.body, LedgerEntry.leaf_hash).order_by(
                LedgerEntry.index
            )
        )
        entries = [(i, bytes(b), h) for i, b, h in rows]
        nodes = uow.session.execute(sa.select(LedgerNode.level, LedgerNode.index, LedgerNode.hash))
        return entries, {(level, index): value for level, index, value in nodes}


def _expected_nodes(tree: MerkleTree) -> dict[tuple[int, int], str]:
    return {
        (level, index): tree.get(level, index).hex()
        for level in range(tree.size.bit_length())
        for index in range(tree.size >> level)
    }


def test_batches_of_any_size_store_the_exact_bodies_and_every_perfect_node(
    platform: Platform, keys: LedgerKeys
) -> None:
    appended: list[int] = []
    tricky = {"金额": 1000.0, "比例": 0.125, "大数": 2**60, "\U0001f600": "😀", "\ue000": None}
    for batch in (1, 2, 5, 1, 16, 31, 1, 64, 3):
        with platform.uow() as uow:
            first = ledger.tree_size(uow, keys=keys)
            items = [
                Pending("grant.update", "grant", f"grt_{first + n}", {**tricky, "n": first + n})
                for n in range(batch)
            ]
            appended += ledger.append_many(uow, keys=keys, items=items)
            assert ledger.tree_size(uow, keys=keys) == first + batch  # read in the same unit
            uow.commit()
    assert appended == list(range(124))
    entries, nodes = _stored(platform)
    tree = MerkleTree(keys.hasher)
    for index, body, leaf in entries:
        expected_body = _exact(
            {
                "index": index,
                "at": "2026-11-25T02:00:00+00:00",
                "kind": "grant.update",
                "subject": {"type": "grant", "id": f"grt_{index}"},
                "payload": {**tricky, "n": index},
            }
        )
        assert body == expected_body
        assert leaf == leaf_hash(keys.hasher, body).hex()
        tree.append(body)
    assert nodes == _expected_nodes(tree)
    with platform.uow() as uow:
        assert ledger.root(uow, keys=keys, size=124) == tree.root()
        assert ledger.inclusion(uow, keys=keys, index=77, size=100) == tree.inclusion_proof(77, 100)
        assert ledger.consistency(uow, keys=keys, first=13, second=124) == (
            tree.consistency_proof(13, 124)
        )
        assert verify_database(uow, keys=keys).ok


def test_concurrent_appenders_get_consecutive_indexes_and_one_valid_tree(
    platform: Platform, keys: LedgerKeys
) -> None:
    _fill(platform, keys, 3)
    started = threading.Barrier(8)

    def appender(worker: int) -> list[int]:
        got: list[int] = []
        started.wait(timeout=10)
        for round_ in range(4):
            with platform.uow() as uow:
                items = [
                    Pending("grant.create", "grant", f"w{worker}-{round_}-{n}", {"w": worker})
                    for n in range(1 + (worker + round_) % 3)
                ]
                got += ledger.append_many(uow, keys=keys, items=items)
                uow.commit()
        return got

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [f.result() for f in [pool.submit(appender, w) for w in range(8)]]
    indexes = sorted(i for got in results for i in got)
    assert indexes == list(range(3, 3 + len(indexes)))
    for got in results:  # one unit of work's entries are contiguous
        assert got == sorted(got)
    entries, nodes = _stored(platform)
    assert [index for index, _, _ in entries] == list(range(3 + len(indexes)))
    tree = MerkleTree(keys.hasher, [body for _, body, _ in entries])
    assert nodes == _expected_nodes(tree)
    with platform.uow() as uow:
        assert ledger.tree_size(uow, keys=keys) == tree.size
        assert verify_database(uow, keys=keys).ok


def test_a_missing_head_row_is_made_again(platform: Platform, keys: LedgerKeys) -> None:
    with platform.uow() as uow:
        uow.session.execute(sa.delete(LedgerHead))
        uow.commit()
    with platform.uow() as uow:
        assert ledger.tree_size(uow, keys=keys) == 0
        assert (
            ledger.append(uow, keys=keys, kind="k", subject_type="t", subject_id="1", payload={})
            == 0
        )
        uow.commit()
    with platform.uow() as uow:
        head = uow.session.get(LedgerHead, ledger.HEAD_ID)
        assert head is not None and (head.size, head.hash_algorithm) == (1, "sm3")
