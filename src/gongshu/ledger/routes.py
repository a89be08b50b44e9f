"""Public HTTP routes of the ledger: anyone may check what the platform has recorded."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from gongshu.identity.deps import UoW
from gongshu.kernel.errors import NotFound
from gongshu.ledger import service as ledger
from gongshu.ledger.errors import ProofOutOfRange
from gongshu.ledger.models import LedgerEntry
from gongshu.ledger.service import LedgerKeys

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/ledger", tags=["ledger"])
Size = Annotated[int, Query(ge=0)]


def _keys(request: Request) -> LedgerKeys:
    keys: LedgerKeys = request.app.state.platform.ledger_keys
    return keys


def _entry(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "index": entry.index,
        "at": entry.at.isoformat(),
        "kind": entry.kind,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "leaf_hash": entry.leaf_hash,
        "body": entry.body.decode("utf-8"),
        "entry": json.loads(entry.body),
    }


@router.get("/checkpoint")
def latest_checkpoint(uow: UoW) -> dict[str, Any]:
    """The newest signed checkpoint (signed-note text in ``note``)."""
    row = ledger.latest_checkpoint(uow)
    if row is None:
        raise NotFound("no checkpoint has been signed yet")
    return {"size": row.size, "root": row.root, "note": row.note, "at": row.at.isoformat()}


@router.get("/keys")
def public_keys(request: Request) -> dict[str, Any]:
    """What a verifier needs: origin, hash algorithm and the checkpoint keys."""
    keys = _keys(request)
    return {
        "origin": keys.origin,
        "hash_algorithm": keys.hasher.name,
        "keys": {
            n: {"algorithm": a, "public_key": k.hex()} for n, (a, k) in keys.verifiers().items()
        },
    }


@router.get("/entries")
def list_entries(
    uow: UoW, start: Size = 0, end: Annotated[int, Query(ge=0)] = 100
) -> dict[str, Any]:
    """Entries ``start <= index < end`` (at most 1000), with their exact hashed bytes."""
    rows = ledger.entries(uow, start=start, end=end)
    return {
        "data": [_entry(e) for e in rows],
        "meta": {"start": start, "end": start + len(rows), "count": len(rows)},
    }


@router.get("/proof/inclusion")
def inclusion(
    request: Request,
    uow: UoW,
    size: Size,
    index: Annotated[int | None, Query(ge=0)] = None,
    leaf_hash: Annotated[str | None, Query(alias="hash", pattern=r"^[0-9a-fA-F]{64}$")] = None,
) -> dict[str, Any]:
    """The audit path of one entry, by index or by leaf hash, in the tree of ``size``."""
    keys = _keys(request)
    if index is None:
        if leaf_hash is None:
            raise ProofOutOfRange.field("query.index", "give index or hash")
        index = ledger.entry_by_hash(uow, leaf=leaf_hash).index
    proof = ledger.inclusion(uow, keys=keys, index=index, size=size)
    rows = ledger.entries(uow, start=index, end=index + 1)
    return {
        "index": index,
        "size": size,
        "leaf_hash": rows[0].leaf_hash if rows else None,
        "root": ledger.root(uow, keys=keys, size=size).hex(),
        "proof": [p.hex() for p in proof],
    }


@router.get("/proof/consistency")
def consistency(request: Request, uow: UoW, first: Size, second: Size) -> dict[str, Any]:
    """The proof that the tree of ``second`` entries extends the tree of ``first``."""
    keys = _keys(request)
    proof = ledger.consistency(uow, keys=keys, first=first, second=second)
    return {
        "first": first,
        "second": second,
        "first_root": ledger.root(uow, keys=keys, size=first).hex(),
        "second_root": ledger.root(uow, keys=keys, size=second).hex(),
        "proof": [p.hex() for p in proof],
    }
