"""Check a whole log — live or exported — and name the first thing that is wrong.

Every leaf hash is recomputed from the entry's bytes, every entry must carry its own index
(so deletions, insertions and reorderings show), every checkpoint's signatures must hold and
its root must equal the recomputed root at its size, and consecutive checkpoints must be
consistent. The export is a plain directory, so verification needs nothing but the files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from gongshu.kernel.crypto import Hasher, SignatureAlgorithm
from gongshu.kernel.uow import UnitOfWork
from gongshu.ledger.checkpoint import verify_note
from gongshu.ledger.merkle import MerkleTree, leaf_hash, verify_consistency
from gongshu.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerNode
from gongshu.ledger.service import LedgerKeys, tree_size

__all__ = ["Report", "export_ledger", "verify_database", "verify_export", "verify_stream"]

ENTRIES_FILE = "entries.ndjson"
LEAVES_FILE = "leaves.txt"  # the hash recorded for each entry, one hex line each
KEYS_FILE = "keys.json"
CHECKPOINTS_DIR = "checkpoints"
Progress = Callable[[int, int], None]


@dataclass
class Report:
    """The outcome: how much was checked and the first problem found, if any."""

    entries: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def fail(self, message: str) -> None:
        """Record a problem (the first one is the one that matters)."""
        self.problems.append(message)


def verify_stream(
    *,
    hasher: Hasher,
    origin: str,
    verifiers: dict[str, tuple[SignatureAlgorithm, bytes]],
    entries: Iterable[tuple[int, bytes, str | None]],
    checkpoints: Iterable[tuple[int, str]],
    stored_nodes: Callable[[int], dict[int, str]] | None = None,
    progress: Progress | None = None,
    total: int = 0,
) -> Report:
    """Verify ``(position, body, recorded leaf hash)`` entries against signed checkpoints."""
    report = Report()
    tree = MerkleTree(hasher)
    for position, body, recorded in entries:
        try:
            claimed = json.loads(body)["index"]
        except (ValueError, KeyError, TypeError):
            report.fail(f"entry {position}: body is not a ledger entry")
            return report
        if claimed != position:
            report.fail(
                f"entry {position}: carries index {claimed} — an entry was deleted, inserted "
                "or moved here"
            )
            return report
        leaf = leaf_hash(hasher, body)
        if recorded is not None and recorded != leaf.hex():
            report.fail(f"entry {position}: payload does not match its recorded leaf hash")
            return report
        tree.append_leaf_hash(leaf)  # hashed once, just above
        report.entries += 1
        if progress is not None and position % 1000 == 0:
            progress(position, total)
    if stored_nodes is not None:
        leaves = stored_nodes(0)
        for index in range(tree.size):
            if leaves.get(index) != tree.leaf_hash(index).hex():
                report.fail(f"entry {index}: stored tree node differs from the entry's hash")
                return report
    previous: tuple[int, bytes] | None = None
    for size, note in sorted(checkpoints):
        try:
            checkpoint = verify_note(note, verifiers, origin=origin)
        except ValueError as exc:
            report.fail(f"checkpoint {size}: {exc}")
            return report
        if checkpoint.size != size:
            report.fail(f"checkpoint {size}: the note says size {checkpoint.size} (replayed?)")
            return report
        if size > tree.size:
            report.fail(f"checkpoint {size}: the log holds only {tree.size} entries")
            return report
        if checkpoint.root != tree.root(size):
            start = previous[0] if previous else 0
            report.fail(
                f"checkpoint {size}: root differs from the entries — an entry between "
                f"{start} and {size - 1} was changed"
            )
            return report
        if previous is not None:
            proof = tree.consistency_proof(previous[0], size)
            if not verify_consistency(
                hasher, previous[0], size, previous[1], checkpoint.root, proof
            ):
                report.fail(f"checkpoint {size}: not consistent with checkpoint {previous[0]}")
                return report
        previous = (size, checkpoint.root)
        report.checkpoints += 1
    return report


def verify_database(
    uow: UnitOfWork, *, keys: LedgerKeys, progress: Progress | None = None
) -> Report:
    """Verify the live log in the metadata database."""
    size = tree_size(uow, keys=keys)

    def rows() -> Generator[tuple[int, bytes, str | None], None, None]:
        stmt = sa.select(LedgerEntry.body, LedgerEntry.leaf_hash).order_by(LedgerEntry.index)
        # Positions come from the order; the body's own index is what gets checked, so a
        # gap or a duplicate shows.
        result = uow.session.execute(stmt.execution_options(yield_per=5000))
        try:
            for position, (body, leaf) in enumerate(result):
                yield position, body, leaf
        finally:
            result.close()  # verification may stop early; free the server-side cursor

    def nodes(level: int) -> dict[int, str]:
        stmt = sa.select(LedgerNode.index, LedgerNode.hash).where(LedgerNode.level == level)
        return {i: h for i, h in uow.session.execute(stmt)}

    checkpoints = uow.session.execute(sa.select(LedgerCheckpoint.size, LedgerCheckpoint.note))
    stream = rows()
    report = verify_stream(
        hasher=keys.hasher,
        origin=keys.origin,
        verifiers=keys.verifiers(),
        entries=stream,
        checkpoints=[(s, n) for s, n in checkpoints],
        stored_nodes=nodes,
        progress=progress,
        total=size,
    )
    stream.close()
    if report.ok and report.entries != size:
        report.fail(f"the head says {size} entries, the table holds {report.entries}")
    return report


def export_ledger(uow: UnitOfWork, *, keys: LedgerKeys, directory: Path) -> int:
    """Write a self-contained export: entries, checkpoints, public keys. Returns entries."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CHECKPOINTS_DIR).mkdir(exist_ok=True)
    count = 0
    with (directory / ENTRIES_FILE).open("wb") as out, (directory / LEAVES_FILE).open("w") as lv:
        stmt = sa.select(LedgerEntry.body, LedgerEntry.leaf_hash).order_by(LedgerEntry.index)
        for body, leaf in uow.session.execute(stmt.execution_options(yield_per=5000)):
            out.write(body + b"\n")  # canonical JSON never contains a raw newline
            lv.write(leaf + "\n")
            count += 1
    for size, note in uow.session.execute(sa.select(LedgerCheckpoint.size, LedgerCheckpoint.note)):
        (directory / CHECKPOINTS_DIR / f"{size}.note").write_text(note, encoding="utf-8")
    (directory / KEYS_FILE).write_text(
        json.dumps(
            {
                "origin": keys.origin,
                "hash_algorithm": keys.hasher.name,
                "keys": {
                    name: {"algorithm": alg, "public_key": pub.hex()}
                    for name, (alg, pub) in keys.verifiers().items()
                },
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    return count


def verify_export(directory: Path, *, progress: Progress | None = None) -> Report:
    """Verify an export offline, from its files alone."""
    meta = json.loads((directory / KEYS_FILE).read_text(encoding="utf-8"))
    verifiers: dict[str, tuple[SignatureAlgorithm, bytes]] = {
        name: (k["algorithm"], bytes.fromhex(k["public_key"])) for name, k in meta["keys"].items()
    }

    leaves_path = directory / LEAVES_FILE
    recorded = leaves_path.read_text().split() if leaves_path.exists() else []

    def rows() -> Iterator[tuple[int, bytes, str | None]]:
        with (directory / ENTRIES_FILE).open("rb") as fh:
            for position, line in enumerate(fh):
                leaf = recorded[position] if position < len(recorded) else None
                yield position, line.rstrip(b"\n"), leaf

    notes = []
    for path in sorted((directory / CHECKPOINTS_DIR).glob("*.note")):
        try:
            size = int(path.stem)
        except ValueError:
            continue
        notes.append((size, path.read_text(encoding="utf-8")))
    return verify_stream(
        hasher=Hasher(meta["hash_algorithm"]),
        origin=meta["origin"],
        verifiers=verifiers,
        entries=rows(),
        checkpoints=notes,
        progress=progress,
    )
