"""The public verification page of one ledger entry (no sign-in needed)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from gongshu.identity.deps import UoW
from gongshu.ledger import service as ledger
from gongshu.ledger.checkpoint import verify_note
from gongshu.ledger.errors import EntryNotFound
from gongshu.ledger.merkle import leaf_hash, verify_inclusion
from gongshu.ledger.service import LedgerKeys

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/ledger/{index}", response_class=HTMLResponse)
def entry_page(request: Request, index: int, uow: UoW) -> HTMLResponse:
    """One entry, its hash, and its proof against the newest signed checkpoint — checked here."""
    keys: LedgerKeys = request.app.state.platform.ledger_keys
    rows = ledger.entries(uow, start=index, end=index + 1) if index >= 0 else []
    if not rows:
        raise EntryNotFound(f"no ledger entry {index}")
    entry = rows[0]
    checkpoint = ledger.latest_checkpoint(uow)
    context: dict[str, Any] = {
        "entry": entry,
        "pretty": json.dumps(json.loads(entry.body), ensure_ascii=False, indent=2),
        "recomputed": leaf_hash(keys.hasher, entry.body).hex(),
        "checkpoint": checkpoint,
        "proof": [],
        "verified": None,
        "hash_algorithm": keys.hasher.name,
    }
    if checkpoint is not None and index < checkpoint.size:
        signed = verify_note(checkpoint.note, keys.verifiers(), origin=keys.origin)
        proof = ledger.inclusion(uow, keys=keys, index=index, size=signed.size)
        context["proof"] = [p.hex() for p in proof]
        context["verified"] = verify_inclusion(
            keys.hasher,
            bytes.fromhex(context["recomputed"]),
            index,
            signed.size,
            proof,
            signed.root,
        )
    response: HTMLResponse = request.app.state.render(request, "ledger_entry.html", context, 200)
    return response
