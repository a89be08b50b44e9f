"""Ledger errors."""

from __future__ import annotations

from gongshu.kernel.errors import Conflict, InvalidInput, NotFound

__all__ = ["EntryNotFound", "LedgerMismatch", "ProofOutOfRange"]


class EntryNotFound(NotFound):
    """No ledger entry with that index or hash."""

    code = "ledger_entry_not_found"


class ProofOutOfRange(InvalidInput):
    """A proof was asked for sizes or indexes the log does not have."""

    code = "proof_out_of_range"


class LedgerMismatch(Conflict):
    """The log was written with another hash algorithm than the one configured."""

    code = "ledger_hash_mismatch"
